"""Experiments: what each measure saves per budget year, alone and in the package, across
replications (issue 4; DESIGN sections 5 and 8).

    [experiment]
    name = "boz-2024-experiment"
    baseline = "baseline.toml"            # a scenario file without measures (relative to it)
    # policy library names or paths
    measures = ["m04_youth_weekly_cap_4000", "m12_max_three_years"]
    replications = 20                     # simulation seeds first_seed .. first_seed + 19
    first_seed = 1                        # (or: seeds = [1, 7, 9])
    attribution = "shapley"               # "shapley": exact up to max_exact measures, sampled
                                          # orderings above; "standalone": each measure alone
                                          # and the package only
    max_exact = 6
    permutations = 200                    # sampled orderings (more than max_exact measures)
    sampling_seed = 1

    [overrides]                           # profile or policy parameters, on top of the
                                          # baseline scenario's
    [measure_overrides]                   # "<rule>.<key>" = value

The population is generated once and shared by every combination and seed (common random
numbers: a measure's effect is the difference the rule made, not noise). Each combination
of measures is a sub-run in memory, with no folder of its own: the kernel with the measures of
the subset, its costs reduced to cents per budget year (`engine.simulation.subrun`). The
sub-runs of one seed that need only yearly totals and clients affected (all but the baseline's
and the package's, which keep arrangement bins, and the first seed's monthly detail) come from
one multi-combination kernel pass (`Context.run_many`, engine.model.combinations): each client
stepped once per distinct trajectory rather than once per subset, identical results. Sub-runs
go to a backend (`engine.simulation.backends`): in-process, a local process pool (default) or
Ray; results are identical on every backend and for any number of workers. The experiment
folder holds Arrow tables of savings per measure and budget year (standalone, Shapley share,
interaction; per seed and summarised across seeds) plus the baseline's and the package's
costs.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from engine.core.errors import InputError
from engine.core.limits import MAX_SCENARIO_NAME, MAX_SEED, check_name
from engine.core.months import format_month
from engine.core.scenario import RunSpec, check_finite_tree, load_scenario
from engine.core.sourced import Section, load_toml
from engine.core.version import __version__
from engine.outputs.folder import atomic_folder, write_json, write_parquet
from engine.simulation import attribution
from engine.simulation.population_source import population_manifest
from engine.simulation.subrun import (
    D_AFFECTED,
    D_ARRANGEMENTS,
    D_MONTHLY,
    Context,
    ContextSpec,
    Unit,
)

MAX_REPLICATIONS = 10_000  # seeds an experiment runs (each runs every measure subset)
MAX_MEASURES = 24  # a whole package of measures; above max_exact the Shapley shares are sampled
MAX_EXACT = 12  # 4,096 subsets: the ceiling of exact Shapley
ATTRIBUTIONS = ("shapley", "standalone")


@dataclass
class ExperimentSpec:
    name: str
    baseline: RunSpec
    measures: list[str]
    seeds: list[int]
    attribution: str = "shapley"
    max_exact: int = 6
    permutations: int = 200
    sampling_seed: int = 1
    description: str = ""
    file: str | None = None
    measure_overrides: dict = field(default_factory=dict)

    def on_stock(self, population: str | Path | None = None, start: int | None = None) -> None:
        """Every sub-run on `population` (a client extract or population file) instead of
        the synthetic population, and/or from month `start`."""
        if population is not None:
            self.baseline.population_file = str(population)
        if start is not None:
            self.baseline.start = start
        self.baseline.validate()

    @property
    def exact(self) -> bool:
        return self.attribution == "shapley" and len(self.measures) <= self.max_exact

    @property
    def method(self) -> str:
        if self.attribution == "standalone":
            return "standalone"
        return "shapley_exact" if self.exact else "shapley_sampled"

    def context_spec(
        self, overrides: dict | None = None, measure_overrides: dict | None = None
    ) -> ContextSpec:
        b = self.baseline
        return ContextSpec(
            profile=b.profile,
            overrides={**b.overrides, **(overrides or {})},
            start=b.start,
            months=b.months,
            population_seed=b.population_seed,
            population_file=b.population_file,
            measures=list(self.measures),
            measure_overrides={**self.measure_overrides, **(measure_overrides or {})},
            base_dir=b.base_dir,
            rng_mode=b.rng_mode,
            capacity=b.capacity,
        )


def _read_seeds(ex: Section, default_first: int) -> list[int]:
    """`seeds = [...]`, or `replications` seeds from `first_seed`."""
    if ex.has("seeds") and ex.has("replications"):
        raise ex.error("seeds", "both seeds and replications are given", "one of them")
    if ex.has("seeds"):
        seeds = ex.raw("seeds")
        if (
            not isinstance(seeds, list)
            or not seeds
            or len(seeds) > MAX_REPLICATIONS
            or any(
                not isinstance(s, int) or isinstance(s, bool) or not 0 <= s <= MAX_SEED
                for s in seeds
            )
        ):
            raise ex.error(
                "seeds",
                f"{seeds!r}"[:80],
                f"a list of 1..{MAX_REPLICATIONS} whole numbers in [0, 2^63)",
            )
        if len(set(seeds)) != len(seeds):
            raise ex.error("seeds", "a seed is listed twice", "distinct seeds")
    else:
        reps = ex.raw("replications", 1)
        if not isinstance(reps, int) or isinstance(reps, bool) or not 1 <= reps <= MAX_REPLICATIONS:
            raise ex.error(
                "replications",
                f"{reps!r}",
                f"a whole number of replications in 1..{MAX_REPLICATIONS}",
            )
        first = ex.number("first_seed", default_first, lo=0, hi=MAX_SEED - reps, integer=True)
        seeds = list(range(first, first + reps))
    return [int(s) for s in seeds]


def load_experiment(path: str | Path) -> ExperimentSpec:
    path = Path(path)
    if not path.is_file():
        raise InputError(
            str(path),
            "experiment file not found",
            "a file like runs/scenarios/boz-2024-experiment.toml",
        )
    raw = load_toml(path)
    f = str(path)
    top = Section(raw, f)
    ex = top.section("experiment")
    name = check_name(
        ex.text("name", path.stem), ex.where("name"), "an experiment name", MAX_SCENARIO_NAME
    )
    description = ex.text("description", "")
    base_ref = ex.text("baseline", "baseline.toml")
    base_path = Path(base_ref) if Path(base_ref).is_absolute() else path.parent / base_ref
    if not base_path.is_file():
        raise ex.error(
            "baseline",
            f"{base_ref!r}: no such scenario file",
            "a scenario file, relative to the experiment file",
        )
    baseline = load_scenario(base_path)
    if baseline.measures:
        raise ex.error(
            "baseline",
            f"{base_ref!r} has measures {baseline.measures}",
            "a baseline scenario without measures (list them under experiment.measures)",
        )
    measures = ex.raw("measures")
    if (
        not isinstance(measures, list)
        or not measures
        or any(not isinstance(m, str) for m in measures)
    ):
        raise ex.error("measures", f"{measures!r}", "a non-empty list of measure names or paths")
    if len(set(measures)) != len(measures):
        raise ex.error("measures", "a measure is listed twice", "each measure once")
    if len(measures) > MAX_MEASURES:
        raise ex.error("measures", f"{len(measures)} measures", f"at most {MAX_MEASURES}")
    seeds = _read_seeds(ex, baseline.seed)
    attr = ex.text("attribution", "shapley", choices=list(ATTRIBUTIONS))
    spec = ExperimentSpec(
        name=name,
        baseline=baseline,
        measures=list(measures),
        seeds=[int(s) for s in seeds],
        attribution=attr,
        max_exact=ex.number("max_exact", 6, lo=1, hi=MAX_EXACT, integer=True),
        permutations=ex.number("permutations", 200, lo=2, hi=100_000, integer=True),
        sampling_seed=ex.number("sampling_seed", 1, lo=0, hi=MAX_SEED, integer=True),
        description=description,
        file=f,
    )
    ex.done()
    for key in ("overrides", "measure_overrides"):
        value = top.raw(key, {})
        if not isinstance(value, dict):
            raise top.error(key, f"{value!r}", "a table of NAME = VALUE")
    for key in ("overrides", "measure_overrides"):
        for k, v in top.raw(key, {}).items():
            check_finite_tree(v, f"{f}: key {key}.{k}")
    spec.baseline.scenario_overrides = {**spec.baseline.overrides, **top.raw("overrides", {})}
    spec.baseline.overrides = dict(spec.baseline.scenario_overrides)
    spec.baseline.base_dir = str(path.parent)  # measure paths are relative to the experiment file
    spec.measure_overrides = dict(top.raw("measure_overrides", {}))
    top.done()
    return spec


# ------------------------------------------------------------------------------ planning
def plan(spec: ExperimentSpec, n: int) -> tuple[list[int], np.ndarray | None]:
    """The measure subsets to run, and the sampled orderings (sampled Shapley only)."""
    if spec.attribution == "standalone":
        return attribution.standalone_masks(n), None
    if spec.exact:
        return attribution.exact_masks(n), None
    orderings = attribution.sample_orderings(n, spec.permutations, spec.sampling_seed)
    masks = sorted(
        set(attribution.ordering_masks(orderings)) | set(attribution.standalone_masks(n))
    )
    return masks, orderings


def units_for(spec: ExperimentSpec, n: int, masks: list[int]) -> list[Unit]:
    """One sub-run per seed and subset. Detail beyond yearly totals where the outputs need
    it: clients affected for each measure alone and the package; the baseline's and the
    package's costs by arrangement; monthly costs per product for the first seed."""
    full = attribution.full_mask(n)
    singles = {1 << i for i in range(n)}
    units = []
    for k, seed in enumerate(spec.seeds):
        for mask in masks:
            detail = 0
            if mask in singles or mask == full:
                detail |= D_AFFECTED
            if mask in (0, full):
                detail |= D_ARRANGEMENTS
            if k == 0 and (mask in singles or mask in (0, full)):
                detail |= D_MONTHLY
            units.append(Unit(seed=seed, mask=mask, detail=detail))
    return units


# ------------------------------------------------------------------------------ assembly
def _pcts(values: np.ndarray) -> dict:
    n = values.size
    return {
        "mean": float(values.mean()),
        "p5": float(np.percentile(values, 5)),
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "mcse": float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else None,
    }


def savings_by_seed(
    spec: ExperimentSpec,
    names: list[str],
    years: list[int],
    results: dict,
    orderings: np.ndarray | None,
) -> tuple[pl.DataFrame, dict]:
    """Savings per seed, measure and budget year in exact cents (standalone, Shapley share,
    interaction; the row "package" holds the package saving and the package minus the sum of
    standalone savings), and the sampling standard error of sampled Shapley shares."""
    n = len(names)
    full = attribution.full_mask(n)
    rows = []
    sampling_se = {}  # (measure, year) -> [se per seed] in cents
    by_seed: dict[int, dict] = {}
    for (s, mask), r in results.items():
        by_seed.setdefault(s, {})[mask] = r
    for seed in spec.seeds:
        runs = by_seed[seed]
        base = runs[0]
        for yi, year in enumerate(years):
            sav_net = {mask: int(base.net_y[yi] - r.net_y[yi]) for mask, r in runs.items()}
            sav_gross = {mask: int(base.gross_y[yi] - r.gross_y[yi]) for mask, r in runs.items()}
            if spec.attribution == "standalone":
                sh_net = sh_gross = [None] * n
            elif orderings is None:
                sh_net = attribution.shapley_exact(sav_net, n)
                sh_gross = attribution.shapley_exact(sav_gross, n)
            else:
                sh_net, se = attribution.shapley_sampled(sav_net, orderings)
                sh_gross, _ = attribution.shapley_sampled(sav_gross, orderings)
                for i in range(n):
                    sampling_se.setdefault((names[i], year), []).append(se[i])
            package_net, package_gross = sav_net[full], sav_gross[full]
            sum_alone = sum(sav_net[1 << i] for i in range(n))
            for i, name in enumerate(names):
                alone = sav_net[1 << i]
                rows.append(
                    {
                        "seed": seed,
                        "measure": name,
                        "budget_year": year,
                        "standalone_net_cents": alone,
                        "standalone_gross_cents": sav_gross[1 << i],
                        "shapley_net_cents": sh_net[i],
                        "shapley_gross_cents": sh_gross[i],
                        "interaction_net_cents": None if sh_net[i] is None else sh_net[i] - alone,
                    }
                )
            rows.append(
                {
                    "seed": seed,
                    "measure": "package",
                    "budget_year": year,
                    "standalone_net_cents": package_net,
                    "standalone_gross_cents": package_gross,
                    "shapley_net_cents": package_net,
                    "shapley_gross_cents": package_gross,
                    "interaction_net_cents": package_net - sum_alone,
                }
            )
    schema = {
        "seed": pl.Int64,
        "measure": pl.Utf8,
        "budget_year": pl.Int32,
        "standalone_net_cents": pl.Int64,
        "standalone_gross_cents": pl.Int64,
        "shapley_net_cents": pl.Int64,
        "shapley_gross_cents": pl.Int64,
        "interaction_net_cents": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row"), sampling_se


def summarise(
    by_seed: pl.DataFrame,
    spec: ExperimentSpec,
    names: list[str],
    years: list[int],
    sampling_se: dict,
    meta: dict | None = None,
) -> pl.DataFrame:
    """Per measure and budget year: mean, P5, P50, P95 and Monte Carlo standard error of
    the paired savings across seeds, in EUR."""
    meta = meta or {}
    rows = []
    for name in [*names, "package"]:
        for year in years:
            sub = by_seed.filter((pl.col("measure") == name) & (pl.col("budget_year") == year))
            row = {
                "measure": name,
                "number": meta.get(name, {}).get("number"),
                "title": meta.get(name, {}).get(
                    "title", "all measures together" if name == "package" else ""
                ),
                "budget_year": year,
                "n_seeds": sub.height,
            }
            for col in ("standalone_net", "shapley_net", "interaction_net"):
                vals = sub[f"{col}_cents"].drop_nulls().to_numpy().astype(np.float64) / 100.0
                stats = (
                    _pcts(vals)
                    if vals.size
                    else dict.fromkeys(("mean", "p5", "p50", "p95", "mcse"))
                )
                for k, v in stats.items():
                    row[f"{col}_eur_{k}"] = v
            se = sampling_se.get((name, year))  # per seed, cents; the package share has none
            row["shapley_sampling_se_eur"] = (
                float(np.mean(se) / 100.0)
                if se
                else (0.0 if spec.attribution == "shapley" else None)
            )
            rows.append(row)
    schema = {
        "measure": pl.Utf8,
        "number": pl.Utf8,
        "title": pl.Utf8,
        "budget_year": pl.Int32,
        "n_seeds": pl.Int32,
    }
    for col in ("standalone_net", "shapley_net", "interaction_net"):
        for k in ("mean", "p5", "p50", "p95", "mcse"):
            schema[f"{col}_eur_{k}"] = pl.Float64
    schema["shapley_sampling_se_eur"] = pl.Float64
    return pl.DataFrame(rows, schema=schema, orient="row")


def _stack(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame()


def experiment_tables(
    spec: ExperimentSpec, ctx: Context, results: dict, orderings
) -> dict[str, pl.DataFrame]:
    names = [m.name for m in ctx.measures]
    n = len(names)
    full = attribution.full_mask(n)
    years = ctx.years
    by_seed, sampling_se = savings_by_seed(spec, names, years, results, orderings)
    meta = {
        m.name: {"number": None if m.number is None else str(m.number), "title": m.title}
        for m in ctx.measures
    }
    savings = summarise(by_seed, spec, names, years, sampling_se, meta)
    label = {0: "baseline", full: "package", **{1 << i: names[i] for i in range(n)}}
    base_y, pack_y, affected, monthly, clients, waiting = [], [], [], [], [], []
    for (seed, mask), r in sorted(results.items()):
        if r.arrangements is not None:
            frame = ctx.arrangements_yearly(r.arrangements).with_columns(
                pl.lit(seed, dtype=pl.Int64).alias("seed")
            )
            frame = frame.select("seed", *[c for c in frame.columns if c != "seed"])
            (base_y if mask == 0 else pack_y).append(frame)
        if r.clients is not None and mask == 0 and seed == spec.seeds[0]:
            clients.append(ctx.clients_frame(r.clients))
        if r.affected is not None:
            affected.append(
                ctx.affected_frame(r.affected, seed, "package" if mask == full else label[mask])
            )
        if r.monthly is not None:
            monthly.append(ctx.monthly_frame(r.monthly, label[mask]))
        if r.waiting is not None:  # capacity on: the queues of the first seed's scenarios
            waiting.append(ctx.waiting_frames(r.waiting, label[mask]))
    queues = {}
    if waiting:
        queues = {
            "waiting": _stack([w for w, _ in waiting]),
            "waiting_yearly": _stack([y for _, y in waiting]),
        }
    return {
        **queues,
        "savings": savings,
        "savings_by_seed": by_seed,
        "baseline_yearly": _stack(base_y),
        "package_yearly": _stack(pack_y),
        "affected": _stack(affected),
        "costs_monthly": _stack(monthly),
        "baseline_clients": _stack(clients),
        "assumptions": ctx.assumptions_frame(),
    }


def manifest_for(
    spec: ExperimentSpec,
    ctx: Context,
    run_id: str,
    backend: str,
    workers: int,
    timings: dict,
    n_subruns: int,
) -> dict:
    return {
        "kind": "experiment",
        "run_id": run_id,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "caseload_version": __version__,
        "experiment": {
            "name": spec.name,
            "file": spec.file,
            "description": spec.description,
            "profile": ctx.profile.name,
            "policy": ctx.policy.name,
            "baseline_scenario": spec.baseline.scenario_file,
            "start": format_month(ctx.start),
            "months": ctx.months,
            "population_seed": ctx.population.meta.get(
                "population_seed", spec.baseline.population_seed
            ),
            "seeds": spec.seeds,
            "attribution": spec.method,
            "permutations": None if spec.method != "shapley_sampled" else spec.permutations,
            "sampling_seed": None if spec.method != "shapley_sampled" else spec.sampling_seed,
            "overrides": spec.baseline.overrides,
            "measure_overrides": spec.measure_overrides,
            "rng_mode": "keyed" if spec.baseline.rng_mode == 0 else "sequential",
            "capacity": spec.baseline.capacity,
            "backend": backend,
            "workers": workers,
            "subruns": n_subruns,
        },
        "measures": [
            {
                "name": m.name,
                "number": m.number,
                "title": m.title,
                "source": m.source,
                "file": str(m.path),
                "rules": [r.name for r in m.rules],
                "domains": sorted({r.domain for r in m.rules}),
            }
            for m in ctx.measures
        ],
        "population": population_manifest(ctx.population, spec.baseline.population_file),
        "budget_years": ctx.years,
        "hashes": ctx.hashes(),
        "timings": {k: round(v, 3) if isinstance(v, float) else v for k, v in timings.items()},
    }


def write_experiment(
    tables: dict[str, pl.DataFrame], manifest: dict, out_dir: Path, run_id: str
) -> Path:
    final = Path(out_dir) / run_id
    with atomic_folder(out_dir, run_id) as tmp:
        for name, frame in tables.items():
            write_parquet(frame, tmp / f"{name}.parquet")
        write_json(manifest, tmp / "manifest.json")
    return final


def experiment_id(spec: ExperimentSpec) -> str:
    return f"{spec.name}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def run_experiment(
    spec: ExperimentSpec,
    backend: str = "process",
    workers: int | None = None,
    address: str | None = None,
    progress=None,
    on_plan=None,
) -> tuple[dict, dict, Context]:
    """Every sub-run the attribution needs, on the backend; the experiment's tables.
    `on_plan(n_subruns)` is called once the work is known (to size a progress bar)."""
    import time

    from engine.simulation.backends import run_jobs

    timings = {}
    t0 = time.perf_counter()
    cspec = spec.context_spec()
    ctx = Context.build(cspec)  # validates measures and overrides, generates the population once
    timings["prepare_s"] = time.perf_counter() - t0
    n = len(ctx.measures)
    masks, orderings = plan(spec, n)
    units = units_for(spec, n, masks)
    if on_plan:
        on_plan(len(units))
    t0 = time.perf_counter()
    (results,), used = run_jobs(
        [(cspec, units)],
        backend=backend,
        workers=workers,
        address=address,
        progress=progress,
        contexts={cspec.key(): ctx},
    )
    timings["subruns_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tables = experiment_tables(
        spec, ctx, {(u.seed, u.mask): r for u, r in zip(units, results, strict=True)}, orderings
    )
    timings["tables_s"] = time.perf_counter() - t0
    info = {
        "backend": used["backend"],
        "workers": used["workers"],
        "timings": timings,
        "subruns": len(units),
    }
    return tables, info, ctx
