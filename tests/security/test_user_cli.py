"""The user-management CLI the issue names (``msw-audio user list --json``, ``user reset
NAME`` with the password from stdin) and the configurable idle timeout of ``serve``, run
in-process against a real store folder."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from msw_audio.cli.main import main
from msw_audio.review.auth import system_user
from msw_audio.review.store import Store
from msw_audio.web.login import IDLE_MINUTES, Sessions


def test_user_list_json_and_reset_from_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    monkeypatch.setattr("sys.stdin", io.StringIO("first-password-1\n"))
    assert main(["user", "add", "kim", "--role", "coach", "--team", "North", "--team", "East",
                 "--password-stdin", "--data", str(data)]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("second-password-2\n"))
    assert main(["user", "reset", "kim", "--password-stdin", "--data", str(data)]) == 0
    assert main(["user", "disable", "kim", "--data", str(data)]) == 0
    capsys.readouterr()
    assert main(["user", "list", "--json", "--data", str(data)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [{"name": "kim", "role": "coach", "grants": [], "teams": ["East", "North"],
                       "worker": None, "active": False}]
    assert "password" not in json.dumps(listed)
    store = Store.open(data)
    try:
        store.set_active("kim", True, system_user("t"))
        assert store.authenticate("kim", "second-password-2") is not None
        assert store.authenticate("kim", "first-password-1") is None
    finally:
        store.close()


def test_serve_takes_the_idle_timeout(tmp_path: Path) -> None:
    """``serve --idle-minutes`` reaches the login sessions (default 30 minutes)."""
    from msw_audio.cli.main import build_parser
    from msw_audio.web.server import create_app

    args = build_parser().parse_args(["serve", "--idle-minutes", "5", "--data", str(tmp_path)])
    assert args.idle_minutes == 5
    store = Store.open(tmp_path / "data")
    try:
        for minutes, expected in ((None, IDLE_MINUTES), (5, 5)):
            app = create_app(store, mount_ui=False, idle_minutes=minutes)
            while not hasattr(app, "sessions"):
                app = app.app
            sessions: Sessions = app.sessions
            assert sessions._idle == expected * 60
    finally:
        store.close()
