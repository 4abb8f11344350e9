"""The review screen's JSON routes: session data, the review fragment, and decisions.

Each decision route checks CSRF, takes the logged-in user and calls one ``Store`` method;
permission, team scope and stale-edit checks happen in the store.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import HTMLResponse

from msw_audio.review.auth import User
from msw_audio.review.store import Store
from msw_audio.web.deps import _EXPECTED, _call, _check_csrf, _expected, current_user


def router(store: Store) -> APIRouter:
    """``/api/me``, ``/api/sessions…`` and ``/fragment/review/{session_id}``."""
    api = APIRouter()

    @api.get("/api/me")
    def me(request: Request) -> dict[str, Any]:
        user = current_user(request)
        return {"name": user.name, "role": user.role}

    @api.get("/api/sessions")
    def sessions_list(request: Request) -> list[dict[str, Any]]:
        user = current_user(request)
        return [vars(s) | {"progress": s.progress} for s in _call(store.list_sessions, user)]

    @api.get("/api/sessions/{session_id}")
    def session_data(session_id: str, request: Request) -> dict[str, Any]:
        user = current_user(request)
        session = _call(store.get_session, session_id, user)
        return {
            "meta": _call(store.session_meta, session_id, user),
            "session": session.to_dict(),
            "decisions": _call(store.get_decisions, session_id, user),
        }

    @api.get("/fragment/review/{session_id}", response_class=HTMLResponse)
    def review_fragment(session_id: str, request: Request, order: str = "time") -> HTMLResponse:
        """The review pane's HTML (see ``render.review_mount_html``), as this user may see it."""
        from msw_audio.web.ui import render_session

        user = current_user(request)
        html = _call(render_session, store, None, user, session_id, order)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    def _progress(session_id: str, user: User) -> dict[str, Any]:
        summary = store.session_summary(session_id, user)
        return {
            "status": summary.status if summary else "",
            "n_confirmed": summary.n_confirmed if summary else 0,
            "n_utterances": summary.n_utterances if summary else 0,
        }

    @api.post("/api/sessions/{session_id}/utterances/{utterance_id}/code")
    def set_code(
        session_id: str, utterance_id: str, request: Request, code: str = Body(..., embed=True),
        expected: str | None = _EXPECTED,
    ) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        _call(store.set_code, session_id, utterance_id, code, user, _expected(expected))
        return {"utterance_id": utterance_id, "code": code} | _progress(session_id, user)

    @api.post("/api/sessions/{session_id}/utterances/{utterance_id}/accept")
    def accept(session_id: str, utterance_id: str, request: Request,
               expected: str | None = _EXPECTED) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        code = _call(store.accept_code, session_id, utterance_id, user, _expected(expected))
        return {"utterance_id": utterance_id, "code": code} | _progress(session_id, user)

    @api.post("/api/sessions/{session_id}/utterances/{utterance_id}/clear")
    def clear(session_id: str, utterance_id: str, request: Request,
              expected: str | None = _EXPECTED) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        _call(store.clear_code, session_id, utterance_id, user, _expected(expected))
        return {"utterance_id": utterance_id, "code": None} | _progress(session_id, user)

    @api.post("/api/sessions/{session_id}/speakers/{speaker_id}/role")
    def set_role(
        session_id: str, speaker_id: str, request: Request, role: str = Body(..., embed=True)
    ) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        _call(store.set_role, session_id, speaker_id, role, user)
        return {"speaker_id": speaker_id, "role": role}

    @api.post("/api/sessions/{session_id}/scores/{principle}")
    def confirm_score(
        session_id: str,
        principle: str,
        request: Request,
        value: float = Body(...),
        note: str = Body(""),
    ) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        _call(store.confirm_score, session_id, principle, value, note, user)
        return {"principle": principle, "value": value, "note": note}

    @api.post("/api/sessions/{session_id}/reviewed")
    def reviewed(session_id: str, request: Request) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        _call(store.mark_reviewed, session_id, user)
        return _progress(session_id, user)

    return api
