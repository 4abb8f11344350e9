"""Logins: in-memory sessions with expiry and idle timeout, the throttle, the login gate
and the login/logout routes.

Recordings are of children and families, so nothing is reachable without a login: one
ASGI gate in front of the whole app (Gradio included) refuses every request without a
valid session cookie — pages are redirected to ``/login``, everything else gets 401.
Sessions are random tokens held in server memory (restart = log in again), sent as an
``HttpOnly``, ``SameSite=Strict`` cookie.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from msw_audio.review.auth import User
from msw_audio.review.store import Store
from msw_audio.web.deps import COOKIE, _safe_next

SESSION_HOURS = 12
#: Paths anyone may reach: the login form and its stylesheet.
PUBLIC_PATHS = frozenset({"/login", "/static/login.css", "/favicon.ico"})


#: A login left untouched this long ends (a shared office computer left open).
IDLE_MINUTES = 30


@dataclass
class _Login:
    name: str
    expires: float
    credential: str  # ``User.credential`` at login: a changed password ends the login
    last_seen: float
    #: this login's id, not its cookie: what a Gradio page is bound to (``gradio_pages``)
    sid: str = field(default_factory=lambda: secrets.token_hex(12))


class Sessions:
    """Logged-in browsers: token -> user name, in memory, with an absolute expiry and an
    idle timeout. A login whose user's password has changed since is refused (``name_for``
    with the user's current credential stamp).

    Whoever keeps state per login (the Gradio guard's page map) subscribes with
    ``on_end``: each listener gets a login's id the moment it ends — logout, ``end_user``
    (a password reset or a disabled user), or an expiry noticed on the way — so nothing of
    an ended login outlives it until some later sweep.
    """

    def __init__(self, hours: float = SESSION_HOURS, idle_minutes: float = IDLE_MINUTES,
                 clock: Callable[[], float] = time.time) -> None:
        self._by_token: dict[str, _Login] = {}
        self._lock = threading.Lock()
        self._ttl = hours * 3600
        self._idle = idle_minutes * 60
        self._clock = clock
        self._listeners: list[Callable[[str], None]] = []

    def on_end(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(login id)`` whenever a login ends (outside the lock)."""
        self._listeners.append(listener)

    def _ended(self, sids: list[str]) -> None:
        for sid in sids:
            for listener in self._listeners:
                listener(sid)

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
                ended = login.sid
            else:
                login.last_seen = now
                return login
        self._ended([ended])
        return None

    def name_for(self, token: str | None) -> str | None:
        login = self.login_for(token)
        return login.name if login else None

    def drop(self, token: str | None) -> None:
        """End one login (logout, or the gate found its user gone or changed)."""
        with self._lock:
            login = self._by_token.pop(token or "", None)
        if login is not None:
            self._ended([login.sid])

    def end_user(self, name: str) -> int:
        """End every open login of user ``name`` (its password was reset, or it was
        disabled): how many ended."""
        with self._lock:
            tokens = [t for t, login in self._by_token.items() if login.name == name]
            ended = [self._by_token.pop(t).sid for t in tokens]
        self._ended(ended)
        return len(ended)

    def live_ids(self) -> set[str]:
        """The ids of every login still live (not expired, not idle), dropping the ended
        ones on the way: what the Gradio guard prunes its page owners by (logins that end
        while idle or at the absolute expiry, which no request announces)."""
        now = self._clock()
        with self._lock:
            tokens = [t for t, login in self._by_token.items()
                      if login.expires < now or now - login.last_seen > self._idle]
            ended = [self._by_token.pop(t).sid for t in tokens]
            live = {login.sid for login in self._by_token.values()}
        self._ended(ended)
        return live


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
    #: login or changed role must still take effect within moments (at once when changed
    #: by this process, e.g. the Admin tab: ``Store.users_epoch``; within this from the CLI)
    USER_TTL = 5.0

    def __init__(self, app: ASGIApp, sessions: Sessions, store: Store) -> None:
        self.app = app
        self.sessions = sessions
        self.store = store
        self._users: dict[str, tuple[User | None, float, int]] = {}

    def _user(self, name: str | None) -> User | None:
        if not name:
            return None
        now = time.monotonic()
        epoch = getattr(self.store, "users_epoch", 0)  # a login changed here: look again
        hit = self._users.get(name)
        if hit is not None and hit[1] > now and hit[2] == epoch:
            return hit[0]
        user = self.store.get_user(name)
        self._users[name] = (user, now + self.USER_TTL, epoch)
        return user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        token = _cookie_from_scope(scope)
        login = self.sessions.login_for(token)
        user = self._user(login.name) if login else None
        if login is not None and (user is None or user.credential != login.credential):
            # disabled, removed, or the password changed since this login: end it (its
            # Gradio pages go with it, ``Sessions.on_end``)
            self.sessions.drop(token)
            user = None
        if user is not None or path in PUBLIC_PATHS:
            state = scope.setdefault("state", {})
            state["msw_user"] = user
            state["msw_login"] = login.sid if user is not None and login else None
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


def router(store: Store, sessions: Sessions, throttle: LoginThrottle, unknown: UnknownLogins,
           *, secure_cookie: bool = False) -> APIRouter:
    """``/login`` (form and post) and ``/logout``."""
    api = APIRouter()

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

    return api
