"""The monthly kernel: every client's arrangements stepped month by month.

Scalar, readable code per client and slot, compiled with Numba (`engine.model.jit`); state
and parameters are record arrays (engine.model.layout), so a call between compiled functions
passes a few pointers and LLVM inlines what pays. The driver runs clients in parallel chunks;
each chunk adds into its own int64 bins, so totals are exact and independent of thread count
and order. The month is a step function driven by a loop (`run_client`), so a month-outer
driver can be added for what couples clients (capacity, waiting lists).

What makes it fast (outputs are bit-identical either way: tests/model/test_event_stepping.py):
- Keyed draws give waiting times (engine.model.rng.months_to_event): the month of each
  client exit is drawn at the start of its hazard spell (`plan_exits`), the month of each
  slot's goal when the slot becomes eligible (`goal_month`); with the planned ends, age bounds
  and rule months they give the next month in which anything can happen to the client
  (`next_event`), and the months in between are not stepped: nothing in them could change an
  output (the half-years and years that begin in them are counted as served by
  `served_skipped`). Sequential draws (the benchmark's counterfactual) step every month
  with one draw per decision; the draw mode is a run-time value, one compiled kernel.
- Costs are booked per segment: while nothing happens to a client its arrangements' cost is
  unchanged, so the usual month books nothing; a month in which anything may change closes
  the open segments and books their months in one loop each (`flush_segments`).
- Only changes are booked: stocks follow from flows, served counts from period openings.
- Bins are laid out [chunk, group, product, step, field, month]: a segment's months are
  neighbours in memory. Indices are unsigned (`U`) in the hottest loops: Numba emits
  negative-index wrap-around code for every signed index.

Rules act in engine.model.hooks at the moments intake, reindication, date and monthly; the
kernel checks the gates (`P.gates`) inline, so a hook is called only where a rule can act.
Several combinations of rules in one pass: engine.model.combinations.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba.core.errors import NumbaExperimentalFeatureWarning

from engine.core.domain import (
    JEUGD,
    S_ACTIVE,
    WMO,
)
from engine.model.accrual import book_flows, flush_segments, open_segments, served_skipped
from engine.model.arrangement import (
    U,
    domain_group,
    weekly_base_cents,
)
from engine.model.combinations import baseline_only, begin_client, end_trajectory, no_multi
from engine.model.exits import (
    client_exit,
    end_all,
    hazard_key,
    update_bands,
)
from engine.model.frame import frame, pin
from engine.model.hooks import date_monthly_due, rules_date_monthly
from engine.model.jit import jit, jit_entry, jit_once
from engine.model.layout import (
    C_END,
    C_IN_NEW,
    C_IN_TRANSFER,
    C_OUT0,
    C_START,
    H_GOAL0,
    SEG,
    SEG_NEXT,
    W_ACTIVE,
    W_BANDS_AT,
    W_DIRTY,
    W_EXIT_T,
    W_FRAME,
    W_HALF,
    W_HKEY,
    W_LAST,
    W_MORT,
    W_NEXT,
    W_PREV,
    W_REASON,
    W_RULES,
    W_S0,
    W_SLOT_NEXT,
    W_TOUCHED,
    W_YEAR,
    W_YEARS,
    W_YOUTH,
    work_size,
)
from engine.model.prefetch import prefetch_row
from engine.model.queue import queue_step
from engine.model.rng import MODE_KEYED, MODE_SEQUENTIAL
from engine.model.slots import (
    arrive,
    client_keys,
    count_active,
    plan_slots,
    slot_events,
    turn_18,
)

Bins = namedtuple(
    "Bins",
    ["arr", "cli", "served_half", "served_year", "events", "affected", "trace_cost", "trace_step"],
)

_AGE18_M = 18 * 12


@jit
def init_client(S, P, B, ch, c, w, seq, hk, mode):
    """Per-client work state before its first month; a stock client's keys and its place
    in the opening stock per domain."""
    for d in range(2):
        w[W_PREV + d] = -1
        w[W_HALF + d] = -1
        w[W_YEAR + d] = -1
    w[W_MORT] = 0
    w[W_YOUTH] = 0
    w[W_BANDS_AT] = -(1 << 62)
    w[W_HKEY] = -1  # keyed draws: exits drawn in the first month stepped
    w[W_SLOT_NEXT] = 0  # every slot looked at in the first month stepped
    w[W_DIRTY] = 1  # open the cost segments in the first month stepped
    cl = S.clients[c]
    s0 = U(w[W_S0])
    for k in range(U(cl.arr_hi) - U(cl.arr_lo)):
        hk[s0 + U(SEG) * k] = U(0)
        hk[s0 + U(SEG) * k + U(SEG_NEXT)] = U(0)  # segment events: not asked yet
    seq[0] = cl.cid
    seq[1] = 0
    if S.rule_c.shape[1] > 0 and S.rule_a.shape[0] > 0:
        prefetch_row(S.rule_c, c)  # read when a rule first looks at the client
        prefetch_row(S.rule_a, min(U(cl.arr_lo), U(S.rule_a.shape[0] - 1)))
    count_active(S, P, c, w)
    if cl.admitted == 1:
        client_keys(S, P, c, hk, mode)
        for a in range(cl.arr_lo, cl.arr_hi):
            if S.slots[a].status == S_ACTIVE:
                d = P.products[S.slots[a].product].domain
                w[W_PREV + d] = domain_group(S, P, c, d, P.run[0].start - 1)
        for d in range(2):
            if w[W_PREV + d] >= 0:
                B.cli[ch, d, w[W_PREV + d], 0, C_START] += 1  # later months: stocks_from_flows


@jit
def next_event(S, P, c, t, birth, g_youth, w):
    """Keyed draws: the next month after t in which anything can happen to the client: a
    slot event, an exit, a new age band, turning 18, a month with a date or monthly rule, or
    a new hazard spell (the Wmo arrangements ended or began, so next month's hazard group
    differs). Nothing in the months before it could change an output, so they are not
    stepped; the half-years and years that begin in them are counted by `served_skipped`."""
    R = P.run[0]
    nxt = min(w[W_SLOT_NEXT], w[W_EXIT_T], w[W_EXIT_T + 1], w[W_EXIT_T + 2])
    nxt = min(nxt, birth + w[W_BANDS_AT] - R.start)
    t18 = birth + _AGE18_M - R.start
    if t18 > t:
        nxt = min(nxt, t18)
    nxt = min(nxt, P.months[U(t + 1)].step_all)
    key, hg = hazard_key(S, P, c, w[W_ACTIVE + WMO] != 0, g_youth, w)
    if key != w[W_HKEY]:
        nxt = t + 1
    w[W_NEXT] = max(t + 1, nxt)


@jit_once
def step_month(S, P, B, ch, c, t, w, seq, hk, mode, lo, hi, birth):
    """One client, one month m = start + t. In this order:

    0. arrival: a pool client is admitted in its arrival month when its keyed draw
       `u < admit_p[group, month]`; its first indications pass the intake rules;
       0b. capacity (a coupled client, engine.model.month_outer): a waiting slot given a
       place starts, a client giving up leaves the queue (engine.model.queue);
    1. client-level exits: death, moving away, Wlz (all of the client's arrangements end);
    2. per arrangement: youth turning 18 (end, verlengde jeugdhulp or hand-over to a Wmo
       follow-up slot; youth care ends at the last youth age bound), goal reached;
    3. at the planned end of an indication, reindication: continue, step down, step up or
       end; rules of the moment `reindication` act here;
    4. rules of the moment `date`, then `monthly`;
    5. cost accrual: weekly amount x price index x days / 7, rounded once to cents; the own
       contribution once per client-month on its first contributing arrangement (in a
       multi-combination pass also summed per budget year, w[W_YEAR_TOT:]); then the
       client's stock and flows per domain and group. Costs are booked per segment of months
       in which nothing happened to the client (`open_segments`, `flush_segments`): a month
       in which anything may have changed closes the open segments and opens new ones.

    Keyed draws: the month steps only months in which something can happen (exits and
    goals are waiting times drawn ahead); it ends by setting w[W_NEXT], the next such month.
    Returns False when the client has left for good (no later month can change anything).
    """
    m = P.run[0].start + t
    if mode == MODE_KEYED:
        served_skipped(P, B, ch, t, w)
        w[W_LAST] = t
    w[W_REASON] = 0
    w[W_REASON + 1] = 0
    dirty = w[W_DIRTY] != 0  # anything that may change an arrangement or group sets it
    if S.clients[c].admitted == -1:
        if not arrive(S, P, B, ch, c, t, m, w, seq):
            return False
        count_active(S, P, c, w)
        client_keys(S, P, c, hk, mode)
        dirty = True
    dirty = queue_step(S, P, B, ch, c, m, t, w, seq) or dirty  # 0b. capacity
    if w[W_ACTIVE + WMO] == 0 and w[W_ACTIVE + JEUGD] == 0:
        return False
    in_wmo = w[W_ACTIVE + WMO] != 0
    age_m = m - birth
    g_wmo = np.int64(S.clients[c].wmo_group)
    if age_m >= w[W_BANDS_AT]:
        update_bands(P, age_m, w)
        dirty = True
    g_youth = P.run[0].youth_groups[w[W_YOUTH]]
    reason = client_exit(S, P, c, t, m, in_wmo, g_youth, w, seq, hk, mode)
    if reason != 0:
        end_all(frame(S, P, B, w, seq), ch, c, m, t, reason)
        dirty = True
    else:
        if age_m == _AGE18_M:
            turn_18(frame(S, P, B, w, seq), ch, c, m, t)
            dirty = True
        # keyed draws: only in a month in which a slot has an event (`plan_slots`); with
        # sequential draws every slot draws every month
        if (mode != MODE_KEYED or t >= w[W_SLOT_NEXT]) and slot_events(
            S, P, B, ch, c, m, t, lo, hi, age_m, g_wmo, g_youth, w, seq, hk, mode
        ):
            dirty = True
        if P.months[t].dm_on and date_monthly_due(S, P, t, m, lo, hi, mode, seq):
            rules_date_monthly(frame(S, P, B, w, seq), ch, c, m, t)
            dirty = True
    # 5. cost accrual: nothing to do while the client's segments stay open
    if dirty:
        flush_segments(S, P, B, ch, t, lo, hi, w, seq, hk)
        open_segments(S, P, t, lo, hi, g_wmo, g_youth, w, hk)
        w[W_DIRTY] = 0
        if mode == MODE_KEYED:
            plan_slots(S, P, t, lo, hi, birth, w, hk, seq)
    active_d0 = w[W_ACTIVE + WMO] != 0
    active_d1 = w[W_ACTIVE + JEUGD] != 0
    # a client who stays in the same domains and groups has nothing to book, unless the month
    # opens a half-year or the run (clients served are counted once per period)
    now0 = g_wmo if active_d0 else -1
    now1 = g_youth if active_d1 else -1
    if (
        now0 != w[W_PREV + WMO]
        or now1 != w[W_PREV + JEUGD]
        or t == 0
        or (U(P.run[0].start % 6) + U(t)) % U(6) == U(0)
    ):
        book_flows(S, P, B, ch, c, m, t, active_d0, active_d1, g_wmo, g_youth, w)
    if mode == MODE_KEYED:
        next_event(S, P, c, t, birth, g_youth, w)
    return active_d0 or active_d1


@jit_once
def run_client(S, P, B, ch, c, w, seq, hk, mode):
    """Step client c from its first month on, booking into chunk ch's bins: every month with
    sequential draws, with keyed draws only the months in which something can happen."""
    init_client(S, P, B, ch, c, w, seq, hk, mode)
    cl = S.clients[c]
    T = P.run[0].T
    t0 = 0
    if cl.admitted == -1:
        t0 = max(0, np.int64(cl.arrival) - P.run[0].start)
    lo = U(cl.arr_lo)  # fixed for the run: loaded once, not every month
    hi = U(cl.arr_hi)
    birth = np.int64(cl.birth)
    t1 = T
    t = t0
    w[W_LAST] = t0 - 1
    while t < T:
        if not step_month(S, P, B, ch, c, t, w, seq, hk, mode, lo, hi, birth):
            t1 = t
            break  # the client left (its outflow is booked) or was never admitted
        t = w[W_NEXT] if mode == MODE_KEYED else t + 1
    if t1 == T and mode == MODE_KEYED:
        served_skipped(
            P, B, ch, T, w
        )  # still here at the end: the periods since the last month stepped
    flush_segments(S, P, B, ch, t1, lo, hi, w, seq, hk)


@jit_once
def run_clients(S, P, B, ch, n_chunks, w, seq, hk, M, init, mode):
    """Step clients ch, ch + n_chunks, ... through the run (`run_client`), booking into
    chunk ch's bins. Striding spreads stock clients and late arrivals evenly over the chunks.

    With combinations (M.combos, keyed draws only: engine.model.combinations) each client is
    stepped once per trajectory the memo cannot reuse, from its initial state (`init`), under
    that combination's rules; otherwise once, every rule on."""
    multi = mode == MODE_KEYED and M.combos.shape[0] > 0
    w[W_RULES] = -1  # every rule on
    w[W_TOUCHED] = 0
    w[W_YEARS] = 1 if multi else 0
    coupled = P.cap.coupled
    for c in range(ch, S.clients.shape[0], n_chunks):
        if coupled.shape[0] != 0 and coupled[c] != 0:
            continue  # capacity: stepped month by month with the others (month_outer)
        if multi:
            begin_client(B.affected, M, ch, w)
        k = 0
        while k >= 0:
            run_client(S, P, B, ch, c, w, seq, hk, mode)
            if not multi:
                k = -1
            elif k == 0 and w[W_TOUCHED] == 0:
                baseline_only(
                    B.affected, M, ch, w
                )  # the usual client: one trajectory for every combination
                k = -1
            else:
                k = end_trajectory(S, B.affected, M, init, ch, c, w, k)


# The two entry points, one per draw mode: the mode is a constant in each, so LLVM (which
# inlines everything the month reaches) drops the other mode's code. The sequential one is
# compiled only when a run asks for sequential draws. nogil: run_kernel runs chunks on threads.
@jit_entry
def run_chunk_keyed(S, P, B, ch, n_chunks, w, seq, hk, M, init):
    w[W_FRAME] = pin((S, P, w, seq, B))  # for the out-of-line calls (engine.model.frame)
    run_clients(S, P, B, ch, n_chunks, w, seq, hk, M, init, MODE_KEYED)
    w[W_FRAME] = 0


@jit_entry
def run_chunk_sequential(S, P, B, ch, n_chunks, w, seq, hk, M, init):
    w[W_FRAME] = pin((S, P, w, seq, B))
    run_clients(S, P, B, ch, n_chunks, w, seq, hk, M, init, MODE_SEQUENTIAL)
    w[W_FRAME] = 0


def entry_point(P):
    """The compiled entry point for P's draw mode."""
    return run_chunk_keyed if int(P.run[0]["rng_mode"]) == MODE_KEYED else run_chunk_sequential


def run_kernel(
    S, P, B, n_chunks, multi=None, init=None, every_month=False, on_compile=None
) -> float:
    """Step every client through the run (`run_client`): chunks of clients on
    `numba.get_num_threads()` threads, each chunk into its own bins. `every_month`: with keyed
    draws, step every month of every client instead of only the months in which something
    can happen (the same outputs, slower: tests/model/test_event_stepping.py proves it). Plain
    threads over compiled nogil code rather than a Numba parfor, which would compile the
    kernel a second time. `multi`, `init`: a multi-combination pass
    (engine.model.combinations; keyed draws) and a copy of the state before it.
    `on_compile()` is called before compiling, when the kernel is neither compiled nor
    cached for these argument types. Returns the seconds spent compiling or loading it."""
    run = P.run[0]
    t0 = time.perf_counter()
    most_slots.compile((numba.typeof(S.clients),))  # compiled or loaded: compile time
    compile_s = time.perf_counter() - t0
    max_slots = most_slots(S.clients)
    n_years = (int(run["start"]) + int(run["T"]) - 1) // 12 - int(run["start"]) // 12 + 1
    work = np.zeros((n_chunks, work_size(n_years)), dtype=np.int64)
    seqs = np.zeros((n_chunks, 8), dtype=np.uint64)
    s0 = H_GOAL0 + max_slots  # after the draw keys and goal months: the open cost segments
    hks = np.zeros((n_chunks, (s0 + SEG * max_slots + 7) // 8 * 8), dtype=np.uint64)
    work[:, W_S0] = s0
    if every_month:
        months = P.months.copy()
        months["step_all"] = np.arange(months.shape[0])
        P = P._replace(months=months)
    if multi is None:
        multi, init = no_multi(S, n_chunks)
    elif int(run["rng_mode"]) != MODE_KEYED or multi.traj_y.shape[2] != n_years:
        raise ValueError(
            "a multi-combination pass needs keyed draws and one year total per budget year"
        )

    run_chunk = entry_point(P)

    def chunk(ch):
        run_chunk(S, P, B, ch, n_chunks, work[ch], seqs[ch], hks[ch], multi, init)

    t0 = time.perf_counter()
    compile_kernel(
        S, P, B, n_chunks, work[0], seqs[0], hks[0], multi, init, on_compile
    )  # in this thread, before the pool
    compile_s += time.perf_counter() - t0
    n_threads = max(1, min(numba.get_num_threads(), n_chunks))
    if n_threads == 1:
        for ch in range(n_chunks):
            chunk(ch)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(chunk, range(n_chunks)))
    stocks_from_flows(B.cli)
    return compile_s


def kernel_signature(*args) -> tuple:
    """The Numba types of the entry point's arguments."""
    return tuple(numba.typeof(x) for x in args)


def is_compiled(*args) -> bool:
    """Is the entry point for these arguments compiled (or loaded from the cache)?"""
    return kernel_signature(*args) in entry_point(args[1]).overloads


def compile_kernel(S, P, B, n_chunks, w, seq, hk, multi, init, on_compile=None) -> None:
    """Compile the entry point for these argument types, or load it from the cache.
    `on_compile()` is called (from a timer thread) when this takes longer than loading from
    the cache does, so a user is told a compile is running. The rule hooks dispatch over a
    tuple of compiled functions (engine.model.hooks), which Numba types with a feature it
    still calls experimental: its warning says nothing to a user."""
    args = (S, P, B, 0, n_chunks, w, seq, hk, multi, init)
    if is_compiled(*args):
        return
    timer = threading.Timer(COMPILE_NOTICE_S, on_compile) if on_compile is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                category=NumbaExperimentalFeatureWarning,
                message="First-class function type",
            )
            entry_point(P).compile(kernel_signature(*args))
    finally:
        if timer is not None:
            timer.cancel()


COMPILE_NOTICE_S = 1.5  # loading the kernel from the cache takes a fraction of this


def stocks_from_flows(cli: np.ndarray) -> None:
    """Stocks per chunk, domain and group from the opening stock and the flows:
    active_end = active_start + inflow - outflow, and a month starts with the stock the
    month before ended with. The identity holds client by client, so this is exact."""
    flows = cli[..., C_IN_NEW] + cli[..., C_IN_TRANSFER] - cli[..., C_OUT0 + 1 :].sum(axis=-1)
    end = cli[..., :1, C_START] + np.cumsum(flows, axis=-1)
    cli[..., C_END] = end
    cli[..., 1:, C_START] = end[..., :-1]


@jit_entry
def most_slots(clients):
    """The most arrangement slots a client has (the key arrays are sized for it): one
    compiled pass over the records. NumPy copies the two strided fields first: 8-11 ms at
    national scale, inside every kernel call."""
    most = 0
    for c in range(clients.shape[0]):
        most = max(most, clients[c].arr_hi - clients[c].arr_lo)
    return most


@jit_entry
def weekly_base_cents_all(S, P):
    """Weekly amounts of the arrangements active at the start (the stock's indications)."""
    for a in range(S.slots.shape[0]):
        if S.slots[a].status == S_ACTIVE:
            S.slots[a].weekly_cents = weekly_base_cents(S, P, a)
