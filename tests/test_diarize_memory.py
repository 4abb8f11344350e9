"""Memory bounded by length (issue 17): a scratch waveform read window by window, diarization
networks run window by window, clustering capped — and none of it changes a result.

Real models and real audio (the three-speaker test session, tiled into a longer recording);
the window and the cap are set small so the long paths run in seconds.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from msw_audio.errors import AudioError
from msw_audio.speech.audio import load_audio
from msw_audio.speech.diarize import DiarizeOptions, Diarizer, cluster_embeddings
from msw_audio.speech.peaks import peaks_from_samples
from msw_audio.speech.scratch import ScratchAudio, decode_to_scratch

REPO = Path(__file__).resolve().parents[1]
THREE = REPO / "tests" / "data" / "three_speakers" / "three_speakers.ogg"


@pytest.fixture(scope="module")
def long_audio(tmp_path_factory) -> Path:
    """The 80 s three-speaker session twice over with a pause between (~165 s), as FLAC."""
    folder = tmp_path_factory.mktemp("long")
    once = load_audio(THREE)
    pcm = np.concatenate([once, np.zeros(16000 * 4, np.float32), once])
    raw = folder / "long.raw"
    (np.round(pcm * 32767).astype("<i2")).tofile(raw)
    out = folder / "long.flac"
    subprocess.run(["sox", "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1",
                    str(raw), str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def diarizer() -> Diarizer:
    return Diarizer(DiarizeOptions(threads=1))


def test_scratch_audio_reads_back_exactly_what_load_audio_decodes(tmp_path):
    whole = load_audio(THREE)
    with decode_to_scratch(THREE, tmp_path) as audio:
        assert isinstance(audio, ScratchAudio) and len(audio) == len(whole)
        assert np.array_equal(audio[0 : len(audio)], whole)
        assert np.array_equal(audio[12345:67890], whole[12345:67890])
        assert np.array_equal(audio[len(audio) - 10 :], whole[-10:])
        # the review screen's waveform peaks, read a block at a time, are the same bytes
        assert peaks_from_samples(audio, 16000, block_seconds=7) == peaks_from_samples(
            whole, 16000)
        scratch = audio.path
        assert scratch.parent == tmp_path
    assert not scratch.exists()  # deleted when the block ends


def test_a_bad_recording_leaves_no_scratch_file(tmp_path):
    silent = tmp_path / "silent.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(silent), "trim",
                    "0", "3"], check=True)
    folder = tmp_path / "scratch"
    with pytest.raises(AudioError, match="silent throughout"):
        decode_to_scratch(silent, folder)
    with pytest.raises(AudioError, match="at least"):
        decode_to_scratch(THREE, folder, min_duration=10_000)
    with pytest.raises(AudioError, match="maximum"):
        decode_to_scratch(THREE, folder, max_duration=10)
    assert list(folder.iterdir()) == []


def test_windowed_networks_give_the_one_pass_features_exactly(diarizer, long_audio, tmp_path):
    """Windows of ~45 s (8 chunks) over a 165 s recording read from a scratch file: the same
    segmentations, count and embeddings, to the bit, as one pass over the whole array."""
    whole = load_audio(long_audio)
    one_pass = diarizer.features(whole)
    windowed_options = replace(diarizer.options, window_seconds=30.0)
    diarizer.options = windowed_options
    try:
        plan = diarizer._window_plan(len(whole))
        assert plan is not None and len(plan) >= 3  # the long path really runs
        seen: list[float] = []
        with decode_to_scratch(long_audio, tmp_path) as audio:
            windowed = diarizer.features(audio, progress=seen.append)
    finally:
        diarizer.options = replace(windowed_options, window_seconds=600.0)
    assert seen and max(seen) <= 1.0 and seen == sorted(seen)
    assert np.array_equal(windowed.segmentations.data, one_pass.segmentations.data)
    def grid(feature):
        w = feature.sliding_window
        return w.start, w.duration, w.step, w.end

    assert grid(windowed.segmentations) == grid(one_pass.segmentations)
    assert grid(windowed.count) == grid(one_pass.count)
    assert np.array_equal(windowed.count.data, one_pass.count.data)
    assert np.array_equal(windowed.embeddings, one_pass.embeddings, equal_nan=True)
    assert diarizer.turns(windowed) == diarizer.turns(one_pass)


def test_short_recordings_take_todays_single_pass(diarizer):
    assert diarizer._window_plan(16000 * 600) is None
    assert diarizer._window_plan(16000 * 601) is not None


def test_clustering_above_the_cap_links_a_subsample_and_below_it_is_pyannotes(
        diarizer, long_audio):
    features = diarizer.features(load_audio(long_audio))
    clustering = diarizer.pipeline.clustering
    clustering.instantiate({"method": "centroid", "min_cluster_size": 12,
                            "threshold": diarizer.options.clustering_threshold})
    active, _, _ = clustering.filter_embeddings(features.embeddings,
                                                segmentations=features.segmentations)
    linked: list[int] = []
    real_cluster = clustering.cluster

    def spy(embeddings, **kwargs):  # the real method, counting what goes into the linkage
        linked.append(len(embeddings))
        return real_cluster(embeddings, **kwargs)

    clustering.cluster = spy
    try:
        # below the cap: exactly today's call (pyannote's own __call__)
        today, _, today_centroids = clustering(embeddings=features.embeddings,
                                               segmentations=features.segmentations)
        hard, centroids = cluster_embeddings(clustering, features.embeddings,
                                             features.segmentations, None, None, None,
                                             cap=len(active))
        assert np.array_equal(hard, today) and np.array_equal(centroids, today_centroids)
        assert linked == [len(active), len(active)]
        # above it: a subsample is linked, every embedding still gets a cluster
        cap = len(active) // 2
        hard, centroids = cluster_embeddings(clustering, features.embeddings,
                                             features.segmentations, None, None, None, cap=cap)
        assert linked[-1] == cap
        assert hard.shape == today.shape and len(centroids) == hard.max() + 1
    finally:
        del clustering.cluster
    capped = diarizer.turns(features, options=replace(diarizer.options,
                                                      max_clustered_embeddings=cap))
    assert len({t.speaker for t in capped}) == len({t.speaker for t in diarizer.turns(features)})


def test_whisper_features_in_blocks_are_faster_whispers_exactly():
    """The log-mel spectrogram a block of frames at a time (``transcribe.use_block_features``)
    is faster-whisper's own to the bit, at lengths around a block's edge and a short one."""
    from faster_whisper.feature_extractor import FeatureExtractor

    from msw_audio.pipeline import pinned_blas
    from msw_audio.speech.transcribe import _block_extractor_class

    original = FeatureExtractor(feature_size=80)
    blocks = FeatureExtractor(feature_size=80)
    blocks.__class__ = _block_extractor_class()
    blocks.block_frames = 700  # several blocks on this 80 s session
    audio = load_audio(THREE)
    with pinned_blas():
        for n in (len(audio), 16000 * 30, 16000 * 30 + 37, 160 * 700, 1000):
            assert np.array_equal(blocks(audio[:n]), original(audio[:n])), n
        assert np.array_equal(blocks(audio, chunk_length=30), original(audio, chunk_length=30))
