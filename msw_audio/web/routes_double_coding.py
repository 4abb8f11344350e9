"""JSON routes of blind double coding: assign a second coder, finish a pass, the agreement
report, and its exports for the research view.

The blind coder's own coding goes through the ordinary review routes (the store answers
them from the blind pass, ``review.double_coding``); nothing here returns a session's
codes to a user coding it blind (the report leaves such sessions out).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response

from msw_audio.review.store import Store
from msw_audio.web.deps import _call, _check_csrf, current_user


def router(store: Store) -> APIRouter:
    api = APIRouter()

    @api.post("/api/sessions/{session_id}/blind")
    def assign(session_id: str, request: Request, coder: str = Body(..., embed=True)
               ) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        _call(store.assign_blind, session_id, coder, user)
        return {"session_id": session_id, "coder": coder}

    @api.post("/api/sessions/{session_id}/blind/finish")
    def finish(session_id: str, request: Request) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        _call(store.finish_blind_pass, session_id, user)
        return {"session_id": session_id, "finished": True}

    @api.get("/api/blind")
    def passes(request: Request, session: str = "") -> list[dict[str, Any]]:
        user = current_user(request)
        return _call(store.blind_assignments, user, session or None)

    @api.get("/api/double-coding")
    def report(request: Request, session: str = "", team: str = "") -> dict[str, Any]:
        user = current_user(request)
        return _call(lambda: store.double_coding_report(
            user, session_id=session or None, team=team or None))

    @api.get("/export/double-coding.{fmt}")
    def export(fmt: str, request: Request, session: str = "", team: str = "") -> Response:
        user = current_user(request)
        body = _call(lambda: store.export_double_coding(
            user, fmt, session_id=session or None, team=team or None))
        media = "application/json" if fmt == "json" else "text/csv"
        return Response(body, media_type=media, headers={
            "Content-Disposition": f'attachment; filename="double-coding.{fmt}"',
            "Cache-Control": "no-store"})

    return api
