"""set_frequency: eligible household-help clients (required flags, cleaning at or below a
norm) get cleaning at another frequency, e.g. once per two weeks with a fixed number of
minutes, priced at the catalogue's biweekly step."""

import numpy as np

from engine.core.domain import FLAGS, FREQUENCIES, T_CLEANING
from engine.model.jit import jit
from engine.model.layout import EV_FREQUENCY
from engine.model.primitives.common import reprice, standing, stands
from engine.model.primitives.spec import Packed, Param, Primitive

I_FREQUENCY = 0  # engine.core.domain.FREQUENCIES index
I_CLEANING_MINUTES = 1  # cleaning minutes after the change (per two weeks when biweekly)
I_REQUIRE_FLAGS = 2  # bit mask of engine.core.domain.FLAGS the client must have
F_MAX_CLEANING = 0  # eligible when cleaning minutes a week are at most this


def check(params: dict, ctx, sec) -> None:
    if params["frequency"] == "biweekly":
        prod = ctx.policy.product(ctx.ho_products[0])
        if prod.biweekly_step < 0:
            raise sec.error(
                "frequency",
                f"product {prod.code} has no biweekly step",
                "a step with biweekly = true in the policy catalogue",
            )
        vf = prod.steps[prod.biweekly_step].valid_from
        if vf is not None and ctx.effective_from < vf:
            raise sec.error(
                "frequency",
                f"the biweekly step of {prod.code} is valid only from month {vf}",
                "effective_from on or after the step's valid_from",
            )


def pack(params: dict, ctx) -> Packed:
    return Packed(
        f={F_MAX_CLEANING: params["max_cleaning_minutes_w"]},
        i={
            I_FREQUENCY: FREQUENCIES.index(params["frequency"]),
            I_CLEANING_MINUTES: params["cleaning_minutes"],
            I_REQUIRE_FLAGS: sum(1 << FLAGS.index(f) for f in params["require_flags"]),
        },
    )


SPEC = Primitive(
    name="set_frequency",
    doc=(
        "eligible household-help clients get cleaning at another frequency"
        " (e.g. once per two weeks)"
    ),
    moments=("intake", "reindication"),
    params=(
        Param("frequency", "choice", "the new frequency", choices="frequencies"),
        Param(
            "cleaning_minutes",
            "number",
            "cleaning minutes after the change (per two weeks when biweekly)",
            unit="minutes",
            lo=0,
            hi=10000,
            integer=True,
        ),
        Param(
            "max_cleaning_minutes_w",
            "number",
            "eligible when cleaning is at most this",
            unit="minutes/week",
            lo=0.0,
            hi=10000.0,
        ),
        Param(
            "require_flags",
            "names",
            "client flags required to be eligible",
            default=[],
            choices="flags",
        ),
    ),
    pack=pack,
    check=check,
    needs_ho=True,
)


@jit
def eligible(S, P, c, a, r):
    rule = P.rules[r]
    s = S.slots[a]
    req = rule.i[I_REQUIRE_FLAGS]
    if s.frequency == rule.i[I_FREQUENCY] or (S.clients[c].flags & req) != req:
        return False
    return (
        not s.minutes[T_CLEANING] > rule.f[F_MAX_CLEANING]
    )  # cleaning above the norm: not eligible


@jit
def due(S, P, a, r, m, seq):
    """Only an eligible slot is touched."""
    return eligible(S, P, np.int64(S.slots[a].owner), a, r)


@jit
def act(S, P, B, ch, c, a, r, m, t, g, w, seq, moment):
    if eligible(S, P, c, a, r) and standing(S, P, B, ch, c, a, r, m, t, g, w, seq):
        s = S.slots[a]
        freq = P.rules[r].i[I_FREQUENCY]
        old_w = np.int64(s.minutes[T_CLEANING])
        s.frequency = freq
        s.minutes[T_CLEANING] = P.rules[r].i[I_CLEANING_MINUTES]
        new_w = (
            np.int64(s.minutes[T_CLEANING]) // 2 if freq == 1 else np.int64(s.minutes[T_CLEANING])
        )
        reprice(S, P, B, ch, c, a, r, t, g, EV_FREQUENCY, old_w - new_w)


@jit
def would_act(S, P, c, a, r, m, t, g, seq, moment):
    return eligible(S, P, c, a, r) and stands(S, P, r, c, seq)
