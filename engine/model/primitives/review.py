"""review: providers review current household-help clients within a window (each slot in
one month of the window, drawn ahead) and drop named tasks for a share of them.

With keyed draws a review that drops nothing only books its event: the kernel need not step
the client for it (`needs_step`, `next_due`), and where it did not, the month's event is
booked with the cost segment that holds the month (`segment_events`): the slot was active
and unchanged throughout. A month the kernel steps for any reason runs the review there
(`due`, `act`), as sequential draws always do."""

import numpy as np

from engine.core.domain import HO_TASKS
from engine.model.jit import jit
from engine.model.layout import EV_REVIEWED, MO_MONTHLY
from engine.model.primitives.common import (
    book_event,
    has_tasks,
    in_scope_at,
    remove_tasks,
    rule_on,
    slot_in_share,
    standing,
    stands,
)
from engine.model.primitives.spec import Packed, Param, Primitive
from engine.model.rng import (
    D_REVIEW_MONTH,
    D_RULE_SHARE,
    MODE_KEYED,
    NEVER,
    draw,
    uniform_from_key,
)

I_TASKS = 0  # bit mask of engine.core.domain.HO_TASKS
I_WINDOW = 1  # months
F_SHARE = 0  # share of reviewed clients who lose the tasks


def pack(params: dict, ctx) -> Packed:
    return Packed(
        f={F_SHARE: params["share"]},
        i={
            I_TASKS: sum(1 << HO_TASKS.index(t) for t in params["tasks"]),
            I_WINDOW: params["window_months"],
        },
    )


SPEC = Primitive(
    name="review",
    doc=(
        "providers review current household-help clients within a window and drop tasks for a share"
    ),
    moments=("monthly",),
    params=(
        Param("tasks", "names", "the tasks dropped when not needed", choices="ho_tasks"),
        Param(
            "window_months",
            "number",
            "months from effective_from in which every client is reviewed once",
            unit="months",
            lo=1,
            hi=600,
            integer=True,
        ),
        Param("share", "share", "share of reviewed clients who lose the tasks"),
    ),
    pack=pack,
    needs_ho=True,
)


@jit
def review_month(S, P, a, r, seq):
    """The month in the review window when the provider reviews slot a (keyed on the slot,
    so it is known in advance); -1 past the window."""
    R = P.run[0]
    u = draw(R.rng_mode, seq, R.keys, D_REVIEW_MONTH, S.slots[a].aid, P.rules[r].key)
    return month_of(P, r, u)


@jit
def month_of(P, r, u):
    """The review month a uniform u draws: the window's months in equal shares."""
    rule = P.rules[r]
    window = rule.i[I_WINDOW]
    rm = rule.eff_from + np.int64(u * window)
    return rm if rm < rule.eff_from + window else -1


@jit
def in_window(P, r, m):
    """Is month m in the review window? Outside it no slot is reviewed: with keyed draws
    asked before the draw, which the kernel would otherwise take at every month it looks at
    a slot of the product, long after the window."""
    return meets_window(P, r, m, m + 1)


@jit
def meets_window(P, r, m0, m1):
    """Do months m0 .. m1 - 1 meet the review window?"""
    rule = P.rules[r]
    return m0 < rule.eff_from + rule.i[I_WINDOW] and rule.eff_from < m1


@jit
def due(S, P, a, r, m, seq):
    """A monthly rule acts on a slot only in its review month. (Sequential draws draw here
    every month, in the window or not: the draws that follow depend on it.)"""
    if P.run[0].rng_mode == MODE_KEYED and not in_window(P, r, m):
        return False
    return m == review_month(S, P, a, r, seq)


@jit
def needs_step(S, P, a, r, m, seq):
    """Keyed draws: must the kernel step the client in month m for this rule? Only in a
    review month whose review drops tasks; one that drops nothing books its event only,
    which `segment_events` books where the kernel does not step."""
    return due(S, P, a, r, m, seq) and drops(S, P, a, r, seq)


@jit
def next_due(S, P, a, r, lo, hi, seq):
    """The review month, if it falls in run months [lo, hi) and `needs_step`; else hi."""
    start = P.run[0].start
    if not meets_window(P, r, start + lo, start + hi):
        return hi
    rm = review_month(S, P, a, r, seq) - start
    return rm if lo <= rm < hi and drops(S, P, a, r, seq) else hi


def segment_month(row, m: int) -> bool:
    """Can `segment_events` book an event in month m (the review window, as `in_window`
    reads it; in Python, for the gates: engine.model.params)?"""
    return int(row["eff_from"]) <= m < int(row["eff_from"]) + int(row["i"][I_WINDOW])


def due_month(row, m: int) -> bool:
    """With keyed draws, can `due` be True in month m (for the gates: the kernel steps no
    client for the rule in the other months)? In the review window."""
    return segment_month(row, m)


@jit
def segment_events(S, P, B, ch, a, r, p, t0, t1, g, step):
    """Keyed draws: the review event of slot a if its review month falls in run months
    t0 + 1 .. t1 - 1 of a cost segment (t0, the month that opened it, was stepped, and so
    was every month in which the review could run: those open a segment). The slot was
    active through the segment, with product p, in group g at `step`. Returns a run month
    before which it books the slot nothing from t1 on: its review month if that is t1 or
    later (whether the rule is in force and the slot in scope then or not), the window's
    first month while the window is still to come (no draw), else NEVER."""
    R = P.run[0]
    rule = P.rules[r]
    m0 = R.start + t0 + 1
    m1 = R.start + t1
    if R.rng_mode != MODE_KEYED or rule.eff_from + rule.i[I_WINDOW] <= m0:
        return np.int64(NEVER)  # no events from segments, or the window is over
    if rule.eff_from >= m1:
        return rule.eff_from - R.start  # the window is still to come: no month before it
    # review_month's keyed draw (no sequential stream here: the hook runs for keyed draws)
    rm = month_of(P, r, uniform_from_key(R.keys[D_REVIEW_MONTH], S.slots[a].aid, rule.key))
    if m0 <= rm < m1 and rule_on(P, r, rm, MO_MONTHLY) and in_scope_at(S, P, r, a, p, step, g):
        book_event(P, B, ch, r, EV_REVIEWED, g, p, rm - R.start, 0, 0)
    return rm - R.start if rm >= m1 else np.int64(NEVER)


@jit
def drops(S, P, a, r, seq):
    """Does the review drop the slot's tasks (it has some, and its draw falls in the share)?"""
    rule = P.rules[r]
    return has_tasks(S, a, rule.i[I_TASKS]) and slot_in_share(
        S, P, a, r, seq, D_RULE_SHARE, rule.f[F_SHARE]
    )


@jit
def act(S, P, B, ch, c, a, r, m, t, g, w, seq, moment):
    if m == review_month(S, P, a, r, seq):
        book_event(P, B, ch, r, EV_REVIEWED, g, S.slots[a].product, t, 0, 0)
        if drops(S, P, a, r, seq) and standing(S, P, B, ch, c, a, r, m, t, g, w, seq):
            remove_tasks(S, P, B, ch, c, a, r, t, g, P.rules[r].i[I_TASKS])


@jit
def would_act(S, P, c, a, r, m, t, g, seq, moment):
    return due(S, P, a, r, m, seq) and drops(S, P, a, r, seq) and stands(S, P, r, c, seq)
