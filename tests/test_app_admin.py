"""The Admin tab in real Chromium: users added and disabled, passwords reset, a session
erased after typing its id, retention days and the worker status.

Server, store, audio and browser are real (``tests/conftest_app.py``); each test module
gets its own store, so the erasure here touches no other test's session.
"""

from __future__ import annotations

import urllib.parse

import pytest

from msw_audio.speech.audio import sha256_file
from tests.conftest_app import (
    DEMO_AUDIO,
    PASSWORD,
    demo_session,
    make_store,
    running_server,
    write_session_dir,
)
from tests.test_app import _login, _request

NEW_PASSWORD = "fresh-start-pw-42"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("admin")
    store, sid = make_store(root / "data")
    with running_server(store) as base:
        yield store, sid, base
    store.close()




def _sign_in(browser, base, name="ada", password=PASSWORD):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(base + "/ui/")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("#msw-queue", timeout=60_000)
    return page


def _admin_tab(browser, base):
    page = _sign_in(browser, base)
    page.get_by_role("tab", name="Admin").click(timeout=60_000)
    _has(page, "#msw-admin-users", "ada")
    return page


def _has(page, selector: str, text: str, timeout: int = 30_000) -> None:
    page.wait_for_function(
        "([s, t]) => (document.querySelector(s)?.innerText || '').includes(t)",
        arg=[selector, text], timeout=timeout,
    )


def _choose(page, label: str, option: str) -> None:
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option).first.click()


def _password_login(base, name, password):
    body = urllib.parse.urlencode({"username": name, "password": password, "next": "/"})
    status, headers, _ = _request(
        base + "/login", method="POST", data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    ok = status == 303 and "set-cookie" in headers
    return headers["set-cookie"].split(";")[0] if ok else None


@pytest.mark.browser
def test_only_an_admin_sees_the_admin_tab(served, browser):
    _store, _sid, base = served
    page = _sign_in(browser, base, "eva")
    page.get_by_role("tab", name="Review").wait_for(timeout=30_000)
    assert page.get_by_role("tab", name="Admin").count() == 0
    page.context.close()


@pytest.mark.browser
def test_admin_adds_a_user_who_can_then_sign_in(served, browser):
    store, _sid, base = served
    page = _admin_tab(browser, base)
    _has(page, "#msw-admin-worker", "queue")  # the worker status is shown
    page.get_by_text("Add a user").click()
    page.get_by_label("New user name", exact=True).fill("nina")
    _choose(page, "Role", "coach")
    page.get_by_label("Teams (comma-separated, * = every team)").fill("North")
    page.get_by_label("Initial password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat initial password", exact=True).fill("not-the-same-1")
    page.get_by_role("button", name="Add user").click()
    _has(page, "#msw-admin-result", "the two passwords differ")
    assert store.get_user("nina") is None
    page.get_by_label("Initial password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat initial password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Add user").click()
    _has(page, "#msw-admin-result", "User nina added")
    _has(page, "#msw-admin-users", "nina")
    # the password is never echoed back: the boxes are empty, the page never shows it
    assert page.get_by_label("Initial password", exact=True).input_value() == ""
    assert page.get_by_label("Repeat initial password", exact=True).input_value() == ""
    assert NEW_PASSWORD not in page.content()
    nina = store.get_user("nina")
    assert nina.role == "coach" and nina.teams == frozenset({"North"})
    entry = next(a for a in store.audit_log(store.get_user("ada"))
                 if a["action"] == "user.add" and a["target_id"] == "nina")
    assert entry["user"] == "ada"
    page.context.close()

    cookie = _password_login(base, "nina", NEW_PASSWORD)
    assert cookie, "the new user signs in with the password the admin set"
    status, _, _ = _request(base + "/api/sessions", cookie=cookie)
    assert status == 200


@pytest.mark.browser
def test_admin_disables_and_resets_and_open_logins_end_at_once(served, browser):
    store, _sid, base = served
    cora = _login(base, "cora")
    eva = _login(base, "eva")
    for cookie in (cora, eva):
        assert _request(base + "/api/sessions", cookie=cookie)[0] == 200
    page = _admin_tab(browser, base)

    _choose(page, "User", "cora")
    _has(page, "#msw-admin-pick-summary", "cora")
    page.get_by_role("button", name="Disable login").click()
    _has(page, "#msw-admin-result", "cora disabled")
    assert _request(base + "/api/sessions", cookie=cora)[0] == 401, "ended at once"
    status, headers, _ = _request(base + "/ui/", cookie=cora, headers={"Accept": "text/html"})
    assert status == 303 and headers["location"].startswith("/login")
    assert _password_login(base, "cora", PASSWORD) is None, "a disabled login cannot sign in"
    _has(page, "#msw-admin-users", "disabled")

    page.get_by_role("button", name="Enable login").click()
    _has(page, "#msw-admin-result", "cora enabled")
    assert _password_login(base, "cora", PASSWORD)

    _choose(page, "User", "eva")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat new password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Reset password").click()
    _has(page, "#msw-admin-result", "Password of eva reset")
    assert page.get_by_label("New password", exact=True).input_value() == ""
    assert _request(base + "/api/sessions", cookie=eva)[0] == 401, "the old login is ended"
    assert _password_login(base, "eva", PASSWORD) is None
    assert _password_login(base, "eva", NEW_PASSWORD)

    # a grant and a role change, audited as the admin
    _choose(page, "User", "rita")
    _choose(page, "Permission", "audio.listen")
    page.get_by_role("button", name="Grant").click()
    _has(page, "#msw-admin-result", "audio.listen granted to rita")
    assert "audio.listen" in store.get_user("rita").grants
    _choose(page, "New role", "evaluator")
    page.get_by_role("button", name="Change role").click()
    _has(page, "#msw-admin-result", "rita now has the role evaluator")
    ada = store.get_user("ada")
    actions = {a["action"] for a in store.audit_log(ada) if a["user"] == "ada"}
    assert {"user.disable", "user.enable", "user.password", "user.grant", "user.role"} <= actions

    # retention days: shown and set
    page.get_by_text("Retention", exact=True).click()
    _has(page, "#msw-admin-retention", "not set")
    page.get_by_label("Retention days", exact=True).fill("400")
    page.get_by_role("button", name="Save retention").click()
    _has(page, "#msw-admin-retention", "400 days")
    assert store.setting("retention_days") == "400"
    store.set_password("eva", PASSWORD, actor=ada)  # as the other tests expect
    store.set_user_role("rita", "researcher", ada)
    page.context.close()


@pytest.mark.browser
def test_admin_erases_a_session_after_typing_its_id(served, browser):
    store, keep, base = served
    # the same recording would be the same session: a copy with one more byte is another
    folder = store.paths.root.parent / "erase-me"
    folder.mkdir()
    copy = folder / "copy.ogg"
    copy.write_bytes(DEMO_AUDIO.read_bytes() + b"\0")
    session = demo_session()
    session.audio.path, session.audio.sha256 = str(copy), sha256_file(copy)
    out = write_session_dir(session, folder)
    ada = store.get_user("ada")
    sid = store.ingest(out, meta={"team": "South", "title": "Visit to erase"}, audio_path=copy)
    cookie = _login(base, "ada")
    assert _request(base + f"/api/sessions/{sid}", cookie=cookie)[0] == 200

    page = _admin_tab(browser, base)
    page.get_by_role("tab", name="Review").click()
    _has(page, "#msw-queue", "Visit to erase")
    page.get_by_role("tab", name="Admin").click()
    page.get_by_text("Erase a session").click()
    _choose(page, "Session to erase", "Visit to erase")
    button = page.get_by_role("button", name="Erase session")
    assert button.is_disabled(), "nothing is erased before the id is typed"
    page.get_by_label("Type the session id to confirm").fill(sid[:-1])
    page.wait_for_timeout(500)
    assert button.is_disabled()
    page.get_by_label("Type the session id to confirm").fill(sid)
    page.wait_for_function(
        "() => [...document.querySelectorAll('button')].some("
        "b => b.innerText.includes('Erase session') && !b.disabled)", timeout=15_000)
    button.click()
    _has(page, "#msw-admin-erase-result", f"Session {sid} erased", timeout=90_000)
    _has(page, "#msw-admin-erase-result", "Trace check")
    assert sid not in [s.id for s in store.list_sessions(ada)]
    assert keep in [s.id for s in store.list_sessions(ada)], "only that session goes"
    for path in (f"/api/sessions/{sid}", f"/media/{sid}"):
        assert _request(base + path, cookie=cookie)[0] == 404, path
    page.get_by_role("tab", name="Review").click()
    page.wait_for_function(
        "() => !(document.querySelector('#msw-queue')?.innerText || '').includes("
        "'Visit to erase')", timeout=30_000)
    entry = next(a for a in store.audit_log(ada) if a["action"] == "session.erase")
    assert entry["user"] == "ada" and entry["target_id"] == sid
    page.context.close()
