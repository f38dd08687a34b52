"""transfer_out: at reindication a share of the in-scope clients (with the required flags)
leaves the domain to the Wlz: every arrangement of theirs in the domain ends (reason wlz).
Drawn per reindication (keyed on the arrangement and its indication number), so a client
who stays meets the same chance at the next reindication."""

from engine.core.domain import FLAGS, R_WLZ, S_ACTIVE
from engine.model.arrangement import end_arrangement
from engine.model.jit import jit
from engine.model.layout import AFF_ENDED, EV_WLZ_EXIT
from engine.model.primitives.common import book_event, mark_affected, standing, stands
from engine.model.primitives.spec import Packed, Param, Primitive
from engine.model.rng import D_TRANSFER, draw

F_SHARE = 0
I_REQUIRE_FLAGS = 0


def pack(params: dict, ctx) -> Packed:
    return Packed(
        f={F_SHARE: params["share"]},
        i={I_REQUIRE_FLAGS: sum(1 << FLAGS.index(f) for f in params["require_flags"])},
    )


SPEC = Primitive(
    name="transfer_out",
    doc="at reindication a share of in-scope clients leaves the domain to the Wlz",
    moments=("reindication",),
    params=(
        Param(
            "share",
            "share",
            "share of in-scope reindications at which the client leaves",
            unit="share per reindication",
        ),
        Param("require_flags", "names", "client flags required", default=[], choices="flags"),
    ),
    pack=pack,
    leaves=False,
)


@jit
def chosen(S, P, c, a, r, seq):
    rule = P.rules[r]
    req = rule.i[I_REQUIRE_FLAGS]
    if (S.clients[c].flags & req) != req or rule.f[F_SHARE] <= 0.0:
        return False
    R = P.run[0]
    s = S.slots[a]
    counter = rule.key * 64 + (s.ind_no & 63)
    return draw(R.rng_mode, seq, R.keys, D_TRANSFER, s.aid, counter) < rule.f[F_SHARE]


@jit
def act(S, P, B, ch, c, a, r, m, t, g, w, seq, moment):
    if chosen(S, P, c, a, r, seq) and standing(S, P, B, ch, c, a, r, m, t, g, w, seq):
        d = P.products[S.slots[a].product].domain
        cl = S.clients[c]
        for b in range(cl.arr_lo, cl.arr_hi):
            sb = S.slots[b]
            if sb.status == S_ACTIVE and P.products[sb.product].domain == d:
                book_event(P, B, ch, r, EV_WLZ_EXIT, g, sb.product, t, sb.weekly_cents, 0)
                end_arrangement(S, P, B, ch, c, b, m, t, R_WLZ, w)
        mark_affected(S, P, B, ch, c, r, g, AFF_ENDED)


@jit
def would_act(S, P, c, a, r, m, t, g, seq, moment):
    return chosen(S, P, c, a, r, seq) and stands(S, P, r, c, seq)
