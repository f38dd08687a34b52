"""The queue's place in a coupled client's month (step 0b, after arrival, before the exits):
what the month-outer driver decided for the client's waiting slots takes effect.

- a waiting slot given a place this month (bit W_Q_ADMIT) starts its indication now: its
  interim arrangement ends (R_ADMITTED, not an outflow: the client stays in its domain) and
  the slot starts as at intake (`activate`, the intake rules included);
- a client who gives up waiting this month (bit W_Q_LEAVE) withdraws the request: the slot
  ends (R_GAVE_UP) and the interim arrangement goes on as ordinary care.

Leaving the queue otherwise needs nothing here: a waiting client's interim arrangement is
an ordinary arrangement, so its goal, its reindication, the client's death, moving away and
transfer to the Wlz end it as usual, and the driver takes the request out of the queue for
that reason (engine.model.month_outer).
"""

from __future__ import annotations

import numpy as np

from engine.core.domain import R_ADMITTED, R_GAVE_UP, S_ACTIVE, S_ENDED, S_WAITING
from engine.model.arrangement import end_arrangement
from engine.model.jit import jit_call, jit_once
from engine.model.layout import W_Q_ADMIT, W_Q_LEAVE, W_QUEUE, W_REASON
from engine.model.slots import activate, count_active


@jit_once
def queue_step(S, P, B, ch, c, m, t, w, seq):
    """0b in the month step: nothing outside the month-outer driver (W_QUEUE 0: one load);
    there, `queue_month`, and the client's domains again when a slot started or ended."""
    if w[W_QUEUE] == 0 or not queue_month(S, P, B, ch, c, m, t, w, seq):
        return False
    count_active(S, P, c, w)
    return True


@jit_call
def queue_month(S, P, B, ch, c, m, t, w, seq):
    """0b. The driver's decisions for client c's waiting slots this month (see the module).
    Returns whether an arrangement started or ended."""
    cl = S.clients[c]
    lo = cl.arr_lo
    acted = False
    for a in range(lo, cl.arr_hi):
        if S.slots[a].status != S_WAITING:
            continue
        k = a - lo
        if (w[W_Q_ADMIT] >> k) & 1:
            interim = a + 1
            if S.slots[interim].status == S_ACTIVE:
                d = P.products[S.slots[interim].product].domain
                keep = w[W_REASON + d]
                end_arrangement(S, P, B, ch, c, interim, m, t, R_ADMITTED, w)
                w[W_REASON + d] = keep  # not a reason to leave the domain
            activate(S, P, B, ch, c, np.int64(a), m, t, w, seq)
            acted = True
        elif (w[W_Q_LEAVE] >> k) & 1:
            s = S.slots[a]
            s.status = S_ENDED
            s.end_month = m
            s.end_reason = R_GAVE_UP
    return acted
