"""JSON routes for undo / redo, review by exception and reopening a reviewed session.

Every route checks the login (``current_user``) and, for writes, the ``X-MSW`` header
(``_check_csrf``); role, team scope and the read-only state of a reviewed session are
enforced by the store (``review.history``, ``review.by_exception``, ``review.decisions``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from msw_audio.review.auth import User
from msw_audio.review.store import Store
from msw_audio.web.deps import _call, _check_csrf, current_user


def router(store: Store) -> APIRouter:
    api = APIRouter()

    def _progress(session_id: str, user: User) -> dict[str, Any]:
        summary = store.session_summary(session_id, user)
        need = store.review_need(session_id, user)
        return {
            "status": summary.status if summary else "",
            "n_confirmed": summary.n_confirmed if summary else 0,
            "n_utterances": summary.n_utterances if summary else 0,
            "unconfirmed": need["unconfirmed"],
        }

    def _write(request: Request) -> User:
        _check_csrf(request)
        return current_user(request)

    @api.post("/api/sessions/{session_id}/undo")
    def undo(session_id: str, request: Request) -> dict[str, Any]:
        user = _write(request)
        return _call(store.undo, session_id, user) | _progress(session_id, user)

    @api.post("/api/sessions/{session_id}/redo")
    def redo(session_id: str, request: Request) -> dict[str, Any]:
        user = _write(request)
        return _call(store.redo, session_id, user) | _progress(session_id, user)

    @api.post("/api/sessions/{session_id}/accept-above")
    def accept_above(session_id: str, request: Request,
                     percent: float = Body(..., embed=True)) -> dict[str, Any]:
        """Accept every unconfirmed suggestion at or above ``percent`` % confidence."""
        user = _write(request)
        done = _call(store.accept_above, session_id, percent / 100.0, user)
        return done | _progress(session_id, user)

    @api.post("/api/sessions/{session_id}/reopen")
    def reopen(session_id: str, request: Request) -> dict[str, Any]:
        user = _write(request)
        _call(store.reopen, session_id, user)
        return _progress(session_id, user)

    @api.get("/api/sessions/{session_id}/review-need")
    def review_need(session_id: str, request: Request,
                    percent: float | None = None) -> dict[str, Any]:
        """Lines still needing a person, and how many a bulk accept would confirm now."""
        user = current_user(request)
        t = None if percent is None else percent / 100.0
        return _call(store.review_need, session_id, user, t) | {
            "history": _call(store.history_depth, session_id, user)}

    return api
