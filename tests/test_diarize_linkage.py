"""sherpa-onnx's clustering and count rounding (``speech.linkage``), on hand-made inputs.

No models: 2-D embeddings whose clusters are obvious by eye, segmentations of a few frames.
"""

from __future__ import annotations

import numpy as np
import pytest

from msw_audio.speech.linkage import clean_frames, linkage_clusters, speaker_count_half_up


def _segmentations(num_chunks: int, active: dict[tuple[int, int], int], frames: int = 20):
    """(chunks, frames, 2 local speakers): speaker s of chunk c active in its first n frames;
    speaker 1 from the end backwards, so the two overlap only when n0 + n1 > frames."""
    seg = np.zeros((num_chunks, frames, 2))
    for (c, s), n in active.items():
        if s == 0:
            seg[c, :n, 0] = 1
        else:
            seg[c, frames - n:, 1] = 1
    return seg


EAST, NORTH = [1.0, 0.05], [0.05, 1.0]


def test_two_voices_two_clusters_and_labels_per_local_speaker():
    emb = np.array([[EAST, NORTH], [EAST, NORTH], [[0.9, 0.1], [0.1, 0.9]]])
    seg = _segmentations(3, {(c, s): 8 for c in range(3) for s in range(2)})
    hard, centroids = linkage_clusters(emb, seg, threshold=0.5, min_clean_frames=5)
    assert len(centroids) == 2
    assert hard[:, 0].tolist() == [hard[0, 0]] * 3 and hard[:, 1].tolist() == [hard[0, 1]] * 3
    assert hard[0, 0] != hard[0, 1]


def test_threshold_is_a_cosine_distance():
    # east and north-east are 1 - cos(45 deg) = 0.29 apart: merged at 0.3, not at 0.2
    ne = [0.7071, 0.7071]
    emb = np.array([[[1.0, 0.0], ne]])
    seg = _segmentations(1, {(0, 0): 8, (0, 1): 8})
    assert len(linkage_clusters(emb, seg, 0.3, min_clean_frames=5)[1]) == 1
    assert len(linkage_clusters(emb, seg, 0.2, min_clean_frames=5)[1]) == 2


def test_short_local_speaker_is_dropped_or_given_to_the_nearest_centroid():
    emb = np.array([[EAST, NORTH], [EAST, [0.2, 1.0]]])
    seg = _segmentations(2, {(0, 0): 8, (0, 1): 8, (1, 0): 8, (1, 1): 3})
    dropped, _ = linkage_clusters(emb, seg, 0.5, min_clean_frames=5)
    assert dropped[1, 1] == -2  # 3 clean frames < 5: sherpa-onnx does not draw it
    nearest, _ = linkage_clusters(emb, seg, 0.5, min_clean_frames=5, assign_rest="nearest")
    assert nearest[1, 1] == nearest[0, 1]  # pyannote's way: the nearest (north) centroid
    with pytest.raises(ValueError):
        linkage_clusters(emb, seg, 0.5, min_clean_frames=5, assign_rest="other")


def test_overlapped_frames_are_not_clean():
    seg = _segmentations(1, {(0, 0): 12, (0, 1): 12}, frames=20)  # 4 frames overlap
    assert clean_frames(seg).tolist() == [[8.0, 8.0]]


def test_speaker_counts_override_the_threshold():
    emb = np.array([[EAST, NORTH], [[0.7, 0.7], [0.6, 0.8]]])
    seg = _segmentations(2, {(c, s): 8 for c in range(2) for s in range(2)})
    assert len(linkage_clusters(emb, seg, 2.0, min_clean_frames=5, num_clusters=3)[1]) == 3
    assert len(linkage_clusters(emb, seg, 2.0, min_clean_frames=5, min_clusters=2)[1]) == 2
    assert len(linkage_clusters(emb, seg, 0.01, min_clean_frames=5, max_clusters=2)[1]) == 2


def test_missing_embeddings_and_nobody_long_enough():
    emb = np.full((1, 2, 2), np.nan)
    seg = _segmentations(1, {(0, 0): 8})
    hard, centroids = linkage_clusters(emb, seg, 0.5)
    assert hard.tolist() == [[-2, -2]] and len(centroids) == 0
    emb[0, 0] = EAST  # one valid embedding, too short for 10 frames: still clustered
    hard, centroids = linkage_clusters(emb, _segmentations(1, {(0, 0): 3}), 0.5)
    assert hard.tolist() == [[0, -2]] and len(centroids) == 1


def test_count_rounds_halves_up_where_pyannote_rounds_to_even():
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    # two 2 s chunks, 1 s apart, frames of 0.5 s: the middle second is covered by both
    chunks = SlidingWindow(start=0.0, duration=2.0, step=1.0)
    frames = SlidingWindow(start=0.0, duration=0.5, step=0.5)
    seg = np.zeros((2, 4, 2))
    seg[0, :, 0] = 1  # chunk 0 hears one speaker throughout, chunk 1 nobody
    count = speaker_count_half_up(SlidingWindowFeature(seg, chunks), frames)
    # frames 0-1: only chunk 0 (1); frames 2-3: mean of 1 and 0 = 0.5 -> 1 (np.rint: 0)
    assert count.data[:4, 0].tolist() == [1, 1, 1, 1]
    assert count.data[4:6, 0].tolist() == [0, 0]
