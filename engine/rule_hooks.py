"""Where rules act in the kernel: intake, reindication, date and monthly (DESIGN section 4).

Every active rule is compiled to arrays in `Params` (rules.compile): its primitive, moments,
validity, scope masks, exceptions and parameters. The kernel calls the hooks below at the
moments; each loops over the rules in scenario order and applies the primitive:

- weekly_cap: a client's in-scope weekly amounts summed and clipped to the cap, cutting the
  highest-priced arrangement first; exceptions (flags, an approved share) keep their
  amount, a share leaves to the Wlz instead;
- max_duration: indications run at most to `max_months` of continuous support; a client
  already past it when the rule starts gets a final phase-out indication at the first
  reindication under the rule; after that (or at once, for one who reaches the maximum or
  comes into scope later) a share ends and the rest steps down to a named lower step;
- remove_task: HO task minutes set to zero (at the `date` moment also for existing
  indications, when their transition period ends);
- set_frequency: eligible HO clients get cleaning once per two weeks at the biweekly step;
- review: providers review current HO clients within a window and drop named tasks for a share.

Exceptions are decided once per client and rule and kept (`S.rule_c`); draws are keyed by the
rule's stable key, so a rule meets the same luck alone and in a package.

A multi-combination pass (engine.multi) calls its own copies of the hooks, which ask
`engine.multi.would_act` whether a rule that is off would have acted: a change to the
conditions under which a primitive acts must be mirrored there.
"""

import numpy as np
from numba import njit

from engine.arrangement import domain_group, end_arrangement, hot, weekly_base_cents
from engine.domain import R_RULE_END, R_WLZ, S_ACTIVE, T_CLEANING
from engine.rng import D_EXC_APPROVED, D_EXC_LEAVES, D_REVIEW_MONTH, D_RULE_SHARE, draw

# primitives (rules.compile.PRIMITIVE_CODES)
PR_WEEKLY_CAP, PR_MAX_DURATION, PR_REMOVE_TASK, PR_SET_FREQUENCY, PR_REVIEW = range(5)
# moments (bits of r_moments)
MO_INTAKE, MO_REINDICATION, MO_DATE, MO_MONTHLY = 1, 2, 4, 8
# event kinds: events bins [chunk, rule, kind, group, product, month, field]
EVENT_KINDS = ["capped", "exception", "wlz_exit", "task_removed", "frequency_changed", "phase_out", "shortened", "ended", "stepped_down", "reviewed"]
EV_CAPPED, EV_EXCEPTION, EV_WLZ_EXIT, EV_TASK_REMOVED, EV_FREQUENCY, EV_PHASE_OUT, EV_SHORTENED, EV_ENDED, EV_STEPPED_DOWN, EV_REVIEWED = range(10)
EVENT_FIELDS = ["count", "weekly_cents_changed", "weekly_minutes_changed"]
# client exception state per rule (S.rule_c)
X_UNDECIDED, X_APPLIES, X_EXEMPT_FLAG, X_APPROVED, X_LEAVES = -1, 0, 1, 2, 3
# affected bins [chunk, measure (last = all measures), kind, group]
AFF_REDUCED, AFF_ENDED = 0, 1


@hot
def rule_on(P, r, m, moment):
    return (P.r_moments[r] & moment) != 0 and P.r_from[r] <= m and m < P.r_until[r]


@hot
def in_scope(S, P, r, a, g):
    p = S.product[a]
    return P.r_prod[r, p] != 0 and P.r_step[r, p, S.step[a]] != 0 and P.r_group[r, g] != 0


@hot
def book_event(P, B, ch, r, kind, g, p, t, cents, minutes):
    if not P.ev_on:
        return
    B.events[ch, r, kind, g, p, t, 0] += 1
    B.events[ch, r, kind, g, p, t, 1] += cents
    B.events[ch, r, kind, g, p, t, 2] += minutes


@hot
def mark_affected(S, P, B, ch, c, r, g, kind):
    """Count a client once per measure and kind (care reduced, care ended), and once for
    all measures together."""
    ms = P.r_measure[r]
    n = B.affected.shape[1] - 1
    for k in (ms, n):
        bit = np.uint32(1) << np.uint32(2 * k + kind)
        if (S.affected[c] & bit) == 0:
            S.affected[c] |= bit
            B.affected[ch, k, kind, g] += 1


@hot
def client_exception(S, P, r, c, seq):
    """The client's standing under rule r, decided once and kept: the rule applies, exempt
    by a flag, approved case by case, or leaves to another system. Both draws are taken for
    every client at risk, exempt or not."""
    st = S.rule_c[c, r]
    if st == X_UNDECIDED:
        st = decide_standing(S, P, r, c, seq)
        S.rule_c[c, r] = st
    return st


@hot
def decide_standing(S, P, r, c, seq):
    """The standing an undecided client gets under rule r (both draws, in this order);
    `client_exception` keeps it, the multi-combination pass only asks (engine.multi)."""
    u_ok = draw(P.rng_mode, seq, P.keys, D_EXC_APPROVED, S.cid[c], P.r_key[r])
    u_leave = draw(P.rng_mode, seq, P.keys, D_EXC_LEAVES, S.cid[c], P.r_key[r])
    st = X_APPLIES
    if S.flags[c] & P.r_exempt[r]:
        st = X_EXEMPT_FLAG
    elif u_ok < P.r_approved[r]:
        st = X_APPROVED
    elif u_leave < P.r_leaves[r]:
        st = X_LEAVES
    return st


@hot
def leave_system(S, P, B, ch, c, r, m, t, g, w):
    """The client leaves to the Wlz instead: all its arrangements end."""
    for b in range(S.arr_lo[c], S.arr_hi[c]):
        if S.status[b] == S_ACTIVE:
            book_event(P, B, ch, r, EV_WLZ_EXIT, g, S.product[b], t, S.weekly_cents[b], 0)
            end_arrangement(S, P, B, ch, c, b, m, t, R_WLZ, w)
    mark_affected(S, P, B, ch, c, r, g, AFF_ENDED)


@hot
def standing(S, P, B, ch, c, a, r, m, t, g, w, seq):
    """True when the rule may act on the client; books exceptions and Wlz exits."""
    st = client_exception(S, P, r, c, seq)
    if st == X_LEAVES:
        leave_system(S, P, B, ch, c, r, m, t, g, w)
    elif st != X_APPLIES:
        book_event(P, B, ch, r, EV_EXCEPTION, g, S.product[a], t, 0, 0)
    return st == X_APPLIES


@hot
def reprice(S, P, B, ch, c, a, r, t, g, kind, minutes):
    """Recompute the weekly amount after a change of minutes, frequency or step; book the
    event with the weekly cents and minutes it took away."""
    old = S.weekly_cents[a]
    S.weekly_cents[a] = weekly_base_cents(S, P, a)
    book_event(P, B, ch, r, kind, g, S.product[a], t, old - S.weekly_cents[a], minutes)
    if S.weekly_cents[a] < old:
        mark_affected(S, P, B, ch, c, r, g, AFF_REDUCED)


@hot
def review_month(S, P, a, r, seq):
    """The month in the review window when the provider reviews arrangement a (keyed on
    the arrangement, so it is known in advance); -1 past the window."""
    window = P.r_i[r, 0]
    rm = P.r_from[r] + np.int64(draw(P.rng_mode, seq, P.keys, D_REVIEW_MONTH, S.aid[a], P.r_key[r]) * window)
    return rm if rm < P.r_from[r] + window else -1


@hot
def monthly_due(S, P, a, r, m, seq):
    """Does monthly rule r act on arrangement a this month? Checked inline, so the rule
    itself is called only in the month it acts (one review per arrangement)."""
    due = True
    if P.r_prim[r] == PR_REVIEW:
        due = m == review_month(S, P, a, r, seq)
    return due


# ------------------------------------------------------------------------------ primitives
@hot
def weekly_cap(S, P, B, ch, c, a, r, m, t, g, w, seq):
    lo = S.arr_lo[c]
    hi = S.arr_hi[c]
    total = 0
    for b in range(lo, hi):
        if S.status[b] == S_ACTIVE and in_scope(S, P, r, b, g):
            total += S.weekly_cents[b]
    cap = P.r_f[r, 0]
    if P.r_i[r, 0] == 0:
        cap = cap / P.price_index[t]  # the cap is in nominal euros; amounts in base-year cents
    cap_c = np.int64(np.floor(cap + 1e-9))
    if total > cap_c and standing(S, P, B, ch, c, a, r, m, t, g, w, seq):
        excess = total - cap_c
        while excess > 0:
            top = -1
            for b in range(lo, hi):
                if S.status[b] == S_ACTIVE and in_scope(S, P, r, b, g) and S.weekly_cents[b] > 0:
                    if top < 0 or S.weekly_cents[b] > S.weekly_cents[top]:
                        top = b
            if top < 0:
                break
            cut = min(excess, np.int64(S.weekly_cents[top]))
            S.weekly_cents[top] -= cut
            excess -= cut
            book_event(P, B, ch, r, EV_CAPPED, g, S.product[top], t, cut, 0)
        mark_affected(S, P, B, ch, c, r, g, AFF_REDUCED)


@hot
def final_decision(S, P, B, ch, c, a, r, m, t, g, w, seq):
    """max_duration at the end: a share ends, the rest steps down to the named step."""
    p = S.product[a]
    S.rule_a[a, r] = 2
    if draw(P.rng_mode, seq, P.keys, D_RULE_SHARE, S.aid[a], P.r_key[r]) < P.r_f[r, 0]:
        book_event(P, B, ch, r, EV_ENDED, g, p, t, S.weekly_cents[a], 0)
        end_arrangement(S, P, B, ch, c, a, m, t, R_RULE_END, w)
        mark_affected(S, P, B, ch, c, r, g, AFF_ENDED)
    else:
        S.step[a] = P.r_step_to[r, p]
        reprice(S, P, B, ch, c, a, r, t, g, EV_STEPPED_DOWN, 0)


@hot
def max_duration(S, P, B, ch, c, a, r, m, t, g, w, seq, moment):
    if not standing(S, P, B, ch, c, a, r, m, t, g, w, seq) or S.status[a] != S_ACTIVE:
        return
    since = np.int64(S.since[a])
    max_m = P.r_i[r, 0]
    phase = S.rule_a[a, r]
    if phase == 1 or phase == 2:
        final_decision(S, P, B, ch, c, a, r, m, t, g, w, seq)  # end of the phase-out, or back in scope
    elif moment == MO_REINDICATION and m - since >= max_m:
        first_under_rule = m - P.p_ind[S.product[a]] < P.r_from[r]  # the indication now ending began before the rule
        if since + max_m <= P.r_from[r] and first_under_rule:
            S.rule_a[a, r] = 1  # already past the maximum when the rule started: phase out
            S.planned_end[a] = m + P.r_i[r, 1]
            book_event(P, B, ch, r, EV_PHASE_OUT, g, S.product[a], t, 0, 0)
        else:
            final_decision(S, P, B, ch, c, a, r, m, t, g, w, seq)
    elif np.int64(S.planned_end[a]) - since > max_m:
        S.planned_end[a] = since + max_m
        book_event(P, B, ch, r, EV_SHORTENED, g, S.product[a], t, 0, 0)


@hot
def remove_tasks(S, P, B, ch, c, a, r, t, g, tasks):
    removed = 0
    for k in range(S.minutes.shape[1]):
        if (tasks >> k) & 1 and S.minutes[a, k] > 0:
            removed += S.minutes[a, k]
            S.minutes[a, k] = 0
    if removed > 0:
        reprice(S, P, B, ch, c, a, r, t, g, EV_TASK_REMOVED, removed)


@hot
def has_tasks(S, a, tasks):
    for k in range(S.minutes.shape[1]):
        if (tasks >> k) & 1 and S.minutes[a, k] > 0:
            return True
    return False


@hot
def set_frequency(S, P, B, ch, c, a, r, m, t, g, w, seq):
    freq = P.r_i[r, 0]
    if S.frequency[a] == freq or (S.flags[c] & P.r_require[r]) != P.r_require[r]:
        return
    if S.minutes[a, T_CLEANING] > P.r_f[r, 0]:
        return  # cleaning above the norm: not eligible
    if standing(S, P, B, ch, c, a, r, m, t, g, w, seq):
        old_w = np.int64(S.minutes[a, T_CLEANING])
        S.frequency[a] = freq
        S.minutes[a, T_CLEANING] = P.r_i[r, 1]
        new_w = np.int64(S.minutes[a, T_CLEANING]) // 2 if freq == 1 else np.int64(S.minutes[a, T_CLEANING])
        reprice(S, P, B, ch, c, a, r, t, g, EV_FREQUENCY, old_w - new_w)


@njit(cache=True, _nrt=False)
def apply_rule(S, P, B, ch, c, a, r, m, t, w, seq, moment):
    """Rule r on arrangement a of client c at month m, at `moment`."""
    if S.status[a] != S_ACTIVE:
        return
    g = domain_group(S, P, c, P.p_domain[S.product[a]], m)
    if not in_scope(S, P, r, a, g):
        return
    prim = P.r_prim[r]
    if prim == PR_WEEKLY_CAP:
        weekly_cap(S, P, B, ch, c, a, r, m, t, g, w, seq)
    elif prim == PR_MAX_DURATION:
        max_duration(S, P, B, ch, c, a, r, m, t, g, w, seq, moment)
    elif prim == PR_REMOVE_TASK:
        if has_tasks(S, a, P.r_tasks[r]) and standing(S, P, B, ch, c, a, r, m, t, g, w, seq):
            remove_tasks(S, P, B, ch, c, a, r, t, g, P.r_tasks[r])
    elif prim == PR_SET_FREQUENCY:
        set_frequency(S, P, B, ch, c, a, r, m, t, g, w, seq)
    elif prim == PR_REVIEW:
        if m == review_month(S, P, a, r, seq):
            book_event(P, B, ch, r, EV_REVIEWED, g, S.product[a], t, 0, 0)
            if has_tasks(S, a, P.r_tasks[r]) and draw(P.rng_mode, seq, P.keys, D_RULE_SHARE, S.aid[a], P.r_key[r]) < P.r_f[r, 0]:
                if standing(S, P, B, ch, c, a, r, m, t, g, w, seq):
                    remove_tasks(S, P, B, ch, c, a, r, t, g, P.r_tasks[r])


# ------------------------------------------------------------------------------ the hooks
# Compiled once each and called (not inlined): inlining every primitive at every call site
# made compilation take many minutes. They run only at intake, at reindication and in
# months with a date or monthly rule in force, and only for what a rule's scope can touch:
# the kernel checks the gates `P.hook_on` and `P.dm_prod` inline first (rules.compile).
cold = njit(cache=True, _nrt=False)


@cold
def rules_at_intake(S, P, B, ch, c, a, m, t, w, seq):
    for r in range(P.r_prim.shape[0]):
        if rule_on(P, r, m, MO_INTAKE):
            apply_rule(S, P, B, ch, c, a, r, m, t, w, seq, MO_INTAKE)


@cold
def rules_at_reindication(S, P, B, ch, c, a, m, t, w, seq):
    for r in range(P.r_prim.shape[0]):
        if rule_on(P, r, m, MO_REINDICATION):
            apply_rule(S, P, B, ch, c, a, r, m, t, w, seq, MO_REINDICATION)


@cold
def rules_date_monthly(S, P, B, ch, c, m, t, w, seq):
    """`date` rules act once, when the transition period of existing indications ends;
    `monthly` rules every month of their validity."""
    for r in range(P.r_prim.shape[0]):
        if rule_on(P, r, m, MO_DATE) and m == P.r_date[r]:
            for a in range(S.arr_lo[c], S.arr_hi[c]):
                apply_rule(S, P, B, ch, c, a, r, m, t, w, seq, MO_DATE)
        if rule_on(P, r, m, MO_MONTHLY):
            for a in range(S.arr_lo[c], S.arr_hi[c]):
                if S.status[a] == S_ACTIVE and P.r_prod[r, S.product[a]] != 0 and monthly_due(S, P, a, r, m, seq):
                    apply_rule(S, P, B, ch, c, a, r, m, t, w, seq, MO_MONTHLY)
