#!/usr/bin/env python3
"""The msw-audio review screen: ``python app.py [--data DIR] [--port N] [--host H]``.

Same as ``msw-audio serve``. The Gradio Blocks app is built from library calls by
``msw_audio.web.ui.build_blocks`` (it lives in the package so an installed ``msw-audio``
can serve it) and mounted by ``msw_audio.web.server.create_app`` behind the login gate,
which also serves the audio (HTTP Range) and the coding routes. Data flows one way: this
UI calls the store and the renderers; the library never imports the UI.

``build(data_dir)`` returns the Blocks app alone, for embedding or inspection; note that
a Blocks app launched on its own has no login, so serve it through ``create_app``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build(data_dir: Path | None = None):  # noqa: ANN201
    """The Gradio Blocks review app over the store in ``data_dir`` (no login of its own)."""
    from msw_audio.review.store import Store
    from msw_audio.web.ui import build_blocks

    return build_blocks(Store.open(data_dir))


def main(argv: list[str] | None = None) -> int:
    from msw_audio.cli.app import cmd_serve
    from msw_audio.errors import MswError

    ap = argparse.ArgumentParser(description="Start the msw-audio review screen (login required).")
    ap.add_argument("--data", type=Path, default=None, help="data folder (default: per-user)")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--no-worker", action="store_true", help="do not process queued recordings")
    ap.add_argument("--secure-cookie", action="store_true", help="login cookie over HTTPS only")
    args = ap.parse_args(argv)
    try:
        return cmd_serve(args)
    except MswError as exc:
        print(f"msw-audio: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
