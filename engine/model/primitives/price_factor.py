"""price_factor: the price of a class of in-scope arrangements (funding zin or pgb,
subcontracted or not) is multiplied by `factor`: no administration fee on subcontracting,
PGB checks, claims for care not delivered. It acts on the slot's amount factor, so the weekly
amount stays in base-year cents and the month's index applies as before; once per
arrangement (kept across reindications and repricing). New indications at intake and
reindication; existing ones at the `date` moment (effective_from + transition_months)."""

import numpy as np

from engine.model.jit import jit
from engine.model.layout import EV_PRICE
from engine.model.primitives.common import reprice, standing, stands
from engine.model.primitives.spec import Packed, Param, Primitive

F_FACTOR = 0
I_FUNDING = 0  # -1 any, else engine.core.domain.FUNDING index
I_SUBCONTRACTED = 1  # -1 any, 0 not subcontracted, 1 subcontracted
CHOICES = {"any": -1, "zin": 0, "pgb": 1, "yes": 1, "no": 0}


def pack(params: dict, ctx) -> Packed:
    return Packed(
        f={F_FACTOR: params["factor"]},
        i={
            I_FUNDING: CHOICES[params["funding"]],
            I_SUBCONTRACTED: CHOICES[params["subcontracted"]],
        },
    )


SPEC = Primitive(
    name="price_factor",
    doc="multiplies the price of a class of arrangements (funding, subcontracting, product)",
    moments=("intake", "reindication", "date"),
    params=(
        Param("factor", "number", "factor on the weekly amount", unit="factor", lo=0.0, hi=10.0),
        Param(
            "funding",
            "choice",
            "the funding it applies to",
            default="any",
            choices=("any", "zin", "pgb"),
        ),
        Param(
            "subcontracted",
            "choice",
            "subcontracted arrangements only (yes), the others (no), or any",
            default="any",
            choices=("any", "yes", "no"),
        ),
    ),
    pack=pack,
    leaves=False,
)


@jit
def eligible(S, P, a, r):
    """In the class, not yet repriced by this rule, and a factor that changes something."""
    s = S.slots[a]
    rule = P.rules[r]
    fund = rule.i[I_FUNDING]
    sub = rule.i[I_SUBCONTRACTED]
    return (
        rule.f[F_FACTOR] != 1.0
        and S.rule_a[a, r] == 0
        and (fund < 0 or s.funding == fund)
        and (sub < 0 or s.subcontracted == sub)
    )


@jit
def due(S, P, a, r, m, seq):
    """Only a slot of the rule's class that it has not repriced yet: the others are neither
    called nor, at the `date` moment, stepped (a package prices most slots under one rule of
    this kind or another, each rule a class of them, once)."""
    return eligible(S, P, a, r)


@jit
def act(S, P, B, ch, c, a, r, m, t, g, w, seq, moment):
    if eligible(S, P, a, r) and standing(S, P, B, ch, c, a, r, m, t, g, w, seq):
        s = S.slots[a]
        S.rule_a[a, r] = 1
        s.factor = np.float32(np.float64(s.factor) * P.rules[r].f[F_FACTOR])
        reprice(S, P, B, ch, c, a, r, t, g, EV_PRICE, 0)


@jit
def would_act(S, P, c, a, r, m, t, g, seq, moment):
    return eligible(S, P, a, r) and stands(S, P, r, c, seq)
