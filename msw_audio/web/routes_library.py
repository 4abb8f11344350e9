"""JSON routes of the coach library: search, star / unstar, and practice-note handouts.

Permissions and team scope are the store's (``review.library``); these routes only turn
its errors into HTTP codes. State changes need the ``X-MSW`` header (``_check_csrf``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response

from msw_audio.review.store import Store
from msw_audio.web.deps import _call, _check_csrf, current_user

#: the shortlist: ``[{session_id, utterance_id}, ...]`` (checked by the store)
_ITEMS = Body(...)
MEDIA = {"md": "text/markdown; charset=utf-8", "pdf": "application/pdf"}


def router(store: Store) -> APIRouter:
    api = APIRouter()

    @api.get("/api/library")
    def library(request: Request, q: str = "", code: str = "", team: str = "",
                worker: str = "", principle: str = "") -> list[dict[str, Any]]:
        user = current_user(request)
        return _call(lambda: store.library(user, query=q or None, code=code or None,
                                           team=team or None, worker=worker or None,
                                           principle=principle or None))

    @api.post("/api/library/star")
    def star(request: Request, session_id: str = Body(...), utterance_id: str = Body(...),
             note: str = Body("")) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        _call(store.star_exemplar, session_id, utterance_id, user, note)
        return {"session_id": session_id, "utterance_id": utterance_id, "starred": True}

    @api.post("/api/library/unstar")
    def unstar(request: Request, session_id: str = Body(...),
               utterance_id: str = Body(...)) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        _call(store.unstar_exemplar, session_id, utterance_id, user)
        return {"session_id": session_id, "utterance_id": utterance_id, "starred": False}

    @api.post("/api/library/handout")
    def handout(request: Request, items: Any = _ITEMS,
                format: str = Body("md")) -> Response:  # noqa: A002
        """The shortlist as a file download; an empty shortlist is a 400 that says so."""
        _check_csrf(request)
        user = current_user(request)
        path = _call(store.write_handout, user, items, format)
        return Response(path.read_bytes(), media_type=MEDIA[format], headers={
            "Content-Disposition": f'attachment; filename="{path.name}"',
            "Cache-Control": "no-store"})

    return api
