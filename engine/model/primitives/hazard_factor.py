"""hazard_factor: the monthly hazard of reaching the goal (outflow: to work, to one's own
home) of in-scope arrangements is multiplied by `factor` from effective_from (until
effective_until), optionally only after `min_months_in_care` months of continuous support.

It acts where the kernel draws the goal waiting time (engine.model.hooks.goal_wait): the
hazard is piecewise constant over spells that start when the factor starts or stops, and each
spell's waiting time is drawn afresh from its first month, counter that month, exactly as
the kernel does for any spell change (memoryless: exact). An arrangement whose waiting time
ends before the first change meets the same month as in the baseline. The scope (product,
step, group, district) is read when the waiting time is drawn: when an arrangement first
becomes eligible, and again after a substitution."""

from engine.model.jit import jit
from engine.model.layout import NO_END
from engine.model.primitives.spec import Packed, Param, Primitive

F_FACTOR = 0
I_MIN_MONTHS = 0


def pack(params: dict, ctx) -> Packed:
    return Packed(f={F_FACTOR: params["factor"]}, i={I_MIN_MONTHS: params["min_months_in_care"]})


SPEC = Primitive(
    name="hazard_factor",
    doc="multiplies the monthly goal (outflow) hazard of in-scope arrangements",
    moments=("monthly",),
    params=(
        Param(
            "factor", "number", "factor on the monthly goal hazard", unit="factor", lo=0.0, hi=20.0
        ),
        Param(
            "min_months_in_care",
            "number",
            "only after this many months of continuous support",
            unit="months",
            default=0,
            lo=0,
            hi=600,
            integer=True,
        ),
    ),
    pack=pack,
    leaves=False,
)


@jit
def goal_factor(S, P, a, r, m):
    """(factor in force at month m, the next month it changes (NO_END: never), whether it
    differs from 1 at m or any later month): read by the kernel's goal waiting time."""
    rule = P.rules[r]
    f = rule.f[F_FACTOR]
    since = S.slots[a].since
    lo = max(rule.eff_from, since + rule.i[I_MIN_MONTHS])
    hi = rule.eff_until
    if f == 1.0 or m >= hi:
        return 1.0, NO_END, False
    if m < lo:
        return 1.0, lo, True
    return f, hi, True


# The factor acts through the goal waiting time, not on a slot at a moment: `act` is the
# moment hook's no-op (the rule is never due there), `would_act` has nothing to add.
@jit
def due(S, P, a, r, m, seq):
    return False


@jit
def next_due(S, P, a, r, lo, hi, seq):
    return hi


@jit
def act(S, P, B, ch, c, a, r, m, t, g, w, seq, moment):
    return


@jit
def would_act(S, P, c, a, r, m, t, g, seq, moment):
    return False
