"""Decode any recording to 16 kHz mono float32, or say clearly why it can't be used.

PyAV (FFmpeg) decodes, as in faster-whisper, so wav, mp3, m4a/aac, ogg/opus, flac and the
audio track of mp4/mov/webm all work without a system ffmpeg. torchcodec/torchaudio decoding
is deliberately not used: their PyPI builds do not load beside a CPU torch, and every later
stage (Whisper, pyannote) takes an in-memory waveform anyway.

Every way a file can be unusable is checked *before* any model runs, so a bad upload fails
in milliseconds with a message an evaluator can act on, and nothing is written.
"""

from __future__ import annotations

import gc
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from msw_audio.errors import AudioError

SAMPLE_RATE = 16000
MIN_DURATION = 1.0  # seconds; shorter than this holds no utterance worth coding
DEFAULT_MAX_DURATION = 4 * 3600.0  # seconds; a visit is ~1 h, four is clearly a mistake
SILENCE_DBFS = -55.0  # peak level below which a recording counts as silent

AUDIO_EXTENSIONS = (
    ".wav", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".mp4", ".mov", ".webm",
)


def display_name(path: str | Path) -> str:
    """The file name, printable and short, for error messages (hostile names stay inert)."""
    name = Path(path).name
    safe = "".join(ch if ch.isprintable() else "?" for ch in name)
    return repr(safe[:80] + ("…" if len(safe) > 80 else ""))


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Content hash of the recording: the identity of a session across caches and the store."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: str | Path) -> Path:
    """Cheap checks on the file itself (exists, regular, not empty)."""
    p = Path(path)
    if not p.exists():
        raise AudioError(f"recording {display_name(p)} not found")
    if not p.is_file():
        raise AudioError(f"recording {display_name(p)} is not a regular file")
    if p.stat().st_size == 0:
        raise AudioError(f"recording {display_name(p)} is empty (0 bytes)")
    return p


def check_recording_file(path: str | Path, max_bytes: int | None = None) -> Path:
    """A file that may be copied into the store as a recording, or ``AudioError``.

    Ingest reads paths that arrive from outside (a session.json's ``audio.path``, a form
    field), so the path itself is distrusted: a symbolic link, a device (``/dev/zero``
    would hang the hashing), a non-audio extension (an .html or .svg "recording" would be
    served back from the app's own origin) or a file no decoder accepts as audio is refused
    before a byte is copied.
    """
    p = Path(path)
    name = display_name(p)
    try:
        info = os.lstat(p)
    except OSError:
        raise AudioError(f"recording {name} not found") from None
    if stat.S_ISLNK(info.st_mode):
        raise AudioError(f"recording {name} is a symbolic link; give the file itself")
    if not stat.S_ISREG(info.st_mode):
        raise AudioError(f"recording {name} is not a regular file")
    if p.suffix.lower() not in AUDIO_EXTENSIONS:
        raise AudioError(
            f"{name} is not a recording type msw-audio accepts ({', '.join(AUDIO_EXTENSIONS)})"
        )
    if info.st_size == 0:
        raise AudioError(f"recording {name} is empty (0 bytes)")
    if max_bytes is not None and info.st_size > max_bytes:
        raise AudioError(f"recording {name} is larger than {max_bytes / 2**30:.1f} GiB")
    from msw_audio.speech.sandbox import check_media_isolated

    check_media_isolated(p, mode="probe", display=name)  # FFmpeg never runs in this process
    return p


def probe_audio_track(path: str | Path) -> None:
    """``AudioError`` unless FFmpeg opens ``path`` and finds an audio track (run it in
    ``speech.sandbox``'s limited child process for untrusted files)."""
    p = Path(path)
    name = display_name(p)
    try:
        with av.open(str(p), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(f"{name} has no audio track")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise AudioError(f"{name} is not a readable audio or video file ({_reason(exc)})") from None


def load_audio(
    path: str | Path,
    sample_rate: int = SAMPLE_RATE,
    min_duration: float = MIN_DURATION,
    max_duration: float = DEFAULT_MAX_DURATION,
    silence_dbfs: float = SILENCE_DBFS,
) -> np.ndarray:
    """Decode ``path`` to a mono float32 array at ``sample_rate``.

    Raises ``AudioError`` for a missing or empty file, a file that is not audio, a file
    without an audio track, a corrupt stream, audio shorter than ``min_duration`` or longer
    than ``max_duration`` seconds, and a recording that is silent throughout.
    """
    p = check_file(path)
    name = display_name(p)
    chunks = list(decoded_chunks(p, sample_rate, max_duration))
    total = sum(chunk.size for chunk in chunks)
    # One float32 buffer filled in place: an hour of audio is 230 MB, so no extra copies.
    samples = np.empty(total, dtype=np.float32)
    pos = 0
    for i, chunk in enumerate(chunks):
        chunks[i] = None  # release each int16 chunk as soon as it is copied
        to_float(chunk, out=samples[pos : pos + chunk.size])
        pos += chunk.size
    check_decoded(name, total, float(np.max(np.abs(samples))) if samples.size else 0.0,
                  sample_rate, min_duration, silence_dbfs)
    return samples


def to_float(chunk: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """int16 samples as float32 in -1..1: the one conversion every decoded sample goes
    through (``load_audio`` and ``speech.scratch`` give bit-identical waveforms)."""
    if out is None:
        out = np.empty(chunk.size, dtype=np.float32)
    np.multiply(chunk, 1 / 32768.0, out=out, casting="unsafe")
    return out


def check_decoded(name: str, total: int, peak: float, sample_rate: int = SAMPLE_RATE,
                  min_duration: float = MIN_DURATION,
                  silence_dbfs: float = SILENCE_DBFS) -> None:
    """``AudioError`` if the decoded audio is too short or silent throughout."""
    duration = total / sample_rate
    if duration < min_duration:
        raise AudioError(
            f"{name} holds {duration:.2f} s of audio; at least {min_duration:g} s is needed"
        )
    if peak <= 10 ** (silence_dbfs / 20):
        raise AudioError(f"{name} is silent throughout (peak level below {silence_dbfs:g} dBFS)")


def decoded_chunks(path: Path, sample_rate: int = SAMPLE_RATE,
                   max_duration: float = DEFAULT_MAX_DURATION) -> Iterator[np.ndarray]:
    """The recording's mono int16 samples at ``sample_rate``, chunk by chunk as FFmpeg
    decodes them, or ``AudioError`` (not audio, no audio track, corrupt, too long).

    Why a generator: a caller that streams the chunks to disk (``speech.scratch``) never
    holds the whole recording; four hours are 460 MB as int16 and 920 MB as float32.
    """
    p = Path(path)
    name = display_name(p)
    try:
        container = av.open(str(p), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise AudioError(f"{name} is not a readable audio or video file ({_reason(exc)})") from None
    with container:
        if not container.streams.audio:
            held = sorted({s.type for s in container.streams}) or ["nothing decodable"]
            raise AudioError(f"{name} has no audio track (it holds: {', '.join(held)})")
        stream = container.streams.audio[0]
        known = _container_duration(container, stream)
        if known is not None and known > max_duration + 1:
            raise AudioError(
                f"{name} is {known / 60:.0f} min long; the maximum is {max_duration / 60:.0f} min "
                "(raise it with --max-duration)"
            )
        yield from _decode(container, stream, sample_rate, max_duration, name)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0][:120]


def _container_duration(container: av.container.InputContainer, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _decode(container, stream, sample_rate: int, max_duration: float,
            name: str) -> Iterator[np.ndarray]:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
    limit = int((max_duration + 1) * sample_rate)
    total = 0
    decoded_any = False
    try:
        for frame in container.decode(stream):
            decoded_any = True
            for out in resampler.resample(frame):
                arr = out.to_ndarray().reshape(-1)
                total += arr.size
                yield arr
            if total > limit:
                raise AudioError(
                    f"{name} is longer than the maximum of {max_duration / 60:.0f} min "
                    "(raise it with --max-duration)"
                )
        for out in resampler.resample(None):
            arr = out.to_ndarray().reshape(-1)
            total += arr.size
            yield arr
    except av.error.FFmpegError as exc:
        if not decoded_any or total < sample_rate * MIN_DURATION:
            raise AudioError(f"{name} has a corrupt audio stream ({_reason(exc)})") from None
        raise AudioError(
            f"{name} is corrupt after {total / sample_rate:.1f} s of audio ({_reason(exc)})"
        ) from None
    finally:
        del resampler
        gc.collect()  # PyAV frames hold FFmpeg buffers; free them before the models load
