"""Research exports as downloads (the store scopes and pseudonymises what they hold)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from msw_audio.review.auth import User
from msw_audio.review.store import Store
from msw_audio.web.deps import _call, current_user


def router(store: Store) -> APIRouter:
    """``/export/labels.csv`` and ``/export/scores.jsonl``."""
    api = APIRouter()

    @api.get("/export/labels.csv")
    def export_labels(request: Request) -> Response:
        return _export(request, store.export_labels, "confirmed-labels.csv", "text/csv")

    @api.get("/export/scores.jsonl")
    def export_scores(request: Request) -> Response:
        return _export(request, store.export_scores, "confirmed-scores.jsonl", "application/jsonl")

    def _export(
        request: Request, fn: Callable[[Path, User], int], name: str, media: str
    ) -> Response:
        user = current_user(request)
        tmp_dir = store.paths.cache / "exports"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        path = tmp_dir / f"{secrets.token_hex(8)}-{name}"
        _call(fn, path, user)
        body = path.read_bytes()
        path.unlink(missing_ok=True)
        return Response(
            body,
            media_type=media,
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )

    return api
