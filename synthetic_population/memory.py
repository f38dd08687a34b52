"""The process's memory: what a run gives back to the system after generating a population."""

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
    another allocator) never reuses. A few milliseconds; False where the C library is not
    glibc. Not inside `generate`: a process that generates again would fault the memory in
    again (generation best of 3 in one process: 0.77 -> 0.85 s)."""
    trim = _malloc_trim()
    return trim is not None and bool(trim(0))
