"""The monthly kernel: every client's arrangements stepped month by month.

Scalar, readable code per client and slot, compiled with Numba (`engine.model.jit`); state
and parameters are record arrays (engine.model.layout), so a call between compiled functions
passes a few pointers and LLVM inlines what pays. The driver runs clients in parallel chunks;
each chunk adds into its own int64 bins, so totals are exact and independent of thread count
and order. The month is a step function driven by a loop (`run_client`), so a month-outer
driver can be added for what couples clients (capacity, waiting lists).

What makes it fast (outputs are bit-identical either way: tests/test_event_stepping.py):
- Keyed draws give waiting times (engine.model.rng.months_to_event): the month of each
  client exit is drawn at the start of its hazard spell (`plan_exits`), the month of each
  slot's goal when the slot becomes eligible (`goal_month`); with the planned ends, age bounds
  and rule months they give the next month in which anything can happen to the client
  (`next_event`), and the months in between are not stepped: nothing in them could change an
  output (the half-years and years that begin in them are counted as served by
  `served_skipped`). Sequential draws (the benchmark's counterfactual) step every month
  with one draw per decision; the draw mode is a run-time value, one compiled kernel.
- Costs are booked per segment: while nothing happens to a client its arrangements' cost is
  unchanged, so the usual month books nothing; a month in which anything may change closes
  the open segments and books their months in one loop each (`flush_segments`).
- Only changes are booked: stocks follow from flows, served counts from period openings.
- Bins are laid out [chunk, group, product, step, field, month]: a segment's months are
  neighbours in memory. Indices are unsigned (`U`) in the hottest loops: Numba emits
  negative-index wrap-around code for every signed index.

Rules act in engine.model.hooks at the moments intake, reindication, date and monthly; the
kernel checks the gates (`P.gates`) inline, so a hook is called only where a rule can act.
Several combinations of rules in one pass: engine.model.combinations.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba.core.errors import NumbaExperimentalFeatureWarning

from engine.core.domain import (
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
from engine.model.arrangement import (
    U,
    bit,
    domain_group,
    end_arrangement,
    weekly_base_cents,
    youth_band,
)
from engine.model.combinations import baseline_only, begin_client, end_trajectory, no_multi
from engine.model.hooks import date_monthly_due, next_dm_month, rules_at, rules_date_monthly
from engine.model.jit import jit, jit_call
from engine.model.layout import (
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
    GOAL_UNSET,
    H_DEATH,
    H_GOAL0,
    H_MOVED,
    H_WLZ,
    MO_INTAKE,
    MO_REINDICATION,
    SEG,
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
    work_size,
)
from engine.model.rng import (
    D_ADMIT,
    D_AGE18,
    D_DEATH,
    D_GOAL,
    D_MOVED,
    D_REIND,
    D_WLZ,
    MODE_KEYED,
    NEVER,
    draw,
    draw_ek,
    entity_key,
    months_from_log,
    uniform_from_entity_key,
)

Bins = namedtuple(
    "Bins",
    ["arr", "cli", "served_half", "served_year", "events", "affected", "trace_cost", "trace_step"],
)

_AGE18_M = 18 * 12


@jit
def update_bands(P, age_m, w):
    """The client's mortality and youth age bands at age `age_m` months (ages only grow:
    search up from the current bands), and the age at which either changes next."""
    R = P.run[0]
    k = w[W_MORT]
    while k + 1 < R.n_mort and age_m >= R.mort_from_m[k + 1]:
        k += 1
    w[W_MORT] = k
    b = youth_band(P, age_m, w[W_YOUTH])
    w[W_YOUTH] = b
    at = 1 << 62
    if k + 1 < R.n_mort:
        at = min(at, np.int64(np.ceil(R.mort_from_m[k + 1])))
    if b + 1 < R.n_youth:
        at = min(at, R.youth_bands_m[b + 1])
    w[W_BANDS_AT] = at


@jit
def book_start(S, P, B, ch, c, a, m, t):
    s = S.slots[a]
    g = domain_group(S, P, c, P.products[s.product].domain, m)
    B.arr[ch, g, s.product, s.step, A_STARTS, t] += 1


@jit
def activate(S, P, B, ch, c, a, m, t, w, seq):
    """Start a slot's first indication at month m (intake): the planned end is set now."""
    s = S.slots[a]
    s.status = S_ACTIVE
    s.start = m
    s.planned_end = m + P.products[s.product].ind
    s.ind_no = 1
    s.since = m
    s.weekly_cents = weekly_base_cents(S, P, a)
    if P.run[0].n_rules > 0 and bit(P.gates[t, s.product].intake, s.step):
        rules_at(S, P, B, ch, c, a, m, t, w, seq, MO_INTAKE)
    book_start(S, P, B, ch, c, a, m, t)


@jit
def count_active(S, P, c, w):
    """Which domains the client holds an active arrangement in (W_ACTIVE). Later months
    carry this over from the cost segments (`open_segments`) instead of passing over the
    slots again."""
    w[W_ACTIVE + WMO] = 0
    w[W_ACTIVE + JEUGD] = 0
    cl = S.clients[c]
    for a in range(cl.arr_lo, cl.arr_hi):
        if S.slots[a].status == S_ACTIVE:
            w[W_ACTIVE + P.products[S.slots[a].product].domain] = 1


@jit
def client_keys(S, P, c, hk, mode):
    """The month-independent halves of the client's draws (engine.model.rng.entity_key),
    hashed once when the client becomes active; keyed draws: every slot's goal month unset."""
    cl = S.clients[c]
    keys = P.run[0].keys
    hk[H_DEATH] = entity_key(keys[D_DEATH], cl.cid)
    hk[H_MOVED] = entity_key(keys[D_MOVED], cl.cid)
    hk[H_WLZ] = entity_key(keys[D_WLZ], cl.cid)
    for a in range(cl.arr_lo, cl.arr_hi):
        hk[H_GOAL0 + a - cl.arr_lo] = (
            GOAL_UNSET if mode == MODE_KEYED else entity_key(keys[D_GOAL], S.slots[a].aid)
        )


@jit
def exit_hazards(S, P, c, hg, w):
    """This month's hazards of death, moving away and transfer to the Wlz: mortality by age
    band, the others by the hazard group (Wmo group, or the youth band outside the Wmo)."""
    grp = P.groups[hg]
    R = P.run[0]
    wlz_h = grp.wlz
    if S.clients[c].flags & F_WLZ_CANDIDATE:
        wlz_h *= R.wlz_candidate_mult
    return R.mort_h[w[W_MORT]], grp.moved, wlz_h


@jit
def plan_exits(S, P, c, t, m, hg, w, hk):
    """Keyed draws: a new hazard spell starts in month t; each exit's month is drawn afresh
    from its waiting time, counter m (exact: waiting times are memoryless). The hazards'
    logs are precomputed (`*_lh`): the same hazards as `exit_hazards`."""
    grp = P.groups[hg]
    lh_wlz = grp.wlz_cand_lh if S.clients[c].flags & F_WLZ_CANDIDATE else grp.wlz_lh
    w[W_EXIT_T] = (
        t
        - 1
        + months_from_log(uniform_from_entity_key(hk[H_DEATH], m), P.run[0].mort_lh[w[W_MORT]])
    )
    w[W_EXIT_T + 1] = t - 1 + months_from_log(uniform_from_entity_key(hk[H_MOVED], m), grp.moved_lh)
    w[W_EXIT_T + 2] = t - 1 + months_from_log(uniform_from_entity_key(hk[H_WLZ], m), lh_wlz)


@jit
def hazard_key(S, P, c, in_wmo, g_youth, w):
    """What the exit hazards depend on: the mortality band and the hazard group."""
    hg = np.int64(S.clients[c].wmo_group) if in_wmo else np.int64(g_youth)
    return w[W_MORT] * 65536 + hg, hg


@jit
def goal_month(S, P, a, k, te, hk):
    """Keyed draws: the month a slot reaches its goal, drawn once when it first becomes
    eligible (month te: the month after its start, or for a slot of the stock the run's
    first month stepped): te - 1 + its waiting time, counter te."""
    e = U(H_GOAL0) + U(k)
    if hk[e] == GOAL_UNSET:
        s = S.slots[a]
        R = P.run[0]
        u = uniform_from_entity_key(entity_key(R.keys[D_GOAL], s.aid), R.start + te)
        hk[e] = U(te - 1 + months_from_log(u, P.products[s.product].goal_lh))
    return np.int64(hk[e])


@jit
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
    cl = S.clients[c]
    s0 = U(w[W_S0])
    for k in range(U(cl.arr_hi) - U(cl.arr_lo)):
        hk[s0 + U(SEG) * k] = U(0)
    seq[0] = cl.cid
    seq[1] = 0
    count_active(S, P, c, w)
    if cl.admitted == 1:
        client_keys(S, P, c, hk, mode)
        for a in range(cl.arr_lo, cl.arr_hi):
            if S.slots[a].status == S_ACTIVE:
                d = P.products[S.slots[a].product].domain
                w[W_PREV + d] = domain_group(S, P, c, d, P.run[0].start - 1)
        for d in range(2):
            if w[W_PREV + d] >= 0:
                B.cli[ch, d, w[W_PREV + d], 0, C_START] += 1  # later months: stocks_from_flows


@jit
def arrive(S, P, B, ch, c, t, m, w, seq):
    """0. A pool client's arrival month: admitted when u < admit_p[group, month]; its
    initial slots start their first indication and pass the intake rules."""
    cl = S.clients[c]
    R = P.run[0]
    u = draw(R.rng_mode, seq, R.keys, D_ADMIT, cl.cid, 0)
    admitted = u < P.admit_p[cl.pool_group, t]
    cl.admitted = 1 if admitted else 0
    if admitted:
        for a in range(cl.arr_lo, cl.arr_hi):
            if S.slots[a].kind == SLOT_INITIAL:
                activate(S, P, B, ch, c, a, m, t, w, seq)
    return admitted


@jit
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
        keys = P.run[0].keys
        u_death = draw_ek(mode, seq, keys, hk[H_DEATH], m)
        u_moved = draw_ek(mode, seq, keys, hk[H_MOVED], m)
        u_wlz = draw_ek(mode, seq, keys, hk[H_WLZ], m)
        if u_death < h_death:
            reason = R_DEATH
        elif u_moved < h_moved:
            reason = R_MOVED
        elif u_wlz < h_wlz:
            reason = R_WLZ
    return reason


@jit_call
def end_all(S, P, B, ch, c, m, t, reason, w):
    """All of the client's arrangements end (a client-level exit)."""
    cl = S.clients[c]
    for a in range(cl.arr_lo, cl.arr_hi):
        if S.slots[a].status == S_ACTIVE:
            end_arrangement(S, P, B, ch, c, a, m, t, reason, w)


@jit
def ends_at_18(P, s):
    """A youth arrangement (other than verlengde jeugdhulp) that ends when its client turns 18."""
    return (
        s.status == S_ACTIVE
        and P.products[s.product].domain == JEUGD
        and s.product != P.run[0].p_verlengd
    )


@jit_call
def turn_18(S, P, B, ch, c, m, t, w, seq):
    """2a. A youth client turning 18: youth arrangements end; one draw decides between
    end, verlengde jeugdhulp and a hand-over to the Wmo (reserved follow-up slots)."""
    cl = S.clients[c]
    lo = cl.arr_lo
    hi = cl.arr_hi
    had_youth = False
    for a in range(lo, hi):
        if ends_at_18(P, S.slots[a]):
            had_youth = True
    if had_youth:
        R = P.run[0]
        u = draw(R.rng_mode, seq, R.keys, D_AGE18, cl.cid, 0)
        outcome = 0
        while outcome < 2 and u >= R.age18_cum[outcome]:
            outcome += 1
        follow = -1
        for a in range(lo, hi):
            s = S.slots[a]
            if (
                follow < 0
                and s.status == S_PENDING
                and (
                    (outcome == 1 and s.kind == SLOT_VERLENGD)
                    or (outcome == 2 and s.kind == SLOT_HANDOVER)
                )
            ):
                follow = a
        why = R_TRANSFER_OUT if (outcome == 2 and follow >= 0) else R_AGE
        for a in range(lo, hi):
            if ends_at_18(P, S.slots[a]):
                end_arrangement(S, P, B, ch, c, a, m, t, why, w)
        if follow >= 0:
            activate(S, P, B, ch, c, follow, m, t, w, seq)


@jit
def reindicate(S, P, B, ch, c, a, m, t, g, w, seq):
    """3. At the planned end of an indication: continue, step down, step up or end, drawn
    with the indication number as counter (a measure that moves the month keeps the luck)."""
    s = S.slots[a]
    p = s.product
    pr = P.products[p]
    R = P.run[0]
    u = draw(R.rng_mode, seq, R.keys, D_REIND, s.aid, s.ind_no)
    B.arr[ch, g, p, s.step, A_REIND, t] += 1
    outcome = 0
    while outcome < 3 and u >= pr.reind_cum[outcome]:
        outcome += 1
    if outcome == 3:
        end_arrangement(S, P, B, ch, c, a, m, t, R_REIND_END, w)
    else:
        if pr.ho:
            if outcome == 1:
                s.minutes[0] = max(0, s.minutes[0] - R.ho_step_change)
            elif outcome == 2:
                s.minutes[0] = s.minutes[0] + R.ho_step_change
        elif outcome == 1 and s.step > 0:
            s.step -= 1
        elif outcome == 2 and s.step + 1 < pr.nsteps:
            s.step += 1
        s.ind_no += 1
        s.start = m
        s.planned_end = m + pr.ind
        s.weekly_cents = weekly_base_cents(S, P, a)
        if R.n_rules > 0 and bit(P.gates[t, p].reind, s.step):
            rules_at(S, P, B, ch, c, a, m, t, w, seq, MO_REINDICATION)


@jit
def slot_events(S, P, B, ch, c, m, t, lo, hi, age_m, g_wmo, g_youth, w, seq, hk, mode):
    """2b-3. Per arrangement: youth care ends at the last youth age bound, goal reached
    (keyed draws: in its goal month, `goal_month`), and at the planned end of an indication,
    reindication. Returns whether anything happened."""
    acted = False
    R = P.run[0]
    for a in range(lo, hi):
        s = S.slots[a]
        if s.status != S_ACTIVE or s.start == m:
            continue  # ended, pending, or started this month
        pr = P.products[s.product]
        youth = pr.domain == JEUGD
        if youth and age_m >= R.youth_end_m:
            end_arrangement(S, P, B, ch, c, np.int64(a), m, t, R_AGE, w)
            acted = True
            continue
        if mode == MODE_KEYED:
            goal = t >= goal_month(S, P, a, a - lo, t, hk)
        else:
            goal = draw_ek(mode, seq, R.keys, hk[U(H_GOAL0) + a - lo], m) < pr.goal
        if goal:
            end_arrangement(S, P, B, ch, c, np.int64(a), m, t, R_GOAL, w)
            acted = True
            continue
        if s.planned_end <= m:
            reindicate(S, P, B, ch, c, np.int64(a), m, t, g_youth if youth else g_wmo, w, seq)
            acted = True
    return acted


@jit
def plan_slots(S, P, t, lo, hi, birth, w, hk, seq):
    """Keyed draws, after a month t in which anything happened: the first later month in
    which one of the client's slots has an event: its goal month, its planned end, youth
    care's last age bound (`slot_events`), or a date or monthly rule that acts on it
    (`hooks.next_dm_month`)."""
    R = P.run[0]
    nxt = np.int64(NEVER)
    for a in range(lo, hi):
        s = S.slots[a]
        if s.status != S_ACTIVE:
            continue
        ev = min(goal_month(S, P, a, a - lo, t + 1, hk), np.int64(s.planned_end) - R.start)
        if P.products[s.product].domain == JEUGD:
            ev = min(ev, birth + R.youth_end_m - R.start)
        ev = max(t + 1, ev)
        if R.n_rules > 0:
            ev = next_dm_month(S, P, np.int64(a), t + 1, ev, seq)
        nxt = min(nxt, ev)
    w[W_SLOT_NEXT] = nxt


@jit
def next_event(S, P, c, t, birth, g_youth, w):
    """Keyed draws: the next month after t in which anything can happen to the client: a
    slot event, an exit, a new age band, turning 18, a month with a date or monthly rule, or
    a new hazard spell (the Wmo arrangements ended or began, so next month's hazard group
    differs). Nothing in the months before it could change an output, so they are not
    stepped; the half-years and years that begin in them are counted by `served_skipped`."""
    R = P.run[0]
    nxt = min(w[W_SLOT_NEXT], w[W_EXIT_T], w[W_EXIT_T + 1], w[W_EXIT_T + 2])
    nxt = min(nxt, birth + w[W_BANDS_AT] - R.start)
    t18 = birth + _AGE18_M - R.start
    if t18 > t:
        nxt = min(nxt, t18)
    nxt = min(nxt, P.months[U(t + 1)].step_all)
    key, hg = hazard_key(S, P, c, w[W_ACTIVE + WMO] != 0, g_youth, w)
    if key != w[W_HKEY]:
        nxt = t + 1
    w[W_NEXT] = max(t + 1, nxt)


@jit
def book_flows(S, P, B, ch, c, m, t, active_d0, active_d1, g_wmo, g_youth, w):
    """5b. The client's flows per domain and group, and clients served per half-year and
    year (counted in the group of their first active month in the period). Stocks follow
    from the opening stock and the flows (`stocks_from_flows`): nothing to book for a client
    who stays."""
    start = P.run[0].start
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
        hm = U(start % 6) + U(t)
        # a client who stays was counted for this half-year and year in an earlier month,
        # unless the month opens a new half-year or the run
        if prev != now or t == 0 or hm % U(6) == U(0):
            h = np.int64(hm // U(6))
            if w[W_HALF + d] != h:
                w[W_HALF + d] = h
                B.served_half[U(ch), U(h), U(d), U(now)] += 1
            y = np.int64((U(start % 12) + U(t)) // U(12))
            if w[W_YEAR + d] != y:
                w[W_YEAR + d] = y
                B.served_year[U(ch), U(y), U(d), U(now)] += 1


@jit
def served_skipped(P, B, ch, t, w):
    """Keyed draws: the half-years and years that began in the months skipped since the last
    month stepped (w[W_LAST] + 1 .. t - 1). The client stayed in its groups throughout, so
    it is counted as served in them, as `book_flows` would have counted it in their first
    month."""
    tp = w[W_LAST]
    if t - tp < 2:
        return
    start = P.run[0].start
    for d in range(2):
        g = w[W_PREV + d]
        if g < 0:
            continue
        h_hi = (start % 6 + t - 1) // 6  # the half-year of month t - 1
        for h in range(max((start % 6 + tp) // 6 + 1, w[W_HALF + d] + 1), h_hi + 1):
            B.served_half[U(ch), U(h), U(d), U(g)] += 1
            w[W_HALF + d] = h
        y_hi = (start % 12 + t - 1) // 12
        for y in range(max((start % 12 + tp) // 12 + 1, w[W_YEAR + d] + 1), y_hi + 1):
            B.served_year[U(ch), U(y), U(d), U(g)] += 1
            w[W_YEAR + d] = y


@jit
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
        s = S.slots[a]
        if s.status == S_ACTIVE:
            pr = P.products[s.product]
            g = g_wmo
            if pr.domain == WMO:
                d0 = 1
            else:
                d1 = 1
                g = g_youth
            if ocs < 0 and pr.own:
                ocs = np.int64(k)
            hk[e] = U(t + 1)
            hk[e + U(1)] = U(g)
            hk[e + U(2)] = U(s.step)
            hk[e + U(3)] = U(np.int64(s.weekly_cents))
        else:
            hk[e] = U(0)
    w[W_ACTIVE + WMO] = d0
    w[W_ACTIVE + JEUGD] = d1
    w[W_OCSLOT] = ocs


@jit
def flush_segments(S, P, B, ch, t1, lo, hi, w, hk):
    """5b. Book the open cost segments' months, t0 .. t1 - 1, and close them: per month the
    weekly amount x price index x days / 7 (`P.months[t].scale`), rounded once to cents; the
    own contribution (the month's amount, at most the gross) on the paying slot; in a
    multi-combination pass the totals per budget year (w[W_YEAR_TOT:]). The months lie side
    by side in the bins, so the usual segment is one tight loop over neighbouring cells."""
    s0 = U(w[W_S0])
    ocs = w[W_OCSLOT]
    uch = U(ch)
    R = P.run[0]
    months = P.months
    arr = B.arr
    slow = R.trace or w[W_YEARS] != 0
    for k in range(hi - lo):
        e = s0 + U(SEG) * k
        t0 = np.int64(hk[e]) - 1
        if t0 < 0:
            continue
        hk[e] = U(0)
        a = lo + k
        up = U(S.slots[a].product)
        ug = hk[e + U(1)]
        us = hk[e + U(2)]
        wc = np.float64(np.int64(hk[e + U(3)]))
        for t in range(t0, t1):
            gross = np.int64(np.floor(wc * months[U(t)].scale + 0.5))
            arr[uch, ug, up, us, A_ACTIVE, U(t)] += 1
            arr[uch, ug, up, us, A_GROSS, U(t)] += gross
        own = np.int64(k) == ocs
        if own:
            for t in range(t0, t1):
                gross = np.int64(np.floor(wc * months[U(t)].scale + 0.5))
                oc_left = months[U(t)].oc_cents
                if oc_left > 0:
                    arr[uch, ug, up, us, A_OC, U(t)] += min(oc_left, gross)
        if slow:
            for t in range(t0, t1):
                ut = U(t)
                gross = np.int64(np.floor(wc * months[ut].scale + 0.5))
                if R.trace:
                    B.trace_cost[a, ut] = gross
                    B.trace_step[a, ut] = us
                if w[W_YEARS]:
                    y2 = U(W_YEAR_TOT) + U(2) * ((U(R.start % 12) + ut) // U(12))
                    w[y2] += gross
                    oc_left = months[ut].oc_cents
                    if own and oc_left > 0:
                        w[y2 + U(1)] += min(oc_left, gross)


@jit
def step_month(S, P, B, ch, c, t, w, seq, hk, mode, lo, hi, birth):
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
    m = P.run[0].start + t
    if mode == MODE_KEYED:
        served_skipped(P, B, ch, t, w)
        w[W_LAST] = t
    w[W_REASON] = 0
    w[W_REASON + 1] = 0
    dirty = w[W_DIRTY] != 0  # anything that may change an arrangement or group sets it
    if S.clients[c].admitted == -1:
        if not arrive(S, P, B, ch, c, t, m, w, seq):
            return False
        count_active(S, P, c, w)
        client_keys(S, P, c, hk, mode)
        dirty = True
    if w[W_ACTIVE + WMO] == 0 and w[W_ACTIVE + JEUGD] == 0:
        return False
    in_wmo = w[W_ACTIVE + WMO] != 0
    age_m = m - birth
    g_wmo = np.int64(S.clients[c].wmo_group)
    if age_m >= w[W_BANDS_AT]:
        update_bands(P, age_m, w)
        dirty = True
    g_youth = P.run[0].youth_groups[w[W_YOUTH]]
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
        if (mode != MODE_KEYED or t >= w[W_SLOT_NEXT]) and slot_events(
            S, P, B, ch, c, m, t, lo, hi, age_m, g_wmo, g_youth, w, seq, hk, mode
        ):
            dirty = True
        if P.months[t].dm_on and date_monthly_due(S, P, t, m, lo, hi, mode, seq):
            rules_date_monthly(S, P, B, ch, c, m, t, w, seq)
            dirty = True
    # 5. cost accrual: nothing to do while the client's segments stay open
    if dirty:
        flush_segments(S, P, B, ch, t, lo, hi, w, hk)
        open_segments(S, P, t, lo, hi, g_wmo, g_youth, w, hk)
        w[W_DIRTY] = 0
        if mode == MODE_KEYED:
            plan_slots(S, P, t, lo, hi, birth, w, hk, seq)
    active_d0 = w[W_ACTIVE + WMO] != 0
    active_d1 = w[W_ACTIVE + JEUGD] != 0
    # a client who stays in the same domains and groups has nothing to book, unless the month
    # opens a half-year or the run (clients served are counted once per period)
    now0 = g_wmo if active_d0 else -1
    now1 = g_youth if active_d1 else -1
    if (
        now0 != w[W_PREV + WMO]
        or now1 != w[W_PREV + JEUGD]
        or t == 0
        or (U(P.run[0].start % 6) + U(t)) % U(6) == U(0)
    ):
        book_flows(S, P, B, ch, c, m, t, active_d0, active_d1, g_wmo, g_youth, w)
    if mode == MODE_KEYED:
        next_event(S, P, c, t, birth, g_youth, w)
    return active_d0 or active_d1


@jit
def run_client(S, P, B, ch, c, w, seq, hk, mode):
    """Step client c from its first month on, booking into chunk ch's bins: every month with
    sequential draws, with keyed draws only the months in which something can happen."""
    init_client(S, P, B, ch, c, w, seq, hk, mode)
    cl = S.clients[c]
    T = P.run[0].T
    t0 = 0
    if cl.admitted == -1:
        t0 = max(0, np.int64(cl.arrival) - P.run[0].start)
    lo = U(cl.arr_lo)  # fixed for the run: loaded once, not every month
    hi = U(cl.arr_hi)
    birth = np.int64(cl.birth)
    t1 = T
    t = t0
    w[W_LAST] = t0 - 1
    while t < T:
        if not step_month(S, P, B, ch, c, t, w, seq, hk, mode, lo, hi, birth):
            t1 = t
            break  # the client left (its outflow is booked) or was never admitted
        t = w[W_NEXT] if mode == MODE_KEYED else t + 1
    if t1 == T and mode == MODE_KEYED:
        served_skipped(
            P, B, ch, T, w
        )  # still here at the end: the periods since the last month stepped
    flush_segments(S, P, B, ch, t1, lo, hi, w, hk)


@jit_call
def run_chunk(S, P, B, ch, n_chunks, w, seq, hk, M, init):
    """Step clients ch, ch + n_chunks, ... through the run (`run_client`), booking into
    chunk ch's bins. Striding spreads stock clients and late arrivals evenly over the chunks.

    With combinations (M.combos, keyed draws only: engine.model.combinations) each client is
    stepped once per trajectory the memo cannot reuse, from its initial state (`init`), under
    that combination's rules; otherwise once, every rule on."""
    mode = P.run[0].rng_mode
    multi = mode == MODE_KEYED and M.combos.shape[0] > 0
    w[W_RULES] = -1  # every rule on
    w[W_TOUCHED] = 0
    w[W_YEARS] = 1 if multi else 0
    for c in range(ch, S.clients.shape[0], n_chunks):
        if multi:
            begin_client(B.affected, M, ch, w)
        k = 0
        while k >= 0:
            run_client(S, P, B, ch, c, w, seq, hk, mode)
            if not multi:
                k = -1
            elif k == 0 and w[W_TOUCHED] == 0:
                baseline_only(
                    B.affected, M, ch, w
                )  # the usual client: one trajectory for every combination
                k = -1
            else:
                k = end_trajectory(S, B.affected, M, init, ch, c, w, k)


def run_kernel(
    S, P, B, n_chunks, multi=None, init=None, every_month=False, on_compile=None
) -> float:
    """Step every client through the run (`run_client`): chunks of clients on
    `numba.get_num_threads()` threads, each chunk into its own bins. `every_month`: with keyed
    draws, step every month of every client instead of only the months in which something
    can happen (the same outputs, slower: tests/test_event_stepping.py proves it). Plain
    threads over compiled nogil code rather than a Numba parfor, which would compile the
    kernel a second time. `multi`, `init`: a multi-combination pass
    (engine.model.combinations; keyed draws) and a copy of the state before it.
    `on_compile()` is called before compiling, when the kernel is neither compiled nor
    cached for these argument types. Returns the seconds spent compiling or loading it."""
    run = P.run[0]
    slots = S.clients["arr_hi"].astype(np.int64) - S.clients["arr_lo"]
    max_slots = int(slots.max()) if slots.size else 0
    n_years = (int(run["start"]) + int(run["T"]) - 1) // 12 - int(run["start"]) // 12 + 1
    work = np.zeros((n_chunks, work_size(n_years)), dtype=np.int64)
    seqs = np.zeros((n_chunks, 8), dtype=np.uint64)
    s0 = H_GOAL0 + max_slots  # after the draw keys and goal months: the open cost segments
    hks = np.zeros((n_chunks, (s0 + SEG * max_slots + 7) // 8 * 8), dtype=np.uint64)
    work[:, W_S0] = s0
    if every_month:
        months = P.months.copy()
        months["step_all"] = np.arange(months.shape[0])
        P = P._replace(months=months)
    if multi is None:
        multi, init = no_multi(S, n_chunks)
    elif int(run["rng_mode"]) != MODE_KEYED or multi.traj_y.shape[2] != n_years:
        raise ValueError(
            "a multi-combination pass needs keyed draws and one year total per budget year"
        )

    def chunk(ch):
        run_chunk(S, P, B, ch, n_chunks, work[ch], seqs[ch], hks[ch], multi, init)

    t0 = time.perf_counter()
    compile_kernel(
        S, P, B, n_chunks, work[0], seqs[0], hks[0], multi, init, on_compile
    )  # in this thread, before the pool
    compile_s = time.perf_counter() - t0
    n_threads = max(1, min(numba.get_num_threads(), n_chunks))
    if n_threads == 1:
        for ch in range(n_chunks):
            chunk(ch)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(chunk, range(n_chunks)))
    stocks_from_flows(B.cli)
    return compile_s


def kernel_signature(*args) -> tuple:
    """The Numba types of `run_chunk`'s arguments."""
    return tuple(numba.typeof(x) for x in args)


def is_compiled(*args) -> bool:
    """Is `run_chunk` compiled (or loaded from the cache) for these argument types?"""
    return kernel_signature(*args) in run_chunk.overloads


def compile_kernel(S, P, B, n_chunks, w, seq, hk, multi, init, on_compile=None) -> None:
    """Compile `run_chunk` for these argument types, or load it from the cache.
    `on_compile()` is called (from a timer thread) when this takes longer than loading from
    the cache does, so a user is told a compile is running. The rule hooks dispatch over a
    tuple of compiled functions (engine.model.hooks), which Numba types with a feature it
    still calls experimental: its warning says nothing to a user."""
    args = (S, P, B, 0, n_chunks, w, seq, hk, multi, init)
    if is_compiled(*args):
        return
    timer = threading.Timer(COMPILE_NOTICE_S, on_compile) if on_compile is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                category=NumbaExperimentalFeatureWarning,
                message="First-class function type",
            )
            run_chunk.compile(kernel_signature(*args))
    finally:
        if timer is not None:
            timer.cancel()


COMPILE_NOTICE_S = 1.5  # loading the kernel from the cache takes a fraction of this


def stocks_from_flows(cli: np.ndarray) -> None:
    """Stocks per chunk, domain and group from the opening stock and the flows:
    active_end = active_start + inflow - outflow, and a month starts with the stock the
    month before ended with. The identity holds client by client, so this is exact."""
    flows = cli[..., C_IN_NEW] + cli[..., C_IN_TRANSFER] - cli[..., C_OUT0 + 1 :].sum(axis=-1)
    end = cli[..., :1, C_START] + np.cumsum(flows, axis=-1)
    cli[..., C_END] = end
    cli[..., 1:, C_START] = end[..., :-1]


@jit_call
def weekly_base_cents_all(S, P):
    """Weekly amounts of the arrangements active at the start (the stock's indications)."""
    for a in range(S.slots.shape[0]):
        if S.slots[a].status == S_ACTIVE:
            S.slots[a].weekly_cents = weekly_base_cents(S, P, a)
