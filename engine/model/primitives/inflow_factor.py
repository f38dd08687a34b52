"""inflow_factor: admission from the inflow pool is scaled for in-scope clients (an arrival
whose first arrangements include one in scope: product, step, group, district) from
effective_from: the keyed admission draw u is compared with `factor` x the admission
probability (engine.model.hooks.admit). A factor below 1 admits a subset of the baseline's
arrivals, never another client; above 1 admits more of the pool (capped at 1)."""

from engine.model.jit import jit
from engine.model.primitives.spec import Packed, Param, Primitive

F_FACTOR = 0


def pack(params: dict, ctx) -> Packed:
    return Packed(f={F_FACTOR: params["factor"]})


SPEC = Primitive(
    name="inflow_factor",
    doc="scales admission from the inflow pool for in-scope groups, products or districts",
    moments=("intake",),
    params=(
        Param(
            "factor",
            "number",
            "factor on the admission probability",
            unit="factor",
            lo=0.0,
            hi=10.0,
        ),
    ),
    pack=pack,
    leaves=False,
)


@jit
def admit_factor(S, P, c, r, m):
    return P.rules[r].f[F_FACTOR]


# It acts at admission (engine.model.hooks.admit), before the first indication: nothing to do
# on a slot at intake.
@jit
def act(S, P, B, ch, c, a, r, m, t, g, w, seq, moment):
    return


@jit
def would_act(S, P, c, a, r, m, t, g, seq, moment):
    return False
