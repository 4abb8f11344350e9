"""Erasure: sessions, orphaned files and retention; leaves only the audit trail.

Complete erasure means every copy: database rows (and the SQLite WAL pages that still hold
them), the recording, upload copies waiting in ``<data>/uploads``, queued or running jobs
(a running one stops at its next progress report), stage caches (the store's and the
per-user one of ``msw-audio process``), job outputs, handouts, half-written exports; and
then a check that none of the session's traces (family pseudonym, a transcript phrase,
the audio hash) is left in the database files or the data folder (``ErasureReport``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select, text

from msw_audio.errors import InputError
from msw_audio.review.auth import (
    User,
)
from msw_audio.review.core import StoreCore
from msw_audio.review.db import (
    BlindAssignment,
    BlindCode,
    BlindScore,
    Correction,
    Decision,
    ExemplarStar,
    HistoryEntry,
    Job,
    PrincipleScore,
    Recording,
    SessionRow,
    SpeakerRow,
    Suggestion,
    UtteranceRow,
    utcnow,
)
from msw_audio.review.family_db import FamilyRow
from msw_audio.review.paths import _SHA_RE
from msw_audio.review.supervision_db import SupervisionScoreRow

#: How long erasure waits for open readers so the WAL can be checkpointed and truncated.
CHECKPOINT_WAIT_S = 30.0
_SCAN_LIMIT = 64 * 2**20  # files larger than this in the data folder are recordings


@dataclass
class ErasureReport:
    """What erasure removed and whether the check after it found any trace left."""

    session_id: str = ""
    job_ids: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    checkpointed: bool = True
    traces: list[str] = field(default_factory=list)  # "<file>: <which trace>"

    @property
    def complete(self) -> bool:
        return self.checkpointed and not self.traces


class Erasure(StoreCore):
    """Erasure: sessions, orphaned files and retention; leaves only the audit trail."""

    def erase_session(self, session_id: str, user: User) -> ErasureReport:
        """Remove every trace of a session: rows, audio, uploads, jobs, caches, handouts.

        The audit log keeps only who erased which session id and when (no content, no
        audio hash). Database rows go first (one transaction); then files, which
        ``sweep_orphans`` also removes should the process die in between; then the WAL is
        checkpointed (waiting up to ``CHECKPOINT_WAIT_S`` for open readers) and the data
        folder searched for what the session held.
        """
        user.require("session.erase")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            sha = row.recording_sha256
            rec = s.get(Recording, sha)
            size = rec.size_bytes if rec is not None else None
            needles = {"audio hash": sha}
            if len(row.family or "") >= 6:
                needles["family pseudonym"] = row.family
            phrase = max((u.text or "" for u in row.utterances), key=len, default="")[:60]
            if len(phrase) >= 24:
                needles["transcript phrase"] = phrase
            # a trace another session legitimately shares is not looked for
            others = SessionRow.id != session_id
            if s.scalar(select(SessionRow.id).where(others, SessionRow.family == row.family)) \
                    or s.scalar(select(FamilyRow.id).where(FamilyRow.pseudonym == row.family)):
                needles.pop("family pseudonym", None)  # the family's own record keeps it
            if s.scalar(select(UtteranceRow.id).where(
                    UtteranceRow.session_id != session_id,
                    UtteranceRow.text.contains(phrase, autoescape=True)).limit(1)):
                needles.pop("transcript phrase", None)
            job_ids = list(
                s.scalars(
                    select(Job.id).where((Job.audio_sha256 == sha) | (Job.session_id == session_id))
                )
            )
            s.execute(delete(Job).where(Job.id.in_(job_ids)))
            for model in (Decision, Suggestion, PrincipleScore, UtteranceRow, SpeakerRow,
                          ExemplarStar, BlindAssignment, BlindCode, BlindScore, Correction,
                          HistoryEntry, SupervisionScoreRow):
                s.execute(delete(model).where(model.session_id == session_id))
            s.execute(delete(SessionRow).where(SessionRow.id == session_id))
            s.execute(delete(Recording).where(Recording.sha256 == sha))
            self.audit(s, user, "session.erase", "session", session_id)
        with self._lock:  # what this process kept of it for rescoring (texts, codes)
            self._scoring_cache.pop(session_id, None)
            self._suggestion_cache.pop(session_id, None)
        report = ErasureReport(session_id=session_id, job_ids=job_ids)
        self._remove_handouts(session_id)  # every handout quoting it (``Library``), first:
        # it finds the copies under other sessions from this session's own folder
        report.removed = self._remove_files(sha, job_ids, size, session_id)
        report.checkpointed = self._compact()
        report.traces = self.find_traces(needles)
        if report.traces and self.is_sqlite and report.checkpointed:
            # an index's interior page can keep a deleted key as a divider: rebuild the file
            try:
                with self.engine.connect() as conn:
                    conn.connection.driver_connection.execute("VACUUM")
            except Exception:  # noqa: BLE001 - busy: the report says what is left
                pass
            report.checkpointed = self._compact()
            report.traces = self.find_traces(needles)
        return report

    def erase_job(self, job_id: str, user: User) -> ErasureReport:
        """Erase a queued, running or failed job that has no session yet: its row, the
        uploaded recording and everything derived from it. A running job stops at its next
        progress report (the worker finds its row gone) and leaves nothing behind."""
        user.require("session.erase")
        self.paths.job_dir(job_id)  # checks the id's shape
        with self.tx() as s:
            job = s.get(Job, job_id)
            if job is None:
                raise InputError(f"no job {job_id!r}")
            sha, session_id = job.audio_sha256, job.session_id
            if session_id and s.get(SessionRow, session_id) is not None:
                raise InputError(f"job {job_id} made session {session_id}: erase the session")
            others = list(s.scalars(select(Job.id).where(Job.audio_sha256 == sha)))
            s.execute(delete(Job).where(Job.id.in_(others)))
            kept = s.get(Recording, sha) is not None
            self.audit(s, user, "job.erase", "job", job_id)
        report = ErasureReport(job_ids=others)
        if kept:  # the same audio is a stored session: only the job's own files go
            for jid in others:
                shutil.rmtree(self.paths.job_dir(jid), ignore_errors=True)
        else:
            report.removed = self._remove_files(sha, others, None, None)
        report.checkpointed = self._compact()
        report.traces = [] if kept else self.find_traces({"audio hash": sha})
        return report

    def _remove_files(self, sha: str, job_ids: list[str], size: int | None,
                      session_id: str | None) -> list[str]:
        removed: list[str] = []

        def rm(path: Path) -> None:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists() or path.is_symlink():
                path.unlink(missing_ok=True)
            else:
                return
            removed.append(str(path))

        for folder in (self.paths.audio, self.paths.incoming):
            for f in [*folder.glob(f"{sha}*"), *folder.glob(f".{sha}*")]:
                rm(f)
        rm(self.paths.cache_for(sha))
        from msw_audio.speech.cache import default_cache_dir

        rm(default_cache_dir() / sha)  # `msw-audio process` of the same recording
        for jid in job_ids:
            rm(self.paths.job_dir(jid))
        if session_id:
            rm(self.paths.root / "handouts" / session_id)
        for f in self._upload_copies(sha, size):
            rm(f)
            parent = f.parent
            if parent != self.paths.uploads and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
        for f in self.paths.root.rglob("*.partial"):  # a half-written export of anything
            rm(f)
        return removed

    def _remove_handouts(self, session_id: str) -> None:
        """Coach handouts quoting the session (``Library`` writes them, and removes every
        copy); here only the session's own folder, for a store without the library."""
        shutil.rmtree(self.paths.handout_dir(session_id), ignore_errors=True)

    def _upload_copies(self, sha: str, size: int | None) -> list[Path]:
        """Files waiting in ``<data>/uploads`` (Gradio's temp folder) with this audio."""
        found = []
        if not self.paths.uploads.is_dir():
            return found
        for f in self.paths.uploads.rglob("*"):
            try:
                if not f.is_file() or f.is_symlink():
                    continue
                if size is not None and f.stat().st_size != size:
                    continue
                h = hashlib.sha256()
                with open(f, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        h.update(block)
            except OSError:
                continue
            if h.hexdigest() == sha:
                found.append(f)
        return found

    def _compact(self, wait_s: float = CHECKPOINT_WAIT_S) -> bool:
        """Push erased pages out of the SQLite WAL and truncate it (so no copy of a deleted
        row lingers in ``-wal``), waiting for open readers; PostgreSQL: VACUUM the tables.
        Returns whether it completed."""
        if not self.is_sqlite:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                for table in ("utterances", "suggestions", "speakers", "decisions",
                              "principle_scores", "sessions", "recordings", "jobs",
                              "corrections", "history", "exemplar_stars", "blind_assignments",
                              "blind_codes", "blind_scores", "supervision_scores"):
                    c.execute(text(f"VACUUM {table}"))
            return True
        deadline = time.monotonic() + wait_s
        while True:
            with self.engine.connect() as conn:
                busy, log, done = conn.connection.driver_connection.execute(
                    "PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            wal = self.paths.db.with_name(self.paths.db.name + "-wal")
            if busy == 0 and (not wal.exists() or wal.stat().st_size == 0):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def find_traces(self, needles: dict[str, str]) -> list[str]:
        """``"<file>: <what>"`` for each needle (bytes, UTF-8) found in the database files
        or any file of the data folder below ``_SCAN_LIMIT`` (recordings are by hash)."""
        wanted = {what: value.encode() for what, value in needles.items() if value}
        files: list[Path] = []
        if self.is_sqlite:
            files += [self.paths.db.with_name(self.paths.db.name + sfx)
                      for sfx in ("", "-wal", "-shm")]
        for root, _dirs, names in os.walk(self.paths.root):
            files += [Path(root) / n for n in names]
        traces = []
        for f in dict.fromkeys(files):
            try:
                if not f.is_file() or f.stat().st_size > _SCAN_LIMIT:
                    continue
                data = f.read_bytes()
            except OSError:
                continue
            traces += [f"{f}: {what}" for what, value in wanted.items() if value in data]
            if any(v in f.name.encode() for v in wanted.values()):
                traces.append(f"{f}: file name")
        return traces

    def sweep_orphans(self) -> list[str]:
        """Delete files in the data folder that no recording or job refers to any more."""
        with self.rtx() as s:
            shas = set(s.scalars(select(Recording.sha256))) | set(
                s.scalars(select(Job.audio_sha256))
            )
            jobs = set(s.scalars(select(Job.id)))
            session_ids = set(s.scalars(select(SessionRow.id)))
        removed = []
        if self.paths.handouts.is_dir():
            for d in self.paths.handouts.iterdir():
                if d.name not in session_ids:
                    self._remove_handouts(d.name)
                    removed.append(str(d))
        for folder in (self.paths.audio, self.paths.incoming):
            for f in folder.iterdir():
                if f.name.lstrip(".")[:64] not in shas:
                    f.unlink(missing_ok=True)
                    removed.append(str(f))
        for d in self.paths.cache.iterdir():
            if _SHA_RE.match(d.name) and d.name not in shas:  # keep model caches etc.
                shutil.rmtree(d, ignore_errors=True)
                removed.append(str(d))
        for d in self.paths.jobs.iterdir():
            if d.name not in jobs:
                shutil.rmtree(d, ignore_errors=True)
                removed.append(str(d))
        if self.paths.uploads.is_dir():  # uploads abandoned before they became a job
            stale = time.time() - 24 * 3600
            for f in sorted(self.paths.uploads.rglob("*"), reverse=True):
                try:
                    if f.is_file() and f.stat().st_mtime < stale:
                        f.unlink()
                        removed.append(str(f))
                    elif f.is_dir() and not any(f.iterdir()):
                        f.rmdir()
                except OSError:
                    continue
        return removed

    def erase_older_than(self, days: int, user: User) -> list[str]:
        """Retention: erase sessions whose visit date (else ingest date) is > ``days`` ago."""
        user.require("session.erase")
        if days < 0:
            raise InputError("retention days must be 0 or more")
        cutoff = utcnow() - timedelta(days=days)
        with self.rtx() as s:
            ids = [
                r.id
                for r in s.scalars(select(SessionRow))
                if (datetime.combine(r.date, datetime.min.time()) if r.date else r.created_at)
                < cutoff
            ]
        for sid in ids:
            self.erase_session(sid, user)
        with self.tx() as s:
            self.audit(s, user, "retention", "", "", days=days, erased=len(ids))
        return ids

