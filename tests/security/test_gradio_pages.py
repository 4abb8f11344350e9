"""A Gradio page belongs to the login that first used it (issue 13, defence in depth).

Gradio keys a page's state by the random session hash the browser tab made up, not by the
login. ``GradioGuard`` binds each hash to the login that first sent it; here login A opens
a page on a served app (real store, real Gradio queue over HTTP, as the page calls it),
and login B — the same role and team, so nothing but the binding stands in its way —
replays A's hash on every route that reads one: 403 before Gradio, a log line, A's page
state untouched, and A carries on. Signing out and in again is a new login: the old tab's
hash is refused, its state is dropped when the guard prunes, and a new page works.
"""

from __future__ import annotations

import copy
import http.client
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from msw_audio.web.gradio_pages import Owner, PageOwners
from tests.conftest_app import DEMO_AUDIO, PASSWORD, make_store, serve_app
from tests.security.test_gradio_handlers import _guard, event
from tests.test_app import _login, _request

JSON = {"Content-Type": "application/json"}
NOT_YOURS = b"belongs to another login"


@dataclass
class Served:
    """What ``event`` needs (``base``, ``deps``), and the app's guard."""

    store: Any
    base: str
    own: str
    guard: Any
    deps: dict[str, dict[str, Any]] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    from msw_audio.web.server import create_app

    store, own = make_store(tmp_path_factory.mktemp("pages") / "data")
    for name in ("ann", "ben"):  # two evaluators of the same team: only the page differs
        store.add_user(name, "evaluator", PASSWORD)
    app = create_app(store)
    with serve_app(app) as base:
        s = Served(store, base, own, _guard(app))
        for name in ("ann", "ben"):
            s.cookies[name] = _login(base, name)
        status, _, body = _request(base + "/ui/config", cookie=s.cookies["ann"])
        assert status == 200
        cfg = json.loads(body)
        kinds = {comp["id"]: comp["type"] for comp in cfg["components"]}
        for i, dep in enumerate(cfg["dependencies"]):
            s.deps[dep["api_name"]] = {
                "fn_index": i, "trigger": dep["targets"][0][0],
                "state": [kinds.get(x) == "state" for x in dep["inputs"]]}
        yield s
    store.close()


def _state(s: Served, session_hash: str) -> dict[int, Any]:
    """The ``gr.State`` values Gradio holds for a page (a copy)."""
    return copy.deepcopy(dict(s.guard.blocks.state_holder.session_data[session_hash]
                              .state_data))


def _stream_status(s: Served, path: str, cookie: str) -> tuple[int, bytes]:
    """A GET that may answer an endless event stream: its status and first bytes."""
    conn = http.client.HTTPConnection(urlsplit(s.base).netloc, timeout=30)
    try:
        conn.request("GET", path, headers={"Cookie": cookie})
        resp = conn.getresponse()
        return resp.status, resp.read(200) if resp.status != 200 else resp.readline()
    finally:
        conn.close()


def _replays(s: Served, page: str, call_event: str, upload_id: str) -> dict[str, tuple]:
    """Every way a request names a page, with A's page, A's call event or A's upload."""
    fn = s.deps["review_refresh"]
    join = {"data": [None], "event_data": None, "fn_index": fn["fn_index"],
            "trigger_id": fn["trigger"], "session_hash": page}
    return {
        "queue/join": ("POST", "/ui/gradio_api/queue/join", join),
        "call (body)": ("POST", "/ui/gradio_api/call/review_refresh",
                        {"data": [None], "session_hash": page}),
        "run (body)": ("POST", "/ui/gradio_api/run/review_refresh",
                       {"data": [None], "session_hash": page}),
        "cancel": ("POST", "/ui/gradio_api/cancel",
                   {"session_hash": page, "fn_index": fn["fn_index"], "event_id": "x"}),
        "component_server": ("POST", "/ui/gradio_api/component_server",
                             {"session_hash": page, "component_id": 1, "fn_name": "x",
                              "data": None}),
        "queue/data": ("GET", f"/ui/gradio_api/queue/data?session_hash={page}", None),
        "heartbeat": ("GET", f"/ui/gradio_api/heartbeat/{page}", None),
        "stream": ("GET", f"/ui/gradio_api/stream/{page}/1/1/playlist.m3u8", None),
        "deep_link": ("GET", f"/ui/gradio_api/deep_link?session_hash={page}", None),
        "call event stream": ("GET", f"/ui/gradio_api/call/review_refresh/{call_event}",
                              None),
        "event stream input": ("POST", f"/ui/gradio_api/stream/{call_event}",
                               {"data": [None], "fn_index": 0}),
        "upload progress": ("GET", f"/ui/gradio_api/upload_progress?upload_id={upload_id}",
                            None),
    }


def _upload(s: Served, cookie: str, upload_id: str) -> int:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"a.ogg\"\r\nContent-Type: audio/ogg\r\n\r\n").encode() \
        + DEMO_AUDIO.read_bytes()[:4096] + f"\r\n--{boundary}--\r\n".encode()
    status, _, _ = _request(f"{s.base}/ui/gradio_api/upload?upload_id={upload_id}",
                            cookie=cookie, method="POST", data=body,
                            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    return status


def test_another_login_replaying_a_page_is_refused_everywhere(
        served: Served, caplog: pytest.LogCaptureFixture) -> None:
    """B replays A's session hash, call event and upload id on each route: 403 before
    Gradio, a log line naming both logins; A's page state is untouched and A carries on."""
    s = served
    ann, ben = s.cookies["ann"], s.cookies["ben"]
    page = "page-" + uuid.uuid4().hex
    ok, out = event(s, ann, "page_load", [], page)
    assert ok, out
    ok, out = event(s, ann, "review_refresh", [s.own], page)
    assert ok and "Demo visit" in out, out
    # A's call/ without a session hash: Gradio serves its stream from the event id
    status, _, body = _request(s.base + "/ui/gradio_api/call/review_refresh", cookie=ann,
                               method="POST", data=json.dumps({"data": [None]}).encode(),
                               headers=JSON)
    assert status == 200, body
    call_event = json.loads(body)["event_id"]
    upload_id = "up-" + uuid.uuid4().hex
    assert _upload(s, ann, upload_id) == 200
    before = _state(s, page)
    assert before, "the page load put the queue's session list in a gr.State"

    caplog.set_level(logging.WARNING, logger="msw_audio.web.gradio_guard")
    for what, (method, path, body) in _replays(s, page, call_event, upload_id).items():
        if method == "GET":
            status, out = _stream_status(s, path, ben)
        else:
            status, _, out = _request(s.base + path, cookie=ben, method=method,
                                      data=json.dumps(body).encode(), headers=JSON)
        assert status == 403 and NOT_YOURS in out, (what, status, out[:200])
    refusals = [r for r in caplog.records if "refused to login" in r.getMessage()]
    assert len(refusals) == 12 and all(" ann" in r.getMessage() and " ben" in r.getMessage()
                                       for r in refusals)
    assert not [r for r in refusals if page in r.getMessage() or call_event in r.getMessage()]

    assert _state(s, page) == before, "B's replays changed A's page"
    assert not s.guard.blocks.state_holder.session_data[page].is_closed
    ok, out = event(s, ann, "review_refresh", [s.own], page)  # A carries on
    assert ok and "Demo visit" in out, out
    status, _, out = _request(f"{s.base}/ui/gradio_api/call/review_refresh/{call_event}",
                              cookie=ann)
    assert status == 200 and b"Demo visit" in out, out[:200]
    # and B's own page works as ever
    mine = "page-" + uuid.uuid4().hex
    assert event(s, ben, "page_load", [], mine)[0]
    ok, out = event(s, ben, "review_refresh", [s.own], mine)
    assert ok and "Demo visit" in out, out


def test_signing_out_and_in_again_is_a_fresh_page(served: Served) -> None:
    """A new login of the same user does not get the old tab's page: 403 on it, its
    Gradio state gone once the guard prunes, and a new page works."""
    s = served
    cookie = _login(s.base, "ann")
    page = "page-" + uuid.uuid4().hex
    ok, out = event(s, cookie, "page_load", [], page)
    assert ok, out
    status, _, _ = _request(s.base + "/logout", cookie=cookie, method="POST", data=b"")
    assert status == 303
    again = _login(s.base, "ann")
    ok, out = event(s, again, "review_refresh", [s.own], page)
    assert not ok and "HTTP 403" in out and "another login" in out, out
    assert page in s.guard.blocks.state_holder.session_data
    assert "h:" + page in s.guard.pages.prune()  # the ended login's pages, with their state
    assert page not in s.guard.blocks.state_holder.session_data
    fresh = "page-" + uuid.uuid4().hex
    assert event(s, again, "page_load", [], fresh)[0]
    ok, out = event(s, again, "review_refresh", [s.own], fresh)
    assert ok and "Demo visit" in out, out


def test_the_page_map_is_bounded_and_forgets_ended_logins() -> None:
    """Per login and in all, the oldest pages go first (their state with them); the pages
    of a login no longer live are forgotten at the next prune."""
    live = {"L1", "L2"}
    dropped: list[str] = []
    pages = PageOwners(lambda: set(live), dropped.append, per_login=3, total=5)
    one, two = Owner(1, "L1", "ann"), Owner(2, "L2", "ben")
    for i in range(10):
        assert pages.claim(f"h:a{i}", one) is None
    assert len(pages) == 3 and dropped == [f"h:a{i}" for i in range(7)]
    assert pages.claim("h:a9", two) == one  # still A's
    for i in range(3):
        assert pages.claim(f"h:b{i}", two) is None
    assert len(pages) == 5 and dropped[-1] == "h:a7"  # the oldest of all went first
    assert pages.owner("h:a8") == one
    live.discard("L1")
    assert sorted(pages.prune()) == ["h:a8", "h:a9"]
    assert len(pages) == 3 and pages.claim("h:a9", two) is None
