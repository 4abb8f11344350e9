"""A decoded recording kept on disk, read a window at a time: memory flat in the length.

Why: the whole waveform as float32 is 230 MB an hour and 920 MB at the 4-hour limit, and
decoding it in memory briefly needs half as much again (the int16 chunks beside the float
buffer). A worker's memory must not grow with the recording (issue 17: workers per machine
are sized by peak memory), so the pipeline streams FFmpeg's int16 samples into a scratch
file and every stage reads only the window it works on: Whisper's 10-minute windows,
diarization's windows (``speech.diarize``), the waveform peaks. Reads go through ``pread``
into a private buffer, never a memory map, so the file's pages sit in the page cache and
never count in the worker's resident memory.

The samples read back are bit-identical to ``speech.audio.load_audio``'s (the same int16
decode, the same ``to_float`` conversion), so results do not depend on which was used.

The scratch file lives in the recording's stage-cache folder (``<cache>/<sha256>/``) while
the job runs and is deleted when it ends; a crash leaves it where erasure's ``rmtree`` of
that folder removes it with the rest of the family's cached data.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np

from msw_audio.speech.audio import (
    DEFAULT_MAX_DURATION,
    MIN_DURATION,
    SAMPLE_RATE,
    SILENCE_DBFS,
    check_decoded,
    check_file,
    decoded_chunks,
    display_name,
    to_float,
)

#: File name prefix of scratch waveforms (``.partial``-like: never a result).
PREFIX = ".scratch-"


class ScratchAudio:
    """A mono 16 kHz recording of int16 samples in a file, sliced like a float32 array.

    ``len(audio)`` is the number of samples and ``audio[a:b]`` a new float32 array of those
    samples, so code written for ``np.ndarray`` waveforms (``transcribe.windows``, Whisper's
    windows) works unchanged. Only contiguous slices are supported.
    """

    def __init__(self, path: Path, num_samples: int, sample_rate: int = SAMPLE_RATE):
        self.path = Path(path)
        self.num_samples = int(num_samples)
        self.sample_rate = sample_rate
        self._fd: int | None = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: slice) -> np.ndarray:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("ScratchAudio supports contiguous slices only")
        start, stop, _ = index.indices(self.num_samples)
        return self.read(start, stop)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` as float32 (``load_audio``'s values exactly)."""
        if self._fd is None:
            raise ValueError(f"scratch audio {self.path.name} is closed")
        count = max(0, stop - start)
        raw = np.empty(count, dtype="<i2")
        view = memoryview(raw).cast("B")
        done = 0
        while done < len(view):  # pread may return less than asked
            n = os.preadv(self._fd, [view[done:]], 2 * start + done)
            if n <= 0:
                raise OSError(f"scratch audio {self.path.name} is shorter than expected")
            done += n
        return to_float(raw)

    def close(self, delete: bool = True) -> None:
        """Close the file and (by default) delete it."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if delete:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> ScratchAudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decode_to_scratch(
    path: str | Path,
    folder: str | Path,
    sample_rate: int = SAMPLE_RATE,
    min_duration: float = MIN_DURATION,
    max_duration: float = DEFAULT_MAX_DURATION,
    silence_dbfs: float = SILENCE_DBFS,
) -> ScratchAudio:
    """Decode ``path`` into a scratch file in ``folder``; the same checks and errors as
    ``load_audio`` (too short, too long, silent, corrupt, not audio), nothing left behind
    when one fails. Memory: one FFmpeg frame at a time."""
    p = check_file(path)
    name = display_name(p)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{PREFIX}{secrets.token_hex(6)}.s16"
    total, peak = 0, 0.0
    try:
        with open(target, "wb") as fh:
            for chunk in decoded_chunks(p, sample_rate, max_duration):
                if chunk.size:
                    peak = max(peak, float(np.max(np.abs(to_float(chunk)))))
                    fh.write(chunk.astype("<i2", copy=False).tobytes())
                    total += chunk.size
        check_decoded(name, total, peak, sample_rate, min_duration, silence_dbfs)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return ScratchAudio(target, total, sample_rate)
