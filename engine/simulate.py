"""One simulation in memory: population + profile + policy (+ rules) -> bins.

No files here: `engine.outputs` writes run folders, `engine.run` ties the two together.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numba
import numpy as np

from engine.arrangement import ARR_FIELDS
from engine.compile import Params, compile_params
from engine.domain import END_REASONS
from engine.errors import InputError
from engine.kernel import Bins, run_kernel, weekly_base_cents_all
from engine.months import format_month
from engine.rng import MODE_KEYED
from engine.rule_hooks import EVENT_FIELDS, EVENT_KINDS
from engine.state import State, build_state, with_rule_state
from rules.compile import compile_rules
from rules.policy import Policy
from synthetic_population.generator import Population
from synthetic_population.profile import Profile

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

    @property
    def active_arrangement_months(self) -> int:
        return int(self.arr[..., 0].sum())


def n_periods(start: int, months: int, per: int) -> int:
    return (start + months - 1) // per - start // per + 1


def allocate_bins(P: Params, n_groups: int, n_products: int, n_steps: int, n_chunks: int, n_arr: int, n_measures: int = 0) -> Bins:
    T = int(P.T)
    start = int(P.start)
    n_rules = P.r_prim.shape[0]
    nf_cli = 4 + len(END_REASONS) - 1
    return Bins(
        arr=np.zeros((n_chunks, n_groups, n_products, n_steps, T, len(ARR_FIELDS)), dtype=np.int64),
        cli=np.zeros((n_chunks, 2, n_groups, T, nf_cli), dtype=np.int64),
        served_half=np.zeros((n_chunks, n_periods(start, T, 6), 2, n_groups), dtype=np.int64),
        served_year=np.zeros((n_chunks, n_periods(start, T, 12), 2, n_groups), dtype=np.int64),
        events=np.zeros((n_chunks, n_rules, len(EVENT_KINDS), n_groups, n_products, T if P.ev_on else 0, len(EVENT_FIELDS)), dtype=np.int64),
        affected=np.zeros((n_chunks, n_measures + 1, 2, n_groups), dtype=np.int64),
        trace_cost=np.zeros((n_arr, T) if P.trace else (0, T), dtype=np.int64),
        trace_step=np.full((n_arr, T) if P.trace else (0, T), -1, dtype=np.int8),
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
) -> SimResult:
    """Run the kernel once. `measures`: rules.schema.Measure objects applied in order.
    `base_state` lets callers build the state once and reuse it across runs; `events=False`
    books no rule events (experiment sub-runs: costs and clients affected only)."""
    timings = {}
    t0 = time.perf_counter()
    if months > pop.months or start != pop.start:
        raise InputError(
            "population",
            f"covers {format_month(pop.start)} for {pop.months} months; the run asks {format_month(start)} for {months}",
            "a population generated for the run's start and horizon",
        )
    measures = measures or []
    rules = [r for ms in measures for r in ms.rules]
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError("measures", f"rule name {dup!r} appears twice in the scenario", "unique rule names")
    rule_arrays = compile_rules(rules, policy, profile.group_codes, [ms.name for ms in measures], start, months)
    S0 = base_state if base_state is not None else build_state(pop, policy, profile.group_codes)
    S = with_rule_state(S0, len(rules))
    P = compile_params(profile, policy, pop.pool_rate[:, :months], start, months, seed, rng_mode=rng_mode, trace=trace, rules=rule_arrays, events=events)
    weekly_base_cents_all(S, P)
    timings["prepare_s"] = time.perf_counter() - t0
    if threads:
        numba.set_num_threads(threads)
    n_threads = numba.get_num_threads()
    n_clients = S.cid.shape[0]
    n_chunks = max(1, min(n_clients, n_threads * CHUNKS_PER_THREAD))
    B = allocate_bins(P, len(profile.groups), len(policy.products), P.price_cents.shape[1], n_chunks, S.aid.shape[0], len(measures))
    t1 = time.perf_counter()
    run_kernel(S, P, B, n_chunks)
    timings["kernel_s"] = time.perf_counter() - t1
    timings["threads"] = n_threads
    return SimResult(
        arr=B.arr.sum(axis=0).transpose(3, 0, 1, 2, 4),
        cli=B.cli.sum(axis=0).transpose(2, 0, 1, 3),
        served_half=B.served_half.sum(axis=0),
        served_year=B.served_year.sum(axis=0),
        events=B.events.sum(axis=0),
        affected=B.affected.sum(axis=0),
        trace_cost=B.trace_cost,
        trace_step=B.trace_step,
        state=S,
        timings=timings,
    )
