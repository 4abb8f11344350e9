"""Where the development data lives: ``../shared`` beside the checkout, and pyannote's sample.

Why one module: tests, benchmarks and the AnnoMI reader all need the same two locations,
and ``$MSW_SHARED`` must move all of them at once.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from msw_audio.errors import MswError

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """``$MSW_SHARED``, else ``<repo>/../shared`` (where the dev data lives on CI and here)."""
    return Path(os.environ.get("MSW_SHARED", REPO.parent / "shared")).resolve()


def pyannote_sample_dir() -> Path:
    """``pyannote/audio/sample/`` inside the installed pyannote.audio wheel (real speech)."""
    spec = importlib.util.find_spec("pyannote.audio")
    if spec is None or not spec.submodule_search_locations:
        raise MswError("pyannote.audio is not installed (pip install pyannote.audio)")
    return Path(next(iter(spec.submodule_search_locations))) / "sample"
