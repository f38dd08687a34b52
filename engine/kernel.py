"""The monthly kernel: every client's arrangements stepped month by month (DESIGN section 3).

Scalar, readable code per client and arrangement, compiled with Numba; state is flat typed
arrays (engine.state), policy is month-indexed arrays (engine.compile). The driver runs
clients in parallel chunks; each chunk adds into its own int64 bins, so totals are exact
and independent of thread count and order. Written as a per-month step driven by a loop,
so a month-outer driver can be added for what couples clients (capacity, waiting lists).

Performance notes (README, Performance; outputs are bit-identical, tests/test_golden.py).
- `_nrt=False`: no reference counting in the hot loop (with it, every helper call that
  takes the state tuples increfs each array, which cost 20x). Nothing is allocated: work
  arrays come from the driver.
- A call to a separate compiled function passes the state, parameter and bin tuples whole:
  Numba flattens them into about 700 stack pushes, so a call costs more than a usual month.
  Everything a baseline month can reach is inlined (`hot`): arrival, intake, goal,
  reindication and ends (a profile showed 59% of kernel time in those pushes when they were
  separate). Only client-level exits (`end_all`), turning 18 and the rule hooks are calls.
- Indices are unsigned (`U`) in the hot paths: Numba emits negative-index wrap-around code
  for every signed index. Codes are validated when the state is built.
- Keyed draws give waiting times (engine.rng.months_to_event): the month of each client
  exit is drawn at the start of its hazard spell (`plan_exits`), the month of each slot's
  goal when the slot becomes eligible (`goal_month`); with the planned ends, age bounds and
  rule months they give the next month in which anything can happen to the client
  (`next_event`), and the months in between are not stepped at all: nothing in them could
  change an output (the half-years and years that begin in them are counted as served by
  `served_skipped`). Sequential draws (the benchmark's counterfactual) step
  every month with one draw per decision. The two are compiled specialisations.
- Costs are booked per segment: while nothing happens to a client its arrangements' cost
  is unchanged, so the usual month books nothing; a month in which anything may change
  (arrival, a band, an exit, turning 18, a slot event, a date or monthly rule) closes the
  open segments and books their months in one loop each (`flush_segments`).
- Only changes are booked: stocks follow from flows, served counts from period openings.
- Bins are laid out [chunk, group, product, step, field, month]: a segment's months are
  neighbours in memory.

Rules act in `engine.rule_hooks` at the moments intake, reindication, date and monthly.

Several combinations of rules in one pass (engine.multi, keyed draws): the same compiled
keyed kernel steps each client once per trajectory the memo cannot reuse (one inline site
of the month loop, so the kernel is compiled once for both uses); an ordinary pass has no
combinations and every rule on.
"""

from __future__ import annotations

from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit

from engine.arrangement import (
    A_ACTIVE,
    A_GROSS,
    A_OC,
    A_REIND,
    A_STARTS,
    C_END,
    C_IN_NEW,
    C_IN_TRANSFER,
    C_OUT0,
    C_START,
    W_ACTIVE,
    W_BANDS_AT,
    W_DIRTY,
    W_EXIT_T,
    W_HALF,
    W_HKEY,
    W_LAST,
    W_MORT,
    W_NEXT,
    W_OCSLOT,
    W_PREV,
    W_REASON,
    W_RULES,
    W_S0,
    W_SLOT_NEXT,
    W_TOUCHED,
    W_YEAR,
    W_YEAR_TOT,
    W_YEARS,
    W_YOUTH,
    cold,
    domain_group,
    end_arrangement,
    hot,
    weekly_base_cents,
    work_size,
    youth_band,
)
from engine.domain import (
    F_WLZ_CANDIDATE,
    JEUGD,
    R_AGE,
    R_DEATH,
    R_GOAL,
    R_MOVED,
    R_REIND_END,
    R_TRANSFER_OUT,
    R_WLZ,
    S_ACTIVE,
    S_PENDING,
    SLOT_HANDOVER,
    SLOT_INITIAL,
    SLOT_VERLENGD,
    WMO,
)
from engine.multi import (
    baseline_only,
    begin_client,
    end_trajectory,
    no_multi,
    rules_at_intake_multi,
    rules_at_reindication_multi,
    rules_date_monthly_multi,
)
from engine.rng import (
    D_ADMIT,
    D_AGE18,
    D_DEATH,
    D_GOAL,
    D_MOVED,
    D_REIND,
    D_WLZ,
    MODE_KEYED,
    MODE_SEQUENTIAL,
    NEVER,
    draw,
    draw_ek,
    entity_key,
    months_from_log,
    uniform_from_entity_key,
)
from engine.rule_hooks import (
    MO_DATE,
    MO_MONTHLY,
    PR_REVIEW,
    review_month,
    rule_on,
    rules_at_intake,
    rules_at_reindication,
    rules_date_monthly,
)

# per-chunk key array of the client being stepped: the hoisted draw keys
# (engine.rng.entity_key) of its three exit decisions, then per slot the goal decision's key
# (sequential draws) or the slot's goal month (keyed draws; GOAL_UNSET until the slot is
# eligible); from w[W_S0] the open cost segment of each slot (first month + 1, or 0 if none;
# group; step; weekly cents)
H_DEATH, H_MOVED, H_WLZ, H_GOAL0 = 0, 1, 2, 3
SEG = 4  # key-array entries per slot's cost segment
GOAL_UNSET = np.uint64(1 << 63)

Bins = namedtuple("Bins", ["arr", "cli", "served_half", "served_year", "events", "affected", "trace_cost", "trace_step"])

_AGE18_M = 18 * 12

U = np.uint64  # unsigned index: no negative-index wrap-around code


@hot
def update_bands(P, age_m, w):
    """The client's mortality and youth age bands at age `age_m` months (ages only grow:
    search up from the current bands), and the age at which either changes next."""
    k = w[W_MORT]
    while k + 1 < P.mort_from_m.shape[0] and age_m >= P.mort_from_m[k + 1]:
        k += 1
    w[W_MORT] = k
    b = youth_band(P, age_m, w[W_YOUTH])
    w[W_YOUTH] = b
    at = 1 << 62
    if k + 1 < P.mort_from_m.shape[0]:
        at = min(at, np.int64(np.ceil(P.mort_from_m[k + 1])))
    if b + 1 < P.youth_groups.shape[0]:
        at = min(at, P.youth_bands_m[b + 1])
    w[W_BANDS_AT] = at


@hot
def book_start(S, P, B, ch, c, a, m, t):
    g = domain_group(S, P, c, P.p_domain[S.product[a]], m)
    B.arr[ch, g, S.product[a], S.step[a], A_STARTS, t] += 1


@hot
def activate(S, P, B, ch, c, a, m, t, w, seq):
    """Start a slot's first indication at month m (intake): the planned end is set now."""
    S.status[a] = S_ACTIVE
    S.start[a] = m
    S.planned_end[a] = m + P.p_ind[S.product[a]]
    S.ind_no[a] = 1
    S.since[a] = m
    S.weekly_cents[a] = weekly_base_cents(S, P, a)
    if P.r_prim.shape[0] > 0 and P.hook_on[0, t, S.product[a], S.step[a]]:
        # one argument type at every site: each distinct signature compiles the hooks again
        if w[W_RULES] == -1:
            rules_at_intake(S, P, B, ch, c, np.int64(a), m, t, w, seq)
        else:
            rules_at_intake_multi(S, P, B, ch, c, np.int64(a), m, t, w, seq)
    book_start(S, P, B, ch, c, a, m, t)


@hot
def count_active(S, P, c, w):
    """Which domains the client holds an active arrangement in (W_ACTIVE). Later months
    carry this over from the cost segments (`open_segments`) instead of passing over the
    slots again."""
    w[W_ACTIVE + WMO] = 0
    w[W_ACTIVE + JEUGD] = 0
    for a in range(S.arr_lo[c], S.arr_hi[c]):
        if S.status[a] == S_ACTIVE:
            w[W_ACTIVE + P.p_domain[S.product[a]]] = 1


@hot
def client_keys(S, P, c, hk, mode):
    """The month-independent halves of the client's draws (engine.rng.entity_key), hashed
    once when the client becomes active; keyed draws: every slot's goal month still unset."""
    lo = S.arr_lo[c]
    hk[H_DEATH] = entity_key(P.keys[D_DEATH], S.cid[c])
    hk[H_MOVED] = entity_key(P.keys[D_MOVED], S.cid[c])
    hk[H_WLZ] = entity_key(P.keys[D_WLZ], S.cid[c])
    for a in range(lo, S.arr_hi[c]):
        hk[H_GOAL0 + a - lo] = GOAL_UNSET if mode == MODE_KEYED else entity_key(P.keys[D_GOAL], S.aid[a])


@hot
def exit_hazards(S, P, c, hg, w):
    """This month's hazards of death, moving away and transfer to the Wlz: mortality by age
    band, the others by the hazard group (Wmo group, or the youth band outside the Wmo)."""
    wlz_h = P.g_wlz[hg]
    if S.flags[U(c)] & F_WLZ_CANDIDATE:
        wlz_h *= P.wlz_candidate_mult
    return P.mort_h[U(w[W_MORT])], P.g_moved[hg], wlz_h


@hot
def plan_exits(S, P, c, t, m, hg, w, hk):
    """Keyed draws: a new hazard spell starts in month t; each exit's month is drawn afresh
    from its waiting time, counter m (exact: waiting times are memoryless). The hazards'
    logs are precomputed (Params *_lh): the same hazards as `exit_hazards`."""
    lh_wlz = P.g_wlz_cand_lh[hg] if S.flags[U(c)] & F_WLZ_CANDIDATE else P.g_wlz_lh[hg]
    w[W_EXIT_T] = t - 1 + months_from_log(uniform_from_entity_key(hk[H_DEATH], m), P.mort_lh[U(w[W_MORT])])
    w[W_EXIT_T + 1] = t - 1 + months_from_log(uniform_from_entity_key(hk[H_MOVED], m), P.g_moved_lh[hg])
    w[W_EXIT_T + 2] = t - 1 + months_from_log(uniform_from_entity_key(hk[H_WLZ], m), lh_wlz)


@hot
def hazard_key(S, P, c, in_wmo, g_youth, w):
    """What the exit hazards depend on: the mortality band and the hazard group."""
    hg = np.int64(S.wmo_group[U(c)]) if in_wmo else np.int64(g_youth)
    return w[W_MORT] * 65536 + hg, hg


@hot
def goal_month(S, P, a, k, te, hk):
    """Keyed draws: the month a slot reaches its goal, drawn once when it first becomes
    eligible (month te: the month after its start, or for a slot of the stock the run's
    first month stepped): te - 1 + its waiting time, counter te."""
    e = U(H_GOAL0) + U(k)
    if hk[e] == GOAL_UNSET:
        u = uniform_from_entity_key(entity_key(P.keys[D_GOAL], S.aid[a]), P.start + te)
        hk[e] = U(te - 1 + months_from_log(u, P.p_goal_lh[U(S.product[a])]))
    return np.int64(hk[e])


@hot
def init_client(S, P, B, ch, c, w, seq, hk, mode):
    """Per-client work state before its first month; a stock client's keys and its place
    in the opening stock per domain."""
    for d in range(2):
        w[W_PREV + d] = -1
        w[W_HALF + d] = -1
        w[W_YEAR + d] = -1
    w[W_MORT] = 0
    w[W_YOUTH] = 0
    w[W_BANDS_AT] = -(1 << 62)
    w[W_HKEY] = -1  # keyed draws: exits drawn in the first month stepped
    w[W_SLOT_NEXT] = 0  # every slot looked at in the first month stepped
    w[W_DIRTY] = 1  # open the cost segments in the first month stepped
    s0 = U(w[W_S0])
    for k in range(U(S.arr_hi[c]) - U(S.arr_lo[c])):
        hk[s0 + U(SEG) * k] = U(0)
    seq[0] = S.cid[c]
    seq[1] = 0
    count_active(S, P, c, w)
    if S.admitted[c] == 1:
        client_keys(S, P, c, hk, mode)
        for a in range(S.arr_lo[c], S.arr_hi[c]):
            if S.status[a] == S_ACTIVE:
                d = P.p_domain[S.product[a]]
                w[W_PREV + d] = domain_group(S, P, c, d, P.start - 1)
        for d in range(2):
            if w[W_PREV + d] >= 0:
                B.cli[ch, d, w[W_PREV + d], 0, C_START] += 1  # later months: stocks_from_flows


@hot
def arrive(S, P, B, ch, c, t, m, w, seq):
    """0. A pool client's arrival month: admitted when u < admit_p[group, month]; its
    initial slots start their first indication and pass the intake rules."""
    u = draw(P.rng_mode, seq, P.keys, D_ADMIT, S.cid[c], 0)
    admitted = u < P.admit_p[S.pool_group[c], t]
    S.admitted[c] = 1 if admitted else 0
    if admitted:
        for a in range(S.arr_lo[c], S.arr_hi[c]):
            if S.kind[a] == SLOT_INITIAL:
                activate(S, P, B, ch, c, a, m, t, w, seq)
    return admitted


@hot
def client_exit(S, P, c, t, m, in_wmo, g_youth, w, seq, hk, mode):
    """1. Death, moving away, transfer to the Wlz, checked in that order (exempt or not).
    Returns the end reason or 0. Keyed draws: the exit months drawn for the hazard spell
    (`plan_exits`), drawn again when the spell changes; sequential draws: one draw each per
    client-month."""
    key, hg = hazard_key(S, P, c, in_wmo, g_youth, w)
    reason = 0
    if mode == MODE_KEYED:
        if key != w[W_HKEY]:
            plan_exits(S, P, c, t, m, hg, w, hk)
            w[W_HKEY] = key
        if t >= w[W_EXIT_T]:
            reason = R_DEATH
        elif t >= w[W_EXIT_T + 1]:
            reason = R_MOVED
        elif t >= w[W_EXIT_T + 2]:
            reason = R_WLZ
    else:
        h_death, h_moved, h_wlz = exit_hazards(S, P, c, hg, w)
        u_death = draw_ek(mode, seq, P.keys, hk[H_DEATH], m)
        u_moved = draw_ek(mode, seq, P.keys, hk[H_MOVED], m)
        u_wlz = draw_ek(mode, seq, P.keys, hk[H_WLZ], m)
        if u_death < h_death:
            reason = R_DEATH
        elif u_moved < h_moved:
            reason = R_MOVED
        elif u_wlz < h_wlz:
            reason = R_WLZ
    return reason


@cold
def end_all(S, P, B, ch, c, m, t, reason, w):
    """All of the client's arrangements end (a client-level exit)."""
    for a in range(S.arr_lo[c], S.arr_hi[c]):
        if S.status[a] == S_ACTIVE:
            end_arrangement(S, P, B, ch, c, a, m, t, reason, w)


@cold
def turn_18(S, P, B, ch, c, m, t, w, seq):
    """2a. A youth client turning 18: youth arrangements end; one draw decides between
    end, verlengde jeugdhulp and a hand-over to the Wmo (reserved follow-up slots)."""
    lo = S.arr_lo[c]
    hi = S.arr_hi[c]
    had_youth = False
    for a in range(lo, hi):
        if S.status[a] == S_ACTIVE and P.p_domain[S.product[a]] == JEUGD and S.product[a] != P.p_verlengd:
            had_youth = True
    if had_youth:
        u = draw(P.rng_mode, seq, P.keys, D_AGE18, S.cid[c], 0)
        outcome = 0
        while outcome < 2 and u >= P.age18_cum[outcome]:
            outcome += 1
        follow = -1
        for a in range(lo, hi):
            if follow < 0 and S.status[a] == S_PENDING and (
                (outcome == 1 and S.kind[a] == SLOT_VERLENGD) or (outcome == 2 and S.kind[a] == SLOT_HANDOVER)
            ):
                follow = a
        why = R_TRANSFER_OUT if (outcome == 2 and follow >= 0) else R_AGE
        for a in range(lo, hi):
            if S.status[a] == S_ACTIVE and P.p_domain[S.product[a]] == JEUGD and S.product[a] != P.p_verlengd:
                end_arrangement(S, P, B, ch, c, a, m, t, why, w)
        if follow >= 0:
            activate(S, P, B, ch, c, follow, m, t, w, seq)


@hot
def reindicate(S, P, B, ch, c, a, m, t, g, w, seq):
    """3. At the planned end of an indication: continue, step down, step up or end, drawn
    with the indication number as counter (a measure that moves the month keeps the luck)."""
    p = S.product[a]
    u = draw(P.rng_mode, seq, P.keys, D_REIND, S.aid[a], S.ind_no[a])
    B.arr[ch, g, p, S.step[a], A_REIND, t] += 1
    outcome = 0
    while outcome < 3 and u >= P.p_reind_cum[p, outcome]:
        outcome += 1
    if outcome == 3:
        end_arrangement(S, P, B, ch, c, a, m, t, R_REIND_END, w)
    else:
        if P.p_ho[p]:
            if outcome == 1:
                S.minutes[a, 0] = max(0, S.minutes[a, 0] - P.ho_step_change)
            elif outcome == 2:
                S.minutes[a, 0] = S.minutes[a, 0] + P.ho_step_change
        elif outcome == 1 and S.step[a] > 0:
            S.step[a] -= 1
        elif outcome == 2 and S.step[a] + 1 < P.p_nsteps[p]:
            S.step[a] += 1
        S.ind_no[a] += 1
        S.start[a] = m
        S.planned_end[a] = m + P.p_ind[p]
        S.weekly_cents[a] = weekly_base_cents(S, P, a)
        if P.r_prim.shape[0] > 0 and P.hook_on[1, t, p, S.step[a]]:
            if w[W_RULES] == -1:
                rules_at_reindication(S, P, B, ch, c, a, m, t, w, seq)
            else:
                rules_at_reindication_multi(S, P, B, ch, c, a, m, t, w, seq)


@hot
def slot_events(S, P, B, ch, c, m, t, lo, hi, age_m, g_wmo, g_youth, w, seq, hk, mode):
    """2b-3. Per arrangement: youth care ends at the last youth age bound, goal reached
    (keyed draws: in its goal month, `goal_month`), and at the planned end of an indication,
    reindication. Returns whether anything happened."""
    acted = False
    for a in range(lo, hi):
        if S.status[a] != S_ACTIVE or S.start[a] == m:
            continue  # ended, pending, or started this month
        p = U(S.product[a])
        youth = P.p_domain[p] == JEUGD
        if youth and age_m >= P.youth_end_m:
            end_arrangement(S, P, B, ch, c, np.int64(a), m, t, R_AGE, w)
            acted = True
            continue
        if mode == MODE_KEYED:
            goal = t >= goal_month(S, P, a, a - lo, t, hk)
        else:
            goal = draw_ek(mode, seq, P.keys, hk[U(H_GOAL0) + a - lo], m) < P.p_goal[p]
        if goal:
            end_arrangement(S, P, B, ch, c, np.int64(a), m, t, R_GOAL, w)
            acted = True
            continue
        if S.planned_end[a] <= m:
            reindicate(S, P, B, ch, c, np.int64(a), m, t, g_youth if youth else g_wmo, w, seq)
            acted = True
    return acted


@hot
def plan_slots(S, P, t, lo, hi, birth, w, hk):
    """Keyed draws, after a month t in which anything happened: the first later month in
    which one of the client's slots has an event (`slot_events`): its goal month, its
    planned end, or youth care's last age bound."""
    nxt = np.int64(NEVER)
    for a in range(lo, hi):
        if S.status[a] != S_ACTIVE:
            continue
        p = U(S.product[a])
        ev = min(goal_month(S, P, a, a - lo, t + 1, hk), np.int64(S.planned_end[a]) - P.start)
        if P.p_domain[p] == JEUGD:
            ev = min(ev, birth + P.youth_end_m - P.start)
        nxt = min(nxt, max(t + 1, ev))
    w[W_SLOT_NEXT] = nxt


@hot
def next_event(S, P, c, t, birth, g_youth, w, next_dm):
    """Keyed draws: the next month after t in which anything can happen to the client: a
    slot event, an exit, a new age band, turning 18, a month with a date or monthly rule, or
    a new hazard spell (the Wmo arrangements ended or began, so next month's hazard group
    differs). Nothing in the months before it could change an output, so they are not
    stepped; the half-years and years that begin in them are counted by `served_skipped`."""
    nxt = min(w[W_SLOT_NEXT], w[W_EXIT_T], w[W_EXIT_T + 1], w[W_EXIT_T + 2])
    nxt = min(nxt, birth + w[W_BANDS_AT] - P.start)
    t18 = birth + _AGE18_M - P.start
    if t18 > t:
        nxt = min(nxt, t18)
    nxt = min(nxt, next_dm[U(t + 1)])
    key, hg = hazard_key(S, P, c, w[W_ACTIVE + WMO] != 0, g_youth, w)
    if key != w[W_HKEY]:
        nxt = t + 1
    w[W_NEXT] = max(t + 1, nxt)


@hot
def dm_in_scope(S, P, t, m, lo, hi, mode, seq):
    """Will a date or monthly rule in force act on one of the client's arrangements this
    month? Without one the hook would do nothing and draw nothing: no call. With keyed
    draws (no side effects) a review's month is looked up here too, so the hook is called
    only in the month the provider reviews."""
    for a in range(lo, hi):
        if S.status[a] != S_ACTIVE:
            continue
        p = U(S.product[a])
        if not P.dm_prod[U(t), p]:
            continue
        if mode != MODE_KEYED:
            return True
        for r in range(P.r_prim.shape[0]):
            if P.r_prod[U(r), p] == 0:
                continue
            if rule_on(P, r, m, MO_DATE) and m == P.r_date[U(r)]:
                return True
            if rule_on(P, r, m, MO_MONTHLY) and (P.r_prim[U(r)] != PR_REVIEW or m == review_month(S, P, np.int64(a), r, seq)):
                return True
    return False


@hot
def book_flows(S, P, B, ch, c, m, t, active_d0, active_d1, g_wmo, g_youth, w):
    """5b. The client's flows per domain and group, and clients served per half-year and
    year (counted in the group of their first active month in the period). Stocks follow
    from the opening stock and the flows (`stocks_from_flows`): nothing to book for a client
    who stays."""
    for d in range(2):
        now = -1
        if d == WMO and active_d0:
            now = g_wmo
        elif d == JEUGD and active_d1:
            now = g_youth
        prev = w[W_PREV + d]
        if prev != now:
            if prev >= 0:
                r = w[W_REASON + d] if now < 0 else R_AGE
                if r == 0:
                    r = R_AGE
                B.cli[U(ch), U(d), U(prev), U(t), U(C_OUT0 + r)] += 1
            if now >= 0:
                if prev >= 0 or w[W_PREV + 1 - d] >= 0:
                    B.cli[U(ch), U(d), U(now), U(t), C_IN_TRANSFER] += 1
                else:
                    B.cli[U(ch), U(d), U(now), U(t), C_IN_NEW] += 1
            w[W_PREV + d] = now
        if now < 0:
            continue
        # half-year h = m // 6 - half0, counted from the run's first half-year (m may be < 0)
        hm = U(P.start % 6) + U(t)
        # a client who stays was counted for this half-year and year in an earlier month,
        # unless the month opens a new half-year or the run
        if prev != now or t == 0 or hm % U(6) == U(0):
            h = np.int64(hm // U(6))
            if w[W_HALF + d] != h:
                w[W_HALF + d] = h
                B.served_half[U(ch), U(h), U(d), U(now)] += 1
            y = np.int64((U(P.start % 12) + U(t)) // U(12))
            if w[W_YEAR + d] != y:
                w[W_YEAR + d] = y
                B.served_year[U(ch), U(y), U(d), U(now)] += 1


@hot
def served_skipped(P, B, ch, t, w):
    """Keyed draws: the half-years and years that began in the months skipped since the last
    month stepped (w[W_LAST] + 1 .. t - 1). The client stayed in its groups throughout, so
    it is counted as served in them, as `book_flows` would have counted it in their first
    month."""
    tp = w[W_LAST]
    if t - tp < 2:
        return
    for d in range(2):
        g = w[W_PREV + d]
        if g < 0:
            continue
        h_hi = (P.start % 6 + t - 1) // 6  # the half-year of month t - 1
        for h in range(max((P.start % 6 + tp) // 6 + 1, w[W_HALF + d] + 1), h_hi + 1):
            B.served_half[U(ch), U(h), U(d), U(g)] += 1
            w[W_HALF + d] = h
        y_hi = (P.start % 12 + t - 1) // 12
        for y in range(max((P.start % 12 + tp) // 12 + 1, w[W_YEAR + d] + 1), y_hi + 1):
            B.served_year[U(ch), U(y), U(d), U(g)] += 1
            w[W_YEAR + d] = y


@hot
def open_segments(S, P, t, lo, hi, g_wmo, g_youth, w, hk):
    """5a. A cost segment per active slot from month t: what its months will cost as long as
    nothing happens to the client (group, step, weekly cents), which domains the client is
    active in (W_ACTIVE), and the slot that pays the own contribution: the first active one
    whose product carries it."""
    s0 = U(w[W_S0])
    d0 = 0
    d1 = 0
    ocs = -1
    for a in range(lo, hi):
        k = a - lo
        e = s0 + U(SEG) * k
        if S.status[a] == S_ACTIVE:
            p = U(S.product[a])
            g = g_wmo
            if P.p_domain[p] == WMO:
                d0 = 1
            else:
                d1 = 1
                g = g_youth
            if ocs < 0 and P.p_own[p]:
                ocs = np.int64(k)
            hk[e] = U(t + 1)
            hk[e + U(1)] = U(g)
            hk[e + U(2)] = U(S.step[a])
            hk[e + U(3)] = U(np.int64(S.weekly_cents[a]))
        else:
            hk[e] = U(0)
    w[W_ACTIVE + WMO] = d0
    w[W_ACTIVE + JEUGD] = d1
    w[W_OCSLOT] = ocs


@hot
def flush_segments(S, P, B, ch, t1, lo, hi, w, hk, month_scale):
    """5b. Book the open cost segments' months, t0 .. t1 - 1, and close them: per month the
    weekly amount x price index x days / 7, rounded once to cents; the own contribution
    (the month's amount, at most the gross) on the paying slot; in a multi-combination pass
    the totals per budget year (w[W_YEAR_TOT:]). The months lie side by side in the bins, so
    the usual segment is one tight loop over neighbouring cells."""
    s0 = U(w[W_S0])
    ocs = w[W_OCSLOT]
    uch = U(ch)
    slow = P.trace or w[W_YEARS] != 0
    for k in range(hi - lo):
        e = s0 + U(SEG) * k
        t0 = np.int64(hk[e]) - 1
        if t0 < 0:
            continue
        hk[e] = U(0)
        a = lo + k
        up = U(S.product[a])
        ug = hk[e + U(1)]
        us = hk[e + U(2)]
        wc = np.float64(np.int64(hk[e + U(3)]))
        for t in range(t0, t1):
            gross = np.int64(np.floor(wc * month_scale[U(t)] + 0.5))
            B.arr[uch, ug, up, us, A_ACTIVE, U(t)] += 1
            B.arr[uch, ug, up, us, A_GROSS, U(t)] += gross
        own = np.int64(k) == ocs
        if own:
            for t in range(t0, t1):
                gross = np.int64(np.floor(wc * month_scale[U(t)] + 0.5))
                oc_left = P.oc_cents[U(t)]
                if oc_left > 0:
                    B.arr[uch, ug, up, us, A_OC, U(t)] += min(oc_left, gross)
        if slow:
            for t in range(t0, t1):
                ut = U(t)
                gross = np.int64(np.floor(wc * month_scale[ut] + 0.5))
                if P.trace:
                    B.trace_cost[a, ut] = gross
                    B.trace_step[a, ut] = us
                if w[W_YEARS]:
                    y2 = U(W_YEAR_TOT) + U(2) * ((U(P.start % 12) + ut) // U(12))
                    w[y2] += gross
                    oc_left = P.oc_cents[ut]
                    if own and oc_left > 0:
                        w[y2 + U(1)] += min(oc_left, gross)


@hot
def step_month(S, P, B, ch, c, t, w, seq, hk, month_scale, next_dm, mode, lo, hi, birth):
    """One client, one month m = start + t. In this order:

    0. arrival: a pool client is admitted in its arrival month when its keyed draw
       `u < admit_p[group, month]`; its first indications pass the intake rules;
    1. client-level exits: death, moving away, Wlz (all of the client's arrangements end);
    2. per arrangement: youth turning 18 (end, verlengde jeugdhulp or hand-over to a Wmo
       follow-up slot; youth care ends at the last youth age bound), goal reached;
    3. at the planned end of an indication, reindication: continue, step down, step up or
       end; rules of the moment `reindication` act here;
    4. rules of the moment `date`, then `monthly`;
    5. cost accrual: weekly amount x price index x days / 7, rounded once to cents; the own
       contribution once per client-month on its first contributing arrangement (in a
       multi-combination pass also summed per budget year, w[W_YEAR_TOT:]); then the
       client's stock and flows per domain and group. Costs are booked per segment of months
       in which nothing happened to the client (`open_segments`, `flush_segments`): a month
       in which anything may have changed closes the open segments and opens new ones.

    Keyed draws: the month steps only months in which something can happen (exits and
    goals are waiting times drawn ahead); it ends by setting w[W_NEXT], the next such month.
    Returns False when the client has left for good (no later month can change anything).
    """
    m = P.start + t
    uc = U(c)  # unsigned indices: no negative-index checks in the hot loop
    if mode == MODE_KEYED:
        served_skipped(P, B, ch, t, w)
        w[W_LAST] = t
    w[W_REASON] = 0
    w[W_REASON + 1] = 0
    dirty = w[W_DIRTY] != 0  # anything that may change an arrangement or group sets it
    if S.admitted[uc] == -1:
        if not arrive(S, P, B, ch, c, t, m, w, seq):
            return False
        count_active(S, P, c, w)
        client_keys(S, P, c, hk, mode)
        dirty = True
    if w[W_ACTIVE + WMO] == 0 and w[W_ACTIVE + JEUGD] == 0:
        return False
    in_wmo = w[W_ACTIVE + WMO] != 0
    age_m = m - birth
    g_wmo = np.int64(S.wmo_group[uc])
    if age_m >= w[W_BANDS_AT]:
        update_bands(P, age_m, w)
        dirty = True
    g_youth = P.youth_groups[U(w[W_YOUTH])]
    reason = client_exit(S, P, c, t, m, in_wmo, g_youth, w, seq, hk, mode)
    if reason != 0:
        end_all(S, P, B, ch, c, m, t, reason, w)
        dirty = True
    else:
        if age_m == _AGE18_M:
            turn_18(S, P, B, ch, c, m, t, w, seq)
            dirty = True
        # keyed draws: only in a month in which a slot has an event (`plan_slots`); with
        # sequential draws every slot draws every month
        if (mode != MODE_KEYED or t >= w[W_SLOT_NEXT]) and slot_events(S, P, B, ch, c, m, t, lo, hi, age_m, g_wmo, g_youth, w, seq, hk, mode):
            dirty = True  # one inline site: the kernel compiles its events once
        if P.dm_on[U(t)] and dm_in_scope(S, P, t, m, lo, hi, mode, seq):
            if w[W_RULES] == -1:
                rules_date_monthly(S, P, B, ch, c, m, t, w, seq)
            else:
                rules_date_monthly_multi(S, P, B, ch, c, m, t, w, seq)
            dirty = True
    # 5. cost accrual: nothing to do while the client's segments stay open
    if dirty:
        flush_segments(S, P, B, ch, t, lo, hi, w, hk, month_scale)
        open_segments(S, P, t, lo, hi, g_wmo, g_youth, w, hk)
        w[W_DIRTY] = 0
        if mode == MODE_KEYED:
            plan_slots(S, P, t, lo, hi, birth, w, hk)
    active_d0 = w[W_ACTIVE + WMO] != 0
    active_d1 = w[W_ACTIVE + JEUGD] != 0
    # a client who stays in the same domains and groups has nothing to book, unless the month
    # opens a half-year or the run (clients served are counted once per period)
    now0 = g_wmo if active_d0 else -1
    now1 = g_youth if active_d1 else -1
    if now0 != w[W_PREV + WMO] or now1 != w[W_PREV + JEUGD] or t == 0 or (U(P.start % 6) + U(t)) % U(6) == U(0):
        book_flows(S, P, B, ch, c, m, t, active_d0, active_d1, g_wmo, g_youth, w)
    if mode == MODE_KEYED:
        next_event(S, P, c, t, birth, g_youth, w, next_dm)
    return active_d0 or active_d1


@hot
def run_client(S, P, B, ch, c, w, seq, hk, month_scale, next_dm, mode):
    """Step client c from its first month on, booking into chunk ch's bins: every month with
    sequential draws, with keyed draws only the months in which something can happen."""
    init_client(S, P, B, ch, c, w, seq, hk, mode)
    t0 = 0
    if S.admitted[c] == -1:
        t0 = max(0, np.int64(S.arrival[c]) - P.start)
    lo = U(S.arr_lo[c])  # fixed for the run: loaded once, not every month
    hi = U(S.arr_hi[c])
    birth = np.int64(S.birth[c])
    t1 = P.T
    t = t0
    w[W_LAST] = t0 - 1
    while t < P.T:
        if not step_month(S, P, B, ch, c, t, w, seq, hk, month_scale, next_dm, mode, lo, hi, birth):
            t1 = t
            break  # the client left (its outflow is booked) or was never admitted
        t = w[W_NEXT] if mode == MODE_KEYED else t + 1
    if t1 == P.T and mode == MODE_KEYED:
        served_skipped(P, B, ch, P.T, w)  # still here at the end: the periods since the last month stepped
    flush_segments(S, P, B, ch, t1, lo, hi, w, hk, month_scale)


@hot
def run_clients(S, P, B, ch, n_chunks, w, seq, hk, month_scale, next_dm, mode, M, init):
    """Step clients ch, ch + n_chunks, ... through the run (engine.kernel.run_client), booking into chunk ch's
    bins. Striding spreads stock clients and late arrivals evenly over the chunks.

    With combinations (M.combos, keyed draws only: engine.multi) each client is stepped
    once per trajectory the memo cannot reuse, from its initial state (`init`), under that
    combination's rules; otherwise once, every rule on."""
    multi = mode == MODE_KEYED and M.combos.shape[0] > 0
    w[W_RULES] = -1  # every rule on
    w[W_TOUCHED] = 0
    w[W_YEARS] = 1 if multi else 0
    for c in range(ch, S.cid.shape[0], n_chunks):
        if multi:
            begin_client(B.affected, M, ch, w)
        k = 0
        while k >= 0:
            run_client(S, P, B, ch, c, w, seq, hk, month_scale, next_dm, mode)
            if not multi:
                k = -1
            elif k == 0 and w[W_TOUCHED] == 0:
                baseline_only(B.affected, M, ch, w)  # the usual client: one trajectory for every combination
                k = -1
            else:
                k = end_trajectory(S, B.affected, M, init, ch, c, w, k)


# `run_clients` compiled once per draw mode, the mode a constant: the keyed kernel carries
# no sequential-stream code in its hot loop (about 7% faster). nogil: run_kernel runs chunks
# on threads.
@njit(cache=True, nogil=True, _nrt=False)
def run_chunk_keyed(S, P, B, ch, n_chunks, w, seq, hk, month_scale, next_dm, M, init):
    run_clients(S, P, B, ch, n_chunks, w, seq, hk, month_scale, next_dm, MODE_KEYED, M, init)


@njit(cache=True, nogil=True, _nrt=False)
def run_chunk_sequential(S, P, B, ch, n_chunks, w, seq, hk, month_scale, next_dm, M, init):
    run_clients(S, P, B, ch, n_chunks, w, seq, hk, month_scale, next_dm, MODE_SEQUENTIAL, M, init)


def run_kernel(S, P, B, n_chunks, multi=None, init=None, every_month=False):
    """Step every client through the run (`run_client`): chunks of clients on `numba.get_num_threads()`
    threads, each chunk into its own bins. `every_month`: with keyed draws, step every month
    of every client instead of only the months in which something can happen (the same
    outputs, slower: tests/test_event_stepping.py proves it). Plain threads over compiled nogil code rather
    than a Numba parfor, which would compile the whole kernel a second time (~40 s).
    `multi`, `init`: a multi-combination pass (engine.multi; keyed draws) and a copy of the
    state before it."""
    slots = S.arr_hi.astype(np.int64) - S.arr_lo
    max_slots = int(slots.max()) if slots.size else 0
    n_years = (int(P.start) + int(P.T) - 1) // 12 - int(P.start) // 12 + 1
    work = np.zeros((n_chunks, work_size(n_years)), dtype=np.int64)
    seqs = np.zeros((n_chunks, 8), dtype=np.uint64)
    s0 = H_GOAL0 + max_slots  # after the draw keys and goal months: the open cost segments
    hks = np.zeros((n_chunks, (s0 + SEG * max_slots + 7) // 8 * 8), dtype=np.uint64)
    work[:, W_S0] = s0
    month_scale = P.price_index * P.days / 7.0  # float64, as the scalar expression
    next_dm = np.arange(P.T + 1, dtype=np.int64) if every_month else next_rule_month(P.dm_on)
    run_chunk = run_chunk_keyed if P.rng_mode == MODE_KEYED else run_chunk_sequential
    if multi is None:
        multi, init = no_multi(S, n_chunks)
    elif P.rng_mode != MODE_KEYED or multi.traj_y.shape[2] != n_years:
        raise ValueError("a multi-combination pass needs keyed draws and one year total per budget year")

    def chunk(ch):
        run_chunk(S, P, B, ch, n_chunks, work[ch], seqs[ch], hks[ch], month_scale, next_dm, multi, init)

    n_threads = max(1, min(numba.get_num_threads(), n_chunks))
    if n_threads == 1:
        for ch in range(n_chunks):
            chunk(ch)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(chunk, range(n_chunks)))
    stocks_from_flows(B.cli)
    return 0


def next_rule_month(dm_on: np.ndarray) -> np.ndarray:
    """next[t]: the first month t' >= t with a date or monthly rule in force (T if none);
    one entry more, so next[T] = T."""
    T = dm_on.shape[0]
    out = np.full(T + 1, T, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        out[t] = t if dm_on[t] else out[t + 1]
    return out


def stocks_from_flows(cli: np.ndarray) -> None:
    """Stocks per chunk, domain and group from the opening stock and the flows:
    active_end = active_start + inflow - outflow, and a month starts with the stock the
    month before ended with. The identity holds client by client, so this is exact."""
    flows = cli[..., C_IN_NEW] + cli[..., C_IN_TRANSFER] - cli[..., C_OUT0 + 1 :].sum(axis=-1)
    end = cli[..., :1, C_START] + np.cumsum(flows, axis=-1)
    cli[..., C_END] = end
    cli[..., 1:, C_START] = end[..., :-1]


@njit(cache=True, _nrt=False)
def weekly_base_cents_all(S, P):
    """Weekly amounts of the arrangements active at the start (the stock's indications)."""
    for a in range(S.aid.shape[0]):
        if S.status[a] == S_ACTIVE:
            S.weekly_cents[a] = weekly_base_cents(S, P, a)
