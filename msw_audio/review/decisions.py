"""Evaluator decisions: codes, roles, scores, review state; each recomputes the figures."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from msw_audio.errors import InputError, StaleEdit
from msw_audio.records import (
    PRINCIPLES,
    ROLES,
)
from msw_audio.review.auth import (
    User,
)
from msw_audio.review.core import StoreCore, _iso
from msw_audio.review.db import (
    Decision,
    PrincipleScore,
    SessionRow,
    SpeakerRow,
    Suggestion,
    UtteranceRow,
    utcnow,
)


class _AnyValue:
    def __repr__(self) -> str:
        return "ANY_VALUE"


#: ``expected=ANY_VALUE``: the caller does not know what the line held (CLI, scripts)
ANY_VALUE: Any = _AnyValue()


def _check_expected(utt: UtteranceRow, expected: Any) -> None:
    if expected is ANY_VALUE or (expected or None) == (utt.confirmed_code or None):
        return
    when = _iso(utt.confirmed_at) if utt.confirmed_at else None
    who = utt.confirmed_by if utt.confirmed_code else None
    shown = utt.confirmed_code or "no confirmed code"
    raise StaleEdit(
        f"changed by {who or 'someone'}{f' at {when}' if when else ''} to {shown} since "
        "your view was drawn", current=utt.confirmed_code, by=who, at=when)


class Decisions(StoreCore):
    """Evaluator decisions: codes, roles, scores, review state; each recomputes the figures."""

    def _decide(
        self,
        s: OrmSession,
        row: SessionRow,
        user: User,
        kind: str,
        target: str,
        old: Any,
        new: Any,
        note: str | None = None,
    ) -> None:
        now = utcnow()
        s.add(
            Decision(
                session_id=row.id,
                kind=kind,
                target=target,
                old_value=None if old is None else str(old),
                new_value=None if new is None else str(new),
                note=note,
                user_name=user.name,
                at=now,
            )
        )
        if kind != "status" and row.status == "unreviewed":
            row.status = "in_progress"
        row.updated_at = now
        if kind in ("code", "role") and row.scores:
            self._rescore(s, row, evidence=False)
        elif kind == "status" and new == "reviewed" and row.scores:
            self._rescore(s, row, evidence=True)
        self.audit(s, user, f"{kind}.set", "session", row.id, target=target)

    def _rescore(self, s: OrmSession, row: SessionRow, evidence: bool) -> None:
        """Recompute the session's suggested scores and MITI summary from what it holds now
        (confirmed codes and roles where given, suggestions elsewhere), in the decision's own
        transaction: every figure the screen, the team view and the exports show follows
        the evaluator, never the numbers made once at processing time.

        ``evidence``: also re-choose each principle's evidence lines. That is a leave-one-out
        pass per candidate line (seconds on a long visit), so a code or role decision keeps
        the evidence chosen before (figures only, milliseconds) and marking the session
        reviewed re-chooses it from the confirmed codes.
        """
        from msw_audio.scoring.rubric import score_session

        s.flush()
        session = self._session_from_rows(s, row)
        book = self._codebook_of(row.models)
        scores = score_session(session, codebook=book, evidence=evidence)
        if book.rubric == "supervision":  # supervision scores follow the evaluator too
            from msw_audio.scoring.supervision import score_supervision

            scores["supervision"] = score_supervision(session, book)
        if not evidence:
            before = (row.scores or {}).get("principles") or {}
            for name, entry in scores.get("principles", {}).items():
                if "evidence" in (before.get(name) or {}):
                    entry["evidence"] = before[name]["evidence"]
        row.scores = scores

    def set_code(self, session_id: str, utterance_id: str, code: str, user: User,
                 expected: Any = ANY_VALUE) -> None:
        """Confirm ``code`` for one utterance (saved and audited at once).

        ``expected``: the confirmed code (or None) the reviewer's screen showed; if the line
        holds something else now, ``StaleEdit`` and nothing is written, so two evaluators
        working from stale views never silently overwrite each other.
        """
        user.require("session.edit")
        if code not in self._known_codes(session_id):
            raise InputError(f"unknown code {code!r}")
        self._set_code(session_id, utterance_id, code, user, note=None, expected=expected)

    def accept_code(self, session_id: str, utterance_id: str, user: User,
                    expected: Any = ANY_VALUE) -> str:
        """Confirm the model's top suggestion; returns the code."""
        user.require("session.edit")
        with self.rtx() as s:
            code = s.scalar(
                select(Suggestion.code).where(
                    Suggestion.session_id == session_id,
                    Suggestion.utterance_id == utterance_id,
                    Suggestion.rank == 0,
                )
            )
        if code is None:
            raise InputError(f"utterance {utterance_id!r} has no suggested code to accept")
        self._set_code(session_id, utterance_id, code, user, note="accepted suggestion",
                       expected=expected)
        return code

    def _set_code(
        self, session_id: str, utterance_id: str, code: str, user: User, note: str | None,
        expected: Any = ANY_VALUE,
    ) -> None:
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            utt = self._utterance_row(s, session_id, utterance_id, lock=True)
            _check_expected(utt, expected)
            old = utt.confirmed_code
            utt.confirmed_code = code
            utt.confirmed_by = user.name
            utt.confirmed_at = utcnow()
            self._decide(s, row, user, "code", utterance_id, old, code, note)

    def _utterance_row(self, s: OrmSession, session_id: str, utterance_id: str,
                       lock: bool = False) -> UtteranceRow:
        q = select(UtteranceRow).where(
            UtteranceRow.session_id == session_id,
            UtteranceRow.utterance_id == utterance_id,
        )
        if lock and not self.is_sqlite:  # SQLite: the write transaction already serialises
            q = q.with_for_update()
        utt = s.scalar(q)
        if utt is None:
            raise InputError(f"no utterance {utterance_id!r} in session {session_id!r}")
        return utt

    def clear_code(self, session_id: str, utterance_id: str, user: User,
                   expected: Any = ANY_VALUE) -> None:
        """Undo a confirmation (the utterance is back to 'suggested only')."""
        user.require("session.edit")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            utt = self._utterance_row(s, session_id, utterance_id, lock=True)
            _check_expected(utt, expected)
            old = utt.confirmed_code
            utt.confirmed_code = utt.confirmed_by = utt.confirmed_at = None
            self._decide(s, row, user, "code", utterance_id, old, None, "cleared")

    def set_role(self, session_id: str, speaker_id: str, role: str, user: User) -> None:
        user.require("session.edit")
        if role not in ROLES:
            raise InputError(f"unknown speaker role {role!r}: use one of {', '.join(ROLES)}")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            spk = s.scalar(
                select(SpeakerRow).where(
                    SpeakerRow.session_id == session_id, SpeakerRow.speaker_id == speaker_id
                )
            )
            if spk is None:
                raise InputError(f"no speaker {speaker_id!r} in session {session_id!r}")
            old = spk.role
            spk.role = role
            spk.role_confirmed_by = user.name
            spk.role_confirmed_at = utcnow()
            self._decide(s, row, user, "role", speaker_id, old, role)

    def confirm_score(
        self, session_id: str, principle: str, value: float, note: str | None, user: User
    ) -> None:
        """Confirm (or change) a principle score 1-5 in halves, with an optional note."""
        user.require("session.edit")
        if principle not in PRINCIPLES:
            raise InputError(f"unknown principle {principle!r}: use one of {', '.join(PRINCIPLES)}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InputError(f"score {value!r} is not a number") from None
        if not (1.0 <= value <= 5.0) or value * 2 != int(value * 2):
            raise InputError(f"score {value} must be 1-5 in steps of 0.5")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            ps = s.scalar(
                select(PrincipleScore).where(
                    PrincipleScore.session_id == session_id, PrincipleScore.principle == principle
                )
            )
            if ps is None:
                ps = PrincipleScore(
                    session_id=session_id, principle=principle, evidence=[], reasons=[]
                )
                s.add(ps)
            old = ps.confirmed
            ps.confirmed = value
            ps.note = (note or "").strip() or None
            ps.confirmed_by = user.name
            ps.confirmed_at = utcnow()
            self._decide(s, row, user, "score", principle, old, value, ps.note)

    def mark_reviewed(self, session_id: str, user: User, reviewed: bool = True) -> None:
        user.require("session.edit")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            old = row.status
            row.status = "reviewed" if reviewed else "in_progress"
            row.reviewed_by = user.name if reviewed else None
            row.reviewed_at = utcnow() if reviewed else None
            self._decide(s, row, user, "status", "", old, row.status)

