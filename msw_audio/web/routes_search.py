"""The review screen's search across sessions: ``GET /api/search?q=…&regex=1``.

Team scope, pseudonyms and the pattern's limits are the store's
(``review.transcript_search``); this route only turns its errors into HTTP codes (an
invalid or too slow pattern is a 400 with the reason).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from msw_audio.review.store import Store
from msw_audio.web.deps import _call, current_user


def router(store: Store) -> APIRouter:
    api = APIRouter()

    @api.get("/api/search")
    def search(request: Request, q: str = "", regex: int = 0) -> dict[str, Any]:
        user = current_user(request)
        out = _call(store.search_transcripts, user, q, bool(regex))
        for hit in out["hits"]:
            hit["link"] = f"/ui/?session={hit['session_id']}&line={hit['utterance_id']}"
        return out

    return api
