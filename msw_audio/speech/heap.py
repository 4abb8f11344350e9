"""The process heap (glibc malloc) of a worker: fewer arenas, freed memory given back.

One loader of the C library for both settings (``_libc``); everything here is a no-op where
glibc is not the allocator (musl, macOS), so callers need not ask.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import cache

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
DEFAULT_ARENAS = 2  # one per model stage running side by side (transcription, diarization)


@cache
def _libc() -> ctypes.CDLL | None:
    """The C library, loaded once; None where it has no glibc malloc entry points."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 - both must exist (glibc)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return None
    return libc


def release_freed_memory() -> None:
    """Hand memory freed by the process back to the system (glibc ``malloc_trim``).

    Why: a window's spectrogram and VAD buffers are freed by Python but glibc keeps much
    of it in its heaps (arenas of two model threads), so the resident size creeps up by
    ~200 MB per hour-long recording and the next allocation of the other stage comes on
    top.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def limit_arenas(count: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``count`` (``mallopt(M_ARENA_MAX)``); True if set.

    Why: glibc gives each thread that meets a locked arena a new one, up to 8 per core, and
    each arena keeps its own freed memory (which ``malloc_trim`` returns only in part), so
    the model threads of one pipeline (transcription, diarization, their intra-op pools)
    spread a long recording's transient buffers over many heaps. Two arenas match the two
    model stages. Call it before those threads start (``Pipeline`` does); arenas made
    earlier stay. An operator's own ``MALLOC_ARENA_MAX`` in the environment wins: glibc
    reads it at start and this leaves it alone.
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    libc = _libc()
    if libc is None:  # pragma: no cover - not glibc
        return False
    return bool(libc.mallopt(M_ARENA_MAX, int(count)))
