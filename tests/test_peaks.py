"""Waveform peaks (``speech.peaks``): the file decoder and the pipeline's in-memory path
agree on a real recording, and the cache round-trips and refuses stale files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from msw_audio.errors import AudioError
from msw_audio.speech.audio import load_audio, sha256_file
from msw_audio.speech.peaks import (
    PER_SECOND,
    Peaks,
    cached_peaks,
    decode_peaks,
    load_peaks,
    peaks_file,
    peaks_from_samples,
)
from tests.conftest_app import DEMO_AUDIO


def test_decoded_peaks_match_the_pipelines_and_the_cache_round_trips(tmp_path):
    decoded = decode_peaks(DEMO_AUDIO)  # 48 kHz Opus, first channel, straight from frames
    samples = load_audio(DEMO_AUDIO)  # what the pipeline holds: 16 kHz mono
    mine = peaks_from_samples(samples, 16000)
    assert abs(decoded.duration - mine.duration) < 0.05
    assert abs(len(decoded.data) - decoded.duration * PER_SECOND) <= 1
    a = np.frombuffer(decoded.data, np.uint8).astype(float)
    b = np.frombuffer(mine.data, np.uint8).astype(float)
    n = min(len(a), len(b))
    assert abs(len(a) - len(b)) <= 1 and np.corrcoef(a[:n], b[:n])[0, 1] > 0.99
    back = Peaks.from_record(json.loads(json.dumps(mine.to_record())))
    assert back.data == mine.data and abs(back.duration - mine.duration) < 1e-3

    sha = sha256_file(DEMO_AUDIO)
    first = cached_peaks(DEMO_AUDIO, sha, tmp_path)
    assert peaks_file(tmp_path, sha).parent == tmp_path / sha  # the recording's cache folder
    assert load_peaks(tmp_path, sha) == first
    record = json.loads(peaks_file(tmp_path, sha).read_text())
    peaks_file(tmp_path, sha).write_text(json.dumps({**record, "version": 0}))
    assert load_peaks(tmp_path, sha) is None, "an older format is recomputed, not misread"


def test_a_file_that_is_not_audio_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.ogg"
    bad.write_text("not a recording")
    with pytest.raises(AudioError):
        decode_peaks(bad)
