"""The registry of rule primitives: one module per primitive, listed here once.

A primitive module holds `SPEC` (its name, moments and parameters by name, with type, unit
and range: `spec.Primitive`), `act` (what it does to a slot in the kernel) and `would_act`
(whether it might change anything or take a draw there: the multi-combination pass skips a
trajectory only when a rule that is off would not have acted), side by side, and optionally
`due` (False only where `act` would do nothing at all on a slot that month: no change, no
event, no draw; a cheap, exact test: the kernel then does not call `act`, and for the
moments date and monthly need not step the client; a `due` may itself draw, as the review's
month does, so date and monthly rules ask it of every active slot of their products) and
`next_due` (the first run month in [lo, hi) in which it is due, when it can say so without
looking at each month; with `needs_step`, the first in which that is true: a month in which it
is due but only books an event it books from `segment_events` instead, where the kernel books
a cost segment of months it did not step; `segment_events` returns a run month before which
it books the slot nothing after that segment, whatever the slot's product by then: the
kernel asks again only from it). Two more, for the gates (engine.model.params),
plain Python: `due_month(rule_row, m)`, for a monthly rule with keyed draws: can it be due in
month m at all (the gates leave the other months out); and `client_floor(rule_row,
price_index)`, for a rule of intake or reindication: the client's total of active weekly
amounts (base-year cents, every slot's, in scope or not: amounts are never negative) at or
below which it leaves the client alone (`hooks.may_act`). A primitive
that acts where the kernel draws rather than at a moment has one of the kernel's hook points
instead (engine.model.hooks): `adjust_reindication` (the outcome probabilities before the
reindication outcome is drawn), `goal_factor` (the goal hazard where its waiting time is
drawn), `admit_factor` (the admission probability of an inflow pool client). Its parameters
reach the kernel through named slots (`P.rules[r].f[F_...]`, `.i[I_...]`) that the module
itself defines and packs (`SPEC.pack`).

To add a primitive: write its module beside these (`weekly_cap.py` is a short example), add
it to `MODULES` below, and test it (tests of its semantics; the property tests of
`would_act` and `due` run over every registered primitive). Nothing else names primitives:
the rule schema reads `SPEC`, the kernel dispatches over `MODULES` in order (the code is the
position).
"""

from engine.model.primitives import (
    hazard_factor,
    inflow_factor,
    max_duration,
    price_factor,
    reindication_policy,
    remove_task,
    review,
    set_frequency,
    shift_intake,
    substitute,
    transfer_out,
    weekly_cap,
)

MODULES = (
    weekly_cap,
    max_duration,
    remove_task,
    set_frequency,
    review,
    shift_intake,
    substitute,
    reindication_policy,
    hazard_factor,
    inflow_factor,
    price_factor,
    transfer_out,
)
BY_NAME = {m.SPEC.name: m for m in MODULES}
CODES = {m.SPEC.name: code for code, m in enumerate(MODULES)}
assert len(BY_NAME) == len(MODULES), "primitive names are unique"


# (code, function) pairs the hooks dispatch over (numba.literal_unroll: one direct call per code)
ACTS = tuple((code, m.act) for code, m in enumerate(MODULES))
WOULD_ACT = tuple((code, m.would_act) for code, m in enumerate(MODULES))
DUE = tuple((code, m.due) for code, m in enumerate(MODULES) if hasattr(m, "due"))
# the same for the primitives with the moments date or monthly only: the kernel plans the
# months it steps with it (engine.model.hooks.dm_due)
DM_DUE = tuple(
    (code, m.due)
    for code, m in enumerate(MODULES)
    if hasattr(m, "due") and {"date", "monthly"} & set(m.SPEC.moments)
)
NEXT_DUE = tuple((code, m.next_due) for code, m in enumerate(MODULES) if hasattr(m, "next_due"))


def _hook(name: str) -> tuple:
    return tuple((code, getattr(m, name)) for code, m in enumerate(MODULES) if hasattr(m, name))


# the kernel's hook points beside the moments (engine.model.hooks)
PRE = _hook("adjust_reindication")
GOAL = _hook("goal_factor")
ADMIT = _hook("admit_factor")
# and where the kernel books a cost segment (accrual.flush_segments): events of months the
# kernel did not step (a module with `segment_events` has `segment_month(rule_row, m)` too: the
# months in which it can book one, for the gates)
SEGMENT = _hook("segment_events")
PRE_CODES = frozenset(code for code, _ in PRE)
GOAL_CODES = frozenset(code for code, _ in GOAL)
ADMIT_CODES = frozenset(code for code, _ in ADMIT)
SEGMENT_CODES = frozenset(code for code, _ in SEGMENT)
