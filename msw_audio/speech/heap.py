"""Giving freed heap memory back to the system between the windows of a long recording."""

from __future__ import annotations


def release_freed_memory() -> None:
    """Hand memory freed by the process back to the system (glibc ``malloc_trim``).

    Why: a window's spectrogram and VAD buffers are freed by Python but glibc keeps much
    of it in its heaps (arenas of two model threads), so the resident size creeps up by
    ~200 MB per hour-long recording and the next allocation of the other stage comes on
    top. A no-op where glibc is not the allocator.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


#: glibc's ``mallopt`` parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3

#: Buffers at least this big get their own mapping, returned to the system when freed.
MMAP_THRESHOLD = 1 << 20


def keep_big_buffers_out_of_the_heap(threshold: int = MMAP_THRESHOLD) -> None:
    """Give every buffer of ``threshold`` bytes or more its own memory mapping (glibc).

    Why: glibc starts by mapping buffers over 128 kB, but each time one is freed it raises
    that threshold (up to 32 MB), so the next window's spectrogram, VAD batches and audio
    tensors (a few MB each) land in the heap instead and fragment it; the resident size of
    a worker then grows with the length of the recording. A fixed threshold keeps them
    mapped, so freeing one hands it straight back. Process-wide and idempotent; results do
    not change (only where memory comes from). A no-op where glibc is not the allocator.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, int(threshold))
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass
