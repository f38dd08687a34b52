"""shift_intake: at intake, a share of the in-scope new arrangements get another product or a
lower step (`to`, per product in scope), and household help fewer minutes (`minutes_factor`):
referral through a hub to lighter care, reablement before household help. Decided per
arrangement with one keyed draw (every new arrangement in scope draws, exempt or not)."""

import numpy as np

from engine.model.jit import jit
from engine.model.layout import EV_SHIFTED
from engine.model.primitives.common import (
    moves_slot,
    reprice,
    retarget,
    slot_in_share,
    standing,
    stands,
)
from engine.model.primitives.spec import Packed, Param, Primitive
from engine.model.primitives.targets import check_targets, pack_targets
from engine.model.rng import D_SHIFT

F_SHARE = 0  # share of in-scope new arrangements shifted
F_MINUTES = 1  # factor on a household-help arrangement's minutes when shifted


def check(params: dict, ctx, sec) -> None:
    check_targets(params, ctx, sec, every_product=False)


def pack(params: dict, ctx) -> Packed:
    step_to, prod_to = pack_targets(params, ctx)
    return Packed(
        f={F_SHARE: params["share"], F_MINUTES: params["minutes_factor"]},
        step_to=step_to,
        prod_to=prod_to,
    )


SPEC = Primitive(
    name="shift_intake",
    doc=(
        "at intake a share of new in-scope arrangements get another product or a lower step"
        " (household help: fewer minutes)"
    ),
    moments=("intake",),
    params=(
        Param("share", "share", "share of the in-scope new arrangements shifted"),
        Param(
            "to",
            "table",
            "per product in scope: a step code, or { product, step } (same domain);"
            " a product not named keeps its product and step",
            default={},
        ),
        Param(
            "minutes_factor",
            "number",
            "household help: factor on every task's weekly minutes when shifted",
            unit="factor",
            default=1.0,
            lo=0.0,
            hi=1.0,
        ),
    ),
    pack=pack,
    check=check,
    leaves=False,
)


@jit
def chosen(S, P, a, r, seq):
    return slot_in_share(S, P, a, r, seq, D_SHIFT, P.rules[r].f[F_SHARE])


@jit
def changes(S, P, a, r):
    """Would a shift change the slot (a target other than its own, or fewer minutes)?"""
    s = S.slots[a]
    if moves_slot(S, P, a, r):
        return True
    if P.products[s.product].ho and P.rules[r].f[F_MINUTES] < 1.0:
        for k in range(s.minutes.shape[0]):
            if s.minutes[k] > 0:
                return True
    return False


@jit
def act(S, P, B, ch, c, a, r, m, t, g, w, seq, moment):
    if not changes(S, P, a, r) or not chosen(S, P, a, r, seq):
        return
    if not standing(S, P, B, ch, c, a, r, m, t, g, w, seq):
        return
    s = S.slots[a]
    removed = 0
    if P.products[s.product].ho:
        f = P.rules[r].f[F_MINUTES]
        for k in range(s.minutes.shape[0]):
            new = np.int16(np.floor(np.float64(s.minutes[k]) * f + 0.5))
            removed += s.minutes[k] - new
            s.minutes[k] = new
    retarget(S, P, a, r)
    s.planned_end = m + P.products[s.product].ind
    reprice(S, P, B, ch, c, a, r, t, g, EV_SHIFTED, removed)


@jit
def would_act(S, P, c, a, r, m, t, g, seq, moment):
    return changes(S, P, a, r) and chosen(S, P, a, r, seq) and stands(S, P, r, c, seq)
