"""Arrays written sparsely get ordinary 4 KiB pages, not huge ones.

NumPy asks Linux for transparent huge pages (2 MiB) for every array of 4 MiB or more
(`madvise(MADV_HUGEPAGE)`), and a huge page is zeroed whole at its first write. The result
bins are written sparsely: an events bin per chunk, rule, kind, group, product and month (56
MB for the BOZ package, whatever the population), of which a run writes a small part. In a
new `caseload run` process on the build machine, the package's kernel at the default scale
took 0.175 s with huge pages and 0.061 s without (medians of 5 alternated runs): most of it
was the kernel zeroing 2 MiB pages for bins it wrote one number into. With 4 KiB pages only
the pages written are touched (and resident).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


def _setter():
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    return getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)


@contextmanager
def small_pages() -> Iterator[None]:
    """NumPy arrays allocated inside get no huge-page advice (a process-wide NumPy switch,
    set back on exit; a NumPy without it allocates as usual)."""
    setter = _setter()
    if setter is None:
        yield
        return
    before = setter(False)
    try:
        yield
    finally:
        setter(before)
