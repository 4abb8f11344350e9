"""Clustering and speaker-count reconstruction the way sherpa-onnx does them (issue 15.2).

Why a second clustering: with the same two checkpoints sherpa-onnx's offline diarizer beat
msw-audio on every held-out AMI group (benchmarks/RESULTS.md), and its clustering differs from
pyannote's ``AgglomerativeClustering`` as msw-audio uses it in four ways (read from
k2-fsa/sherpa-onnx ``csrc/fast-clustering.cc`` and ``offline-speaker-diarization-pyannote-impl.h``):

1. *who is clustered*: every local speaker with at least 10 frames (~0.17 s) of speech where it
   talks alone, against pyannote's 20 % of the chunk (2 s of clean speech in a 10 s chunk);
2. *linkage and distance*: complete linkage on the cosine distance of unit vectors, cut at
   ``threshold`` (a cosine distance), against centroid linkage on the euclidean distance of unit
   vectors (``d_euclid = sqrt(2 * d_cosine)``);
3. *no size filter, no re-assignment*: linkage labels are final; pyannote sets clusters under
   ``min_cluster_size`` embeddings aside, then gives *every* embedding to its nearest centroid;
4. *who is not clustered is dropped*: a local speaker too short to embed is not drawn at all
   (pyannote gives it to the nearest centroid).

and its per-frame speaker count rounds halves up (``floor(x + 0.5)``) where pyannote's
``np.rint`` rounds them to even: with a 5 s step two chunks cover each frame, and where one says
"one speaker" and the other "none" pyannote counts 0 (speech missed) and sherpa-onnx 1.

These are options (``DiarizeOptions.clustering``, ``count_rounding``), chosen or not by the
leave-one-meeting-out benchmark (``benchmarks/diarization_lomo.py``).
"""

from __future__ import annotations

import numpy as np

#: sherpa-onnx's floor: a local speaker needs this many clean frames to be embedded/clustered
SHERPA_MIN_CLEAN_FRAMES = 10


def clean_frames(segmentations: np.ndarray) -> np.ndarray:
    """(chunks, local speakers): frames where each local speaker is the only one active."""
    data = np.nan_to_num(np.asarray(segmentations), nan=0.0)
    alone = np.sum(data, axis=2, keepdims=True) == 1
    return np.sum(data * alone, axis=1)


def linkage_clusters(
    embeddings: np.ndarray,
    segmentations: np.ndarray,
    threshold: float,
    method: str = "complete",
    min_clean_frames: int = SHERPA_MIN_CLEAN_FRAMES,
    assign_rest: str = "drop",
    num_clusters: int | None = None,
    min_clusters: int | None = None,
    max_clusters: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """sherpa-onnx's clustering on pyannote-shaped inputs.

    embeddings: (chunks, local speakers, dim), NaN where nothing was embedded;
    segmentations: (chunks, frames, local speakers) binary. ``threshold`` is a cosine
    distance (scipy ``fcluster`` "distance": no merge above it). ``assign_rest``: "drop"
    (sherpa-onnx: local speakers not clustered are not drawn, -2) or "nearest" (they go to the
    nearest centroid by cosine when they have an embedding, as pyannote does).

    Returns (hard clusters (chunks, local speakers), -2 = not drawn; centroids (K, dim), the
    mean unit embedding of each cluster's members, for ``merge_tiny_clusters``).
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    embeddings = np.asarray(embeddings, dtype=np.float64)
    num_chunks, num_speakers, dim = embeddings.shape
    valid = ~np.any(np.isnan(embeddings), axis=2)
    eligible = valid & (clean_frames(segmentations) >= min_clean_frames)
    chunk_idx, speaker_idx = np.nonzero(eligible)
    hard = np.full((num_chunks, num_speakers), -2, dtype=np.int64)
    if len(chunk_idx) == 0:  # nobody long enough: fall back to every valid embedding
        chunk_idx, speaker_idx = np.nonzero(valid)
        if len(chunk_idx) == 0:
            return hard, np.zeros((0, dim))
    train = _unit(embeddings[chunk_idx, speaker_idx])
    n = len(train)
    lo = max(1, min_clusters or 1)
    hi = min(n, max_clusters or n)
    if num_clusters:
        lo = hi = min(n, num_clusters)
    if n == 1 or hi <= 1:
        labels = np.zeros(n, dtype=np.int64)
    else:
        dendrogram = linkage(train, method=method, metric="cosine")
        labels = fcluster(dendrogram, max(threshold, 0.0), criterion="distance") - 1
        found = len(np.unique(labels))
        if found < lo or found > hi:  # the threshold's count outside the asked range
            labels = fcluster(dendrogram, lo if found < lo else hi, criterion="maxclust") - 1
    _, labels = np.unique(labels, return_inverse=True)
    hard[chunk_idx, speaker_idx] = labels
    centroids = np.stack([train[labels == k].mean(axis=0) for k in range(labels.max() + 1)])
    if assign_rest == "nearest":
        rest = valid & (hard == -2)
        for c, s in zip(*np.nonzero(rest), strict=True):
            distance = 1.0 - _unit(centroids) @ _unit(embeddings[c, s][None])[0]
            hard[c, s] = int(np.argmin(distance))
    elif assign_rest != "drop":
        raise ValueError(f"assign_rest must be 'drop' or 'nearest', not {assign_rest!r}")
    return hard, centroids


def speaker_count_half_up(segmentations, frames):
    """pyannote's per-frame speaker count (mean over the chunks covering a frame of each
    chunk's active-speaker count) with halves rounded up, as sherpa-onnx rounds it.

    segmentations: pyannote ``SlidingWindowFeature`` (chunks, frames, local speakers),
    binary; frames: the count's ``SlidingWindow``. Returns a (frames, 1) int8 feature.
    """
    from pyannote.audio.core.inference import Inference
    from pyannote.core import SlidingWindowFeature

    summed = np.sum(segmentations.data, axis=-1, keepdims=True)
    mean = Inference.aggregate(SlidingWindowFeature(summed, segmentations.sliding_window),
                               frames, hamming=False, missing=0.0, skip_average=False)
    mean.data = np.floor(np.nan_to_num(mean.data, nan=0.0) + 0.5).astype(np.int8)
    return mean


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)
