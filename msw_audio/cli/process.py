"""``msw-audio process RECORDING --out DIR``: the speech pipeline from the command line.

Shows a progress bar per stage (rich, on stderr) and a summary table at the end. Expected
failures (bad audio, missing model) surface as ``MswError`` and become a one-line message in
``msw_audio.cli.main``; nothing is written for a recording that fails validation.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from msw_audio.errors import MswError
from msw_audio.pipeline import STAGES, PipelineConfig, process_recording
from msw_audio.speech.audio import DEFAULT_MAX_DURATION
from msw_audio.speech.cache import default_cache_dir
from msw_audio.speech.diarize import DiarizeOptions


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "process",
        help="transcribe, diarize, tag and score one recording",
        description="Process a recording (wav/mp3/m4a/ogg/flac/mp4) into session.json, "
        "session.rttm, session.srt, session.vtt, session.tsv, transcript.txt, session.eaf "
        "(ELAN) and session.TextGrid (Praat).",
    )
    p.add_argument("recording", type=Path)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--model", default="tiny.en",
                   help="Whisper model: tiny.en (default), base, or a local CTranslate2 folder")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    p.add_argument("--compute-type", default="default",
                   help="CTranslate2 compute type (default: int8 on CPU, float16 on CUDA)")
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--language", default="en", help="language for multilingual models")
    p.add_argument("--num-speakers", type=int, help="exact number of speakers, if known")
    p.add_argument("--min-speakers", type=int)
    p.add_argument("--max-speakers", type=int)
    p.add_argument("--people", default="", metavar="N|MIN-MAX",
                   help="people present: an exact number (3) or a range (2-4); the same as "
                        "--num-speakers, or --min-speakers/--max-speakers")
    p.add_argument("--segmentation-step", type=float, default=DiarizeOptions.segmentation_step,
                   help="diarization window step as a fraction of the 10 s window (default "
                        "%(default)s; 0.2 finds speakers better in long recordings with many "
                        "speakers, about 2.5x slower to diarize)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads per model stage (default: half the cores)")
    p.add_argument("--max-duration", type=float, default=DEFAULT_MAX_DURATION / 60,
                   help="longest recording accepted, in minutes (default %(default)g)")
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                   help="stage cache, so an interrupted run resumes (default %(default)s)")
    p.add_argument("--tagger", type=Path, help="tagger model folder (default: shipped model)")
    p.add_argument("--codebook", type=Path, default=None, metavar="FILE.yaml",
                   help="codebook that codes the session (default: the shipped one); "
                        "recorded in session.json")
    p.add_argument("--recording-type", default=None, metavar="TYPE",
                   help="e.g. supervision: coded with the supervision codebook and scored "
                        "with the supervision rubric (unless --codebook says otherwise)")
    p.add_argument("--no-tag", action="store_true", help="skip behaviour codes and scores")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_process)


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    if getattr(args, "people", ""):
        from msw_audio.speech.diarize import parse_people

        if any(getattr(args, k) is not None
               for k in ("num_speakers", "min_speakers", "max_speakers")):
            raise MswError("give --people or --num/--min/--max-speakers, not both")
        for key, value in parse_people(args.people).items():
            setattr(args, key, value)
    for key in ("num_speakers", "min_speakers", "max_speakers"):
        value = getattr(args, key)
        if value is not None and value < 1:
            raise MswError(f"--{key.replace('_', '-')} must be at least 1")
    if not 0.05 <= args.segmentation_step <= 1.0:
        raise MswError("--segmentation-step must be between 0.05 and 1 (a fraction of the window)")
    config = PipelineConfig()
    config.transcribe = replace(
        config.transcribe, model=args.model, device=args.device,
        compute_type=args.compute_type, beam_size=args.beam_size,
        language=args.language, threads=args.threads,
    )
    config.diarize = replace(
        config.diarize, num_speakers=args.num_speakers, min_speakers=args.min_speakers,
        max_speakers=args.max_speakers, device=args.device, threads=args.threads,
        segmentation_step=args.segmentation_step,
    )
    config.max_duration = args.max_duration * 60
    config.cache_dir = args.cache_dir
    config.tagger_dir = args.tagger
    if args.codebook is None and getattr(args, "recording_type", None):
        from msw_audio.coding.codebook import codebook_for_recording_type

        args.codebook = codebook_for_recording_type(args.recording_type)
    if args.codebook is not None:
        from msw_audio.coding.codebook import load_codebook

        load_codebook(args.codebook)  # a bad file fails here, before any model loads
        config.codebook = args.codebook.resolve()
    config.tag = not args.no_tag
    config.score = not args.no_tag
    return config


def run_process(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    config = config_from_args(args)
    console = Console(stderr=True)
    started = time.perf_counter()
    stage_times: dict[str, float] = {}
    stage_start: dict[str, float] = {}
    with Progress(TextColumn("{task.description:<11}"), BarColumn(),
                  TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                  console=console, disable=args.quiet or not sys.stderr.isatty()) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, fraction: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=1.0)
                stage_start[stage] = time.perf_counter()
            bar.update(tasks[stage], completed=fraction)
            if fraction >= 1.0 and stage not in stage_times:
                stage_times[stage] = time.perf_counter() - stage_start[stage]

        session = process_recording(args.recording, args.out, config, progress)

    total = time.perf_counter() - started
    table = Table(title=f"msw-audio: {args.recording.name} -> {args.out}")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("real-time factor", justify="right")
    for stage in STAGES:
        if stage in stage_times:
            secs = stage_times[stage]
            table.add_row(stage, f"{secs:.1f}", f"{secs / session.audio.duration:.3f}")
    table.add_row("total", f"{total:.1f}", f"{total / session.audio.duration:.3f}")
    console.print(table)
    roles = ", ".join(f"{s.id}={s.role}" for s in session.speakers)
    console.print(
        f"{session.audio.duration / 60:.1f} min of audio, {len(session.speakers)} speakers "
        f"({roles}), {len(session.utterances)} utterances; outputs in {args.out}"
    )
    return 0
