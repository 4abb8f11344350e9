#!/usr/bin/env python3
"""What the issue-12 part-A tools cost: a dragged boundary (``Store.retime_utterance``) on
the 1,040-utterance session, the All sessions search (``Store.search_transcripts``) over
it and a few demo-sized sessions, and the spectrogram of the demo recording.

Why: a drag is a transcript correction (journal, fresh suggestions for the line, rescore of
the session), so it costs what a correction costs, not a code decision; the search reads
every visible session's lines and must stay interactive; the spectrogram is computed once
per recording on first use and must not be a surprise.

Store level (no HTTP), the real tagger, the demo transcript repeated ``--repeat`` times:

    .venv/bin/python benchmarks/boundary_search.py [--repeat 20] [--n 20] [--copies 10]
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

from benchmarks.decision_latency import percentile  # noqa: E402
from tests.conftest_app import (  # noqa: E402
    DEMO_AUDIO,
    PASSWORD,
    demo_session,
    write_session_dir,
)


def _row(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"| {name} | {len(ms)} | {statistics.median(ms):,.0f} / {percentile(ms, 0.95):,.0f} / "
            f"{max(ms):,.0f} ms |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20, help="copies of the demo transcript")
    ap.add_argument("--n", type=int, default=20, help="boundary drags timed")
    ap.add_argument("--copies", type=int, default=10, help="demo-sized sessions beside it")
    args = ap.parse_args()

    from msw_audio.review.store import Store
    from msw_audio.speech.audio import decoded_chunks, sha256_file
    from msw_audio.speech.spectrogram import spectrogram_frames, to_bytes

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        store = Store.open(tmp_path / "data")
        store.add_user("bench", "evaluator", PASSWORD)
        user = store.get_user("bench")
        long = demo_session(n_repeat=args.repeat)
        sid = store.ingest(write_session_dir(long, tmp_path / "long"))
        for i in range(args.copies):
            copy = tmp_path / f"c{i}.ogg"
            copy.write_bytes(DEMO_AUDIO.read_bytes() + bytes([i]) * (i + 1))
            s = demo_session()
            s.audio.path, s.audio.sha256 = str(copy), sha256_file(copy)
            store.ingest(write_session_dir(s, tmp_path / f"c{i}"), audio_path=copy)
        utts = store.get_session(sid, user).utterances
        # lines with room after them: their end moves 0.1 s later and back
        picks = [u for a, u, b in zip(utts, utts[1:], utts[2:], strict=False)
                 if b.start - u.end > 0.25][: args.n]
        store.retime_utterance(sid, picks[0].id, picks[0].start, picks[0].end + 0.1, user)
        store.undo_correction(sid, user)  # warm: the tagger is loaded once per store
        drag: list[float] = []
        undo: list[float] = []
        for u in picks:
            t0 = time.perf_counter()
            store.retime_utterance(sid, u.id, u.start, round(u.end + 0.1, 3), user)
            drag.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            store.undo_correction(sid, user)
            undo.append(time.perf_counter() - t0)
        n_lines = len(utts) + 52 * args.copies
        search: dict[str, list[float]] = {}
        hits: dict[str, int] = {}
        for name, query, is_regex in (("words 'busy usual'", "busy usual", False),
                                      ("regex /\\battend\\w*/", r"\battend\w*", True),
                                      ("regex, no hit /zzz\\d+/", r"zzz\d+", True)):
            search[name] = []
            for _ in range(5):
                t0 = time.perf_counter()
                out = store.search_transcripts(user, query, is_regex)
                search[name].append(time.perf_counter() - t0)
            hits[name] = len(out["hits"])
        store.close()
    t0 = time.perf_counter()
    power, duration = spectrogram_frames(decoded_chunks(DEMO_AUDIO))
    frames = to_bytes(power)
    spec_s = time.perf_counter() - t0
    import json

    size = len(json.dumps(frames.tolist(), separators=(",", ":")))

    print(f"session of {len(utts)} lines; {args.copies} more of 52 ({n_lines} lines searched)")
    print("| what | n | median / p95 / max |")
    print("|---|---|---|")
    print(_row("drag a boundary (retime, retag, rescore)", drag))
    print(_row("Shift+U undo of it", undo))
    for name, values in search.items():
        print(_row(f"All sessions search, {name} ({hits[name]} hits)", values))
    print(f"spectrogram of the demo ({duration:.1f} s): {spec_s:.1f} s, {len(frames)} frames, "
          f"{size / 1e6:.2f} MB of JSON")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
