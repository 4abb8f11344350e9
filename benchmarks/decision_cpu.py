#!/usr/bin/env python3
"""Thread CPU time of each decision kind on the store, no HTTP (issue 12).

Why beside ``decision_latency.py``: on a shared, loaded box the wall time of a request is
mostly waiting for a core, and even the process CPU time of the HTTP benchmark includes the
client and the event loop. This calls the ``Store`` methods the routes call (plus the
progress reply's ``session_summary``) in one thread and times each with
``time.thread_time``, on the same 1,040-utterance session, with ``gc.freeze`` as ``serve``.
Point ``PYTHONPATH`` at another checkout to measure that code with the same script.

    .venv/bin/python benchmarks/decision_cpu.py [--repeat 20] [--n 100]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))

from benchmarks.decision_latency import percentile  # noqa: E402
from tests.conftest_app import PASSWORD, demo_session, write_session_dir  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20, help="copies of the demo transcript")
    ap.add_argument("--n", type=int, default=100, help="decisions timed per kind")
    args = ap.parse_args()

    from msw_audio.coding.codebook import load_codebook
    from msw_audio.review.store import Store

    book = load_codebook()
    codes = [c.id for c in book.for_role("practitioner")][:4]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "data")
        store.add_user("bench", "evaluator", PASSWORD)
        user = store.get_user("bench")
        session = demo_session(n_repeat=args.repeat)
        sid = store.ingest(write_session_dir(session, Path(tmp) / "out"))
        roles = {sp.id: sp.role for sp in session.speakers}
        lines = [u.id for u in session.utterances if roles[u.speaker] == "practitioner"]
        lines = lines[: args.n]
        parent = next(s for s, r in roles.items() if r == "parent")
        gc.collect()
        gc.freeze()
        cpu: dict[str, list[float]] = {}

        def timed(kind: str, call: Callable[[], object]) -> None:
            c0 = time.thread_time()
            call()
            store.session_summary(sid, user)  # every decision route replies with progress
            cpu.setdefault(kind, []).append(time.thread_time() - c0)

        for i, uid in enumerate(lines):
            timed("code", lambda i=i, uid=uid: store.set_code(sid, uid, codes[i % 4], user))
        for uid in lines:
            timed("clear", lambda uid=uid: store.clear_code(sid, uid, user))
        for uid in lines:
            timed("accept", lambda uid=uid: store.accept_code(sid, uid, user))
        for _ in range(min(args.n, 50)):
            timed("undo", lambda: store.undo(sid, user))
        for i in range(min(args.n, 20)):
            timed("role", lambda i=i: store.set_role(sid, parent,
                                                     "child" if i % 2 == 0 else "parent", user))
        for i in range(min(args.n, 20)):
            timed("score", lambda i=i: store.confirm_score(sid, "empathy", 1 + (i % 9) * 0.5,
                                                           None, user))
        store.close()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nThread CPU per decision on the store ({len(session.utterances)} utterances, "
          f"gc.freeze; load average at the end {load})\n")
    print("| decision | n | CPU median | CPU p95 | CPU max |")
    print("|---|---|---|---|---|")
    for kind, vals in cpu.items():
        print(f"| {kind} | {len(vals)} | {statistics.median(vals) * 1000:.1f} ms | "
              f"{percentile(vals, 0.95) * 1000:.1f} ms | {max(vals) * 1000:.1f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
