"""Shared fixtures: locations of real test audio, and one loaded pipeline per test run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from msw_audio.devdata import pyannote_sample_dir, shared_dir  # noqa: F401 - used by tests

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["PYANNOTE_METRICS_ENABLED"] = "0"

REPO = Path(__file__).resolve().parents[1]


def annomi_slice(path: Path, n_transcripts: int) -> Path:
    """The first ``n_transcripts`` of the AnnoMI dev CSV, written to ``path`` (small, fast)."""
    import pandas as pd

    full = pd.read_csv(shared_dir() / "data" / "annomi" / "annomi-full-dev.csv")
    ids = sorted(full["transcript_id"].unique())[:n_transcripts]
    full[full["transcript_id"].isin(ids)].to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def jfk_path() -> Path:
    path = shared_dir() / "data" / "audio" / "jfk.flac"
    if not path.exists():
        pytest.fail(f"{path} missing: the shared data folder must sit beside the repo")
    return path


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return pyannote_sample_dir()


@pytest.fixture(scope="session")
def speech_pipeline(tmp_path_factory):
    """One real Pipeline (Whisper tiny.en + pyannote/CAM++) shared by the slow tests."""
    from msw_audio.pipeline import Pipeline, PipelineConfig

    cache = tmp_path_factory.mktemp("stage-cache")
    return Pipeline(PipelineConfig(cache_dir=cache))


@pytest.fixture()
def store(tmp_path: Path):
    """An empty review store (SQLite, migrated) in a fresh data folder."""
    from msw_audio.review.store import Store

    st = Store.open(tmp_path / "data")
    yield st
    st.close()


@pytest.fixture(scope="module")
def browser():
    """One headless Debian Chromium per test module (skipped where it is not installed)."""
    from tests.conftest_app import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()
