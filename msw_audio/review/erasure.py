"""Erasure: sessions, orphaned files and retention; leaves only the audit trail."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from msw_audio.errors import InputError
from msw_audio.review.auth import (
    User,
)
from msw_audio.review.core import StoreCore
from msw_audio.review.db import (
    BlindAssignment,
    BlindCode,
    BlindScore,
    Decision,
    ExemplarStar,
    Job,
    PrincipleScore,
    Recording,
    SessionRow,
    SpeakerRow,
    Suggestion,
    UtteranceRow,
    utcnow,
)
from msw_audio.review.paths import _SHA_RE


class Erasure(StoreCore):
    """Erasure: sessions, orphaned files and retention; leaves only the audit trail."""

    def erase_session(self, session_id: str, user: User) -> None:
        """Remove every trace of a session: rows, audio, cached stages, job folders.

        The audit log keeps only who erased which session id and when (no content, no
        audio hash). Database rows go first (one transaction); then files, which
        ``sweep_orphans`` also removes should the process die in between.
        """
        user.require("session.erase")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            sha = row.recording_sha256
            job_ids = list(
                s.scalars(
                    select(Job.id).where((Job.audio_sha256 == sha) | (Job.session_id == session_id))
                )
            )
            s.execute(delete(Job).where(Job.id.in_(job_ids)))
            for model in (Decision, Suggestion, PrincipleScore, UtteranceRow, SpeakerRow,
                          ExemplarStar, BlindAssignment, BlindCode, BlindScore):
                s.execute(delete(model).where(model.session_id == session_id))
            s.execute(delete(SessionRow).where(SessionRow.id == session_id))
            s.execute(delete(Recording).where(Recording.sha256 == sha))
            self.audit(s, user, "session.erase", "session", session_id)
        self._remove_files(sha, job_ids)
        self._remove_handouts(session_id)
        self._compact()

    def _remove_files(self, sha: str, job_ids: list[str]) -> None:
        for folder in (self.paths.audio, self.paths.incoming):
            for f in folder.glob(f"{sha}*"):
                f.unlink(missing_ok=True)
            for f in folder.glob(f".{sha}*"):
                f.unlink(missing_ok=True)
        shutil.rmtree(self.paths.cache_for(sha), ignore_errors=True)
        for jid in job_ids:
            shutil.rmtree(self.paths.job_dir(jid), ignore_errors=True)

    def _remove_handouts(self, session_id: str) -> None:
        """Coach handouts quoting the session (``Library`` writes them, and removes every
        copy); here only the session's own folder, for a store without the library."""
        shutil.rmtree(self.paths.handout_dir(session_id), ignore_errors=True)

    def _compact(self) -> None:
        """Push erased pages out of the SQLite WAL so no copy lingers in the data folder."""
        if not self.is_sqlite:
            return
        with self.engine.connect() as conn:
            conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

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

