"""Cost accrual and flows (step 5 of the month): costs booked per segment of months in
which nothing happened to the client, flows per domain and group, and clients served per
half-year and year (counted once per period, in the group of their first active month).
"""

from __future__ import annotations

import numpy as np

from engine.core.domain import (
    JEUGD,
    R_AGE,
    S_ACTIVE,
    WMO,
)
from engine.model.arrangement import (
    U,
)
from engine.model.frame import frame
from engine.model.hooks import segment_events
from engine.model.jit import jit
from engine.model.layout import (
    A_ACTIVE,
    A_GROSS,
    A_OC,
    C_IN_NEW,
    C_IN_TRANSFER,
    C_OUT0,
    SEG,
    SEG_NEXT,
    W_ACTIVE,
    W_HALF,
    W_LAST,
    W_OCSLOT,
    W_PREV,
    W_REASON,
    W_S0,
    W_YEAR,
    W_YEAR_TOT,
    W_YEARS,
)


@jit
def book_flows(S, P, B, ch, c, m, t, active_d0, active_d1, g_wmo, g_youth, w):
    """5b. The client's flows per domain and group, and clients served per half-year and
    year (counted in the group of their first active month in the period). Stocks follow
    from the opening stock and the flows (`stocks_from_flows`): nothing to book for a client
    who stays."""
    start = P.run[0].start
    for d in range(2):
        now = -1
        if d == WMO and active_d0:
            now = g_wmo
        elif d == JEUGD and active_d1:
            now = g_youth
        prev = w[W_PREV + d]
        if prev != now:
            if prev >= 0:
                r = w[W_REASON + d] if now < 0 else R_AGE
                if r == 0:
                    r = R_AGE
                B.cli[U(ch), U(d), U(prev), U(t), U(C_OUT0 + r)] += 1
            if now >= 0:
                if prev >= 0 or w[W_PREV + 1 - d] >= 0:
                    B.cli[U(ch), U(d), U(now), U(t), C_IN_TRANSFER] += 1
                else:
                    B.cli[U(ch), U(d), U(now), U(t), C_IN_NEW] += 1
            w[W_PREV + d] = now
        if now < 0:
            continue
        # half-year h = m // 6 - half0, counted from the run's first half-year (m may be < 0)
        hm = U(start % 6) + U(t)
        # a client who stays was counted for this half-year and year in an earlier month,
        # unless the month opens a new half-year or the run
        if prev != now or t == 0 or hm % U(6) == U(0):
            h = np.int64(hm // U(6))
            if w[W_HALF + d] != h:
                w[W_HALF + d] = h
                B.served_half[U(ch), U(h), U(d), U(now)] += 1
            y = np.int64((U(start % 12) + U(t)) // U(12))
            if w[W_YEAR + d] != y:
                w[W_YEAR + d] = y
                B.served_year[U(ch), U(y), U(d), U(now)] += 1


@jit
def served_skipped(P, B, ch, t, w):
    """Keyed draws: the half-years and years that began in the months skipped since the last
    month stepped (w[W_LAST] + 1 .. t - 1). The client stayed in its groups throughout, so
    it is counted as served in them, as `book_flows` would have counted it in their first
    month."""
    tp = w[W_LAST]
    if t - tp < 2:
        return
    start = P.run[0].start
    for d in range(2):
        g = w[W_PREV + d]
        if g < 0:
            continue
        h_hi = (start % 6 + t - 1) // 6  # the half-year of month t - 1
        for h in range(max((start % 6 + tp) // 6 + 1, w[W_HALF + d] + 1), h_hi + 1):
            B.served_half[U(ch), U(h), U(d), U(g)] += 1
            w[W_HALF + d] = h
        y_hi = (start % 12 + t - 1) // 12
        for y in range(max((start % 12 + tp) // 12 + 1, w[W_YEAR + d] + 1), y_hi + 1):
            B.served_year[U(ch), U(y), U(d), U(g)] += 1
            w[W_YEAR + d] = y


@jit
def open_segments(S, P, t, lo, hi, g_wmo, g_youth, w, hk):
    """5a. A cost segment per active slot from month t: what its months will cost as long as
    nothing happens to the client (group, step, weekly cents), which domains the client is
    active in (W_ACTIVE), and the slot that pays the own contribution: the first active one
    whose product carries it."""
    s0 = U(w[W_S0])
    d0 = 0
    d1 = 0
    ocs = -1
    for a in range(lo, hi):
        k = a - lo
        e = s0 + U(SEG) * k
        s = S.slots[a]
        if s.status == S_ACTIVE:
            pr = P.products[s.product]
            g = g_wmo
            if pr.domain == WMO:
                d0 = 1
            else:
                d1 = 1
                g = g_youth
            if ocs < 0 and pr.own:
                ocs = np.int64(k)
            hk[e] = U(t + 1)
            hk[e + U(1)] = U(g)
            hk[e + U(2)] = U(s.step)
            hk[e + U(3)] = U(np.int64(s.weekly_cents))
            hk[e + U(4)] = U(s.product)
        else:
            hk[e] = U(0)
    w[W_ACTIVE + WMO] = d0
    w[W_ACTIVE + JEUGD] = d1
    w[W_OCSLOT] = ocs


@jit
def flush_segments(S, P, B, ch, t1, lo, hi, w, seq, hk):
    """5b. Book the open cost segments' months, t0 .. t1 - 1, and close them: per month the
    weekly amount x price index x days / 7 (`P.month_scale[t]`), rounded once to cents; the
    own contribution (the month's amount, at most the gross) on the paying slot; in a
    multi-combination pass the totals per budget year (w[W_YEAR_TOT:]). The months lie side
    by side in the bins, so the usual segment is one tight loop over neighbouring cells. Rules
    with events in months the kernel did not step book them here (`hooks.segment_events`),
    asked only for a segment that reaches the month the hook last named for the slot (none
    falls before it; kept in the key array from the slot's last segment that asked)."""
    s0 = U(w[W_S0])
    ocs = w[W_OCSLOT]
    uch = U(ch)
    R = P.run[0]
    scale = P.month_scale
    month_oc = P.month_oc
    arr = B.arr
    slow = R.trace or w[W_YEARS] != 0
    for k in range(hi - lo):
        e = s0 + U(SEG) * k
        t0 = np.int64(hk[e]) - 1
        if t0 < 0:
            continue
        hk[e] = U(0)
        a = lo + k
        up = hk[e + U(4)]  # the product in these months (a rule may have changed it since)
        ug = hk[e + U(1)]
        us = hk[e + U(2)]
        wc = np.float64(np.int64(hk[e + U(3)]))
        for t in range(t0, t1):
            gross = np.int64(np.floor(wc * scale[U(t)] + 0.5))
            arr[uch, ug, up, us, A_ACTIVE, U(t)] += 1
            arr[uch, ug, up, us, A_GROSS, U(t)] += gross
        if (
            R.segment_rules > 0
            and R.events
            and P.gates[U(t0 + 1), up].next_seg < t1
            and np.int64(hk[e + U(SEG_NEXT)]) - 1 < t1  # 0 (not asked yet) is -1
        ):
            nxt = segment_events(
                frame(S, P, B, w, seq), ch, a, np.int64(up), t0, t1, np.int64(ug), np.int64(us)
            )
            hk[e + U(SEG_NEXT)] = U(nxt + 1)
        own = np.int64(k) == ocs
        if own:
            for t in range(t0, t1):
                gross = np.int64(np.floor(wc * scale[U(t)] + 0.5))
                oc_left = month_oc[U(t)]
                if oc_left > 0:
                    arr[uch, ug, up, us, A_OC, U(t)] += min(oc_left, gross)
        if slow:
            for t in range(t0, t1):
                ut = U(t)
                gross = np.int64(np.floor(wc * scale[ut] + 0.5))
                if R.trace:
                    B.trace_cost[a, ut] = gross
                    B.trace_step[a, ut] = us
                if w[W_YEARS]:
                    y2 = U(W_YEAR_TOT) + U(2) * ((U(R.start % 12) + ut) // U(12))
                    w[y2] += gross
                    oc_left = month_oc[ut]
                    if own and oc_left > 0:
                        w[y2 + U(1)] += min(oc_left, gross)
