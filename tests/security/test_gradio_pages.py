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
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from msw_audio.web.gradio_pages import ENDED, Owner, PageOwners
from tests.conftest_app import DEMO_AUDIO, PASSWORD, make_store, serve_app
from tests.security.gradio_calls import JSON, event, guard_of, handler_table, stream_status, upload
from tests.test_app import _login, _request

NOT_YOURS = b"belongs to another login"
#: logins whose pages the tests end: by logout, by a password reset, by a disable
ENDERS = {"logout": "cleo", "reset": "dora", "disable": "erin"}


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
    # two evaluators of the same team (only the page differs), and three to end
    for name in ("ann", "ben", *ENDERS.values()):
        store.add_user(name, "evaluator", PASSWORD)
    app = create_app(store)
    with serve_app(app) as base:
        s = Served(store, base, own, guard_of(app))
        for name in ("ann", "ben", "ada"):
            s.cookies[name] = _login(base, name)
        s.deps = handler_table(base, s.cookies["ann"])
        yield s
    store.close()


def _state(s: Served, session_hash: str) -> dict[int, Any]:
    """The ``gr.State`` values Gradio holds for a page (a copy)."""
    return copy.deepcopy(dict(s.guard.blocks.state_holder.session_data[session_hash]
                              .state_data))


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
    return upload(s.base, cookie, DEMO_AUDIO.read_bytes()[:4096], upload_id=upload_id)[0]


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
            status, out = stream_status(s.base, path, ben)
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
    """A new login of the same user does not get the old tab's page: its Gradio state is
    gone the moment the user signs out (no prune, no wait), the old hash is refused to the
    new login (403: reload), and a new page works."""
    s = served
    cookie = _login(s.base, "ann")
    page = "page-" + uuid.uuid4().hex
    ok, out = event(s, cookie, "page_load", [], page)
    assert ok, out
    assert page in s.guard.blocks.state_holder.session_data
    status, _, _ = _request(s.base + "/logout", cookie=cookie, method="POST", data=b"")
    assert status == 303
    assert page not in s.guard.blocks.state_holder.session_data
    assert s.guard.pages.owner("h:" + page) is None and s.guard.pages.is_ended("h:" + page)
    again = _login(s.base, "ann")
    ok, out = event(s, again, "review_refresh", [s.own], page)
    assert not ok and "HTTP 403" in out and "reload the page" in out, out
    fresh = "page-" + uuid.uuid4().hex
    assert event(s, again, "page_load", [], fresh)[0]
    ok, out = event(s, again, "review_refresh", [s.own], fresh)
    assert ok and "Demo visit" in out, out


def _end(s: Served, how: str, name: str, cookie: str) -> None:
    """End ``name``'s login the way a person does: sign out, or the admin (in the Admin
    tab, on the admin's own page) resets the password or disables the login."""
    if how == "logout":
        status, _, _ = _request(s.base + "/logout", cookie=cookie, method="POST", data=b"")
        assert status == 303
        return
    admin_page = "admin-" + uuid.uuid4().hex
    assert event(s, s.cookies["ada"], "page_load", [], admin_page)[0]  # fills the pickers
    if how == "reset":
        ok, out = event(s, s.cookies["ada"], "admin_reset_password",
                        [name, "a-new-password-9", "a-new-password-9"], admin_page)
    else:
        ok, out = event(s, s.cookies["ada"], "admin_disable", [name], admin_page)
    assert ok and "⚠" not in out and "\\u26a0" not in out, out


@pytest.mark.parametrize("how", list(ENDERS))
def test_logout_reset_and_disable_drop_the_logins_pages_at_once(served: Served,
                                                                 how: str) -> None:
    """The moment a login ends — its user signs out, or an admin resets the password or
    disables the user — its Gradio pages are forgotten with their state, before any prune
    and without waiting: the old hash is refused, the old cookie gets 401; the admin's own
    page and another login's page are untouched."""
    s = served
    name = ENDERS[how]
    cookie = _login(s.base, name)
    pages = ["page-" + uuid.uuid4().hex for _ in range(2)]
    for page in pages:  # two tabs of the same login
        ok, out = event(s, cookie, "page_load", [], page)
        assert ok, out
    other = "page-" + uuid.uuid4().hex
    assert event(s, s.cookies["ben"], "page_load", [], other)[0]
    held = s.guard.blocks.state_holder.session_data
    assert all(p in held and s.guard.pages.owner("h:" + p) is not None for p in pages)
    pruned_at = s.guard.pages._pruned_at

    _end(s, how, name, cookie)
    assert s.guard.pages._pruned_at == pruned_at, "dropped by the login's end, not a prune"
    for page in pages:
        assert page not in held, f"{how}: the page's Gradio state outlived the login"
        assert s.guard.pages.owner("h:" + page) is None
        assert s.guard.pages.is_ended("h:" + page)
    assert other in held and s.guard.pages.owner("h:" + other) is not None
    status, _, _ = _request(s.base + "/api/sessions", cookie=cookie)
    assert status == 401, how
    # the hash is refused to anyone later, even a new login of the same user
    if how == "disable":
        s.store.set_active(name, True, s.store.get_user("ada"))
    again = _login_as(s, name, "a-new-password-9" if how == "reset" else PASSWORD)
    ok, out = event(s, again, "review_refresh", [s.own], pages[0])
    assert not ok and "HTTP 403" in out, out
    assert event(s, s.cookies["ben"], "review_refresh", [s.own], other)[0]


def _login_as(s: Served, name: str, password: str) -> str:
    status, headers, _ = _request(
        s.base + "/login", method="POST",
        data=f"username={name}&password={password}&next=/".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303 and "set-cookie" in headers, status
    return headers["set-cookie"].split(";")[0]


def test_the_page_map_is_bounded_and_forgets_ended_logins() -> None:
    """Per login and in all, the oldest pages go first (their state with them); the pages
    of a login no longer live are forgotten at the next prune, or at once when the login
    ends (``forget_login``), and then refused to everyone."""
    live = {"L1", "L2", "L3"}
    dropped: list[str] = []
    pages = PageOwners(lambda: set(live), dropped.append, per_login=3, total=5)
    one, two, three = Owner(1, "L1", "ann"), Owner(2, "L2", "ben"), Owner(3, "L3", "cleo")
    for i in range(10):
        assert pages.claim(f"h:a{i}", one) is None
    assert len(pages) == 3 and dropped == [f"h:a{i}" for i in range(7)]
    assert pages.claim("h:a9", two) == one  # still A's
    for i in range(3):
        assert pages.claim(f"h:b{i}", two) is None
    assert len(pages) == 5 and dropped[-1] == "h:a7"  # the oldest of all went first
    assert pages.owner("h:a8") == one
    assert pages.claim("h:a0", two) is None  # pushed out by the bounds: free again
    live.discard("L1")
    assert sorted(pages.prune()) == ["h:a8", "h:a9"]
    assert len(pages) == 3 and pages.claim("h:a9", two) == ENDED
    assert sorted(pages.forget_login("L2")) == ["h:a0", "h:b1", "h:b2"]
    assert sorted(dropped[-3:]) == ["h:a0", "h:b1", "h:b2"] and len(pages) == 0
    assert pages.claim("h:b2", three) == ENDED and pages.claim("h:c0", three) is None
    assert pages.forget_login("nobody") == []
