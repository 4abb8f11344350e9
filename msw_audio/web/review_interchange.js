// msw-audio review screen, part two: each login's own keys (a translation in front of
// review.js's key handler, and the Keys panel) and the ELAN / Praat import (upload, preview,
// apply). A file of its own so the key handler and the listening tools in review.js stay
// as they are; it uses the few helpers review.js exposes (window.__mswReviewApi).
(function () {
  "use strict";
  if (window.__mswInterchange) return;
  window.__mswInterchange = true;

  const api = () => window.__mswReviewApi || null;
  const q = (sel, el) => (el || document).querySelector(sel);
  const MAX_IMPORT_BYTES = 20 * 1024 * 1024; // the server's limit (review.annotation_import)

  // ---------------------------------------------------------------- keys
  // The server keeps each login's keys (review/keymap.py). A key the login chose is replayed
  // to review.js as the action's default key; a default the login gave away does nothing.
  const keymap = { data: null, toDefault: {}, freed: new Set(), replaying: false, loading: null };

  function keymapDescribe(key) {
    if (key === " ") return "Space";
    if (key.length === 1 && key !== key.toLowerCase()) return "Shift+" + key;
    return key;
  }

  function keymapApply(data) {
    keymap.data = data;
    keymap.toDefault = {};
    keymap.freed = new Set();
    (data.actions || []).forEach((a) => {
      if (a.key !== a.default) { keymap.toDefault[a.key] = a.default; keymap.freed.add(a.default); }
    });
  }

  function keymapLoad(force) {
    if (keymap.loading && !force) return keymap.loading;
    keymap.loading = fetch("/api/me/keys", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((d) => { if (d) keymapApply(d); return keymap.data; })
      .catch(() => keymap.data);
    return keymap.loading;
  }

  function keymapTranslate(ev) {
    if (keymap.replaying || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t instanceof Element && t.closest("input, textarea, select, [contenteditable=true], .msw-keys-panel")) return;
    const a = api();
    if (!a || !a.review()) return;
    const k = ev.key;
    const to = keymap.toDefault[k];
    if (to === undefined && !keymap.freed.has(k)) return;
    if ((k === "Enter" || k === " ") && t instanceof Element &&
        t.closest("button, a, audio, summary, [role=button], [role=tab]")) return;
    ev.stopImmediatePropagation();
    ev.preventDefault();
    if (to === undefined) return; // a default this login gave to nothing now: it does nothing
    keymap.replaying = true;
    try {
      (t || document).dispatchEvent(new KeyboardEvent("keydown", {
        key: to, shiftKey: to.length === 1 && to !== to.toLowerCase(), bubbles: true, cancelable: true,
      }));
    } finally { keymap.replaying = false; }
  }
  window.addEventListener("keydown", keymapTranslate, true);

  function keysPanel(root) {
    const old = q(".msw-keys-panel", root);
    if (old) { old.remove(); return; }
    const panel = document.createElement("div");
    panel.className = "msw-keys-panel msw-popover";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", "Your keys");
    panel.innerHTML = "<b>Your keys</b> <span class='msw-muted'>(click a key, press the new one; kept for your login)</span>";
    const table = document.createElement("table");
    const msg = document.createElement("div");
    msg.className = "msw-keys-msg";
    msg.setAttribute("role", "status");
    const chosen = {};
    keymapLoad(true).then((data) => {
      if (!data) { msg.textContent = "Your keys could not be loaded."; return; }
      data.actions.forEach((act) => {
        const tr = document.createElement("tr");
        const label = document.createElement("td");
        label.textContent = act.label;
        const cell = document.createElement("td");
        const b = document.createElement("button");
        b.className = "msw-key-pick";
        b.dataset.action = act.id;
        b.textContent = keymapDescribe(act.key);
        b.title = "Default: " + keymapDescribe(act.default);
        b.addEventListener("click", () => { b.classList.add("msw-key-wait"); b.textContent = "press a key…"; });
        b.addEventListener("keydown", (ev) => {
          if (!b.classList.contains("msw-key-wait")) return;
          if (["Shift", "Control", "Alt", "Meta"].includes(ev.key)) return;
          ev.preventDefault();
          ev.stopPropagation();
          b.classList.remove("msw-key-wait");
          if (ev.key === "Escape") { b.textContent = keymapDescribe(chosen[act.id] || act.key); return; }
          chosen[act.id] = ev.key;
          b.textContent = keymapDescribe(ev.key);
        });
        cell.appendChild(b);
        const dflt = document.createElement("td");
        dflt.className = "msw-muted";
        dflt.textContent = keymapDescribe(act.default);
        tr.append(label, cell, dflt);
        table.appendChild(tr);
      });
    });
    const save = document.createElement("button");
    save.className = "msw-keys-save";
    save.textContent = "Save keys";
    const reset = document.createElement("button");
    reset.className = "msw-keys-reset";
    reset.textContent = "Defaults";
    const close = document.createElement("button");
    close.className = "msw-keys-close";
    close.textContent = "Close";
    const send = async (keys) => {
      const res = await fetch("/api/me/keys", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-MSW": "1" },
        body: JSON.stringify({ keys: keys }),
      });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(typeof data.detail === "string" ? data.detail : res.status + " " + res.statusText);
      keymapApply(data);
      return data;
    };
    save.addEventListener("click", () => {
      const keys = {};
      (keymap.data ? keymap.data.actions : []).forEach((a) => { keys[a.id] = chosen[a.id] || a.key; });
      send(keys).then(() => { msg.textContent = "Saved: your keys work now, on any computer you sign in on."; msg.classList.remove("msw-keys-error"); })
        .catch((err) => { msg.textContent = "Not saved: " + err.message; msg.classList.add("msw-keys-error"); });
    });
    reset.addEventListener("click", () => {
      send({}).then(() => { panel.remove(); keysPanel(root); })
        .catch((err) => { msg.textContent = "Not saved: " + err.message; });
    });
    close.addEventListener("click", () => panel.remove());
    const bar = document.createElement("div");
    bar.append(save, reset, close);
    panel.append(table, msg, bar);
    (q(".msw-toolbar", root) || root).appendChild(panel);
  }

  // ---------------------------------------------------------------- import
  function importSummary(data) {
    const lines = [];
    const fmt = (c) => {
      const span = (v) => Array.isArray(v) ? (+v[0]).toFixed(2) + "–" + (+v[1]).toFixed(2) + " s" : String(v === null ? "none" : v);
      const what = { times: "new times", speaker: "new speaker", text: "new text", code: "confirm code" }[c.kind] || c.kind;
      return c.utterance_id + " · " + what + ": " + span(c.old) + " → " + span(c.new);
    };
    (data.changes || []).forEach((c) => lines.push(["msw-imp-change", fmt(c)]));
    (data.refused || []).forEach((c) => lines.push(["msw-imp-refused", "refused: " + fmt(c) + " (" + c.reason + ")"]));
    (data.skipped || []).forEach((c) => lines.push(["msw-imp-skipped", "not applied: " + (+c.start).toFixed(2) + " s " + c.speaker + " “" + c.text + "” (" + c.reason + ")"]));
    return lines;
  }

  function importPanel(root) {
    const old = q(".msw-import-panel", root);
    if (old) { old.remove(); return; }
    const a = api();
    const panel = document.createElement("div");
    panel.className = "msw-import-panel msw-popover";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", "Import from ELAN or Praat");
    panel.innerHTML = "<b>Import .eaf / .TextGrid</b> <span class='msw-muted'>(a file you exported " +
      "from this session and edited in ELAN or Praat: you see the changes first)</span>";
    const input = document.createElement("input");
    input.type = "file";
    input.className = "msw-import-file";
    input.accept = ".eaf,.TextGrid,.textgrid";
    const out = document.createElement("div");
    out.className = "msw-import-out";
    out.setAttribute("role", "status");
    const apply = document.createElement("button");
    apply.className = "msw-import-apply";
    apply.textContent = "Apply these changes";
    apply.hidden = true;
    const close = document.createElement("button");
    close.textContent = "Close";
    close.addEventListener("click", () => panel.remove());
    let file = null;
    const send = async (dry) => {
      const name = file.name.toLowerCase();
      const format = name.endsWith(".eaf") ? "eaf" : "textgrid";
      const res = await fetch("/api/sessions/" + encodeURIComponent(root.dataset.session) +
        "/annotations?format=" + format + (dry ? "&dry_run=1" : ""), {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/octet-stream", "X-MSW": "1" }, body: file,
      });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(typeof data.detail === "string" ? data.detail : res.status + " " + res.statusText);
      return data;
    };
    const show = (data, head) => {
      out.textContent = "";
      const h = document.createElement("div");
      h.textContent = head;
      out.appendChild(h);
      const ul = document.createElement("ul");
      importSummary(data).forEach(([cls, text]) => {
        const li = document.createElement("li");
        li.className = cls;
        li.textContent = text;
        ul.appendChild(li);
      });
      out.appendChild(ul);
    };
    input.addEventListener("change", () => {
      file = input.files && input.files[0];
      apply.hidden = true;
      out.classList.remove("msw-import-error");
      if (!file) return;
      const name = file.name.toLowerCase();
      if (!name.endsWith(".eaf") && !name.endsWith(".textgrid")) {
        out.textContent = "Not imported: choose an ELAN .eaf or a Praat .TextGrid file.";
        out.classList.add("msw-import-error"); return;
      }
      if (file.size > MAX_IMPORT_BYTES) {
        out.textContent = "Not imported: the file is over 20 MB, so it is not an export of a session.";
        out.classList.add("msw-import-error"); return;
      }
      out.textContent = "Reading the file…";
      send(true).then((data) => {
        const n = (data.changes || []).length;
        show(data, n ? "Preview: " + n + " change(s) would be made (nothing is saved yet)." : "Nothing to change: the file matches the session.");
        apply.hidden = !n;
      }).catch((err) => { out.textContent = "Not imported: " + err.message; out.classList.add("msw-import-error"); });
    });
    apply.addEventListener("click", () => {
      apply.disabled = true;
      const h = q("div", out);
      if (h) h.textContent = "Applying… (each change is a correction: a few seconds on a long session)";
      send(false).then((data) => {
        const note = "Imported: " + data.applied + " change(s) saved" +
          ((data.refused || []).length ? ", " + data.refused.length + " refused" : "") + " (Shift+U undoes them one by one)";
        show(data, note);
        apply.hidden = true;
        if (a) { a.later(note); a.reload(root); }
      }).catch((err) => { out.textContent = "Not imported: " + err.message; out.classList.add("msw-import-error"); })
        .finally(() => { apply.disabled = false; });
    });
    const bar = document.createElement("div");
    bar.append(apply, close);
    panel.append(input, out, bar);
    (q(".msw-toolbar", root) || root).appendChild(panel);
  }

  document.addEventListener("click", (ev) => {
    const t = ev.target;
    if (!(t instanceof Element)) return;
    const root = t.closest(".msw-review");
    if (!root) return;
    if (t.closest(".msw-keys-btn")) { ev.preventDefault(); keysPanel(root); }
    else if (t.closest(".msw-import-btn")) { ev.preventDefault(); importPanel(root); }
  });

  keymapLoad();
})();
