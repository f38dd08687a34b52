"""max_duration: indications run at most to `max_months` of continuous support. A client
already past the maximum when the rule starts gets a final phase-out indication
(`phase_out_months`) at the first reindication under the rule; after that (or at once, for
one who reaches the maximum or comes into scope later) a share (`end_share`) ends and the
rest steps down to a named lower step (`step_down_to`, per product)."""

import numpy as np

from engine.core.domain import R_RULE_END, S_ACTIVE
from engine.model.arrangement import end_arrangement
from engine.model.jit import jit
from engine.model.layout import (
    AFF_ENDED,
    EV_ENDED,
    EV_PHASE_OUT,
    EV_SHORTENED,
    EV_STEPPED_DOWN,
    MO_REINDICATION,
)
from engine.model.primitives.common import (
    book_event,
    mark_affected,
    reprice,
    slot_in_share,
    standing,
    stands,
)
from engine.model.primitives.spec import Packed, Param, Primitive
from engine.model.rng import D_RULE_SHARE

I_MAX_MONTHS = 0
I_PHASE_OUT_MONTHS = 1
F_END_SHARE = 0
# S.rule_a[a, r]: the slot's phase under the rule
PHASE_NONE, PHASE_OUT, PHASE_DONE = 0, 1, 2
# what the rule does to a slot now (`change`)
NOTHING, DECIDE, START_PHASE_OUT, SHORTEN = 0, 1, 2, 3


def check(params: dict, ctx, sec) -> None:
    step_to = params["step_down_to"]
    for prod in ctx.products:
        if prod not in step_to:
            raise sec.error(
                "step_down_to", f"no step for product {prod!r}", "a step for every product in scope"
            )
    for prod, code in step_to.items():
        if prod not in ctx.products:
            raise sec.error(
                f"step_down_to.{prod}",
                f"product {prod!r} is not in the rule's scope",
                "one of: " + ", ".join(ctx.products),
            )
        codes = [s.code for s in ctx.policy.product(prod).steps]
        if code not in codes:
            raise sec.error(
                f"step_down_to.{prod}", f"unknown step {code!r}", "one of: " + ", ".join(codes)
            )


def pack(params: dict, ctx) -> Packed:
    return Packed(
        f={F_END_SHARE: params["end_share"]},
        i={I_MAX_MONTHS: params["max_months"], I_PHASE_OUT_MONTHS: params["phase_out_months"]},
        step_to={
            prod: ctx.policy.product(prod).step_index(code)
            for prod, code in params["step_down_to"].items()
        },
    )


SPEC = Primitive(
    name="max_duration",
    doc=(
        "support runs at most max_months; then a share ends and the rest steps down"
        " (a phase-out for those already past it)"
    ),
    moments=("intake", "reindication"),
    params=(
        Param(
            "max_months",
            "number",
            "months of continuous support at most",
            unit="months",
            lo=1,
            hi=600,
            integer=True,
        ),
        Param(
            "phase_out_months",
            "number",
            "length of the final indication of a client already past the maximum",
            unit="months",
            default=12,
            lo=0,
            hi=600,
            integer=True,
        ),
        Param(
            "end_share",
            "share",
            "share of clients whose support ends at the maximum (the rest steps down)",
        ),
        Param(
            "step_down_to", "table", "per product in scope: the step code the rest steps down to"
        ),
    ),
    pack=pack,
    check=check,
)


@jit
def change(S, P, a, r, m, moment):
    """What the rule does to slot a now: nothing, the final decision, start a phase-out, or
    shorten the indication to the maximum."""
    s = S.slots[a]
    rule = P.rules[r]
    since = np.int64(s.since)
    max_m = rule.i[I_MAX_MONTHS]
    phase = S.rule_a[a, r]
    if phase in (PHASE_OUT, PHASE_DONE):
        return DECIDE  # end of the phase-out, or back in scope
    if moment == MO_REINDICATION and m - since >= max_m:
        first_under_rule = (
            m - P.products[s.product].ind < rule.eff_from
        )  # the indication now ending began before the rule
        if since + max_m <= rule.eff_from and first_under_rule:
            return START_PHASE_OUT  # already past the maximum when the rule started
        return DECIDE
    if np.int64(s.planned_end) - since > max_m:
        return SHORTEN
    return NOTHING


@jit
def final_decision(S, P, B, ch, c, a, r, m, t, g, w, seq):
    """At the maximum: a share ends, the rest steps down to the named step."""
    s = S.slots[a]
    p = s.product
    S.rule_a[a, r] = PHASE_DONE
    if slot_in_share(S, P, a, r, seq, D_RULE_SHARE, P.rules[r].f[F_END_SHARE]):
        book_event(P, B, ch, r, EV_ENDED, g, p, t, s.weekly_cents, 0)
        end_arrangement(S, P, B, ch, c, a, m, t, R_RULE_END, w)
        mark_affected(S, P, B, ch, c, r, g, AFF_ENDED)
    else:
        s.step = P.rule_prod[r, p].step_to
        reprice(S, P, B, ch, c, a, r, t, g, EV_STEPPED_DOWN, 0)


@jit
def due(S, P, a, r, m, seq):
    """Only a slot the rule may change at one of its moments (`change` at reindication, which
    asks all that it asks at intake and more): the others are not called, no standing is
    decided, no exception is booked."""
    return change(S, P, a, r, m, MO_REINDICATION) != NOTHING


@jit
def act(S, P, B, ch, c, a, r, m, t, g, w, seq, moment):
    what = change(S, P, a, r, m, moment)
    if what == NOTHING:
        return  # no standing asked, no exception booked where the rule changes nothing
    if not standing(S, P, B, ch, c, a, r, m, t, g, w, seq) or S.slots[a].status != S_ACTIVE:
        return
    s = S.slots[a]
    if what == DECIDE:
        final_decision(S, P, B, ch, c, a, r, m, t, g, w, seq)
    elif what == START_PHASE_OUT:
        S.rule_a[a, r] = PHASE_OUT
        s.planned_end = m + P.rules[r].i[I_PHASE_OUT_MONTHS]
        book_event(P, B, ch, r, EV_PHASE_OUT, g, s.product, t, 0, 0)
    elif what == SHORTEN:
        s.planned_end = np.int64(s.since) + P.rules[r].i[I_MAX_MONTHS]
        book_event(P, B, ch, r, EV_SHORTENED, g, s.product, t, 0, 0)


@jit
def would_act(S, P, c, a, r, m, t, g, seq, moment):
    return change(S, P, a, r, m, moment) != NOTHING and stands(S, P, r, c, seq)
