"""``msw-audio backup`` and ``msw-audio restore``: a checksummed copy of a whole store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_backup(args: argparse.Namespace) -> int:
    from msw_audio.cli.store import _local_user, _open
    from msw_audio.review.backup import backup

    with _open(args) as store:
        manifest = backup(store, args.out)
        with store.tx() as s:
            store.audit(s, _local_user(), "backup", "", "", files=len(manifest["files"]))
    n = manifest["counts"]
    print(f"backup -> {args.out}: {n['sessions']} sessions, {n['recordings']} recordings, "
          f"{len(manifest['files'])} files (sha256 in its manifest.json)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from msw_audio.review.backup import restore

    report = restore(args.backup, args.data, url=args.db_url)
    if args.json:
        print(json.dumps(report, indent=1))
    for problem in report["problems"]:
        print(f"integrity problem: {problem}", file=sys.stderr)
    if report["ok"]:
        n = report["counts"]
        print(f"restored into {args.data}: integrity ok ({n['sessions']} sessions, "
              f"{report['recordings_checked']} recordings checked by sha256)")
    return 0 if report["ok"] else 1


def add_commands(sub: argparse._SubParsersAction) -> None:
    from msw_audio.cli.store import _common

    p = _common(sub.add_parser(
        "backup", help="copy the store (database, recordings, handouts) into one checksummed file"))
    p.add_argument("--out", type=Path, required=True, metavar="FILE")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("restore", help="restore a backup into a new data folder and check it")
    p.add_argument("backup", type=Path, metavar="FILE")
    p.add_argument("--data", type=Path, required=True, metavar="DIR",
                   help="the new (empty) data folder")
    p.add_argument("--db-url", default=None,
                   help="PostgreSQL backups: an empty database to restore into")
    p.add_argument("--json", action="store_true", help="print the integrity report as JSON")
    p.set_defaults(func=cmd_restore)
