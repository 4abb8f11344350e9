"""``msw-audio score`` and ``msw-audio scores train``: suggested principle scores from the CLI.

Why: researchers check the rubric on AnnoMI-format transcripts (``score --annomi``), anyone can
re-score a processed ``session.json`` after confirming codes (``score --session``), and a team
with enough confirmed scores calibrates the rubric (``scores train``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from msw_audio.errors import InputError
from msw_audio.scoring.rubric import MIN_CONFIRMED, PRINCIPLES


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "score",
        help="suggest the seven principle scores and MITI summary for sessions",
        description="Suggest the seven principle scores (1-5, halves) and MITI summary scores.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--annomi", type=Path, metavar="FILE.csv",
                     help="AnnoMI-format CSV: each transcript_id is scored as a session")
    src.add_argument("--session", type=Path, metavar="session.json",
                     help="a processed session (its codes as they stand)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--codes", choices=("tagger", "human"), default="tagger",
                   help="with --annomi: tag with the shipped tagger (default) or use the CSV's "
                   "human labels (an upper reference)")
    p.add_argument("--tagger-model", type=Path, default=None, metavar="DIR",
                   help="tagger model directory (default: the shipped model)")
    p.add_argument("--calibration", type=Path, default=None, metavar="DIR",
                   help="calibration from `msw-audio scores train` (default: rubric, or "
                   "$MSW_SCORES_CALIBRATION)")
    p.add_argument("--write", action="store_true",
                   help="with --session: store the scores in the session.json")
    p.set_defaults(func=run_score)

    scores = sub.add_parser("scores", help="calibrate the principle scores",
                            description="Calibrate the principle scores on confirmed scores.")
    ssub = scores.add_subparsers(dest="scores_command", required=True, metavar="COMMAND")
    t = ssub.add_parser(
        "train",
        help="fit the scores to evaluator-confirmed scores (cross-validated report)",
        description="Fit a regularised regression per principle over the rubric's features on "
        "evaluator-confirmed scores; print the cross-validated weighted kappa and ICC. Refuses "
        f"below {MIN_CONFIRMED} confirmed sessions (the rubric stays).",
    )
    t.add_argument("--confirmed", type=Path, required=True, metavar="FILE.jsonl",
                   help="confirmed-scores export (`Store.export_scores`)")
    t.add_argument("--out", type=Path, required=True, metavar="DIR")
    t.add_argument("--min-confirmed", type=int, default=MIN_CONFIRMED,
                   help=f"fewest confirmed sessions per principle (default {MIN_CONFIRMED})")
    t.add_argument("--json", action="store_true", help="print the report as JSON")
    t.set_defaults(func=run_train)


def _flat(scores: dict[str, Any]) -> dict[str, Any]:
    """The ``--annomi --json`` shape: principle -> value, plus the MITI summary."""
    out: dict[str, Any] = {p: scores["principles"][p]["value"] for p in PRINCIPLES}
    out["confidence"] = {p: scores["principles"][p]["confidence"] for p in PRINCIPLES}
    out["miti"] = scores["miti"]
    return out


def _table(rows: dict[str, dict[str, Any]]) -> str:
    short = {"clarity_about_concerns": "clarity", "purposefulness": "purpose",
             "collaboration": "collab", "child_focus": "child"}
    head = ["session"] + [short.get(p, p) for p in PRINCIPLES] + ["R:Q", "%CR"]
    lines = ["\t".join(head)]
    for sid, r in rows.items():
        m = r["miti"]
        lines.append("\t".join(
            [sid] + [f"{r[p]:g}" for p in PRINCIPLES]
            + [str(m["reflection_to_question"]), str(m["pct_complex_reflection"])]
        ))
    return "\n".join(lines)


def run_score(args: argparse.Namespace) -> int:
    from msw_audio.scoring.rubric import load_calibration, score_session

    calibration = load_calibration(args.calibration) if args.calibration else None
    if args.session:
        from msw_audio.records import Session

        if not args.session.is_file():
            raise InputError(f"session file not found: {args.session}")
        try:
            session = Session.from_dict(json.loads(args.session.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{args.session} is not a session.json: {exc}") from exc
        scores = score_session(session, calibration=calibration)
        if args.write:
            args.session.write_text(json.dumps(session.to_dict(), indent=2), encoding="utf-8")
        if args.json:
            print(json.dumps(scores, indent=2))
        else:
            print(_table({args.session.parent.name or "session": _flat(scores)}))
        return 0

    from msw_audio.coding.annomi import annomi_transcripts

    human = args.codes == "human"
    transcripts = annomi_transcripts(args.annomi, with_codes=human)
    if not human:
        from msw_audio.coding.tagger import load_tagger

        tagger = load_tagger(args.tagger_model)
        for t in transcripts:
            tagger.tag_session(t.session)
    rows = {t.transcript_id: _flat(score_session(t.session, calibration=calibration))
            for t in transcripts}
    print(json.dumps(rows, indent=1) if args.json else _table(rows))
    return 0


def run_train(args: argparse.Namespace) -> int:
    from msw_audio.scoring.rubric import read_confirmed, save_calibration, train_calibration

    records = read_confirmed(args.confirmed)
    cal = train_calibration(records, min_confirmed=args.min_confirmed)
    save_calibration(cal, args.out)
    rep = cal.report
    if args.json:
        print(json.dumps(rep, indent=2))
        return 0
    print(f"calibrated on {rep['n']} sessions, {rep['folds']}-fold cross-validation; "
          f"saved to {args.out}")
    print("principle\tn\tQWK\tICC\tMAE\trubric QWK\trubric ICC\trubric MAE")
    for name, r in rep["principles"].items():
        print(f"{name}\t{r['n']}\t{r['qwk']:.2f}\t{r['icc']:.2f}\t{r['mae']:.2f}\t"
              f"{r['rubric_qwk']:.2f}\t{r['rubric_icc']:.2f}\t{r['rubric_mae']:.2f}")
    for name, why in rep["skipped"].items():
        print(f"{name}: not calibrated, rubric stays ({why})", file=sys.stderr)
    print(f"use it with: msw-audio score --calibration {args.out} ... "
          f"or MSW_SCORES_CALIBRATION={args.out}")
    return 0
