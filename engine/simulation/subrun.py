"""Sub-runs of an experiment: one kernel pass for one seed and one subset of measures, in
memory, reduced to what the experiment tables need (no folder, no catalog entry).

A `ContextSpec` is the small, picklable description a worker needs (profile, overrides,
horizon, population seed or file, measures); `Context.build` turns it into the profile,
policy, population, state and loaded measures once per process. A `Unit` names a sub-run;
`Context.run` runs it and returns a `SubResult` of plain NumPy arrays.

`Context.run_many` gives the sub-runs of one seed that need no detail beyond clients
affected (yearly totals, `D_AFFECTED`) from one multi-combination kernel pass
(engine.model.combinations), identical to running each; `Context.run_units` runs a batch of units,
grouping those.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from engine.core.months import format_month, year_of
from engine.model.layout import A_GROSS, A_OC
from engine.model.rng import MODE_KEYED
from engine.outputs import tables as aggregate

# what a sub-run keeps beyond yearly totals (bits of Unit.detail)
D_AFFECTED, D_ARRANGEMENTS, D_MONTHLY = 1, 2, 4


@dataclass(frozen=True)
class ContextSpec:
    profile: str = "rotterdam"
    overrides: dict = field(default_factory=dict)
    start: int | None = None
    months: int = 48
    population_seed: int = 1
    population_file: str | None = None
    measures: list = field(default_factory=list)
    measure_overrides: dict = field(default_factory=dict)
    base_dir: str | None = None
    rng_mode: int = MODE_KEYED
    capacity: bool = False  # the library's capacity holds (queues; one pass per sub-run)

    def key(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True, default=str)


@dataclass(frozen=True)
class Unit:
    seed: int
    mask: int  # bit i: measure i of the experiment is on
    detail: int = 0


def multi_unit(unit: Unit) -> bool:
    """Does the unit need nothing a multi-combination pass does not give (yearly totals,
    clients affected)?"""
    return (unit.detail & ~D_AFFECTED) == 0


@dataclass
class SubResult:
    net_y: np.ndarray  # [budget year] int64 cents
    gross_y: np.ndarray
    affected: np.ndarray | None = (
        None  # [kind, group]: clients whose care the measures reduced / ended
    )
    arrangements: np.ndarray | None = None  # [month, group, product, step, field] bins
    monthly: np.ndarray | None = None  # [month, product, (gross, net)] cents
    clients: np.ndarray | None = (
        None  # [month, domain, group, field] client bins (with arrangements)
    )
    kernel_s: float = 0.0
    # a run with capacity (with D_MONTHLY): the queues, as engine.outputs.waiting reads them
    waiting: object | None = None


@dataclass
class Context:
    spec: ContextSpec
    profile: object
    policy: object
    population: object
    state: object
    measures: list
    start: int
    months: int
    years: list[int]
    year_idx: np.ndarray  # [month] -> index into years
    last_multi_stats: dict | None = (
        None  # the last run_many pass: combinations, trajectories stepped, clients
    )

    @classmethod
    def build(cls, spec: ContextSpec, population=None) -> Context:
        from engine.core.scenario import RunSpec
        from engine.simulation.population_source import load_population, start_of
        from engine.simulation.run import load_measures
        from synthetic_population.cache import state_of
        from synthetic_population.profile import load_profile

        profile, policy = load_profile(spec.profile, spec.overrides)
        start = profile.start if spec.start is None else spec.start
        if population is None:
            population = load_population(spec, profile, policy, start)
        start = start_of(population, start)
        rs = RunSpec(
            profile=spec.profile,
            measures=list(spec.measures),
            measure_overrides=dict(spec.measure_overrides),
            base_dir=spec.base_dir,
        )
        measures = load_measures(rs, profile, policy)
        state = state_of(population, policy, profile.group_codes)
        ys = [year_of(start + t) for t in range(spec.months)]
        years = sorted(set(ys))
        return cls(
            spec,
            profile,
            policy,
            population,
            state,
            measures,
            start,
            spec.months,
            years,
            np.array([years.index(y) for y in ys], dtype=np.int64),
        )

    # ------------------------------------------------------------------ one sub-run
    def run(self, unit: Unit, threads: int | None = None) -> SubResult:
        from engine.simulation.simulate import simulate

        ms = [m for i, m in enumerate(self.measures) if unit.mask >> i & 1]
        sim = simulate(
            self.profile,
            self.policy,
            self.population,
            self.start,
            self.months,
            unit.seed,
            measures=ms,
            rng_mode=self.spec.rng_mode,
            threads=threads,
            base_state=self.state,
            events=False,
            capacity=self.spec.capacity,
        )
        arr = sim.arr  # [T, G, P, S, F]
        gross_tp = arr[..., A_GROSS].sum(axis=(1, 3))  # [T, P]
        oc_tp = arr[..., A_OC].sum(axis=(1, 3))
        n_y = len(self.years)
        gross_y = np.zeros(n_y, dtype=np.int64)
        net_y = np.zeros(n_y, dtype=np.int64)
        np.add.at(gross_y, self.year_idx, gross_tp.sum(axis=1))
        np.add.at(net_y, self.year_idx, gross_tp.sum(axis=1) - oc_tp.sum(axis=1))
        out = SubResult(net_y=net_y, gross_y=gross_y, kernel_s=sim.timings.get("kernel_s", 0.0))
        if unit.detail & D_AFFECTED:
            out.affected = sim.affected[-1].copy()  # the last row: all of the sub-run's measures
        if unit.detail & D_ARRANGEMENTS:
            out.arrangements = arr
            out.clients = sim.cli
        if unit.detail & D_MONTHLY:
            out.monthly = np.stack([gross_tp, gross_tp - oc_tp], axis=-1)
            if sim.queue is not None:
                out.waiting = _waiting_parts(sim)
        return out

    # ------------------------------------------------------------------ many sub-runs
    def run_many(self, seed: int, masks: list[int], threads: int | None = None) -> list[SubResult]:
        """The sub-runs (seed, mask) for every mask (bit i: measure i of the experiment), with
        yearly totals and clients affected: identical to `run(Unit(seed, mask, D_AFFECTED))`
        for each, from one multi-combination kernel pass (keyed draws; with sequential draws,
        capacity (queues couple clients), or more rules than a pass takes, one pass per
        mask)."""
        from engine.simulation.simulate import multi_supported, simulate_many

        masks = list(masks)
        if not masks:
            return []
        if self.spec.capacity or not multi_supported(self.measures, self.spec.rng_mode):
            return [self.run(Unit(seed, m, D_AFFECTED), threads=threads) for m in masks]
        mr = simulate_many(
            self.profile,
            self.policy,
            self.population,
            self.start,
            self.months,
            seed,
            measures=self.measures,
            masks=masks,
            threads=threads,
            base_state=self.state,
        )
        self.last_multi_stats = {
            "masks": len(masks),
            "combinations": mr.combinations,
            "trajectories": mr.trajectories,
            "clients": mr.clients,
            "kernel_s": round(mr.timings["kernel_s"], 4),
        }
        n_y = len(self.years)
        out = []
        for k in range(len(masks)):
            gross_y = np.zeros(n_y, dtype=np.int64)
            net_y = np.zeros(n_y, dtype=np.int64)
            gross_y[:] = mr.gross_y[k]
            net_y[:] = mr.gross_y[k] - mr.oc_y[k]
            out.append(
                SubResult(
                    net_y=net_y,
                    gross_y=gross_y,
                    affected=mr.affected[k].copy(),
                    kernel_s=mr.timings["kernel_s"] / len(masks),
                )
            )
        return out

    def run_units(self, units: list[Unit], threads: int | None = None) -> list[SubResult]:
        """Sub-runs in unit order. Units of one seed that need at most `D_AFFECTED` go
        through `run_many` together (one kernel pass); the others run one by one."""
        out: list[SubResult | None] = [None] * len(units)
        by_seed: dict[int, list[int]] = {}
        for i, u in enumerate(units):
            if multi_unit(u):
                by_seed.setdefault(u.seed, []).append(i)
        for seed, idx in by_seed.items():
            if len(idx) < 2:
                continue
            for i, r in zip(
                idx, self.run_many(seed, [units[i].mask for i in idx], threads=threads), strict=True
            ):
                if not units[i].detail & D_AFFECTED:
                    r.affected = None
                out[i] = r
        for i, u in enumerate(units):
            if out[i] is None:
                out[i] = self.run(u, threads=threads)
        return out

    # ------------------------------------------------------------------ frames
    @property
    def group_domains(self) -> list[str]:
        return [g.domain for g in self.profile.groups]

    def arrangements_yearly(self, arr: np.ndarray) -> pl.DataFrame:
        frame = aggregate.arrangements_frame(
            arr, self.start, self.policy, self.profile.group_codes, self.group_domains
        )
        return aggregate.arrangements_yearly(frame)

    def clients_frame(self, cli: np.ndarray) -> pl.DataFrame:
        return aggregate.clients_frame(
            cli, self.start, self.profile.group_codes, self.group_domains
        )

    def affected_frame(self, affected: np.ndarray, seed: int, measure: str) -> pl.DataFrame:
        rows = []
        for kind, label in ((0, "care_reduced"), (1, "care_ended")):
            for g, code in enumerate(self.profile.group_codes):
                rows.append(
                    (seed, measure, self.group_domains[g], code, label, int(affected[kind, g]))
                )
        return pl.DataFrame(
            rows,
            schema={
                "seed": pl.Int64,
                "measure": pl.Utf8,
                "domain": pl.Utf8,
                "group": pl.Utf8,
                "kind": pl.Utf8,
                "clients": pl.Int64,
            },
            orient="row",
        )

    def monthly_frame(self, monthly: np.ndarray, scenario: str) -> pl.DataFrame:
        T, P, _ = monthly.shape
        codes = self.policy.product_codes
        return pl.DataFrame(
            {
                "scenario": [scenario] * (T * P),
                "month": [format_month(self.start + t) for t in range(T) for _ in range(P)],
                "product": [codes[p] for _ in range(T) for p in range(P)],
                "gross_cents": monthly[..., 0].reshape(-1).astype(np.int64),
                "net_cents": monthly[..., 1].reshape(-1).astype(np.int64),
            },
            schema={
                "scenario": pl.Utf8,
                "month": pl.Utf8,
                "product": pl.Utf8,
                "gross_cents": pl.Int64,
                "net_cents": pl.Int64,
            },
        )

    def waiting_frames(self, waiting, scenario: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """A sub-run's queues (`SubResult.waiting`) as a run's waiting tables, per scenario."""
        from engine.outputs.waiting import waiting_frame, waiting_yearly

        monthly = waiting_frame(waiting, self.start, self.policy)
        yearly = waiting_yearly(waiting, self.start, monthly)
        tag = pl.lit(scenario, dtype=pl.Utf8).alias("scenario")
        return (
            monthly.select(tag, pl.all()),
            yearly.select(tag, pl.all()),
        )

    def assumptions_frame(self) -> pl.DataFrame:
        rows = [
            {
                "name": p.name,
                "value": json.dumps(p.value, default=str),
                "unit": getattr(p, "unit", None),
                "source": p.source,
                "note": getattr(p, "note", None),
            }
            for p in [*self.profile.register, *self.policy.register]
        ]
        return pl.DataFrame(
            rows,
            schema={
                "name": pl.Utf8,
                "value": pl.Utf8,
                "unit": pl.Utf8,
                "source": pl.Utf8,
                "note": pl.Utf8,
            },
        )

    def hashes(self) -> dict:
        from engine.simulation.run import _file_hash

        return {
            "population": self.population.fingerprint(),
            "profile_file": _file_hash(self.profile.path),
            "policy_file": _file_hash(self.policy.path),
        }


def _waiting_parts(sim):
    """What engine.outputs.waiting reads of a run with capacity, small enough to send back
    from a worker: the pools' names, units, interim care and norm, and the queue's counts."""
    from types import SimpleNamespace

    cr, q = sim.capacity, sim.queue
    return SimpleNamespace(
        capacity=SimpleNamespace(
            pools=list(cr.pools), units=list(cr.units), interim=list(cr.interim),
            norm_weeks=cr.norm_weeks,
        ),
        queue=SimpleNamespace(stats=q.stats, wait_adm=q.wait_adm, wait_cur=q.wait_cur),
    )  # fmt: skip
