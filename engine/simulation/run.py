"""A run: scenario -> population -> kernel -> aggregates -> run folder.

`execute(spec)` is what `caseload run` calls; `simulate_scenario(spec)` does the same in
memory (experiments batch these without folders).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numba
import numpy as np
import polars as pl

from engine.core.domain import MODE_KEYED
from engine.core.errors import InputError
from engine.core.months import format_month
from engine.core.scenario import RunSpec
from engine.core.version import __version__
from engine.outputs import tables as aggregate
from engine.outputs.folder import atomic_folder, write_json, write_parquet
from engine.simulation.checks import run_warnings
from engine.simulation.population_source import load_population, population_manifest, start_of
from engine.simulation.simulate import SimResult, simulate
from synthetic_population.cache import settle
from synthetic_population.generator import Population
from synthetic_population.profile import load_profile

DEFAULT_OUT = Path("runs/out")


@dataclass
class RunResult:
    spec: RunSpec
    sim: SimResult
    population: Population
    tables: dict[str, pl.DataFrame]
    manifest: dict


def _file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def simulate_scenario(
    spec: RunSpec, population: Population | None = None, progress=None
) -> RunResult:
    spec.validate()
    timings = {}
    t0 = time.perf_counter()
    profile, policy = load_profile(spec.profile, spec.overrides)
    start = profile.start if spec.start is None else spec.start
    timings["load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if population is None:
        population = load_population(spec, profile, policy, start)
    start = start_of(population, start)
    timings["population_s"] = time.perf_counter() - t0
    if progress:
        progress("population", population)
    measures = load_measures(spec, profile, policy)
    on_compile = (lambda: progress("compiling")) if progress else None
    sim = simulate(
        profile,
        policy,
        population,
        start,
        spec.months,
        spec.seed,
        measures=measures,
        rng_mode=spec.rng_mode,
        threads=spec.threads,
        on_compile=on_compile,
        capacity=spec.capacity,
    )
    timings.update(sim.timings)
    t0 = time.perf_counter()
    settle(population)
    timings["cache_wait_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    groups = profile.group_codes
    domains = [g.domain for g in profile.groups]
    arrangements = aggregate.arrangements_frame(sim.arr, start, policy, groups, domains)
    clients = aggregate.clients_frame(sim.cli, start, groups, domains)
    served = aggregate.served_frame(sim.served_half, sim.served_year, start, spec.months, groups)
    arr_y = aggregate.arrangements_yearly(arrangements)
    tables = {
        "clients": clients,
        "arrangements": arrangements,
        "served": served,
        "clients_yearly": aggregate.clients_yearly(clients, served),
        "arrangements_yearly": arr_y,
        "summary": aggregate.summary_by_domain_year(arr_y, served),
        "events": aggregate.events_frame(
            sim.events, start, [r for ms in measures for r in ms.rules], policy, groups
        ),
        "affected": aggregate.affected_frame(sim.affected, measures, groups, domains),
    }
    if sim.queue is not None:
        from engine.outputs.waiting import waiting_frame, waiting_yearly

        tables["waiting"] = waiting_frame(sim, start, policy)
        tables["waiting_yearly"] = waiting_yearly(sim, start, tables["waiting"])
    timings["aggregate_s"] = time.perf_counter() - t0
    manifest = {
        "caseload_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scenario": {
            "name": spec.name,
            "profile": profile.name,
            "policy": policy.name,
            "measures": [
                {
                    "name": ms.name,
                    "number": ms.number,
                    "title": ms.title,
                    "source": ms.source,
                    "file": str(ms.path),
                    "rules": [r.name for r in ms.rules],
                }
                for ms in measures
            ],
            "measure_overrides": spec.measure_overrides,
            "description": spec.description,
            "file": spec.scenario_file,
            "start": format_month(start),
            "months": spec.months,
            "overrides": spec.overrides,
            "scenario_overrides": spec.scenario_overrides,
            "set_overrides": spec.set_overrides,
        },
        "seeds": {
            "simulation": spec.seed,
            "population": population.meta.get("population_seed", spec.population_seed),
        },
        "rng_mode": "keyed" if spec.rng_mode == MODE_KEYED else "sequential",
        "capacity": capacity_manifest(sim, measures),
        "hashes": {
            "profile_file": _file_hash(profile.path),
            "policy_file": _file_hash(policy.path),
            "fitted_file": _file_hash(profile.fitted_path) if profile.fitted_path else None,
            "population": population.fingerprint(),
        },
        "population": {
            **population_manifest(population, spec.population_file),
            # the population cache: hit (loaded), miss (generated and kept), off; None: a file
            "cache": population.meta.get("population_cache"),
        },
        "active_arrangement_months": sim.active_arrangement_months,
        "warnings": run_warnings(measures, start, spec.months, population, profile, policy),
        "timings": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in timings.items()},
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": numba.__version__,
            "polars": pl.__version__,
            "pyarrow": importlib.metadata.version("pyarrow"),  # not imported by a run
        },
        "spec": {k: v for k, v in asdict(spec).items() if k not in ("threads",)},
    }
    return RunResult(spec=spec, sim=sim, population=population, tables=tables, manifest=manifest)


def capacity_manifest(sim: SimResult, measures: list) -> dict | None:
    """What a run with capacity held: pools, units, interim care, the norm, the measures'
    changes and how many clients the month-outer driver stepped; None without capacity."""
    cr = sim.capacity
    if cr is None:
        return None
    return {
        "pools": [
            {
                "product": p,
                "district": d,
                "unit": cr.units[k],
                "interim": {"product": cr.interim[k][0], "step": cr.interim[k][1]},
            }
            for k, (p, d) in enumerate(cr.pools)
        ],
        "norm_weeks": cr.norm_weeks,
        "changes": [
            {"measure": ch.measure, "name": ch.name, "product": ch.product, "source": ch.source}
            for ch in cr.changes
        ],
        "coupled_clients": sim.queue.coupled,
    }


def load_measures(spec: RunSpec, profile, policy) -> list:
    """The scenario's measures, validated against the policy catalogue and the profile's
    groups; `measure_overrides` are routed to the measure holding the rule."""
    from rules.schema import load_measure

    groups = {g.code: g.domain for g in profile.groups}
    base = Path(spec.base_dir) if spec.base_dir else None
    loaded = [load_measure(ref, policy, groups, base=base) for ref in spec.measures]
    if spec.measure_overrides:
        by_rule = {r.name: i for i, ms in enumerate(loaded) for r in [*ms.rules, *ms.capacity]}
        per_measure: dict[int, dict] = {}
        for key, value in spec.measure_overrides.items():
            rule = key.split(".", 1)[0]
            if rule not in by_rule or "." not in key:
                raise InputError(
                    "measure_overrides",
                    f"unknown rule {rule!r} in {key!r}",
                    "<rule name>.<key>, rules: " + ", ".join(by_rule),
                )
            per_measure.setdefault(by_rule[rule], {})[key] = value
        for i, over in per_measure.items():
            loaded[i] = load_measure(spec.measures[i], policy, groups, overrides=over, base=base)
    names = [ms.name for ms in loaded]
    if len(set(names)) != len(names):
        raise InputError("measures", "a measure is listed twice", "each measure once")
    return loaded


def run_id_for(spec: RunSpec) -> str:
    digest = hashlib.sha256(
        json.dumps(asdict(spec), sort_keys=True, default=str).encode()
    ).hexdigest()[:6]
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{spec.name}-{stamp}-{digest}"


def write_run(result: RunResult, out_dir: Path, run_id: str | None = None) -> Path:
    run_id = run_id or run_id_for(result.spec)
    final = Path(out_dir) / run_id
    t0 = time.perf_counter()
    with atomic_folder(out_dir, run_id) as tmp:
        for name, frame in result.tables.items():
            write_parquet(frame, tmp / f"{name}.parquet")
        result.manifest["run_id"] = run_id
        result.manifest["timings"]["write_s"] = round(time.perf_counter() - t0, 4)
        write_json(result.manifest, tmp / "manifest.json")
    return final


def execute(
    spec: RunSpec, out_dir: Path = DEFAULT_OUT, run_id: str | None = None, progress=None
) -> tuple[RunResult, Path]:
    result = simulate_scenario(spec, progress=progress)
    path = write_run(result, out_dir, run_id)
    return result, path
