"""One simulation in memory: population + profile + policy (+ rules) -> bins.

No files here: `engine.outputs.folder` writes run folders, `engine.simulation.run` ties the two
together.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numba
import numpy as np

from engine.core.domain import END_REASONS
from engine.core.errors import InputError
from engine.core.months import format_month
from engine.model.combinations import MAX_RULES, allocate_multi
from engine.model.kernel import Bins, run_kernel, weekly_base_cents_all
from engine.model.layout import ARR_FIELDS, EVENT_FIELDS, EVENT_KINDS
from engine.model.params import Params, compile_params
from engine.model.rng import MODE_KEYED
from engine.model.state import State, copy_state, with_rule_state
from engine.model.state import build_state as build_state  # re-exported (bench, callers)
from engine.simulation.small_pages import small_pages
from rules.policy import Policy
from synthetic_population.cache import capacity_state_of, state_of
from synthetic_population.generator import Population
from synthetic_population.profile import Profile

if TYPE_CHECKING:  # a run with capacity imports these when it needs them (start-up)
    from engine.model.capacity import CapacityRun
    from engine.model.month_outer import QueueResult

CHUNKS_PER_THREAD = 2


@dataclass
class SimResult:
    arr: np.ndarray  # [month, group, product, step, field] int64
    cli: np.ndarray  # [month, domain, group, field] int64
    served_half: np.ndarray  # [half, domain, group]
    served_year: np.ndarray  # [year, domain, group]
    events: np.ndarray  # [rule, kind, group, product, month, field]
    affected: np.ndarray  # [measure (last: all), kind, group]
    trace_cost: np.ndarray  # [arrangement, month] cents (only with trace=True)
    trace_step: np.ndarray  # [arrangement, month] step, -1 inactive (only with trace=True)
    state: State
    timings: dict = field(default_factory=dict)
    capacity: CapacityRun | None = None  # a run with capacity: its pools and places
    queue: QueueResult | None = None  # and its queues (engine.model.month_outer)

    @property
    def active_arrangement_months(self) -> int:
        return int(self.arr[..., 0].sum())


def n_periods(start: int, months: int, per: int) -> int:
    return (start + months - 1) // per - start // per + 1


def allocate_bins(
    P: Params, n_groups: int, n_products: int, n_chunks: int, n_arr: int, n_measures: int = 0
) -> Bins:
    run = P.run[0]
    T = int(run["T"])
    start = int(run["start"])
    n_steps = int(P.products["nsteps"].max())
    n_rules = P.rules.shape[0]
    trace = bool(run["trace"])
    nf_cli = 4 + len(END_REASONS) - 1
    with small_pages():  # written sparsely: engine.simulation.small_pages
        return Bins(
            arr=np.zeros(
                (n_chunks, n_groups, n_products, n_steps, len(ARR_FIELDS), T), dtype=np.int64
            ),
            cli=np.zeros((n_chunks, 2, n_groups, T, nf_cli), dtype=np.int64),
            served_half=np.zeros((n_chunks, n_periods(start, T, 6), 2, n_groups), dtype=np.int64),
            served_year=np.zeros((n_chunks, n_periods(start, T, 12), 2, n_groups), dtype=np.int64),
            events=np.zeros(
                (
                    n_chunks,
                    n_rules,
                    len(EVENT_KINDS),
                    n_groups,
                    n_products,
                    T if run["events"] else 0,
                    len(EVENT_FIELDS),
                ),
                dtype=np.int64,
            ),
            affected=np.zeros((n_chunks, n_measures + 1, 2, n_groups), dtype=np.int64),
            trace_cost=np.zeros((n_arr, T) if trace else (0, T), dtype=np.int64),
            trace_step=np.full((n_arr, T) if trace else (0, T), -1, dtype=np.int8),
        )


@dataclass
class MultiResult:
    """Per measure subset (in the order asked): what a sub-run without detail needs."""

    gross_y: np.ndarray  # [subset, budget year] int64 cents
    oc_y: np.ndarray  # [subset, budget year] own contributions
    affected: (
        np.ndarray
    )  # [subset, kind, group]: clients whose care the subset's measures reduced / ended
    combinations: int  # distinct rule combinations stepped for (the baseline included)
    trajectories: int  # client trajectories stepped (at most combinations x clients)
    clients: int
    timings: dict = field(default_factory=dict)


def _check_window(pop: Population, start: int, months: int) -> None:
    if months > pop.months or start != pop.start:
        raise InputError(
            "population",
            f"covers {format_month(pop.start)} for {pop.months} months; the run asks "
            f"{format_month(start)} for {months}",
            "a population generated for the run's start and horizon",
        )


def _rules_of(measures: list) -> list:
    rules = [r for ms in measures for r in ms.rules]
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError(
            "measures", f"rule name {dup!r} appears twice in the scenario", "unique rule names"
        )
    return rules


def _state(pop: Population, policy: Policy, profile: Profile, base_state, n_rules: int) -> State:
    """The run's own state: a copy of `base_state` (callers that reuse one), else the
    population's state built (or read from the population cache) for this run alone and used
    as it is, not copied a second time."""
    if base_state is not None:
        return with_rule_state(base_state, n_rules)
    return with_rule_state(state_of(pop, policy, profile.group_codes), n_rules, copy=False)


def _capacity_state(pop, policy, profile, base_state, n_rules: int) -> State:
    """The run's own state with interim slots (engine.model.capacity): from the population
    cache beside the population's state (synthetic_population.cache.capacity_state_of), or
    made from `base_state`'s copy."""
    from engine.model.capacity import with_interim_slots

    if base_state is not None:
        return with_rule_state(with_interim_slots(_state(pop, policy, profile, base_state, 0),
                                                  policy), n_rules, copy=False)  # fmt: skip
    S = capacity_state_of(pop, policy, profile.group_codes, lambda s: with_interim_slots(s, policy))
    return with_rule_state(S, n_rules, copy=False)


def _chunks(threads: int | None, n_clients: int) -> int:
    if threads:
        numba.set_num_threads(threads)
    return max(1, min(n_clients, numba.get_num_threads() * CHUNKS_PER_THREAD))


def multi_supported(measures: list, rng_mode: int) -> bool:
    """Can `simulate_many` step these measures' combinations in one pass? Keyed draws, and
    at most MAX_RULES rules (one bit each)."""
    return rng_mode == MODE_KEYED and sum(len(ms.rules) for ms in measures) <= MAX_RULES


def simulate_many(
    profile: Profile,
    policy: Policy,
    pop: Population,
    start: int,
    months: int,
    seed: int,
    *,
    measures: list,
    masks: list[int],
    threads: int | None = None,
    base_state: State | None = None,
    on_compile=None,
) -> MultiResult:
    """Several subsets of `measures` in one kernel pass (engine.model.combinations), exact: per
    subset (bit i of a mask: measures[i]) the gross cost and own contributions per budget year
    and the clients affected by the subset's measures together, identical to `simulate` with
    those measures (rules in the order of `measures`), events off. Keyed draws only."""
    timings = {}
    t0 = time.perf_counter()
    _check_window(pop, start, months)
    if not multi_supported(measures, MODE_KEYED):
        raise InputError(
            "measures",
            f"{sum(len(ms.rules) for ms in measures)} rules",
            f"at most {MAX_RULES} rules in one multi-combination pass",
        )
    rules = _rules_of(measures)
    rule_measure = [i for i, ms in enumerate(measures) for _ in ms.rules]

    def rule_mask(mask: int) -> int:
        return sum(1 << r for r, i in enumerate(rule_measure) if mask >> i & 1)

    wanted = [rule_mask(m) for m in masks]
    combos = sorted(
        {0, *wanted}, key=lambda x: (bin(x).count("1"), x)
    )  # baseline first, then by popcount
    combo_arr = np.array([x - (1 << 64) if x >= 1 << 63 else x for x in combos], dtype=np.int64)
    t_state = time.perf_counter()
    S = _state(pop, policy, profile, base_state, len(rules))
    timings["state_s"] = time.perf_counter() - t_state  # part of prepare_s
    P = compile_params(
        profile,
        policy,
        pop.pool_rate[:, :months],
        start,
        months,
        seed,
        rng_mode=MODE_KEYED,
        rules=rules,
        measure_names=[ms.name for ms in measures],
        events=False,
    )
    weekly_base_cents_all(S, P)
    n_clients = S.n_clients
    n_chunks = _chunks(threads, n_clients)
    n_groups = len(profile.groups)
    B = allocate_bins(P, n_groups, len(policy.products), n_chunks, S.n_slots, len(measures))
    M = allocate_multi(combo_arr, n_chunks, n_periods(start, months, 12), n_groups)
    init = copy_state(S)  # a client's further trajectories start from here
    timings["prepare_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    timings["compile_s"] = run_kernel(S, P, B, n_chunks, M, init, on_compile=on_compile)
    timings["kernel_s"] = time.perf_counter() - t1 - timings["compile_s"]
    timings["threads"] = numba.get_num_threads()
    base_y = M.base_y.sum(axis=0)  # [year, 2]
    base_aff = M.base_aff.sum(axis=0)
    delta_y = M.delta_y.sum(axis=0)  # [combination, year, 2]
    delta_aff = M.delta_aff.sum(axis=0)
    at = [combos.index(x) for x in wanted]
    return MultiResult(
        gross_y=np.stack([base_y[:, 0] + delta_y[k, :, 0] for k in at])
        if at
        else np.zeros((0, base_y.shape[0]), np.int64),
        oc_y=np.stack([base_y[:, 1] + delta_y[k, :, 1] for k in at])
        if at
        else np.zeros((0, base_y.shape[0]), np.int64),
        affected=np.stack([base_aff + delta_aff[k] for k in at])
        if at
        else np.zeros((0, 2, n_groups), np.int64),
        combinations=len(combos),
        trajectories=int(M.stats[:, 0].sum()),
        clients=int(n_clients),
        timings=timings,
    )


def simulate(
    profile: Profile,
    policy: Policy,
    pop: Population,
    start: int,
    months: int,
    seed: int,
    *,
    measures: list | None = None,
    rng_mode: int = MODE_KEYED,
    threads: int | None = None,
    trace: bool = False,
    base_state: State | None = None,
    events: bool = True,
    every_month: bool = False,
    on_compile=None,
    capacity: bool = False,
) -> SimResult:
    """Run the kernel once. `measures`: rules.schema.Measure objects applied in order.
    `base_state` lets callers build the state once and reuse it across runs; `events=False`
    books no rule events (experiment sub-runs: costs and clients affected only);
    `every_month` steps every client-month (engine.model.kernel.run_kernel; same outputs);
    `on_compile()` is called when the kernel must be compiled for this machine first;
    `capacity`: the policy library's capacity holds (rules.capacity): the clients who hold or
    may start a capacity-bound product are stepped month by month with their queues
    (engine.model.month_outer), the others as ever."""
    timings = {}
    t0 = time.perf_counter()
    _check_window(pop, start, months)
    measures = measures or []
    rules = _rules_of(measures)
    if capacity and not policy.capacity:
        raise InputError(
            f"{policy.path}: key capacity",
            "capacity is on (scenario `capacity = true` or --capacity), but the policy library "
            "names no capacity-bound product",
            "a [capacity.<product>] table (rules/README.md), or capacity off",
        )
    t_state = time.perf_counter()
    if capacity:  # the state with interim slots (engine.model.capacity)
        S = _capacity_state(pop, policy, profile, base_state, len(rules))
    else:
        S = _state(pop, policy, profile, base_state, len(rules))
    timings["state_s"] = time.perf_counter() - t_state  # part of prepare_s
    cr = None
    if capacity:
        from engine.model.capacity import compile_capacity

        cr = compile_capacity(policy, profile, S, S.clients["district"], measures, start, months)
    else:
        _no_capacity_measures(measures)
    P = compile_params(
        profile,
        policy,
        pop.pool_rate[:, :months],
        start,
        months,
        seed,
        rng_mode=rng_mode,
        trace=trace,
        rules=rules,
        measure_names=[ms.name for ms in measures],
        events=events,
    )
    if cr is not None:
        P = P._replace(cap=cr.cap_params)
    weekly_base_cents_all(S, P)
    timings["prepare_s"] = time.perf_counter() - t0
    n_chunks = _chunks(threads, S.n_clients)
    n_threads = numba.get_num_threads()
    B = allocate_bins(
        P, len(profile.groups), len(policy.products), n_chunks, S.n_slots, len(measures)
    )
    t1 = time.perf_counter()
    timings["compile_s"] = run_kernel(
        S, P, B, n_chunks, every_month=every_month, on_compile=on_compile
    )
    timings["kernel_s"] = time.perf_counter() - t1 - timings["compile_s"]
    timings["threads"] = n_threads
    queue = None
    if cr is not None:  # the coupled clients, month by month, into bins of their own
        queue = _run_coupled(S, P, B, cr, profile, policy, measures, every_month, on_compile)
        timings.update(queue.timings)
    return SimResult(
        arr=B.arr.sum(axis=0).transpose(4, 0, 1, 2, 3),
        cli=B.cli.sum(axis=0).transpose(2, 0, 1, 3),
        served_half=B.served_half.sum(axis=0),
        served_year=B.served_year.sum(axis=0),
        events=B.events.sum(axis=0),
        affected=B.affected.sum(axis=0),
        trace_cost=B.trace_cost,
        trace_step=B.trace_step,
        state=S,
        timings=timings,
        capacity=cr,
        queue=queue,
    )


def _run_coupled(S, P, B, cr, profile, policy, measures, every_month, on_compile):
    """The month-outer driver's run (engine.model.month_outer.run_coupled) into bins of one
    chunk, added to B's first chunk (bins are sums: the chunk does not matter)."""
    from engine.model.month_outer import run_coupled

    run = P.run[0]
    n_years = n_periods(int(run["start"]), int(run["T"]), 12)
    args = (P, len(profile.groups), len(policy.products), 1, S.n_slots, len(measures))
    B1 = allocate_bins(*args)._replace(trace_cost=B.trace_cost, trace_step=B.trace_step)
    Bs = allocate_bins(*args)
    queue = run_coupled(S, P, cr, B1, Bs, n_years, every_month, on_compile)
    for name in ("arr", "cli", "served_half", "served_year", "events", "affected"):
        getattr(B, name)[0] += getattr(B1, name)[0]
    return queue


def _no_capacity_measures(measures: list) -> None:
    for ms in measures:
        if ms.capacity:
            raise InputError(
                f"{ms.path}: key capacity[0] (measure {ms.name})",
                "changes capacity, but the run has none",
                "a run with capacity (scenario `capacity = true`, `caseload run --capacity`)",
            )
