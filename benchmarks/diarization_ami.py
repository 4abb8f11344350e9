#!/usr/bin/env python3
"""Diarization error rate per recording: the AMI clips, plus our generated sessions.

Why: the diarizer's parameters (``msw_audio.speech.diarize.DiarizeOptions``) were tuned on these
files, and a change to the models or the options must show its effect on real meeting audio
(AMI: overlapping, far-field, 3-4 speakers) as well as on the synthetic demo sessions.

For each recording it prints the reference and found speaker counts and DER (pyannote.metrics,
collar 0.0 and 0.25 s, overlap scored), then the totals over all files (DER summed over
files, as pyannote.metrics reports it).

    .venv/bin/python benchmarks/diarization_ami.py                 # the 10 AMI clips
    .venv/bin/python benchmarks/diarization_ami.py --sessions      # + demo, three_speakers, sample
    .venv/bin/python benchmarks/diarization_ami.py --only-sessions --threads 2
    .venv/bin/python benchmarks/diarization_ami.py --lomo     # settings by leave-one-meeting-out
    .venv/bin/python benchmarks/diarization_ami.py --rtf      # time per audio second, 1 thread
    .venv/bin/python benchmarks/diarization_ami.py --lomo-replica  # sherpa's design, step 0.1

``--lomo`` (``benchmarks/diarization_lomo.py``) picks msw-audio's settings and sherpa-onnx's
threshold on four of the five AMI meeting groups, scores the fifth, and prints held-out beside
tuned-on DER per group, then the unseen sessions with settings chosen on all ten clips.

AMI clips live in ``$MSW_SHARED/data/audio/ami-clips`` (``reference.rttm``, uri = file stem);
``MSW_SHARED`` defaults to ``<repo>/../shared``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from msw_audio.devdata import pyannote_sample_dir, shared_dir  # noqa: E402


@dataclass(frozen=True)
class Item:
    """One recording and its reference RTTM (uri = the audio's file stem)."""

    name: str
    audio: Path
    rttm: Path


def ami_items() -> list[Item]:
    root = shared_dir() / "data" / "audio" / "ami-clips"
    if not root.is_dir():
        sys.exit(f"AMI clips not found in {root}: set MSW_SHARED")
    return [Item(f"ami/{p.stem}", p, root / "reference.rttm") for p in sorted(root.glob("*.wav"))]


def session_items() -> list[Item]:
    demo = REPO / "msw_audio" / "demo"
    three = REPO / "tests" / "data" / "three_speakers"
    sample = pyannote_sample_dir()
    items = [
        Item("demo", demo / "demo.ogg", demo / "demo.rttm"),
        Item("three_speakers", _audio_in(three), three / "three_speakers.rttm"),
        Item("pyannote-sample", sample / "sample.wav", sample / "sample.rttm"),
    ]
    return [i for i in items if i.audio is not None and i.audio.exists()]


def _audio_in(folder: Path) -> Path | None:
    for ext in ("ogg", "flac", "wav"):
        for p in sorted(folder.glob(f"*.{ext}")):
            return p
    return None


def reference(item: Item):
    """The reference annotation for one file (the RTTM may hold several uris)."""
    from pyannote.database.util import load_rttm

    refs = load_rttm(str(item.rttm))
    uri = item.audio.stem
    if uri not in refs:
        sys.exit(f"{item.rttm} has no uri {uri!r} (has {sorted(refs)})")
    return refs[uri]


def der(ref, hyp, collar: float) -> float:
    from pyannote.metrics.diarization import DiarizationErrorRate

    return DiarizationErrorRate(collar=collar, skip_overlap=False)(ref, hyp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", action="store_true",
                        help="also score the demo, three_speakers and pyannote sample")
    parser.add_argument("--only-sessions", action="store_true", help="skip the AMI clips")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lomo", action="store_true",
                        help="leave-one-meeting-out settings, msw-audio and sherpa-onnx")
    parser.add_argument("--lomo-replica", action="store_true",
                        help="information: sherpa-onnx's design in torch at step 0.1, by LOMO")
    parser.add_argument("--rtf", action="store_true",
                        help="diarization time per audio second, demo and a 30 s clip")
    args = parser.parse_args(argv)
    if args.lomo or args.rtf or args.lomo_replica:
        import diarization_lomo  # beside this script (benchmarks/ is not a package)

        if args.lomo_replica:
            return diarization_lomo.main_replica()
        return diarization_lomo.main_rtf(args.threads) if args.rtf else diarization_lomo.main()

    from msw_audio.speech.weights import offline_environment

    offline_environment()
    import torch
    from pyannote.metrics.diarization import DiarizationErrorRate

    from msw_audio.speech.audio import load_audio
    from msw_audio.speech.diarize import DiarizeOptions, Diarizer, turns_to_annotation

    torch.set_num_threads(args.threads)
    items = [] if args.only_sessions else ami_items()
    if args.sessions or args.only_sessions:
        items += session_items()
    diarizer = Diarizer(DiarizeOptions(threads=args.threads, device=args.device))
    totals = {c: DiarizationErrorRate(collar=c, skip_overlap=False) for c in (0.0, 0.25)}
    print(f"{'file':<22}{'dur s':>8}{'ref spk':>9}{'found':>7}{'DER c0':>9}{'DER c.25':>10}"
          f"{'RTF':>7}")
    for item in items:
        audio = load_audio(item.audio)
        ref = reference(item)
        t0 = time.perf_counter()
        hyp = turns_to_annotation(diarizer(audio), uri=ref.uri)
        wall = time.perf_counter() - t0
        hyp.uri = ref.uri
        scores = {c: m(ref, hyp) for c, m in totals.items()}
        dur = len(audio) / 16000
        print(f"{item.name:<22}{dur:>8.1f}{len(ref.labels()):>9}{len(hyp.labels()):>7}"
              f"{scores[0.0]:>9.3f}{scores[0.25]:>10.3f}{wall / dur:>7.3f}", flush=True)
    print(f"{'TOTAL':<22}{'':>8}{'':>9}{'':>7}{abs(totals[0.0]):>9.3f}{abs(totals[0.25]):>10.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
