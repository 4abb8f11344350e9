"""Review by exception: accept every suggestion at or above a confidence, as one action.

Why: most of a visit's lines are coded with high confidence and those codes agree with a
human coder about as often as two humans do; an evaluator's time is better spent on the
rest. ``accept_above`` confirms each still-unconfirmed line whose top suggestion is at or
above the threshold (and fits the speaker's current role) in one transaction, one audit
row and one undo/redo journal entry (``review.history``): one Ctrl+Z reverts all of it.

The default threshold is measured, not guessed: ``models/tagger/review_threshold.json``
(written by ``training/review_threshold.py`` from the tagger's out-of-fold AnnoMI codes:
the lowest threshold at which the accepted lines agree with the human codes >= 90 %).
``default_threshold`` is the one place that reads it; the store and the screen use it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from msw_audio.errors import InputError
from msw_audio.review.auth import User
from msw_audio.review.core import StoreCore
from msw_audio.review.db import SessionRow, SpeakerRow, Suggestion, UtteranceRow, utcnow
from msw_audio.review.history import change

#: where the measured default lives (beside the tagger it was measured for)
THRESHOLD_FILE = Path(__file__).resolve().parents[2] / "models" / "tagger" / "review_threshold.json"
#: used only if the model folder has no measured threshold (a clear, conservative value)
FALLBACK_THRESHOLD = 0.9


def default_threshold(path: Path = THRESHOLD_FILE) -> float:
    """The measured default "accept at or above" confidence (0-1)."""
    try:
        return float(json.loads(path.read_text(encoding="utf-8"))["default_threshold"])
    except (OSError, KeyError, ValueError, TypeError):
        return FALLBACK_THRESHOLD


def _fraction(threshold: Any) -> float:
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise InputError(f"threshold {threshold!r} is not a number") from None
    if not 0.0 < t <= 1.0:
        raise InputError(f"threshold {t} must be a confidence above 0 and at most 1 (100 %)")
    return t


class ByException(StoreCore):
    """Bulk accept above a confidence, and how many lines still need a person."""

    def accept_above(self, session_id: str, threshold: Any, user: User) -> dict[str, Any]:
        """Confirm the top suggestion of every unconfirmed line with confidence >= ``threshold``.

        Lines whose suggestion does not fit the speaker's current role are left for a person.
        Returns ``{"accepted", "threshold", "remaining", "n_utterances", "utterance_ids"}``.
        """
        user.require("session.edit")
        t = _fraction(threshold)
        with self.tx() as s:
            row: SessionRow = self._session_row(s, session_id, lock=True, user=user)
            self._check_open(row)  # Decisions
            book = self._codebook_of(row.models)
            roles = dict(s.execute(select(SpeakerRow.speaker_id, SpeakerRow.role).where(
                SpeakerRow.session_id == session_id)).all())
            top = dict(s.execute(select(Suggestion.utterance_id, Suggestion).where(
                Suggestion.session_id == session_id, Suggestion.rank == 0)).all())
            utts = list(s.scalars(select(UtteranceRow).where(
                UtteranceRow.session_id == session_id).order_by(UtteranceRow.idx)))
            changes, accepted, now, pct = [], [], utcnow(), _pct(t)
            for u in utts:
                sg = top.get(u.utterance_id)
                if u.confirmed_code or sg is None or sg.probability < t:
                    continue
                code = book.get(sg.code)
                if code is None or roles.get(u.speaker_id, "other") not in code.roles:
                    continue
                before = self._state_code(s, row, u.utterance_id)
                u.confirmed_code, u.confirmed_by, u.confirmed_at = sg.code, user.name, now
                self._decide(s, row, user, "code", u.utterance_id, None, sg.code,
                             f"accepted at >= {pct} %", rescore=False, audited=False)
                changes.append(change("code", u.utterance_id, before,
                                      self._state_code(s, row, u.utterance_id)))
                accepted.append(u.utterance_id)
            if accepted:
                self._journal(s, row, user, "bulk_accept",
                              f"accept {len(accepted)} suggestions at >= {pct} %", changes)
                if row.scores:
                    self._rescore(s, row, evidence=False)
            self.audit(s, user, "code.bulk_accept", "session", row.id, threshold=t,
                       accepted=len(accepted))
            remaining = sum(1 for u in utts if not u.confirmed_code)
            return {"accepted": len(accepted), "threshold": t, "remaining": remaining,
                    "n_utterances": len(utts), "utterance_ids": accepted}

    def review_need(self, session_id: str, user: User, threshold: Any = None
                    ) -> dict[str, Any]:
        """How many lines still need a person, and how many a bulk accept at ``threshold``
        (default: the measured one) would confirm now."""
        user.require("session.view")
        t = default_threshold() if threshold is None else _fraction(threshold)
        with self.rtx() as s:
            self._session_row(s, session_id, user=user)
            return _need(s, session_id, t)


def _need(s: OrmSession, session_id: str, t: float) -> dict[str, Any]:
    rows = s.execute(
        select(UtteranceRow.confirmed_code, Suggestion.probability)
        .outerjoin(Suggestion, (Suggestion.session_id == UtteranceRow.session_id)
                   & (Suggestion.utterance_id == UtteranceRow.utterance_id)
                   & (Suggestion.rank == 0))
        .where(UtteranceRow.session_id == session_id)).all()
    open_ = [p for code, p in rows if not code]
    return {"n_utterances": len(rows), "unconfirmed": len(open_),
            "at_or_above": sum(1 for p in open_ if p is not None and p >= t), "threshold": t}


def _pct(t: float) -> str:
    return f"{100 * t:.0f}" if abs(100 * t - round(100 * t)) < 1e-9 else f"{100 * t:.1f}"
