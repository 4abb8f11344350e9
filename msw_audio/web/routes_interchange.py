"""The review screen's ELAN / Praat import (``POST /api/sessions/{id}/annotations``) and
each login's own keys (``GET`` / ``POST /api/me/keys``).

Why routes only translate: who may import (roles with ``session.edit``), team scope, stale
lines and hostile files are decided by the store (``review.annotation_import``,
``review.keymap``). The upload is the raw file as the request body (no multipart parser
in front of the checks): a declared or actual size over the store's limit is 413 before the
rest is read; the format comes from ``?format=`` (``eaf`` / ``textgrid``); ``?dry_run=1``
previews the changes, without it they are applied.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from msw_audio.review.annotation_import import IMPORT_FORMATS, MAX_IMPORT_BYTES
from msw_audio.review.store import Store
from msw_audio.web.deps import _call, _check_csrf, current_user


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_IMPORT_BYTES:
        raise HTTPException(413, f"the file is over {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    out = bytearray()
    async for chunk in request.stream():
        out += chunk
        if len(out) > MAX_IMPORT_BYTES:
            raise HTTPException(413, f"the file is over {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    return bytes(out)


def router(store: Store) -> APIRouter:
    api = APIRouter()

    @api.post("/api/sessions/{session_id}/annotations")
    async def import_annotations(session_id: str, request: Request, format: str = "eaf",
                                 dry_run: int = 0) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        fmt = format.lower()
        if fmt not in IMPORT_FORMATS:
            raise HTTPException(400, f"import formats are {', '.join(IMPORT_FORMATS)}")
        if not user.can("session.edit"):  # before reading a byte of the body
            raise HTTPException(403, "your role cannot change this session's transcript")
        data = await _body(request)
        # the store is synchronous and an apply makes one correction per change (seconds on
        # a long session): off the event loop, so other logins' requests go on meanwhile
        return await run_in_threadpool(_call, lambda: store.import_annotations(
            session_id, data, fmt, user, dry_run=bool(dry_run)))

    @api.get("/api/me/keys")
    def keys(request: Request) -> dict[str, Any]:
        return store.key_map(current_user(request))

    @api.post("/api/me/keys")
    async def set_keys(request: Request) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(400, "send {\"keys\": {action: key}}") from None
        keys = body.get("keys") if isinstance(body, dict) else None
        return await run_in_threadpool(_call, store.set_key_map, user, keys)

    return api
