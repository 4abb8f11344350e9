"""``msw-audio accuracy``: the pipeline measured on a service's own corrected sessions, and
``msw-audio transcript``: one corrected session as STM + RTTM (a growing test set) and/or
ELAN .eaf / Praat .TextGrid (tiers per speaker with their codes), and
``msw-audio transcript-import``: such a file, edited in ELAN or Praat, applied back."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from msw_audio.cli.store import _common, _local_user, _open


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def cmd_accuracy(args: argparse.Namespace) -> int:
    with _open(args) as store:
        report = store.accuracy_report(_local_user(), since=args.since)
    if args.json:
        print(json.dumps(_no_nan(report), indent=2))
        return 0
    head = f"{'session':<16}{'date':<12}{'words':>7}{'WER':>8}{'DER':>8}{'WSE':>8}" \
           f"{'lines':>7}{'kappa':>8}"
    print(head)
    for it in report["sessions"]:
        print(f"{it['session_id']:<16}{it['date'] or '':<12}{it['ref_words']:>7}"
              f"{_fmt(it['wer']):>8}{_fmt(it['der']):>8}{_fmt(it['word_speaker_error']):>8}"
              f"{it['confirmed_lines']:>7}{_fmt(it['kappa']):>8}")
    o = report["overall"]
    print(f"{'overall':<28}{o['ref_words']:>7}{_fmt(o['wer']):>8}{_fmt(o['der']):>8}"
          f"{_fmt(o['word_speaker_error']):>8}{o['confirmed_lines']:>7}{_fmt(o['kappa']):>8}")
    print(f"{o['sessions']} corrected or reviewed sessions. WER: machine words vs the "
          "evaluator's; DER (collar 0.25 s) and WSE (word speaker error): machine speakers "
          "vs the corrected lines'; kappa: top suggestion vs confirmed code.")
    return 0


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


#: ``msw-audio transcript`` options -> ``Store.export_transcript`` formats.
_TRANSCRIPT_OPTIONS = {"stm": "STM", "rttm": "RTTM", "eaf": "EAF", "textgrid": "TextGrid"}


def cmd_transcript(args: argparse.Namespace) -> int:
    wanted = [key for key in _TRANSCRIPT_OPTIONS if getattr(args, key)]
    if not wanted:
        from msw_audio.errors import InputError

        raise InputError("give --stm FILE, --rttm FILE, --eaf FILE and/or --textgrid FILE")
    with _open(args) as store:
        files = store.export_transcript(args.session, _local_user(), wanted)
    for key in wanted:
        path: Path = getattr(args, key)
        path.write_text(files[key], encoding="utf-8")
        print(f"{_TRANSCRIPT_OPTIONS[key]} -> {path}")
    return 0


def cmd_transcript_import(args: argparse.Namespace) -> int:
    """An edited .eaf / .TextGrid back into the session: what changed, what could not."""
    from msw_audio.errors import InputError

    path: Path = args.file
    fmt = {".eaf": "eaf", ".textgrid": "textgrid"}.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path.name}: give an .eaf or a .TextGrid file")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with _open(args) as store:
        report = store.import_annotations(args.session, path.read_bytes(), fmt, _local_user(),
                                          dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    verb = "would change" if args.dry_run else "changed"
    for c in report["changes"]:
        print(f"{c['utterance_id']} {c['kind']}: {c['old']!r} -> {c['new']!r}")
    for c in report["refused"]:
        print(f"refused {c['utterance_id']} {c['kind']}: {c['reason']}")
    for k in report["skipped"]:
        print(f"skipped {k['speaker']} {k['start']:.3f}-{k['end']:.3f}: {k['reason']}")
    done = len(report["changes"]) if args.dry_run else report["applied"]
    print(f"{report['lines_in_file']} lines read; {verb} {done}, refused "
          f"{len(report['refused'])}, skipped {len(report['skipped'])}.")
    return 0 if not report["refused"] else 1


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = _common(sub.add_parser(
        "accuracy", help="WER, DER, word speaker error and kappa on corrected sessions"))
    p.add_argument("--since", default=None, metavar="DATE",
                   help="only sessions changed on or after this date (YYYY-MM-DD)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_accuracy)

    p = _common(sub.add_parser(
        "transcript",
        help="export one (corrected) session as STM, RTTM, ELAN .eaf and/or Praat .TextGrid"))
    p.add_argument("--session", required=True, metavar="ID")
    p.add_argument("--stm", type=Path, default=None, metavar="FILE")
    p.add_argument("--rttm", type=Path, default=None, metavar="FILE")
    p.add_argument("--eaf", type=Path, default=None, metavar="FILE",
                   help="ELAN: a tier per speaker (role + id) and its codes tier")
    p.add_argument("--textgrid", type=Path, default=None, metavar="FILE",
                   help="Praat: the same tiers as interval tiers")
    p.set_defaults(func=cmd_transcript)

    p = _common(sub.add_parser(
        "transcript-import",
        help="apply an .eaf or .TextGrid edited in ELAN / Praat back to its session"))
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--session", required=True, metavar="ID")
    p.add_argument("--dry-run", action="store_true", help="only list what would change")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_transcript_import)
