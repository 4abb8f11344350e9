"""Backup and restore of a store: database, recordings and handouts in one checksummed file.

Why: a disk failure must not lose every family's reviewed sessions, and a restored store
must be provably whole. ``backup`` takes a consistent copy while the server runs (SQLite's
online backup API, or ``pg_dump`` for PostgreSQL), adds the recordings and handouts, and
writes a manifest with each member's sha256 and the row counts; ``restore`` refuses a
member whose checksum differs, then ``integrity`` checks the result (``PRAGMA
integrity_check``, every recording's sha256 against its name and row, counts against the
manifest).

Backups hold children's data: the file is created owner-only; keep it on encrypted media,
and remember that a session erased after a backup is still in that backup (erasure
requests must reach the backups too, or backups must expire within the retention period).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from msw_audio.errors import InputError
from msw_audio.review.db import (
    AuditEntry,
    Decision,
    Job,
    PrincipleScore,
    Recording,
    SessionRow,
    UserRow,
    UtteranceRow,
)
from msw_audio.review.paths import DB_NAME

FORMAT = "msw-audio-backup/1"
_COUNTED = {"sessions": SessionRow, "recordings": Recording, "utterances": UtteranceRow,
            "decisions": Decision, "principle_scores": PrincipleScore, "users": UserRow,
            "audit_log": AuditEntry, "jobs": Job}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def counts(store: Any) -> dict[str, int]:
    """Rows per table that a restore must reproduce."""
    with store.rtx() as s:
        return {name: int(s.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in _COUNTED.items()}


def backup(store: Any, out: Path) -> dict[str, Any]:
    """Write ``out`` (a tar file) with the database, recordings, handouts and a manifest."""
    out = Path(out)
    if out.exists():
        raise InputError(f"{out} exists; give a new file name")
    tmp = out.with_name(out.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="msw-backup-") as work:
        work_dir = Path(work)
        os.chmod(work_dir, 0o700)
        if store.is_sqlite:
            db_member, db_file = f"db/{DB_NAME}", work_dir / DB_NAME
            src = sqlite3.connect(store.paths.db)
            dst = sqlite3.connect(db_file)
            try:
                src.backup(dst)  # a consistent snapshot while the server keeps writing
            finally:
                dst.close()
                src.close()
        else:
            table_counts_before = counts(store)
            db_member, db_file = "db/pg_dump.sql", work_dir / "pg_dump.sql"
            url = store.engine.url.set(drivername="postgresql")
            subprocess.run(
                ["pg_dump", "--no-owner", "--clean", "--if-exists", "-f", str(db_file),
                 url.render_as_string(hide_password=False)],
                check=True, capture_output=True, timeout=3600,
            )
        if store.is_sqlite:  # the snapshot's own counts, whatever was written since
            snap = sqlite3.connect(db_file)
            try:
                table_counts = {name: snap.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
                                for name in _COUNTED}
            finally:
                snap.close()
        else:
            table_counts = table_counts_before
        members: list[tuple[str, Path]] = [(db_member, db_file)]
        for folder in ("audio", "handouts"):
            base = store.paths.root / folder
            if base.is_dir():
                members += [(f"{folder}/{f.relative_to(base).as_posix()}", f)
                            for f in sorted(base.rglob("*")) if f.is_file() and not f.is_symlink()]
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "database": "sqlite" if store.is_sqlite else "postgresql",
            "counts": table_counts,
            "files": {name: {"sha256": _sha256(path), "size": path.stat().st_size}
                      for name, path in members},
        }
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            blob = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mode = len(blob), 0o600
            tar.addfile(info, io.BytesIO(blob))
            for name, path in members:
                tar.add(path, arcname=name, recursive=False)
    os.replace(tmp, out)
    return manifest


def restore(archive: Path, data_dir: Path, url: str | None = None) -> dict[str, Any]:
    """Unpack ``archive`` into a new data folder ``data_dir`` (checksums verified) and
    return ``integrity`` of the result. PostgreSQL: ``url`` names an empty database."""
    from msw_audio.review.store import Store

    data_dir = Path(data_dir)
    if data_dir.exists() and any(data_dir.iterdir()):
        raise InputError(f"{data_dir} is not empty: restore into a new folder")
    with tarfile.open(archive, mode="r") as tar:
        try:
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        except (KeyError, json.JSONDecodeError, TypeError):
            raise InputError(f"{archive} is not a msw-audio backup (no manifest)") from None
        if manifest.get("format") != FORMAT:
            raise InputError(f"{archive}: unknown backup format {manifest.get('format')!r}")
        files = manifest["files"]
        data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
        for member in tar.getmembers():
            if member.name == "manifest.json":
                continue
            if (member.name not in files or not member.isfile()
                    or member.name.startswith("/") or ".." in Path(member.name).parts):
                raise InputError(f"{archive}: unexpected member {member.name!r}")
            target = data_dir / member.name
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            h = hashlib.sha256()
            with tar.extractfile(member) as src, open(target, "wb") as dst:  # type: ignore[union-attr]
                for block in iter(lambda: src.read(1 << 20), b""):
                    h.update(block)
                    dst.write(block)
            if h.hexdigest() != files[member.name]["sha256"]:
                raise InputError(f"{archive}: {member.name} does not match its checksum")
        missing = [n for n in files if not (data_dir / n).is_file()]
        if missing:
            raise InputError(f"{archive}: missing {', '.join(missing[:5])}")
    db_dir = data_dir / "db"
    if manifest["database"] == "sqlite":
        os.replace(db_dir / DB_NAME, data_dir / DB_NAME)
    else:
        if not url:
            raise InputError("this backup holds a PostgreSQL dump: give --db-url of an empty "
                             "database to restore it into")
        from sqlalchemy.engine import make_url

        pg = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-q", "-f",
                        str(db_dir / "pg_dump.sql"), pg], check=True, capture_output=True,
                       timeout=3600)
    shutil.rmtree(db_dir, ignore_errors=True)
    with Store.open(data_dir, url=url) as store:
        return integrity(store, manifest.get("counts"))


def integrity(store: Any, expected: dict[str, int] | None = None) -> dict[str, Any]:
    """``{"ok": bool, "problems": [...], "counts": {...}}`` for a store: database
    integrity, every stored recording present with the sha256 its name says, counts."""
    problems: list[str] = []
    if store.is_sqlite:
        with store.engine.connect() as conn:
            result = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
        if result != "ok":
            problems.append(f"PRAGMA integrity_check: {result}")
    with store.rtx() as s:
        recordings = [(r.sha256, r.ext) for r in s.scalars(select(Recording))
                      if r.has_audio]
    for sha, ext in recordings:
        path = store.paths.audio_file(sha, ext)
        if not path.is_file():
            problems.append(f"recording {sha[:12]}… is missing")
        elif _sha256(path) != sha:
            problems.append(f"recording {sha[:12]}… does not match its sha256")
    now = counts(store)
    for name, n in (expected or {}).items():
        if now.get(name) != n:
            problems.append(f"{name}: {now.get(name)} rows, the backup says {n}")
    return {"ok": not problems, "problems": problems, "counts": now,
            "recordings_checked": len(recordings)}
