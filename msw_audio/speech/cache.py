"""Stage results cached by audio hash + settings, so a killed run resumes where it stopped.

Layout: ``<cache_dir>/<audio sha256>/<stage>-<settings key>.json``. The key hashes every
setting that changes the stage's output plus the msw-audio version, so a changed model or
option never reuses a stale result. Keeping one folder per recording lets erasure remove a
family's cached data with one ``rmtree``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from msw_audio import __version__
from msw_audio.speech.writers import atomic_write_text


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "msw-audio"


class StageCache:
    def __init__(self, root: Path | None):
        self.root = Path(root) if root is not None else None

    def _path(self, audio_sha: str, stage: str, settings: dict[str, Any]) -> Path | None:
        if self.root is None:
            return None
        blob = json.dumps({"v": __version__, **settings}, sort_keys=True, default=str)
        key = hashlib.sha256(blob.encode()).hexdigest()[:16]
        return self.root / audio_sha / f"{stage}-{key}.json"

    def file(self, audio_sha: str, stage: str, settings: dict[str, Any],
             suffix: str = ".npz") -> Path | None:
        """Where a stage's binary result (arrays) lives, keyed like ``get``/``put``."""
        path = self._path(audio_sha, stage, settings)
        return path.with_suffix(suffix) if path is not None else None

    def get(self, audio_sha: str, stage: str, settings: dict[str, Any]) -> Any | None:
        path = self._path(audio_sha, stage, settings)
        if path is None or not path.exists():
            return None
        try:
            return json.loads(path.read_text("utf-8"))["result"]
        except (OSError, ValueError, KeyError):
            return None  # unreadable entry: recompute (and overwrite) rather than fail

    def put(self, audio_sha: str, stage: str, settings: dict[str, Any], result: Any) -> None:
        path = self._path(audio_sha, stage, settings)
        if path is not None:
            atomic_write_text(path, json.dumps({"stage": stage, "settings": settings,
                                                "result": result}, default=str))
