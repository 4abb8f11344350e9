/* msw-audio review screen: synced transcript, waveform, listening tools and keyboard-first coding.
 *
 * Why plain JS with document-level listeners: the server re-renders the review pane as
 * HTML (fast, testable); this script keeps no state of its own beyond what hangs on the
 * pane's element (selected row, waveform, loop), reading codes, hotkeys and permissions
 * from data- attributes of whatever is on screen. Every change is POSTed at once to the
 * server, which checks the user's role; the browser only reflects what the server accepted.
 *
 * The waveform is wavesurfer.js (vendored in msw_audio/web/vendor/, served by the app):
 * it plays through the page's own <audio> element and draws peaks computed on the server
 * (/media/<id>/peaks), so the recording is downloaded once, by the player, and never
 * decoded in the browser.
 */
(function () {
  "use strict";
  if (window.__mswReview) return;
  window.__mswReview = true;

  const SPEEDS = [0.75, 1, 1.25, 1.5, 2];
  const REPLAY_S = 5;
  const FOLLOW_PAUSE_MS = 4000; // after the user scrolls the transcript, following waits
  const VENDOR = ["wavesurfer.min.js", "regions.min.js", "minimap.min.js"];
  const REGION = { practitioner: "79, 70, 229", parent: "219, 39, 119", child: "217, 119, 6", other: "100, 116, 139" };

  const q = (sel, el) => (el || document).querySelector(sel);
  const qa = (sel, el) => Array.from((el || document).querySelectorAll(sel));

  function review() {
    return qa(".msw-review").find((el) => el.offsetParent !== null) || null;
  }

  function json(el, name) {
    try { return JSON.parse(el.dataset[name] || "{}"); } catch (e) { return {}; }
  }

  function remember(key, value) {
    try { sessionStorage.setItem(key, value); } catch (e) { /* private mode */ }
  }
  function recall(key) {
    try { return sessionStorage.getItem(key); } catch (e) { return null; }
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
  function player(root) { return q("audio.msw-audio", root); }

  function play(audio) {
    const p = audio.play();
    if (p && p.catch) p.catch(() => {});
  }

  function seek(audio, start, end) {
    if (!audio) return;
    const go = () => {
      audio.currentTime = start;
      audio._stopAt = end || null;
      play(audio);
    };
    if (audio.readyState >= 1) go();
    else {
      audio.addEventListener("loadedmetadata", go, { once: true });
      if (audio.preload === "none") audio.preload = "metadata";
      audio.load();
    }
  }

  // Rows sorted by start (the list may be in confidence order): the line being heard at t
  // is found by binary search, so a 1,000-line session costs nothing per tick.
  function timeline(root) {
    if (!root._timeline) {
      root._timeline = qa(".msw-utt", root)
        .map((row) => ({ row: row, start: +row.dataset.start, end: +row.dataset.end }))
        .sort((a, b) => a.start - b.start);
    }
    return root._timeline;
  }

  function rowAt(root, t) {
    const tl = timeline(root);
    let lo = 0, hi = tl.length - 1, k = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (tl[mid].start <= t) { k = mid; lo = mid + 1; } else hi = mid - 1;
    }
    for (let i = k; i >= 0 && i > k - 4; i--) { // overlapping talk: the latest line still on
      if (t < tl[i].end) return tl[i].row;
    }
    return null;
  }

  function setPlaying(root, row) {
    if (root._playing === row) return;
    // exactly one line is "now playing": drop the mark wherever it is
    qa(".msw-utt.msw-playing", root).forEach((r) => r.classList.remove("msw-playing"));
    root._playing = row;
    if (!row) return;
    row.classList.add("msw-playing");
    const audio = player(root);
    const follow = q(".msw-follow-box", root);
    const userScrolled = Date.now() - (root._userScrollAt || 0) < FOLLOW_PAUSE_MS;
    if (audio && !audio.paused && follow && follow.checked && !userScrolled) reveal(root, row, "follow");
  }

  function tick(root, audio) {
    const t = audio.currentTime;
    if (root._loop) {
      const sel = selected(root);
      if (sel && (t >= +sel.dataset.end || t < +sel.dataset.start - 0.5)) {
        audio.currentTime = +sel.dataset.start;
        return;
      }
    }
    setPlaying(root, rowAt(root, t));
  }

  document.addEventListener("timeupdate", (ev) => {
    const audio = ev.target;
    if (!(audio instanceof HTMLAudioElement)) return;
    if (audio._stopAt && audio.currentTime >= audio._stopAt) { audio.pause(); audio._stopAt = null; }
    const root = audio.closest(".msw-review");
    if (root) tick(root, audio);
  }, true);

  // The speed buttons show the player's rate: set at once by setRate, and on ratechange for
  // changes made elsewhere (the browser's own player menu).
  function showRate(root, audio) {
    qa(".msw-speed", root).forEach((b) => {
      const on = Math.abs(+b.dataset.rate - audio.playbackRate) < 1e-6;
      b.classList.toggle("msw-on", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }

  document.addEventListener("ratechange", (ev) => {
    const audio = ev.target;
    const root = audio instanceof HTMLAudioElement && audio.closest(".msw-review");
    if (root) showRate(root, audio);
  }, true);

  function setRate(root, rate) {
    const audio = player(root);
    if (!audio) return;
    audio.playbackRate = rate;
    audio.defaultPlaybackRate = rate;
    showRate(root, audio);
    remember("msw-rate", String(rate));
    toast(root, "Speed " + rate + "×");
  }

  function stepRate(root, step) {
    const audio = player(root);
    if (!audio) return;
    let i = SPEEDS.findIndex((x) => Math.abs(x - audio.playbackRate) < 1e-6);
    if (i < 0) i = SPEEDS.indexOf(1);
    setRate(root, SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, i + step))]);
  }

  function jump(root, seconds) {
    const audio = player(root);
    if (!audio) return;
    audio.currentTime = Math.max(0, audio.currentTime + seconds);
    if (seconds < 0) play(audio);
  }

  function setLoop(root, on) {
    root._loop = on;
    const btn = q(".msw-loop", root);
    if (btn) { btn.setAttribute("aria-pressed", on ? "true" : "false"); btn.classList.toggle("msw-on", on); }
    const row = selected(root);
    if (on && row) seek(player(root), +row.dataset.start);
    toast(root, on ? "Looping the selected line" : "Loop off");
  }

  // ---------------------------------------------------------------- scrolling
  // Only the transcript scrolls (never the page), so the header and the side panel stay put.
  function reveal(root, row, how) {
    const box = q(".msw-transcript", root);
    if (!box || !row || row.offsetParent === null) return;
    const head = q(".msw-thead", box);
    const hh = head ? head.offsetHeight : 0;
    const top = row.offsetTop, bottom = top + row.offsetHeight;
    const viewTop = box.scrollTop + hh, viewBottom = box.scrollTop + box.clientHeight;
    if (how === "follow") {
      if (top < viewTop || bottom > viewBottom - row.offsetHeight) {
        box.scrollTop = top - hh - (box.clientHeight - hh) / 3;
      }
    } else if (top < viewTop) box.scrollTop = top - hh;
    else if (bottom > viewBottom) box.scrollTop = bottom - box.clientHeight;
  }

  // ---------------------------------------------------------------- selection
  function selected(root) { return q(".msw-utt.msw-selected", root); }
  const pendingNote = {};

  function select(root, row, andPlay) {
    if (!row) return;
    const old = selected(root);
    if (old) old.classList.remove("msw-selected");
    row.classList.add("msw-selected");
    if (root._mswTools && !row.contains(root._mswTools)) q(".msw-text", row).appendChild(root._mswTools);
    reveal(root, row, "nearest");
    remember("msw-sel-" + root.dataset.session, row.dataset.uid);
    markRegion(root, old, row);
    if (andPlay) seek(player(root), +row.dataset.start);
    else if (root._ws && player(root) && player(root).paused) showTime(root, +row.dataset.start);
  }

  function visibleRows(root) { return qa(".msw-utt:not(.msw-hide)", root); }

  function move(root, step) {
    const rows = visibleRows(root);
    if (!rows.length) return;
    const cur = selected(root);
    let i = cur && !cur.classList.contains("msw-hide") ? rows.indexOf(cur) + step : 0;
    i = Math.max(0, Math.min(rows.length - 1, i));
    select(root, rows[i], false);
  }

  // ---------------------------------------------------------------- search
  function searchIndex(root) {
    if (!root._index) {
      const labels = json(root, "labels");
      root._index = qa(".msw-utt", root).map((row) => {
        const codes = [row.dataset.suggested, row.dataset.seen].filter(Boolean);
        return {
          row: row,
          text: (q(".msw-text", row) || row).textContent.toLowerCase(),
          speaker: (row.dataset.speaker + " " + row.dataset.role).toLowerCase(),
          code: codes.map((c) => c + " " + c.replace(/_/g, " ") + " " + (labels[c] || "")).join(" ").toLowerCase(),
        };
      });
    }
    return root._index;
  }

  // "word", or field:word with field text / code / speaker (role counts as speaker)
  function matcher(query) {
    const terms = query.toLowerCase().split(/\s+/).filter(Boolean).map((term) => {
      const m = /^(text|code|speaker|role):(.*)$/.exec(term);
      return m ? { field: m[1] === "role" ? "speaker" : m[1], word: m[2] } : { field: null, word: term };
    }).filter((t) => t.word);
    return (item) => terms.every((t) => t.field ? item[t.field].includes(t.word)
      : item.text.includes(t.word) || item.code.includes(t.word) || item.speaker.includes(t.word));
  }

  // "/pattern/": a regular expression over the line's text (case-insensitive). The browser
  // cannot stop a running match, so patterns are capped in length and those with a repeated
  // group that itself repeats or alternates ("(a+)+", "(e|.)*") are refused; the All
  // sessions search runs such patterns on the server, under a time limit.
  const MAX_PATTERN = 200;
  const RISKY = /\((?:[^()\\]|\\.)*[*+{|](?:[^()\\]|\\.)*\)\s*(?:[*+]|\{\d*,)/;

  function regexQuery(query) {
    const m = /^\/(.*)\/$/.exec(query || "");
    if (!m) return null;
    const src = m[1];
    if (!src) throw new Error("an empty pattern: type one between the slashes");
    if (src.length > MAX_PATTERN) throw new Error("the pattern is " + src.length + " characters; at most " + MAX_PATTERN);
    if (RISKY.test(src)) {
      throw new Error("a repeated group that repeats or alternates inside (like (a+)+ or (e|.)*) " +
        "can hang the page: simplify it, or use All sessions (time-limited on the server)");
    }
    try { return new RegExp(src, "i"); } catch (e) { throw new Error("not a valid regular expression: " + e.message); }
  }

  function searchProblem(root, message) {
    const count = q(".msw-search-count", root);
    if (count) { count.textContent = message; count.classList.toggle("msw-search-error", !!message); }
  }

  function search(root, query) {
    const index = searchIndex(root);
    let hits;
    try {
      const re = regexQuery(query || "");
      hits = re ? (item) => re.test(item.text) : matcher(query || "");
      searchProblem(root, "");
    } catch (err) {
      searchProblem(root, err.message);
      return;
    }
    let n = 0;
    for (const item of index) {
      const ok = !query || hits(item);
      item.row.classList.toggle("msw-hide", !ok);
      if (ok) n++;
    }
    const count = q(".msw-search-count", root);
    if (count) count.textContent = query ? n + " of " + index.length + " lines" : "";
    const none = q(".msw-nomatch", root);
    if (none) none.hidden = !(query && n === 0);
    const sel = selected(root);
    if (query && n && (!sel || sel.classList.contains("msw-hide"))) select(root, visibleRows(root)[0], false);
    else if (sel) reveal(root, sel, "nearest");
  }

  // ---------------------------------------------------------------- search across sessions
  // The server (review.transcript_search) searches every session this login may see, with
  // its pseudonyms and redaction; each hit is a link that opens that session at that line.
  async function searchAll(root, query) {
    const panel = q(".msw-search-results", root);
    if (!panel) return;
    const m = /^\/(.*)\/$/.exec(query || "");
    const isRegex = !!m;
    const text = isRegex ? m[1] : query;
    panel.hidden = false;
    panel.textContent = "Searching every session you may see\u2026";
    if (!text) { panel.textContent = "Type words, or /a pattern/, then press All sessions."; return; }
    try {
      const url = "/api/search?q=" + encodeURIComponent(text) + "&regex=" + (isRegex ? "1" : "0");
      const res = await fetch(url, { credentials: "same-origin" });
      let data = {};
      try { data = await res.json(); } catch (e) { /* empty */ }
      if (!res.ok) throw new Error(typeof data.detail === "string" ? data.detail : res.status + " " + res.statusText);
      showSearchHits(panel, data);
    } catch (err) {
      panel.textContent = "";
      const p = document.createElement("p");
      p.className = "msw-search-error";
      p.textContent = "Search not run: " + err.message;
      panel.appendChild(p);
    }
  }

  function clock(t) {
    const s = Math.max(0, Math.floor(t));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function showSearchHits(panel, data) {
    panel.textContent = "";
    const head = document.createElement("div");
    head.className = "msw-search-head";
    const n = data.hits.length;
    head.textContent = n + (n === 1 ? " line" : " lines") + " in " + data.sessions + " sessions searched" +
      (data.truncated ? " (first " + n + " shown)" : "") + (data.stopped ? " (stopped: time limit)" : "");
    const close = document.createElement("button");
    close.type = "button";
    close.className = "msw-search-close";
    close.textContent = "Close";
    close.addEventListener("click", () => { panel.hidden = true; });
    head.appendChild(close);
    panel.appendChild(head);
    const list = document.createElement("ol");
    list.className = "msw-search-hits";
    for (const h of data.hits) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = h.link;
      a.className = "msw-search-hit";
      a.dataset.session = h.session_id;
      a.dataset.uid = h.utterance_id;
      const where = document.createElement("span");
      where.className = "msw-muted";
      where.textContent = h.title + " \u00b7 " + clock(h.start) + " \u00b7 " + h.role + " ";
      a.appendChild(where);
      const [i, j] = h.match || [0, 0];
      a.appendChild(document.createTextNode(h.text.slice(0, i)));
      const mark = document.createElement("mark");
      mark.textContent = h.text.slice(i, j);
      a.appendChild(mark);
      a.appendChild(document.createTextNode(h.text.slice(j)));
      li.appendChild(a);
      list.appendChild(li);
    }
    panel.appendChild(list);
  }

  // ---------------------------------------------------------------- waveform
  let vendorLoad = null;
  function loadVendor() {
    // async=false: fetched in parallel, run in this order (the plugins attach to WaveSurfer)
    if (!vendorLoad) {
      vendorLoad = Promise.all(VENDOR.map((name) => new Promise((resolve, reject) => {
        const s = document.createElement("script");
        s.src = "/static/vendor/" + name;
        s.async = false;
        s.onload = resolve;
        s.onerror = () => reject(new Error("could not load " + name));
        document.head.appendChild(s);
      })));
      vendorLoad.catch(() => { vendorLoad = null; });
    }
    return vendorLoad;
  }

  const peaksCache = {};
  function fetchPeaks(url) {
    if (!peaksCache[url]) {
      peaksCache[url] = fetch(url, { credentials: "same-origin" }).then(async (res) => {
        if (!res.ok) {
          let msg = res.status + " " + res.statusText;
          try { msg = (await res.json()).detail || msg; } catch (e) { /* not JSON */ }
          throw new Error(msg);
        }
        return res.json();
      });
      peaksCache[url].catch(() => { delete peaksCache[url]; });
    }
    return peaksCache[url];
  }

  function peaksArray(record) {
    const raw = atob(record.peaks || "");
    const out = new Float32Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i) / 255;
    return out;
  }

  function regionColour(row, strong) {
    const rgb = REGION[row.dataset.role] || REGION.other;
    return "rgba(" + rgb + ", " + (strong ? 0.42 : 0.14) + ")";
  }

  function markRegion(root, oldRow, row) {
    const regions = root._regionsById;
    if (!regions) return;
    if (oldRow && regions[oldRow.dataset.uid]) regions[oldRow.dataset.uid].setOptions({ color: regionColour(oldRow, false) });
    if (row && regions[row.dataset.uid]) regions[row.dataset.uid].setOptions({ color: regionColour(row, true) });
  }

  function showTime(root, t) {
    // bring a paused line into the waveform's view (playback scrolls by itself)
    const ws = root._ws;
    if (!ws) return;
    const width = ws.getWidth() / (ws.options.minPxPerSec || 1);
    const left = ws.getScroll() / (ws.options.minPxPerSec || 1);
    if (t < left || t > left + width * 0.9) ws.setScrollTime(Math.max(0, t - width / 4));
  }

  function zoom(root, factor) {
    const ws = root._ws;
    if (!ws) return;
    const px = Math.max(2, Math.min(400, (ws.options.minPxPerSec || 20) * factor));
    ws.zoom(px);
    remember("msw-zoom", String(px));
  }

  function buildWave(root) {
    const box = q(".msw-wave", root);
    const audio = player(root);
    if (!box || !audio || root._wave) return;
    root._wave = "loading";
    const note = q(".msw-wave-note", box);
    Promise.all([loadVendor(), fetchPeaks(box.dataset.peaks)]).then(([, record]) => {
      if (!root.isConnected) return;
      const duration = record.duration || +box.dataset.duration;
      const main = q(".msw-wave-main", box);
      const px = +recall("msw-zoom") || Math.max(8, Math.round(main.clientWidth / 45));
      const ws = window.WaveSurfer.create({
        container: main,
        media: audio,
        peaks: [peaksArray(record)],
        duration: duration,
        height: 52,
        normalize: true,
        waveColor: "#94a3b8",
        progressColor: "#475569",
        cursorColor: "#1d4ed8",
        cursorWidth: 2,
        barWidth: 2,
        barGap: 1,
        barRadius: 1,
        minPxPerSec: px,
        autoScroll: true,
        autoCenter: true,
        dragToSeek: true,
        plugins: [window.WaveSurfer.Minimap.create({
          container: q(".msw-wave-map", box),
          height: 16,
          waveColor: "#cbd5e1",
          progressColor: "#94a3b8",
          cursorColor: "#1d4ed8",
          overlayColor: "rgba(29, 78, 216, 0.18)",
          normalize: true,
        })],
      });
      root._ws = ws;
      // click or drag anywhere on the waveform: play from there, select the line heard
      ws.on("interaction", (t) => {
        const row = rowAt(root, t);
        if (row && row !== selected(root)) select(root, row, false);
        if (audio.paused) play(audio);
      });
      ws.on("timeupdate", () => tick(root, audio)); // per frame while playing: a tight loop
      let drawn = false;
      const ready = () => {
        if (drawn) return;
        drawn = true;
        root.dataset.wave = "ready";
        if (note) note.remove();
        // regions after the first paint: the waveform shows at once, lines follow
        setTimeout(() => addRegions(root, ws), 0);
      };
      ws.on("redraw", ready); // the part in view is drawn
      ws.on("redrawcomplete", ready);
    }).catch((err) => {
      root._wave = null;
      root.dataset.wave = "failed";
      if (note) note.textContent = "Waveform not shown: " + err.message + " (the player still works).";
    });
  }

  // ---------------------------------------------------------------- spectrogram
  // The Spectrogram toggle: wavesurfer.js's Spectrogram plugin (vendored) draws frames the
  // server computed (/media/<id>/spectrogram, speech.spectrogram), so the browser still never
  // decodes the recording. The plugin's code loads on the first use only.
  let spectrogramLoad = null;
  function loadSpectrogram() {
    if (!spectrogramLoad) {
      spectrogramLoad = loadVendor().then(() => new Promise((resolve, reject) => {
        const s = document.createElement("script");
        s.src = "/static/vendor/spectrogram.min.js";
        s.onload = resolve;
        s.onerror = () => reject(new Error("could not load spectrogram.min.js"));
        document.head.appendChild(s);
      }));
      spectrogramLoad.catch(() => { spectrogramLoad = null; });
    }
    return spectrogramLoad;
  }

  function toggleSpectrogram(root) {
    const btn = q(".msw-spectrogram-toggle", root);
    const box = q(".msw-wave", root);
    if (!btn || !box) return;
    const ws = root._ws;
    if (root._spectrogram) {
      root._spectrogram.destroy();
      root._spectrogram = null;
      btn.setAttribute("aria-pressed", "false");
      btn.classList.remove("msw-on");
      root.dataset.spectrogram = "off";
      remember("msw-spectrogram", "0");
      return;
    }
    if (!ws) { toast(root, "The waveform is not drawn yet: try again in a moment.", true); return; }
    btn.setAttribute("aria-pressed", "true");
    btn.classList.add("msw-on");
    root.dataset.spectrogram = "loading";
    remember("msw-spectrogram", "1");
    toast(root, "Drawing the spectrogram\u2026");
    loadSpectrogram().then(() => {
      if (!root.isConnected || root._spectrogram || btn.getAttribute("aria-pressed") !== "true") return;
      const plugin = window.WaveSurfer.Spectrogram.create({
        frequenciesDataUrl: box.dataset.spectrogram,
        sampleRate: 16000, frequencyMin: 0, frequencyMax: 8000, scale: "mel",
        height: 96, labels: true, labelsColor: "#334155", labelsBackground: "rgba(255,255,255,0.6)",
        colorMap: "igray",
      });
      plugin.on("ready", () => { root.dataset.spectrogram = "ready"; });
      plugin.on("error", (err) => {
        root.dataset.spectrogram = "failed";
        toast(root, "Spectrogram not shown: " + (err && err.message || err), true);
      });
      root._spectrogram = ws.registerPlugin(plugin);
    }).catch((err) => {
      root.dataset.spectrogram = "failed";
      btn.setAttribute("aria-pressed", "false");
      btn.classList.remove("msw-on");
      toast(root, "Spectrogram not shown: " + err.message, true);
    });
  }

  function addRegions(root, ws) {
    if (!root.isConnected || root._regionsById) return;
    const plugin = ws.registerPlugin(window.WaveSurfer.Regions.create());
    const sel = selected(root);
    const byId = {};
    const resize = mayDragBoundaries(root);
    for (const { row, start, end } of timeline(root)) {
      byId[row.dataset.uid] = plugin.addRegion({
        id: row.dataset.uid, start: start, end: Math.max(end, start + 0.05),
        color: regionColour(row, row === sel), drag: false, resize: resize, minLength: MIN_SPAN_S,
      });
    }
    root._regionsById = byId;
    if (resize) enableBoundaryDrag(root, plugin);
    root.dataset.regions = String(Object.keys(byId).length);
    if (sel) showTime(root, +sel.dataset.start);
  }

  function recolourSpeaker(root, speaker) {
    const regions = root._regionsById;
    if (!regions) return;
    const sel = selected(root);
    qa('.msw-utt[data-speaker="' + CSS.escape(speaker) + '"]', root).forEach((row) => {
      const r = regions[row.dataset.uid];
      if (r) r.setOptions({ color: regionColour(row, row === sel) });
    });
  }

  // ---------------------------------------------------------------- boundaries by dragging
  // Logins that may correct the transcript drag a region's edge to move that line's start or
  // end; the server (review.retime) checks role, team, neighbours, the recording's length and
  // that no word would leave the line, saves at once and journals it (Shift+U undoes).
  // Moving a whole region is off: words keep the recording's times, so only edges move.
  const MIN_SPAN_S = 0.1;

  function mayDragBoundaries(root) {
    return root.dataset.editable === "1" && root.dataset.readonly !== "1";
  }

  function enableBoundaryDrag(root, plugin) {
    plugin.on("region-updated", (region) => saveBoundary(root, region));
  }

  async function saveBoundary(root, region) {
    const row = q('.msw-utt[data-uid="' + CSS.escape(region.id) + '"]', root);
    if (!row) return;
    const shown = [+row.dataset.start, +row.dataset.end];
    const start = Math.round(region.start * 1000) / 1000;
    const end = Math.round(region.end * 1000) / 1000;
    const back = () => region.setOptions({ start: shown[0], end: Math.max(shown[1], shown[0] + 0.05) });
    if (Math.abs(start - shown[0]) < 0.002 && Math.abs(end - shown[1]) < 0.002) { back(); return; }
    try {
      await post("/api/sessions/" + encodeURIComponent(root.dataset.session) + uttPath(row, "times"),
        { start: start, end: end, expected: shown });
      redraw(root, "Saved: " + start.toFixed(2) + "\u2013" + end.toFixed(2) + " s (Shift+U undoes)");
    } catch (err) {
      back();
      toast(root, "Not saved: " + err.message, true);
    }
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
    if (root.dataset.readonly === "1") {
      toast(root, "This session is marked reviewed and is read-only: press \u201cReopen for changes\u201d first.", true);
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
      root._index = null;
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
        root._index = null;
        toast(root, "Not saved: " + err.message + ". Their code is shown; press again to replace it.", true);
        return;
      }
      toast(root, "Not saved: " + err.message, true);
    }
  }

  // A code key on a line of the other kind of speaker: say so instead of doing nothing.
  function wrongRole(root, row, key, code, keys) {
    const labels = json(root, "labels");
    const mine = keys[row.dataset.group] || {};
    const list = Object.keys(mine).map((k) => k + " " + (labels[mine[k]] || mine[k])).join(", ");
    const kind = row.dataset.group === "practitioner" ? "family-member" : "practitioner";
    toast(root, "\u201c" + key + "\u201d is " + (labels[code] || code) + ", a " + kind +
      " code; this line is the " + row.dataset.role + "'s. Keys for it: " + list + ".", true);
  }

  function showTab(root, name) {
    const tabs = qa(".msw-tab", root);
    if (!tabs.some((t) => t.dataset.tab === name)) return;
    tabs.forEach((t) => t.setAttribute("aria-selected", t.dataset.tab === name ? "true" : "false"));
    qa(".msw-tabpanel", root).forEach((p) => { p.hidden = p.dataset.tab !== name; });
    remember("msw-tab-" + root.dataset.editable, name);
  }

  function focusList(root) {
    const box = q(".msw-transcript", root);
    if (box) box.focus({ preventScroll: true });
  }

  // ---------------------------------------------------------------- transcript corrections
  // Each correction is one POST; the server checks role, team and staleness, saves at once
  // and recomputes the figures, so the pane is then fetched again from the server.
  function canEdit(root) {
    if (root.dataset.editable === "1") return true;
    toast(root, "Your role can listen and read, but not correct the transcript.", true);
    return false;
  }

  function redraw(root, note) {
    const mount = document.createElement("div");
    mount.className = "msw-review-mount";
    mount.dataset.session = root.dataset.session;
    mount.dataset.order = root.dataset.order || "time";
    if (note) mount.dataset.note = note;
    root.replaceWith(mount);
  }

  async function correct(root, path, body, note) {
    if (!canEdit(root)) return;
    try {
      await post("/api/sessions/" + encodeURIComponent(root.dataset.session) + path, body);
      redraw(root, note);
    } catch (err) { toast(root, "Not saved: " + err.message, true); }
  }

  function uttPath(row, action) {
    return "/utterances/" + encodeURIComponent(row.dataset.uid) + "/" + action;
  }

  function editText(root, row) {
    if (!canEdit(root) || q(".msw-edit-text", row)) return;
    const box = q(".msw-words", row);
    const old = box.textContent;
    const input = document.createElement("input");
    input.className = "msw-edit-text";
    input.value = old;
    input.setAttribute("aria-label", "Text of this line (Enter saves, Esc cancels)");
    box.replaceWith(input);
    input.focus();
    input.addEventListener("keydown", (ev) => {
      ev.stopPropagation();
      if (ev.key === "Escape") { input.replaceWith(box); }
      else if (ev.key === "Enter") {
        ev.preventDefault();
        if (input.value.trim() === old.trim()) { input.replaceWith(box); return; }
        correct(root, uttPath(row, "text"), { text: input.value, expected: old }, "Saved: text");
      }
    });
  }

  function splitMode(root, row) {
    if (!canEdit(root) || q(".msw-split-word", row)) return;
    const box = q(".msw-words", row);
    const words = box.textContent.split(/\s+/).filter((w) => w);
    if (words.length < 2) { toast(root, "A one-word line cannot be split.", true); return; }
    box.textContent = "";
    words.forEach((w, i) => {
      const b = document.createElement("button");
      b.className = "msw-split-word";
      b.dataset.word = String(i);
      b.textContent = w;
      b.title = i ? "Split before this word" : "The first word (pick a later one)";
      box.appendChild(b);
      box.appendChild(document.createTextNode(" "));
    });
    toast(root, "Click the word the new line starts with (Esc cancels)");
    const first = q('.msw-split-word[data-word="1"]', box);
    if (first) first.focus();
  }

  function speakerMenu(root, row) {
    if (!canEdit(root) || q(".msw-speaker-pick", row)) return;
    const sel = document.createElement("select");
    sel.className = "msw-speaker-pick";
    sel.setAttribute("aria-label", "Give this line to");
    const opts = [["", "Give this line to…"]].concat(
      (json(root, "speakers") || []).filter((s) => s !== row.dataset.speaker).map((s) => [s, s]),
      [["new", "a new speaker"]]);
    opts.forEach(([v, label]) => {
      const o = document.createElement("option");
      o.value = v; o.textContent = label; sel.appendChild(o);
    });
    q(".msw-spk", row).appendChild(sel);
    sel.focus();
    sel.addEventListener("keydown", (ev) => { ev.stopPropagation(); if (ev.key === "Escape") sel.remove(); });
  }

  function undoCorrection(root) {
    correct(root, "/corrections/undo", {}, "Last correction undone");
  }

  function resplit(root) {
    const val = (cls) => { const el = q(cls, root); return el && el.value ? parseInt(el.value, 10) : null; };
    const body = { num_speakers: val(".msw-resplit-num"), min_speakers: val(".msw-resplit-min"),
      max_speakers: val(".msw-resplit-max") };
    toast(root, "Re-splitting speakers…");
    correct(root, "/speakers/resplit", body, "Speakers re-split");
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

    const tab = t.closest(".msw-tab");
    if (tab) { showTab(root, tab.dataset.tab); return; }
    if (t.closest(".msw-search-all")) { const s = q(".msw-search", root); searchAll(root, s ? s.value.trim() : ""); return; }
    if (t.closest(".msw-spectrogram-toggle")) { toggleSpectrogram(root); focusList(root); return; }

    const speed = t.closest(".msw-speed");
    if (speed) { setRate(root, +speed.dataset.rate); focusList(root); return; }
    if (t.closest(".msw-replay")) { jump(root, -REPLAY_S); focusList(root); return; }
    if (t.closest(".msw-loop")) { setLoop(root, !root._loop); focusList(root); return; }
    if (t.closest(".msw-zoom-in")) { zoom(root, 2); focusList(root); return; }
    if (t.closest(".msw-zoom-out")) { zoom(root, 0.5); focusList(root); return; }

    const ev_ = t.closest(".msw-evidence");
    if (ev_) {
      const row = q('.msw-utt[data-uid="' + CSS.escape(ev_.dataset.uid) + '"]', root);
      if (row) select(root, row, false);
      seek(player(root), +ev_.dataset.start);
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

    const word = t.closest(".msw-split-word");
    if (word) {
      const row = word.closest(".msw-utt");
      if (word.dataset.word === "0") { toast(root, "Pick a later word: the new line starts there.", true); return; }
      correct(root, uttPath(row, "split"), { at_word: parseInt(word.dataset.word, 10) }, "Saved: line split");
      return;
    }
    if (t.closest(".msw-edit-text, .msw-speaker-pick")) return;
    const fix = t.closest("[data-correct]");
    if (fix) {
      const row = fix.closest(".msw-utt");
      const act = fix.dataset.correct;
      if (act === "text") editText(root, row);
      else if (act === "split") splitMode(root, row);
      else if (act === "merge") correct(root, uttPath(row, "merge"), {}, "Saved: merged with the next line");
      else if (act === "speaker") speakerMenu(root, row);
      return;
    }
    if (t.closest(".msw-undo-correction")) { if (canEdit(root)) undoCorrection(root); return; }
    if (t.closest(".msw-resplit-go")) { if (canEdit(root)) resplit(root); return; }

    if (t.closest(".msw-mark-reviewed")) { markReviewed(root); return; }
    if (tool(root, t)) return;

    const row = t.closest(".msw-utt");
    if (row) select(root, row, true);
  });

  // Recordings play in the app only: no "Save audio as…" on the player or the waveform.
  document.addEventListener("contextmenu", (ev) => {
    const t = ev.target;
    if (t instanceof Element && t.closest("audio.msw-audio, .msw-wave")) ev.preventDefault();
  });

  // Scrolling the transcript by hand pauses follow-playback for a few seconds.
  const userScroll = (ev) => {
    const t = ev.target;
    const root = t instanceof Element && t.closest(".msw-transcript") && t.closest(".msw-review");
    if (root) root._userScrollAt = Date.now();
  };
  document.addEventListener("wheel", userScroll, { passive: true, capture: true });
  document.addEventListener("touchmove", userScroll, { passive: true, capture: true });

  document.addEventListener("input", (ev) => {
    const box = ev.target;
    if (!(box instanceof HTMLInputElement) || !box.classList.contains("msw-search")) return;
    const root = box.closest(".msw-review");
    clearTimeout(box._timer);
    box._timer = setTimeout(() => search(root, box.value.trim()), 120);
  });

  document.addEventListener("change", (ev) => {
    const pick = ev.target;
    if (!(pick instanceof HTMLSelectElement) || !pick.classList.contains("msw-speaker-pick")) return;
    const root = pick.closest(".msw-review");
    const row = pick.closest(".msw-utt");
    if (!pick.value) return;
    correct(root, uttPath(row, "speaker"), { speaker: pick.value, expected: row.dataset.speaker },
      "Saved: line given to " + (pick.value === "new" ? "a new speaker" : pick.value));
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
        row.dataset.role = role;
        const r = q(".msw-role", row);
        r.className = "msw-role msw-role-" + role;
        r.textContent = role;
      });
      root._index = null;
      recolourSpeaker(root, spk);
      toast(root, "Saved: " + spk + " is " + role);
    } catch (err) { toast(root, "Not saved: " + err.message, true); }
  });

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    const key = ev.key;
    if (t instanceof HTMLInputElement && t.classList.contains("msw-search")) {
      const root = t.closest(".msw-review");
      if (key === "Escape") { t.value = ""; search(root, ""); focusList(root); ev.preventDefault(); }
      else if (key === "Enter" && ev.shiftKey) { searchAll(root, t.value.trim()); ev.preventDefault(); }
      else if (key === "Enter") { search(root, t.value.trim()); focusList(root); ev.preventDefault(); }
      return;
    }
    if (t instanceof Element && t.closest("input, textarea, select, [contenteditable=true]")) return;
    if (ev.shiftKey && ["T", "S", "M", "P", "U"].includes(key)) {  // transcript corrections
      const root = review();
      const row = root && selected(root);
      if (!root) return;
      ev.preventDefault();
      if (key === "U") { if (canEdit(root)) undoCorrection(root); return; }
      if (!row) return;
      if (key === "T") editText(root, row);
      else if (key === "S") splitMode(root, row);
      else if (key === "M") correct(root, uttPath(row, "merge"), {}, "Saved: merged with the next line");
      else if (key === "P") speakerMenu(root, row);
      return;
    }
    if (key === "Escape" && t instanceof Element && t.closest(".msw-split-word")) {
      const root = review();
      if (root) redraw(root);
      ev.preventDefault();
      return;
    }
    // Enter/space on a focused button, link or player already mean "press" / "play"
    if ((key === "Enter" || key === " ") && t instanceof Element &&
        t.closest("button, a, audio, summary, [role=button], [role=tab]")) return;
    const root = review();
    if (!root) return;
    // ↑/↓ belong to the page unless the transcript has the focus (then they move the line)
    const inList = t instanceof Element && !!t.closest(".msw-transcript");
    if ((key === "ArrowDown" || key === "ArrowUp") && !inList) return;
    const row = selected(root);
    const audio = player(root);
    let handled = true;
    if (key === "j" || key === "ArrowDown") move(root, 1);
    else if (key === "k" || key === "ArrowUp") move(root, -1);
    else if (key === "/") { const s = q(".msw-search", root); if (s) { s.focus(); s.select(); } }
    else if (key === " ") {
      if (audio && !audio.paused) audio.pause();
      else if (row) seek(audio, +row.dataset.start);
    }
    else if (key === "Escape") { if (audio) audio.pause(); }
    else if (audio && key === "ArrowLeft") jump(root, -REPLAY_S);
    else if (audio && key === "ArrowRight") jump(root, REPLAY_S);
    else if (audio && key === "[") stepRate(root, -1);
    else if (audio && key === "]") stepRate(root, 1);
    else if (audio && key === "l") setLoop(root, !root._loop);
    else if (key === "Enter") { if (row) setCode(root, row, null, "accept"); }
    else if (key === "Backspace" || key === "Delete") { if (row) setCode(root, row, null, "clear"); }
    else {
      const keys = json(root, "hotkeys");
      const group = row ? row.dataset.group : null;
      const other = group === "practitioner" ? "client" : "practitioner";
      const code = group && keys[group] ? keys[group][key] : null;
      const otherCode = group && keys[other] ? keys[other][key] : null;
      if (row && (code || otherCode)) {
        if (root.dataset.editable !== "1" || code) setCode(root, row, code, "set");
        else wrongRole(root, row, key, otherCode, keys);
      } else handled = false;
    }
    if (handled) ev.preventDefault();
  });

  // Opening a session brings its header to the top of the window, so the lines fill the
  // rest. Gradio may still be laying out the queue above it for a moment: keep it there
  // for up to 3 s, unless the user scrolls, clicks or types first.
  function pinToTop(root) {
    const until = Date.now() + 3000;
    let stop = false;
    const quit = () => { stop = true; };
    const events = ["wheel", "touchstart", "keydown", "mousedown"];
    events.forEach((e) => window.addEventListener(e, quit, { once: true, capture: true, passive: true }));
    const step = () => {
      if (stop || !root.isConnected || Date.now() > until) {
        events.forEach((e) => window.removeEventListener(e, quit, { capture: true }));
        return;
      }
      if (Math.abs(root.getBoundingClientRect().top) > 2) root.scrollIntoView({ block: "start" });
      requestAnimationFrame(step);
    };
    step();
  }

  // ---------------------------------------------------------------- server-side tools
  // Undo / redo, bulk accept, mark reviewed and reopen change many things at once, so the
  // pane is fetched again from the server afterwards (the server holds the journal).
  const orders = {};
  function sessionUrl(root, tail) {
    return "/api/sessions/" + encodeURIComponent(root.dataset.session) + "/" + tail;
  }
  function reload(root, order) {
    const sid = root.dataset.session;
    const mount = document.createElement("div");
    mount.className = "msw-review-mount";
    mount.dataset.session = sid;
    mount.dataset.order = order || orders[sid] || "time";
    const audio = q("audio.msw-audio", root);
    const at = audio ? audio.currentTime : 0;
    root.replaceWith(mount);
    fill(mount, () => {
      const again = review();
      const a = again && q("audio.msw-audio", again);
      if (a && at) { try { a.currentTime = at; } catch (e) { /* not loaded yet */ } }
    });
  }

  async function step(root, how) {
    if (root.dataset.editable !== "1") return;
    try {
      const data = await post(sessionUrl(root, how));
      if (!data.done) { toast(root, data.message); return; }
      pendingToast = data.message;
      reload(root);
    } catch (err) {
      toast(root, (how === "undo" ? "Not undone: " : "Not redone: ") + err.message, true);
    }
  }

  async function markReviewed(root, force) {
    try {
      const data = await post(sessionUrl(root, "reviewed"), { force: !!force });
      pendingToast = "Session marked reviewed" + (data.unconfirmed ? " (" + data.unconfirmed + " lines unconfirmed)" : "");
      reload(root);
    } catch (err) {
      if (err.status === 409 && err.detail && err.detail.confirm_required) {
        if (window.confirm(err.message)) markReviewed(root, true);
        else toast(root, err.detail.unconfirmed + " lines still need a person: not marked reviewed");
        return;
      }
      toast(root, "Not saved: " + err.message, true);
    }
  }

  function tool(root, t) {
    if (t.closest(".msw-undo")) { step(root, "undo"); return true; }
    if (t.closest(".msw-redo")) { step(root, "redo"); return true; }
    if (t.closest(".msw-reopen")) {
      post(sessionUrl(root, "reopen")).then(() => { pendingToast = "Session reopened for changes"; reload(root); })
        .catch((err) => toast(root, "Not reopened: " + err.message, true));
      return true;
    }
    if (t.closest(".msw-bulk-accept")) {
      const pct = parseFloat((q(".msw-bulk-pct", root) || {}).value);
      post(sessionUrl(root, "accept-above"), { percent: pct }).then((data) => {
        pendingToast = "Accepted " + data.accepted + " suggestions at \u2265 " + pct + " %; " +
          data.remaining + " lines still need a person (least confident first)";
        reload(root, "confidence");
      }).catch((err) => toast(root, "Not saved: " + err.message, true));
      return true;
    }
    return false;
  }

  let pendingToast = null;
  document.addEventListener("keydown", (ev) => {
    if (!(ev.ctrlKey || ev.metaKey) || ev.altKey || (ev.key || "").toLowerCase() !== "z" && (ev.key || "").toLowerCase() !== "y") return;
    const t = ev.target;
    if (t instanceof Element && t.closest("input, textarea, select, [contenteditable=true]")) return;
    const root = review();
    if (!root) return;
    ev.preventDefault();
    const redo = ev.shiftKey || (ev.key || "").toLowerCase() === "y";
    step(root, redo ? "redo" : "undo");
  });

  // ---------------------------------------------------------------- (re)render hook
  function onRender(root) {
    if (root._mswReady) return;
    root._mswReady = true;
    if (root.dataset.editable === "1" && !q(".msw-line-tools", root)) {
      const tools = document.createElement("div");
      tools.className = "msw-line-tools";
      tools.setAttribute("role", "toolbar");
      tools.setAttribute("aria-label", "Correct this line");
      [["speaker", "Speaker…", "Give this line to another speaker (Shift+P)"],
       ["text", "Edit text", "Edit the words (Shift+T)"],
       ["split", "Split", "Split at a word (Shift+S)"],
       ["merge", "Merge ↓", "Merge with the next line (Shift+M)"]].forEach(([act, label, title]) => {
        const b = document.createElement("button");
        b.dataset.correct = act; b.textContent = label; b.title = title;
        b.className = "msw-tool msw-tool-" + act;
        tools.appendChild(b);
      });
      root._mswTools = tools;
    }
    const note = root.dataset.note || pendingNote[root.dataset.session];
    delete pendingNote[root.dataset.session];
    if (note) toast(root, note);
    const sid = root.dataset.session;
    try {
      const url = new URL(window.location.href);
      if (url.searchParams.get("session") !== sid) {
        url.searchParams.set("session", sid);
        history.replaceState(null, "", url.toString());
      }
    } catch (e) { /* non-standard location */ }
    // the header's height, for the transcript and side panel to fill the rest of the window
    const bar = q(".msw-toolbar", root);
    if (bar && window.ResizeObserver) {
      new ResizeObserver(() => root.style.setProperty("--msw-head", bar.offsetHeight + "px")).observe(bar);
    }
    const tab = recall("msw-tab-" + root.dataset.editable);
    if (tab) showTab(root, tab);
    const audio = player(root);
    const rate = +recall("msw-rate");
    if (audio && SPEEDS.includes(rate) && rate !== 1) { audio.playbackRate = rate; audio.defaultPlaybackRate = rate; }
    pinToTop(root);
    let uid = recall("msw-sel-" + sid);
    // ?line=<utterance> (e.g. a disagreement in the agreement report) selects that line
    try { uid = new URL(window.location.href).searchParams.get("line") || uid; } catch (e) { /* non-standard location */ }
    const row = (uid && q('.msw-utt[data-uid="' + CSS.escape(uid) + '"]', root)) || q(".msw-utt", root);
    if (row) select(root, row, false);
    buildWave(root);
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
      // a pane with a waveform (only for logins who may hear it): its peaks are asked for
      // now, so they are ready when the rows are inserted
      const peaks = /data-peaks="([^"]+)"/.exec(text.slice(0, 20000));
      if (peaks) fetchPeaks(peaks[1].replace(/&amp;/g, "&")).catch(() => {});
      return text;
    });
  }
  function urlSession() {
    try { return new URL(window.location.href).searchParams.get("session"); } catch (e) { return null; }
  }
  const sid0 = urlSession();
  if (sid0) {
    prefetched[fragmentUrl(sid0, "time")] = fetchFragment(sid0, "time");
    loadVendor().catch(() => {}); // the waveform's code loads while Gradio starts
  }

  function fill(mount, then) {
    if (mount.dataset.loading) return;
    mount.dataset.loading = "1";
    // the pane's first content (ui.url_mount_html): the session of the page's URL, if any
    const sid = mount.classList.contains("msw-url-mount") ? urlSession() : mount.dataset.session;
    if (!sid) return;
    const order = mount.dataset.order || "time";
    orders[sid] = order;
    const key = fragmentUrl(sid, order);
    const promise = prefetched[key] || fetchFragment(sid, order);
    delete prefetched[key];
    if (mount.dataset.note) pendingNote[sid] = mount.dataset.note;
    promise.then((html) => {
      if (mount.isConnected) mount.outerHTML = html;
      scan();
      if (pendingToast) { toast(review(), pendingToast); pendingToast = null; }
      if (then) then();
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

  // what review_interchange.js (the login's own keys, the ELAN / Praat import) uses
  window.__mswReviewApi = { review: review, toast: toast, reload: reload,
    later: (text) => { pendingToast = text; } };
})();
