"""Long-lived caching of Gradio's content-hashed assets (``/ui/assets/<name>-<hash>.js|css``).

Why: Gradio serves its ~65 front-end modules with an ETag but no ``Cache-Control``, so a
browser that has them keeps them only for a heuristic while (a tenth of the time since the
file was modified) and then asks again for every one of them: 65 revalidation round trips
on each later opening, queued six at a time on HTTP/1.1, before the review screen can
start. Their names change whenever their content does, so they can be kept for a year
without ever being stale. ``private``: they are served behind the login, so no shared cache
should keep them. Nothing else is touched: our own ``/static/`` files keep ``no-cache``
(their names do not change between versions) and data routes keep ``no-store``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: where the mounted Gradio app serves its built, content-hashed front-end files
ASSET_PREFIX = "/ui/assets/"
IMMUTABLE = b"private, max-age=31536000, immutable"


class ImmutableAssets:
    """ASGI middleware: ``Cache-Control: private, max-age=1 year, immutable`` on successful
    GETs of ``ASSET_PREFIX`` that carry no ``Cache-Control`` of their own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD")
                or not scope.get("path", "").startswith(ASSET_PREFIX)):
            await self.app(scope, receive, send)
            return

        async def send_cached(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") in (200, 304):
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"cache-control" for k, _v in headers):
                    headers.append((b"cache-control", IMMUTABLE))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_cached)
