"""Where each drawn value goes. The generator draws a group's clients and their slots part by
part (a start stock, an inflow pool), each from a stream of its own; the population numbers
clients with the stock first, then the pool by arrival month, and slots in client order. These
put each part's arrays at their rows, with no sort: the rows are arithmetic."""

from __future__ import annotations

import threading

import numpy as np


def part_rows(
    gi: int, in_stock: bool, n: int, n_stock: np.ndarray, pool_counts: np.ndarray
) -> np.ndarray:
    """The rows (client id - 1) of a part's clients. Clients are numbered with the stock first
    (group order), then the pool by arrival month and group; a part's clients are in that
    order already (the pool's by arrival month), so each row is arithmetic: no sort."""
    if in_stock:
        return int(n_stock[:gi].sum()) + np.arange(n, dtype=np.int64)
    months = pool_counts.shape[1]
    per_month = pool_counts.T.ravel()  # month-major, group-minor: the numbering's order
    first = (int(n_stock.sum()) + np.cumsum(per_month) - per_month).reshape(months, -1)[:, gi]
    before = np.cumsum(pool_counts[gi]) - pool_counts[gi]  # the group's pool before the month
    return np.repeat(first - before, pool_counts[gi]) + np.arange(n, dtype=np.int64)


def runs_of(rows: np.ndarray) -> list[tuple[int, int, int]] | None:
    """`rows` as runs of consecutive rows, (first row, first position in `rows`, length),
    where they are few (a part's clients: one run for a start stock, one per arrival month
    for a pool), else None. A run is copied as a slice: about ten times faster than putting
    each value at its row."""
    if rows.size == 0:
        return []
    first = np.flatnonzero(np.diff(rows) != 1) + 1
    if (first.size + 1) * RUN_MIN > rows.size:
        return None
    src = np.concatenate([[0], first])
    length = np.diff(np.append(src, rows.size))
    return list(zip(rows[src].tolist(), src.tolist(), length.tolist(), strict=True))


RUN_MIN = 32  # rows per run, on average, for `Placed.put` to copy runs


class Placed:
    """Arrays of `n` rows filled a part at a time, from any thread (`put`): each part's values
    put at its rows, the parts' rows disjoint. An array is made (empty) when the first part
    brings its key, with that part's dtype and row shape; every part's must be the same (the
    first part is whichever thread comes first)."""

    def __init__(self, n: int):
        self.n = n
        self.arrays: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def _dest(self, key: str, like: np.ndarray) -> np.ndarray:
        with self._lock:
            dest = self.arrays.get(key)
            if dest is None:
                dest = np.empty((self.n, *like.shape[1:]), dtype=like.dtype)
                self.arrays[key] = dest
        if (dest.dtype, dest.shape[1:]) != (like.dtype, like.shape[1:]):
            raise TypeError(f"{key}: a part of {like.dtype} {like.shape[1:]}, not {dest.dtype}")
        return dest

    def put(self, arrays: dict, rows: np.ndarray, keys) -> None:
        """Put `arrays[k]` at `rows` for each key, taking each array out of `arrays` as it is
        placed (freed as soon as it can be: the population's peak memory)."""
        part_runs = runs_of(rows)
        for k in keys:
            values = arrays.pop(k)
            dest = self._dest(k, values)
            if part_runs is None:
                dest[rows] = values
            else:
                for row, at, length in part_runs:
                    dest[row : row + length] = values[at : at + length]
            del values


def rank_in_runs(owner: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal values (`owner` grouped by value)."""
    m = owner.size
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], owner[1:] != owner[:-1]]))
    return np.arange(m, dtype=np.int64) - np.repeat(starts, np.diff(np.append(starts, m)))
