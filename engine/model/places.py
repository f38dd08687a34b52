"""Where a capacity-bound indication asks for a place (engine.model.slots.activate).

`P.cap` says which products are capacity-bound in this run (`bound`, per product) and which
clients the month-outer driver steps (`coupled`, per client; engine.model.month_outer). Both
are all zero (no client coupled) in a run without capacity, and the client-outer kernel never
looks further: its work array's W_QUEUE is 0.

In the month-outer driver, a slot of a bound product that would start (intake at arrival, a
follow-up at 18, any activation) asks for a place instead (`request_place`): the dry pass
lets it start and records the request; the real pass lets it start only when the queue gave
it a place this month (bit W_Q_ADMIT), otherwise the slot waits (S_WAITING) and its interim
arrangement, reserved in the slot after it (engine.model.capacity), starts in its stead.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from engine.core.domain import S_WAITING, SLOT_INTERIM
from engine.model.jit import jit_call
from engine.model.layout import Q_DRY, W_Q_ADMIT, W_Q_REQ, W_QUEUE

Cap = namedtuple("Cap", ["bound", "coupled"])


def no_capacity(n_products: int) -> Cap:
    """A run without capacity: no product bound, no client coupled (the same array types as
    with capacity: one compiled kernel for both)."""
    return Cap(np.zeros(n_products, dtype=np.uint8), np.zeros(0, dtype=np.uint8))


@jit_call
def request_place(S, c, a, m, w):
    """Slot a of client c (a capacity-bound product) would start at month m: record the
        request (bit a - first slot of W_Q_REQ) and return the slot that starts: a itself when the
        queue gave it a place this month (or in the dry pass), else its interim arrangement (the
        next slot), while a waits. A slot without an interim slot after it (moved onto a bound
    product by a rule, not reserved before the run) starts without asking."""
    if a + 1 >= S.clients[c].arr_hi or S.slots[a + 1].kind != SLOT_INTERIM:
        return a  # no interim reserved: a slot a rule moved onto the product starts as ever
    k = a - S.clients[c].arr_lo
    w[W_Q_REQ] |= np.int64(1) << k
    if w[W_QUEUE] == Q_DRY or (w[W_Q_ADMIT] >> k) & 1:
        return a
    S.slots[a].status = S_WAITING
    S.slots[a].start = m
    return a + 1
