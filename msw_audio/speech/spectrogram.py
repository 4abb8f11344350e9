"""A recording's spectrogram for the review screen's *Spectrogram* toggle.

Why on the server, like the waveform's peaks (``speech.peaks``): wavesurfer.js's Spectrogram
plugin would otherwise need the recording decoded in the browser (an hour is ~700 MB of
48 kHz floats there, and a second download), while the page plays through its own
``<audio>`` element and never decodes. The plugin draws pre-computed frames
(``frequenciesDataUrl``): ``[frame][band]`` bytes, the lowest band first.

What is computed: 16 kHz mono (``speech.audio.decoded_chunks``, streamed), 32 ms Hann
windows every 40 ms (25 frames/s), power in ``BANDS`` mel bands from 0 to 8 kHz, in dB, the
top ``RANGE_DB`` below the recording's loudest 0.1 % mapped to 0–255. A recording longer
than ``MAX_FRAMES`` frames (8 min) has its frames averaged in runs, so the JSON stays under
~2.5 MB whatever the length. Cached beside the peaks (``<cache>/<sha256>/``), so erasing a
session removes it with the same ``rmtree``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from msw_audio.speech.audio import SAMPLE_RATE, decoded_chunks
from msw_audio.speech.writers import atomic_write_text

#: Bumped when the format or the computation changes (older files are then recomputed).
VERSION = 1
WINDOW = 512  # 32 ms at 16 kHz
HOP = 640  # 40 ms: 25 frames per second
BANDS = 64
RANGE_DB = 80.0
#: Most frames sent to the browser (12,000 × 64 bytes ≈ 2.5 MB of JSON).
MAX_FRAMES = 12_000


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filters(n_fft: int = WINDOW, bands: int = BANDS,
                sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular mel filters (HTK mel, as the plugin's ``scale: 'mel'`` labels assume),
    ``bands × (n_fft // 2 + 1)``; every band gets at least its nearest FFT bin."""
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(0.0, _hz_to_mel(np.array(sample_rate / 2)), bands + 2))
    out = np.zeros((bands, len(freqs)), dtype=np.float32)
    for b in range(bands):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        rise = (freqs - lo) / max(mid - lo, 1e-9)
        fall = (hi - freqs) / max(hi - mid, 1e-9)
        out[b] = np.clip(np.minimum(rise, fall), 0.0, None)
        if not out[b].any():
            out[b, int(np.argmin(np.abs(freqs - mid)))] = 1.0
    return out


def spectrogram_frames(chunks: Any) -> tuple[np.ndarray, float]:
    """Mel power (``frames × BANDS``, float32) of int16 or float chunks at 16 kHz, and the
    duration in seconds; the chunks are consumed one at a time (memory: the frames only)."""
    window = np.hanning(WINDOW).astype(np.float32)
    filters = mel_filters()
    carry = np.zeros(0, dtype=np.float32)
    frames: list[np.ndarray] = []
    total = 0
    for x in _blocks(chunks):
        total += len(x)
        buf = np.concatenate([carry, x])
        n = 0 if len(buf) < WINDOW else 1 + (len(buf) - WINDOW) // HOP
        if n:
            idx = np.arange(WINDOW)[None, :] + HOP * np.arange(n)[:, None]
            spec = np.abs(np.fft.rfft(buf[idx] * window, axis=1)) ** 2
            frames.append((spec.astype(np.float32) @ filters.T).astype(np.float32))
        carry = buf[n * HOP:]
    power = np.concatenate(frames) if frames else np.zeros((0, BANDS), dtype=np.float32)
    return power, total / SAMPLE_RATE


def _blocks(chunks: Any, size: int = 10 * SAMPLE_RATE) -> Any:
    """The chunks (FFmpeg hands over ~20 ms at a time) regrouped in ~10 s float blocks."""
    pending: list[np.ndarray] = []
    n = 0
    for chunk in chunks:
        x = np.asarray(chunk)
        pending.append(x.astype(np.float32) / 32768.0 if x.dtype == np.int16
                       else x.astype(np.float32))
        n += len(x)
        if n >= size:
            yield np.concatenate(pending)
            pending, n = [], 0
    if pending:
        yield np.concatenate(pending)


def to_bytes(power: np.ndarray, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """dB power scaled to 0–255 (``RANGE_DB`` below the loudest 0.1 %), frames averaged in
    runs so at most ``max_frames`` remain."""
    if len(power) > max_frames:
        run = -(-len(power) // max_frames)
        whole = len(power) // run * run
        head = power[:whole].reshape(-1, run, power.shape[1]).mean(axis=1)
        power = np.concatenate([head, power[whole:].mean(axis=0, keepdims=True)]) \
            if whole < len(power) else head
    db = 10.0 * np.log10(power + 1e-12)
    if not len(db):
        return np.zeros((0, BANDS), dtype=np.uint8)
    top = float(np.percentile(db, 99.9))
    return np.clip(np.rint((db - (top - RANGE_DB)) / RANGE_DB * 255.0), 0, 255).astype(np.uint8)


def spectrogram_file(cache_dir: Path, sha256: str) -> Path:
    return Path(cache_dir) / sha256 / f"spectrogram-v{VERSION}.json"


def cached_spectrogram(audio_path: Path, sha256: str, cache_dir: Path) -> str:
    """The spectrogram's JSON (``[[band bytes] per frame]``), from the cache or computed
    from ``audio_path`` once and cached."""
    path = spectrogram_file(cache_dir, sha256)
    try:
        return path.read_text("utf-8")
    except OSError:
        pass
    power, _ = spectrogram_frames(decoded_chunks(Path(audio_path)))
    text = json.dumps(to_bytes(power).tolist(), separators=(",", ":"))
    atomic_write_text(path, text)
    return text
