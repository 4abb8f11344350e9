"""``msw-audio family``: register families, import goals/ratings/feedback, export outcomes.

``family add PSEUDONYM --team T``, ``family import FILE.csv`` (columns in docs/family.md;
one transaction: a bad row imports nothing), ``family show PSEUDONYM``, ``family export
--out FILE.csv`` (pseudonymised). Erasing a family is ``msw-audio erase --family``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from msw_audio.cli.store import _common, _local_user, _open


def cmd_family_add(args: argparse.Namespace) -> int:
    with _open(args) as store:
        name = store.add_family(args.pseudonym, args.team or "", _local_user())
    print(f"family {name!r} added (team {args.team or '(none)'})")
    return 0


def cmd_family_import(args: argparse.Namespace) -> int:
    with _open(args) as store:
        counts = store.import_family_csv(args.file, _local_user())
    print(", ".join(f"{n} {kind}(s)" for kind, n in counts.items()) + f" imported from {args.file}")
    return 0


def cmd_family_show(args: argparse.Namespace) -> int:
    with _open(args) as store:
        view = store.family_view(args.pseudonym, _local_user())
    print(json.dumps(view, indent=2, ensure_ascii=False))
    return 0


def cmd_family_export(args: argparse.Namespace) -> int:
    out = args.out or Path("family-outcomes.csv")
    with _open(args) as store:
        n = store.export_family_outcomes(out, _local_user())
    print(f"{n} family outcome rows -> {out} (family tokens, no free text)")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    fam = sub.add_parser("family", help="families' goals, GBO ratings and feedback")
    fam_sub = fam.add_subparsers(dest="family_command", required=True, metavar="ACTION")
    p = _common(fam_sub.add_parser("add", help="register a family by pseudonym"))
    p.add_argument("pseudonym")
    p.add_argument("--team", default="", help="the team whose sessions the family's are")
    p.set_defaults(func=cmd_family_add)
    p = _common(fam_sub.add_parser(
        "import", help="import goals, ratings and feedback from CSV (all or nothing)"))
    p.add_argument("file", type=Path, metavar="FILE.csv")
    p.set_defaults(func=cmd_family_import)
    p = _common(fam_sub.add_parser("show", help="one family's goals, ratings, feedback, visits"))
    p.add_argument("pseudonym")
    p.set_defaults(func=cmd_family_show)
    p = _common(fam_sub.add_parser("export", help="pseudonymised outcomes for researchers"))
    p.add_argument("--out", type=Path, default=None, metavar="FILE.csv")
    p.set_defaults(func=cmd_family_export)
