"""JSON routes of transcript corrections (reassign, edit, split, merge, new times, re-split,
undo) and the corrected transcript's STM / RTTM / ELAN .eaf / Praat .TextGrid download.

Why routes only translate: who may correct (evaluators and admins), team scope and stale
edits are decided by the store (``review.corrections``); a refused call is 403, a session
of another team 404, a stale view 409, bad input 400 with the reason, and nothing saved
is lost.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response

from msw_audio.review.store import ANY_VALUE, Store
from msw_audio.web.deps import _call, _check_csrf, current_user

#: The transcript downloads: file extension -> (``Store.export_transcript`` format, type).
#: Praat's extension is ``.TextGrid``; the lower-case spelling is accepted too.
_DOWNLOADS = {
    "stm": ("stm", "text/plain; charset=utf-8"),
    "rttm": ("rttm", "text/plain; charset=utf-8"),
    "eaf": ("eaf", "application/xml; charset=utf-8"),
    "TextGrid": ("textgrid", "text/plain; charset=utf-8"),
    "textgrid": ("textgrid", "text/plain; charset=utf-8"),
}

#: ``expected`` omitted: the caller did not say what it showed (scripts), nothing checked.
_ANY = "*"


def _expected(value: Any) -> Any:
    return ANY_VALUE if value == _ANY else value


def router(store: Store) -> APIRouter:
    api = APIRouter()
    base = "/api/sessions/{session_id}/utterances/{utterance_id}"

    @api.post(base + "/speaker")
    def reassign(session_id: str, utterance_id: str, request: Request,
                 speaker: str | None = Body(None, embed=True),
                 expected: str | None = Body(_ANY, embed=True)) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        return _call(store.reassign_utterance, session_id, utterance_id, speaker, user,
                     _expected(expected))

    @api.post(base + "/text")
    def edit(session_id: str, utterance_id: str, request: Request,
             text: str = Body(..., embed=True),
             expected: str | None = Body(_ANY, embed=True)) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        return _call(store.edit_text, session_id, utterance_id, text, user, _expected(expected))

    @api.post(base + "/split")
    def split(session_id: str, utterance_id: str, request: Request,
              at_word: int = Body(..., embed=True)) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        return _call(store.split_utterance, session_id, utterance_id, at_word, user)

    @api.post(base + "/merge")
    def merge(session_id: str, utterance_id: str, request: Request) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        return _call(store.merge_with_next, session_id, utterance_id, user)

    @api.post(base + "/times")
    def retime(session_id: str, utterance_id: str, request: Request,
               start: float = Body(..., embed=True), end: float = Body(..., embed=True),
               expected: tuple[float, ...] | None = Body(None, embed=True)) -> dict[str, Any]:
        """A waveform region's edge dragged: the line's new span (``review.retime``)."""
        _check_csrf(request)
        user = current_user(request)
        return _call(store.retime_utterance, session_id, utterance_id, start, end, user,
                     expected)

    @api.post("/api/sessions/{session_id}/speakers/resplit")
    def resplit(session_id: str, request: Request,
                num_speakers: int | None = Body(None), min_speakers: int | None = Body(None),
                max_speakers: int | None = Body(None)) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        return _call(lambda: store.resplit_speakers(
            session_id, user, num_speakers=num_speakers, min_speakers=min_speakers,
            max_speakers=max_speakers))

    @api.post("/api/sessions/{session_id}/corrections/undo")
    def undo(session_id: str, request: Request,
             expected: int | None = Body(None, embed=True)) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        return _call(store.undo_correction, session_id, user, expected)

    @api.get("/api/sessions/{session_id}/corrections")
    def history(session_id: str, request: Request) -> dict[str, Any]:
        user = current_user(request)
        return {"corrections": _call(store.corrections, session_id, user),
                "flags": _call(store.flags, session_id, user)}

    @api.get("/export/sessions/{session_id}/transcript.{fmt}")
    def transcript(session_id: str, fmt: str, request: Request) -> Response:
        user = current_user(request)
        kind = _DOWNLOADS.get(fmt)
        if kind is None:
            return Response("use .stm, .rttm, .eaf or .TextGrid", status_code=404,
                            media_type="text/plain")
        name, media_type = kind
        files = _call(store.export_transcript, session_id, user, (name,))
        return Response(files[name], media_type=media_type, headers={
            "Content-Disposition": f'attachment; filename="{session_id}.{fmt}"',
            "Cache-Control": "no-store"})

    return api
