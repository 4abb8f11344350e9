"""The web server: composes the routers (one module per concern) and the Gradio UI.

Recordings are of children and families, so nothing is reachable without a login: one
ASGI gate in front of the whole app (Gradio included) refuses every request without a
valid session cookie — pages are redirected to ``/login``, everything else gets 401.
Who may do what is decided by the store (``Store`` raises ``PermissionDenied``), never by
the browser; the routes only translate those errors into HTTP status codes.

Sessions are random tokens held in server memory (restart = log in again), sent as an
``HttpOnly``, ``SameSite=Strict`` cookie; state-changing JSON routes also require the
``X-MSW`` header, which a cross-site form cannot send.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from fastapi import FastAPI, Request
from starlette.types import ASGIApp

from msw_audio.jobs.queue import JobConfig
from msw_audio.review.store import Store
from msw_audio.web import login as login_routes
from msw_audio.web import (
    routes_coding,
    routes_corrections,
    routes_double_coding,
    routes_exports,
    routes_files,
    routes_interchange,
    routes_library,
    routes_review_state,
    routes_search,
)
from msw_audio.web.asset_cache import ImmutableAssets
from msw_audio.web.deps import (  # noqa: F401 - re-exported for routers and tests
    _EXPECTED,
    COOKIE,
    CSRF_HEADER,
    _call,
    _check_csrf,
    _expected,
    _http_error,
    _safe_next,
    current_user,
)
from msw_audio.web.login import (  # noqa: F401 - re-exported
    IDLE_MINUTES,
    LOGIN_PAGE,
    PUBLIC_PATHS,
    SESSION_HOURS,
    LoginGate,
    LoginThrottle,
    Sessions,
    UnknownLogins,
)
from msw_audio.web.preload import PreloadReview
from msw_audio.web.routes_files import STATIC_FILES, VENDOR_FILES  # noqa: F401 - re-exported
from msw_audio.web.security import SecurityHeaders


def create_app(store: Store, *, secure_cookie: bool = False, mount_ui: bool = True,
               idle_minutes: float | None = None) -> ASGIApp:
    """The whole server: FastAPI routers + the Gradio review UI, behind the login gate.
    ``idle_minutes``: a login left untouched this long ends (default ``IDLE_MINUTES``)."""
    from msw_audio.web.render import codebook_view

    sessions = Sessions(idle_minutes=IDLE_MINUTES if idle_minutes is None else idle_minutes)
    throttle = LoginThrottle()
    unknown = UnknownLogins(store)
    book = codebook_view(store.codebook)
    api = FastAPI(title="msw-audio", docs_url=None, redoc_url=None, openapi_url=None)
    api.include_router(login_routes.router(store, sessions, throttle, unknown,
                                           secure_cookie=secure_cookie))
    api.include_router(routes_files.router(store))
    api.include_router(routes_coding.router(store))
    api.include_router(routes_corrections.router(store))
    api.include_router(routes_exports.router(store))
    api.include_router(routes_review_state.router(store))
    api.include_router(routes_library.router(store))
    api.include_router(routes_search.router(store))
    api.include_router(routes_double_coding.router(store))
    api.include_router(routes_interchange.router(store))

    if mount_ui:
        import gradio as gr

        from msw_audio.web.ui import HEAD, build_blocks

        blocks = build_blocks(store, book)
        # Uploads land in the data folder (owner-only, erased with it), not world-readable
        # /tmp; Gradio reads this variable at each upload.
        uploads = store.paths.uploads
        uploads.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ["GRADIO_TEMP_DIR"] = str(uploads)

        def gradio_user(request: Request) -> str | None:
            user = getattr(request.state, "msw_user", None)
            return user.name if user else None

        api = gr.mount_gradio_app(
            api,
            blocks,
            path="/ui",
            auth_dependency=gradio_user,
            head=HEAD,
            footer_links=[],
            run_history=False,
            # a crash's message (a path, a value) never reaches the page; a handler's
            # gr.Error is shown all the same (its own message, written for the user)
            show_error=False,
            allowed_paths=[],
            blocked_paths=[str(store.data_dir)],
            # refused while streaming (413), before a too-large file has landed on disk
            max_file_size=JobConfig().max_upload_bytes,
        )
    inner: ASGIApp = ImmutableAssets(PreloadReview(api))
    if mount_ui:
        from msw_audio.web.gradio_guard import GradioGuard

        # who may upload, well-formed event bodies, each page bound to its login, before
        # Gradio (web/gradio_guard.py)
        guard = GradioGuard(inner, blocks, live_logins=sessions.live_ids)
        # a login's pages go the moment it ends (logout, reset, disable), not at a prune
        sessions.on_end(guard.pages.forget_login)
        inner = guard
    # a password reset or a disabled user (Admin tab, same process) ends their logins now
    store.on_logins_end(sessions.end_user)
    return SecurityHeaders(LoginGate(inner, sessions, store))



def freeze_startup_heap() -> None:
    """Move every object alive after start-up out of the garbage collector's reach.

    Why: a served app holds a few hundred thousand long-lived objects (Gradio's blocks and
    config, the codebook, imported modules, a loaded tagger). CPython's full (generation 2)
    collection walks all of them, and a coding decision makes enough short-lived objects
    (the rescore reads the whole session) to trigger one about every seventh decision:
    75–90 ms each on the development box, which was the whole 95th-percentile tail of a
    decision (``benchmarks/decision_latency.py``). ``gc.freeze`` (CPython's documented
    remedy for servers that build their state once) leaves those objects to reference
    counting; objects made later are collected as before. Called once, by ``serve``, after
    the app is built; not by ``create_app``, which tests build many times in one process.
    """
    import gc

    gc.collect()
    gc.freeze()


def serve(
    store: Store,
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    secure_cookie: bool = False,
    log: Callable[[str], None] = print,
    idle_minutes: float | None = None,
) -> None:
    """Run the server in this process until interrupted."""
    import uvicorn

    app = create_app(store, secure_cookie=secure_cookie, idle_minutes=idle_minutes)
    freeze_startup_heap()
    if host not in ("127.0.0.1", "localhost", "::1") and not secure_cookie:
        log(
            f"warning: listening on {host}, reachable from other machines; serve it behind "
            "HTTPS and pass --secure-cookie so logins never travel in clear text"
        )
    log(f"msw-audio review screen: http://{host}:{port}/  (Ctrl+C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


__all__ = ["COOKIE", "LoginGate", "Sessions", "create_app", "current_user", "freeze_startup_heap",
           "serve"]
