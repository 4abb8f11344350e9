#!/usr/bin/env python3
"""What a cold open of the review screen downloads: every request of ``/ui/?session=ID`` in a
new browser context (empty cache), grouped by who serves it, with count, bytes and time.

Why: ``benchmarks/app_open.py`` measures a cold open (empty browser cache) at 2.1–2.4 s
against a 1.5 s target; before changing anything we need to know whether the time goes to
our own files (``/static/``, the transcript fragment, the peaks) or to Gradio's start-up.
Same 1,040-utterance session over the repeated demo recording as ``app_open.py``.

    .venv/bin/python benchmarks/app_open_requests.py [--repeat 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.long_session import build_long_session, shown_js, sign_in  # noqa: E402
from tests.conftest_app import CHROMIUM, CHROMIUM_ARGS, running_server  # noqa: E402


def group(path: str) -> str:
    """Who serves a request: our own code, or Gradio (its page, assets and API)."""
    for prefix, name in (("/static/vendor/", "ours: vendored wavesurfer"),
                         ("/static/", "ours: review.js/css, library.js"),
                         ("/fragment/", "ours: transcript fragment"),
                         ("/media/", "ours: peaks / recording"),
                         ("/api/", "ours: JSON routes"),
                         ("/ui/assets/", "gradio: JS/CSS assets"),
                         ("/ui/gradio_api/", "gradio: API (config, queue, load)"),
                         ("/ui/config", "gradio: API (config, queue, load)"),
                         ("/ui/theme.css", "gradio: theme/fonts"),
                         ("/ui/static/", "gradio: theme/fonts")):
        if path.startswith(prefix):
            return name
    if path.startswith("/ui"):
        return "gradio: page and other"
    return "other"


def one_open(browser: Any, base: str, sid: str, state: Any, n: int) -> dict[str, Any]:
    """One cold open: wall time until rows + waveform, and every finished request."""
    from urllib.parse import urlparse

    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, storage_state=state)
    page = ctx.new_page()
    done: list[dict[str, Any]] = []

    def finished(req: Any) -> None:
        try:
            sizes = req.sizes()
            timing = req.timing
        except Exception:  # noqa: BLE001 - a request of a closing page
            return
        path = urlparse(req.url).path
        done.append({"path": path, "group": group(path), "bytes": sizes["responseBodySize"],
                     "start": timing["startTime"], "ms": max(0.0, timing["responseEnd"])})

    page.on("requestfinished", finished)
    shown = shown_js(n)
    t0 = time.perf_counter()
    page.goto(base + f"/ui/?session={sid}")
    page.wait_for_function(shown, timeout=60_000, polling="raf")
    wall = time.perf_counter() - t0
    ctx.close()
    first = min(r["start"] for r in done)
    for r in done:
        r["at_s"] = (r["start"] - first) / 1000 + r["ms"] / 1000  # when it finished
    return {"wall": wall, "requests": done}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        store, sid, n, _ = build_long_session(Path(tmp), args.repeat)
        runs = []
        with running_server(store) as base, sync_playwright() as p:
            b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            ctx = b.new_context()
            sign_in(ctx.new_page(), base)
            state = ctx.storage_state()
            ctx.close()
            one_open(b, base, sid, state, n)  # warms the server (peaks cache, imports)
            runs = [one_open(b, base, sid, state, n) for _ in range(args.runs)]
            b.close()
        store.close()

    print(f"cold open of a {n}-utterance session, {args.runs} runs; medians per run")
    print(f"wall until rows + waveform: {statistics.median(r['wall'] for r in runs):.2f} s "
          f"({min(r['wall'] for r in runs):.2f}–{max(r['wall'] for r in runs):.2f})")
    table: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        per: dict[str, dict[str, float]] = defaultdict(lambda: {"n": 0, "kb": 0, "last": 0})
        for q in r["requests"]:
            g = per[q["group"]]
            g["n"] += 1
            g["kb"] += q["bytes"] / 1024
            g["last"] = max(g["last"], q["at_s"])
        for name, g in per.items():
            for k, v in g.items():
                table[name][k].append(v)
    print(f"{'who':<36} {'requests':>8} {'kB':>9} {'last done at':>13}")
    for name in sorted(table, key=lambda k: -statistics.median(table[k]["kb"])):
        t = table[name]
        print(f"{name:<36} {statistics.median(t['n']):8.0f} {statistics.median(t['kb']):9.0f} "
              f"{statistics.median(t['last']):11.2f} s")
    slow = sorted(runs[len(runs) // 2]["requests"], key=lambda q: -q["ms"])[:12]
    print("\nslowest requests of the middle run (ms from request start to response end):")
    for q in slow:
        print(f"  {q['ms']:7.0f} ms {q['bytes'] / 1024:8.0f} kB  done at {q['at_s']:5.2f} s  "
              f"{q['path'][:70]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
