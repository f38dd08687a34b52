"""Several combinations of rules in one kernel pass, exact (issue 4: experiment sub-runs).

The union of an experiment's rules (every measure, in experiment order) is compiled into one
`Params`. Each client is stepped through all months under several subsets of those rules
("combinations", `Multi.combos`: bit r = rule r on) one after another while its state is in
cache, restored to its initial state before each. Trajectories are memoised:

- stepping a client under combination K', the hooks (`rules_*_multi` below, the kernel calls
  them instead of engine.rule_hooks' when not every rule is on) apply the rules on and record
  in `w[W_TOUCHED]` every rule that is off in K' and would have acted (`would_act`:
  conservative, True whenever the rule might change state or take a draw) at its place in the
  rule order, at any hook evaluation along the trajectory;
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
all of the combination's rules together (the last row of `B.affected`). Per chunk: the baseline's totals once per
client, and per combination the difference its trajectory made, so a client whom no rule
touches costs no per-combination work. The ordinary bins are scratch in this mode.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from engine.arrangement import W_RULES, W_TOUCHED, W_YEAR_TOT, domain_group, hot
from engine.domain import S_ACTIVE, T_CLEANING
from engine.rng import D_RULE_SHARE, draw
from engine.rule_hooks import (
    MO_DATE,
    MO_INTAKE,
    MO_MONTHLY,
    MO_REINDICATION,
    PR_MAX_DURATION,
    PR_REMOVE_TASK,
    PR_REVIEW,
    PR_SET_FREQUENCY,
    PR_WEEKLY_CAP,
    X_APPLIES,
    X_LEAVES,
    X_UNDECIDED,
    apply_rule,
    decide_standing,
    has_tasks,
    in_scope,
    monthly_due,
    review_month,
    rule_on,
)
from engine.state import State

U = np.uint64

# the state columns the kernel mutates: a trajectory starts from the initial state of these
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


def no_multi(S: State, n_chunks: int) -> tuple[Multi, State]:
    """The empty multi-combination arguments of an ordinary pass (same array types: one
    compiled kernel for both; the initial state is not read)."""
    return allocate_multi(np.zeros(0, np.int64), n_chunks, 0, 0), S


# ------------------------------------------------------------------------------ kernel side
@hot
def restore_client(init, S, c):
    """Client c's mutable columns (MUTABLE_CLIENT, MUTABLE_SLOT) back to the initial state."""
    uc = U(c)
    S.admitted[uc] = init.admitted[uc]
    S.affected[uc] = init.affected[uc]
    for r in range(S.rule_c.shape[1]):
        S.rule_c[uc, U(r)] = init.rule_c[uc, U(r)]
    for a in range(U(S.arr_lo[uc]), U(S.arr_hi[uc])):
        S.status[a] = init.status[a]
        S.start[a] = init.start[a]
        S.planned_end[a] = init.planned_end[a]
        S.ind_no[a] = init.ind_no[a]
        S.since[a] = init.since[a]
        S.step[a] = init.step[a]
        for k in range(S.minutes.shape[1]):
            S.minutes[a, U(k)] = init.minutes[a, U(k)]
        S.frequency[a] = init.frequency[a]
        S.weekly_cents[a] = init.weekly_cents[a]
        S.end_month[a] = init.end_month[a]
        S.end_reason[a] = init.end_reason[a]
        for r in range(S.rule_a.shape[1]):
            S.rule_a[a, U(r)] = init.rule_a[a, U(r)]


@hot
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


@hot
def begin_client(aff, M, ch, w):
    """Before a client's first trajectory: the baseline (combos[0]), from the initial state
    (no client has been stepped from it yet)."""
    M.n_traj[U(ch)] = 0
    start_trajectory(aff, M, ch, w, M.combos[0])


@hot
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


@hot
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


# called, not inlined (the ordinary kernel stays as it was); only for clients some rule that
# is off would have acted on, about one client in five in the BOZ experiment
@njit(cache=True, nogil=True, _nrt=False)
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


# ------------------------------------------------------------------------------ hooks
# The hooks of a multi-combination pass: engine.rule_hooks' loops, with the rules on in this
# trajectory applied and the others asked whether they would have acted. Kept apart from
# engine.rule_hooks so an ordinary pass runs the very same hook code as before (measured: a
# hook holding both paths made the BOZ package kernel about 9% slower).
@hot
def standing_of(S, P, r, c, seq):
    """The client's standing under rule r: the one decided so far, else the one
    `rule_hooks.client_exception` would decide (same draws, same order; keyed: no side
    effect, and nothing is kept)."""
    st = S.rule_c[c, r]
    if st == X_UNDECIDED:
        st = decide_standing(S, P, r, c, seq)
    return st


@hot
def stands(S, P, r, c, seq):
    """Would `rule_hooks.standing` let rule r act (it applies, or the client leaves)?"""
    st = standing_of(S, P, r, c, seq)
    return st == X_APPLIES or st == X_LEAVES


@hot  # inlined into the multi hooks only: a call would pass S and P whole (the cost of every cold call)
def would_act(S, P, c, a, r, m, t, seq, moment):
    """Might rule r, were it on, act on arrangement a of client c here: change any state or
    take a draw? The gates of `rule_hooks.apply_rule` and of each primitive up to its first
    change, mirrored (a change to a primitive's conditions must be mirrored here;
    tests/test_multi_combination.py compares every subset with one pass each), standing
    included: a client exempt or approved under r is never acted on. Keyed draws only."""
    if S.status[a] != S_ACTIVE:
        return False
    g = domain_group(S, P, c, P.p_domain[S.product[a]], m)
    if not in_scope(S, P, r, a, g):
        return False
    prim = P.r_prim[r]
    if prim == PR_WEEKLY_CAP:  # weekly_cap: the in-scope total above the cap, then standing
        total = 0
        for b in range(S.arr_lo[c], S.arr_hi[c]):
            if S.status[b] == S_ACTIVE and in_scope(S, P, r, b, g):
                total += S.weekly_cents[b]
        cap = P.r_f[r, 0]
        if P.r_i[r, 0] == 0:
            cap = cap / P.price_index[t]
        return total > np.int64(np.floor(cap + 1e-9)) and stands(S, P, r, c, seq)
    if prim == PR_MAX_DURATION:  # max_duration: standing, then a phase, the maximum reached or passed
        st = standing_of(S, P, r, c, seq)
        if st == X_LEAVES:
            return True
        if st != X_APPLIES:
            return False
        since = np.int64(S.since[a])
        max_m = P.r_i[r, 0]
        phase = S.rule_a[a, r]
        if phase == 1 or phase == 2:
            return True
        if moment == MO_REINDICATION and m - since >= max_m:
            return True
        return np.int64(S.planned_end[a]) - since > max_m
    if prim == PR_REMOVE_TASK:
        return has_tasks(S, a, P.r_tasks[r]) and stands(S, P, r, c, seq)
    if prim == PR_SET_FREQUENCY:  # set_frequency: eligible (frequency, flags, cleaning norm), then standing
        if S.frequency[a] == P.r_i[r, 0] or (S.flags[c] & P.r_require[r]) != P.r_require[r]:
            return False
        if S.minutes[a, T_CLEANING] > P.r_f[r, 0]:
            return False
        return stands(S, P, r, c, seq)
    if prim == PR_REVIEW:  # review: the review month, the tasks, the share drawn, then standing
        if m != review_month(S, P, a, r, seq) or not has_tasks(S, a, P.r_tasks[r]):
            return False
        return draw(P.rng_mode, seq, P.keys, D_RULE_SHARE, S.aid[a], P.r_key[r]) < P.r_f[r, 0] and stands(S, P, r, c, seq)
    return True


@hot
def touch(S, P, c, a, r, m, t, w, seq, moment):
    """Rule r is off in this trajectory: record it in w[W_TOUCHED] if it would have acted."""
    bit = np.int64(1) << np.int64(r)
    if (w[W_TOUCHED] & bit) == 0 and would_act(S, P, c, a, r, m, t, seq, moment):
        w[W_TOUCHED] |= bit


@njit(cache=True, _nrt=False)
def rules_at_intake_multi(S, P, B, ch, c, a, m, t, w, seq):
    on = w[W_RULES]
    for r in range(P.r_prim.shape[0]):
        if rule_on(P, r, m, MO_INTAKE):
            if (on >> r) & 1:
                apply_rule(S, P, B, ch, c, a, r, m, t, w, seq, MO_INTAKE)
            else:
                touch(S, P, c, a, r, m, t, w, seq, MO_INTAKE)


@njit(cache=True, _nrt=False)
def rules_at_reindication_multi(S, P, B, ch, c, a, m, t, w, seq):
    on = w[W_RULES]
    for r in range(P.r_prim.shape[0]):
        if rule_on(P, r, m, MO_REINDICATION):
            if (on >> r) & 1:
                apply_rule(S, P, B, ch, c, a, r, m, t, w, seq, MO_REINDICATION)
            else:
                touch(S, P, c, a, r, m, t, w, seq, MO_REINDICATION)


@njit(cache=True, _nrt=False)
def rules_date_monthly_multi(S, P, B, ch, c, m, t, w, seq):
    on = w[W_RULES]
    for r in range(P.r_prim.shape[0]):
        rule_is_on = (on >> r) & 1
        if rule_on(P, r, m, MO_DATE) and m == P.r_date[r]:
            for a in range(S.arr_lo[c], S.arr_hi[c]):
                if rule_is_on:
                    apply_rule(S, P, B, ch, c, a, r, m, t, w, seq, MO_DATE)
                else:
                    touch(S, P, c, a, r, m, t, w, seq, MO_DATE)
        if rule_on(P, r, m, MO_MONTHLY):
            for a in range(S.arr_lo[c], S.arr_hi[c]):
                if S.status[a] == S_ACTIVE and P.r_prod[r, S.product[a]] != 0 and monthly_due(S, P, a, r, m, seq):
                    if rule_is_on:
                        apply_rule(S, P, B, ch, c, a, r, m, t, w, seq, MO_MONTHLY)
                    else:
                        touch(S, P, c, a, r, m, t, w, seq, MO_MONTHLY)
