"""``Link: rel=preload`` headers on the review page, so a session opens while Gradio starts.

Why: Gradio's page adds the app's own script (``review.js``) only after its own start-up
(~0.6 s of a cold page load on a 2-core machine), and that script then asks for the
transcript and the waveform. With these headers the browser fetches the transcript
fragment, the waveform's peaks and the scripts with the page itself; ``review.js``'s own
requests (same URLs, same mode) are then answered from the preload.

Permissions are unchanged: the preloaded routes check the login like any other request, and
the peaks are preloaded only for a login allowed to hear the recording (no 403 noise).
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The page whose ``?session=`` is filled by ``review.js`` (``render.url_mount_html``).
REVIEW_PAGE = "/ui/"
VENDOR_SCRIPTS = ("wavesurfer.min.js", "regions.min.js", "minimap.min.js")


def preload_links(session_id: str, *, can_listen: bool) -> list[str]:
    """The ``Link`` values for opening ``session_id`` (URLs exactly as ``review.js`` asks)."""
    sid = quote(session_id, safe="")
    links = [
        "</static/review.js>; rel=preload; as=script",
        "</static/review.css>; rel=preload; as=style",
        f"</fragment/review/{sid}?order=time>; rel=preload; as=fetch; crossorigin",
    ]
    if can_listen:
        links.append(f"</media/{sid}/peaks>; rel=preload; as=fetch; crossorigin")
        links += [f"</static/vendor/{name}>; rel=preload; as=script" for name in VENDOR_SCRIPTS]
    return links


class PreloadReview:
    """ASGI middleware (inside the login gate, which puts the user in ``scope["state"]``):
    adds ``preload_links`` to the HTML response of ``/ui/?session=ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = (scope.get("state") or {}).get("msw_user")
        if (scope["type"] != "http" or scope.get("method") != "GET"
                or scope.get("path") != REVIEW_PAGE or user is None):
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        session_id = (query.get("session") or [""])[0]
        if not session_id or len(session_id) > 64:
            await self.app(scope, receive, send)
            return
        links = ", ".join(preload_links(session_id, can_listen=user.can("audio.listen")))

        async def send_with_links(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                kind = dict(headers).get(b"content-type", b"")
                if kind.startswith(b"text/html"):
                    headers.append((b"link", links.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_links)
