#!/usr/bin/env python3
"""How long a 1,000-utterance session takes to open in the review screen, with its waveform
(target ≤ 1.5 s).

Why: evaluators open long recordings (an hour is ~1,000 utterances); the screen renders the
whole transcript at once so keyboard navigation never waits, and draws the waveform of the
whole recording. This builds a session of about 1,000 utterances over the bundled demo
recording's real transcript, repeated in time over the demo recording repeated as often
(one ~96-minute Ogg/Opus file), ingests both into a fresh store and measures:

* ``server``: store reads (``get_session``, ``get_decisions``, ``session_meta``) + HTML render;
* ``peaks``: the waveform's peaks decoded from the file (once per recording, when the
  pipeline did not write them), and read back from the cache (every opening);
* ``browser``, headless Chromium, until every transcript row is on screen **and** the
  waveform is drawn (``data-wave="ready"``; the utterance regions follow):
  - pick the session in the app's Session dropdown (includes the Gradio round trip);
  - a full page load of ``/ui/?session=ID`` in the same browser (assets in its cache):
    the "cold open" of the target;
  - the same in a new browser context (empty cache: every asset downloaded again).

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

from benchmarks.long_session import USER, build_long_session, shown_js, sign_in  # noqa: E402
from tests.conftest_app import CHROMIUM, CHROMIUM_ARGS, running_server  # noqa: E402

TARGET_S = 1.5


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--repeat", type=int, default=20, help="copies of the demo transcript (52 lines each)"
    )
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from msw_audio.speech.peaks import cached_peaks, decode_peaks, load_peaks
    from msw_audio.web.render import load_codebook_view
    from msw_audio.web.ui import render_session

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        store, sid, n, minutes = build_long_session(tmp_path, args.repeat)
        user = store.get_user(USER)
        book = load_codebook_view()

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

        stored = store.audio_file(sid, user, False)
        t0 = time.perf_counter()
        peaks = decode_peaks(stored)
        decode_s = time.perf_counter() - t0
        cached_peaks(stored, stored.stem, store.paths.cache)  # what the first opening does
        read = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            load_peaks(store.paths.cache, stored.stem)
            read.append(time.perf_counter() - t0)

        pick, reload, fresh = [], [], []
        if CHROMIUM.exists():
            from playwright.sync_api import sync_playwright

            shown = shown_js(n)
            with running_server(store) as base, sync_playwright() as p:
                b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                ctx = b.new_context(viewport={"width": 1400, "height": 900})
                page = ctx.new_page()
                sign_in(page, base)
                signed_in = ctx.storage_state()
                for i in range(args.runs + 1):
                    page.goto(base + "/ui/")
                    page.wait_for_selector(".msw-header", timeout=60_000)
                    page.locator("#msw-session input").click()
                    t0 = time.perf_counter()
                    page.get_by_role("option").first.click()
                    page.wait_for_function(shown, timeout=60_000, polling="raf")
                    if i:  # the first run warms caches
                        pick.append(time.perf_counter() - t0)
                for i in range(args.runs + 1):
                    t0 = time.perf_counter()
                    page.goto(base + f"/ui/?session={sid}")
                    page.wait_for_function(shown, timeout=60_000, polling="raf")
                    if i:
                        reload.append(time.perf_counter() - t0)
                for _ in range(args.runs):
                    cold = b.new_context(viewport={"width": 1400, "height": 900},
                                         storage_state=signed_in)
                    cp = cold.new_page()
                    t0 = time.perf_counter()
                    cp.goto(base + f"/ui/?session={sid}")
                    cp.wait_for_function(shown, timeout=60_000, polling="raf")
                    fresh.append(time.perf_counter() - t0)
                    cold.close()
                b.close()
        store.close()

    def row(name: str, xs: list[float], target: float | None = TARGET_S) -> str:
        if not xs:
            return f"{name:<44} {'(no /usr/bin/chromium)':>30}"
        med = statistics.median(xs)
        ok = "" if target is None else ("ok" if med <= target else "SLOW")
        return f"{name:<44} {med:8.3f} {min(xs):8.3f} {max(xs):8.3f}   {ok}"

    print(
        f"session: {n} utterances over {minutes:.0f} min of audio, "
        f"{len(html) / 1e6:.2f} MB of HTML, {len(peaks.data) / 1e3:.0f} k peaks; "
        f"{args.runs} runs; target ≤ {TARGET_S} s"
    )
    print(f"{'step':<44} {'median':>8} {'min':>8} {'max':>8}")
    print(row("server: store + render (time)", server, None))
    print(row("server: store + render (least conf.)", sorted_s, None))
    print(row("peaks: decode the recording (once)", [decode_s], None))
    print(row("peaks: read from the cache", read, None))
    print(row("browser: pick session -> rows + waveform", pick))
    print(row("browser: page load -> rows + waveform", reload))
    print(row("browser: empty cache -> rows + waveform", fresh))
    return 0


if __name__ == "__main__":
    sys.exit(main())
