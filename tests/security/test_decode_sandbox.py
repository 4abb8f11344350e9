"""Untrusted media is decoded in a limited child process: a corrupt upload, a decoder that
runs out of memory or time, each becomes one clear error and the serving process goes on
(it never loaded the file). Real recordings, real FFmpeg (PyAV)."""

from __future__ import annotations

import os

import pytest

from msw_audio.errors import AudioError
from msw_audio.jobs.queue import enqueue
from msw_audio.review.auth import system_user
from msw_audio.review.store import Store
from msw_audio.speech.sandbox import check_media_isolated
from tests.conftest_app import DEMO_AUDIO


def test_a_corrupt_upload_is_refused_by_the_child_and_nothing_is_kept(tmp_path):
    corrupt = tmp_path / "visit.ogg"
    corrupt.write_bytes(b"OggS" + os.urandom(64 * 1024))  # an Ogg header, then garbage
    with Store.open(tmp_path / "data") as store:
        with pytest.raises(AudioError, match="visit.ogg"):
            enqueue(store, corrupt, system_user("test"))
        assert not list(store.paths.incoming.iterdir())
        check_media_isolated(DEMO_AUDIO, mode="probe")  # and this process is unharmed


def test_memory_and_time_limits_end_the_child_not_the_server(tmp_path):
    with pytest.raises(AudioError, match="within its limits"):
        check_media_isolated(DEMO_AUDIO, memory_mb=64)  # cannot even load the decoder
    with pytest.raises(AudioError, match="longer than"):
        check_media_isolated(DEMO_AUDIO, seconds=0.05)
    html = tmp_path / "page.ogg"
    html.write_text("<html><script>alert(1)</script></html>")
    with pytest.raises(AudioError, match="page.ogg"):
        check_media_isolated(html, mode="probe")
