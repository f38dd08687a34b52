"""The frame (engine.model.frame): out-of-line calls read the state, parameters, work array,
draw stream and bins through one pointer to what the entry point pinned."""

from collections import namedtuple

import numpy as np
import pytest
from numba import njit

from engine.model.frame import frame, frame_sp, pin, unframe
from engine.model.layout import W_FRAME, work_size

Bins = namedtuple("Bins", ["arr", "cli"])


@njit(_nrt=False)
def _callee(F, i):
    S, P, w, _, B = unframe(F)
    w[1] += 1
    B.arr[i, 1] += S[i] * P[0]["x"]
    B.cli[0, 0, i] = i


@njit(_nrt=False)
def _callee_sp(F, i):
    S, P, _, seq = unframe(F)
    return S[i] + P[0]["x"] + seq[0]


@njit(_nrt=False)
def _entry(S, P, B, w, seq):
    w[W_FRAME] = pin((S, P, w, seq, B))
    for i in range(S.shape[0]):
        _callee(frame(S, P, B, w, seq), i)
    out = _callee_sp(frame_sp(S, P, w, seq), 2)
    w[W_FRAME] = 0
    return out


@njit(_nrt=False)
def _unpinned(S, P, B, w, seq):
    _callee(frame(S, P, B, w, seq), 0)


def _arrays():
    S = np.arange(4, dtype=np.int64)
    P = np.zeros(1, dtype=[("x", "<i8"), ("y", "<f8")])
    P[0]["x"] = 3
    B = Bins(np.zeros((4, 3), dtype=np.int64), np.zeros((2, 2, 4), dtype=np.int64))
    return S, P, B


def test_a_pinned_frame_reaches_the_callers_own_arrays():
    S, P, B = _arrays()
    w = np.zeros(work_size(1), dtype=np.int64)
    seq = np.full(2, 5, dtype=np.uint64)
    out = _entry(S, P, B, w, seq)
    # recomputed here in Python: the callee wrote into the caller's bins, not a copy
    assert B.arr[:, 1].tolist() == [0, 3, 6, 9]
    assert B.cli[0, 0].tolist() == [0, 1, 2, 3]
    assert w[1] == 4  # the work array too: each call added one
    assert out == 2 + 3 + 5  # (S, P, w, seq) read through the same pin
    assert w[W_FRAME] == 0  # cleared after: no dangling address left behind


def test_a_call_without_a_pinned_frame_is_refused_not_followed():
    S, P, B = _arrays()
    w = np.zeros(work_size(1), dtype=np.int64)
    with pytest.raises(RuntimeError, match="no frame pinned"):
        _unpinned(S, P, B, w, np.zeros(2, dtype=np.uint64))
