"""Result bins get 4 KiB pages: a sparse write touches one small page, not a 2 MiB huge page
(engine.simulation.small_pages). Read from the kernel's own account of the mapping
(/proc/self/smaps), so it needs Linux with transparent huge pages available."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.simulation.small_pages import small_pages
from tests.helpers import mapping_kib

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
SIZE = 64 << 20  # bytes: like the BOZ package's events bins


def _huge_kib(arr: np.ndarray) -> int:
    return mapping_kib(arr, "AnonHugePages")


def _sparse_write(arr: np.ndarray) -> None:
    flat = arr.reshape(-1)
    flat[:: (4 << 20) // arr.itemsize] = 1  # one number every 4 MiB


@pytest.fixture
def thp_available():
    if not THP.exists() or "[never]" in THP.read_text():
        pytest.skip("transparent huge pages are off on this machine")


def test_bins_written_sparsely_take_no_huge_pages(thp_available):
    with small_pages():
        arr = np.zeros(SIZE // 8, dtype=np.int64)
    _sparse_write(arr)
    assert _huge_kib(arr) == 0


def test_numpy_gives_huge_pages_without_it(thp_available):
    # the control: without small_pages NumPy asks for huge pages, and a sparse write then
    # faults in whole 2 MiB pages (if this fails, NumPy or the machine changed: the test
    # above proves nothing any more)
    arr = np.zeros(SIZE // 8, dtype=np.int64)
    _sparse_write(arr)
    if _huge_kib(arr) == 0:
        pytest.skip("the kernel gave no huge pages even when asked (memory fragmented)")
    assert _huge_kib(arr) > 0


def test_the_switch_is_set_back():
    from engine.simulation.small_pages import _setter

    setter = _setter()
    if setter is None:
        pytest.skip("this NumPy has no huge-page switch")
    original = setter(True)  # a known value on entry, whatever ran before
    try:
        with small_pages():
            assert setter(False) is False, "inside, NumPy gives no huge-page advice"
        assert setter(True) is True, "the switch was left off"
    finally:
        setter(original)
