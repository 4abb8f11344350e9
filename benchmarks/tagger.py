"""Tagger benchmark: grouped-CV quality per task (from the model's metadata), tagging speed
(utterances/s through ``Tagger.tag_session`` on real AnnoMI text), load time and model size.

    python benchmarks/tagger.py [--model DIR] [--utterances 2000] [--threads 2]

Speed is measured after loading (a Tagger is loaded once and reused) on whole sessions built
from AnnoMI transcripts, so it includes the encoder, TF-IDF, the heads and the cue rules.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--utterances", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    os.environ["HF_HUB_OFFLINE"] = "1"

    import pandas as pd

    from msw_audio.coding.tagger import DEFAULT_MODEL_DIR, load_tagger
    from msw_audio.records import AudioInfo, Session, Speaker, Utterance
    from training.annomi import default_annomi_csv, read_annomi

    model_dir = args.model or DEFAULT_MODEL_DIR
    t0 = time.perf_counter()
    tagger = load_tagger(model_dir, threads=args.threads)
    load_s = time.perf_counter() - t0

    table = read_annomi(default_annomi_csv())
    sessions = []
    count = 0
    for tid, group in table.groupby("transcript_id", sort=True):
        utts = [Utterance(f"u{i}", float(i), float(i) + 1.0,
                          "P" if role == "practitioner" else "C", text)
                for i, (role, text) in enumerate(zip(group["role"], group["text"], strict=True))]
        sessions.append(Session(audio=AudioInfo(f"{tid}.wav", "0" * 64, float(len(utts))),
                                speakers=[Speaker("P", role="practitioner"),
                                          Speaker("C", role="parent")], utterances=utts))
        count += len(utts)
        if count >= args.utterances:
            break
    speeds, cpu_speeds = [], []
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for session in sessions:
            tagger.tag_session(session)
        speeds.append(count / (time.perf_counter() - t0))
        # CPU seconds this process used, spread over `threads` cores: what 2 cores that are
        # not shared with other work would give (the wall number suffers on a busy machine).
        cpu_speeds.append(count * args.threads / (time.process_time() - c0))
    load_after = os.getloadavg()[0]

    size = sum(p.stat().st_size for p in Path(model_dir).rglob("*") if p.is_file())
    if not (Path(model_dir) / "encoder").exists():
        size += sum(p.stat().st_size for p in (DEFAULT_MODEL_DIR / "encoder").rglob("*"))
    cv = tagger.meta.get("cv", {}).get("tasks", {})
    rows = [("task (grouped 5-fold CV)", "macro-F1", "kappa", "n")]
    for task in ("therapist_4way", "therapist_6way", "client_3way", "input_subtype"):
        if task in cv:
            s = cv[task]
            rows.append((task, f"{s['macro_f1']:.3f}", f"{s['kappa']:.3f}", str(s["n"])))
    print(f"model {tagger.name} {tagger.version} ({model_dir})")
    print(f"machine: {platform.processor() or platform.machine()}, nproc {os.cpu_count()}, "
          f"threads {args.threads}")
    for r in rows:
        print(f"{r[0]:<26}{r[1]:>10}{r[2]:>8}{r[3]:>7}")
    print(f"{'tagging speed':<26}{max(speeds):>10.0f} utterances/s (best of {args.repeats}; "
          f"all: {', '.join(f'{s:.0f}' for s in speeds)}; {count} utterances, "
          f"{len(sessions)} sessions)")
    print(f"{'  CPU-time estimate':<26}{max(cpu_speeds):>10.0f} utterances/s on {args.threads} "
          f"dedicated cores (= utterances x threads / process CPU s; load average "
          f"{load_before:.1f} -> {load_after:.1f} during the wall-clock runs)")
    print(f"{'load time':<26}{load_s:>10.2f} s")
    print(f"{'model size':<26}{size / 1e6:>10.1f} MB (incl. int8 encoder)")
    _ = pd


if __name__ == "__main__":
    main()
