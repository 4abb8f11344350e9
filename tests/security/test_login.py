"""Login hardening against a served app: parallel guessing, floods of made-up names, and
logins that must end (logout, password reset, disabled user, idle)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from msw_audio.review.auth import system_user
from tests.conftest_app import PASSWORD, make_store, running_server
from tests.test_app import _login, _request

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _post_login(base: str, name: str, password: str) -> tuple[int, dict]:
    body = f"username={name}&password={password}&next=/".encode()
    status, headers, _ = _request(base + "/login", method="POST", data=body, headers=FORM)
    return status, headers


@pytest.fixture()
def served(tmp_path: Path):
    store, sid = make_store(tmp_path / "data")
    with running_server(store) as base:
        yield store, sid, base
    store.close()


def _audit(store, action: str, name: str | None = None) -> list[dict]:
    rows = store.audit_log(store.get_user("ada"))
    return [r for r in rows if r["action"] == action and (name is None or r["user"] == name)]


def test_thirty_parallel_wrong_passwords_count_at_most_the_limit(served):
    store, _sid, base = served
    with ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(lambda _: _post_login(base, "eva", "wrong-password"), range(30)))
    assert all(status == 303 for status, _ in results)
    assert len(_audit(store, "login.failed", "eva")) <= 5
    locked = sum("error=locked" in h["location"] for _, h in results)
    assert locked >= 25
    status, headers = _post_login(base, "eva", PASSWORD)  # the right one is refused too
    assert "error=locked" in headers["location"]


def test_made_up_names_write_no_audit_row_each_and_memory_stays_bounded(served):
    from msw_audio.web.server import LoginThrottle

    store, _sid, base = served
    for i in range(12):
        _post_login(base, f"nobody{i}", "wrong-password")
    assert _audit(store, "login.failed") == []  # counted, written as one row per minute
    throttle = LoginThrottle(max_keys=1000)
    for i in range(10_000):
        throttle.begin(f"made-up-{i}", "10.0.0.1" if i % 2 else None)
    assert len(throttle._failures) <= 1000


def test_the_old_cookie_is_refused_after_logout_password_reset_and_disable(served):
    store, sid, base = served
    admin = system_user("test")
    for end in ("logout", "reset", "disable"):
        cookie = _login(base, "cora")
        assert _request(base + "/api/me", cookie=cookie)[0] == 200
        if end == "logout":
            _request(base + "/logout", cookie=cookie, method="POST")
        elif end == "reset":
            store.set_password("cora", "a-new-password-2", actor=admin)
            store.set_password("cora", PASSWORD, actor=admin)  # same text, new hash
        else:
            store.set_active("cora", False, admin)
        import time

        time.sleep(5.2)  # the gate reuses a looked-up user for up to 5 s
        assert _request(base + "/api/me", cookie=cookie)[0] == 401, end
        store.set_active("cora", True, admin)


def test_cookie_flags_and_idle_timeout():
    from msw_audio.review.auth import User
    from msw_audio.web.server import Sessions

    now = [0.0]
    sessions = Sessions(hours=12, idle_minutes=30, clock=lambda: now[0])
    token = sessions.create(User("eva", "evaluator", credential="x"))
    now[0] += 29 * 60
    assert sessions.name_for(token) == "eva"  # touched: the idle clock restarts
    now[0] += 29 * 60
    assert sessions.name_for(token) == "eva"
    now[0] += 31 * 60
    assert sessions.name_for(token) is None


def test_login_cookie_is_httponly_samesite_strict(served):
    _store, _sid, base = served
    _status, headers = _post_login(base, "eva", PASSWORD)
    cookie = headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_an_older_weaker_hash_is_rehashed_at_the_next_login(tmp_path: Path) -> None:
    """A password stored with the old scrypt cost (N=2^14) still signs in once, and is then
    stored at OWASP's N=2^17; a wrong password changes nothing."""
    import base64
    import hashlib
    import secrets

    from sqlalchemy import update

    from msw_audio.review.auth import needs_rehash
    from msw_audio.review.db import UserRow

    store, _sid = make_store(tmp_path / "data")
    try:
        salt = secrets.token_bytes(16)
        digest = hashlib.scrypt(b"old-password-1", salt=salt, n=2**14, r=8, p=1, dklen=32)
        old = (f"scrypt${2**14}$8$1${base64.b64encode(salt).decode()}$"
               f"{base64.b64encode(digest).decode()}")
        with store.tx() as s:
            s.execute(update(UserRow).where(UserRow.name == "eva").values(password_hash=old))

        def stored() -> str:
            with store.rtx() as s:
                return s.query(UserRow).filter_by(name="eva").one().password_hash

        assert store.authenticate("eva", "wrong-password") is None and stored() == old
        assert store.authenticate("eva", "old-password-1") is not None
        assert stored() != old and stored().startswith(f"scrypt${2**17}$8$1$")
        assert not needs_rehash(stored())
        assert store.authenticate("eva", "old-password-1") is not None
    finally:
        store.close()
