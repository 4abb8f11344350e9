"""``msw-audio tagger evaluate|train``: measure the behaviour tagger and retrain it.

The training and evaluation code is the project's ``training`` package (installed beside
``msw_audio`` by the same wheel; a researcher reruns everything from there); these commands
are thin wrappers around it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from msw_audio.errors import InputError


def _training(module: str):
    """``training.<module>``, the project's training package (part of every install)."""
    try:
        return importlib.import_module(f"training.{module}")
    except ModuleNotFoundError as exc:
        if exc.name not in ("training", f"training.{module}"):
            raise
        raise InputError(
            "the tagger's training package (training/) is not installed: reinstall msw-audio "
            "(pip install msw-audio, or pip install -e . from a source checkout)"
        ) from exc


def _evaluate(args: argparse.Namespace) -> int:
    evaluate = _training("evaluate")
    result = evaluate.evaluate_csv(Path(args.annomi), model_dir=args.model)
    if args.json:
        print(json.dumps(result["summary"]))
    else:
        print(evaluate.format_table(result))
    return 0


def _train(args: argparse.Namespace) -> int:
    train = _training("train")
    out = Path(args.out)
    codebook = None
    if args.codebook:
        from msw_audio.coding.codebook import load_codebook

        codebook = load_codebook(args.codebook)
    report = train.train_cli(
        out=out,
        annomi=Path(args.annomi) if args.annomi else None,
        extra=Path(args.extra) if args.extra else None,
        force=args.force,
        folds=args.folds,
        limit_transcripts=args.limit_transcripts,
        version=args.version,
        progress=lambda msg: print(msg, file=sys.stderr),
        codebook=codebook,
    )
    print(json.dumps(report))
    return 0


def add_commands(sub) -> None:
    parser = sub.add_parser("tagger", help="evaluate or retrain the behaviour-code tagger")
    tsub = parser.add_subparsers(dest="tagger_command", required=True, metavar="ACTION")

    ev = tsub.add_parser("evaluate", help="score a tagger on a CSV with AnnoMI's columns")
    ev.add_argument("--annomi", required=True, metavar="FILE.csv",
                    help="CSV with AnnoMI's columns (majority label where several annotators)")
    ev.add_argument("--model", type=Path, default=None, metavar="DIR",
                    help="model folder (default: the shipped models/tagger)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=_evaluate)

    tr = tsub.add_parser("train", help="retrain from AnnoMI (+ confirmed labels) into --out")
    tr.add_argument("--out", required=True, metavar="DIR",
                    help="new model folder (never the shipped one; must be empty or new)")
    tr.add_argument("--extra", metavar="CONFIRMED.csv",
                    help="evaluator-confirmed labels exported by the review store")
    tr.add_argument("--annomi", metavar="FILE.csv",
                    help="AnnoMI CSV (default: ../shared/data/annomi/annomi-full-dev.csv)")
    tr.add_argument("--folds", type=int, default=5, help="grouped CV folds for the report "
                    "(0 = skip the report)")
    tr.add_argument("--limit-transcripts", type=int, default=None, metavar="N",
                    help="train on the first N transcripts only (quick checks, CI)")
    tr.add_argument("--version", default=None, help="version string (default: date-based)")
    tr.add_argument("--force", action="store_true", help="allow a non-empty --out folder")
    tr.add_argument("--codebook", type=Path, default=None, metavar="FILE.yaml",
                    help="codebook of the labels (default: the shipped one)")
    tr.set_defaults(func=_train)
