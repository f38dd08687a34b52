"""weekly_cap: a client's in-scope weekly amounts, summed, are clipped to a ceiling at intake
and reindication, cutting the highest-priced arrangement first. Exceptions (flags, an
approved share) keep their amount; a share leaves to the Wlz instead.

The ceiling is in nominal euros of the month (`indexed = false`: the price index applies to
amounts, not to the ceiling) or in base-year euros (`indexed = true`)."""

import numpy as np

from engine.core.domain import S_ACTIVE
from engine.model.arrangement import bit, domain_group
from engine.model.jit import jit
from engine.model.layout import AFF_REDUCED, EV_CAPPED
from engine.model.primitives.common import (
    book_event,
    client_in_scope,
    in_scope,
    mark_affected,
    standing,
    stands,
)
from engine.model.primitives.spec import Packed, Param, Primitive

F_CAP_CENTS = 0  # the ceiling, cents a week
I_INDEXED = 0  # 1: the ceiling is in base-year cents; 0: nominal (divided by the month's index)


def pack(params: dict, ctx) -> Packed:
    return Packed(
        f={F_CAP_CENTS: params["cap_eur_w"] * 100.0}, i={I_INDEXED: int(params["indexed"])}
    )


SPEC = Primitive(
    name="weekly_cap",
    doc=(
        "the sum of a client's in-scope weekly amounts is clipped to a ceiling,"
        " the highest-priced arrangement cut first"
    ),
    moments=("intake", "reindication"),
    params=(
        Param("cap_eur_w", "number", "the weekly ceiling", unit="EUR/week", lo=0.0, hi=1e9),
        Param(
            "per", "choice", "what the ceiling applies to", default="client", choices=("client",)
        ),
        Param(
            "indexed",
            "bool",
            "true: the ceiling is in base-year euros and grows with the price index",
            default=False,
        ),
    ),
    pack=pack,
)


@jit
def excess_cents(S, P, c, r, t, g):
    """How far the client's in-scope weekly amounts (base-year cents) exceed the ceiling. The
    scope's client part is asked once (`client_in_scope`), then each active slot for its
    product and step."""
    cl = S.clients[c]
    rule = P.rules[r]
    total = 0
    if client_in_scope(S, P, r, c, g):
        for b in range(cl.arr_lo, cl.arr_hi):
            s = S.slots[b]
            if s.status == S_ACTIVE and bit(P.rule_prod[r, s.product].steps, s.step):
                total += s.weekly_cents
    cap = rule.f[F_CAP_CENTS]
    if rule.i[I_INDEXED] == 0:
        cap = (
            cap / P.months[t].price_index
        )  # the cap is in nominal euros; amounts in base-year cents
    return total - np.int64(np.floor(cap + 1e-9))


def client_floor(row, price_index: float) -> int:
    """For the gates (engine.model.params): a client whose active weekly amounts total no more
    than this (base-year cents) in a month of this price index is not over the ceiling, so
    the rule does nothing (`excess_cents`' ceiling, a cent lower against rounding)."""
    cap = float(row["f"][F_CAP_CENTS])
    if row["i"][I_INDEXED] == 0:
        cap = cap / float(price_index)
    return int(np.floor(cap + 1e-9)) - 1


@jit
def due(S, P, a, r, m, seq):
    """Only a client over the ceiling is touched: no call, no standing, no event otherwise."""
    c = np.int64(S.slots[a].owner)
    s = S.slots[a]
    g = domain_group(S, P, c, P.products[s.product].domain, m)
    return excess_cents(S, P, c, r, m - P.run[0].start, g) > 0


@jit
def act(S, P, B, ch, c, a, r, m, t, g, w, seq, moment):
    excess = excess_cents(S, P, c, r, t, g)
    if excess > 0 and standing(S, P, B, ch, c, a, r, m, t, g, w, seq):
        cl = S.clients[c]
        while excess > 0:
            top = -1
            for b in range(cl.arr_lo, cl.arr_hi):
                if (
                    S.slots[b].status == S_ACTIVE
                    and in_scope(S, P, r, b, g)
                    and S.slots[b].weekly_cents > 0
                ) and (top < 0 or S.slots[b].weekly_cents > S.slots[top].weekly_cents):
                    top = b
            if top < 0:
                break
            cut = min(excess, np.int64(S.slots[top].weekly_cents))
            S.slots[top].weekly_cents -= cut
            excess -= cut
            book_event(P, B, ch, r, EV_CAPPED, g, S.slots[top].product, t, cut, 0)
        mark_affected(S, P, B, ch, c, r, g, AFF_REDUCED)


@jit
def would_act(S, P, c, a, r, m, t, g, seq, moment):
    return excess_cents(S, P, c, r, t, g) > 0 and stands(S, P, r, c, seq)
