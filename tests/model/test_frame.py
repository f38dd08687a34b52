"""The frame (engine.model.frame): out-of-line calls read the state, parameters and bins
through one pointer to what the entry point pinned."""

from collections import namedtuple

import numpy as np
import pytest
from numba import njit

from engine.model.frame import frame, frame_sp, pin, unframe
from engine.model.layout import W_FRAME, work_size

Bins = namedtuple("Bins", ["arr", "cli"])


@njit(_nrt=False)
def _callee(F, i):
    S, P, B = unframe(F)
    B.arr[i, 1] += S[i] * P[0]["x"]
    B.cli[0, 0, i] = i


@njit(_nrt=False)
def _callee_sp(F, i):
    S, P = unframe(F)
    return S[i] + P[0]["x"]


@njit(_nrt=False)
def _entry(S, P, B, w):
    w[W_FRAME] = pin((S, P, B))
    for i in range(S.shape[0]):
        _callee(frame(S, P, B, w), i)
    out = _callee_sp(frame_sp(S, P, w), 2)
    w[W_FRAME] = 0
    return out


@njit(_nrt=False)
def _unpinned(S, P, B, w):
    _callee(frame(S, P, B, w), 0)


def _arrays():
    S = np.arange(4, dtype=np.int64)
    P = np.zeros(1, dtype=[("x", "<i8"), ("y", "<f8")])
    P[0]["x"] = 3
    B = Bins(np.zeros((4, 3), dtype=np.int64), np.zeros((2, 2, 4), dtype=np.int64))
    return S, P, B


def test_a_pinned_frame_reaches_the_callers_own_arrays():
    S, P, B = _arrays()
    w = np.zeros(work_size(1), dtype=np.int64)
    out = _entry(S, P, B, w)
    # recomputed here in Python: the callee wrote into the caller's bins, not a copy
    assert B.arr[:, 1].tolist() == [0, 3, 6, 9]
    assert B.cli[0, 0].tolist() == [0, 1, 2, 3]
    assert out == 2 + 3  # (S, P) read through the same pin
    assert w[W_FRAME] == 0  # cleared after: no dangling address left behind


def test_a_call_without_a_pinned_frame_is_refused_not_followed():
    S, P, B = _arrays()
    w = np.zeros(work_size(1), dtype=np.int64)
    with pytest.raises(RuntimeError, match="no frame pinned"):
        _unpinned(S, P, B, w)
