"""The web server: login, audio with HTTP Range, JSON routes for coding, and the Gradio UI.

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
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Body, FastAPI, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from msw_audio.errors import InputError, MswError, PermissionDenied, StaleEdit
from msw_audio.jobs.queue import JobConfig
from msw_audio.review.auth import User
from msw_audio.review.store import ANY_VALUE, Store
from msw_audio.web import STATIC_DIR
from msw_audio.web.security import SecurityHeaders, audio_media_type

COOKIE = "msw_session"
CSRF_HEADER = "x-msw"
SESSION_HOURS = 12
#: Paths anyone may reach: the login form and its stylesheet.
PUBLIC_PATHS = frozenset({"/login", "/static/login.css", "/favicon.ico"})
STATIC_FILES = frozenset({"review.js", "review.css", "login.css", "library.js"})


#: A login left untouched this long ends (a shared office computer left open).
IDLE_MINUTES = 30


@dataclass
class _Login:
    name: str
    expires: float
    credential: str  # ``User.credential`` at login: a changed password ends the login
    last_seen: float


class Sessions:
    """Logged-in browsers: token -> user name, in memory, with an absolute expiry and an
    idle timeout. A login whose user's password has changed since is refused (``name_for``
    with the user's current credential stamp)."""

    def __init__(self, hours: float = SESSION_HOURS, idle_minutes: float = IDLE_MINUTES,
                 clock: Callable[[], float] = time.time) -> None:
        self._by_token: dict[str, _Login] = {}
        self._lock = threading.Lock()
        self._ttl = hours * 3600
        self._idle = idle_minutes * 60
        self._clock = clock

    def create(self, user: User) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._by_token[token] = _Login(user.name, now + self._ttl, user.credential, now)
        return token

    def login_for(self, token: str | None) -> _Login | None:
        """The live login behind ``token`` (touching it), or None if unknown/expired/idle."""
        if not token:
            return None
        now = self._clock()
        with self._lock:
            login = self._by_token.get(token)
            if login is None:
                return None
            if login.expires < now or now - login.last_seen > self._idle:
                del self._by_token[token]
                return None
            login.last_seen = now
            return login

    def name_for(self, token: str | None) -> str | None:
        login = self.login_for(token)
        return login.name if login else None

    def drop(self, token: str | None) -> None:
        with self._lock:
            self._by_token.pop(token or "", None)


class LoginThrottle:
    """Slows password guessing: after ``limit`` failed logins for a user name within
    ``window`` seconds, that name is refused (without checking the password) until the oldest
    failure leaves the window; ``address_limit`` does the same per client address. In
    memory, per server process; a success clears the name.

    ``begin`` checks and counts an attempt in one step, so N parallel guesses cannot all
    pass the check before any failure is recorded: each attempt holds a failure slot until
    ``succeeded`` gives it back. At most ``max_keys`` names/addresses are remembered (the
    oldest forgotten first), so a flood of made-up names cannot grow memory without bound.

    Why per name and short: the accounts are few and known, so guessing targets names; a
    five-minute window keeps a locked-out evaluator's wait short.
    """

    def __init__(self, limit: int = 5, window: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, address_limit: int = 30,
                 max_keys: int = 4096) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self.address_limit, self.max_keys = address_limit, max_keys
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str) -> list[float]:
        now = self._clock()
        kept = [t for t in self._failures.get(key, []) if now - t < self.window]
        if kept:
            self._failures[key] = kept
        else:
            self._failures.pop(key, None)
        return kept

    def _wait(self, key: str, limit: int) -> float:
        recent = self._recent(key)
        if len(recent) < limit:
            return 0.0
        return max(0.0, recent[0] + self.window - self._clock())

    def _add(self, key: str) -> None:
        self._failures[key] = [*self._recent(key), self._clock()]
        while len(self._failures) > self.max_keys:
            self._failures.pop(next(iter(self._failures)))

    def _wait_both(self, name: str, address: str | None) -> float:
        wait = self._wait(name.lower(), self.limit)
        if address:
            wait = max(wait, self._wait("@" + address, self.address_limit))
        return wait

    def wait_seconds(self, name: str, address: str | None = None) -> float:
        """0 if ``name`` (from ``address``) may try now, else how long until it may."""
        with self._lock:
            return self._wait_both(name, address)

    def begin(self, name: str, address: str | None = None) -> float:
        """Reserve an attempt: 0 (and counted as a failure until ``succeeded``), or the
        seconds to wait (nothing counted)."""
        with self._lock:
            wait = self._wait_both(name, address)
            if wait > 0:
                return wait
            self._add(name.lower())
            if address:
                self._add("@" + address)
            return 0.0

    def failed(self, name: str) -> None:
        with self._lock:
            self._add(name.lower())

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name.lower(), None)


class UnknownLogins:
    """Counts failed logins for names that do not exist and writes them to the audit log as
    one row per ``every`` seconds, not one row each."""

    def __init__(self, store: Store, every: float = 60.0) -> None:
        self.store, self.every = store, every
        self._count, self._since = 0, time.time()
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self._count += 1
            now = time.time()
            if now - self._since < self.every:
                return
            count, since = self._count, self._since
            self._count, self._since = 0, now
        self.store.record_unknown_logins(
            count, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)))


def _cookie_from_scope(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                name, _, val = part.strip().partition("=")
                if name == COOKIE:
                    return val
    return None


class LoginGate:
    """ASGI middleware: no valid session cookie, no response (except the login page)."""

    #: seconds a looked-up user is reused: a page load fetches ~80 assets, and a disabled
    #: login or changed role must still take effect within moments
    USER_TTL = 5.0

    def __init__(self, app: ASGIApp, sessions: Sessions, store: Store) -> None:
        self.app = app
        self.sessions = sessions
        self.store = store
        self._users: dict[str, tuple[User | None, float]] = {}

    def _user(self, name: str | None) -> User | None:
        if not name:
            return None
        now = time.monotonic()
        hit = self._users.get(name)
        if hit is not None and hit[1] > now:
            return hit[0]
        user = self.store.get_user(name)
        self._users[name] = (user, now + self.USER_TTL)
        return user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        token = _cookie_from_scope(scope)
        login = self.sessions.login_for(token)
        user = self._user(login.name) if login else None
        if user is not None and user.credential != login.credential:
            self.sessions.drop(token)  # the password changed since this login: end it
            user = None
        if user is not None or path in PUBLIC_PATHS:
            scope.setdefault("state", {})["msw_user"] = user
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401})
            return
        accept = dict(scope.get("headers", [])).get(b"accept", b"").decode("latin-1")
        if scope.get("method") == "GET" and "text/html" in accept:
            target = path + (
                "?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else ""
            )
            response: Response = RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        else:
            response = JSONResponse({"detail": "login required"}, status_code=401)
        await response(scope, receive, send)


def current_user(request: Request) -> User:
    user = getattr(request.state, "msw_user", None)
    if user is None:  # the gate lets only the login page through without one
        raise HTTPException(status_code=401, detail="login required")
    return user


#: A code route's optional ``expected``: the confirmed code the screen showed (null: none).
#: Omitted ("*"): the caller did not say, and the write is not checked (scripts, old pages).
_EXPECTED = Body("*", embed=True)


def _expected(value: str | None) -> Any:
    return ANY_VALUE if value == "*" else value


def _http_error(exc: MswError) -> HTTPException:
    if isinstance(exc, StaleEdit):  # the screen shows "changed by X at T" and offers both
        return HTTPException(status_code=409, detail={
            "message": str(exc), "current": exc.current, "by": exc.by, "at": exc.at})
    if isinstance(exc, PermissionDenied):
        return HTTPException(status_code=403, detail=str(exc))
    if isinstance(exc, InputError) and str(exc).startswith("no "):
        return HTTPException(status_code=404, detail=str(exc))
    return HTTPException(status_code=400, detail=str(exc))


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except MswError as exc:
        raise _http_error(exc) from None


def _check_csrf(request: Request) -> None:
    if request.headers.get(CSRF_HEADER) != "1":
        raise HTTPException(status_code=403, detail="missing X-MSW header")


def _safe_next(target: str | None) -> str:
    """Only same-site paths after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>msw-audio · sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/login.css"></head>
<body><main class="login">
<h1>msw-audio</h1><p class="sub">Review of recorded Motivational Social Work sessions</p>
{error}
<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<label>User name <input name="username" autocomplete="username" required autofocus></label>
<label>Password
<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
<p class="note">Recordings are of children and families. Everything stays on this machine;
every change you make is saved at once and recorded in the audit log.</p>
</main></body></html>"""


def create_app(store: Store, *, secure_cookie: bool = False, mount_ui: bool = True) -> ASGIApp:
    """The whole server: FastAPI routes + the Gradio review UI, behind the login gate."""
    from msw_audio.web.render import codebook_view

    sessions = Sessions()
    throttle = LoginThrottle()
    unknown = UnknownLogins(store)
    book = codebook_view(store.codebook)
    api = FastAPI(title="msw-audio", docs_url=None, redoc_url=None, openapi_url=None)

    # ------------------------------------------------------------------ login
    @api.get("/login", response_class=HTMLResponse)
    def login_form(next: str = "/", error: str = "") -> HTMLResponse:  # noqa: A002
        text = ("Too many failed attempts for this user name: wait a few minutes, then try "
                "again." if error == "locked" else "Wrong user name or password.")
        msg = f'<p class="error" role="alert">{text}</p>' if error else ""
        return HTMLResponse(LOGIN_PAGE.format(error=msg, next=escape(_safe_next(next), quote=True)))

    @api.post("/login")
    def login(
        request: Request,
        username: str = Form(...),
        password: str = Form(...),
        next: str = Form("/"),  # noqa: A002
    ) -> Response:
        name = username.strip()[:64]
        address = request.client.host if request.client else None
        if throttle.begin(name, address) > 0:
            return RedirectResponse(
                f"/login?error=locked&next={quote(_safe_next(next))}", status_code=303
            )
        user = store.authenticate(name, password)
        if user is None:
            if store.get_user(name) is None:
                unknown.add()
            return RedirectResponse(
                f"/login?error=1&next={quote(_safe_next(next))}", status_code=303
            )
        throttle.succeeded(name)
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(
            COOKIE,
            sessions.create(user),
            max_age=SESSION_HOURS * 3600,
            httponly=True,
            samesite="strict",
            secure=secure_cookie,
        )
        return response

    @api.get("/logout")
    @api.post("/logout")
    def logout(request: Request) -> Response:
        sessions.drop(request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

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

    # ------------------------------------------------------------------ audio
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

    # ------------------------------------------------------------------ session data
    @api.get("/api/me")
    def me(request: Request) -> dict[str, Any]:
        user = current_user(request)
        return {"name": user.name, "role": user.role}

    @api.get("/api/sessions")
    def sessions_list(request: Request) -> list[dict[str, Any]]:
        user = current_user(request)
        return [vars(s) | {"progress": s.progress} for s in _call(store.list_sessions, user)]

    @api.get("/api/sessions/{session_id}")
    def session_data(session_id: str, request: Request) -> dict[str, Any]:
        user = current_user(request)
        session = _call(store.get_session, session_id, user)
        return {
            "meta": _call(store.session_meta, session_id, user),
            "session": session.to_dict(),
            "decisions": _call(store.get_decisions, session_id, user),
        }

    @api.get("/fragment/review/{session_id}", response_class=HTMLResponse)
    def review_fragment(session_id: str, request: Request, order: str = "time") -> HTMLResponse:
        """The review pane's HTML (see ``render.review_mount_html``), as this user may see it."""
        from msw_audio.web.ui import render_session

        user = current_user(request)
        html = _call(render_session, store, None, user, session_id, order)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    def _progress(session_id: str, user: User) -> dict[str, Any]:
        summary = store.session_summary(session_id, user)
        return {
            "status": summary.status if summary else "",
            "n_confirmed": summary.n_confirmed if summary else 0,
            "n_utterances": summary.n_utterances if summary else 0,
        }

    @api.post("/api/sessions/{session_id}/utterances/{utterance_id}/code")
    def set_code(
        session_id: str, utterance_id: str, request: Request, code: str = Body(..., embed=True),
        expected: str | None = _EXPECTED,
    ) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        _call(store.set_code, session_id, utterance_id, code, user, _expected(expected))
        return {"utterance_id": utterance_id, "code": code} | _progress(session_id, user)

    @api.post("/api/sessions/{session_id}/utterances/{utterance_id}/accept")
    def accept(session_id: str, utterance_id: str, request: Request,
               expected: str | None = _EXPECTED) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        code = _call(store.accept_code, session_id, utterance_id, user, _expected(expected))
        return {"utterance_id": utterance_id, "code": code} | _progress(session_id, user)

    @api.post("/api/sessions/{session_id}/utterances/{utterance_id}/clear")
    def clear(session_id: str, utterance_id: str, request: Request,
              expected: str | None = _EXPECTED) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        _call(store.clear_code, session_id, utterance_id, user, _expected(expected))
        return {"utterance_id": utterance_id, "code": None} | _progress(session_id, user)

    @api.post("/api/sessions/{session_id}/speakers/{speaker_id}/role")
    def set_role(
        session_id: str, speaker_id: str, request: Request, role: str = Body(..., embed=True)
    ) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        _call(store.set_role, session_id, speaker_id, role, user)
        return {"speaker_id": speaker_id, "role": role}

    @api.post("/api/sessions/{session_id}/scores/{principle}")
    def confirm_score(
        session_id: str,
        principle: str,
        request: Request,
        value: float = Body(...),
        note: str = Body(""),
    ) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        _call(store.confirm_score, session_id, principle, value, note, user)
        return {"principle": principle, "value": value, "note": note}

    @api.post("/api/sessions/{session_id}/reviewed")
    def reviewed(session_id: str, request: Request) -> dict[str, Any]:
        _check_csrf(request)
        user = current_user(request)
        _call(store.mark_reviewed, session_id, user)
        return _progress(session_id, user)

    # ------------------------------------------------------------------ exports
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

    from msw_audio.web import routes_double_coding, routes_library

    api.include_router(routes_library.router(store))
    api.include_router(routes_double_coding.router(store))

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
            show_error=True,
            allowed_paths=[],
            blocked_paths=[str(store.data_dir)],
            # refused while streaming (413), before a too-large file has landed on disk
            max_file_size=JobConfig().max_upload_bytes,
        )
    return SecurityHeaders(LoginGate(api, sessions, store))


def serve(
    store: Store,
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    secure_cookie: bool = False,
    log: Callable[[str], None] = print,
) -> None:
    """Run the server in this process until interrupted."""
    import uvicorn

    app = create_app(store, secure_cookie=secure_cookie)
    if host not in ("127.0.0.1", "localhost", "::1") and not secure_cookie:
        log(
            f"warning: listening on {host}, reachable from other machines; serve it behind "
            "HTTPS and pass --secure-cookie so logins never travel in clear text"
        )
    log(f"msw-audio review screen: http://{host}:{port}/  (Ctrl+C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


__all__ = ["COOKIE", "LoginGate", "Sessions", "create_app", "current_user", "serve"]
