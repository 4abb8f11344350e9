"""The role × route matrix (issue 13, test 2): every route of the served app and of its
Gradio sub-app, with GET, HEAD, POST and OPTIONS, for no cookie, an expired login, a
disabled login and each role → only what the role may do.

Why a table: who may do what is decided in one place (``review.auth.PERMISSIONS``), and
every route must say which of those actions it is. ``ROUTES`` below names, for each route,
the action it needs; the expected status of each request is derived from that action and
``PERMISSIONS`` (never copied from a response). The routes are enumerated from the app
object, so a route added without a row here fails ``test_every_route_has_a_policy_row``.

The Gradio event handlers (``tab_*.py``) are covered by ``test_gradio_handlers.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from msw_audio.review.auth import PERMISSIONS, USER_ROLES, system_user
from msw_audio.speech.audio import sha256_file
from msw_audio.web.login import IDLE_MINUTES, PUBLIC_PATHS
from tests.conftest_app import PASSWORD, make_store, repeated_recording, serve_app
from tests.conftest_app import demo_session as _demo_session
from tests.conftest_app import write_session_dir as _write_demo_dir
from tests.store_helpers import build_session, fake_sha, write_session_dir
from tests.test_app import _login

METHODS = ("GET", "HEAD", "POST", "OPTIONS")

# --------------------------------------------------------------------------- the policy
#: ``need``: who may reach a route at all. PUBLIC: anyone (the gate lets it through);
#: LOGIN: any signed-in login, whatever its role; GRADIO: any signed-in login reaches the
#: Gradio sub-app, whose handlers check the role themselves (``test_gradio_handlers.py``);
#: anything else is an action of ``review.auth.PERMISSIONS``.
PUBLIC, LOGIN, GRADIO = "public", "login", "gradio"
#: What an allowed write may answer besides 200: bad input (400), a stale view, a reviewed
#: (read-only) session or unconfirmed lines (409), a malformed body (422). Never 401, 403,
#: 404 or 405: those would mean the login was refused.
WRITE_OK = frozenset({200, 400, 409, 422})


@dataclass(frozen=True)
class Rule:
    need: str
    #: the route names one session (path or body): outside the login's teams, or for a
    #: practitioner another worker's, it is 404 ("no session"), exactly like a made-up id
    session: bool = False
    ok: frozenset[int] = frozenset({200})
    #: the request ends the login that made it (a fresh login is used for it)
    ends_login: bool = False


def may(action: str, session: bool = False, ok: frozenset[int] = frozenset({200})) -> Rule:
    assert action in PERMISSIONS, action
    return Rule(action, session, ok)


def edit(action: str = "session.edit") -> Rule:
    """A state change of one session by a role allowed ``action``."""
    return may(action, session=True, ok=WRITE_OK)


_GRADIO_OK = frozenset()  # any status below 500 other than 401 (see ``_expected``)

#: (methods, path as the app declares it, rule). One row per route of ``create_app``.
ROUTES: list[tuple[str, str, Rule]] = [
    # --- logins (web/login.py)
    ("GET", "/login", Rule(PUBLIC)),
    ("POST", "/login", Rule(PUBLIC, ok=frozenset({422}))),  # no form: never a login
    ("GET POST", "/logout", Rule(LOGIN, ok=frozenset({303}), ends_login=True)),
    # --- files (web/routes_files.py)
    ("GET", "/", Rule(LOGIN, ok=frozenset({303}))),
    ("GET", "/favicon.ico", Rule(PUBLIC, ok=frozenset({204}))),
    ("GET", "/static/{name}", Rule(LOGIN)),
    ("GET", "/static/vendor/{name}", Rule(LOGIN)),
    ("GET", "/media/{session_id}/peaks", may("audio.listen", session=True)),
    ("GET", "/media/{session_id}/spectrogram", may("audio.listen", session=True)),
    ("GET", "/media/{session_id}", may("audio.listen", session=True)),
    # --- reading and coding (web/routes_coding.py)
    ("GET", "/api/me", Rule(LOGIN)),
    ("GET", "/api/sessions", may("session.view")),
    ("GET", "/api/sessions/{session_id}", may("session.view", session=True)),
    ("GET", "/fragment/review/{session_id}", may("session.view", session=True)),
    ("POST", "/api/sessions/{session_id}/utterances/{utterance_id}/code", edit()),
    ("POST", "/api/sessions/{session_id}/utterances/{utterance_id}/accept", edit()),
    ("POST", "/api/sessions/{session_id}/utterances/{utterance_id}/clear", edit()),
    ("POST", "/api/sessions/{session_id}/speakers/{speaker_id}/role", edit()),
    ("POST", "/api/sessions/{session_id}/scores/{principle}", edit()),
    ("POST", "/api/sessions/{session_id}/reviewed", edit()),
    # --- transcript corrections (web/routes_corrections.py)
    ("POST", "/api/sessions/{session_id}/utterances/{utterance_id}/speaker", edit()),
    ("POST", "/api/sessions/{session_id}/utterances/{utterance_id}/text", edit()),
    ("POST", "/api/sessions/{session_id}/utterances/{utterance_id}/split", edit()),
    ("POST", "/api/sessions/{session_id}/utterances/{utterance_id}/merge", edit()),
    ("POST", "/api/sessions/{session_id}/utterances/{utterance_id}/times", edit()),
    ("POST", "/api/sessions/{session_id}/speakers/resplit", edit()),
    ("POST", "/api/sessions/{session_id}/corrections/undo", edit()),
    ("GET", "/api/sessions/{session_id}/corrections", may("session.view", session=True)),
    # .stm .rttm .eaf .TextGrid: one route, one rule (each format is asked per role in
    # tests/test_transcript_exchange.py)
    ("GET", "/export/sessions/{session_id}/transcript.{fmt}",
     may("agreement.view", session=True)),
    # --- research exports (web/routes_exports.py)
    ("GET", "/export/labels.csv", may("export")),
    ("GET", "/export/scores.jsonl", may("export")),
    # --- undo/redo, accept above T, reopen (web/routes_review_state.py)
    ("POST", "/api/sessions/{session_id}/undo", edit()),
    ("POST", "/api/sessions/{session_id}/redo", edit()),
    ("POST", "/api/sessions/{session_id}/accept-above", edit()),
    ("POST", "/api/sessions/{session_id}/reopen", edit()),
    ("GET", "/api/sessions/{session_id}/review-need", may("session.view", session=True)),
    # --- coach library (web/routes_library.py); the session is in the body
    ("GET", "/api/library", may("exemplars.view")),
    # --- search across sessions (web/routes_search.py); an empty query is a 400
    ("GET", "/api/search", may("session.view", ok=frozenset({200, 400}))),
    ("POST", "/api/library/star", edit("exemplars.star")),
    ("POST", "/api/library/unstar", edit("exemplars.star")),
    ("POST", "/api/library/handout", may("exemplars.star", session=True)),
    # --- blind double coding (web/routes_double_coding.py)
    ("POST", "/api/sessions/{session_id}/blind", edit("session.assign")),
    # only the blind coder finishes a pass: anyone else has "no open blind pass" (404)
    ("POST", "/api/sessions/{session_id}/blind/finish",
     may("session.edit", session=True, ok=WRITE_OK | {404})),
    ("GET", "/api/blind", may("session.view")),
    ("GET", "/api/double-coding", may("agreement.view")),
    ("GET", "/export/double-coding.{fmt}", may("export")),
    # --- ELAN / Praat import and each login's own keys (web/routes_interchange.py)
    ("POST", "/api/sessions/{session_id}/annotations", edit()),
    ("GET", "/api/me/keys", Rule(LOGIN)),
    ("POST", "/api/me/keys", Rule(LOGIN, ok=WRITE_OK)),
    # --- the Gradio sub-app, mounted at /ui (gradio.routes): behind the login gate; no
    # route of its own checks a role, its event handlers do (test_gradio_handlers.py)
    *[("GET", f"/ui{p}", Rule(GRADIO, ok=_GRADIO_OK)) for p in (
        "/logout", "/svelte/{path:path}", "/gradio_api/deep_link",
        "/config", "/config/", "/static/{path:path}", "/assets/{path:path}", "/favicon.ico",
        "/theme.css", "/robots.txt", "/pwa_icon/{size}", "/pwa_icon", "/manifest.json",
        "/monitoring", "/monitoring/summary", "/monitoring/{key}", "/gradio_api/user/",
        "/gradio_api/user", "/gradio_api/login_check/", "/gradio_api/login_check",
        "/gradio_api/token/", "/gradio_api/token", "/gradio_api/app_id/",
        "/gradio_api/app_id", "/gradio_api/dev/reload", "/gradio_api/runs/",
        "/gradio_api/runs", "/gradio_api/info", "/gradio_api/info/",
        "/gradio_api/openapi.json",
        "/gradio_api/custom_component/{id}/{environment}/{type}/{file_name}",
        "/gradio_api/stream/{session_hash}/{run}/{component_id}/playlist.m3u8",
        "/gradio_api/stream/{session_hash}/{run}/{component_id}/{segment_id}.{ext}",
        "/gradio_api/stream/{session_hash}/{run}/{component_id}/playlist-file",
        "/gradio_api/file/{path:path}", "/gradio_api/heartbeat/{session_hash}",
        "/gradio_api/call/{api_name}/{event_id}", "/gradio_api/call/v2/{api_name}/{event_id}",
        "/gradio_api/queue/data", "/gradio_api/queue/status", "/gradio_api/upload_progress",
        "/gradio_api/startup-events", "/gradio_api/theme.css", "/gradio_api/vibe-code",
        "/gradio_api/vibe-code/",
    )],
    *[("GET HEAD", f"/ui{p}", Rule(GRADIO, ok=_GRADIO_OK)) for p in (
        "/", "/openapi.json", "/gradio_api/proxy={url_path:path}",
    )],
    # Gradio's file route, asked for the stored recording by its path on the server: the
    # data folder is a blocked path, so no login gets it (they use /media, audited)
    ("GET HEAD", "/ui/gradio_api/file={path_or_url:path}",
     Rule(GRADIO, ok=frozenset({403, 404}))),
    *[("POST", f"/ui{p}", Rule(GRADIO, ok=_GRADIO_OK)) for p in (
        "/login/", "/login", "/gradio_api/stream/{event_id}",
        "/gradio_api/stream/{event_id}/close", "/gradio_api/reset", "/gradio_api/reset/",
        "/gradio_api/api/{api_name}/", "/gradio_api/api/{api_name}",
        "/gradio_api/run/{api_name}/", "/gradio_api/run/{api_name}",
        "/gradio_api/call/v2/{api_name}/", "/gradio_api/call/v2/{api_name}",
        "/gradio_api/call/{api_name}/", "/gradio_api/call/{api_name}",
        "/gradio_api/queue/join", "/gradio_api/cancel", "/gradio_api/component_server/",
        "/gradio_api/component_server", "/gradio_api/upload", "/gradio_api/process_recording",
        "/gradio_api/vibe-edit", "/gradio_api/vibe-edit/", "/gradio_api/undo-vibe-edit",
        "/gradio_api/undo-vibe-edit/", "/gradio_api/vibe-code", "/gradio_api/vibe-code/",
        "/gradio_api/vibe-starter-queries", "/gradio_api/vibe-starter-queries/",
    )],
]


def policy() -> dict[str, dict[str, Rule]]:
    """``ROUTES`` by path, then by method."""
    table: dict[str, dict[str, Rule]] = {}
    for methods, path, rule in ROUTES:
        for method in methods.split():
            assert method not in table.get(path, {}), f"{method} {path}: two rows"
            table.setdefault(path, {})[method] = rule
    return table


#: Values for path parameters ({session_id} is the identity's own or another team's).
PARAMS = {
    "utterance_id": "u0002", "speaker_id": "SPEAKER_00", "principle": "empathy",
    "name": "review.js", "path": "x", "size": "192", "key": "x", "id": "x",
    "environment": "x", "type": "x", "file_name": "x", "session_hash": "x", "run": "1",
    "component_id": "1", "segment_id": "1", "ext": "ts", "api_name": "review_refresh",
    "event_id": "x", "url_path": "x",
}
#: Route-specific values: the vendored file, the transcript and double-coding formats;
#: ``file=`` names the stored recording by its server path, which Gradio must never serve.
PATH_PARAMS = {
    "/static/vendor/{name}": {"name": "wavesurfer.min.js"},
    "/export/sessions/{session_id}/transcript.{fmt}": {"fmt": "stm"},
    "/export/double-coding.{fmt}": {"fmt": "csv"},
}
#: JSON bodies of POST routes ("{session_id}" is filled in like the path).
BODIES: dict[str, Any] = {
    "/api/sessions/{session_id}/utterances/{utterance_id}/code": {"code": "open_question"},
    "/api/sessions/{session_id}/speakers/{speaker_id}/role": {"role": "practitioner"},
    "/api/sessions/{session_id}/scores/{principle}": {"value": 4.0, "note": ""},
    "/api/sessions/{session_id}/utterances/{utterance_id}/speaker": {"speaker": "SPEAKER_01"},
    "/api/sessions/{session_id}/utterances/{utterance_id}/text": {"text": "How are you?"},
    "/api/sessions/{session_id}/utterances/{utterance_id}/split": {"at_word": 1},
    "/api/sessions/{session_id}/utterances/{utterance_id}/times": {"start": 14.9, "end": 18.8},
    "/api/sessions/{session_id}/speakers/resplit": {"num_speakers": 2},
    "/api/sessions/{session_id}/accept-above": {"percent": 50},
    "/api/library/star": {"session_id": "{session_id}", "utterance_id": "u0002"},
    "/api/library/unstar": {"session_id": "{session_id}", "utterance_id": "u0002"},
    "/api/library/handout": {"items": [{"session_id": "{session_id}",
                                        "utterance_id": "u0002"}], "format": "md"},
    "/api/sessions/{session_id}/blind": {"coder": "eve2"},
    # Gradio's ways of calling an event handler by name (here the queue's refresh, which
    # every login may call; the handlers by role are in test_gradio_handlers.py)
    **{f"/ui/gradio_api/{kind}/{{api_name}}{slash}": {"data": [None]}
       for kind in ("run", "call", "api") for slash in ("", "/")},
    **{f"/ui/gradio_api/call/v2/{{api_name}}{slash}": {"current": None} for slash in ("", "/")},
}

# --------------------------------------------------------------------------- who asks
#: Logins of team North (the admin sees every team by role); ``sam`` is a practitioner
#: whose sessions carry the worker name "Sam".
LOGINS = {"admin": "ada_n", "evaluator": "eva_n", "coach": "cora_n",
          "practitioner": "sam", "researcher": "rita_n"}
#: Who has no valid login: no cookie, a login idle past the timeout, a disabled user.
NOBODY = ("no cookie", "expired", "disabled")
IDENTITIES = (*NOBODY, *USER_ROLES)


def _route_table(app: Any) -> list[tuple[str, set[str]]]:
    """Every route of the app (FastAPI routers flattened, the Gradio mount's routes under
    its prefix): (path, methods)."""
    routes: list[tuple[str, set[str]]] = []

    def walk(items: list[Any], prefix: str) -> None:
        for r in items:
            if hasattr(r, "original_router"):  # FastAPI's included router
                walk(r.original_router.routes, prefix + r.include_context.prefix)
            elif hasattr(r, "methods") and r.methods is not None:
                routes.append((prefix + r.path, set(r.methods)))
            elif hasattr(getattr(r, "app", None), "routes"):  # a mount (Gradio)
                walk(r.app.routes, prefix + r.path)
            else:
                raise AssertionError(f"a route the matrix cannot read: {r!r}")

    walk(_fastapi(app).routes, "")
    return routes


def _fastapi(app: Any) -> Any:
    """The FastAPI app inside ``create_app``'s middleware (headers, gate, preload)."""
    while not hasattr(app, "routes"):
        app = app.app
    return app


def _gate(app: Any) -> Any:
    from msw_audio.web.login import LoginGate

    while not isinstance(app, LoginGate):
        app = app.app
    return app


@dataclass
class Served:
    store: Any
    app: Any
    base: str
    own: str  # a North session of worker Sam, with its recording (reads)
    other: str  # a South session of worker Kim, with its recording
    recording: str  # the own session's stored recording, as a path on the server
    cookies: dict[str, str] = field(default_factory=dict)
    scratch: dict[str, str] = field(default_factory=dict)  # per identity, for writes


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    from msw_audio.web.server import create_app

    root = tmp_path_factory.mktemp("matrix")
    store, own = make_store(root / "data")  # the demo visit: North, worker Sam
    south_audio, _ = repeated_recording(2, root / "south.ogg")  # a recording of its own
    south = _demo_session()
    south.audio.sha256, south.audio.path = sha256_file(south_audio), ""
    other = store.ingest(_write_demo_dir(south, root / "south-out"),
                         meta={"team": "South", "worker": "Kim", "family": "Family S"},
                         audio_path=south_audio)
    for role, name in LOGINS.items():
        store.add_user(name, role, PASSWORD, teams=("North",),
                       worker="Sam" if role == "practitioner" else None)
    store.add_user("eve2", "evaluator", PASSWORD, teams=("North",))
    store.add_user("dora", "evaluator", PASSWORD, teams=("North",))
    app = create_app(store)
    gate = _gate(app)
    gate.USER_TTL = 0.0  # a disabled login takes effect at its next request (no 5 s wait)
    with serve_app(app) as base:
        recording = str(store.audio_file(own, system_user("test"), False))
        s = Served(store, app, base, own, other, recording)
        for role, name in LOGINS.items():
            s.cookies[role] = _login(base, name)
            sid = store.ingest(write_session_dir(root / f"scratch-{role}",
                                                 build_session(fake_sha(role))),
                               meta={"team": "North", "worker": "Sam"})
            s.scratch[role] = sid
        s.cookies["disabled"] = _login(base, "dora")
        store.set_active("dora", False, system_user("test"))
        s.cookies["expired"] = _login(base, "eva_n")
        token = s.cookies["expired"].split("=", 1)[1]
        gate.sessions._by_token[token].last_seen -= (IDLE_MINUTES + 1) * 60
        yield s
    store.close()


def _pattern(path: str) -> re.Pattern[str]:
    """A path template as the router matches it ({x:path} spans slashes, {x} does not)."""
    out = re.escape(path)
    out = re.sub(r"\\\{[a-z_]+:path\\\}", ".+", out)
    out = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", out)
    return re.compile(out + "$")


def _answered_elsewhere(table: dict[str, dict[str, Rule]], path: str, url: str,
                        method: str) -> bool:
    """Whether another route takes ``method`` on this very URL (``/call/v2/x`` is also
    ``/call/{api_name}/{event_id}``): then that route's row covers it."""
    return any(other != path and method in rules and _pattern(other).match(url)
               for other, rules in table.items())


def _fill(path: str, session_id: str, recording: str = "x") -> str:
    values = {**PARAMS, **PATH_PARAMS.get(path, {}), "session_id": session_id,
              "path_or_url": recording}
    out = path
    for key, value in values.items():
        out = out.replace("{" + key + ":path}", value).replace("{" + key + "}", value)
    assert "{" not in out, f"no value for a parameter of {path}"
    return out


def _body(path: str, session_id: str) -> bytes:
    text = json.dumps(BODIES.get(path, {}))
    return text.replace("{session_id}", session_id).encode()


#: path parameters that name a Gradio page (``gradio_pages.PageOwners`` binds them to a login)
PAGE_KEYS = ("{session_hash}", "{event_id}")


def _expected(who: str, method: str, concrete: str, methods: set[str], rule: Rule,
              target: str, concrete_key: str = "") -> frozenset[int]:
    """The statuses ``who`` may get, from the rule and ``PERMISSIONS`` alone."""
    if who in NOBODY and not (rule.need == PUBLIC and concrete in PUBLIC_PATHS):
        return frozenset({401})  # the gate: nothing without a live login
    if method not in methods:
        if rule.need == GRADIO and (any(k in concrete_key for k in PAGE_KEYS)
                                    or "/gradio_api/call/" in concrete_key):
            # the guard binds a Gradio page (session hash, event id; ``call/v2/x/`` is also
            # ``call/{api_name}/{event_id}``) to the login that first used it and refuses
            # any other login before Gradio looks at the method
            return frozenset({403, 405})
        return frozenset({405})
    if rule.need in (PUBLIC, LOGIN, GRADIO):
        return rule.ok
    if who not in PERMISSIONS[rule.need]:
        return frozenset({403, 404})  # the wrong role: refused (or "no such session")
    if rule.session and target == "other" and who != "admin":
        return frozenset({404})  # another team's session does not exist for this login
    return rule.ok


def _ask(s: Served, who: str, method: str, url: str, body: bytes | None,
         ends_login: bool, html: bool = False) -> tuple[int, dict, bytes]:
    cookie = s.cookies.get(who)
    if ends_login and who in LOGINS:
        cookie = _login(s.base, LOGINS[who])  # logout ends this one, not the matrix's
    headers = {"X-MSW": "1", "Accept": "text/html" if html else "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if cookie:
        headers["Cookie"] = cookie
    return _http(s.base, method, url, body, headers)


def _http(base: str, method: str, url: str, body: bytes | None,
          headers: dict[str, str]) -> tuple[int, dict, bytes]:
    """One request; the body of an event stream (Gradio's heartbeat, queue, dev reload)
    is not read: it never ends, and the status and headers are what the matrix checks."""
    import http.client
    from urllib.parse import urlsplit

    conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=30)
    try:
        conn.request(method, url, body=body, headers=headers)
        resp = conn.getresponse()
        got = {k.lower(): v for k, v in resp.getheaders()}
        stream = got.get("content-type", "").startswith("text/event-stream")
        return resp.status, got, b"" if stream or method == "HEAD" else resp.read()
    finally:
        conn.close()


def test_every_route_has_a_policy_row(served: Served) -> None:
    """A route added to the app (or by a Gradio upgrade) without a row here fails."""
    table = policy()
    seen: dict[str, set[str]] = {}
    for path, methods in _route_table(served.app):
        seen.setdefault(path, set()).update(methods)
    missing = sorted(set(seen) - set(table))
    assert not missing, f"routes without a row in ROUTES: {missing}"
    stale = sorted(set(table) - set(seen))
    assert not stale, f"rows in ROUTES for routes the app no longer has: {stale}"
    wrong = {p: (sorted(seen[p]), sorted(table[p])) for p in seen if seen[p] != set(table[p])}
    assert not wrong, f"methods differ (app, table): {wrong}"
    # what the table calls public is what the gate lets through
    assert {p for p, rules in table.items() if PUBLIC in {r.need for r in rules.values()}} \
        <= PUBLIC_PATHS


@pytest.mark.parametrize("who", IDENTITIES)
def test_role_route_matrix(served: Served, who: str) -> None:
    """Every route × GET/HEAD/POST/OPTIONS for ``who``: only what its role may do."""
    wrong: list[str] = []
    asked = 0
    table = policy()
    for path, rules in table.items():
        methods = set(rules)
        for target in ("own", "other") if any(r.session for r in rules.values()) else ("own",):
            for method in METHODS:
                # a method the route lacks: the rule of its first method decides the gate
                rule = rules.get(method) or next(iter(rules.values()))
                write = method == "POST"
                if target == "other":
                    sid = served.other
                elif write and who in LOGINS:
                    sid = served.scratch[who]  # writes change the identity's own scratch
                else:
                    sid = served.own
                url = _fill(path, sid, served.recording)
                if method not in rules and _answered_elsewhere(table, path, url, method):
                    continue
                body = _body(path, sid) if write else None
                status, headers, _ = _ask(served, who, method, url, body, rule.ends_login)
                asked += 1
                want = _expected(who, method, url.split("?")[0], methods, rule, target, path)
                if want == _GRADIO_OK:
                    ok = status < 500 and status != 401
                else:
                    ok = status in want
                if not ok:
                    wrong.append(f"{who} {method} {url} ({rule.need}, {target}): {status}, "
                                 f"expected {sorted(want) or 'reached, < 500'}")
                if who in NOBODY and method == "GET" and 401 in want:
                    # a page asked for by a browser goes to the login form instead
                    status, headers, _ = _ask(served, who, method, url, None, False, html=True)
                    if status != 303 or not headers.get("location", "").startswith("/login"):
                        wrong.append(f"{who} GET {url} (browser): {status}, expected 303 "
                                     "to /login")
    assert asked > 400
    assert not wrong, "\n".join(wrong)
