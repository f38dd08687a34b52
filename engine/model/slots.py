"""What happens to a client's arrangement slots: arrival and intake, the goal reached,
reindication, turning 18 (steps 0, 2 and 3 of the month), and the next month a slot has an
event (keyed draws: the months in between are not stepped)."""

from __future__ import annotations

import numpy as np

from engine.core.domain import (
    JEUGD,
    R_AGE,
    R_GOAL,
    R_REIND_END,
    R_RULE_END,
    R_TRANSFER_OUT,
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
)
from engine.model.frame import frame, frame_sp, unframe
from engine.model.hooks import (
    admit,
    goal_factor_now,
    goal_wait,
    may_act,
    next_dm_month,
    reind_outcome,
    rules_at,
)
from engine.model.jit import jit, jit_call, jit_once
from engine.model.layout import (
    A_REIND,
    A_STARTS,
    AFF_ENDED,
    AFF_REDUCED,
    EV_ENDED,
    EV_NOT_ADMITTED,
    EV_STEPPED_DOWN,
    GOAL_UNSET,
    H_DEATH,
    H_GOAL0,
    H_MOVED,
    H_WLZ,
    MO_INTAKE,
    MO_REINDICATION,
    W_ACTIVE,
    W_QUEUE,
    W_SLOT_NEXT,
)
from engine.model.places import request_place
from engine.model.primitives.common import book_event, mark_affected
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
def goal_month(S, P, a, k, te, hk, w, seq):
    """Keyed draws: the month a slot reaches its goal, drawn once when it first becomes
    eligible (month te: the month after its start, or for a slot of the stock the run's
    first month stepped): te - 1 + its waiting time, counter te; under rules that change the
    goal hazard, per spell (engine.model.hooks.goal_wait)."""
    e = U(H_GOAL0) + U(k)
    if hk[e] == GOAL_UNSET:
        s = S.slots[a]
        R = P.run[0]
        if P.products[s.product].goal_rules != 0:  # else no rule changes its goal hazard
            hk[e] = U(goal_wait(frame_sp(S, P, w, seq), np.int64(s.owner), np.int64(a), te))
        else:
            u = uniform_from_entity_key(entity_key(R.keys[D_GOAL], s.aid), R.start + te)
            hk[e] = U(te - 1 + months_from_log(u, P.products[s.product].goal_lh))
    return np.int64(hk[e])


@jit
def book_start(S, P, B, ch, c, a, m, t):
    s = S.slots[a]
    g = domain_group(S, P, c, P.products[s.product].domain, m)
    B.arr[ch, g, s.product, s.step, A_STARTS, t] += 1


@jit
def activate(S, P, B, ch, c, a, m, t, w, seq):
    """Start a slot's first indication at month m (intake): the planned end is set now. In
    the month-outer driver a capacity-bound slot asks for a place first (`request_place`):
    without one it waits and its interim arrangement starts instead."""
    if w[W_QUEUE] != 0 and P.cap.bound[S.slots[a].product] != 0:
        a = request_place(S, c, a, m, w)
    s = S.slots[a]
    s.status = S_ACTIVE
    s.start = m
    s.planned_end = m + P.products[s.product].ind
    s.ind_no = 1
    s.since = m
    s.weekly_cents = weekly_base_cents(S, P, a)
    if P.run[0].n_rules > 0 and may_act(S, P, c, a, t, MO_INTAKE):
        rules_at(frame(S, P, B, w, seq), ch, c, a, m, t, MO_INTAKE)
    book_start(S, P, B, ch, c, a, m, t)


@jit_once
def arrive(S, P, B, ch, c, t, m, w, seq):
    """0. A pool client's arrival month: admitted when u < admit_p[group, month]; its
    initial slots start their first indication and pass the intake rules."""
    cl = S.clients[c]
    R = P.run[0]
    u = draw(R.rng_mode, seq, R.keys, D_ADMIT, cl.cid, 0)
    p = P.admit_p[cl.pool_group, t]
    if R.admit_rules != 0:
        admitted, rr = admit(frame_sp(S, P, w, seq), c, m, u, p)
        if rr >= 0:
            book_not_admitted(frame(S, P, B, w, seq), ch, c, rr, m, t)
    else:
        admitted = u < p
    cl.admitted = 1 if admitted else 0
    if admitted:
        for a in range(cl.arr_lo, cl.arr_hi):
            if S.slots[a].kind == SLOT_INITIAL:
                activate(S, P, B, ch, c, a, m, t, w, seq)
    return admitted


@jit_call
def book_not_admitted(F, ch, c, r, m, t):
    """Rule r turned away an arrival the baseline admits: one event per first arrangement."""
    S, P, _, _, B = unframe(F)
    cl = S.clients[c]
    for a in range(cl.arr_lo, cl.arr_hi):
        s = S.slots[a]
        if s.kind == SLOT_INITIAL:
            g = domain_group(S, P, c, P.products[s.product].domain, m)
            book_event(P, B, ch, r, EV_NOT_ADMITTED, g, s.product, t, 0, 0)


@jit
def ends_at_18(P, s):
    """A youth arrangement (other than verlengde jeugdhulp) that ends when its client turns 18."""
    return (
        s.status == S_ACTIVE
        and P.products[s.product].domain == JEUGD
        and s.product != P.run[0].p_verlengd
    )


@jit_call
def turn_18(F, ch, c, m, t):
    """2a. A youth client turning 18: youth arrangements end; one draw decides between
    end, verlengde jeugdhulp and a hand-over to the Wmo (reserved follow-up slots)."""
    S, P, w, seq, B = unframe(F)
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
            activate(S, P, B, ch, c, np.int64(follow), m, t, w, seq)


# care an outcome gives, to compare a rule's outcome with the baseline's: end < step down <
# continue < step up (outcomes in the order continue, step down, step up, end)
CARE_RANK = (2, 1, 3, 0)


@jit
def outcome_of(u, c0, c1, c2):
    """The reindication outcome of uniform u under cumulative probabilities (continue, step
    down, step up): 0 continue, 1 step down, 2 step up, 3 end."""
    if u < c0:
        return 0
    if u < c1:
        return 1
    if u < c2:
        return 2
    return 3


@jit_once
def reindicate(S, P, B, ch, c, a, m, t, g, w, seq):
    """3. At the planned end of an indication: continue, step down, step up or end, drawn
    with the indication number as counter (a measure that moves the month keeps the luck)."""
    s = S.slots[a]
    p = s.product
    pr = P.products[p]
    R = P.run[0]
    u = draw(R.rng_mode, seq, R.keys, D_REIND, s.aid, s.ind_no)
    B.arr[ch, g, p, s.step, A_REIND, t] += 1
    c0 = pr.reind_cum[0]
    c1 = pr.reind_cum[1]
    c2 = pr.reind_cum[2]
    outcome = outcome_of(u, c0, c1, c2)
    base = outcome
    rr = -1
    if R.n_rules > 0 and bit(P.gates[t, p].pre, s.step):
        outcome, rr = reind_outcome(frame_sp(S, P, w, seq), c, a, m, g, u, c0, c1, c2)
    old = np.int64(s.weekly_cents)
    if outcome == 3:
        end_arrangement(S, P, B, ch, c, a, m, t, R_RULE_END if base != 3 else R_REIND_END, w)
        if base != 3:
            book_event(P, B, ch, rr, EV_ENDED, g, p, t, old, 0)
            mark_affected(S, P, B, ch, c, rr, g, AFF_ENDED)
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
        if CARE_RANK[outcome] < CARE_RANK[base]:  # the rule gave less care than the draw would
            book_event(P, B, ch, rr, EV_STEPPED_DOWN, g, p, t, old - s.weekly_cents, 0)
            mark_affected(S, P, B, ch, c, rr, g, AFF_REDUCED)
        if R.n_rules > 0 and may_act(S, P, c, a, t, MO_REINDICATION):
            rules_at(frame(S, P, B, w, seq), ch, c, a, m, t, MO_REINDICATION)


@jit_once
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
            goal = t >= goal_month(S, P, a, a - lo, t, hk, w, seq)
        else:
            h = pr.goal
            if pr.goal_rules != 0:
                h = h * goal_factor_now(frame_sp(S, P, w, seq), c, np.int64(a), m)
            goal = draw_ek(mode, seq, R.keys, hk[U(H_GOAL0) + a - lo], m) < h
        if goal:
            end_arrangement(S, P, B, ch, c, np.int64(a), m, t, R_GOAL, w)
            acted = True
            continue
        if s.planned_end <= m:
            p = s.product
            reindicate(S, P, B, ch, c, np.int64(a), m, t, g_youth if youth else g_wmo, w, seq)
            if s.product != p and mode == MODE_KEYED:
                hk[U(H_GOAL0) + a - lo] = GOAL_UNSET  # another product: a new goal spell
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
        ev = min(goal_month(S, P, a, a - lo, t + 1, hk, w, seq), np.int64(s.planned_end) - R.start)
        if P.products[s.product].domain == JEUGD:
            ev = min(ev, birth + R.youth_end_m - R.start)
        ev = max(t + 1, ev)
        if R.n_rules > 0:
            ev = next_dm_month(S, P, np.int64(a), t + 1, ev, seq)
        nxt = min(nxt, ev)
    w[W_SLOT_NEXT] = nxt
