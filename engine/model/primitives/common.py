"""What every primitive shares: scope, a client's standing under a rule (exceptions decided
once and kept), rule events, clients affected, repricing.

A client's standing under rule r is decided once, the first time the rule might act on
them, with two keyed draws taken for every client at risk, exempt or not: the rule applies,
the client is exempt by a flag, approved case by case, or leaves to another system (Wlz).
Draws are keyed by the rule's stable key, so a rule meets the same luck alone and in a package.
"""

import numpy as np

from engine.core.domain import R_WLZ, S_ACTIVE
from engine.model.arrangement import bit, end_arrangement, weekly_base_cents
from engine.model.jit import jit
from engine.model.layout import (
    AFF_ENDED,
    AFF_REDUCED,
    EV_EXCEPTION,
    EV_TASK_REMOVED,
    EV_WLZ_EXIT,
    X_APPLIES,
    X_APPROVED,
    X_EXEMPT_FLAG,
    X_LEAVES,
    X_UNDECIDED,
)
from engine.model.rng import D_EXC_APPROVED, D_EXC_LEAVES, draw


@jit
def rule_on(P, r, m, moment):
    """Is rule r in force at month m, at this moment?"""
    rule = P.rules[r]
    return (rule.moments & moment) != 0 and rule.eff_from <= m and m < rule.eff_until


@jit
def product_in_scope(P, r, p):
    return P.rule_prod[r, p].steps != 0


@jit
def in_scope(S, P, r, a, g):
    """Is slot a (its product and step), its client's group g and district in rule r's scope?"""
    s = S.slots[a]
    return in_scope_at(S, P, r, a, s.product, s.step, g)


@jit
def in_scope_at(S, P, r, a, p, step, g):
    """`in_scope` with slot a's product p at `step` (a cost segment's, where the slot has
    moved on)."""
    return bit(P.rule_prod[r, p].steps, step) and client_in_scope(S, P, r, S.slots[a].owner, g)


@jit
def client_in_scope(S, P, r, c, g):
    """The client's part of rule r's scope: its group g and its district (the same for all
    of its slots: a pass over them asks it once)."""
    return bit(P.rules[r].groups, g) and bit(P.rules[r].districts, S.clients[c].district)


@jit
def book_event(P, B, ch, r, kind, g, p, t, cents, minutes):
    if not P.run[0].events:
        return
    B.events[ch, r, kind, g, p, t, 0] += 1
    B.events[ch, r, kind, g, p, t, 1] += cents
    B.events[ch, r, kind, g, p, t, 2] += minutes


@jit
def mark_affected(S, P, B, ch, c, r, g, kind):
    """Count a client once per measure and kind (care reduced, care ended), and once for
    all measures together."""
    ms = P.rules[r].measure
    n = B.affected.shape[1] - 1
    cl = S.clients[c]
    for k in (ms, n):
        b = np.uint64(1) << np.uint64(2 * k + kind)
        if (cl.affected & b) == 0:
            cl.affected |= b
            B.affected[ch, k, kind, g] += 1


@jit
def decide_standing(S, P, r, c, seq):
    """The standing an undecided client gets under rule r (both draws, in this order);
    `client_exception` keeps it, the multi-combination pass only asks."""
    R = P.run[0]
    rule = P.rules[r]
    cid = S.clients[c].cid
    u_ok = draw(R.rng_mode, seq, R.keys, D_EXC_APPROVED, cid, rule.key)
    u_leave = draw(R.rng_mode, seq, R.keys, D_EXC_LEAVES, cid, rule.key)
    st = X_APPLIES
    if S.clients[c].flags & rule.exempt:
        st = X_EXEMPT_FLAG
    elif u_ok < rule.approved:
        st = X_APPROVED
    elif u_leave < rule.leaves:
        st = X_LEAVES
    return st


@jit
def client_exception(S, P, r, c, seq):
    """The client's standing under rule r, decided once and kept."""
    st = S.rule_c[c, r]
    if st == X_UNDECIDED:
        st = decide_standing(S, P, r, c, seq)
        S.rule_c[c, r] = st
    return st


@jit
def standing_of(S, P, r, c, seq):
    """The standing decided so far, else the one `client_exception` would decide (same
    draws; keyed draws have no side effect, and nothing is kept): for `would_act`."""
    st = S.rule_c[c, r]
    if st == X_UNDECIDED:
        st = decide_standing(S, P, r, c, seq)
    return st


@jit
def stands(S, P, r, c, seq):
    """Would `standing` let rule r act (it applies, or the client leaves)?"""
    st = standing_of(S, P, r, c, seq)
    return st in (X_APPLIES, X_LEAVES)


@jit
def leave_system(S, P, B, ch, c, r, m, t, g, w):
    """The client leaves to the Wlz instead: all its arrangements end."""
    cl = S.clients[c]
    for b in range(cl.arr_lo, cl.arr_hi):
        if S.slots[b].status == S_ACTIVE:
            book_event(
                P, B, ch, r, EV_WLZ_EXIT, g, S.slots[b].product, t, S.slots[b].weekly_cents, 0
            )
            end_arrangement(S, P, B, ch, c, b, m, t, R_WLZ, w)
    mark_affected(S, P, B, ch, c, r, g, AFF_ENDED)


@jit
def standing(S, P, B, ch, c, a, r, m, t, g, w, seq):
    """True when the rule may act on the client; books exceptions and Wlz exits."""
    st = client_exception(S, P, r, c, seq)
    if st == X_LEAVES:
        leave_system(S, P, B, ch, c, r, m, t, g, w)
    elif st != X_APPLIES:
        book_event(P, B, ch, r, EV_EXCEPTION, g, S.slots[a].product, t, 0, 0)
    return st == X_APPLIES


@jit
def applies(S, P, r, c, seq):
    """The client's standing, decided once and kept, lets the rule act (no exception
    events: for the hooks that adjust a probability or a hazard)."""
    return client_exception(S, P, r, c, seq) == X_APPLIES


@jit
def would_apply(S, P, r, c, seq):
    """`applies` without keeping the decision: for `would_act`."""
    return standing_of(S, P, r, c, seq) == X_APPLIES


@jit
def slot_in_share(S, P, a, r, seq, decision, share):
    """Does slot a's keyed draw for `decision` under rule r fall in `share`? The slot's own
    luck, the same in every scenario that holds the rule."""
    R = P.run[0]
    return draw(R.rng_mode, seq, R.keys, decision, S.slots[a].aid, P.rules[r].key) < share


@jit
def moves_slot(S, P, a, r):
    """Would `retarget` change slot a (a product or step target other than its own)?"""
    s = S.slots[a]
    rp = P.rule_prod[r, s.product]
    return (rp.prod_to >= 0 and rp.prod_to != s.product) or (
        rp.step_to >= 0 and rp.step_to != s.step
    )


@jit
def retarget(S, P, a, r):
    """The slot's product and step after a shift or substitution to rule r's target for its
    product (`P.rule_prod[r, p]`: prod_to, step_to; -1 keeps it). Returns whether anything
    changed."""
    s = S.slots[a]
    rp = P.rule_prod[r, s.product]
    changed = False
    if rp.prod_to >= 0 and rp.prod_to != s.product:
        s.product = rp.prod_to
        changed = True
    if rp.step_to >= 0 and rp.step_to != s.step:
        s.step = rp.step_to
        changed = True
    return changed


@jit
def reprice(S, P, B, ch, c, a, r, t, g, kind, minutes):
    """Recompute the weekly amount after a change of minutes, frequency or step; book the
    event with the weekly cents and minutes it took away."""
    s = S.slots[a]
    old = s.weekly_cents
    s.weekly_cents = weekly_base_cents(S, P, a)
    book_event(P, B, ch, r, kind, g, s.product, t, old - s.weekly_cents, minutes)
    if s.weekly_cents < old:
        mark_affected(S, P, B, ch, c, r, g, AFF_REDUCED)


@jit
def has_tasks(S, a, tasks):
    """Does slot a have minutes for any task in the bit mask `tasks`?"""
    s = S.slots[a]
    for k in range(s.minutes.shape[0]):  # noqa: SIM110 - compiled code: no generators
        if (tasks >> k) & 1 and s.minutes[k] > 0:
            return True
    return False


@jit
def remove_tasks(S, P, B, ch, c, a, r, t, g, tasks):
    """Set the minutes of the tasks in `tasks` to zero and reprice."""
    s = S.slots[a]
    removed = 0
    for k in range(s.minutes.shape[0]):
        if (tasks >> k) & 1 and s.minutes[k] > 0:
            removed += s.minutes[k]
            s.minutes[k] = 0
    if removed > 0:
        reprice(S, P, B, ch, c, a, r, t, g, EV_TASK_REMOVED, removed)
