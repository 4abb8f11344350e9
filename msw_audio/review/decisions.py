"""Evaluator decisions: codes, roles, scores, review state; each recomputes the figures.

Each decision is also one entry of the session's undo/redo journal (``review.history``):
the ``_state_<kind>`` / ``_restore_<kind>`` pairs below are how the journal reads and puts
back a code, a role, a score or the review state. A reviewed session is read-only
(``ReadOnlySession``) until an evaluator reopens it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as OrmSession

from msw_audio.errors import InputError, ReadOnlySession, StaleEdit, UnconfirmedLines
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
from msw_audio.review.history import change


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
        *,
        rescore: bool = True,
        audited: bool = True,
    ) -> None:
        """Log one decision (old -> new), move the session to in progress, recompute the
        figures and audit. ``rescore`` / ``audited`` off: the caller (a bulk action, an
        undo) does those once for all its changes."""
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
        if not rescore:
            pass
        elif kind in ("code", "role") and row.scores:
            self._rescore(s, row, evidence=False)
        elif kind == "status" and new == "reviewed" and row.scores:
            self._rescore(s, row, evidence=True)
        if audited:
            self.audit(s, user, f"{kind}.set", "session", row.id, target=target)

    @staticmethod
    def _check_open(row: SessionRow) -> None:
        """Refuse changes to a reviewed session (until it is reopened)."""
        if row.status == "reviewed":
            by = f" by {row.reviewed_by}" if row.reviewed_by else ""
            raise ReadOnlySession(
                f"session is marked reviewed{by} and is read-only: an evaluator must reopen "
                "it before codes, roles or scores change")

    def _check_role_fits(self, s: OrmSession, row: SessionRow, utt: UtteranceRow,
                         code: str) -> None:
        """A code meant for another speaker role is refused with a message that says so
        (a practitioner hotkey pressed on a parent's line must not do nothing silently)."""
        book = self._codebook_of(row.models)
        entry = book.get(code)
        role = s.scalar(select(SpeakerRow.role).where(
            SpeakerRow.session_id == row.id, SpeakerRow.speaker_id == utt.speaker_id)) or "other"
        if entry is not None and role not in entry.roles:
            meant = "practitioner" if entry.roles == ("practitioner",) else "family-member"
            raise InputError(
                f"{entry.label} is a code for {meant} lines; this line is the {role}'s "
                f"({utt.speaker_id}): use a code for that role, or change the speaker's role "
                "first")

    # ------------------------------------------------------------------ journal kinds
    def _state_code(self, s: OrmSession, row: SessionRow, target: str) -> dict[str, Any]:
        return _code_state(self._utterance_row(s, row.id, target, lock=True))

    def _restore_code(self, s: OrmSession, row: SessionRow, target: str,
                      state: dict[str, Any]) -> None:
        utt = self._utterance_row(s, row.id, target, lock=True)
        utt.confirmed_code = state.get("value")
        utt.confirmed_by = state.get("by") if utt.confirmed_code else None
        utt.confirmed_at = _when(state.get("at")) if utt.confirmed_code else None

    def _speaker_row(self, s: OrmSession, row: SessionRow, speaker_id: str) -> SpeakerRow:
        spk = s.scalar(select(SpeakerRow).where(
            SpeakerRow.session_id == row.id, SpeakerRow.speaker_id == speaker_id))
        if spk is None:
            raise InputError(f"no speaker {speaker_id!r} in session {row.id!r}")
        return spk

    def _state_role(self, s: OrmSession, row: SessionRow, target: str) -> dict[str, Any]:
        spk = self._speaker_row(s, row, target)
        return {"value": spk.role, "by": spk.role_confirmed_by,
                "at": _iso(spk.role_confirmed_at)}

    def _restore_role(self, s: OrmSession, row: SessionRow, target: str,
                      state: dict[str, Any]) -> None:
        spk = self._speaker_row(s, row, target)
        spk.role = state["value"]
        spk.role_confirmed_by = state.get("by")
        spk.role_confirmed_at = _when(state.get("at"))

    def _score_row(self, s: OrmSession, row: SessionRow, principle: str) -> PrincipleScore:
        ps = s.scalar(select(PrincipleScore).where(
            PrincipleScore.session_id == row.id, PrincipleScore.principle == principle))
        if ps is None:
            ps = PrincipleScore(session_id=row.id, principle=principle, evidence=[], reasons=[])
            s.add(ps)
        return ps

    def _state_score(self, s: OrmSession, row: SessionRow, target: str) -> dict[str, Any]:
        ps = self._score_row(s, row, target)
        return {"value": ps.confirmed, "note": ps.note, "by": ps.confirmed_by,
                "at": _iso(ps.confirmed_at)}

    def _restore_score(self, s: OrmSession, row: SessionRow, target: str,
                       state: dict[str, Any]) -> None:
        ps = self._score_row(s, row, target)
        ps.confirmed = state.get("value")
        ps.note = state.get("note")
        ps.confirmed_by = state.get("by")
        ps.confirmed_at = _when(state.get("at"))

    def _state_status(self, s: OrmSession, row: SessionRow, target: str) -> dict[str, Any]:
        return {"value": row.status, "by": row.reviewed_by, "at": _iso(row.reviewed_at)}

    def _restore_status(self, s: OrmSession, row: SessionRow, target: str,
                        state: dict[str, Any]) -> None:
        row.status = state["value"]
        row.reviewed_by = state.get("by") if row.status == "reviewed" else None
        row.reviewed_at = _when(state.get("at")) if row.status == "reviewed" else None

    def _rescore(self, s: OrmSession, row: SessionRow, evidence: bool) -> None:
        """Recompute the session's suggested scores and MITI summary from what it holds now
        (confirmed codes and roles where given, suggestions elsewhere), in the decision's own
        transaction: every figure the screen, the team view and the exports show follows
        the evaluator, never the numbers made once at processing time.

        ``evidence``: also re-choose each principle's evidence lines. That is a leave-one-out
        pass per candidate line (seconds on a long visit), so a code or role decision keeps
        the evidence chosen before (figures only, milliseconds) and marking the session
        reviewed re-chooses it from the confirmed codes.

        Incremental but exact: the lines and feature views the decision did not change are
        reused from the last rescore (``_scoring_session``), every sum is taken again over
        all lines, so the figures equal a computation from scratch
        (``tests/test_incremental_rescore.py``).
        """
        from msw_audio.scoring.rubric import scores_and_features

        s.flush()
        session, earlier = self._scoring_session(s, row)
        book = self._codebook_of(row.models)
        scores, feats = scores_and_features(session, codebook=book, evidence=evidence,
                                            reuse=earlier)
        self._keep_features(row.id, session, feats)
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
        self._set_code(session_id, utterance_id, code, user, note=None, expected=expected,
                       check_known=True)

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
        expected: Any = ANY_VALUE, check_known: bool = False,
    ) -> None:
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            # ``check_known``: the code must be one of the session's codebook (checked
            # here, from the row this transaction reads anyway, not in a read of its own)
            if check_known and code not in self._codebook_of(row.models).ids:
                raise InputError(f"unknown code {code!r}")
            self._check_open(row)
            utt = self._utterance_row(s, session_id, utterance_id, lock=True)
            _check_expected(utt, expected)
            self._check_role_fits(s, row, utt, code)
            before = _code_state(utt)
            old = utt.confirmed_code
            utt.confirmed_code = code
            utt.confirmed_by = user.name
            utt.confirmed_at = utcnow()
            self._decide(s, row, user, "code", utterance_id, old, code, note)
            label = "accept suggestion" if note == "accepted suggestion" else f"code {code}"
            self._journal(s, row, user, "code", f"{label} on {utterance_id}",
                          [change("code", utterance_id, before, _code_state(utt))])

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
            self._check_open(row)
            utt = self._utterance_row(s, session_id, utterance_id, lock=True)
            _check_expected(utt, expected)
            before = _code_state(utt)
            old = utt.confirmed_code
            utt.confirmed_code = utt.confirmed_by = utt.confirmed_at = None
            self._decide(s, row, user, "code", utterance_id, old, None, "cleared")
            self._journal(s, row, user, "code", f"clear {utterance_id}",
                          [change("code", utterance_id, before, _code_state(utt))])

    def set_role(self, session_id: str, speaker_id: str, role: str, user: User) -> None:
        user.require("session.edit")
        if role not in ROLES:
            raise InputError(f"unknown speaker role {role!r}: use one of {', '.join(ROLES)}")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            self._check_open(row)
            spk = self._speaker_row(s, row, speaker_id)
            before = self._state_role(s, row, speaker_id)
            old = spk.role
            spk.role = role
            spk.role_confirmed_by = user.name
            spk.role_confirmed_at = utcnow()
            self._decide(s, row, user, "role", speaker_id, old, role)
            self._journal(s, row, user, "role", f"{speaker_id} is {role}",
                          [change("role", speaker_id, before,
                                  self._state_role(s, row, speaker_id))])

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
            self._check_open(row)
            ps = self._score_row(s, row, principle)
            before = self._state_score(s, row, principle)
            old = ps.confirmed
            ps.confirmed = value
            ps.note = (note or "").strip() or None
            ps.confirmed_by = user.name
            ps.confirmed_at = utcnow()
            self._decide(s, row, user, "score", principle, old, value, ps.note)
            self._journal(s, row, user, "score", f"{principle} score {value:g}",
                          [change("score", principle, before,
                                  self._state_score(s, row, principle))])

    def mark_reviewed(self, session_id: str, user: User, reviewed: bool = True,
                      allow_unconfirmed: bool = True) -> dict[str, Any]:
        """Mark the session reviewed (read-only from then on) or, ``reviewed=False``, reopen it.

        Returns ``{"status", "unconfirmed"}`` (lines nobody confirmed). With
        ``allow_unconfirmed=False`` and unconfirmed lines, ``UnconfirmedLines`` (nothing
        changes): the review screen asks "N lines are unconfirmed, mark reviewed anyway?"
        and asks again with ``allow_unconfirmed=True``.
        """
        user.require("session.edit")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            unconfirmed = len(list(s.scalars(select(UtteranceRow.id).where(
                UtteranceRow.session_id == session_id, UtteranceRow.confirmed_code.is_(None)))))
            if reviewed and row.status == "reviewed":
                return {"status": row.status, "unconfirmed": unconfirmed}
            if not reviewed and row.status != "reviewed":
                raise InputError("session is not marked reviewed: there is nothing to reopen")
            if reviewed and unconfirmed and not allow_unconfirmed:
                total = s.scalar(select(func.count(UtteranceRow.id)).where(
                    UtteranceRow.session_id == session_id))
                raise UnconfirmedLines(
                    f"{unconfirmed} of {total} lines have no confirmed code: mark the session "
                    "reviewed anyway?", unconfirmed)
            before = self._state_status(s, row, "")
            old = row.status
            row.status = "reviewed" if reviewed else "in_progress"
            row.reviewed_by = user.name if reviewed else None
            row.reviewed_at = utcnow() if reviewed else None
            self._decide(s, row, user, "status", "", old, row.status,
                         None if reviewed else "reopened")
            self._journal(s, row, user, "status", "mark reviewed" if reviewed else "reopen",
                          [change("status", "", before, self._state_status(s, row, ""))])
            return {"status": row.status, "unconfirmed": unconfirmed}

    def reopen(self, session_id: str, user: User) -> dict[str, Any]:
        """Reopen a reviewed session for changes (audited as a status decision)."""
        return self.mark_reviewed(session_id, user, reviewed=False)


def _code_state(utt: UtteranceRow) -> dict[str, Any]:
    """A line's confirmed code as the journal keeps it (``_state_code``), from the row the
    decision already holds: reading it again cost a query and a flush, twice a decision."""
    return {"value": utt.confirmed_code, "by": utt.confirmed_by, "at": _iso(utt.confirmed_at)}


def _when(value: Any) -> datetime | None:
    """A journal's ISO time back to the naive UTC ``datetime`` the rows hold."""
    return datetime.fromisoformat(value) if value else None
