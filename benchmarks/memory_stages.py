#!/usr/bin/env python3
"""Peak memory of each pipeline stage on one recording, run one stage after another.

Why: ``benchmarks/pipeline.py`` gives one peak RSS per recording (both model stages run side
by side), which says *that* memory grows with length but not *where*. This script runs the
same stages in sequence in one process and resets the kernel's high-water mark
(``/proc/self/clear_refs``, value 5) before each, so each stage's ``VmHWM`` is its own peak
(models loaded, the previous stages' results still held, as in the real pipeline).

    python benchmarks/memory_stages.py out/benchmarks/long60.flac [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _status(field: str) -> float:
    """A field of /proc/self/status in MB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _tiled(features, times: int):
    """The features of a recording ``times`` as long: the same chunks over and over."""
    from pyannote.core import SlidingWindowFeature

    from msw_audio.speech.diarize import DiarizationFeatures

    seg, count = features.segmentations, features.count
    return DiarizationFeatures(
        SlidingWindowFeature(np.concatenate([seg.data] * times), seg.sliding_window),
        SlidingWindowFeature(np.concatenate([count.data] * times), count.sliding_window),
        np.concatenate([features.embeddings] * times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("audio", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--array", action="store_true",
                        help="decode to one in-memory array (load_audio), as before issue 17")
    parser.add_argument("--skip-transcribe", action="store_true")
    parser.add_argument("--features", type=Path,
                        help="diarization features .npz: loaded if it exists, else saved")
    parser.add_argument("--tile", type=int, default=1,
                        help="cluster the features repeated N times (a recording N times as "
                             "long, without running the networks that long)")
    parser.add_argument("--cap", type=int, default=None,
                        help="max_clustered_embeddings (0: no cap; default: the option's)")
    args = parser.parse_args(argv)

    from msw_audio.speech.weights import offline_environment

    offline_environment()
    import torch

    from msw_audio.pipeline import Pipeline, PipelineConfig, pinned_blas
    from msw_audio.speech.align import assign_speakers, build_utterances
    from msw_audio.speech.audio import load_audio
    from msw_audio.speech.diarize import DiarizeOptions, load_features, save_features
    from msw_audio.speech.peaks import peaks_from_samples
    from msw_audio.speech.scratch import decode_to_scratch
    from msw_audio.speech.transcribe import TranscribeOptions

    torch.set_num_threads(1)
    pipeline = Pipeline(PipelineConfig(transcribe=TranscribeOptions(threads=1),
                                       diarize=DiarizeOptions(threads=1), cache_dir=None))
    rows: list[dict] = []

    def stage(name: str, fn):
        _reset_peak()
        before = _status("VmRSS")
        t0 = time.perf_counter()
        result = fn()
        rows.append({"stage": name, "seconds": round(time.perf_counter() - t0, 1),
                     "rss_before_mb": round(before), "peak_mb": round(_status("VmHWM")),
                     "rss_after_mb": round(_status("VmRSS"))})
        print(rows[-1], file=sys.stderr, flush=True)
        return result

    with pinned_blas():
        stage("load models", lambda: (pipeline.transcriber, pipeline.diarizer, pipeline.tagger))
        if args.array:
            audio = stage("decode", lambda: load_audio(args.audio))
        else:
            scratch = Path(tempfile.mkdtemp(prefix="msw-audio-mem-"))
            audio = stage("decode", lambda: decode_to_scratch(args.audio, scratch))
        stage("peaks", lambda: peaks_from_samples(audio, 16000))
        words = [] if args.skip_transcribe else stage(
            "transcribe", lambda: list(pipeline.transcriber.words(audio)))
        if args.features and args.features.is_file():
            features = load_features(args.features)
        else:
            features = stage("diarize: networks", lambda: pipeline.diarizer.features(audio))
            if args.features:
                save_features(args.features, features)
        if args.tile > 1:
            features = _tiled(features, args.tile)
        options = pipeline.diarizer.options
        if args.cap is not None:
            options = replace(options, max_clustered_embeddings=args.cap)
        turns = stage(f"diarize: clustering x{args.tile}",
                      lambda: pipeline.diarizer.turns(features, options=options))
        stage("align", lambda: build_utterances(assign_speakers(words, turns), turns=turns))
    if not args.array:
        audio.close()
        scratch.rmdir()
    out = {"audio": str(args.audio), "seconds": round(len(audio) / 16000, 1), "stages": rows}
    print(json.dumps(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
