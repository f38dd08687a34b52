"""Several combinations of rules in one kernel pass, exact (issue 4: experiment sub-runs).

The union of an experiment's rules (every measure, in experiment order) is compiled into one
`Params`. Each client is stepped through all months under several subsets of those rules
("combinations", `Multi.combos`: bit r = rule r on) one after another while its state is in
cache, its state restored from a per-chunk snapshot before each. Trajectories are memoised:

- stepping a client under combination K', the hooks record in `w[W_TOUCHED]` every rule that
  is off in K' and would have acted (engine.rule_hooks.would_act: conservative, True whenever
  the rule might change state or take a draw) at its place in the rule order, at any hook
  evaluation along the trajectory;
- for a later combination K with K' a subset of K and no rule of K \\ K' touched, the client's
  trajectory under K is the one under K': by induction over hook evaluations, the extra rules
  never act, keyed draws have no side effects, and the state of a rule that never acts is
  never read. Its results are reused without stepping.

Combinations come in order of increasing popcount, the baseline (no rule on) first, so most
clients are stepped once or twice: a client no rule touches in the baseline is done after
one trajectory. Keyed draws only: a sequential stream's draws have side effects (callers fall
back to one pass per combination).

Per combination only what an experiment sub-run needs without detail: gross and own
contribution cents per budget year (summed by the kernel's cost accrual into the work array,
`w[W_YEAR_TOT:]`, switched on by `w[W_YEARS]`) and the clients affected per kind and group by
all of the combination's rules together (the last row of `B.affected`). Per chunk: the baseline's totals once per
client, and per combination the difference its trajectory made, so a client whom no rule
touches costs no per-combination work. The ordinary bins are scratch in this mode.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from engine.arrangement import W_RULES, W_TOUCHED, W_YEAR_TOT, hot
from engine.state import State

U = np.uint64

# the state columns the kernel mutates: a trajectory starts from the client's snapshot of these
MUTABLE_CLIENT = ("admitted", "affected", "rule_c")
MUTABLE_SLOT = ("status", "start", "planned_end", "ind_no", "since", "step", "minutes", "frequency", "weekly_cents", "end_month", "end_reason", "rule_a")
MAX_RULES = 64  # bits of a combination's int64 mask

Multi = namedtuple(
    "Multi",
    [
        "combos",  # [combination] int64 rule masks, in the order stepped (combos[0] == 0, the baseline)
        "n_traj",  # [chunk] trajectories stepped for the current client
        "traj_mask",  # [chunk, trajectory] rules on
        "traj_touch",  # [chunk, trajectory] rules off that would have acted
        "traj_y",  # [chunk, trajectory, year, (gross, own contribution)] cents
        "traj_aff",  # [chunk, trajectory, kind, group] clients affected (0 or 1)
        "base_y",  # [chunk, year, 2] the baseline trajectory's totals, summed over clients
        "base_aff",  # [chunk, kind, group]
        "delta_y",  # [chunk, combination, year, 2] sum over clients of (trajectory - baseline)
        "delta_aff",  # [chunk, combination, kind, group]
        "stats",  # [chunk, 2]: trajectories stepped, clients
    ],
)


def allocate_multi(combos: np.ndarray, n_chunks: int, n_years: int, n_groups: int) -> Multi:
    k = int(combos.shape[0])
    if k and int(combos[0]) != 0:
        raise ValueError("the first combination must be the baseline (no rule on)")
    z = np.zeros
    return Multi(
        combos=np.ascontiguousarray(combos, dtype=np.int64),
        n_traj=z(n_chunks, np.int64),
        traj_mask=z((n_chunks, k), np.int64),
        traj_touch=z((n_chunks, k), np.int64),
        traj_y=z((n_chunks, k, n_years, 2), np.int64),
        traj_aff=z((n_chunks, k, 2, n_groups), np.int64),
        base_y=z((n_chunks, n_years, 2), np.int64),
        base_aff=z((n_chunks, 2, n_groups), np.int64),
        delta_y=z((n_chunks, k, n_years, 2), np.int64),
        delta_aff=z((n_chunks, k, 2, n_groups), np.int64),
        stats=z((n_chunks, 2), np.int64),
    )


def snapshot_buffers(S: State, n_chunks: int, max_slots: int) -> State:
    """Per-chunk buffers for one client's mutable columns (a `State` of the same array types,
    so the kernel copies with one function both ways): client columns [chunk], slot columns
    [chunk * max_slots + i]; the columns the kernel never writes are empty."""
    cols = {}
    for name in State._fields:
        a = getattr(S, name)
        if name in MUTABLE_CLIENT:
            shape = (n_chunks, *a.shape[1:])
        elif name in MUTABLE_SLOT:
            shape = (n_chunks * max_slots, *a.shape[1:])
        else:
            shape = (0,) * a.ndim
        cols[name] = np.zeros(shape, dtype=a.dtype)
    return State(**cols)


def no_multi(S: State, n_chunks: int) -> tuple[Multi, State]:
    """The empty multi-combination arguments of an ordinary pass (same array types: one
    compiled kernel for both)."""
    return allocate_multi(np.zeros(0, np.int64), n_chunks, 0, 0), snapshot_buffers(S, 0, 0)


# ------------------------------------------------------------------------------ kernel side
@hot
def copy_client(src, c, lo, dst, d, dlo, n):
    """The mutable columns (MUTABLE_CLIENT, MUTABLE_SLOT) of client row c and its n slots
    from lo in `src` to client row d and slots from dlo in `dst`."""
    uc, ud = U(c), U(d)
    dst.admitted[ud] = src.admitted[uc]
    dst.affected[ud] = src.affected[uc]
    for r in range(src.rule_c.shape[1]):
        dst.rule_c[ud, U(r)] = src.rule_c[uc, U(r)]
    for i in range(n):
        a = U(lo + i)
        b = U(dlo + i)
        dst.status[b] = src.status[a]
        dst.start[b] = src.start[a]
        dst.planned_end[b] = src.planned_end[a]
        dst.ind_no[b] = src.ind_no[a]
        dst.since[b] = src.since[a]
        dst.step[b] = src.step[a]
        for k in range(src.minutes.shape[1]):
            dst.minutes[b, U(k)] = src.minutes[a, U(k)]
        dst.frequency[b] = src.frequency[a]
        dst.weekly_cents[b] = src.weekly_cents[a]
        dst.end_month[b] = src.end_month[a]
        dst.end_reason[b] = src.end_reason[a]
        for r in range(src.rule_a.shape[1]):
            dst.rule_a[b, U(r)] = src.rule_a[a, U(r)]


@hot
def start_trajectory(B, M, ch, w, rules):
    """Rules on for the next trajectory; its totals and clients affected start at zero."""
    w[W_RULES] = rules
    w[W_TOUCHED] = 0
    uch = U(ch)
    for i in range(2 * M.traj_y.shape[2]):
        w[U(W_YEAR_TOT + i)] = 0
    last = U(B.affected.shape[1] - 1)
    for kind in range(2):
        for g in range(B.affected.shape[3]):
            B.affected[uch, last, U(kind), U(g)] = 0


@hot
def begin_client(S, B, M, snap, ch, c, w):
    """Before a client's first trajectory (the baseline): its snapshot."""
    ms = snap.status.shape[0] // snap.admitted.shape[0]
    lo = np.int64(S.arr_lo[c])
    copy_client(S, c, lo, snap, ch, ch * ms, np.int64(S.arr_hi[c]) - lo)
    M.n_traj[U(ch)] = 0
    M.stats[U(ch), 1] += 1
    start_trajectory(B, M, ch, w, M.combos[0])


@hot
def add_delta(M, ch, k, j):
    """Combination k's client follows trajectory j: add what it changed against the baseline."""
    if j == 0:
        return
    uch, uk, uj = U(ch), U(k), U(j)
    for y in range(M.traj_y.shape[2]):
        for f in range(2):
            M.delta_y[uch, uk, U(y), U(f)] += M.traj_y[uch, uj, U(y), U(f)] - M.traj_y[uch, 0, U(y), U(f)]
    for kind in range(2):
        for g in range(M.traj_aff.shape[3]):
            M.delta_aff[uch, uk, U(kind), U(g)] += M.traj_aff[uch, uj, U(kind), U(g)] - M.traj_aff[uch, 0, U(kind), U(g)]


@njit(cache=True, nogil=True, _nrt=False)
def next_trajectory(S, B, M, snap, ch, c, w, first):
    """From combination `first` on: reuse a trajectory stepped already where one holds (a
    subset of the combination's rules, none of the others touched), else restore the client's
    snapshot and return the combination to step next; -1 when every combination has its
    result."""
    uch = U(ch)
    t0 = M.traj_touch[uch, 0]
    n = M.n_traj[uch]
    for k in range(first, M.combos.shape[0]):
        rules = M.combos[U(k)]
        if (rules & t0) == 0:
            continue  # the baseline trajectory: nothing changes
        j = -1
        for i in range(1, n):
            on = M.traj_mask[uch, U(i)]
            if (on & ~rules) == 0 and (rules & ~on & M.traj_touch[uch, U(i)]) == 0:
                j = i
                break
        if j >= 0:
            add_delta(M, ch, k, j)
            continue
        ms = snap.status.shape[0] // snap.admitted.shape[0]
        lo = np.int64(S.arr_lo[c])
        copy_client(snap, ch, ch * ms, S, c, lo, np.int64(S.arr_hi[c]) - lo)
        start_trajectory(B, M, ch, w, rules)
        return k
    return -1


@hot
def end_trajectory(S, B, M, snap, ch, c, w, k):
    """After stepping the client under combination k: keep the trajectory's totals, touched
    rules and clients affected; book them; return the next combination to step, or -1."""
    uch = U(ch)
    n = M.n_traj[uch]
    un = U(n)
    M.traj_mask[uch, un] = M.combos[U(k)]
    M.traj_touch[uch, un] = w[W_TOUCHED]
    for y in range(M.traj_y.shape[2]):
        M.traj_y[uch, un, U(y), 0] = w[U(W_YEAR_TOT + 2 * y)]
        M.traj_y[uch, un, U(y), 1] = w[U(W_YEAR_TOT + 2 * y + 1)]
    last = U(B.affected.shape[1] - 1)
    for kind in range(2):
        for g in range(B.affected.shape[3]):
            M.traj_aff[uch, un, U(kind), U(g)] = B.affected[uch, last, U(kind), U(g)]
    M.n_traj[uch] = n + 1
    M.stats[uch, 0] += 1
    if n == 0:
        for y in range(M.traj_y.shape[2]):
            M.base_y[uch, U(y), 0] += M.traj_y[uch, 0, U(y), 0]
            M.base_y[uch, U(y), 1] += M.traj_y[uch, 0, U(y), 1]
        for kind in range(2):
            for g in range(B.affected.shape[3]):
                M.base_aff[uch, U(kind), U(g)] += B.affected[uch, last, U(kind), U(g)]
        if w[W_TOUCHED] == 0:
            return -1  # no rule would have acted on this client: every combination is the baseline
    else:
        add_delta(M, ch, k, n)
    return next_trajectory(S, B, M, snap, ch, c, w, k + 1)
