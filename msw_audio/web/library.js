/* msw-audio coach library: star a card (with a note), shortlist from the cards, export.
 *
 * The shortlist is kept in sessionStorage (it survives a new search in the same tab) as
 * [{session_id, utterance_id}]; exporting POSTs it to /api/library/handout and saves the
 * file the server wrote into its data folder. An empty shortlist exports nothing and says
 * so. Every change goes through the server, which checks the user's role and team.
 */
(function () {
  "use strict";
  if (window.__mswLibrary) return;
  window.__mswLibrary = true;

  const KEY = "msw-shortlist";
  const q = (sel, el) => (el || document).querySelector(sel);
  const qa = (sel, el) => Array.from((el || document).querySelectorAll(sel));

  function load() {
    try { return JSON.parse(sessionStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }
  function save(list) {
    try { sessionStorage.setItem(KEY, JSON.stringify(list)); } catch (e) { /* private mode */ }
  }
  const same = (a, card) => a.session_id === card.dataset.session && a.utterance_id === card.dataset.uid;

  function say(lib, text, isError) {
    const m = q(".msw-sl-msg", lib);
    if (!m) return;
    m.textContent = text;
    m.classList.toggle("msw-toast-error", !!isError);
  }

  function sync(lib) {
    const list = load();
    qa(".msw-lib-card", lib).forEach((card) => {
      const box = q(".msw-sl-add", card);
      if (box) box.checked = list.some((a) => same(a, card));
    });
    const n = q(".msw-sl-count", lib);
    if (n) n.textContent = String(list.length);
  }

  async function send(url, body) {
    const res = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-MSW": "1" },
      body: JSON.stringify(body),
    });
    if (!res.ok) {
      let msg = res.status + " " + res.statusText;
      try { const d = await res.json(); msg = typeof d.detail === "string" ? d.detail : msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return res;
  }

  document.addEventListener("change", (ev) => {
    const box = ev.target;
    if (!(box instanceof HTMLInputElement) || !box.classList.contains("msw-sl-add")) return;
    const card = box.closest(".msw-lib-card");
    const lib = box.closest(".msw-library");
    let list = load().filter((a) => !same(a, card));
    if (box.checked) list.push({ session_id: card.dataset.session, utterance_id: card.dataset.uid });
    save(list);
    sync(lib);
    say(lib, box.checked ? "Added to the shortlist" : "Removed from the shortlist");
  });

  document.addEventListener("click", async (ev) => {
    const t = ev.target;
    if (!(t instanceof Element)) return;
    const lib = t.closest(".msw-library");
    if (!lib) return;

    const star = t.closest(".msw-star");
    if (star) {
      const card = star.closest(".msw-lib-card");
      const starred = card.dataset.starred === "1";
      const note = (q(".msw-star-note", card) || {}).value || "";
      try {
        await send(starred ? "/api/library/unstar" : "/api/library/star", {
          session_id: card.dataset.session, utterance_id: card.dataset.uid, note: note,
        });
        card.dataset.starred = starred ? "0" : "1";
        star.textContent = starred ? "\u2606 Star" : "\u2605 Starred";
        star.setAttribute("aria-pressed", starred ? "false" : "true");
        if (!starred) {
          // starred lines come first in the library: show it there now
          const first = q(".msw-lib-card", lib);
          if (first && first !== card) lib.insertBefore(card, first);
          if (!q(".msw-starred", card)) {
            const mark = document.createElement("span");
            mark.className = "msw-starred";
            mark.title = "starred";
            mark.textContent = "\u2605";
            q(".msw-ex-head", card).prepend(mark);
          }
        }
        say(lib, starred ? "Star removed" : "Starred: it is listed first for your team");
      } catch (err) { say(lib, "Not saved: " + err.message, true); }
      return;
    }

    if (t.closest(".msw-sl-clear")) { save([]); sync(lib); say(lib, "Shortlist cleared"); return; }

    const exp = t.closest(".msw-sl-export");
    if (exp) {
      const list = load();
      if (!list.length) {
        say(lib, "Nothing is shortlisted: tick \u201cAdd to shortlist\u201d on the examples you want first. Nothing was exported.", true);
        return;
      }
      try {
        const res = await send("/api/library/handout", { items: list, format: exp.dataset.format });
        const blob = await res.blob();
        const disp = res.headers.get("Content-Disposition") || "";
        const m = /filename="([^"]+)"/.exec(disp);
        const a = document.createElement("a");
        a.href = URL.createObjectURL(blob);
        a.download = m ? m[1] : "practice-note." + exp.dataset.format;
        document.body.appendChild(a);
        a.click();
        setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
        say(lib, "Exported " + list.length + " example(s)");
      } catch (err) { say(lib, "Not exported: " + err.message, true); }
    }
  });

  new MutationObserver(() => qa(".msw-library").forEach((lib) => {
    if (lib._mswSynced) return;
    lib._mswSynced = true;
    sync(lib);
  })).observe(document.documentElement, { childList: true, subtree: true });
})();
