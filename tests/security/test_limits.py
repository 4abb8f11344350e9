"""Limits a served app sets on its own (issue 13, tests 5 and 9, and the per-address login
throttle): an oversized upload is refused while it streams, the cookie is ``Secure`` when
served behind HTTPS, and one address cannot spread guesses over many user names."""

from __future__ import annotations

from pathlib import Path

import pytest

from msw_audio.web.login import LoginThrottle
from tests.conftest_app import DEMO_AUDIO, PASSWORD, make_store, serve_app
from tests.security.gradio_calls import upload
from tests.test_app import _request

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_an_oversized_upload_is_413_before_it_lands_and_the_cookie_is_secure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a 16 KiB upload limit (``MSW_AUDIO_MAX_UPLOAD_MB``) and ``--secure-cookie``:
    the login cookie is HttpOnly, SameSite=Strict and Secure; an evaluator's 64 KiB upload
    through Gradio's upload route gets 413 and nothing is left in the upload folder; a
    small one is still taken."""
    from msw_audio.web.server import create_app

    monkeypatch.setenv("MSW_AUDIO_MAX_UPLOAD_MB", str(16 / 1024))
    store, _sid = make_store(tmp_path / "data")
    try:
        app = create_app(store, secure_cookie=True)
        with serve_app(app) as base:
            status, headers, _ = _request(
                base + "/login", method="POST", headers=FORM,
                data=f"username=eva&password={PASSWORD}&next=/".encode())
            assert status == 303
            flags = headers["set-cookie"].lower()
            assert "secure" in flags and "httponly" in flags and "samesite=strict" in flags
            cookie = headers["set-cookie"].split(";")[0]
            uploads = store.paths.uploads
            before = sorted(p for p in uploads.rglob("*"))
            status, body = upload(base, cookie, DEMO_AUDIO.read_bytes()[:64 * 1024])
            assert status == 413, (status, body[:200])
            assert sorted(p for p in uploads.rglob("*")) == before, "the refused file landed"
            status, body = upload(base, cookie, DEMO_AUDIO.read_bytes()[:4 * 1024])
            assert status == 200, (status, body[:200])
    finally:
        store.close()


def test_one_address_cannot_spread_guesses_over_many_names() -> None:
    """The throttle counts per address too: past ``address_limit`` attempts from one
    address every further name is refused (not counted), another address still may try,
    and a success clears only the name."""
    now = [0.0]
    throttle = LoginThrottle(limit=5, window=300.0, clock=lambda: now[0], address_limit=3)
    for i in range(3):
        assert throttle.begin(f"name{i}", "127.0.0.2") == 0.0
    assert throttle.begin("someone-else", "127.0.0.2") > 0
    assert throttle.begin("someone-else", "127.0.0.3") == 0.0
    throttle.succeeded("name0")
    assert throttle.begin("name0", "127.0.0.2") > 0  # the address is still over its limit
    now[0] += 301
    assert throttle.begin("name0", "127.0.0.2") == 0.0


def test_an_abandoned_upload_is_swept_and_the_upload_folder_is_owner_only(
        tmp_path: Path) -> None:
    """Uploads wait in ``<data>/uploads`` (0700, made by ``create_app``), not /tmp; one
    never processed is removed by the orphan sweep (``msw-audio retention``) once it is a
    day old, with its folder; a fresh one (perhaps still being submitted) stays."""
    import os
    import time

    from msw_audio.web.server import create_app

    store, _sid = make_store(tmp_path / "data")
    try:
        create_app(store)
        uploads = store.paths.uploads
        assert uploads.is_dir() and uploads.stat().st_mode & 0o077 == 0
        old, fresh = uploads / "a" / "old.ogg", uploads / "b" / "fresh.ogg"
        for f in (old, fresh):
            f.parent.mkdir()
            f.write_bytes(b"OggS family recording")
        day_ago = time.time() - 25 * 3600
        os.utime(old, (day_ago, day_ago))
        removed = store.sweep_orphans()
        assert str(old) in removed and not old.exists() and not old.parent.exists()
        assert fresh.exists()
    finally:
        store.close()
