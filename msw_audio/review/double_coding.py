"""Blind double coding: a second evaluator codes a session without seeing the first one's
decisions, and an agreement report compares the two.

The second coder's codes and scores live in their own tables (``blind_codes``,
``blind_scores``); the first coder's stay where they always were (``utterances``,
``principle_scores``). While a pass is open (``blind_assignments.finished_at`` is None) the
store answers that coder — on every read and write of that session — from the blind
tables: ``DoubleCoding`` comes first in ``Store``'s bases and wraps the reading and decision
methods (``get_session``, ``get_decisions``, ``session_meta``, ``decision_history``,
``list_sessions``, ``set_code``…), handing every other user to the ordinary ones
(``super()``). So the review screen and its JSON routes need no second code path, and no
route can return the first coder's codes, scores or history to the blind coder. Views that
pool confirmed decisions (exemplars, library, team figures, agreement) leave the coder's
blind sessions out (``core._not_blind``).

What the blind coder sees: the transcript, the model's code suggestions (made once at
processing, the same for both coders, never edited), and the model's speaker roles (not
the first coder's corrections; roles cannot be changed in a blind pass). Principle
figures and the MITI summary are recomputed from the blind coder's own codes. The model's
suggestions are shown because a blind pass should measure how two evaluators code *with
this tool as they use it*; anchoring on a shared suggestion can raise agreement, so the
report also gives each coder's agreement with the model's top suggestion.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as OrmSession

from msw_audio.errors import InputError, StaleEdit
from msw_audio.records import PRINCIPLES, CodeSuggestion, Session
from msw_audio.review.auth import User
from msw_audio.review.core import StoreCore, _iso, _visible
from msw_audio.review.db import (
    BlindAssignment,
    BlindCode,
    BlindScore,
    Decision,
    PrincipleScore,
    SessionRow,
    SpeakerRow,
    Suggestion,
    UserRow,
    UtteranceRow,
    utcnow,
)
from msw_audio.review.decisions import ANY_VALUE

BLIND_KINDS = ("blind.code", "blind.score", "blind.status")
SCORE_LEVELS = list(range(2, 11))  # 1.0 .. 5.0 in halves, doubled to integers


# ---------------------------------------------------------------------- statistics
def cohen_kappa(a: list[Any], b: list[Any], labels: list[Any] | None = None,
                weights: str | None = None) -> float | None:
    """scikit-learn's Cohen's κ; None where it is undefined (no pairs, or one class only)."""
    from sklearn.metrics import cohen_kappa_score

    if not a or len(set(a) | set(b)) < 2:
        return None
    k = cohen_kappa_score(a, b, labels=labels, weights=weights)
    return None if k != k else float(k)


def icc2_1(ratings: list[list[float]]) -> float | None:
    """ICC(2,1): two-way random effects, absolute agreement, one rater (Shrout & Fleiss 1979).

    ``ratings``: one row per target (here a session's principle), one column per rater.
    ``(MSR − MSE) / (MSR + (k−1)·MSE + k·(MSC − MSE)/n)`` with MSR, MSC and MSE the mean
    squares of rows (targets), columns (raters) and the residual of a two-way ANOVA without
    replication. A short formula instead of a statistics package (pingouin is not in this
    environment); ``tests/test_double_coding.py`` checks it against Shrout & Fleiss's worked
    example (Table 2: ICC(2,1) = 0.29). None when undefined (fewer than 2 targets, or no
    variance at all).
    """
    import numpy as np

    x = np.asarray(ratings, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        return None
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc = ss_rows / (n - 1), ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    denom = msr + (k - 1) * mse + k * (msc - mse) / n
    if denom <= 0:
        return None
    return float((msr - mse) / denom)


def _accuracy(a: list[Any], b: list[Any]) -> float | None:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a) if a else None


def review_link(session_id: str, utterance_id: str) -> str:
    """The line in the review screen (``review.js`` selects ``?line=``)."""
    return f"/ui/?session={session_id}&line={utterance_id}"


# ---------------------------------------------------------------------- the mixin
class DoubleCoding(StoreCore):
    """Assign blind second passes, route the blind coder to their own decisions, report."""

    # ------------------------------------------------------------------ assignments
    def assign_blind(self, session_id: str, coder: str, user: User) -> None:
        """Ask evaluator ``coder`` to code ``session_id`` blind (audited).

        Refused when the coder is not an active evaluator who sees the session's team, is
        the one assigning, or has already decided anything in this session (they have seen
        the first coding).
        """
        user.require("session.assign")
        coder = (coder or "").strip()
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            target = s.scalar(select(UserRow).where(UserRow.name == coder))
            teams = (target.teams if target and target.teams is not None else ["*"])
            if target is None or not target.active or target.role != "evaluator":
                raise InputError(f"{coder!r} is not an active evaluator login")
            if "*" not in teams and (row.team or "") not in teams:
                raise InputError(f"{coder!r} does not see team {row.team!r}")
            if coder == user.name:
                raise InputError("the second coder must be someone else")
            seen = s.scalar(select(func.count(Decision.id)).where(
                Decision.session_id == session_id, Decision.user_name == coder,
                Decision.kind.not_in(BLIND_KINDS)))
            if seen:
                raise InputError(f"{coder} has already coded this session, so cannot code it "
                                 "blind")
            if s.scalar(select(BlindAssignment.id).where(
                    BlindAssignment.session_id == session_id, BlindAssignment.coder == coder)):
                raise InputError(f"{coder} is already assigned to this session")
            s.add(BlindAssignment(session_id=session_id, coder=coder, assigned_by=user.name))
            self.audit(s, user, "blind.assign", "session", session_id, coder=coder)

    def blind_assignments(self, user: User, session_id: str | None = None) -> list[dict[str, Any]]:
        """Blind passes a user may know of: their own, or (with ``session.assign``) every one
        in the teams they see; with the number of lines each coder has coded."""
        user.require("session.view")
        with self.rtx() as s:
            q = (select(BlindAssignment, SessionRow)
                 .join(SessionRow, SessionRow.id == BlindAssignment.session_id))
            q = _visible(q, user)
            if not user.can("session.assign"):
                q = q.where(BlindAssignment.coder == user.name)
            if session_id:
                q = q.where(BlindAssignment.session_id == session_id)
            out = []
            for a, r in s.execute(q.order_by(BlindAssignment.assigned_at)).all():
                n = s.scalar(select(func.count(BlindCode.id)).where(
                    BlindCode.session_id == a.session_id, BlindCode.coder == a.coder))
                out.append({"session_id": a.session_id, "title": r.title or a.session_id,
                            "team": r.team, "coder": a.coder, "assigned_by": a.assigned_by,
                            "assigned_at": _iso(a.assigned_at),
                            "finished_at": _iso(a.finished_at), "n_coded": int(n or 0)})
            return out

    def blind_coder_choices(self, session_id: str, user: User) -> list[str]:
        """Evaluators who could code ``session_id`` blind (for the assign form)."""
        user.require("session.assign")
        with self.rtx() as s:
            row = self._session_row(s, session_id, user=user)
            coded = set(s.scalars(select(Decision.user_name).where(
                Decision.session_id == session_id, Decision.kind.not_in(BLIND_KINDS))))
            taken = set(s.scalars(select(BlindAssignment.coder).where(
                BlindAssignment.session_id == session_id)))
            out = []
            for u in s.scalars(select(UserRow).where(UserRow.role == "evaluator",
                                                     UserRow.active.is_(True))
                               .order_by(UserRow.name)):
                teams = u.teams if u.teams is not None else ["*"]
                if ("*" in teams or (row.team or "") in teams) and u.name != user.name \
                        and u.name not in coded | taken:
                    out.append(u.name)
            return out

    def _open_pass(self, s: OrmSession, session_id: str, user: User) -> BlindAssignment | None:
        if user.role != "evaluator":  # only evaluators are ever assigned
            return None
        return s.scalar(select(BlindAssignment).where(
            BlindAssignment.session_id == session_id, BlindAssignment.coder == user.name,
            BlindAssignment.finished_at.is_(None)))

    def is_blind(self, session_id: str, user: User) -> bool:
        """Whether ``user`` is coding ``session_id`` blind right now."""
        if user.role != "evaluator":
            return False
        with self.rtx() as s:
            return self._open_pass(s, session_id, user) is not None

    def finish_blind_pass(self, session_id: str, user: User) -> None:
        """Close the user's blind pass (the agreement report then counts it as finished;
        from now on the coder sees the session as any evaluator does)."""
        user.require("session.edit")
        with self.tx() as s:
            self._session_row(s, session_id, user=user)
            a = self._open_pass(s, session_id, user)
            if a is None:
                raise InputError(f"no open blind pass of yours on session {session_id!r}")
            a.finished_at = utcnow()
            s.add(Decision(session_id=session_id, kind="blind.status", target="",
                           old_value="open", new_value="finished", user_name=user.name))
            self.audit(s, user, "blind.finish", "session", session_id)

    # ------------------------------------------------------------------ blind writes
    def _blind_code(self, session_id: str, utterance_id: str, code: str | None, user: User,
                    expected: Any, note: str | None) -> None:
        with self.tx() as s:
            self._session_row(s, session_id, lock=True, user=user)
            found = s.scalar(select(UtteranceRow.id).where(
                UtteranceRow.session_id == session_id, UtteranceRow.utterance_id == utterance_id))
            if found is None:
                raise InputError(f"no utterance {utterance_id!r} in session {session_id!r}")
            mine = s.scalar(select(BlindCode).where(
                BlindCode.session_id == session_id, BlindCode.utterance_id == utterance_id,
                BlindCode.coder == user.name))
            old = mine.code if mine else None
            if expected is not ANY_VALUE and (expected or None) != old:
                raise StaleEdit(f"changed to {old or 'no confirmed code'} since your view was "
                                "drawn (in another tab?)", current=old, by=user.name,
                                at=_iso(mine.at) if mine else None)
            if code is None:
                if mine is not None:
                    s.delete(mine)
            elif mine is None:
                s.add(BlindCode(session_id=session_id, utterance_id=utterance_id,
                                coder=user.name, code=code))
            else:
                mine.code, mine.at = code, utcnow()
            s.add(Decision(session_id=session_id, kind="blind.code", target=utterance_id,
                           old_value=old, new_value=code, note=note, user_name=user.name))
            self.audit(s, user, "blind.code.set", "session", session_id, target=utterance_id)

    def set_code(self, session_id: str, utterance_id: str, code: str, user: User,
                 expected: Any = ANY_VALUE) -> None:
        if self.is_blind(session_id, user):
            user.require("session.edit")
            if code not in self._known_codes(session_id):
                raise InputError(f"unknown code {code!r}")
            return self._blind_code(session_id, utterance_id, code, user, expected, None)
        return super().set_code(session_id, utterance_id, code, user, expected)  # type: ignore[misc]

    def accept_code(self, session_id: str, utterance_id: str, user: User,
                    expected: Any = ANY_VALUE) -> str:
        if self.is_blind(session_id, user):
            user.require("session.edit")
            with self.rtx() as s:
                code = s.scalar(select(Suggestion.code).where(
                    Suggestion.session_id == session_id, Suggestion.utterance_id == utterance_id,
                    Suggestion.rank == 0))
            if code is None:
                raise InputError(f"utterance {utterance_id!r} has no suggested code to accept")
            self._blind_code(session_id, utterance_id, code, user, expected,
                             "accepted suggestion")
            return code
        return super().accept_code(session_id, utterance_id, user, expected)  # type: ignore[misc]

    def clear_code(self, session_id: str, utterance_id: str, user: User,
                   expected: Any = ANY_VALUE) -> None:
        if self.is_blind(session_id, user):
            user.require("session.edit")
            return self._blind_code(session_id, utterance_id, None, user, expected, "cleared")
        return super().clear_code(session_id, utterance_id, user, expected)  # type: ignore[misc]

    def set_role(self, session_id: str, speaker_id: str, role: str, user: User) -> None:
        if self.is_blind(session_id, user):
            raise InputError("speaker roles are fixed in a blind pass (the model's roles); "
                             "code the lines only")
        return super().set_role(session_id, speaker_id, role, user)  # type: ignore[misc]

    def confirm_score(self, session_id: str, principle: str, value: float, note: str | None,
                      user: User) -> None:
        if not self.is_blind(session_id, user):
            return super().confirm_score(  # type: ignore[misc]
                session_id, principle, value, note, user)
        user.require("session.edit")
        if principle not in PRINCIPLES:
            raise InputError(f"unknown principle {principle!r}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InputError(f"score {value!r} is not a number") from None
        if not (1.0 <= value <= 5.0) or value * 2 != int(value * 2):
            raise InputError(f"score {value} must be 1-5 in steps of 0.5")
        with self.tx() as s:
            self._session_row(s, session_id, lock=True, user=user)
            mine = s.scalar(select(BlindScore).where(
                BlindScore.session_id == session_id, BlindScore.principle == principle,
                BlindScore.coder == user.name))
            old = mine.value if mine else None
            if mine is None:
                mine = BlindScore(session_id=session_id, principle=principle, coder=user.name,
                                  value=value)
                s.add(mine)
            mine.value, mine.note, mine.at = value, (note or "").strip() or None, utcnow()
            s.add(Decision(session_id=session_id, kind="blind.score", target=principle,
                           old_value=None if old is None else str(old), new_value=str(value),
                           note=mine.note, user_name=user.name))
            self.audit(s, user, "blind.score.set", "session", session_id, target=principle)

    def mark_reviewed(self, session_id: str, user: User, reviewed: bool = True,
                      allow_unconfirmed: bool = True) -> dict[str, Any]:
        """In a blind pass, "Mark reviewed" finishes the pass (the first coder's review
        state is theirs); reopening is not part of a blind pass."""
        if self.is_blind(session_id, user):
            if not reviewed:
                self._refuse_blind(session_id, user, "Reopening the session")
            need = self.review_need(session_id, user)
            self.finish_blind_pass(session_id, user)
            return {"status": "reviewed", "unconfirmed": need["unconfirmed"]}
        return super().mark_reviewed(  # type: ignore[misc]
            session_id, user, reviewed, allow_unconfirmed=allow_unconfirmed)

    # ------------------------------------------------------------------ blind reads
    # ---- write paths that must not reach the shared session in a blind pass -------------
    # A blind coder codes the transcript as it is: correcting it, undoing through the shared
    # journal, bulk accepting or changing metadata would touch the first coder's session (or
    # measure the model rather than the coder), so each is refused with a reason.

    def _refuse_blind(self, session_id: str, user: User, what: str) -> None:
        if self.is_blind(session_id, user):
            raise InputError(f"{what} is not part of a blind pass: you code the transcript as "
                             "it is, one line at a time (set a code again to change it)")

    def reassign_utterance(self, session_id: str, *args: Any, **kw: Any) -> Any:
        self._refuse_blind(session_id, _user_arg(args, kw), "Correcting the transcript")
        return super().reassign_utterance(session_id, *args, **kw)  # type: ignore[misc]

    def edit_text(self, session_id: str, *args: Any, **kw: Any) -> Any:
        self._refuse_blind(session_id, _user_arg(args, kw), "Correcting the transcript")
        return super().edit_text(session_id, *args, **kw)  # type: ignore[misc]

    def split_utterance(self, session_id: str, *args: Any, **kw: Any) -> Any:
        self._refuse_blind(session_id, _user_arg(args, kw), "Correcting the transcript")
        return super().split_utterance(session_id, *args, **kw)  # type: ignore[misc]

    def merge_with_next(self, session_id: str, *args: Any, **kw: Any) -> Any:
        self._refuse_blind(session_id, _user_arg(args, kw), "Correcting the transcript")
        return super().merge_with_next(session_id, *args, **kw)  # type: ignore[misc]

    def retime_utterance(self, session_id: str, *args: Any, **kw: Any) -> Any:
        self._refuse_blind(session_id, _user_arg(args, kw), "Correcting the transcript")
        return super().retime_utterance(session_id, *args, **kw)  # type: ignore[misc]

    def resplit_speakers(self, session_id: str, *args: Any, **kw: Any) -> Any:
        self._refuse_blind(session_id, _user_arg(args, kw), "Re-splitting speakers")
        return super().resplit_speakers(session_id, *args, **kw)  # type: ignore[misc]

    def undo_correction(self, session_id: str, *args: Any, **kw: Any) -> Any:
        self._refuse_blind(session_id, _user_arg(args, kw), "Undoing a correction")
        return super().undo_correction(session_id, *args, **kw)  # type: ignore[misc]

    def undo(self, session_id: str, user: User) -> dict[str, Any]:
        self._refuse_blind(session_id, user, "Undo")
        return super().undo(session_id, user)  # type: ignore[misc]

    def redo(self, session_id: str, user: User) -> dict[str, Any]:
        self._refuse_blind(session_id, user, "Redo")
        return super().redo(session_id, user)  # type: ignore[misc]

    def accept_above(self, session_id: str, threshold: Any, user: User) -> dict[str, Any]:
        self._refuse_blind(session_id, user, "Accepting suggestions in bulk")
        return super().accept_above(session_id, threshold, user)  # type: ignore[misc]

    def update_session_meta(self, session_id: str, meta: dict[str, Any], user: User
                            ) -> Any:
        self._refuse_blind(session_id, user, "Changing the session's details")
        return super().update_session_meta(session_id, meta, user)  # type: ignore[misc]

    def flags(self, session_id: str, user: User) -> dict[str, str]:
        """A blind coder sees no flags: they come from the first coder's corrections."""
        if self.is_blind(session_id, user):
            return {}
        return super().flags(session_id, user)  # type: ignore[misc]

    def corrections(self, session_id: str, user: User) -> list[dict[str, Any]]:
        if self.is_blind(session_id, user):
            return []
        return super().corrections(session_id, user)  # type: ignore[misc]

    def review_need(self, session_id: str, user: User, threshold: Any = None
                    ) -> dict[str, Any]:
        """For a blind coder, counted from their own codes (never the first coder's)."""
        if not self.is_blind(session_id, user):
            return super().review_need(session_id, user, threshold)  # type: ignore[misc]
        mine = self.get_decisions(session_id, user).get("codes", {})
        n = len(self.get_session(session_id, user).utterances)
        done = sum(1 for v in mine.values() if (v or {}).get("code"))
        return {"n_utterances": n, "unconfirmed": n - done, "at_or_above": None,
                "threshold": threshold}

    def _blind_status(self, s: OrmSession, session_id: str, coder: str) -> tuple[str, int]:
        n = s.scalar(select(func.count(BlindCode.id)).where(
            BlindCode.session_id == session_id, BlindCode.coder == coder)) or 0
        return ("in_progress" if n else "unreviewed"), int(n)

    def get_session(self, session_id: str, user: User) -> Session:
        if not self.is_blind(session_id, user):
            return super().get_session(session_id, user)  # type: ignore[misc]
        from msw_audio.scoring.rubric import score_session

        user.require("session.view")
        with self.rtx() as s:
            row = self._session_row(s, session_id, user=user)
            session = self._session_from_rows(s, row)
            model: dict[str, list[CodeSuggestion]] = {}
            for g in s.scalars(select(Suggestion).where(Suggestion.session_id == session_id)
                               .order_by(Suggestion.utterance_id, Suggestion.rank)):
                model.setdefault(g.utterance_id, []).append(
                    CodeSuggestion(g.code, g.probability, g.source))
            mine = {b.utterance_id: b.code for b in s.scalars(select(BlindCode).where(
                BlindCode.session_id == session_id, BlindCode.coder == user.name))}
            suggested_roles = {k.speaker_id: k.suggested_role for k in s.scalars(
                select(SpeakerRow).where(SpeakerRow.session_id == session_id))}
            ingest_scores = {p.principle: p for p in s.scalars(select(PrincipleScore).where(
                PrincipleScore.session_id == session_id))}
            my_scores = {b.principle: b for b in s.scalars(select(BlindScore).where(
                BlindScore.session_id == session_id, BlindScore.coder == user.name))}
            codebook = self._codebook_of(row.models)
        for u in session.utterances:
            codes = model.get(u.id, [])
            code = mine.get(u.id)
            u.codes = ([CodeSuggestion(code, 1.0, "evaluator")]
                       + [c for c in codes if c.code != code]) if code else codes
        for sp in session.speakers:
            sp.role = suggested_roles.get(sp.id, sp.role)
        scores = score_session(session, codebook=codebook, evidence=False) if row.scores else None
        if scores is not None:
            for name, entry in scores.get("principles", {}).items():
                p = ingest_scores.get(name)
                entry["evidence"] = list(p.evidence or []) if p else []
                b = my_scores.get(name)
                entry["confirmed"] = b.value if b else None
                entry["note"] = b.note if b else None
        session.scores = scores
        return session

    def get_decisions(self, session_id: str, user: User) -> dict[str, Any]:
        if not self.is_blind(session_id, user):
            return super().get_decisions(session_id, user)  # type: ignore[misc]
        user.require("session.view")
        with self.rtx() as s:
            self._session_row(s, session_id, user=user)
            top = {g.utterance_id: g for g in s.scalars(select(Suggestion).where(
                Suggestion.session_id == session_id, Suggestion.rank == 0))}
            codes = {
                b.utterance_id: {
                    "code": b.code,
                    "suggested": top[b.utterance_id].code if b.utterance_id in top else None,
                    "suggested_probability": (top[b.utterance_id].probability
                                              if b.utterance_id in top else None),
                    "by": b.coder, "at": _iso(b.at)}
                for b in s.scalars(select(BlindCode).where(
                    BlindCode.session_id == session_id, BlindCode.coder == user.name))
            }
            scores = {
                b.principle: {"value": b.value, "note": b.note, "suggested": None,
                              "by": b.coder, "at": _iso(b.at)}
                for b in s.scalars(select(BlindScore).where(
                    BlindScore.session_id == session_id, BlindScore.coder == user.name))
            }
            status, _n = self._blind_status(s, session_id, user.name)
        return {"status": status, "reviewed_by": None, "reviewed_at": None, "codes": codes,
                "roles": {}, "scores": scores, "blind": True}

    def session_meta(self, session_id: str, user: User) -> dict[str, Any]:
        meta = super().session_meta(session_id, user)  # type: ignore[misc]
        if self.is_blind(session_id, user):
            with self.rtx() as s:
                status, _n = self._blind_status(s, session_id, user.name)
            meta.update(status=status, reviewed_at=None, reviewed_by=None, blind=True)
        return meta

    def decision_history(self, session_id: str, user: User) -> list[dict[str, Any]]:
        """The blind coder sees only their own blind decisions; everyone else sees the
        session's ordinary history (the two codings meet in the agreement report)."""
        history = super().decision_history(session_id, user)  # type: ignore[misc]
        if self.is_blind(session_id, user):
            return [h for h in history if h["kind"] in BLIND_KINDS and h["by"] == user.name]
        return [h for h in history if h["kind"] not in BLIND_KINDS]

    def _blind_counts(self, user: User) -> dict[str, int]:
        if user.role != "evaluator":
            return {}
        with self.rtx() as s:
            ids = list(s.scalars(select(BlindAssignment.session_id).where(
                BlindAssignment.coder == user.name, BlindAssignment.finished_at.is_(None))))
            return {sid: self._blind_status(s, sid, user.name)[1] for sid in ids}

    def _summaries(self, user: User, session_id: str | None = None) -> list[Any]:
        """The queue rows; a session coded blind shows the coder's own progress."""
        out = super()._summaries(user, session_id)  # type: ignore[misc]
        blind = self._blind_counts(user)
        for row in out:
            if row.id in blind:
                row.n_confirmed = blind[row.id]
                row.status = "in_progress" if blind[row.id] else "unreviewed"
        return out

    # ------------------------------------------------------------------ the report
    def double_coding_report(self, user: User, session_id: str | None = None,
                             team: str | None = None) -> dict[str, Any]:
        """Agreement of first and second (blind) coders, for one session, one team or all
        the sessions the user sees.

        ``codes``: Cohen's κ (scikit-learn) and raw agreement over the lines both coded,
        and one-vs-rest κ per code; ``principles``: ICC(2,1) (``icc2_1``) and
        quadratic-weighted κ over the 1-5 half-point scale per principle, across the
        sessions' confirmed pairs, plus all principles pooled; ``model``: each coder's
        κ with the model's top suggestion on the same lines (anchoring shows here);
        ``disagreements``: each line where they differ, with ``link`` to it in the review
        screen; ``passes``: each blind pass and its state. A user coding a session blind
        never gets that session in a report.
        """
        user.require("agreement.view")
        from msw_audio.review.core import _not_blind

        with self.rtx() as s:
            q = _not_blind(_visible(select(SessionRow), user), user)
            if session_id:
                q = q.where(SessionRow.id == session_id)
            if team:
                q = q.where(SessionRow.team == team)
            sessions = {r.id: r for r in s.scalars(q)}
            if session_id and session_id not in sessions:
                raise InputError(f"no session {session_id!r}")
            passes = list(s.scalars(select(BlindAssignment).where(
                BlindAssignment.session_id.in_(sessions)).order_by(BlindAssignment.id)))
            pairs: list[dict[str, Any]] = []
            score_pairs: list[dict[str, Any]] = []
            for a in passes:
                sid = a.session_id
                first = {u.utterance_id: u for u in s.scalars(select(UtteranceRow).where(
                    UtteranceRow.session_id == sid, UtteranceRow.confirmed_code.is_not(None)))}
                top = {g.utterance_id: g.code for g in s.scalars(select(Suggestion).where(
                    Suggestion.session_id == sid, Suggestion.rank == 0))}
                for b in s.scalars(select(BlindCode).where(
                        BlindCode.session_id == sid, BlindCode.coder == a.coder)):
                    u = first.get(b.utterance_id)
                    if u is None:
                        continue
                    pairs.append({"session_id": sid, "utterance_id": u.utterance_id,
                                  "idx": u.idx, "start": u.start, "text": u.text,
                                  "first": u.confirmed_code, "first_coder": u.confirmed_by,
                                  "second": b.code, "second_coder": a.coder,
                                  "model": top.get(u.utterance_id)})
                firsts = {p.principle: p for p in s.scalars(select(PrincipleScore).where(
                    PrincipleScore.session_id == sid, PrincipleScore.confirmed.is_not(None)))}
                for b in s.scalars(select(BlindScore).where(
                        BlindScore.session_id == sid, BlindScore.coder == a.coder)):
                    p = firsts.get(b.principle)
                    if p is not None:
                        score_pairs.append({"session_id": sid, "principle": b.principle,
                                            "first": p.confirmed, "first_coder": p.confirmed_by,
                                            "second": b.value, "second_coder": a.coder})
        pairs.sort(key=lambda p: (p["session_id"], p["idx"]))
        return {
            "scope": {"session_id": session_id, "team": team, "n_sessions": len(
                {a.session_id for a in passes})},
            "passes": [{"session_id": a.session_id, "title": sessions[a.session_id].title,
                        "team": sessions[a.session_id].team, "coder": a.coder,
                        "assigned_by": a.assigned_by, "finished": a.finished_at is not None}
                       for a in passes],
            "codes": _code_agreement(pairs),
            "model": {
                "first": cohen_kappa([p["first"] for p in pairs if p["model"]],
                                     [p["model"] for p in pairs if p["model"]]),
                "second": cohen_kappa([p["second"] for p in pairs if p["model"]],
                                      [p["model"] for p in pairs if p["model"]]),
            },
            "principles": _score_agreement(score_pairs),
            "score_pairs": score_pairs,
            "pairs": [{k: v for k, v in p.items() if k != "idx"} for p in pairs],
            "disagreements": [
                {**{k: v for k, v in p.items() if k != "idx"},
                 "link": review_link(p["session_id"], p["utterance_id"])}
                for p in pairs if p["first"] != p["second"]
            ],
        }

    def export_double_coding(self, user: User, fmt: str, session_id: str | None = None,
                             team: str | None = None) -> str:
        """The report for the research view: ``csv`` (one row per coded pair, ids and codes,
        no transcript text) or ``json`` (the whole report, text left out)."""
        user.require("export")
        report = self.double_coding_report(user, session_id=session_id, team=team)
        with self.tx() as s:
            self.audit(s, user, "export.double_coding", "session" if session_id else "",
                       session_id or "", format=fmt, team=team or "")
        if fmt == "json":
            for key in ("pairs", "disagreements"):
                report[key] = [{k: v for k, v in p.items() if k != "text"} for p in report[key]]
            return json.dumps(report, indent=1)
        if fmt != "csv":
            raise InputError(f"unknown export format {fmt!r}: use csv or json")
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["kind", "session_id", "target", "start", "first", "second", "first_coder",
                    "second_coder", "model", "agree"])
        for p in report["pairs"]:
            w.writerow(["code", p["session_id"], p["utterance_id"], p["start"], p["first"],
                        p["second"], p["first_coder"], p["second_coder"], p["model"] or "",
                        int(p["first"] == p["second"])])
        for p in report["score_pairs"]:
            w.writerow(["score", p["session_id"], p["principle"], "", p["first"], p["second"],
                        p["first_coder"], p["second_coder"], "", int(p["first"] == p["second"])])
        return buf.getvalue()


def _code_agreement(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    a = [p["first"] for p in pairs]
    b = [p["second"] for p in pairs]
    per_code = {}
    for c in sorted(set(a) | set(b)):
        x = [v == c for v in a]
        y = [v == c for v in b]
        per_code[c] = {"kappa": cohen_kappa(x, y), "n_first": sum(x), "n_second": sum(y)}
    return {"n": len(pairs), "kappa": cohen_kappa(a, b), "agreement": _accuracy(a, b),
            "per_code": per_code}


def _score_agreement(score_pairs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    groups = [(name, [p for p in score_pairs if p["principle"] == name])
              for name in PRINCIPLES] + [("all", score_pairs)]
    for name, ps in groups:
        if not ps:
            continue
        a = [round(p["first"] * 2) for p in ps]
        b = [round(p["second"] * 2) for p in ps]
        out[name] = {
            "n": len(ps),
            "icc2_1": icc2_1([[p["first"], p["second"]] for p in ps]),
            "kappa_quadratic": cohen_kappa(a, b, labels=SCORE_LEVELS, weights="quadratic"),
            "mean_abs_diff": sum(abs(x - y) for x, y in zip(a, b, strict=True)) / (2 * len(ps)),
        }
    return out


def _user_arg(args: tuple[Any, ...], kw: dict[str, Any]) -> User:
    """The ``user`` of a correction call, by keyword or as the first ``User`` positional."""
    if "user" in kw:
        return kw["user"]
    for a in args:
        if isinstance(a, User):
            return a
    raise TypeError("a correction needs the user who makes it")
