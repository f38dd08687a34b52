"""A state found in the population cache is mapped copy-on-write and made the process's own
memory in one pass before the kernel runs (synthetic_population.cache._writable): the
kernel's threads then write pages that are already theirs. Read from the kernel's own
account of the mapping (/proc/self/smaps: `Anonymous` counts the pages copied); the file is
never written."""

from __future__ import annotations

import platform
import re

import numpy as np
import pytest

from synthetic_population.cache import _writable
from tests.helpers import mapping_kib

N = 4 << 20  # bytes


def _anonymous_kib(arr: np.ndarray) -> int:
    return mapping_kib(arr, "Anonymous")


def _linux() -> tuple[int, int]:
    if platform.system() != "Linux":
        return (0, 0)
    major, minor = re.match(r"(\d+)\.(\d+)", platform.release()).groups()
    return int(major), int(minor)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "slots.npy"
    np.save(path, np.arange(N // 8, dtype=np.int64))
    return path


def test_a_cached_state_is_the_process_own_memory_before_the_kernel_writes(saved):
    if _linux() < (5, 14):
        pytest.skip("this Linux has no MADV_POPULATE_WRITE (before 5.14): pages fault as before")
    arr = _writable(np.load(saved, mmap_mode="c"))
    assert _anonymous_kib(arr) >= arr.nbytes // 1024 - 4
    assert type(arr) is np.ndarray


def test_without_it_the_mapping_holds_no_copied_page(saved):
    # the control: a copy-on-write mapping copies nothing until written
    arr = np.asarray(np.load(saved, mmap_mode="c"))
    assert int(arr[12345]) == 12345
    assert _anonymous_kib(arr) == 0


def test_writes_stay_in_the_process_and_the_values_are_the_file_s(saved):
    arr = _writable(np.load(saved, mmap_mode="c"))
    assert np.array_equal(arr, np.arange(N // 8, dtype=np.int64))
    arr[:] = -1
    assert np.array_equal(np.load(saved), np.arange(N // 8, dtype=np.int64))
