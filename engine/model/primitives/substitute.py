"""substitute: at reindication (and/or intake) a share of the in-scope arrangements is
replaced by another product and step (`to`, per product in scope): protected living by
support at home, individual support by group support. Decided once per arrangement with one
keyed draw (the same draw at every reindication: the share is a share of arrangements). The
new indication runs the new product's indication length; its goal waiting time is drawn
again (a new spell, engine.model.slots.slot_events)."""

from engine.model.jit import jit
from engine.model.layout import EV_SUBSTITUTED
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
from engine.model.rng import D_SUBSTITUTE

F_SHARE = 0  # share of in-scope arrangements replaced


def check(params: dict, ctx, sec) -> None:
    check_targets(params, ctx, sec, every_product=True)


def pack(params: dict, ctx) -> Packed:
    step_to, prod_to = pack_targets(params, ctx)
    return Packed(f={F_SHARE: params["share"]}, step_to=step_to, prod_to=prod_to)


SPEC = Primitive(
    name="substitute",
    doc="a share of in-scope arrangements is replaced by another product and step",
    moments=("intake", "reindication"),
    params=(
        Param("share", "share", "share of the in-scope arrangements replaced"),
        Param(
            "to",
            "table",
            "per product in scope: { product, step } it is replaced by (same domain), or a step",
        ),
    ),
    pack=pack,
    check=check,
    leaves=False,
)


@jit
def chosen(S, P, a, r, seq):
    return slot_in_share(S, P, a, r, seq, D_SUBSTITUTE, P.rules[r].f[F_SHARE])


@jit
def act(S, P, B, ch, c, a, r, m, t, g, w, seq, moment):
    if (
        moves_slot(S, P, a, r)
        and chosen(S, P, a, r, seq)
        and standing(S, P, B, ch, c, a, r, m, t, g, w, seq)
    ):
        s = S.slots[a]
        retarget(S, P, a, r)
        s.planned_end = m + P.products[s.product].ind
        reprice(S, P, B, ch, c, a, r, t, g, EV_SUBSTITUTED, 0)


@jit
def would_act(S, P, c, a, r, m, t, g, seq, moment):
    return moves_slot(S, P, a, r) and chosen(S, P, a, r, seq) and stands(S, P, r, c, seq)
