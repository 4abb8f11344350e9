"""``msw-audio demo`` never touches a real store: its own folder by default, and it refuses
the production folder or any folder holding a login that is not a demo login."""

from __future__ import annotations

import pytest

from msw_audio.cli.app import demo_data_dir, open_demo_store
from msw_audio.errors import InputError
from msw_audio.review.store import Store


def test_demo_uses_its_own_folder_and_refuses_a_real_store(tmp_path, monkeypatch):
    monkeypatch.delenv("MSW_AUDIO_DEMO_DATA", raising=False)
    monkeypatch.setenv("MSW_AUDIO_DATA", str(tmp_path / "real"))
    assert demo_data_dir() == tmp_path / "real-demo"
    with pytest.raises(InputError, match="production data folder"):
        open_demo_store(tmp_path / "real")
    with Store.open(tmp_path / "other") as real:
        real.add_user("alice", "evaluator", "a-long-password")
    with pytest.raises(InputError, match="real logins"):
        open_demo_store(tmp_path / "other")
    store = open_demo_store(None)
    try:
        assert store.data_dir == (tmp_path / "real-demo").resolve()
    finally:
        store.close()
