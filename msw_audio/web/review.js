/* msw-audio review screen: synced transcript, click-to-seek and keyboard-first coding.
 *
 * Why plain JS with document-level listeners: the server re-renders the review pane as
 * HTML (fast, testable); this script keeps no state of its own beyond the selected row,
 * reading codes, hotkeys and permissions from data- attributes of whatever is on screen.
 * Every change is POSTed at once to the server, which checks the user's role; the
 * browser only reflects what the server accepted.
 */
(function () {
  "use strict";
  if (window.__mswReview) return;
  window.__mswReview = true;

  const q = (sel, el) => (el || document).querySelector(sel);
  const qa = (sel, el) => Array.from((el || document).querySelectorAll(sel));

  function review() {
    return qa(".msw-review").find((el) => el.offsetParent !== null) || null;
  }

  function json(el, name) {
    try { return JSON.parse(el.dataset[name] || "{}"); } catch (e) { return {}; }
  }

  function toast(root, text, isError) {
    const t = q(".msw-toast", root || document);
    if (!t) return;
    t.textContent = text;
    t.classList.toggle("msw-toast-error", !!isError);
    t.classList.add("msw-toast-on");
    clearTimeout(t._timer);
    t._timer = setTimeout(() => t.classList.remove("msw-toast-on"), isError ? 6000 : 1800);
  }

  async function post(url, body) {
    const res = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-MSW": "1" },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await res.json(); } catch (e) { /* empty body */ }
    if (!res.ok) {
      const detail = typeof data.detail === "string" ? data.detail
        : (data.detail && data.detail.message) || res.status + " " + res.statusText;
      const err = new Error(detail);
      err.status = res.status;
      err.detail = data.detail;
      throw err;
    }
    return data;
  }

  // ---------------------------------------------------------------- audio
  function seek(audio, start, end) {
    if (!audio) return;
    const go = () => {
      audio.currentTime = start;
      audio._stopAt = end || null;
      const p = audio.play();
      if (p && p.catch) p.catch(() => {});
    };
    if (audio.readyState >= 1) go();
    else {
      audio.addEventListener("loadedmetadata", go, { once: true });
      if (audio.preload === "none") audio.preload = "metadata";
      audio.load();
    }
  }

  document.addEventListener("timeupdate", (ev) => {
    const audio = ev.target;
    if (!(audio instanceof HTMLAudioElement)) return;
    if (audio._stopAt && audio.currentTime >= audio._stopAt) { audio.pause(); audio._stopAt = null; }
    const root = audio.closest(".msw-review");
    if (!root) return;
    const t = audio.currentTime;
    let playing = null;
    for (const row of qa(".msw-utt", root)) {
      if (t >= +row.dataset.start && t < +row.dataset.end) { playing = row; break; }
    }
    const old = q("tr.msw-playing", root);
    if (old !== playing) {
      if (old) old.classList.remove("msw-playing");
      if (playing) playing.classList.add("msw-playing");
    }
  }, true);

  // ---------------------------------------------------------------- selection
  function selected(root) { return q(".msw-utt.msw-selected", root); }

  function select(root, row, play) {
    if (!row) return;
    const old = selected(root);
    if (old) old.classList.remove("msw-selected");
    row.classList.add("msw-selected");
    row.scrollIntoView({ block: "nearest" });
    try { sessionStorage.setItem("msw-sel-" + root.dataset.session, row.dataset.uid); } catch (e) { /* private mode */ }
    if (play) seek(q("audio.msw-audio", root), +row.dataset.start);
  }

  function move(root, step) {
    const rows = qa(".msw-utt", root);
    if (!rows.length) return;
    const cur = selected(root);
    let i = cur ? rows.indexOf(cur) + step : 0;
    i = Math.max(0, Math.min(rows.length - 1, i));
    select(root, rows[i], false);
  }

  // ---------------------------------------------------------------- saving
  function progress(root, data) {
    if (data.n_confirmed !== undefined) {
      const n = q(".msw-ndone", root);
      if (n) n.textContent = data.n_confirmed;
    }
    if (data.status) {
      const st = q(".msw-status", root);
      if (st) { st.className = "msw-status msw-status-" + data.status; st.textContent = data.status.replace("_", " "); }
    }
  }

  function chip(root, code) {
    if (!code) return "";
    const labels = json(root, "labels");
    const colours = json(root, "colours");
    const span = document.createElement("span");
    span.className = "msw-chip";
    span.dataset.code = code;
    span.style.setProperty("--chip", colours[code] || "#6b7280");
    span.textContent = labels[code] || code;
    return span.outerHTML;
  }

  async function setCode(root, row, code, action) {
    if (root.dataset.editable !== "1") {
      toast(root, "Your role can listen and read, but not change codes.", true);
      return;
    }
    const base = "/api/sessions/" + encodeURIComponent(root.dataset.session) +
      "/utterances/" + encodeURIComponent(row.dataset.uid) + "/";
    // what this screen showed for the line: a line someone else changed since is a 409
    const expected = row.dataset.seen || null;
    try {
      const data = action === "accept" ? await post(base + "accept", { expected: expected })
        : action === "clear" ? await post(base + "clear", { expected: expected })
        : await post(base + "code", { code: code, expected: expected });
      row.dataset.seen = data.code || "";
      q(".msw-final", row).innerHTML = chip(root, data.code);
      row.classList.toggle("msw-done", !!data.code);
      if (data.code) row.classList.remove("msw-low");
      progress(root, data);
      const labels = json(root, "labels");
      toast(root, data.code ? "Saved: " + (labels[data.code] || data.code) : "Confirmation removed");
      if (data.code) move(root, 1);
    } catch (err) {
      if (err.status === 409 && err.detail) {
        // keep theirs on screen; pressing the key again replaces it (both stay in history)
        row.dataset.seen = err.detail.current || "";
        q(".msw-final", row).innerHTML = chip(root, err.detail.current);
        row.classList.toggle("msw-done", !!err.detail.current);
        toast(root, "Not saved: " + err.message + ". Their code is shown; press again to replace it.", true);
        return;
      }
      toast(root, "Not saved: " + err.message, true);
    }
  }

  // ---------------------------------------------------------------- events
  document.addEventListener("click", async (ev) => {
    const t = ev.target;
    if (!(t instanceof Element)) return;

    const clip = t.closest(".msw-play-clip, .msw-ctx");
    if (clip) {
      const card = clip.closest(".msw-exemplar");
      const scope = clip.closest(".msw-clip-scope");
      const audio = scope && q("audio.msw-audio", scope);
      if (!card || !audio || !card.dataset.media) return;
      if (audio.getAttribute("src") !== card.dataset.media) { audio.setAttribute("src", card.dataset.media); }
      qa(".msw-exemplar.msw-playing-card", scope).forEach((c) => c.classList.remove("msw-playing-card"));
      card.classList.add("msw-playing-card");
      const isClip = clip.classList.contains("msw-play-clip");
      seek(audio, +clip.dataset.start, isClip ? +clip.dataset.end : null);
      return;
    }

    const root = t.closest(".msw-review");
    if (!root) return;

    const ev_ = t.closest(".msw-evidence");
    if (ev_) {
      const row = q('.msw-utt[data-uid="' + CSS.escape(ev_.dataset.uid) + '"]', root);
      if (row) select(root, row, false);
      seek(q("audio.msw-audio", root), +ev_.dataset.start);
      return;
    }

    const scoreBtn = t.closest(".msw-score-confirm");
    if (scoreBtn) {
      const card = scoreBtn.closest(".msw-principle");
      const value = parseFloat(q(".msw-score-value", card).value);
      const note = q(".msw-score-note", card).value;
      try {
        await post("/api/sessions/" + encodeURIComponent(root.dataset.session) + "/scores/" +
          encodeURIComponent(scoreBtn.dataset.principle), { value: value, note: note });
        const st = q(".msw-score-state", card);
        st.innerHTML = '<span class="msw-confirmed">confirmed ' + value + "</span>";
        toast(root, "Saved score");
      } catch (err) { toast(root, "Not saved: " + err.message, true); }
      return;
    }

    if (t.closest(".msw-mark-reviewed")) {
      try {
        const data = await post("/api/sessions/" + encodeURIComponent(root.dataset.session) + "/reviewed");
        progress(root, data);
        t.closest(".msw-mark-reviewed").remove();
        toast(root, "Session marked reviewed");
      } catch (err) { toast(root, "Not saved: " + err.message, true); }
      return;
    }

    const row = t.closest(".msw-utt");
    if (row) select(root, row, true);
  });

  document.addEventListener("change", async (ev) => {
    const sel = ev.target;
    if (!(sel instanceof HTMLSelectElement) || !sel.classList.contains("msw-role-select")) return;
    const root = sel.closest(".msw-review");
    const spk = sel.dataset.speaker;
    const role = sel.value;
    try {
      await post("/api/sessions/" + encodeURIComponent(root.dataset.session) + "/speakers/" +
        encodeURIComponent(spk) + "/role", { role: role });
      const group = role === "practitioner" ? "practitioner" : "client";
      qa('.msw-utt[data-speaker="' + CSS.escape(spk) + '"]', root).forEach((row) => {
        row.dataset.group = group;
        const r = q(".msw-role", row);
        r.className = "msw-role msw-role-" + role;
        r.textContent = role;
      });
      toast(root, "Saved: " + spk + " is " + role);
    } catch (err) { toast(root, "Not saved: " + err.message, true); }
  });

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t instanceof Element && t.closest("input, textarea, select, [contenteditable=true]")) return;
    const key = ev.key;
    // Enter/space on a focused button, link or player already mean "press" / "play"
    if ((key === "Enter" || key === " ") && t instanceof Element &&
        t.closest("button, a, audio, summary, [role=button], [role=tab]")) return;
    const root = review();
    if (!root) return;
    const row = selected(root);
    const audio = q("audio.msw-audio", root);
    let handled = true;
    if (key === "j" || key === "ArrowDown") move(root, 1);
    else if (key === "k" || key === "ArrowUp") move(root, -1);
    else if (key === " ") {
      if (audio && !audio.paused) audio.pause();
      else if (row) seek(audio, +row.dataset.start);
    }
    else if (key === "Enter") { if (row) setCode(root, row, null, "accept"); }
    else if (key === "Backspace" || key === "Delete") { if (row) setCode(root, row, null, "clear"); }
    else if (key === "Escape") { if (audio) audio.pause(); }
    else {
      const group = row ? row.dataset.group : null;
      const keys = json(root, "hotkeys");
      const code = group && keys[group] ? keys[group][key] : null;
      if (code && row) setCode(root, row, code, "set");
      else handled = false;
    }
    if (handled) ev.preventDefault();
  });

  // ---------------------------------------------------------------- (re)render hook
  function onRender(root) {
    if (root._mswReady) return;
    root._mswReady = true;
    const sid = root.dataset.session;
    try {
      const url = new URL(window.location.href);
      if (url.searchParams.get("session") !== sid) {
        url.searchParams.set("session", sid);
        history.replaceState(null, "", url.toString());
      }
    } catch (e) { /* non-standard location */ }
    let uid = null;
    try { uid = sessionStorage.getItem("msw-sel-" + sid); } catch (e) { /* private mode */ }
    // ?line=<utterance> (e.g. a disagreement in the agreement report) selects that line
    try { uid = new URL(window.location.href).searchParams.get("line") || uid; } catch (e) { /* non-standard location */ }
    const row = (uid && q('.msw-utt[data-uid="' + CSS.escape(uid) + '"]', root)) || q(".msw-utt", root);
    if (row) select(root, row, false);
  }

  // The transcript is fetched straight from the server (not through Gradio's component
  // update) so a long session is inserted once; a ?session= URL starts the fetch at once.
  function fragmentUrl(sid, order) {
    return "/fragment/review/" + encodeURIComponent(sid) + "?order=" + encodeURIComponent(order || "time");
  }
  const prefetched = {};
  function fetchFragment(sid, order) {
    return fetch(fragmentUrl(sid, order), { credentials: "same-origin" }).then(async (res) => {
      const text = await res.text();
      if (!res.ok) {
        let msg = text;
        try { msg = JSON.parse(text).detail || text; } catch (e) { /* plain text */ }
        throw new Error(msg);
      }
      return text;
    });
  }
  try {
    const sid0 = new URL(window.location.href).searchParams.get("session");
    if (sid0) prefetched[fragmentUrl(sid0, "time")] = fetchFragment(sid0, "time");
  } catch (e) { /* non-standard location */ }

  function fill(mount) {
    if (mount.dataset.loading) return;
    mount.dataset.loading = "1";
    const sid = mount.dataset.session;
    const order = mount.dataset.order || "time";
    const key = fragmentUrl(sid, order);
    const promise = prefetched[key] || fetchFragment(sid, order);
    delete prefetched[key];
    promise.then((html) => {
      if (mount.isConnected) mount.outerHTML = html;
    }).catch((err) => {
      if (mount.isConnected) {
        mount.innerHTML = "";
        const div = document.createElement("div");
        div.className = "msw-empty";
        div.setAttribute("role", "alert");
        div.textContent = "\u26a0 " + err.message;
        mount.appendChild(div);
      }
    });
  }

  function scan() {
    qa(".msw-review-mount").forEach(fill);
    qa(".msw-review").forEach(onRender);
  }
  new MutationObserver(scan).observe(document.documentElement, { childList: true, subtree: true });
  scan();
})();
