"""Files the browser loads: the app's own static files and the recordings (HTTP Range).

Recordings are served only as the audio types we store (``web.security``), never rendered
as anything else, and every listening is audited once (by the store).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from msw_audio.review.store import Store
from msw_audio.web import STATIC_DIR
from msw_audio.web.deps import _call, current_user
from msw_audio.web.security import audio_media_type

STATIC_FILES = frozenset({"review.js", "review.css", "login.css", "library.js",
                          "review_interchange.js"})
#: Third-party browser files shipped in the package (``web/vendor/README.md``), never a CDN.
VENDOR_FILES = frozenset({"wavesurfer.min.js", "regions.min.js", "minimap.min.js",
                          "spectrogram.min.js"})


def router(store: Store) -> APIRouter:
    """``/``, ``/favicon.ico``, ``/static/{name}``, ``/static/vendor/{name}``,
    ``/media/{session_id}`` and its waveform, ``/media/{session_id}/peaks``."""
    api = APIRouter()

    @api.get("/")
    def root() -> Response:
        return RedirectResponse("/ui/", status_code=303)

    @api.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @api.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(status_code=404)
        media = "text/css" if name.endswith(".css") else "text/javascript"
        return FileResponse(
            STATIC_DIR / name, media_type=media, headers={"Cache-Control": "no-cache"}
        )

    @api.get("/static/vendor/{name}")
    def vendor(name: str) -> Response:
        if name not in VENDOR_FILES:
            raise HTTPException(status_code=404)
        return FileResponse(STATIC_DIR / "vendor" / name, media_type="text/javascript",
                            headers={"Cache-Control": "no-cache"})

    @api.get("/media/{session_id}/peaks")
    def media_peaks(session_id: str, request: Request) -> Response:
        """The recording's waveform (``speech.peaks``), for whoever may hear it: cached
        beside the recording's stage cache (``<sha256>/``), computed once if missing."""
        from msw_audio.speech.peaks import cached_peaks

        user = current_user(request)
        path: Path = _call(store.audio_file, session_id, user, False)
        # the stored recording is named by its sha256 (``DataPaths.audio_file``)
        peaks = _call(cached_peaks, path, path.stem, store.paths.cache)
        return JSONResponse(peaks.to_record(), headers={"Cache-Control": "private, no-store"})

    @api.get("/media/{session_id}/spectrogram")
    def media_spectrogram(session_id: str, request: Request) -> Response:
        """The recording's spectrogram (``speech.spectrogram``), for whoever may hear it,
        as the waveform's peaks: computed once on first request, then cached."""
        from msw_audio.speech.spectrogram import cached_spectrogram

        user = current_user(request)
        path: Path = _call(store.audio_file, session_id, user, False)
        text = _call(cached_spectrogram, path, path.stem, store.paths.cache)
        return Response(text, media_type="application/json",
                        headers={"Cache-Control": "private, no-store"})

    @api.get("/media/{session_id}")
    def media(session_id: str, request: Request) -> Response:
        """The recording, with Range support (Starlette) so the browser can seek."""
        user = current_user(request)
        # a listening starts with a request from byte 0; seeks (later Range starts) are
        # part of it and are not audited again
        span = request.headers.get("range", "")
        first = not span or span.replace(" ", "").startswith("bytes=0-")
        path: Path = _call(store.audio_file, session_id, user, first)
        media_type = audio_media_type(path)
        headers = {"Cache-Control": "private, no-store"}
        if media_type is None:  # never rendered by the browser: not a type we store as audio
            media_type = "application/octet-stream"
            headers["Content-Disposition"] = "attachment"
        return FileResponse(path, media_type=media_type, headers=headers)

    return api
