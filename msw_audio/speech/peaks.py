"""Waveform peaks of a recording: what the review screen's waveform draws.

Why on the server, and cached: an hour-long visit is ~60 MB of audio once decoded by a
browser (and would be downloaded twice: once to decode, once to play). The peaks of one
hour are ~180 kB (50 per second, one byte each), so the waveform is drawn as soon as the
transcript is shown. The pipeline writes them while the audio is already decoded (no extra
cost); a session processed elsewhere gets them computed once on first opening.

Layout: ``<cache_dir>/<audio sha256>/peaks-<per second>-v<version>.json`` — beside the
stage cache of that recording, so erasing a session removes them with the same ``rmtree``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from msw_audio.errors import AudioError
from msw_audio.speech.audio import check_file, display_name
from msw_audio.speech.writers import atomic_write_text

#: Peaks per second of audio: at the screen's zoom (~25 px/s) more would not be seen.
PER_SECOND = 50
#: Bumped when the format or the computation changes (older files are then recomputed).
VERSION = 1


@dataclass(frozen=True)
class Peaks:
    """Largest absolute sample per bin of ``1 / per_second`` s, scaled to 0–255."""

    duration: float
    per_second: int
    data: bytes

    def to_record(self) -> dict[str, Any]:
        """JSON-ready: the bytes as base64 (a third larger, still ~240 kB per hour)."""
        return {
            "version": VERSION,
            "duration": round(self.duration, 3),
            "per_second": self.per_second,
            "peaks": base64.b64encode(self.data).decode("ascii"),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Peaks:
        if record.get("version") != VERSION:
            raise ValueError(f"peaks version {record.get('version')!r}, expected {VERSION}")
        return cls(float(record["duration"]), int(record["per_second"]),
                   base64.b64decode(record["peaks"]))


def _scale(maxima: np.ndarray) -> bytes:
    return np.clip(np.rint(maxima * 255.0), 0, 255).astype(np.uint8).tobytes()


def peaks_from_samples(samples, sample_rate: int, per_second: int = PER_SECOND,
                       block_seconds: float = 60.0) -> Peaks:
    """Peaks of an already decoded mono waveform (floats in -1..1), e.g. the pipeline's:
    an ``np.ndarray`` or anything sliced like one (``speech.scratch.ScratchAudio``), read a
    block at a time so a scratch waveform is never loaded whole."""
    bin_size = max(1, sample_rate // per_second)
    n = len(samples)
    whole = n // bin_size * bin_size
    block = bin_size * max(1, int(block_seconds * sample_rate) // bin_size)
    maxima = []
    for start in range(0, whole, block):
        # max and -min of views: no copy of an hour's 230 MB waveform while the models wait
        bins = samples[start : min(whole, start + block)].reshape(-1, bin_size)
        maxima.append(np.maximum(bins.max(axis=1), -bins.min(axis=1)))
    if whole < n:
        maxima.append(np.abs(samples[whole:n]).max(keepdims=True))
    values = np.concatenate(maxima) if maxima else np.zeros(0)
    return Peaks(round(n / sample_rate, 3), per_second, _scale(values))


#: Sample formats as FFmpeg names them (planar ones end in "p") -> numpy dtype, full scale.
_FORMATS = {
    "flt": (np.float32, 1.0), "dbl": (np.float64, 1.0), "s16": (np.int16, 32768.0),
    "s32": (np.int32, 2.0**31), "s64": (np.int64, 2.0**63), "u8": (np.uint8, 128.0),
}


def _first_channel(frame: av.AudioFrame) -> np.ndarray:
    """The frame's first channel as floats in -1..1, read straight from its buffer.

    Why not ``to_ndarray`` or a resampler: per 20 ms Opus frame those cost more than the
    decoding itself; reading the plane costs ~30 % on top of decoding.
    """
    name = frame.format.name.rstrip("p")
    dtype, scale = _FORMATS[name]
    channels = 1 if frame.format.is_planar else len(frame.layout.channels)
    raw = np.frombuffer(frame.planes[0], dtype=dtype, count=frame.samples * channels)
    if channels > 1:
        raw = raw[::channels]
    if name == "u8":
        return (raw.astype(np.float32) - 128.0) / scale
    return raw.astype(np.float32) / scale if scale != 1.0 else raw.astype(np.float32)


def decode_peaks(path: str | Path, per_second: int = PER_SECOND) -> Peaks:
    """Peaks of a recording file, decoded in one streaming pass (memory stays small).

    The envelope of the first channel (recordings of visits are mono or near-identical
    stereo). About 20–30 s per hour of Opus on one loaded core: run once per recording,
    then cached (``cached_peaks``).
    """
    p = check_file(path)
    maxima: list[np.ndarray] = []
    total = 0
    rate = 0
    try:
        with av.open(str(p), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(f"{display_name(p)} has no audio track")
            stream = container.streams.audio[0]
            pending: list[np.ndarray] = []
            carry = np.zeros(0, dtype=np.float32)
            for frame in container.decode(stream):
                if frame.format.name.rstrip("p") not in _FORMATS:
                    raise AudioError(f"{display_name(p)}: sample format {frame.format.name!r}")
                rate = rate or frame.sample_rate
                pending.append(_first_channel(frame))
                total += frame.samples
                if len(pending) >= 500:  # numpy work in blocks of ~10 s (Opus frames)
                    carry = _bin_maxima(np.concatenate([carry, *pending]),
                                        max(1, rate // per_second), maxima)
                    pending = []
            block = np.concatenate([carry, *pending])
            bin_size = max(1, (rate or 1) // per_second)
            carry = _bin_maxima(block, bin_size, maxima)
            if len(carry):
                maxima.append(np.abs(carry).max(keepdims=True))
    except av.error.FFmpegError as exc:
        raise AudioError(
            f"{display_name(p)} could not be decoded for its waveform ({exc})") from None
    values = np.concatenate(maxima) if maxima else np.zeros(0)
    return Peaks(round(total / rate, 3) if rate else 0.0, per_second, _scale(values))


def _bin_maxima(block: np.ndarray, bin_size: int, out: list[np.ndarray]) -> np.ndarray:
    """Append the maxima of ``block``'s whole bins to ``out``; return the rest."""
    whole = len(block) // bin_size * bin_size
    if whole:
        out.append(np.abs(block[:whole]).reshape(-1, bin_size).max(axis=1))
    return block[whole:]


def peaks_file(cache_dir: Path, sha256: str, per_second: int = PER_SECOND) -> Path:
    return Path(cache_dir) / sha256 / f"peaks-{per_second}-v{VERSION}.json"


def save_peaks(cache_dir: Path, sha256: str, peaks: Peaks) -> Path:
    path = peaks_file(cache_dir, sha256, peaks.per_second)
    atomic_write_text(path, json.dumps(peaks.to_record(), separators=(",", ":")))
    return path


def load_peaks(cache_dir: Path, sha256: str, per_second: int = PER_SECOND) -> Peaks | None:
    """The cached peaks, or None (missing, unreadable or of an older version)."""
    path = peaks_file(cache_dir, sha256, per_second)
    try:
        return Peaks.from_record(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cached_peaks(audio_path: Path, sha256: str, cache_dir: Path,
                 per_second: int = PER_SECOND) -> Peaks:
    """Peaks from the cache, else decoded from ``audio_path`` and cached."""
    peaks = load_peaks(cache_dir, sha256, per_second)
    if peaks is None:
        peaks = decode_peaks(audio_path, per_second)
        save_peaks(cache_dir, sha256, peaks)
    return peaks
