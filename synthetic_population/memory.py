"""The process's memory: what a run gives back to the system after generating a population."""

from __future__ import annotations

import functools
import os
import sys


@functools.cache
def _malloc_trim():
    """glibc's `malloc_trim`, or None (another C library)."""
    import ctypes

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


POLARS_ALLOCATOR_ENV = "_RJEM_MALLOC_CONF"  # Polars' jemalloc reads its settings from it
POLARS_ALLOCATOR = "background_thread:true,dirty_decay_ms:300,muzzy_decay_ms:0"


def return_frames_memory_soon() -> bool:
    """Let Polars' allocator give freed memory back to the system within a third of a second,
    from a thread of its own, instead of keeping it for ten seconds (its default). A first
    run frees its generated frames once they are written to the population cache and then
    builds the state and steps the kernel beside what was kept: peak 692 -> 643 MiB at
    national scale (median of 7; max 739 -> 672), no slower (paired 0.98; a cache hit 1.00).
    Only on Linux (Polars' jemalloc there runs background threads; elsewhere it may use
    another allocator or refuse the option), only before Polars is loaded, and never over a
    setting of the user's. True when set."""
    if not sys.platform.startswith("linux"):
        return False
    if POLARS_ALLOCATOR_ENV in os.environ or "polars" in sys.modules:
        return False
    os.environ[POLARS_ALLOCATOR_ENV] = POLARS_ALLOCATOR
    return True
