"""Where rules act in the kernel: the moments intake, reindication, date and monthly.

Every active rule is a row of `P.rules` (with its scope in `P.rule_prod`; engine.model.params
builds both). At a moment the kernel calls the hook below, which loops over the rules in
scenario order and hands each in-scope slot to its primitive (`apply_rule` dispatches over
the registry, engine.model.primitives). The kernel checks the gates `P.gates` inline first,
so a hook is called only where some rule's scope can touch the slot.

Three hook points act where the kernel draws rather than at a moment, each gated so that a
run without such rules pays one test: `reind_outcome` (the reindication outcome,
adjusted where the kernel draws it: engine.model.slots.reindicate), `goal_wait` and
`goal_factor_now` (the goal hazard, where its waiting time is drawn: slots.goal_month) and
`admit` (the admission probability of an inflow pool client: slots.arrive).

In a multi-combination pass (engine.model.combinations) `w[W_RULES]` holds the rules on in
this trajectory; a rule that is off is asked instead whether it would have acted (`touch`).
An ordinary pass has every rule on (`w[W_RULES] == -1`, every bit set). At the three hook
points a rule that is off is marked touched wherever it would have changed the probability
or the hazard the kernel draws with (given the rules that are on): exact or conservative.
"""

import numpy as np
from numba import literal_unroll

from engine.core.domain import S_ACTIVE, SLOT_INITIAL
from engine.model.arrangement import bit, domain_group
from engine.model.frame import unframe
from engine.model.jit import jit, jit_call
from engine.model.layout import (
    MO_DATE,
    MO_INTAKE,
    MO_MONTHLY,
    MO_REINDICATION,
    NO_END,
    W_RULES,
    W_TOUCHED,
)
from engine.model.portable_math import log1p
from engine.model.primitives import (
    ACTS,
    ADMIT,
    DM_DUE,
    DUE,
    GOAL,
    NEXT_DUE,
    PRE,
    SEGMENT,
    WOULD_ACT,
)
from engine.model.primitives.common import applies, in_scope, product_in_scope, rule_on, would_apply
from engine.model.rng import (
    D_GOAL,
    MODE_KEYED,
    NEVER,
    entity_key,
    months_from_log,
    uniform_from_entity_key,
)


@jit
def touches(S, P, c, a, r, m):
    """Is slot a active and in rule r's scope (its product, step, client group, district)?"""
    s = S.slots[a]
    if s.status != S_ACTIVE:
        return False
    return in_scope(S, P, r, a, domain_group(S, P, c, P.products[s.product].domain, m))


@jit
def slot_group(S, P, c, a, m):
    """The client's group at month m in the domain of slot a's product."""
    return domain_group(S, P, c, P.products[S.slots[a].product].domain, m)


@jit
def apply_rule(F, ch, c, a, r, m, t, moment):
    """Rule r on slot a of client c at month m, at `moment`: its primitive's `act`, if the
    slot is active and in the rule's scope. F: the pinned (S, P, w, seq, B)
    (engine.model.frame)."""
    S, P, _, _, _ = unframe(F)
    if touches(S, P, c, a, r, m):
        act_rule(F, ch, c, a, r, m, t, slot_group(S, P, c, a, m), moment)


@jit_call
def act_rule(F, ch, c, a, r, m, t, g, moment):
    """Rule r's primitive's `act` on slot a, active and in the rule's scope (the caller has
    asked: `touches`), its client in group g."""
    S, P, w, seq, B = unframe(F)
    _act(P.rules[r].prim, S, P, B, ch, c, a, r, m, t, g, w, seq, moment)


@jit
def _act(prim, S, P, B, ch, c, a, r, m, t, g, w, seq, moment):
    """The `act` of primitive `prim` (a loop unrolled over the registry: one direct call)."""
    for code_act in literal_unroll(ACTS):
        if code_act[0] == prim:
            code_act[1](S, P, B, ch, c, a, r, m, t, g, w, seq, moment)


@jit_call
def would_act(F, c, a, r, m, t, moment):
    """Might rule r, were it on, act on slot a here: change any state or take a draw? The
    gates of `apply_rule`, then the primitive's own `would_act`. Keyed draws only."""
    S, P, _, seq, _ = unframe(F)
    if not touches(S, P, c, a, r, m):
        return False
    return _would_act(P.rules[r].prim, S, P, c, a, r, m, t, slot_group(S, P, c, a, m), seq, moment)


@jit
def _would_act(prim, S, P, c, a, r, m, t, g, seq, moment):
    out = True
    for code_f in literal_unroll(WOULD_ACT):
        if code_f[0] == prim:
            out = code_f[1](S, P, c, a, r, m, t, g, seq, moment)
    return out


@jit
def due(S, P, a, r, m, seq):
    """May rule r act on slot a this month (its primitive's `due`: False only where `act`
    would do nothing at all: no change, no event, no draw)? Asked before `act` is called."""
    prim = P.rules[r].prim
    out = True
    for code_f in literal_unroll(DUE):
        if code_f[0] == prim:
            out = code_f[1](S, P, a, r, m, seq)
    return out


@jit
def dm_due(S, P, a, r, m, seq):
    """`due` for a date or monthly rule, where the kernel plans the months it steps: a
    dispatch over the primitives with those moments only (it is inlined in several places
    of the kernel; every primitive's `due` there cost 20-30 s of compile: measured)."""
    prim = P.rules[r].prim
    out = True
    for code_f in literal_unroll(DM_DUE):
        if code_f[0] == prim:
            out = code_f[1](S, P, a, r, m, seq)
    return out


@jit
def act_or_touch(F, ch, c, a, r, m, t, g, moment):
    """Apply rule r to slot a (active, in the rule's scope, its client in group g) if the
    rule is on in this trajectory; else record in w[W_TOUCHED] whether it would have acted."""
    _, _, w, _, _ = unframe(F)
    if (w[W_RULES] >> r) & 1:
        act_rule(F, ch, c, a, r, m, t, g, moment)
    else:
        b = 1 << r
        if (w[W_TOUCHED] & b) == 0 and would_act(F, c, a, r, m, t, moment):
            w[W_TOUCHED] |= b


@jit_call
def rules_at(F, ch, c, a, m, t, moment):
    """The rules of the moment intake or reindication, in scenario order, on slot a: those
    whose bit is set in the slot's gate (`moment_rules`), asked for the rest of their scope
    and their primitive's `due`, so `act` is called only where a rule may act. The gate and
    the client's group are read once, and again only after a rule changed the slot's product
    (substitute). (Inlining this where the kernel calls it saves a call per gated slot but
    costs 22 s of compile: measured.)"""
    S, P, _, seq, _ = unframe(F)
    s = S.slots[a]
    p = s.product
    rules = moment_rules(P, t, p, moment)
    g = slot_group(S, P, c, a, m)
    for r in range(P.run[0].n_rules):
        if (rules >> np.uint64(r)) == 0 or s.status != S_ACTIVE:
            break  # no later rule holds the product, or a rule ended the slot
        if bit(rules, r) and in_scope(S, P, r, a, g) and due(S, P, a, r, m, seq):
            act_or_touch(F, ch, c, a, r, m, t, g, moment)
            if s.product != p:
                p = s.product
                rules = moment_rules(P, t, p, moment)
                g = slot_group(S, P, c, a, m)


@jit
def may_act(S, P, c, a, t, moment):
    """Might a rule of the moment intake or reindication act on slot a (active) in month t?
    Some rule in force holds its step, and either one without a client floor does, or the
    client's active weekly amounts total more than the lowest floor (`GATE`: a weekly cap
    does nothing below its ceiling). Asked inline before `rules_at` is called: most intakes
    and reindications meet only ceilings they are far below."""
    s = S.slots[a]
    gate = P.gates[t, s.product]
    if moment == MO_INTAKE:
        steps, open_steps, floor = gate.intake, gate.intake_open, gate.intake_floor
    else:
        steps, open_steps, floor = gate.reind, gate.reind_open, gate.reind_floor
    if not bit(steps, s.step):
        return False
    if bit(open_steps, s.step):
        return True
    cl = S.clients[c]
    total = 0
    for b in range(cl.arr_lo, cl.arr_hi):
        if S.slots[b].status == S_ACTIVE:
            total += S.slots[b].weekly_cents
    return total > floor


@jit
def moment_rules(P, t, p, moment):
    """The rules of the moment intake or reindication in force in month t that hold product p
    in scope, one bit each (`P.gates`)."""
    gate = P.gates[t, p]
    return gate.intake_rules if moment == MO_INTAKE else gate.reind_rules


@jit
def in_product(S, P, a, r):
    """Is slot a active with a product in rule r's scope? (Date and monthly rules ask their
    `due` of every such slot, before the rest of the scope: a `due` that draws, as the
    review's does, takes a sequential draw there, and the draws that follow depend on it.)"""
    s = S.slots[a]
    return s.status == S_ACTIVE and product_in_scope(P, r, s.product)


@jit_call
def rules_date_monthly(F, ch, c, m, t):
    """`date` rules act once, when the transition period of existing indications ends;
    `monthly` rules every month of their validity, on the slots they are due for."""
    S, P, _, seq, _ = unframe(F)
    cl = S.clients[c]
    for r in range(P.run[0].n_rules):
        if rule_on(P, r, m, MO_DATE) and m == P.rules[r].date:
            for a in range(cl.arr_lo, cl.arr_hi):
                if in_product(S, P, a, r) and dm_due(S, P, a, r, m, seq):
                    act_in_scope(F, ch, c, a, r, m, t, MO_DATE)
        if rule_on(P, r, m, MO_MONTHLY):
            for a in range(cl.arr_lo, cl.arr_hi):
                if in_product(S, P, a, r) and dm_due(S, P, a, r, m, seq):
                    act_in_scope(F, ch, c, a, r, m, t, MO_MONTHLY)


@jit
def act_in_scope(F, ch, c, a, r, m, t, moment):
    """`act_or_touch` where slot a is active and in rule r's scope (`touches`)."""
    S, P, _, _, _ = unframe(F)
    if touches(S, P, c, a, r, m):
        act_or_touch(F, ch, c, a, r, m, t, slot_group(S, P, c, a, m), moment)


@jit
def slot_dm_due(S, P, a, t, m, seq):
    """Will a date rule at its date or a monthly rule act on slot a (active, its product
    gated for month t) at month m, as far as the primitive's `due` tells? Keyed draws: no
    side effects."""
    p = S.slots[a].product
    for r in range(P.run[0].n_rules):
        if not product_in_scope(P, r, p):
            continue
        if (
            (rule_on(P, r, m, MO_DATE) and m == P.rules[r].date) or rule_on(P, r, m, MO_MONTHLY)
        ) and dm_due(S, P, a, r, m, seq):
            return True
    return False


@jit
def date_monthly_due(S, P, t, m, lo, hi, mode, seq):
    """Will a date or monthly rule in force act on one of the client's slots this month?
    Without one the hook would do nothing and draw nothing: no call. With keyed draws (no
    side effects) a monthly rule's `due` is asked here too, so the hook is called only in
    the month it acts."""
    for a in range(lo, hi):
        s = S.slots[a]
        if s.status != S_ACTIVE or not P.gates[t, s.product].dm:
            continue
        if mode != MODE_KEYED or slot_dm_due(S, P, a, t, m, seq):
            return True
    return False


@jit
def next_dm_month(S, P, a, t, until, seq):
    """Keyed draws: the first month from t, before `until`, in which a date or monthly rule
    acts on active slot a as far as its primitive's `due` tells; `until` (or the run's end)
    if none. A date rule can act only in its month; a monthly rule asks its primitive's
    `next_due` where it has one (a review knows its month), else each month is looked at."""
    p = S.slots[a].product
    R = P.run[0]
    until = min(until, R.T)
    if P.gates[t, p].next_dm >= until:
        return until  # no date or monthly rule holds the product before `until`
    for r in range(R.n_rules):
        if not product_in_scope(P, r, p):
            continue
        rule = P.rules[r]
        if rule.moments & MO_DATE:
            d = rule.date - R.start
            if (
                t <= d < until
                and rule_on(P, r, rule.date, MO_DATE)
                and dm_due(S, P, a, r, rule.date, seq)
            ):
                until = d
        if rule.moments & MO_MONTHLY:
            lo = max(t, rule.eff_from - R.start)
            hi = min(until, rule.eff_until - R.start)
            if lo < hi:
                found = _next_due(rule.prim, S, P, a, r, lo, hi, seq)
                if found == NO_SHORTCUT:
                    found = hi
                    for tt in range(lo, hi):
                        if dm_due(S, P, a, r, R.start + tt, seq):
                            found = tt
                            break
                until = min(until, found)
    return until


NO_SHORTCUT = -2


@jit
def _next_due(prim, S, P, a, r, lo, hi, seq):
    """The primitive's `next_due` (the first month in [lo, hi) it is due, else hi), or
    NO_SHORTCUT when it has none."""
    out = NO_SHORTCUT
    for code_f in literal_unroll(NEXT_DUE):
        if code_f[0] == prim:
            out = code_f[1](S, P, a, r, lo, hi, seq)
    return out


# ----------------------------------------------------------------------------- hook points
@jit
def is_on(w, r):
    return (w[W_RULES] >> r) & 1 != 0


@jit
def touch(w, r):
    w[W_TOUCHED] |= 1 << r


INERT_REIND = (0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0)  # see `reind_outcome`


@jit
def _pre(prim, S, P, a, r, st):
    """The primitive's `adjust_reindication` of the accumulated adjustment `st`; (st, False)
    for one without."""
    out = (st, False)
    for code_f in literal_unroll(PRE):
        if code_f[0] == prim:
            out = (code_f[1](S, P, a, r, st), True)
    return out


@jit
def adjusted_outcome(u, c0, c1, c2, st):
    """The reindication outcome of uniform u under an adjustment st = (E, D, F, replace, q0,
    q1, q2): the top E of the continue interval ends, the D below it steps down, and of the
    step-up interval only the first share F steps up (the rest continues); `replace` first
    swaps in the cumulative probabilities q. Each draw's care only falls as E, D grow or F
    falls (monotone draw by draw); st = INERT_REIND gives the kernel's own outcome."""
    if st[3] != 0.0:
        c0, c1, c2 = st[4], st[5], st[6]
    if u < c0:
        if u >= c0 - st[0]:
            return 3
        if u >= c0 - st[0] - st[1]:
            return 1
        return 0
    if u < c1:
        return 1
    if u < c2:
        return 2 if u < c1 + (c2 - c1) * st[2] else 0
    return 3


@jit_call
def reind_outcome(F, c, a, m, g, u, c0, c1, c2):
    """The reindication outcome of slot a (uniform u, the product's cumulative outcome
    probabilities) under the rules that adjust it, in scenario order, and the last rule that
    did (-1: none). Rules off: all those that would apply are touched when together they
    would change the outcome (care is monotone in each adjustment, so then no subset of them
    changes it either)."""
    S, P, w, seq = unframe(F)
    on = INERT_REIND
    off = INERT_REIND
    rr = -1
    mask = 0
    for r in range(P.run[0].n_rules):
        if not rule_on(P, r, m, MO_REINDICATION) or not in_scope(S, P, r, a, g):
            continue
        prim = P.rules[r].prim
        if is_on(w, r):
            st, has = _pre(prim, S, P, a, r, on)
            if has and st != on and applies(S, P, r, c, seq):
                on = st
                rr = r
        else:
            st, has = _pre(prim, S, P, a, r, off)
            if has and st != off and would_apply(S, P, r, c, seq):
                off = st
                mask |= 1 << r
    outcome = adjusted_outcome(u, c0, c1, c2, on)
    if mask != 0:
        both = (on[0] + off[0], on[1] + off[1], on[2] * off[2], max(on[3], off[3]), 0.0, 0.0, 0.0)
        if off[3] != 0.0 or on[3] != 0.0 or adjusted_outcome(u, c0, c1, c2, both) != outcome:
            w[W_TOUCHED] |= mask
    return outcome, rr


@jit
def _goal(prim, S, P, a, r, m):
    """The primitive's `goal_factor`: (factor at m, next change, ever differs from 1)."""
    out = (1.0, np.int64(NO_END), False)
    for code_f in literal_unroll(GOAL):
        if code_f[0] == prim:
            f, nxt, ever = code_f[1](S, P, a, r, m)
            out = (np.float64(f), np.int64(nxt), ever)
    return out


@jit
def goal_spell(S, P, c, a, m, w, seq):
    """The goal hazard factor of slot a from month m (the rules on, in scope, applying to
    the client) and the next month it changes (NO_END: never); rules off that would change
    it are marked touched."""
    s = S.slots[a]
    g = domain_group(S, P, c, P.products[s.product].domain, m)
    f = 1.0
    nxt = np.int64(NO_END)
    rules = P.run[0].goal_rules  # the others have no goal factor
    for r in range(P.run[0].n_rules):
        if (rules >> np.uint64(r)) == 0:
            break
        if not bit(rules, r) or not in_scope(S, P, r, a, g):
            continue
        fr, nr, ever = _goal(P.rules[r].prim, S, P, a, r, m)
        if not ever:
            continue
        if is_on(w, r):
            if applies(S, P, r, c, seq):
                f *= fr
                nxt = min(nxt, nr)
        elif would_apply(S, P, r, c, seq):
            touch(w, r)
    return f, nxt


@jit
def log_survival_of(h):
    return log1p(-h) if h < 1.0 else -np.inf


@jit_call
def goal_wait(F, c, a, te):
    """Keyed draws: the month slot a reaches its goal, eligible from run month te, under the
    goal hazard rules: spells of constant hazard from te and from each month the factor
    changes, each drawn afresh from its first month (counter that month), as the kernel does
    for a spell change; a spell whose event falls before the next change ends it."""
    S, P, w, seq = unframe(F)
    s = S.slots[a]
    pr = P.products[s.product]
    R = P.run[0]
    ek = entity_key(R.keys[D_GOAL], s.aid)
    tc = te
    while True:
        m = R.start + tc
        f, nxt = goal_spell(S, P, c, a, m, w, seq)
        lh = pr.goal_lh if f == 1.0 else log_survival_of(pr.goal * f)
        n = tc - 1 + months_from_log(uniform_from_entity_key(ek, m), lh)
        tn = nxt - R.start
        if n < tn or tn >= R.T or tn <= tc:
            return n
        tc = tn


@jit_call
def goal_factor_now(F, c, a, m):
    """Sequential draws: the goal hazard factor of slot a in month m."""
    S, P, w, seq = unframe(F)
    f, _ = goal_spell(S, P, c, a, m, w, seq)
    return f


@jit
def _admit(prim, S, P, c, r, m):
    out = 1.0
    for code_f in literal_unroll(ADMIT):
        if code_f[0] == prim:
            out = np.float64(code_f[1](S, P, c, r, m))
    return out


@jit
def client_in_scope(S, P, c, r, m):
    """Does one of the client's first arrangements fall in rule r's scope at month m?"""
    cl = S.clients[c]
    for a in range(cl.arr_lo, cl.arr_hi):
        s = S.slots[a]
        if s.kind == SLOT_INITIAL:
            g = domain_group(S, P, c, P.products[s.product].domain, m)
            if in_scope(S, P, r, a, g):
                return True
    return False


@jit_call
def admit(F, c, m, u, p):
    """Is inflow pool client c admitted in month m (keyed uniform u, admission probability
    p) under the admission rules? Returns (admitted, the last rule that turned a baseline
    admission away, or -1). Rules off: all those in scope are touched when some subset of
    them could change the decision."""
    S, P, w, seq = unframe(F)
    f_on = 1.0
    lo = 1.0
    hi = 1.0
    off = 0
    rules = P.run[0].admit_rules  # the others have no admission factor
    for r in range(P.run[0].n_rules):
        if (rules >> np.uint64(r)) == 0:
            break
        if not bit(rules, r) or not rule_on(P, r, m, MO_INTAKE):
            continue
        if not client_in_scope(S, P, c, r, m):
            continue
        fr = _admit(P.rules[r].prim, S, P, c, r, m)
        if fr == 1.0:
            continue
        if is_on(w, r):
            if applies(S, P, r, c, seq):
                f_on *= fr
        elif would_apply(S, P, r, c, seq):
            lo *= min(1.0, fr)
            hi *= max(1.0, fr)
            off |= 1 << r
    admitted = u < p * f_on
    if off != 0 and (u < p * f_on * lo) != (u < p * f_on * hi):
        w[W_TOUCHED] |= off
    last = -1
    if u < p and not admitted:
        for r in range(P.run[0].n_rules):
            if (
                bit(rules, r)
                and rule_on(P, r, m, MO_INTAKE)
                and is_on(w, r)
                and _admit(P.rules[r].prim, S, P, c, r, m) < 1.0
                and client_in_scope(S, P, c, r, m)
            ):
                last = r
    return admitted, last


@jit
def _segment(prim, S, P, B, ch, a, r, p, t0, t1, g, step):
    out = np.int64(NEVER)
    for code_f in literal_unroll(SEGMENT):
        if code_f[0] == prim:
            out = code_f[1](S, P, B, ch, a, r, p, t0, t1, g, step)
    return out


@jit_call
def segment_events(F, ch, a, p, t0, t1, g, step):
    """The events the rules on book for a cost segment of slot a, run months t0 .. t1 - 1,
    with product p in group g at `step` (their primitives' `segment_events`: events of
    months the kernel did not step; each books only in its own scope). Returns a run month
    before which none of them books the slot an event from t1 on, whatever its product, step
    or group by then (the earliest of theirs; NEVER: none will): the caller asks again only
    for a segment that reaches it. So every rule on is asked, in the product's scope or not."""
    S, P, w, _, B = unframe(F)
    nxt = np.int64(NEVER)
    for r in range(P.run[0].n_rules):
        if is_on(w, r):
            nxt = min(nxt, _segment(P.rules[r].prim, S, P, B, ch, a, r, p, t0, t1, g, step))
    return nxt
