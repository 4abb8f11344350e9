"""The long review session the open-time benchmarks share: the demo transcript repeated
(1,040 utterances at the default 20 copies) over the demo recording repeated, ingested into a
fresh store with one evaluator, and a signed-in browser state for it.

Why one module: ``app_open.py`` and ``app_open_requests.py`` must measure the *same*
session and the same "rows and waveform on screen" moment, or their figures cannot be read
side by side in RESULTS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.conftest_app import (  # noqa: E402
    PASSWORD,
    demo_session,
    repeated_recording,
    write_session_dir,
)

USER = "bench"


def build_long_session(tmp_path: Path, repeat: int) -> tuple[Any, str, int, float]:
    """A store under ``tmp_path/data`` holding the long session with its recording.

    Returns ``(store, session id, number of utterances, minutes of audio)``; the evaluator
    is ``USER``.
    """
    from msw_audio.review.store import Store
    from msw_audio.speech.audio import sha256_file

    audio, period = repeated_recording(repeat, tmp_path / "long.ogg")
    store = Store.open(tmp_path / "data")
    store.add_user(USER, "evaluator", PASSWORD)
    session = demo_session(n_repeat=repeat, period=period)
    session.audio.path, session.audio.sha256 = str(audio), sha256_file(audio)
    sid = store.ingest(write_session_dir(session, tmp_path / "out"), audio_path=audio)
    return store, sid, len(session.utterances), period * repeat / 60


def shown_js(n: int) -> str:
    """The page condition "all ``n`` rows and the waveform are on screen"."""
    return (f"document.querySelectorAll('.msw-utt').length === {n} && "
            "(document.querySelector('.msw-review') || {dataset: {}}).dataset.wave === 'ready'")


def sign_in(page: Any, base: str) -> None:
    """Log ``USER`` in on ``page`` and wait for the review screen's header."""
    page.goto(base + "/login")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(".msw-header", timeout=60_000)
