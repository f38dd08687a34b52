"""What the tests share: the toy profile and data folders, run specs on the toy profile, a
valid measure file, and output folders in the experiment and sensitivity format.

Output folders: made from one toy run without running any experiment: the baseline per seed
is the toy run's yearly arrangements scaled a little per seed, and each measure takes a fixed
share off some products from a month on, so savings, Shapley shares and interactions are
known exactly. Used by the catalog, workbook and report tests, so they do not depend on the
experiment code.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from pathlib import Path

import numpy as np
import polars as pl

from engine.core.scenario import RunSpec
from engine.outputs.folder import atomic_folder, write_json, write_parquet

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
DATA = TESTS / "data"
TOY_PROFILE = str(DATA / "toy" / "profile.toml")


def toy_spec(**kw) -> RunSpec:
    kw.setdefault("profile", TOY_PROFILE)
    kw.setdefault("months", 36)
    return RunSpec(**kw)


# a valid measure file on the toy policy (tests that break it one key at a time start here)
GOOD_MEASURE = """
[measure]
name = "test_measure"
number = 1
source = "test"

[[rules]]
name = "cap"
primitive = "weekly_cap"
moments = ["intake", "reindication"]
effective_from = "2024-07"
scope = { domain = "wmo", products = ["beg"], steps = ["beg2", "beg3"] }
params = { cap_eur_w = 250.0 }
exceptions = { approved_share = 0.1 }
source = "test"
"""

# name, number, title, {product: share taken off}, first month it acts (YYYY-MM)
MEASURES = [
    ("youth_cap", "4", "Youth weekly ceiling EUR 4,000", {"jamb": 0.08}, "2024-07"),
    ("no_ironing", "15", "No more ironing in household help", {"ho": 0.05}, "2024-07"),
    ("max_three_years", "12", "Max 3 years of support", {"beg": 0.10, "ho": 0.03}, "2025-01"),
]


def _month_key(month: dt.date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def _factor(measures: tuple, product: str, month: str) -> float:
    f = 1.0
    for _name, _nr, _title, cuts, start in measures:
        if product in cuts and month >= start:
            f *= 1.0 - cuts[product]
    return f


def _scaled(frame: pl.DataFrame, factor_of) -> pl.DataFrame:
    """Money scaled per row by factor_of(product, month or year), rounded to cents."""
    f = np.array([factor_of(p, m) for p, m in zip(frame["product"], frame["_when"], strict=True)])
    gross = np.round(frame["gross_cents"].to_numpy() * f).astype(np.int64)
    own = (
        np.round(frame["own_contribution_cents"].to_numpy() * f).astype(np.int64)
        if "own_contribution_cents" in frame.columns
        else None
    )
    out = frame.with_columns(pl.Series("gross_cents", gross))
    if own is not None:
        out = out.with_columns(pl.Series("own_contribution_cents", own))
        out = out.with_columns(
            (pl.col("gross_cents") - pl.col("own_contribution_cents")).alias("net_cents")
        )
    return out


def _seed_factor(seed: int) -> float:
    return 1.0 + 0.013 * math.sin(seed * 1.7)


def experiment_tables(toy_run, seeds=(1, 2, 3), measures=MEASURES) -> dict[str, pl.DataFrame]:
    """An experiment folder's tables, made from the toy run: savings per seed with exact
    Shapley shares, their summary, the baseline's and the package's yearly costs, clients
    affected, monthly costs and the assumptions register."""
    arr = toy_run.tables["arrangements"]
    monthly = arr.with_columns(
        pl.col("month").map_elements(_month_key, return_dtype=pl.Utf8).alias("_when")
    )
    years = sorted(monthly["budget_year"].unique().to_list())
    base_rows, pkg_rows, by_seed = [], [], []
    for seed in seeds:
        value, base_yearly, pkg_yearly = _subset_savings(monthly, seed, measures)
        pkg_rows.append(pkg_yearly)
        base_rows.append(base_yearly)
        for year in years:
            by_seed += _savings_rows(value, seed, year, measures)
    savings_by_seed = pl.DataFrame(
        by_seed,
        orient="row",
        schema={
            "seed": pl.Int64,
            "measure": pl.Utf8,
            "budget_year": pl.Int32,
            "standalone_net_cents": pl.Int64,
            "standalone_gross_cents": pl.Int64,
            "shapley_net_cents": pl.Int64,
            "shapley_gross_cents": pl.Int64,
            "interaction_net_cents": pl.Int64,
        },
    )
    return {
        "savings_by_seed": savings_by_seed,
        "savings": _savings_summary(savings_by_seed, years, measures),
        "baseline_yearly": pl.concat(base_rows).select("seed", pl.exclude("seed")),
        "package_yearly": pl.concat(pkg_rows).select("seed", pl.exclude("seed")),
        "affected": _affected(toy_run, seeds, measures),
        "costs_monthly": _costs_monthly(monthly, seeds[0], measures),
        "assumptions": _assumptions(toy_run),
    }


def _yearly(frame: pl.DataFrame) -> pl.DataFrame:
    """Yearly costs per domain, group, product, step and setting (baseline_yearly's rows)."""
    return (
        frame.group_by(["budget_year", "domain", "group", "product", "step", "setting"])
        .agg(
            pl.col("arrangements").sum().alias("arrangement_months"),
            pl.col("gross_cents").sum(),
            pl.col("own_contribution_cents").sum(),
            pl.col("net_cents").sum(),
        )
        .with_columns(pl.col("budget_year").cast(pl.Int32))
        .sort(["budget_year", "domain", "group", "product", "step"])
    )


def _subset_savings(
    monthly: pl.DataFrame, seed: int, measures
) -> tuple[dict, pl.DataFrame, pl.DataFrame]:
    """The net and gross saving of every subset of measures per year, for one seed (its
    baseline is the toy run scaled by the seed's factor). Returns the savings by subset
    (tuples of measure positions), the baseline's and the package's yearly costs."""
    sf = _seed_factor(seed)
    base_m = _scaled(monthly, lambda p, m, sf=sf: sf)
    value: dict[tuple, dict[int, tuple[int, int]]] = {}
    subsets = [
        c for r in range(len(measures) + 1) for c in itertools.combinations(range(len(measures)), r)
    ]
    base_y = base_m.group_by("budget_year").agg(
        pl.col("net_cents").sum(), pl.col("gross_cents").sum()
    )
    base_net = dict(
        zip(base_y["budget_year"].to_list(), base_y["net_cents"].to_list(), strict=True)
    )
    base_gross = dict(
        zip(base_y["budget_year"].to_list(), base_y["gross_cents"].to_list(), strict=True)
    )
    pkg_yearly = None
    for sub in subsets:
        ms = tuple(measures[i] for i in sub)
        run = _scaled(monthly, lambda p, m, sf=sf, ms=ms: sf * _factor(ms, p, m))
        y = run.group_by("budget_year").agg(pl.col("net_cents").sum(), pl.col("gross_cents").sum())
        value[sub] = {int(b): (base_net[b] - n, base_gross[b] - g) for b, n, g in y.iter_rows()}
        if len(sub) == len(measures):
            pkg_yearly = _yearly(run).with_columns(pl.lit(seed, dtype=pl.Int64).alias("seed"))
    base_yearly = _yearly(base_m).with_columns(pl.lit(seed, dtype=pl.Int64).alias("seed"))
    return value, base_yearly, pkg_yearly


def _shapley_cents(value: dict, n: int, year: int, which: int) -> np.ndarray:
    """Exact Shapley shares of the package saving (which: 0 net, 1 gross) in whole cents,
    the rounding remainder on the largest share, so they add up to the package."""
    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for r in range(n):
            for s in itertools.combinations(others, r):
                w = math.factorial(len(s)) * math.factorial(n - len(s) - 1) / math.factorial(n)
                with_i = tuple(sorted((*s, i)))
                phi[i] += w * (value[with_i][year][which] - value[s][year][which])
    ints = np.round(phi).astype(np.int64)
    ints[int(np.argmax(np.abs(ints)))] += value[tuple(range(n))][year][which] - int(ints.sum())
    return ints


def _savings_rows(value: dict, seed: int, year: int, measures) -> list[tuple]:
    """savings_by_seed's rows of one seed and year: each measure (alone, its Shapley share,
    the interaction), then the package."""
    n = len(measures)
    full = tuple(range(n))
    shap = {which: _shapley_cents(value, n, year, which) for which in (0, 1)}  # net, gross
    rows = []
    for i, (name, *_rest) in enumerate(measures):
        st_net, st_gross = value[(i,)][year]
        rows.append(
            (
                seed,
                name,
                year,
                st_net,
                st_gross,
                int(shap[0][i]),
                int(shap[1][i]),
                int(shap[0][i]) - st_net,
            )
        )
    pk_net, pk_gross = value[full][year]
    sum_st = sum(value[(i,)][year][0] for i in range(n))
    rows.append((seed, "package", year, pk_net, pk_gross, pk_net, pk_gross, pk_net - sum_st))
    return rows


def _savings_summary(savings_by_seed: pl.DataFrame, years: list, measures) -> pl.DataFrame:
    """The savings table: per measure and year the mean, percentiles and Monte Carlo
    standard error over the seeds."""
    rows = []
    info = {m[0]: m for m in measures}
    for name in [*[m[0] for m in measures], "package"]:
        for year in years:
            sub = savings_by_seed.filter(
                (pl.col("measure") == name) & (pl.col("budget_year") == year)
            )
            row = {
                "measure": name,
                "number": info[name][1] if name in info else None,
                "title": info[name][2] if name in info else "All measures together",
                "budget_year": year,
                "n_seeds": sub.height,
            }
            for x in ("standalone_net", "shapley_net", "interaction_net"):
                row.update(_summary_of(sub[f"{x}_cents"].to_numpy() / 100.0, x))
            row["shapley_sampling_se_eur"] = 0.0
            rows.append(row)
    return pl.DataFrame(rows).with_columns(
        pl.col("budget_year").cast(pl.Int32),
        pl.col("n_seeds").cast(pl.Int32),
        pl.col("number").cast(pl.Utf8),
    )


def _summary_of(v: np.ndarray, x: str) -> dict:
    """Mean, 5/50/95% percentiles and MC s.e. of one saving over the seeds, in euros."""
    row = {f"{x}_eur_mean": float(v.mean())}
    row[f"{x}_eur_p5"], row[f"{x}_eur_p50"], row[f"{x}_eur_p95"] = (
        (float(q) for q in np.percentile(v, [5, 50, 95])) if len(v) > 1 else (float(v.mean()),) * 3
    )
    row[f"{x}_eur_mcse"] = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else None
    return row


def _affected(toy_run, seeds, measures) -> pl.DataFrame:
    """Clients whose care a measure reduced or ended: a share of each group's clients, for
    the groups of the products the measure cuts."""
    clients = (
        toy_run.tables["clients"].group_by(["domain", "group"]).agg(pl.col("active_end").mean())
    )
    aff = []
    for seed in seeds:
        for mi, (name, _nr, _t, cuts, _s) in enumerate(
            [
                *measures,
                ("package", None, None, {k: v for m in measures for k, v in m[3].items()}, None),
            ]
        ):
            for domain, group, mean in clients.sort(["domain", "group"]).iter_rows():
                touched = (domain == "jeugd" and "jamb" in cuts) or (
                    domain == "wmo" and ({"ho", "beg"} & set(cuts))
                )
                if not touched:
                    continue
                share = 0.12 + 0.03 * mi
                aff.append((seed, name, domain, group, "care_reduced", int(mean * share) + seed))
                aff.append(
                    (seed, name, domain, group, "care_ended", int(mean * share / 6) + (seed % 2))
                )
    return pl.DataFrame(
        aff,
        orient="row",
        schema={
            "seed": pl.Int64,
            "measure": pl.Utf8,
            "domain": pl.Utf8,
            "group": pl.Utf8,
            "kind": pl.Utf8,
            "clients": pl.Int64,
        },
    )


def _costs_monthly(monthly: pl.DataFrame, seed: int, measures) -> pl.DataFrame:
    """Monthly cost per product of one seed per scenario: the baseline, each measure
    alone, the package."""
    sf = _seed_factor(seed)
    cm = []
    for scen, ms in [
        ("baseline", ()),
        *[(m[0], (m,)) for m in measures],
        ("package", tuple(measures)),
    ]:
        run = _scaled(monthly, lambda p, m, sf=sf, ms=ms: sf * _factor(ms, p, m))
        cm.append(
            run.group_by(["_when", "product"])
            .agg(pl.col("gross_cents").sum(), pl.col("net_cents").sum())
            .select(
                pl.lit(scen).alias("scenario"),
                pl.col("_when").alias("month"),
                "product",
                "gross_cents",
                "net_cents",
            )
        )
    return pl.concat(cm).sort(["scenario", "month", "product"])


def _assumptions(toy_run) -> pl.DataFrame:
    """The toy profile's and policy's parameter register."""
    from synthetic_population.profile import load_profile

    profile, policy = load_profile(toy_run.spec.profile)
    reg = [*profile.register, *policy.register]
    return pl.DataFrame(
        {
            "name": [r.name for r in reg],
            "value": [json.dumps(r.value, default=str) for r in reg],
            "unit": [r.unit for r in reg],
            "source": [r.source for r in reg],
            "note": [r.note for r in reg],
        }
    )


def experiment_manifest(
    toy_run, run_id: str, seeds, measures=MEASURES, years=(2024, 2025, 2026)
) -> dict:
    return {
        "kind": "experiment",
        "run_id": run_id,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "caseload_version": "0.1.0",
        "experiment": {
            "name": "toy-package",
            "file": "runs/experiments/toy-package.toml",
            "description": "three toy measures, exact Shapley attribution",
            "profile": toy_run.spec.profile,
            "policy": "toy",
            "start": "2024-01",
            "months": 36,
            "population_seed": 5,
            "seeds": list(seeds),
            "attribution": "shapley_exact",
            "permutations": None,
            "backend": "local",
            "workers": 2,
        },
        "measures": [
            {
                "name": m[0],
                "number": m[1],
                "title": m[2],
                "source": "test",
                "file": f"measures/{m[0]}.toml",
            }
            for m in measures
        ],
        "budget_years": list(years),
        "hashes": {
            "population": toy_run.population.fingerprint(),
            "profile_file": "0" * 16,
            "policy_file": "0" * 16,
        },
        "timings": {"total_s": 1.0},
    }


def write_experiment(
    out_dir: Path, run_id: str, toy_run, seeds=(1, 2, 3), measures=MEASURES
) -> Path:
    tables = experiment_tables(toy_run, seeds, measures)
    years = sorted(tables["savings"]["budget_year"].unique().to_list())
    final = Path(out_dir) / run_id
    with atomic_folder(out_dir, run_id) as tmp:
        for name, frame in tables.items():
            write_parquet(frame, tmp / f"{name}.parquet")
        write_json(
            experiment_manifest(toy_run, run_id, seeds, measures, years), tmp / "manifest.json"
        )
    return final


def write_sensitivity(out_dir: Path, run_id: str, toy_run, experiment: Path | None = None) -> Path:
    varied = [
        ("policy.products.ho.indication_months", 12, 9, 15),
        ("groups.oud.inflow_per_year", 100, 80, 120),
        ("policy.own_contribution.monthly_eur", 20.0, 15.0, 25.0),
    ]
    rows = []
    for pi, (name, base, low, high) in enumerate(varied):
        for mi, (m, *_rest) in enumerate([*MEASURES, ("package",)]):
            for year in (2024, 2025, 2026):
                b = 1_000_000 * (mi + 1) * (year - 2023)
                lo, hi = int(b * (1 - 0.2 / (pi + 1))), int(b * (1 + 0.3 / (pi + 1)))
                rows.append(
                    (
                        name,
                        json.dumps(base),
                        json.dumps(low),
                        json.dumps(high),
                        m,
                        year,
                        b,
                        lo,
                        hi,
                        abs(hi - lo),
                    )
                )
    frame = pl.DataFrame(
        rows,
        orient="row",
        schema={
            "parameter": pl.Utf8,
            "value_base": pl.Utf8,
            "value_low": pl.Utf8,
            "value_high": pl.Utf8,
            "measure": pl.Utf8,
            "budget_year": pl.Int32,
            "saving_base_net_cents": pl.Int64,
            "saving_low_net_cents": pl.Int64,
            "saving_high_net_cents": pl.Int64,
            "swing_net_cents": pl.Int64,
        },
    )
    manifest = experiment_manifest(toy_run, run_id, (1,))
    manifest["kind"] = "sensitivity"
    manifest["varied"] = [{"name": n, "base": b, "low": lo, "high": hi} for n, b, lo, hi in varied]
    final = Path(out_dir) / run_id
    with atomic_folder(out_dir, run_id) as tmp:
        write_parquet(frame, tmp / "sensitivity.parquet")
        write_json(manifest, tmp / "manifest.json")
    return final


def decomposition_row(frame: pl.DataFrame, level: str, **keys) -> dict:
    """The one row of a decomposition table at a level (total, domain, domain_product, ...)
    for the given domain, product and group; the keys not given are null in that row."""
    f = frame.filter(pl.col("level") == level)
    for k in ("domain", "product", "group"):
        f = f.filter(pl.col(k) == keys[k]) if k in keys else f.filter(pl.col(k).is_null())
    assert f.height == 1, (level, keys, f)
    return f.row(0, named=True)


def mapping_kib(arr: np.ndarray, field: str) -> int:
    """A field of /proc/self/smaps (`AnonHugePages`, `Anonymous`, ...) summed over the
    mappings that hold arr's data: the kernel's own account of its pages."""
    lo = arr.__array_interface__["data"][0]
    hi = lo + arr.nbytes
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):
            a, b = (int(x, 16) for x in head.split("-"))
            inside = a < hi and lo < b
        elif inside and line.startswith(field + ":"):
            total += int(line.split()[1])
    return total


def catalog_folders(tmp_path: Path, toy_run) -> Path:
    """runs/out with two runs, an experiment and a sensitivity folder (not registered): what
    the catalog tests register."""
    from engine.simulation.run import write_run

    o = tmp_path / "runs" / "out"
    write_run(toy_run, o, "base-a")
    write_run(toy_run, o, "base-b")
    write_experiment(o, "exp", toy_run, seeds=(1, 2))
    write_sensitivity(o, "sens", toy_run)
    return o
