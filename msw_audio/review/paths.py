"""Where a store keeps its files: the data folder layout and safe file names.

Data folder layout (see docs/store.md)::

    <data>/msw-audio.db        SQLite database (+ -wal, -shm)
    <data>/audio/<sha256>.<ext> recordings, content-addressed (never by uploaded name)
    <data>/incoming/            uploads waiting for a job (same naming)
    <data>/cache/<sha256>/      pipeline stage cache (resume after a crash)
    <data>/jobs/<job id>/out/   pipeline output while a job runs
    <data>/handouts/<session>/  coach practice notes drawn from that session (erased with it)
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from msw_audio.errors import InputError

DB_NAME = "msw-audio.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_EXT_RE = re.compile(r"^\.[a-z0-9]{1,6}$")


def default_data_dir() -> Path:
    """``$MSW_AUDIO_DATA``, else ``$XDG_DATA_HOME/msw-audio``, else ``~/.local/share/msw-audio``."""
    env = os.environ.get("MSW_AUDIO_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "msw-audio"


def safe_name(name: str | os.PathLike[str], limit: int = 120) -> str:
    """A printable file name for display only: no folders, no control characters.

    Uploaded names are never used to build a path (files are stored by content hash);
    this only keeps ``../../x.wav`` or ``;rm -rf /`` inert when shown or logged.
    """
    base = re.split(r"[\\/]", str(name))[-1]
    base = unicodedata.normalize("NFC", base)
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return cleaned[:limit] or "recording"


def safe_ext(path: str | os.PathLike[str]) -> str:
    """Lower-case extension if it is plain (``.wav``), else ``.bin``: the audio's file suffix."""
    ext = Path(str(path)).suffix.lower()
    return ext if _EXT_RE.match(ext) else ".bin"


@dataclass(frozen=True)
class DataPaths:
    """Where things live inside the data folder; every path is built from a hash or an id."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / DB_NAME

    @property
    def audio(self) -> Path:
        return self.root / "audio"

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def uploads(self) -> Path:
        """Where the web server's file uploads wait until they are queued."""
        return self.root / "uploads"

    @property
    def imports(self) -> Path:
        """The one server folder the web form may add processed sessions from."""
        return self.root / "import"

    def inside_imports(self, path: str | os.PathLike[str]) -> Path:
        """``path`` resolved, if it lies inside ``imports`` (links resolved first), else
        ``InputError``: a form field must never name an arbitrary server file."""
        resolved = Path(path).expanduser().resolve()
        base = self.imports.resolve()
        if resolved != base and base not in resolved.parents:
            raise InputError(
                f"the web form adds sessions only from {self.imports} on the server; "
                "copy the output folder (and its recording) there, or use `msw-audio ingest`"
            )
        return resolved

    @property
    def handouts(self) -> Path:
        """Coach handouts (practice notes), one folder per session they quote."""
        return self.root / "handouts"

    def handout_dir(self, session_id: str) -> Path:
        if not re.fullmatch(r"[0-9A-Za-z_-]{1,32}", session_id or ""):
            raise InputError(f"bad session id {session_id!r}")
        return self.handouts / session_id

    def audio_file(self, sha256: str, ext: str) -> Path:
        return self.audio / f"{_check_sha(sha256)}{ext}"

    def cache_for(self, sha256: str) -> Path:
        return self.cache / _check_sha(sha256)

    def job_dir(self, job_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-z]{1,32}", job_id):
            raise InputError(f"bad job id {job_id!r}")
        return self.jobs / job_id

    def create(self) -> None:
        for folder in (self.root, self.audio, self.incoming, self.cache, self.jobs,
                       self.imports):
            folder.mkdir(parents=True, exist_ok=True)
            try:
                folder.chmod(0o700)  # family recordings: owner only
            except OSError:
                pass


def _check_sha(sha256: str) -> str:
    if not _SHA_RE.match(sha256 or ""):
        raise InputError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


