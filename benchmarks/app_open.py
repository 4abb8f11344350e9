#!/usr/bin/env python3
"""How long a 1,000-utterance session takes to open in the review screen (target < 2 s).

Why: evaluators open long recordings (an hour is ~1,000 utterances); the screen renders the
whole transcript at once so keyboard navigation never waits. This builds a session of about
1,000 utterances over the bundled demo recording's real transcript (repeated in time),
ingests it into a fresh store and measures:

* ``server``: store reads (``get_session``, ``get_decisions``, ``session_meta``) + HTML render;
* ``browser``: headless Chromium, from choosing the session in the app's Session dropdown
  until every transcript row is on screen (includes the Gradio round trip);
* ``reload``: a full page load of ``/ui/?session=ID`` until every row is on screen.

    .venv/bin/python benchmarks/app_open.py [--repeat 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest_app import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    DEMO_AUDIO,
    PASSWORD,
    demo_session,
    running_server,
    write_session_dir,
)

TARGET_S = 2.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--repeat", type=int, default=20, help="copies of the demo transcript (52 each)"
    )
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from msw_audio.review.store import Store
    from msw_audio.web.render import load_codebook_view
    from msw_audio.web.ui import render_session

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        store = Store.open(tmp_path / "data")
        store.add_user("bench", "evaluator", PASSWORD)
        session = demo_session(n_repeat=args.repeat)
        sid = store.ingest(write_session_dir(session, tmp_path / "out"), audio_path=DEMO_AUDIO)
        user = store.get_user("bench")
        book = load_codebook_view()
        n = len(session.utterances)

        server = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            html = render_session(store, book, user, sid, "time")
            server.append(time.perf_counter() - t0)
        sorted_s = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            render_session(store, book, user, sid, "confidence")
            sorted_s.append(time.perf_counter() - t0)

        browser, reload = [], []
        if Path("/usr/bin/chromium").exists():
            from playwright.sync_api import sync_playwright

            with running_server(store) as base, sync_playwright() as p:
                b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = b.new_page(viewport={"width": 1400, "height": 900})
                page.goto(base + "/login")
                page.fill("input[name=username]", "bench")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_selector(".msw-header", timeout=60_000)
                rows = f"document.querySelectorAll('.msw-utt').length === {n}"
                for i in range(args.runs + 1):
                    page.goto(base + "/ui/")
                    page.wait_for_selector(".msw-header", timeout=60_000)
                    page.locator("#msw-session input").click()
                    t0 = time.perf_counter()
                    page.get_by_role("option").first.click()
                    page.wait_for_function(rows, timeout=60_000)
                    if i:  # first run warms caches
                        browser.append(time.perf_counter() - t0)
                for i in range(args.runs + 1):
                    t0 = time.perf_counter()
                    page.goto(base + f"/ui/?session={sid}")
                    page.wait_for_function(rows, timeout=60_000)
                    if i:
                        reload.append(time.perf_counter() - t0)
                b.close()
        store.close()

    def row(name: str, xs: list[float]) -> str:
        if not xs:
            return f"{name:<34} {'(no /usr/bin/chromium)':>30}"
        med = statistics.median(xs)
        ok = "ok" if med < TARGET_S else "SLOW"
        return f"{name:<34} {med:8.3f} {min(xs):8.3f} {max(xs):8.3f}   {ok}"

    print(
        f"session: {n} utterances, {len(html) / 1e6:.2f} MB of HTML; {args.runs} runs; target < "
        f"{TARGET_S} s"
    )
    print(f"{'step':<34} {'median':>8} {'min':>8} {'max':>8}")
    print(row("server: store + render (time)", server))
    print(row("server: store + render (least conf.)", sorted_s))
    print(row("browser: pick session -> rows shown", browser))
    print(row("browser: page load -> rows shown", reload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
