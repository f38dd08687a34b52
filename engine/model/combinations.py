"""Several combinations of rules in one kernel pass, exact: what experiment sub-runs use.

The union of an experiment's rules (every measure, in experiment order) is compiled into one
`Params`. Each client is stepped through all months under several subsets of those rules
("combinations", `Multi.combos`: bit r = rule r on) one after another while its state is in
cache, restored to its initial state before each. Trajectories are memoised:

- stepping a client under combination K', the hooks (engine.model.hooks) apply the rules on and
  record in `w[W_TOUCHED]` every rule that is off in K' and would have acted (each primitive's
  `would_act`: conservative, True whenever the rule might change state or take a draw) at its
  place in the rule order, at any hook evaluation along the trajectory;
- for a later combination K with K' a subset of K and no rule of K \\ K' touched, the client's
  trajectory under K is the one under K': by induction over hook evaluations, the extra rules
  never act, keyed draws have no side effects, and the state of a rule that never acts is
  never read. Its results are reused without stepping.

Combinations come in order of increasing popcount, the baseline (no rule on) first, so most
clients are stepped once or twice: a client no rule touches in the baseline is done after
one trajectory (no bookkeeping call; `end_trajectory` runs only for the others). A client is
restored for a further trajectory from a copy of the initial state (`init`, a `State` of the
same array types), rather than from a snapshot: nothing to copy for the many clients stepped
once. Keyed draws only: a sequential stream's draws have side effects (callers fall
back to one pass per combination).

Per combination only what an experiment sub-run needs without detail: gross and own
contribution cents per budget year (summed by the kernel's cost accrual into the work array,
`w[W_YEAR_TOT:]`, switched on by `w[W_YEARS]`) and the clients affected per kind and group by
all of the combination's rules together (the last row of `B.affected`). Per chunk: the
baseline's totals once per client, and per combination the difference its trajectory made, so
a client whom no rule touches costs no per-combination work. The ordinary bins are scratch in
this mode.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from engine.model.jit import jit, jit_call
from engine.model.layout import W_RULES, W_TOUCHED, W_YEAR_TOT

U = np.uint64

MAX_RULES = 64  # bits of a combination's int64 mask

Multi = namedtuple(
    "Multi",
    [
        # [combination] int64 rule masks, in the order stepped (combos[0] == 0, the baseline)
        "combos",
        "n_traj",  # [chunk] trajectories stepped for the current client
        "traj_mask",  # [chunk, trajectory] rules on
        "traj_touch",  # [chunk, trajectory] rules off that would have acted
        "traj_y",  # [chunk, trajectory, year, (gross, own contribution)] cents
        "traj_aff",  # [chunk, trajectory, kind, group] clients affected (0 or 1)
        "base_y",  # [chunk, year, 2] the baseline trajectory's totals, summed over clients
        "base_aff",  # [chunk, kind, group]
        "delta_y",  # [chunk, combination, year, 2] sum over clients of (trajectory - baseline)
        "delta_aff",  # [chunk, combination, kind, group]
        "stats",  # [chunk, 1]: trajectories stepped
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
        stats=z((n_chunks, 1), np.int64),
    )


def no_multi(S, n_chunks: int) -> tuple:
    """The empty multi-combination arguments of an ordinary pass (same array types: one
    compiled kernel for both; the initial state is not read)."""
    return allocate_multi(np.zeros(0, np.int64), n_chunks, 0, 0), S


@jit
def restore_client(init, S, c):
    """Client c and its slots back to the initial state (rule state included)."""
    S.clients[c] = init.clients[c]
    for r in range(S.rule_c.shape[1]):
        S.rule_c[c, r] = init.rule_c[c, r]
    for a in range(S.clients[c].arr_lo, S.clients[c].arr_hi):
        S.slots[a] = init.slots[a]
        for r in range(S.rule_a.shape[1]):
            S.rule_a[a, r] = init.rule_a[a, r]


@jit
def start_trajectory(aff, M, ch, w, rules):
    """Rules on for the next trajectory; its totals and clients affected (`aff`: the
    kernel's B.affected) start at zero."""
    w[W_RULES] = rules
    w[W_TOUCHED] = 0
    uch = U(ch)
    for i in range(2 * M.traj_y.shape[2]):
        w[U(W_YEAR_TOT + i)] = 0
    last = U(aff.shape[1] - 1)
    for kind in range(2):
        for g in range(aff.shape[3]):
            aff[uch, last, U(kind), U(g)] = 0


@jit
def begin_client(aff, M, ch, w):
    """Before a client's first trajectory: the baseline (combos[0]), from the initial state
    (no client has been stepped from it yet)."""
    M.n_traj[U(ch)] = 0
    start_trajectory(aff, M, ch, w, M.combos[0])


@jit
def baseline_only(aff, M, ch, w):
    """The baseline trajectory touched no rule: every combination's trajectory is the
    baseline's. Book its totals; nothing else to do for this client."""
    uch = U(ch)
    for y in range(M.traj_y.shape[2]):
        M.base_y[uch, U(y), 0] += w[U(W_YEAR_TOT + 2 * y)]
        M.base_y[uch, U(y), 1] += w[U(W_YEAR_TOT + 2 * y + 1)]
    last = U(aff.shape[1] - 1)
    for kind in range(2):
        for g in range(aff.shape[3]):
            M.base_aff[uch, U(kind), U(g)] += aff[uch, last, U(kind), U(g)]
    M.stats[uch, 0] += 1


@jit
def add_delta(M, ch, k, j):
    """Combination k's client follows trajectory j: add what it changed against the baseline."""
    if j == 0:
        return
    uch, uk, uj = U(ch), U(k), U(j)
    for y in range(M.traj_y.shape[2]):
        for f in range(2):
            M.delta_y[uch, uk, U(y), U(f)] += (
                M.traj_y[uch, uj, U(y), U(f)] - M.traj_y[uch, 0, U(y), U(f)]
            )
    for kind in range(2):
        for g in range(M.traj_aff.shape[3]):
            M.delta_aff[uch, uk, U(kind), U(g)] += (
                M.traj_aff[uch, uj, U(kind), U(g)] - M.traj_aff[uch, 0, U(kind), U(g)]
            )


@jit
def next_trajectory(S, aff, M, init, ch, c, w, first):
    """From combination `first` on: reuse a trajectory stepped already where one holds (a
    subset of the combination's rules, none of the others touched), else restore the client
    to the initial state and return the combination to step next; -1 when every combination
    has its result."""
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
        restore_client(init, S, c)
        start_trajectory(aff, M, ch, w, rules)
        return k
    return -1


@jit_call
def end_trajectory(S, aff, M, init, ch, c, w, k):
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
    last = U(aff.shape[1] - 1)
    for kind in range(2):
        for g in range(aff.shape[3]):
            M.traj_aff[uch, un, U(kind), U(g)] = aff[uch, last, U(kind), U(g)]
    M.n_traj[uch] = n + 1
    M.stats[uch, 0] += 1
    if n == 0:
        for y in range(M.traj_y.shape[2]):
            M.base_y[uch, U(y), 0] += M.traj_y[uch, 0, U(y), 0]
            M.base_y[uch, U(y), 1] += M.traj_y[uch, 0, U(y), 1]
        for kind in range(2):
            for g in range(aff.shape[3]):
                M.base_aff[uch, U(kind), U(g)] += M.traj_aff[uch, 0, U(kind), U(g)]
    else:
        add_delta(M, ch, k, n)
    return next_trajectory(S, aff, M, init, ch, c, w, k + 1)
