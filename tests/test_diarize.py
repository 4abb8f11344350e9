"""The guard against one-cluster-per-window (``merge_tiny_clusters``), on hand-made inputs.

No models: the embeddings are 2-D unit vectors so the nearest centroid is obvious by eye.
"""

from __future__ import annotations

import numpy as np

from msw_audio.speech.diarize import DiarizeOptions, merge_tiny_clusters

# three centroids: east, north and a little north of east
CENTROIDS = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.3]])


def _inputs():
    # 3 chunks x 2 local speakers; -2 marks a silent local speaker
    hard = np.array([[0, 1], [0, 2], [1, -2]])
    embeddings = np.array(
        [
            [[1.0, 0.0], [0.0, 1.0]],
            [[1.0, 0.1], [0.95, 0.2]],  # the tiny cluster's member points east
            [[0.1, 1.0], [np.nan, np.nan]],
        ]
    )
    return hard, embeddings


def test_tiny_cluster_joins_the_nearest_big_centroid_and_labels_are_renumbered():
    hard, embeddings = _inputs()
    seconds = np.array([20.0, 15.0, 1.0])
    merged = merge_tiny_clusters(hard, embeddings, CENTROIDS, seconds, min_seconds=2.0)
    assert merged.tolist() == [[0, 1], [0, 0], [1, -2]]
    assert hard.tolist() == [[0, 1], [0, 2], [1, -2]]  # input left alone


def test_renumbering_closes_the_gap_a_merged_cluster_leaves():
    hard, embeddings = _inputs()
    seconds = np.array([20.0, 1.0, 15.0])  # now the *middle* cluster is the tiny one
    merged = merge_tiny_clusters(hard, embeddings, CENTROIDS, seconds, min_seconds=2.0)
    # cluster 1's members point north, but only 0 (east) and 2 (east-north-east) survive;
    # 2 is nearer to north than 0, and is renumbered to 1
    assert merged.tolist() == [[0, 1], [0, 1], [1, -2]]
    assert set(np.unique(merged)) == {-2, 0, 1}


def test_min_speakers_keeps_the_longest_clusters_even_when_tiny():
    hard, embeddings = _inputs()
    seconds = np.array([20.0, 1.5, 1.0])
    kept = merge_tiny_clusters(hard, embeddings, CENTROIDS, seconds, 2.0, keep_at_least=2)
    assert kept.tolist() == [[0, 1], [0, 0], [1, -2]]  # cluster 1 (1.5 s) survives
    untouched = merge_tiny_clusters(hard, embeddings, CENTROIDS, seconds, 2.0, keep_at_least=3)
    assert untouched.tolist() == hard.tolist()


def test_all_tiny_keeps_the_longest_one():
    hard, embeddings = _inputs()
    merged = merge_tiny_clusters(hard, embeddings, CENTROIDS, np.array([0.5, 1.0, 0.2]), 2.0)
    assert merged.tolist() == [[0, 0], [0, 0], [0, -2]]


def test_member_without_embedding_moves_with_its_cluster_centroid():
    hard = np.array([[0, 2], [1, -2]])
    embeddings = np.array([[[1.0, 0.0], [np.nan, np.nan]], [[0.0, 1.0], [np.nan, np.nan]]])
    merged = merge_tiny_clusters(hard, embeddings, CENTROIDS, np.array([9.0, 9.0, 0.5]), 2.0)
    assert merged.tolist() == [[0, 0], [1, -2]]  # centroid 2 is nearest to centroid 0


def test_guard_off_or_single_cluster_changes_nothing():
    hard, embeddings = _inputs()
    seconds = np.array([20.0, 15.0, 1.0])
    assert merge_tiny_clusters(hard, embeddings, CENTROIDS, seconds, 0.0).tolist() == (
        hard.tolist())
    one = np.array([[0, -2]])
    assert merge_tiny_clusters(one, embeddings[:1], CENTROIDS[:1], np.array([0.5]),
                               2.0).tolist() == [[0, -2]]


def test_options_default_to_overlap_free_embeddings_and_a_guard():
    options = DiarizeOptions()
    assert options.embedding_exclude_overlap
    assert options.min_speaker_seconds > 0


def test_speaker_count_hints_win_over_the_guard(sample_dir):
    """Real models on pyannote's two-speaker sample: the hints of ``process --num-speakers``,
    ``--min-speakers`` and ``--max-speakers`` hold with the guard on (it never merges below
    ``min_speakers`` and is off when the count is given)."""
    from dataclasses import replace

    from msw_audio.speech.audio import load_audio
    from msw_audio.speech.diarize import Diarizer

    diarizer = Diarizer(DiarizeOptions(threads=1))
    features = diarizer.features(load_audio(sample_dir / "sample.wav"))
    found = {}
    for hint in ({}, {"num_speakers": 3}, {"min_speakers": 3}, {"max_speakers": 1}):
        diarizer.options = replace(DiarizeOptions(threads=1), **hint)
        found[tuple(hint.items())] = len({t.speaker for t in diarizer.turns(features)})
    assert list(found.values()) == [2, 3, 3, 1]
