"""The month-outer driver: the coupled clients (engine.model.capacity) stepped month by month,
the queue for each capacity pool resolved between the months.

Each coupled client keeps its own work rows between months (`Coupled.work`, `.keys`,
`.seq`: what the client-outer kernel keeps per chunk for the one client it steps), so it is
stepped by the same month step (`kernel.step_month`) with the same event stepping. Month t:

1. **dry pass**: every coupled client due this month (its next event, a give-up) is stepped
   with every request granted, into scratch bins, and put back as it was. It tells which
   requests stand at the end of the month (asked this month, or waiting and still there)
   and how much of each pool is held by the others at the end of the month (after their
   exits, goals and ends: a place freed this month is filled this month); a slot a rule
   moved off the pool's product (substitute at intake or reindication) holds no place, and
   a request an intake rule moves off it needs none: it starts at once, outside the queue;
2. **the queue**: per pool, the standing requests in order (month asked, urgency class,
   keyed draw `queue_order` on the request's slot id) get places while the next one fits
   in the free capacity (capacity - held; strict order: nobody passes the one who does not
   fit); with hours, a request needs its weekly minutes;
3. **real pass**: the clients due this month, and those given a place, are stepped for real:
   a request granted starts (at once, or from the queue: engine.model.queue), the others wait
   with their interim arrangement (engine.model.places);
4. the month's queue figures per pool (`stats`, `wait_adm`, `wait_cur`: layout.Q_*).

When no pool ever binds, every request is granted in the month it is made and each coupled
client's trajectory is the client-outer kernel's, bit for bit (tests/model/test_capacity.py).
A request's give-up month is a keyed waiting time (`queue_give_up_wait`, counter 0) from the
month after it joins: the same client meets the same luck in every run.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from engine.core.domain import END_REASONS, R_GAVE_UP, S_ACTIVE, S_ENDED, S_WAITING
from engine.model.accrual import flush_segments, served_skipped
from engine.model.arrangement import U, weekly_base_cents
from engine.model.frame import pin
from engine.model.jit import jit, jit_call, jit_entry
from engine.model.kernel import init_client, most_slots, step_month
from engine.model.layout import (
    MAX_WAIT,
    Q_ADMITTED,
    Q_AT_ONCE,
    Q_CAPACITY,
    Q_DRY,
    Q_FREE,
    Q_HELD_END,
    Q_INTERIM,
    Q_INTERIM_CENTS,
    Q_JOINED,
    Q_LEFT0,
    Q_OCCUPIED,
    Q_REAL,
    Q_WAIT_END,
    Q_WAIT_START,
    W_FRAME,
    W_LAST,
    W_NEXT,
    W_Q_ADMIT,
    W_Q_LEAVE,
    W_Q_REQ,
    W_QUEUE,
    W_RULES,
    W_TOUCHED,
    W_YEARS,
)
from engine.model.rng import (
    D_GIVE_UP,
    D_QUEUE_ORDER,
    MODE_KEYED,
    bits_from_entity_key,
    entity_key,
    months_from_log,
    uniform_from_entity_key,
)

# qstate of a bound slot
QS_NONE, QS_WAITING, QS_OUT = 0, 1, 2
# left the queue for reason r (an end reason of its interim arrangement): Q_LEFT0 + r - 1;
# gave up: the last (engine.core.domain.QUEUE_LEFT)
Q_LEFT_GAVE_UP = Q_LEFT0 + len(END_REASONS) - 1

Coupled = namedtuple(
    "Coupled",
    [
        "clients",  # [n] client rows, in client order
        "work",  # [n, work size] int64: each client's work row (kernel's w)
        "keys",  # [n, key size] uint64: each client's key row (kernel's hk)
        "seq",  # [n, 8] uint64: each client's sequential stream (kernel's seq)
        "next",  # [n] the next month to step the client
        "done",  # [n] 1: the client has left for good
        "b_lo",  # [n] the client's first bound slot in `bslot`
        "b_hi",  # [n] one past its last
        "bslot",  # [nb] slot rows of the bound slots
        "bpool",  # [nb] their pools
        "qstate",  # [nb] QS_NONE (pending or held), QS_WAITING, QS_OUT (placed or left)
        "join",  # [nb] run month the request joined the queue
        "qkey",  # [nb] its place in the queue (month, urgency, draw)
        "giveup",  # [nb] run month its client gives up waiting
        "demand",  # [nb] units it needs (1 place, or minutes a week)
        "cand",  # [nb] this month: 1 waiting and still there, 2 asked this month
        "admit",  # [nb] this month: 1 given a place
        "sort_k",  # [nb] scratch: keys of a pool's candidates
        "sort_j",  # [nb] scratch: their bound slots
        "cap",  # [pool, month] capacity in units
        "unit",  # [pool] 0 places, 1 minutes a week
        "pprod",  # [pool] its product (a slot a rule moved off it holds no place)
        "hourly",  # [pool] cents an hour of care (minutes of non-household-help products)
        "urgent",  # [pool] client flags that make a request urgent
        "give_up_lh",  # [pool] log(1 - give-up hazard)
        "occ",  # [pool] scratch: units held this month
        "stats",  # [pool, month, field] layout.Q_*
        "wait_adm",  # [pool, month, months waited] requests given a place
        "wait_cur",  # [pool, month, months waited] requests waiting at the end of the month
        "ck_client",  # checkpoint of one client (dry pass): its record
        "ck_slots",  # its slots
        "ck_rc",  # [rules] its rule state
        "ck_ra",  # [slots, rules] its slots' rule state
        "ck_w",  # its work row
        "ck_hk",  # its key row
        "ck_seq",  # its stream
    ],
)


@jit_call
def step_client(S, P, B, c, t, w, seq, hk, mode, lo, hi, birth):
    """The kernel's month step for one coupled client (one compiled copy for both passes)."""
    ch = 0  # the one chunk
    w[W_FRAME] = pin((S, P, w, seq, B))  # the pass's own bins (engine.model.frame)
    alive = step_month(S, P, B, ch, c, t, w, seq, hk, mode, lo, hi, birth)
    w[W_FRAME] = 0
    return alive


@jit_call
def close_client(S, P, B, t, lo, hi, w, seq, hk):
    """Book a coupled client's open cost segments up to month t, outside its month step: with
    the frame pinned, for the rules that book events from a segment (hooks.segment_events)."""
    w[W_FRAME] = pin((S, P, w, seq, B))
    flush_segments(S, P, B, np.int64(t) * 0, t, lo, hi, w, seq, hk)
    w[W_FRAME] = 0


@jit
def slot_units(S, P, Q, a, pool):
    """What a slot holds of its pool: a place, or its weekly minutes (household help: its
    task minutes, halved when biweekly; else its weekly amount / the hourly price)."""
    if Q.unit[pool] == 0:
        return np.int64(1)
    s = S.slots[a]
    if P.products[s.product].ho:
        tot = np.int64(0)
        for k in range(s.minutes.shape[0]):
            tot += np.int64(s.minutes[k])
        return tot // 2 if s.frequency == 1 else tot
    h = Q.hourly[pool]
    return (np.int64(s.weekly_cents) * 60 + h // 2) // h


@jit
def save(S, Q, i, c, lo, hi):
    Q.ck_client[0] = S.clients[c]
    for a in range(lo, hi):
        Q.ck_slots[a - lo] = S.slots[a]
        for r in range(S.rule_a.shape[1]):
            Q.ck_ra[a - lo, r] = S.rule_a[a, r]
    for r in range(S.rule_c.shape[1]):
        Q.ck_rc[r] = S.rule_c[c, r]
    for k in range(Q.work.shape[1]):
        Q.ck_w[k] = Q.work[i, k]
    for k in range(Q.keys.shape[1]):
        Q.ck_hk[k] = Q.keys[i, k]
    for k in range(Q.seq.shape[1]):
        Q.ck_seq[k] = Q.seq[i, k]


@jit
def restore(S, Q, i, c, lo, hi):
    S.clients[c] = Q.ck_client[0]
    for a in range(lo, hi):
        S.slots[a] = Q.ck_slots[a - lo]
        for r in range(S.rule_a.shape[1]):
            S.rule_a[a, r] = Q.ck_ra[a - lo, r]
    for r in range(S.rule_c.shape[1]):
        S.rule_c[c, r] = Q.ck_rc[r]
    for k in range(Q.work.shape[1]):
        Q.work[i, k] = Q.ck_w[k]
    for k in range(Q.keys.shape[1]):
        Q.keys[i, k] = Q.ck_hk[k]
    for k in range(Q.seq.shape[1]):
        Q.seq[i, k] = Q.ck_seq[k]


@jit
def leave_bits(S, Q, i, t):
    """The client's waiting slots whose give-up month is t (bits over its slots)."""
    lo = S.clients[Q.clients[i]].arr_lo
    bits = np.int64(0)
    for j in range(Q.b_lo[i], Q.b_hi[i]):
        if Q.qstate[j] == QS_WAITING and Q.giveup[j] == t:
            bits |= np.int64(1) << (Q.bslot[j] - lo)
    return bits


@jit
def admit_bits(S, Q, i):
    lo = S.clients[Q.clients[i]].arr_lo
    bits = np.int64(0)
    for j in range(Q.b_lo[i], Q.b_hi[i]):
        if Q.admit[j]:
            bits |= np.int64(1) << (Q.bslot[j] - lo)
    return bits


@jit
def queue_key(S, P, Q, j, t):
    """A request's place in the queue: month it joined, urgency class (0: urgent), keyed draw."""
    a = Q.bslot[j]
    c = S.slots[a].owner
    urg = 0 if (S.clients[c].flags & Q.urgent[Q.bpool[j]]) != 0 else 1
    bits = bits_from_entity_key(entity_key(P.run[0].keys[D_QUEUE_ORDER], S.slots[a].aid), 0)
    return (U(t) << U(54)) | (U(urg) << U(53)) | bits


@jit
def _sift(k, j, root, end):
    while True:
        child = 2 * root + 1
        if child > end:
            return
        if child + 1 <= end and (
            k[child] < k[child + 1] or (k[child] == k[child + 1] and j[child] < j[child + 1])
        ):
            child += 1
        if k[root] < k[child] or (k[root] == k[child] and j[root] < j[child]):
            k[root], k[child] = k[child], k[root]
            j[root], j[child] = j[child], j[root]
            root = child
        else:
            return


@jit
def heapsort(k, j, n):
    """Sort the first n (key, index) pairs in place, by key then index (no allocation)."""
    for start in range(n // 2 - 1, -1, -1):
        _sift(k, j, start, n - 1)
    for end in range(n - 1, 0, -1):
        k[0], k[end] = k[end], k[0]
        j[0], j[end] = j[end], j[0]
        _sift(k, j, 0, end - 1)


@jit
def dry_pass(S, P, Bs, Q, t, mode):
    """1. Step the clients due this month with every request granted, note the standing
    requests (`cand`) and the units held (`occ`), and put each client back."""
    m = P.run[0].start + t
    for p in range(Q.occ.shape[0]):
        Q.occ[p] = 0
    for i in range(Q.clients.shape[0]):
        if Q.done[i]:
            continue
        c = Q.clients[i]
        cl = S.clients[c]
        lo = cl.arr_lo
        hi = cl.arr_hi
        leave = leave_bits(S, Q, i, t)
        due = Q.next[i] <= t or leave != 0
        req = np.int64(0)
        if due:
            save(S, Q, i, c, lo, hi)
            w = Q.work[i]
            w[W_QUEUE] = Q_DRY
            w[W_Q_REQ] = 0
            w[W_Q_ADMIT] = 0
            w[W_Q_LEAVE] = leave
            step_client(S, P, Bs, c, t, w, Q.seq[i], Q.keys[i], mode, lo, hi, np.int64(cl.birth))
            req = w[W_Q_REQ]
        for j in range(Q.b_lo[i], Q.b_hi[i]):
            a = Q.bslot[j]
            s = S.slots[a]
            pool = Q.bpool[j]
            Q.cand[j] = 0
            if (req >> (a - lo)) & 1 and s.status == S_ACTIVE and s.start == m:
                if s.product != Q.pprod[pool]:
                    Q.cand[j] = 3  # an intake rule moved it off the product: no place needed
                else:
                    Q.cand[j] = 2
                    Q.demand[j] = slot_units(S, P, Q, a, pool)
            elif s.status == S_ACTIVE and s.product == Q.pprod[pool]:
                Q.occ[pool] += slot_units(S, P, Q, a, pool)
            elif (
                s.status == S_WAITING
                and Q.qstate[j] == QS_WAITING
                and S.slots[a + 1].status == S_ACTIVE
            ):
                Q.cand[j] = 1
        if due:
            restore(S, Q, i, c, lo, hi)


@jit
def resolve(S, P, Q, t):
    """2. Per pool, the standing requests in queue order get places while the next fits."""
    nb = Q.bslot.shape[0]
    for j in range(nb):
        Q.admit[j] = 1 if Q.cand[j] == 3 else 0  # moved off the product at intake: starts
    for pool in range(Q.cap.shape[0]):
        cap = Q.cap[pool, t]
        held = Q.occ[pool]
        free = max(np.int64(0), cap - held)
        Q.stats[pool, t, Q_CAPACITY] = cap
        Q.stats[pool, t, Q_OCCUPIED] = held
        Q.stats[pool, t, Q_FREE] = free
        n = 0
        for j in range(nb):
            if (Q.cand[j] == 1 or Q.cand[j] == 2) and Q.bpool[j] == pool:
                Q.sort_k[n] = queue_key(S, P, Q, j, t) if Q.cand[j] == 2 else Q.qkey[j]
                Q.sort_j[n] = j
                n += 1
        heapsort(Q.sort_k, Q.sort_j, n)
        for r in range(n):
            j = Q.sort_j[r]
            if Q.demand[j] > free:
                break
            free -= Q.demand[j]
            Q.admit[j] = 1


@jit
def book_slot(S, P, Q, j, req, t, m, lo):
    """4. What the real pass did to bound slot j: joined, given a place, left."""
    a = Q.bslot[j]
    s = S.slots[a]
    pool = Q.bpool[j]
    k = a - lo
    if Q.qstate[j] == QS_WAITING:
        if Q.admit[j] and s.status != S_WAITING:
            Q.stats[pool, t, Q_ADMITTED] += 1
            Q.wait_adm[pool, t, min(t - Q.join[j], MAX_WAIT - 1)] += 1
            Q.qstate[j] = QS_OUT
        elif s.status == S_ENDED and s.end_reason == R_GAVE_UP:
            Q.stats[pool, t, Q_LEFT_GAVE_UP] += 1
            Q.qstate[j] = QS_OUT
        elif s.status == S_WAITING and S.slots[a + 1].status != S_ACTIVE:
            leave_with_interim(S, Q, j, t, m)
        return
    if not (req >> k) & 1:
        return
    if Q.cand[j] == 3 and s.status != S_WAITING:  # moved off the product: not a request
        Q.qstate[j] = QS_OUT
        return
    Q.stats[pool, t, Q_JOINED] += 1
    Q.join[j] = t
    Q.qkey[j] = queue_key(S, P, Q, j, t)
    R = P.run[0]
    u = uniform_from_entity_key(entity_key(R.keys[D_GIVE_UP], s.aid), 0)
    Q.giveup[j] = t + months_from_log(u, Q.give_up_lh[pool])
    if s.status == S_WAITING:
        Q.qstate[j] = QS_WAITING
        if Q.demand[j] == 0:  # not seen in the dry pass: what the slot would hold
            s.weekly_cents = weekly_base_cents(S, P, a)
            Q.demand[j] = slot_units(S, P, Q, a, pool)
        if S.slots[a + 1].status != S_ACTIVE:
            leave_with_interim(S, Q, j, t, m)
    else:  # a place at once (it may have ended again this month)
        Q.stats[pool, t, Q_ADMITTED] += 1
        Q.stats[pool, t, Q_AT_ONCE] += 1
        Q.wait_adm[pool, t, 0] += 1
        Q.qstate[j] = QS_OUT


@jit
def leave_with_interim(S, Q, j, t, m):
    """A waiting request whose interim arrangement ended (goal, reindication, death, moving
    away, Wlz, age, a rule) leaves the queue for that reason."""
    a = Q.bslot[j]
    r = S.slots[a + 1].end_reason
    s = S.slots[a]
    s.status = S_ENDED
    s.end_month = m
    s.end_reason = r
    Q.stats[Q.bpool[j], t, Q_LEFT0 + r - 1] += 1
    Q.qstate[j] = QS_OUT


@jit
def real_pass(S, P, B, Q, t, mode):
    """3. Step the clients due this month and those given a place, for real."""
    m = P.run[0].start + t
    for i in range(Q.clients.shape[0]):
        if Q.done[i]:
            continue
        c = Q.clients[i]
        cl = S.clients[c]
        lo = cl.arr_lo
        hi = cl.arr_hi
        leave = leave_bits(S, Q, i, t)
        admit = admit_bits(S, Q, i)
        if not (Q.next[i] <= t or leave != 0 or admit != 0):
            continue
        w = Q.work[i]
        w[W_QUEUE] = Q_REAL
        w[W_Q_REQ] = 0
        w[W_Q_ADMIT] = admit
        w[W_Q_LEAVE] = leave
        alive = step_client(S, P, B, c, t, w, Q.seq[i], Q.keys[i], mode, lo, hi, np.int64(cl.birth))
        for j in range(Q.b_lo[i], Q.b_hi[i]):
            book_slot(S, P, Q, j, w[W_Q_REQ], t, m, lo)
        if not alive:
            Q.done[i] = 1
            close_client(S, P, B, t, U(lo), U(hi), w, Q.seq[i], Q.keys[i])
        else:
            Q.next[i] = w[W_NEXT] if mode == MODE_KEYED else t + 1


@jit
def month_end(S, P, Q, t):
    """4. Waiting at the end of the month (and how long), places held, interim care."""
    scale = P.month_scale
    for j in range(Q.bslot.shape[0]):
        a = Q.bslot[j]
        pool = Q.bpool[j]
        if Q.qstate[j] == QS_WAITING:
            Q.stats[pool, t, Q_WAIT_END] += 1
            Q.wait_cur[pool, t, min(t - Q.join[j], MAX_WAIT - 1)] += 1
            wc = np.float64(S.slots[a + 1].weekly_cents)
            Q.stats[pool, t, Q_INTERIM] += 1
            Q.stats[pool, t, Q_INTERIM_CENTS] += np.int64(np.floor(wc * scale[U(t)] + 0.5))
        elif S.slots[a].status == S_ACTIVE and S.slots[a].product == Q.pprod[pool]:
            Q.stats[pool, t, Q_HELD_END] += slot_units(S, P, Q, a, pool)
    if t + 1 < Q.stats.shape[1]:
        for pool in range(Q.stats.shape[0]):
            Q.stats[pool, t + 1, Q_WAIT_START] = Q.stats[pool, t, Q_WAIT_END]


@jit_entry
def run_coupled_jit(S, P, B, Bs, Q, mode):
    """Every coupled client from its first month to the run's end, month by month (see the
    module), booking into B (one chunk; Bs: the dry pass's scratch bins)."""
    R = P.run[0]
    T = R.T
    for i in range(Q.clients.shape[0]):
        c = Q.clients[i]
        w = Q.work[i]
        init_client(S, P, B, np.int64(i) * 0, c, w, Q.seq[i], Q.keys[i], mode)
        w[W_QUEUE] = Q_REAL
        w[W_RULES] = -1
        w[W_TOUCHED] = 0
        w[W_YEARS] = 0
        t0 = 0
        if S.clients[c].admitted == -1:
            t0 = max(0, np.int64(S.clients[c].arrival) - R.start)
        w[W_LAST] = t0 - 1
        Q.next[i] = t0
    for t in range(T):
        dry_pass(S, P, Bs, Q, t, mode)
        resolve(S, P, Q, t)
        real_pass(S, P, B, Q, t, mode)
        month_end(S, P, Q, t)
    for i in range(Q.clients.shape[0]):
        if Q.done[i]:
            continue
        c = Q.clients[i]
        w = Q.work[i]
        if mode == MODE_KEYED:
            served_skipped(P, B, np.int64(i) * 0, T, w)
        lo, hi = U(S.clients[c].arr_lo), U(S.clients[c].arr_hi)
        close_client(S, P, B, T, lo, hi, w, Q.seq[i], Q.keys[i])


# ----------------------------------------------------------------------------- Python side
QueueResult = namedtuple(
    "QueueResult",
    ["stats", "wait_adm", "wait_cur", "coupled", "timings"],
)


def build_coupled(S, P, cr, n_years: int) -> Coupled:
    """The driver's arrays for the coupled clients of `cr` (engine.model.capacity)."""
    from engine.core.domain import QUEUE_LEFT
    from engine.model.layout import CLIENT, H_GOAL0, SEG, SLOT, W_S0, work_size

    T = int(P.run[0]["T"])
    clients = np.nonzero(cr.cap_params.coupled)[0].astype(np.int64)
    max_slots = most_slots(S.clients)
    s0 = H_GOAL0 + max_slots
    n = clients.size
    work = np.zeros((n, work_size(n_years)), dtype=np.int64)
    work[:, W_S0] = s0
    bslot = np.nonzero(cr.slot_pool >= 0)[0].astype(np.int64)
    owner = S.slots["owner"][bslot].astype(np.int64)
    nb = bslot.size
    n_pools = len(cr.pools)
    n_rules = S.rule_c.shape[1]
    z = np.zeros
    return Coupled(
        clients=clients,
        work=work,
        keys=z((n, (s0 + SEG * max_slots + 7) // 8 * 8), np.uint64),
        seq=z((n, 8), np.uint64),
        next=z(n, np.int64),
        done=z(n, np.uint8),
        b_lo=np.searchsorted(owner, clients, side="left").astype(np.int64),
        b_hi=np.searchsorted(owner, clients, side="right").astype(np.int64),
        bslot=bslot,
        bpool=cr.slot_pool[bslot].astype(np.int64),
        qstate=z(nb, np.int8),
        join=z(nb, np.int64),
        qkey=z(nb, np.uint64),
        giveup=z(nb, np.int64),
        demand=z(nb, np.int64),
        cand=z(nb, np.int8),
        admit=z(nb, np.uint8),
        sort_k=z(nb, np.uint64),
        sort_j=z(nb, np.int64),
        cap=np.ascontiguousarray(cr.cap, dtype=np.int64),
        unit=np.array([1 if u == "hours_w" else 0 for u in cr.units], dtype=np.int64),
        pprod=np.ascontiguousarray(cr.pool_product, dtype=np.int64),
        hourly=np.ascontiguousarray(cr.hourly_cents, dtype=np.int64),
        urgent=np.ascontiguousarray(cr.urgent, dtype=np.uint8),
        give_up_lh=np.ascontiguousarray(cr.give_up_lh, dtype=np.float64),
        occ=z(n_pools, np.int64),
        stats=z((n_pools, T, Q_LEFT0 + len(QUEUE_LEFT)), np.int64),
        wait_adm=z((n_pools, T, MAX_WAIT), np.int64),
        wait_cur=z((n_pools, T, MAX_WAIT), np.int64),
        ck_client=z(1, CLIENT),
        ck_slots=z(max(max_slots, 1), SLOT),
        ck_rc=z(n_rules, np.int8),
        ck_ra=z((max(max_slots, 1), n_rules), np.int8),
        ck_w=z(work.shape[1], np.int64),
        ck_hk=z((s0 + SEG * max_slots + 7) // 8 * 8, np.uint64),
        ck_seq=z(8, np.uint64),
    )


def run_coupled(S, P, cr, B, Bs, n_years: int, every_month=False, on_compile=None):
    """Step the coupled clients of `cr` month by month (`run_coupled_jit`) into B (bins of
    one chunk; Bs the same shape, scratch for the dry pass); `every_month` as
    kernel.run_kernel. Returns the queue's figures (`QueueResult`)."""
    import threading
    import time
    import warnings

    from numba.core.errors import NumbaExperimentalFeatureWarning

    from engine.model.kernel import COMPILE_NOTICE_S, kernel_signature, stocks_from_flows

    if every_month:
        months = P.months.copy()
        months["step_all"] = np.arange(months.shape[0])
        P = P._replace(months=months)
    Q = build_coupled(S, P, cr, n_years)
    mode = int(P.run[0]["rng_mode"])
    args = (S, P, B, Bs, Q, mode)
    t0 = time.perf_counter()
    if kernel_signature(*args) not in run_coupled_jit.overloads:
        timer = threading.Timer(COMPILE_NOTICE_S, on_compile) if on_compile else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            with warnings.catch_warnings():  # as kernel.compile_kernel
                warnings.filterwarnings(
                    "ignore",
                    category=NumbaExperimentalFeatureWarning,
                    message="First-class function type",
                )
                run_coupled_jit.compile(kernel_signature(*args))
        finally:
            if timer is not None:
                timer.cancel()
    compile_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    run_coupled_jit(*args)
    stocks_from_flows(B.cli)
    timings = {"capacity_compile_s": compile_s, "capacity_s": time.perf_counter() - t1}
    return QueueResult(Q.stats, Q.wait_adm, Q.wait_cur, int(Q.clients.size), timings)
