"""``msw-audio`` command line: one sub-command family per module.

Each ``msw_audio.cli.<area>`` module exposes ``add_commands(subparsers)`` and sets
``func`` on its parsers; this file only assembles them and turns expected failures
(``MswError``) into a one-line message on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from msw_audio.errors import MswError

COMMAND_MODULES = (
    "msw_audio.cli.process",
    "msw_audio.cli.tagger",
    "msw_audio.cli.scores",
    "msw_audio.cli.store",
    "msw_audio.cli.family",
    "msw_audio.cli.app",
    "msw_audio.cli.accuracy",
    "msw_audio.cli.backup",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msw-audio",
        description="Offline speech assistant for coding recorded social-work sessions.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MswError as exc:
        print(f"msw-audio: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("msw-audio: interrupted (finished stages are cached; rerun to resume)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
