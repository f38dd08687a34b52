"""Where each drawn value goes. The generator draws a group's clients and their slots part by
part (a start stock, an inflow pool), each from a stream of its own; the population numbers
clients with the stock first, then the pool by arrival month, and slots in client order. These
put each part's arrays at their rows, with no sort: the rows are arithmetic."""

from __future__ import annotations

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


RUN_MIN = 32  # rows per run, on average, for `place` to copy runs


def place(parts: list[tuple[dict, np.ndarray]], n: int, keys) -> dict:
    """Arrays of `n` rows from the parts' arrays, each part's values put at its rows. The
    parts' arrays are taken out of their dicts as they are placed (freed as soon as they can
    be: the population's peak memory)."""
    runs = [runs_of(rows) for _, rows in parts]
    out = {}
    for k in keys:
        first = parts[0][0][k]
        dest = np.empty((n, *first.shape[1:]), dtype=first.dtype)
        for (arrays, rows), part_runs in zip(parts, runs, strict=True):
            values = arrays.pop(k)
            if part_runs is None:
                dest[rows] = values
            else:
                for row, at, length in part_runs:
                    dest[row : row + length] = values[at : at + length]
            del values  # freed now, not when the next part's is popped (the peak)
        out[k] = dest
    return out


def rank_in_runs(owner: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal values (`owner` grouped by value)."""
    m = owner.size
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], owner[1:] != owner[:-1]]))
    return np.arange(m, dtype=np.int64) - np.repeat(starts, np.diff(np.append(starts, m)))
