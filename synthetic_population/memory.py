"""The process's memory: what the generator gives back to the system."""

from __future__ import annotations

import ctypes
import functools


@functools.cache
def _malloc_trim():
    """glibc's `malloc_trim`, or None (another C library)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = (ctypes.c_size_t,)
    return trim


def release_freed_memory() -> bool:
    """Give the memory of freed arrays back to the system. glibc's malloc keeps freed blocks
    below a threshold it raises itself (up to 32 MiB) for its own reuse; the generator's
    draws leave some 250 MB of them at national scale, which Polars (whose memory comes from
    another allocator) never reuses: returned before the frames are made, they are not part
    of a first run's peak memory. A few milliseconds; False where the C library is not glibc."""
    trim = _malloc_trim()
    return trim is not None and bool(trim(0))
