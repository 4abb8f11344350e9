#!/usr/bin/env python3
"""How long one coding decision takes on a 1,000-utterance session (target: ≤ 100 ms at the
95th percentile), through the HTTP route the review screen calls.

Why: an evaluator confirms hundreds of lines a session, one key press each; every decision
recomputes the session's MITI summary and principle scores (so every figure follows the
evaluator), and that must not make the screen lag. This builds the same 1,040-utterance
session as ``benchmarks/app_open.py`` (the demo transcript repeated 20 times), serves it with
uvicorn on loopback, logs in as an evaluator and times, per decision kind, the full request
(route, role and team check, the write, the rescore, the progress reply):

* ``code``: ``POST …/utterances/{id}/code`` with a practitioner code on a practitioner line;
* ``accept``: ``POST …/utterances/{id}/accept`` (take the suggestion);
* ``clear``: ``POST …/utterances/{id}/clear``;
* ``role``: ``POST …/speakers/{id}/role`` (flips every line of that speaker);
* ``undo``: ``POST …/undo`` (the journal's last decision);
* ``score``: ``POST …/scores/{principle}`` (confirm a principle score; no rescore).

    .venv/bin/python benchmarks/decision_latency.py [--repeat 20] [--n 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest_app import (  # noqa: E402
    PASSWORD,
    demo_session,
    serve_app,
    write_session_dir,
)

TARGET_S = 0.100


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` by nearest rank (the benchmarks' p95)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20, help="copies of the demo transcript")
    ap.add_argument("--n", type=int, default=100, help="decisions timed per kind")
    ap.add_argument("--no-freeze", action="store_true",
                    help="skip serve's gc.freeze after start-up (the A/B of that setting)")
    args = ap.parse_args()

    import httpx

    from msw_audio.coding.codebook import load_codebook
    from msw_audio.review.store import Store
    from msw_audio.web.server import create_app, freeze_startup_heap

    book = load_codebook()
    practitioner_codes = [c.id for c in book.for_role("practitioner")][:4]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        store = Store.open(tmp_path / "data")
        store.add_user("bench", "evaluator", PASSWORD)
        session = demo_session(n_repeat=args.repeat)
        sid = store.ingest(write_session_dir(session, tmp_path / "out"))
        roles = {sp.id: sp.role for sp in session.speakers}
        lines = [u.id for u in session.utterances if roles[u.speaker] == "practitioner"]
        lines = lines[: args.n]
        times: dict[str, list[float]] = {k: [] for k in ("code", "accept", "clear", "role",
                                                          "undo", "score")}
        # CPU seconds of this process (server thread + client) per decision: the measure a
        # loaded shared box does not distort, beside the wall time a coder feels
        cpu: dict[str, list[float]] = {k: [] for k in times}
        app = create_app(store)
        if not args.no_freeze:
            freeze_startup_heap()  # as ``serve`` does
        with serve_app(app) as base, httpx.Client(base_url=base, timeout=120) as http:
            r = http.post("/login", data={"username": "bench", "password": PASSWORD})
            if r.status_code >= 400:
                raise SystemExit(f"login failed: {r.status_code}")
            head = {"x-msw": "1"}
            api = f"/api/sessions/{sid}"

            def timed(kind: str, url: str, body: dict | None = None) -> None:
                t0, c0 = time.perf_counter(), time.process_time()
                resp = http.post(url, json=body or {}, headers=head)
                times[kind].append(time.perf_counter() - t0)
                cpu[kind].append(time.process_time() - c0)
                if resp.status_code != 200:
                    raise SystemExit(f"{kind} {url}: {resp.status_code} {resp.text[:200]}")

            for i, uid in enumerate(lines):
                timed("code", f"{api}/utterances/{uid}/code",
                      {"code": practitioner_codes[i % len(practitioner_codes)]})
            for uid in lines:
                timed("clear", f"{api}/utterances/{uid}/clear")
            for uid in lines:
                timed("accept", f"{api}/utterances/{uid}/accept")
            for _ in range(min(args.n, 50)):
                timed("undo", f"{api}/undo")
            parent = next(s for s, r in roles.items() if r == "parent")
            for i in range(min(args.n, 20)):
                timed("role", f"{api}/speakers/{parent}/role",
                      {"role": "child" if i % 2 == 0 else "parent"})
            for i in range(min(args.n, 20)):
                timed("score", f"{api}/scores/empathy", {"value": 1 + (i % 9) * 0.5})
        store.close()

    mode = "without gc.freeze" if args.no_freeze else "gc.freeze after start-up, as serve"
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nDecisions on a {len(session.utterances)}-utterance session over HTTP "
          f"(loopback, uvicorn; {mode}), target p95 ≤ {TARGET_S * 1000:.0f} ms; load average "
          f"at the end {load} (1/5/15 min)\n")
    print("| decision | n | wall median | wall p95 | wall max | CPU median | CPU p95 |")
    print("|---|---|---|---|---|---|---|")
    for kind, vals in times.items():
        if vals:
            print(f"| {kind} | {len(vals)} | {statistics.median(vals) * 1000:.0f} ms | "
                  f"{percentile(vals, 0.95) * 1000:.0f} ms | {max(vals) * 1000:.0f} ms | "
                  f"{statistics.median(cpu[kind]) * 1000:.0f} ms | "
                  f"{percentile(cpu[kind], 0.95) * 1000:.0f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
