"""reindication_policy: the reindication outcome of in-scope arrangements changes ("enough
is good enough"): more ends and step-downs taken from `continue`, fewer step-ups (their
mass to `continue`), or the four outcome probabilities replaced (`outcomes`); and new
indications run shorter (`indication_factor`, at intake and reindication).

The outcome is adjusted where the kernel draws it (engine.model.hooks.reind_outcome,
`adjust_reindication` here), with the same keyed draw as the baseline's: the added ends and
step-downs are the top of the draw's continue interval, the step-ups turned into
continuations the top of its step-up interval, so draw by draw care only falls as the rule
gets stronger, and the rule never turns an end into a continuation."""

import numpy as np

from engine.core.domain import REIND_OUTCOMES
from engine.model.jit import jit
from engine.model.layout import EV_SHORTENED
from engine.model.primitives.common import book_event, standing, stands
from engine.model.primitives.spec import Packed, Param, Primitive

F_END_ADD, F_STEP_DOWN_ADD, F_STEP_UP_FACTOR, F_IND_FACTOR = 0, 1, 2, 3
F_C0, F_C1, F_C2 = 4, 5, 6  # replaced outcome probabilities, cumulative
I_REPLACE = 0  # 1: F_C0..F_C2 replace the product's own


def check(params: dict, ctx, sec) -> None:
    out = params["outcomes"]
    if not out:
        return
    if set(out) != set(REIND_OUTCOMES) or any(
        isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1
        for v in out.values()
    ):
        raise sec.error("outcomes", f"{out!r}", "a share for each of " + ", ".join(REIND_OUTCOMES))
    if abs(sum(out.values()) - 1.0) > 1e-9:
        raise sec.error(
            "outcomes", f"shares add up to {sum(out.values()):.6g}", "shares adding up to 1"
        )


def pack(params: dict, ctx) -> Packed:
    out = params["outcomes"]
    cum = np.cumsum([out.get(k, 0.0) for k in REIND_OUTCOMES])[:3] if out else [0.0, 0.0, 0.0]
    return Packed(
        f={
            F_END_ADD: params["end_add"],
            F_STEP_DOWN_ADD: params["step_down_add"],
            F_STEP_UP_FACTOR: params["step_up_factor"],
            F_IND_FACTOR: params["indication_factor"],
            F_C0: float(cum[0]),
            F_C1: float(cum[1]),
            F_C2: float(cum[2]),
        },
        i={I_REPLACE: int(bool(out))},
    )


SPEC = Primitive(
    name="reindication_policy",
    doc=(
        "at reindication more ends and step-downs, fewer step-ups (or the outcome probabilities"
        " replaced); new indications run shorter"
    ),
    moments=("intake", "reindication"),
    params=(
        Param(
            "end_add",
            "share",
            "added to the probability of ending, taken from continue",
            unit="share (pp / 100)",
            default=0.0,
        ),
        Param(
            "step_down_add",
            "share",
            "added to the probability of a step down, taken from continue",
            unit="share (pp / 100)",
            default=0.0,
        ),
        Param(
            "step_up_factor",
            "number",
            "factor on the probability of a step up (the rest continues)",
            unit="factor",
            default=1.0,
            lo=0.0,
            hi=1.0,
        ),
        Param(
            "indication_factor",
            "number",
            "factor on the length of a new indication (intake and reindication)",
            unit="factor",
            default=1.0,
            lo=0.05,
            hi=1.0,
        ),
        Param(
            "outcomes",
            "table",
            "replaces the outcome probabilities: continue, step_down, step_up, end (adding to 1);"
            " the shifts above apply after",
            default={},
        ),
    ),
    pack=pack,
    check=check,
    leaves=False,
)


@jit
def adjust_reindication(S, P, a, r, st):
    """Rule r's adjustment added to the accumulated one st = (E, D, F, replace, q0, q1, q2)
    (engine.model.hooks.adjusted_outcome: E more ends and D more step-downs taken from the
    top of the continue interval, a factor F on step-ups, or the outcome probabilities q
    replaced)."""
    f = P.rules[r].f
    rep = st[3]
    q0, q1, q2 = st[4], st[5], st[6]
    if P.rules[r].i[I_REPLACE] == 1:
        rep = 1.0
        q0, q1, q2 = f[F_C0], f[F_C1], f[F_C2]
    return (
        st[0] + f[F_END_ADD],
        st[1] + f[F_STEP_DOWN_ADD],
        st[2] * f[F_STEP_UP_FACTOR],
        rep,
        q0,
        q1,
        q2,
    )


@jit
def new_end(S, P, a, r, m):
    """The planned end of the slot's new indication under the factor (at least a month)."""
    s = S.slots[a]
    n = np.int64(s.planned_end) - m
    return m + max(1, np.int64(np.floor(np.float64(n) * P.rules[r].f[F_IND_FACTOR] + 0.5)))


@jit
def act(S, P, B, ch, c, a, r, m, t, g, w, seq, moment):
    """The shorter indication (the outcome was adjusted before it was drawn)."""
    s = S.slots[a]
    if not (
        P.rules[r].f[F_IND_FACTOR] < 1.0 and s.start == m and new_end(S, P, a, r, m) < s.planned_end
    ):
        return
    if standing(S, P, B, ch, c, a, r, m, t, g, w, seq):
        s.planned_end = new_end(S, P, a, r, m)
        book_event(P, B, ch, r, EV_SHORTENED, g, s.product, t, 0, 0)


@jit
def would_act(S, P, c, a, r, m, t, g, seq, moment):
    s = S.slots[a]
    return (
        P.rules[r].f[F_IND_FACTOR] < 1.0
        and s.start == m
        and new_end(S, P, a, r, m) < s.planned_end
        and stands(S, P, r, c, seq)
    )
