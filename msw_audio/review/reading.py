"""Reading sessions, decisions and recordings, scoped to what the user may see."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import load_only

from msw_audio.errors import InputError
from msw_audio.records import (
    Session,
)
from msw_audio.review.auth import (
    User,
)
from msw_audio.review.core import _iso, _visible
from msw_audio.review.db import (
    Decision,
    PrincipleScore,
    Recording,
    SessionRow,
    SpeakerRow,
    Suggestion,
    UtteranceRow,
)
from msw_audio.review.pseudonyms import Pseudonyms

STATUSES = ("unreviewed", "in_progress", "reviewed")


@dataclass
class SessionSummary:
    """One row of the evaluator's queue."""

    id: str
    title: str
    worker: str
    team: str
    date: str | None
    status: str
    n_utterances: int
    n_confirmed: int
    recording_type: str = ""
    family: str = ""
    duration: float | None = None
    created_at: str = ""

    @property
    def progress(self) -> float:
        return self.n_confirmed / self.n_utterances if self.n_utterances else 0.0


class Reading(Pseudonyms):
    """Reading sessions, decisions and recordings, scoped to what the user may see."""

    def list_sessions(self, user: User) -> list[SessionSummary]:
        """The review queue: unreviewed first, then in progress, then reviewed."""
        user.require("session.view")
        return self._summaries(user)

    def session_summary(self, session_id: str, user: User) -> SessionSummary | None:
        """One session's queue row (status and progress), without listing every session."""
        user.require("session.view")
        found = self._summaries(user, session_id)
        return found[0] if found else None

    def _summaries(self, user: User, session_id: str | None = None) -> list[SessionSummary]:
        n_utt = (
            select(func.count(UtteranceRow.id))
            .where(UtteranceRow.session_id == SessionRow.id)
            .scalar_subquery()
        )
        n_conf = (
            select(func.count(UtteranceRow.id))
            .where(
                UtteranceRow.session_id == SessionRow.id, UtteranceRow.confirmed_code.is_not(None)
            )
            .scalar_subquery()
        )
        # Only the columns a queue row shows: the row's JSON (scores, turns, models) is
        # the largest part of a long session's row, and every decision's reply reads this
        light = load_only(SessionRow.id, SessionRow.title, SessionRow.worker, SessionRow.team,
                          SessionRow.date, SessionRow.status, SessionRow.recording_type,
                          SessionRow.family, SessionRow.duration, SessionRow.created_at)
        with self.rtx() as s:
            q = _visible(select(SessionRow, n_utt, n_conf).options(light), user)
            if session_id is not None:
                q = q.where(SessionRow.id == session_id)
            rows = s.execute(q).all()
        order = {st: i for i, st in enumerate(STATUSES)}
        out = [
            SessionSummary(
                id=r.id,
                title=r.title,
                worker=r.worker,
                team=r.team,
                date=_iso(r.date),
                status=r.status,
                n_utterances=int(nu or 0),
                n_confirmed=int(nc or 0),
                recording_type=r.recording_type,
                family=r.family,
                duration=r.duration,
                created_at=_iso(r.created_at) or "",
            )
            for r, nu, nc in rows
        ]
        out.sort(key=lambda x: (order.get(x.status, 9), x.date or "", x.created_at), reverse=False)
        if self.shielded(user):
            out = [replace(x, **{k: v for k, v in self._shield_fields(user, {
                "id": x.id, "title": x.title, "worker": x.worker, "family": x.family}).items()
                if k != "id"}) for x in out]
        return out

    def session_meta(self, session_id: str, user: User) -> dict[str, Any]:
        """Worker, team, date, family pseudonym, type, status and review stamps."""
        user.require("session.view")
        with self.rtx() as s:
            r = self._session_row(s, session_id, user=user)
            return self._shield_fields(user, {
                "id": r.id,
                "title": r.title,
                "worker": r.worker,
                "team": r.team,
                "date": _iso(r.date),
                "family": r.family,
                "recording_type": r.recording_type,
                "status": r.status,
                "duration": r.duration,
                "created_at": _iso(r.created_at),
                "created_by": r.created_by,
                "reviewed_at": _iso(r.reviewed_at),
                "reviewed_by": r.reviewed_by,
                "models": r.models,
            })

    def get_session(self, session_id: str, user: User) -> Session:
        """The session as the reviewer should see it now.

        Confirmed speaker roles replace suggested ones; an utterance's confirmed code is
        first in ``codes`` (``source="evaluator"``, probability 1) followed by the model's
        other suggestions; confirmed principle scores appear as ``confirmed``/``note`` in
        ``scores["principles"][name]``. ``get_decisions`` has who/when for each.
        """
        user.require("session.view")
        with self.rtx() as s:
            row = self._session_row(s, session_id, user=user)
            session = self._session_from_rows(s, row)
            scores_rows = list(
                s.scalars(select(PrincipleScore).where(PrincipleScore.session_id == session_id))
            )
        scores = session.scores
        if scores_rows:
            scores = scores or {"principles": {}}
            principles = scores.setdefault("principles", {})
            for p in scores_rows:
                entry = principles.setdefault(
                    p.principle,
                    {
                        "value": p.suggested,
                        "confidence": p.confidence,
                        "evidence": p.evidence,
                        "reasons": p.reasons,
                    },
                )
                entry["confirmed"] = p.confirmed
                entry["note"] = p.note
        session.scores = scores
        if self.shielded(user):
            with self.rtx() as s:
                session = self._shield_session(s, user, self._session_row(s, session_id), session)
        return session

    def get_decisions(self, session_id: str, user: User) -> dict[str, Any]:
        """Everything an evaluator decided in this session, with who and when.

        ``{"status", "reviewed_by", "reviewed_at",
           "codes": {utterance_id: {"code", "suggested", "suggested_probability", "by", "at"}},
           "roles": {speaker_id: {"role", "suggested", "by", "at"}},
           "scores": {principle: {"value", "note", "suggested", "by", "at"}}}``
        (only confirmed items appear).
        """
        user.require("session.view")
        with self.rtx() as s:
            row = self._session_row(s, session_id, user=user)
            top = {
                g.utterance_id: g
                for g in s.scalars(
                    select(Suggestion).where(
                        Suggestion.session_id == session_id, Suggestion.rank == 0
                    )
                )
            }
            codes = {
                u.utterance_id: {
                    "code": u.confirmed_code,
                    "suggested": top[u.utterance_id].code if u.utterance_id in top else None,
                    "suggested_probability": (
                        top[u.utterance_id].probability if u.utterance_id in top else None
                    ),
                    "by": u.confirmed_by,
                    "at": _iso(u.confirmed_at),
                }
                for u in s.scalars(
                    select(UtteranceRow).where(
                        UtteranceRow.session_id == session_id,
                        UtteranceRow.confirmed_code.is_not(None),
                    )
                )
            }
            roles = {
                k.speaker_id: {
                    "role": k.role,
                    "suggested": k.suggested_role,
                    "by": k.role_confirmed_by,
                    "at": _iso(k.role_confirmed_at),
                }
                for k in s.scalars(select(SpeakerRow).where(SpeakerRow.session_id == session_id))
                if k.role_confirmed_by
            }
            scores = {
                p.principle: {
                    "value": p.confirmed,
                    "note": p.note,
                    "suggested": p.suggested,
                    "by": p.confirmed_by,
                    "at": _iso(p.confirmed_at),
                }
                for p in s.scalars(
                    select(PrincipleScore).where(
                        PrincipleScore.session_id == session_id,
                        PrincipleScore.confirmed.is_not(None),
                    )
                )
            }
            if self.shielded(user):
                red = self._redactor(s, row)
                codes, roles, scores = (
                    {k: self._shield_fields(user, v) for k, v in part.items()}
                    for part in (codes, roles, scores))
                for v in scores.values():
                    v["note"] = red.text(v["note"]) if v.get("note") else v.get("note")
            return {
                "status": row.status,
                "reviewed_by": (self.person_token("user", row.reviewed_by)
                                if self.shielded(user) else row.reviewed_by),
                "reviewed_at": _iso(row.reviewed_at),
                "codes": codes,
                "roles": roles,
                "scores": scores,
            }

    def decision_history(self, session_id: str, user: User) -> list[dict[str, Any]]:
        """Every change in this session, oldest first (who, when, kind, target, old -> new)."""
        user.require("session.view")
        with self.rtx() as s:
            row = self._session_row(s, session_id, user=user)
            history = [
                {
                    "kind": d.kind,
                    "target": d.target,
                    "old": d.old_value,
                    "new": d.new_value,
                    "note": d.note,
                    "by": d.user_name,
                    "at": _iso(d.at),
                }
                for d in s.scalars(
                    select(Decision).where(Decision.session_id == session_id).order_by(Decision.id)
                )
            ]
            if self.shielded(user):
                red = self._redactor(s, row)
                history = [dict(self._shield_fields(user, h),
                                note=red.text(h["note"]) if h["note"] else h["note"])
                           for h in history]
            return history

    def audio_file(self, session_id: str, user: User, audit: bool = True) -> Path:
        """Path of the recording inside the data folder (for the app to serve after login).

        ``audit=False`` for the browser's follow-up Range requests of one listening (a seek
        is a request): one audit row per listening, not one per seek, and no write
        transaction per chunk of audio.
        """
        user.require("audio.listen")
        with self.tx() if audit else self.rtx() as s:
            row = self._session_row(s, session_id, user=user)
            rec = s.get(Recording, row.recording_sha256)
            if audit:
                self.audit(s, user, "audio.listen", "session", session_id)
        if rec is None or not rec.has_audio:
            raise InputError(f"session {session_id!r} has no recording in the store")
        path = self.paths.audio_file(rec.sha256, rec.ext)
        if not path.is_file():
            raise InputError(f"recording of session {session_id!r} is missing from the data folder")
        return path

