"""The guard in front of the Gradio sub-app's own routes: who may upload, and bodies that
are well-formed before Gradio reads them.

Why a middleware and not a Gradio setting: Gradio's ``/gradio_api/upload`` writes a file for
any signed-in login (its only check is the login), although the one component of this app
that takes a file is the Review tab's recording upload (``job.enqueue``). And a malformed
body to Gradio's event routes (an unknown handler name, a ``fn_index`` out of range, a
``call/v2`` body that is not the handler's parameters) ended as a bare 500, which a client
cannot tell from a crash. Both are decided here, from the login the gate put in the scope
and from the Blocks app itself, before a byte reaches Gradio (or the disk); Gradio itself
is not patched. Event *handlers* still check the role themselves (the store takes the user);
this guard only narrows what reaches them.

It also binds each Gradio page (its session hash, wherever a route reads one: an event
body, ``queue/data?session_hash=``, the heartbeat and stream paths, an event id's session)
to the login that first used it (``gradio_pages.PageOwners``): another login replaying the
hash gets 403 before Gradio looks the page up.

And ``run/`` and ``api/`` answer a handler's ``gr.Error`` with Gradio's error JSON and 500;
when that error's title says which kind of no it is (``HANDLER_ERROR_TITLES``, set by
``ui_common.handler_error``), the guard gives the response the matching 4xx, body unchanged;
any other ``gr.Error`` (untitled, or Gradio's own choice check) is a 400. A crash stays 500
with a body that says nothing (``CRASH_BODY``: no message, traceback or data path).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from msw_audio.review.auth import User
from msw_audio.web.gradio_pages import ENDED, Owner, PageOwners

log = logging.getLogger(__name__)

#: The permissions that a Gradio upload serves: the only file component of the app is the
#: Review tab's "Upload a recording for processing" (``jobs.queue.enqueue``). A new file
#: component must add its action here (``tests/security/test_gradio_handlers.py`` checks).
UPLOAD_ACTIONS = ("job.enqueue",)
#: Gradio routes no component of this app uses that would still write and decode a file
#: (``process_recording`` runs FFmpeg on an uploaded video inside the web process).
REFUSED = frozenset({"/gradio_api/process_recording"})
#: Event bodies are a handler's inputs as JSON (files travel by upload, not here).
MAX_BODY = 1 << 20

_NAMED = re.compile(r"^/gradio_api/(call/v2|call|run|api)/([^/]+)/?$")
_JOIN = "/gradio_api/queue/join"
_UPLOAD = "/gradio_api/upload"
#: Where Gradio (6.x, ``gradio/routes.py``) reads a page's session hash besides event
#: bodies: in the path (GET), in the query (GET), or through an event id (its session).
_HASH_IN_PATH = re.compile(r"^/gradio_api/(?:heartbeat|stream)/([^/]+)(?:/.+)?$")
_HASH_IN_QUERY = frozenset({"/gradio_api/queue/data", "/gradio_api/deep_link"})
_EVENT_GET = re.compile(r"^/gradio_api/call/(?:v2/)?[^/]+/([^/]+)/?$")
_EVENT_POST = re.compile(r"^/gradio_api/stream/([^/]+)(?:/close)?/?$")
#: POST routes whose body names a page but is no handler call (``cancel`` also an event)
_OTHER_BODIES = frozenset({"/gradio_api/cancel", "/gradio_api/component_server"})
_UPLOAD_IDS = frozenset({_UPLOAD, "/gradio_api/upload_progress"})
_FORM_HASH = re.compile(rb'name="session_hash"\r\n\r\n([^\r]*)')


class GradioGuard:
    """ASGI middleware inside the login gate (which sets ``scope["state"]["msw_user"]``),
    outside the FastAPI app that mounts Gradio at ``prefix``."""

    def __init__(self, app: ASGIApp, blocks: Any, prefix: str = "/ui",
                 live_logins: Callable[[], set[str]] | None = None) -> None:
        self.app = app
        self.blocks = blocks
        self.prefix = prefix
        self._params: dict[str, dict[str, bool]] | None = None
        #: each Gradio page → the login that first used it (pruned by ``live_logins``)
        self.pages = PageOwners(live_logins, self._drop_page)

    # ------------------------------------------------------------------ pages and logins
    def _drop_page(self, key: str) -> None:
        """Gradio's state of a page no longer bound (its login ended, or the bounds): gone,
        so nobody can claim the hash with the old state behind it."""
        holder = getattr(self.blocks, "state_holder", None)
        if not key.startswith("h:") or holder is None:
            return
        # a login may end in another thread (a logout route, an Admin-tab handler)
        with holder.lock:
            holder.delete_state(key[2:])
            holder.session_data.pop(key[2:], None)
            holder.time_last_used.pop(key[2:], None)

    def _event_page(self, event_id: str) -> str:
        """The session hash Gradio serves an event id's stream from (as ``routes.py``
        resolves it: the live event, the pending ids, else the id itself)."""
        queue = getattr(self.blocks, "_queue", None)
        if queue is None:
            return event_id
        event = queue.event_ids_to_events.get(event_id)
        if event is not None:
            return event.session_hash
        for hash_, ids in list(queue.pending_event_ids_session.items()):
            if event_id in ids:
                return hash_
        return event_id

    def _pages_in_url(self, method: str, sub: str, query: bytes) -> list[str]:
        """The page keys a request names in its path or query."""
        keys: list[str] = []
        args = parse_qs(query.decode("latin-1")) if query else {}
        route = sub.rstrip("/")
        if method == "GET" and (m := _HASH_IN_PATH.match(sub)):
            keys.append("h:" + m.group(1))
        if method == "GET" and route in _HASH_IN_QUERY:
            keys += ["h:" + h for h in args.get("session_hash", [])]
        if method == "GET" and (m := _EVENT_GET.match(sub)):
            keys.append("h:" + self._event_page(m.group(1)))
        if method == "POST" and (m := _EVENT_POST.match(sub)):
            keys.append("h:" + self._event_page(m.group(1)))
        if route in _UPLOAD_IDS:
            keys += ["u:" + u for u in args.get("upload_id", [])]
        return keys

    def _pages_in_body(self, body: bytes) -> list[str]:
        """The page keys an event, cancel or component-server body names."""
        try:
            payload = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            return ["h:" + m.decode("latin-1") for m in _FORM_HASH.findall(body)]
        if not isinstance(payload, dict):
            return []
        keys = []
        if isinstance(payload.get("session_hash"), str):
            keys.append("h:" + payload["session_hash"])
        if isinstance(payload.get("event_id"), str):
            keys.append("h:" + self._event_page(payload["event_id"]))
        return keys

    def _refused_page(self, keys: list[str], owner: Owner | None, sub: str) -> bool:
        """Claim each key for ``owner``; True (and a log line) when another login owns one."""
        if owner is None:
            return False  # no login: the gate (or Gradio's own login check) refuses it
        for key in keys:
            held = self.pages.claim(key, owner)
            if held is not None:
                # the hash itself is a key to the page: never in the log
                if held == ENDED:
                    log.info("Gradio page of an ended login refused to login %s (user %s)"
                             " on %s", owner.login[:6], owner.name, sub.replace(key[2:], "…"))
                    return True
                log.warning("Gradio page of login %s (user %s) refused to login %s (user %s)"
                            " on %s", held.login[:6], held.name, owner.login[:6],
                            owner.name, sub.replace(key[2:], "…"))
                return True
        return False

    def _claiming_event_id(self, send: Send, owner: Owner | None) -> Send:
        """A ``send`` that binds the event id of a ``call/`` answer to ``owner`` before the
        client has it: Gradio serves that call's stream from a page named by the id."""
        chunks: list[bytes] = []

        async def claim(message: Message) -> None:
            if message["type"] == "http.response.body" and owner is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    try:
                        event_id = json.loads(b"".join(chunks)).get("event_id")
                    except (ValueError, AttributeError):
                        event_id = None
                    if isinstance(event_id, str):
                        self.pages.claim("h:" + event_id, owner)
            await send(message)

        return claim

    # ------------------------------------------------------------------ what Gradio holds
    def _fn_by_name(self, name: str) -> Any | None:
        return next((fn for fn in self.blocks.fns.values() if fn.api_name == name), None)

    def _param_names(self, name: str) -> dict[str, bool]:
        """A named handler's parameters (``call/v2`` bodies are these) → whether each has
        a default; read from Gradio's API description once."""
        if self._params is None:
            info = self.blocks.get_api_info(all_endpoints=True)
            self._params = {
                key.lstrip("/"): {p["parameter_name"]: bool(p.get("parameter_has_default"))
                                  for p in ep["parameters"]}
                for key, ep in info["named_endpoints"].items()
            }
        return self._params.get(name, {})

    @staticmethod
    def _arity(fn: Any) -> set[int]:
        """How many inputs a body may carry: all of them, or those the API shows (Gradio
        fills in the ``gr.State`` ones)."""
        return {len(fn.inputs), sum(1 for b in fn.inputs if not getattr(b, "skip_api", False))}

    # ------------------------------------------------------------------ the checks
    def _check_body(self, kind: str, name: str | None, body: bytes) -> str | None:
        """Why the body is malformed for this route, or None when Gradio may have it."""
        try:
            payload = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            return "the body is not JSON"
        if not isinstance(payload, dict):
            return "the body must be a JSON object"
        hash_ = payload.get("session_hash")
        if hash_ is not None and not isinstance(hash_, str):
            return "session_hash must be a string"
        if kind == "call/v2":
            params = self._param_names(name or "")
            unknown = set(payload) - set(params) - {"session_hash"}
            if unknown:
                return f"unknown parameter(s) of {name}: {', '.join(sorted(unknown))}"
            missing = [p for p, has_default in params.items()
                       if not has_default and p not in payload]
            if missing:
                return f"missing parameter(s) of {name}: {', '.join(missing)}"
            return None
        data = payload.get("data")
        if not isinstance(data, list):
            return "data must be a list of the handler's inputs"
        for key in ("fn_index", "trigger_id"):
            value = payload.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                return f"{key} must be an integer"
        fn_index = payload.get("fn_index")
        if kind == "join":
            if hash_ is None:
                return "session_hash is required"
            if fn_index not in self.blocks.fns:
                return "fn_index names no event handler"
            fn = self.blocks.fns[fn_index]
        else:
            if fn_index is not None and fn_index not in self.blocks.fns:
                return "fn_index names no event handler"
            fn = self._fn_by_name(name or "")
        if len(data) not in self._arity(fn):
            wanted = " or ".join(str(n) for n in sorted(self._arity(fn)))
            return f"data holds {len(data)} value(s); this handler takes {wanted}"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(self.prefix + "/"):
            await self.app(scope, receive, send)
            return
        sub = path[len(self.prefix):]
        method = scope.get("method")
        state = scope.get("state") or {}
        user: User | None = state.get("msw_user")
        owner = (Owner(user.id, state["msw_login"], user.name)
                 if user is not None and state.get("msw_login") else None)
        if method == "POST" and sub.rstrip("/") in REFUSED:
            await _refuse(scope, receive, send, 403, "this route is not used by the app")
            return
        if method == "POST" and sub.rstrip("/") == _UPLOAD:
            if user is None or not any(user.can(a) for a in UPLOAD_ACTIONS):
                # before the body is read: nothing lands in the upload folder
                await _refuse(scope, receive, send, 403, "your role may not upload files")
                return
        if self._refused_page(self._pages_in_url(method or "", sub, scope.get("query_string")
                                                 or b""), owner, sub):
            await _refuse(scope, receive, send, 403, _NOT_YOUR_PAGE)
            return
        named = _NAMED.match(sub)
        if method == "POST" and sub.rstrip("/") in _OTHER_BODIES:
            body = await _read_body(receive, MAX_BODY)
            if body is None:
                await _refuse(scope, receive, send, 413, "the body is too large")
                return
            if self._refused_page(self._pages_in_body(body), owner, sub):
                await _refuse(scope, receive, send, 403, _NOT_YOUR_PAGE)
                return
            await self.app(scope, _replay(body, receive), send)
            return
        if method != "POST" or not (named or sub.rstrip("/") == _JOIN):
            await self.app(scope, receive, send)
            return
        kind, name = (named.group(1), named.group(2)) if named else ("join", None)
        if name is not None and self._fn_by_name(name) is None:
            await _refuse(scope, receive, send, 404, f"no event handler named {name!r}")
            return
        body = await _read_body(receive, MAX_BODY)
        if body is None:
            await _refuse(scope, receive, send, 413, "the body is too large")
            return
        why = self._check_body(kind, name, body)
        if why:
            await _refuse(scope, receive, send, 422, why)
            return
        pages = self._pages_in_body(body)
        if self._refused_page(pages, owner, sub):
            await _refuse(scope, receive, send, 403, _NOT_YOUR_PAGE)
            return
        if kind in ("call", "call/v2") and (kind == "call/v2" or not pages):
            send = self._claiming_event_id(send, owner)  # the page is the event id
        if kind in ("run", "api"):
            send = _handler_error_status(send)
        await self.app(scope, _replay(body, receive), send)


#: A handler's ``gr.Error`` title → the status ``run/`` and ``api/`` answer it with
#: (``ui_common.handler_error`` picks the title from the store error's kind, as
#: ``deps._http_error`` picks a JSON route's status).
HANDLER_ERROR_TITLES = {401: "Not signed in", 403: "Not allowed", 404: "Not found",
                        409: "Changed meanwhile", 400: "Not possible"}
_TITLE_STATUS = {title: status for status, title in HANDLER_ERROR_TITLES.items()}
#: The keys of Gradio's error JSON for a ``gr.Error`` (``gradio.utils.error_payload``).
_APP_ERROR = frozenset({"error", "duration", "visible", "title"})


def _handler_error_status(send: Send) -> Send:
    """A ``send`` that turns Gradio's 500 on ``run/``/``api/`` into what it was: a titled
    ``gr.Error`` its 4xx, any other ``gr.Error`` (an untitled one, Gradio's own check of a
    picker's choices) 400 — both a refusal of the call, never a server fault — and a crash
    a 500 whose body says nothing (no message, traceback or path reaches the client)."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def rewrite(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start" and message.get("status") == 500:
            start = message  # held until the body says what kind of error it is
            return
        if start is None or message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        status = _app_error_status(body)
        if status is None:
            status, body = 500, CRASH_BODY
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return rewrite


#: What a crash of a handler answers on ``run/``/``api/``: Gradio's error JSON, no message.
CRASH_BODY = json.dumps({"error": None}).encode()


def _app_error_status(body: bytes) -> int | None:
    """The 4xx for Gradio's error JSON of a ``gr.Error`` (by its title, else 400); None
    when the body is anything else (a crash)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or set(payload) != _APP_ERROR:
        return None
    title = payload.get("title")
    return _TITLE_STATUS.get(title, 400) if isinstance(title, str) else 400


#: What another login's page gets (the same words for every route that names one).
_NOT_YOUR_PAGE = "this Gradio page belongs to another login: reload the page"


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None past ``limit`` bytes."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the already-read body once, then the client's messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, why: str) -> None:
    await JSONResponse({"detail": why}, status_code=status)(scope, receive, send)
