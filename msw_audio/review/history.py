"""Undo and redo of review decisions, on the server, so they survive a reload.

Why a journal table (``history``, migration 0005) and not the ``decisions`` log alone: one
reviewer action can change many targets (a bulk accept confirms hundreds of lines, and one
undo must revert all of it), and restoring a line needs its whole earlier state (who
confirmed it and when), not only the old code. Each journal entry is one action by one
login in one session, holding every changed target's state before and after.

Rules:

* ``Store.undo(session, user)`` reverts that login's latest ``done`` entry in the session;
  ``Store.redo`` re-applies its earliest ``undone`` one. A new action ends the redo
  (``undone`` entries become ``dropped``), as in any editor.
* Nothing is overwritten silently: each target must still hold the state the entry left
  (for redo: the state it found), else ``StaleEdit`` (409) and nothing changes — another
  evaluator's later decision is never undone by mine.
* Each undo / redo is itself a decision (``decisions`` rows with note ``undo`` / ``redo``,
  old -> new) and one audit row (``history.undo`` / ``history.redo``); the figures are
  recomputed (``_rescore``) in the same transaction.
* A reviewed session is read-only: only the "mark reviewed" entry itself may be undone
  (that is a reopen, as the reopen route does).

Adding a kind (e.g. transcript corrections): in the mixin that owns the change, define

    def _state_<kind>(self, s, row, target) -> dict      # {"value": ..., anything else}
    def _restore_<kind>(self, s, row, target, state) -> None

and, in the same transaction as the change, call
``self._journal(s, row, user, action, label, [change(kind, target, before, after)])``.
``value`` is what is compared to detect a conflicting later edit and what the
``decisions`` row records; the other keys (who, when, notes) are restored with it. A kind
in ``RESCORE_KINDS`` also recomputes the figures after an undo or redo.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session as OrmSession

from msw_audio.errors import InputError, ReadOnlySession, StaleEdit
from msw_audio.review.auth import User
from msw_audio.review.core import StoreCore, _iso
from msw_audio.review.db import HistoryEntry, SessionRow, utcnow

#: kinds whose undo changes what the figures are computed from
RESCORE_KINDS = frozenset({"code", "role"})
#: journal entries of these kinds may be undone on a reviewed session (they reopen it)
STATE_KINDS = frozenset({"status"})


def change(kind: str, target: str, before: dict[str, Any], after: dict[str, Any]
           ) -> dict[str, Any]:
    """One journal change: ``target`` of ``kind`` went from ``before`` to ``after``."""
    return {"kind": kind, "target": target, "before": before, "after": after}


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("value") == b.get("value") and a.get("note") == b.get("note")


class History(StoreCore):
    """The per-session journal and ``undo`` / ``redo`` over it."""

    # ------------------------------------------------------------------ recording
    def _journal(self, s: OrmSession, row: SessionRow, user: User, action: str, label: str,
                 changes: list[dict[str, Any]]) -> None:
        """Record one action (in the caller's transaction); no-op changes are left out."""
        changes = [c for c in changes if not _same(c["before"], c["after"])]
        if not changes:
            return
        s.execute(
            update(HistoryEntry)
            .where(HistoryEntry.session_id == row.id, HistoryEntry.user_name == user.name,
                   HistoryEntry.state == "undone")
            .values(state="dropped")
        )
        s.add(HistoryEntry(session_id=row.id, user_name=user.name, action=action,
                           label=label[:255], changes=changes, state="done", at=utcnow()))

    def _history_state(self, s: OrmSession, row: SessionRow, kind: str, target: str
                       ) -> dict[str, Any]:
        reader = getattr(self, f"_state_{kind}", None)
        if reader is None:
            raise InputError(f"the journal holds a {kind!r} change this version cannot undo")
        return reader(s, row, target)

    # ------------------------------------------------------------------ undo / redo
    def undo(self, session_id: str, user: User) -> dict[str, Any]:
        """Revert ``user``'s latest action in the session (see the module docstring)."""
        return self._step(session_id, user, "undo")

    def redo(self, session_id: str, user: User) -> dict[str, Any]:
        """Re-apply ``user``'s most recently undone action in the session."""
        return self._step(session_id, user, "redo")

    def history_depth(self, session_id: str, user: User) -> dict[str, int]:
        """How many steps ``user`` can undo and redo in the session (for the screen)."""
        user.require("session.view")
        with self.rtx() as s:
            self._session_row(s, session_id, user=user)
            states = list(s.scalars(select(HistoryEntry.state).where(
                HistoryEntry.session_id == session_id, HistoryEntry.user_name == user.name,
                HistoryEntry.state.in_(("done", "undone")))))
        return {"undo": states.count("done"), "redo": states.count("undone")}

    def _step(self, session_id: str, user: User, how: str) -> dict[str, Any]:
        user.require("session.edit")
        undo = how == "undo"
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            q = select(HistoryEntry).where(
                HistoryEntry.session_id == session_id, HistoryEntry.user_name == user.name,
                HistoryEntry.state == ("done" if undo else "undone"))
            q = q.order_by(HistoryEntry.id.desc() if undo else HistoryEntry.id.asc()).limit(1)
            entry = s.scalar(q)
            if entry is None:
                return {"done": False, "message": f"Nothing to {how}", "status": row.status}
            to, frm = ("before", "after") if undo else ("after", "before")
            kinds = {c["kind"] for c in entry.changes}
            if row.status == "reviewed" and not kinds <= STATE_KINDS:
                by = f" by {row.reviewed_by}" if row.reviewed_by else ""
                raise ReadOnlySession(
                    f"session is marked reviewed{by}: reopen it before you {how} changes")
            for c in entry.changes:
                now = self._history_state(s, row, c["kind"], c["target"])
                if not _same(now, c[frm]):
                    raise StaleEdit(
                        f"{c['target']} was changed since (by {now.get('by') or 'someone'}"
                        f"{' at ' + now['at'] if now.get('at') else ''}): {how} refused, "
                        "nothing changed", current=_text(now.get("value")), by=now.get("by"),
                        at=now.get("at"))
            for c in entry.changes:
                getattr(self, f"_restore_{c['kind']}")(s, row, c["target"], c[to])
                self._decide(s, row, user, c["kind"], c["target"], c[frm].get("value"),
                             c[to].get("value"), how, rescore=False, audited=False)
            if kinds & RESCORE_KINDS and row.scores:
                self._rescore(s, row, evidence=False)
            elif "status" in kinds and row.status == "reviewed" and row.scores:
                self._rescore(s, row, evidence=True)
            entry.state = "undone" if undo else "done"
            entry.undone_at = utcnow() if undo else None
            self.audit(s, user, f"history.{how}", "session", row.id, entry=entry.id,
                       kind=entry.action, changes=len(entry.changes))
            return {"done": True, "action": entry.action, "label": entry.label,
                    "message": f"{'Undone' if undo else 'Redone'}: {entry.label}",
                    "targets": [c["target"] for c in entry.changes], "status": row.status,
                    "at": _iso(entry.at)}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
