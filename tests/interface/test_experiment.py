"""Experiments: savings per measure and budget year, attribution, replications and backends
(engine.simulation.experiment), on the default profile with short horizons."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from engine.cli import main
from engine.simulation.experiment import load_experiment, run_experiment

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data"
M04, M12, M15, M16, M17 = (
    "m04_youth_weekly_cap_4000",
    "m12_max_three_years",
    "m15_no_ironing",
    "m16_biweekly_household_help",
    "m17_wmo_weekly_cap_800",
)


def write_experiment(folder: Path, measures, months=24, replications=2, name="exp", **keys) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.toml").write_text(
        '[scenario]\nname = "base"\nprofile = "rotterdam"\nstart = "2024-01"\nmonths = '
        f"{months}\nseed = 1\npopulation_seed = 1\nmeasures = []\n"
    )
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    body = (
        f'[experiment]\nname = "{name}"\nbaseline = "base.toml"\nmeasures = '
        f"{json.dumps(list(measures))}\n"
    )
    if "seeds" not in keys:
        body += f"replications = {replications}\n"
    path = folder / f"{name}.toml"
    path.write_text(body + extra)
    return path


def tables_of(path: Path, **kw) -> dict[str, pl.DataFrame]:
    tables, _, _ = run_experiment(load_experiment(path), **kw)
    return tables


@pytest.fixture(scope="module")
def three_measures(tmp_path_factory):
    """Measures 4, 15 and 17: exact Shapley over 8 subsets, 2 seeds, 24 months."""
    path = write_experiment(tmp_path_factory.mktemp("exp3"), [M04, M15, M17])
    return tables_of(path, backend="inprocess")


def test_shapley_shares_add_up_to_the_package_saving_per_seed_and_year(three_measures):
    s = three_measures["savings_by_seed"]
    shares = (
        s.filter(pl.col("measure") != "package")
        .group_by(["seed", "budget_year"])
        .agg(
            pl.col("shapley_net_cents").sum().alias("sum"),
            pl.col("shapley_gross_cents").sum().alias("sum_gross"),
        )
    )
    package = s.filter(pl.col("measure") == "package").select(
        "seed", "budget_year", "standalone_net_cents", "standalone_gross_cents"
    )
    j = shares.join(package, on=["seed", "budget_year"])
    assert j.height == 4  # 2 seeds x 2 budget years
    assert (j["sum"] == j["standalone_net_cents"]).all()
    assert (j["sum_gross"] == j["standalone_gross_cents"]).all()
    assert (package["standalone_net_cents"] > 0).all()  # the package saves money: the test can fail


def test_interaction_is_the_package_minus_the_sum_of_standalone_savings(three_measures):
    s = three_measures["savings_by_seed"]
    alone = (
        s.filter(pl.col("measure") != "package")
        .group_by(["seed", "budget_year"])
        .agg(pl.col("standalone_net_cents").sum().alias("alone"))
    )
    pkg = s.filter(pl.col("measure") == "package").join(alone, on=["seed", "budget_year"])
    assert (pkg["interaction_net_cents"] == pkg["standalone_net_cents"] - pkg["alone"]).all()
    per_measure = s.filter(pl.col("measure") != "package")
    assert (
        per_measure["interaction_net_cents"]
        == per_measure["shapley_net_cents"] - per_measure["standalone_net_cents"]
    ).all()


def test_summary_is_the_paired_savings_across_seeds_in_euros(three_measures):
    s, summary = three_measures["savings_by_seed"], three_measures["savings"]
    assert summary.height == 4 * 2  # 3 measures and the package x 2 budget years
    for r in summary.iter_rows(named=True):
        sub = s.filter(
            (pl.col("measure") == r["measure"]) & (pl.col("budget_year") == r["budget_year"])
        )
        vals = sub["shapley_net_cents"].to_numpy() / 100.0
        assert r["n_seeds"] == 2
        assert r["shapley_net_eur_mean"] == pytest.approx(vals.mean())
        assert r["shapley_net_eur_p5"] <= r["shapley_net_eur_p50"] <= r["shapley_net_eur_p95"]
        assert r["shapley_net_eur_mcse"] == pytest.approx(vals.std(ddof=1) / 2**0.5)
        assert r["shapley_sampling_se_eur"] == 0.0  # exact Shapley


def test_experiment_tables_hold_the_baseline_and_package_costs_and_people_affected(three_measures):
    base, pack = three_measures["baseline_yearly"], three_measures["package_yearly"]
    assert set(base["seed"].unique()) == {1, 2}
    s = three_measures["savings_by_seed"].filter(pl.col("measure") == "package")
    for seed in (1, 2):
        for year in (2024, 2025):
            b = base.filter((pl.col("seed") == seed) & (pl.col("budget_year") == year))[
                "net_cents"
            ].sum()
            p = pack.filter((pl.col("seed") == seed) & (pl.col("budget_year") == year))[
                "net_cents"
            ].sum()
            saving = s.filter((pl.col("seed") == seed) & (pl.col("budget_year") == year))[
                "standalone_net_cents"
            ].item()
            assert b - p == saving
    aff = three_measures["affected"]
    assert set(aff["measure"].unique()) == {
        "youth_cap_4000",
        "no_ironing",
        "wmo_cap_800",
        "package",
    }
    reduced = (
        aff.filter((pl.col("kind") == "care_reduced") & (pl.col("seed") == 1))
        .group_by("measure")
        .agg(pl.col("clients").sum())
    )
    assert (reduced["clients"] > 0).all()
    monthly = three_measures["costs_monthly"]
    assert set(monthly["scenario"].unique()) == {
        "baseline",
        "youth_cap_4000",
        "no_ironing",
        "wmo_cap_800",
        "package",
    }
    assert (
        monthly.filter(pl.col("scenario") == "baseline")["net_cents"].sum()
        == base.filter(pl.col("seed") == 1)["net_cents"].sum()
    )
    clients = three_measures["baseline_clients"]
    assert clients.height > 0
    assert (clients["active_end"] >= 0).all()


def test_measures_on_disjoint_clients_have_no_interaction_and_shapley_equals_standalone(tmp_path):
    """The youth ceiling and no ironing for older people never touch the same client."""
    path = write_experiment(
        tmp_path,
        [M04, str(DATA / "measures" / "no_ironing_ouderen.toml")],
        months=24,
        replications=2,
    )
    s = tables_of(path, backend="inprocess")["savings_by_seed"]
    measures = s.filter(pl.col("measure") != "package")
    assert (measures["standalone_net_cents"] > 0).all()
    assert (measures["shapley_net_cents"] == measures["standalone_net_cents"]).all()
    assert (s["interaction_net_cents"] == 0).all()


def test_sampled_shapley_adds_up_and_reports_its_sampling_error(tmp_path):
    path = write_experiment(
        tmp_path, [M04, M15, M17], months=12, replications=1, max_exact=2, permutations=6
    )
    spec = load_experiment(path)
    assert spec.method == "shapley_sampled"
    tables = tables_of(path, backend="inprocess")
    s = tables["savings_by_seed"]
    shares = (
        s.filter(pl.col("measure") != "package")
        .group_by("budget_year")
        .agg(pl.col("shapley_net_cents").sum())
    )
    pkg = s.filter(pl.col("measure") == "package").select("budget_year", "standalone_net_cents")
    j = shares.join(pkg, on="budget_year")
    assert (j["shapley_net_cents"] == j["standalone_net_cents"]).all()
    se = tables["savings"].filter(pl.col("measure") != "package")["shapley_sampling_se_eur"]
    assert se.null_count() == 0
    assert (se >= 0).all()


@pytest.fixture(scope="module")
def small_experiment(tmp_path_factory):
    """Two measures, 3 seeds, 12 months: 12 sub-runs."""
    return write_experiment(
        tmp_path_factory.mktemp("small"), [M15, M17], months=12, replications=3, name="small"
    )


def _same(a: dict, b: dict) -> None:
    for name in (
        "savings",
        "savings_by_seed",
        "baseline_yearly",
        "package_yearly",
        "affected",
        "costs_monthly",
        "baseline_clients",
    ):
        assert a[name].equals(b[name]), name


def test_results_are_identical_in_process_and_on_a_process_pool_of_one_and_two_workers(
    small_experiment,
):
    ref = tables_of(small_experiment, backend="inprocess")
    _same(ref, tables_of(small_experiment, backend="process", workers=1))
    _same(ref, tables_of(small_experiment, backend="process", workers=2))


def test_results_are_identical_on_a_local_ray_instance(small_experiment, tmp_path):
    """`--backend ray` starts a local Ray instance (2 CPUs, loopback) in a subprocess, with
    a timeout; its experiment folder equals the in-process tables."""
    pytest.importorskip("ray")
    ref = tables_of(small_experiment, backend="inprocess")
    cmd = [
        sys.executable,
        "-m",
        "engine.cli",
        "experiment",
        str(small_experiment),
        "--backend",
        "ray",
        "--workers",
        "2",
        "--out",
        str(tmp_path),
        "--run-id",
        "ray",
        "--quiet",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=420)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["experiment"]["backend"] == "ray"
    got = {name: pl.read_parquet(tmp_path / "ray" / f"{name}.parquet") for name in ref}
    _same(ref, got)


def test_the_same_seed_list_reproduces_the_same_percentiles(small_experiment, tmp_path):
    a = tables_of(small_experiment, backend="inprocess")["savings"]
    b = tables_of(small_experiment, backend="inprocess")["savings"]
    assert a.equals(b)
    other = write_experiment(tmp_path, [M15, M17], months=12, name="other", seeds=[4, 5, 6])
    c = tables_of(other, backend="inprocess")["savings"]
    assert not a.select("shapley_net_eur_p50").equals(
        c.select("shapley_net_eur_p50")
    )  # other seeds, other figures


def test_experiment_command_writes_a_complete_folder_and_prints_the_table(
    small_experiment, tmp_path, capsys
):
    code = main(
        [
            "experiment",
            str(small_experiment),
            "--backend",
            "inprocess",
            "--out",
            str(tmp_path),
            "--run-id",
            "e1",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    folder = tmp_path / "e1"
    for name in (
        "manifest.json",
        "savings.parquet",
        "savings_by_seed.parquet",
        "baseline_yearly.parquet",
        "package_yearly.parquet",
        "affected.parquet",
        "costs_monthly.parquet",
        "baseline_clients.parquet",
        "assumptions.parquet",
    ):
        assert (folder / name).exists(), name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "experiment"
    assert manifest["experiment"]["seeds"] == [1, 2, 3]
    assert manifest["experiment"]["attribution"] == "shapley_exact"
    assert manifest["budget_years"] == [2024]
    assert "no_ironing" in out
    assert "package" in out
    assert "EUR million" in out
    assert not list(tmp_path.glob(".partial-*"))


# ------------------------------------------------------------------------------ bad input
def _cli(args, capsys):
    code = main(args)
    return code, capsys.readouterr().err


def test_an_unknown_measure_is_a_clear_error_and_nothing_is_written(tmp_path, capsys):
    path = write_experiment(tmp_path / "x", [M15, "m99_no_such_measure"], months=12)
    code, err = _cli(["experiment", str(path), "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert code == 2
    assert "m99_no_such_measure" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("keys", "flag", "message"),
    [
        ({"replications": 0}, [], "replications: 0"),
        ({}, ["--replications", "0"], "--replications: 0"),
        ({"seeds": []}, [], "seeds"),
        ({"attribution": "banzhaf"}, [], "attribution"),
    ],
)
def test_zero_replications_and_bad_keys_are_clear_errors(tmp_path, capsys, keys, flag, message):
    path = write_experiment(tmp_path / "x", [M15], months=12, **keys)
    code, err = _cli(
        ["experiment", str(path), "--out", str(tmp_path / "out"), "--quiet", *flag], capsys
    )
    assert code == 2, err
    assert message in err, err
    assert not (tmp_path / "out").exists()


def test_a_ray_address_where_nothing_listens_is_answered_within_30_seconds(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    path = write_experiment(tmp_path / "x", [M15], months=12)
    t0 = time.perf_counter()
    code, err = _cli(
        [
            "experiment",
            str(path),
            "--backend",
            "ray",
            "--address",
            f"127.0.0.1:{port}",
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ],
        capsys,
    )
    assert time.perf_counter() - t0 < 30
    assert code == 2, err
    assert f"nothing answers at 127.0.0.1:{port}" in err, err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------ sensitivity
def test_sensitivity_swings_a_measures_saving_with_its_ceiling(tmp_path, capsys):
    path = write_experiment(tmp_path / "x", [M15, M17], months=12, replications=1)
    code = main(
        [
            "sensitivity",
            str(path),
            "--vary",
            "wmo_weekly_cap_800.params.cap_eur_w=600:1000",
            "--vary",
            "policy.own_contribution.monthly_eur=10:30",
            "--backend",
            "inprocess",
            "--out",
            str(tmp_path / "out"),
            "--run-id",
            "s1",
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    t = pl.read_parquet(tmp_path / "out" / "s1" / "sensitivity.parquet")
    cap = t.filter(
        (pl.col("parameter") == "wmo_weekly_cap_800.params.cap_eur_w")
        & (pl.col("measure") == "wmo_cap_800")
    ).row(0, named=True)
    assert (
        cap["saving_low_net_cents"] > cap["saving_base_net_cents"] > cap["saving_high_net_cents"]
    )  # a lower ceiling saves more
    assert cap["swing_net_cents"] == cap["saving_low_net_cents"] - cap["saving_high_net_cents"]
    assert json.loads(cap["value_base"]) == 800.0
    ironing = t.filter(
        (pl.col("parameter") == "wmo_weekly_cap_800.params.cap_eur_w")
        & (pl.col("measure") == "no_ironing")
    )
    assert (ironing["swing_net_cents"] == 0).all()  # the ceiling does not move the ironing saving
    manifest = json.loads((tmp_path / "out" / "s1" / "manifest.json").read_text())
    assert manifest["kind"] == "sensitivity"
    assert [v["name"] for v in manifest["varied"]] == [
        "wmo_weekly_cap_800.params.cap_eur_w",
        "policy.own_contribution.monthly_eur",
    ]


def test_sensitivity_of_an_unknown_assumption_is_a_clear_error(tmp_path, capsys):
    path = write_experiment(tmp_path / "x", [M15], months=12, replications=1)
    code, err = _cli(
        [
            "sensitivity",
            str(path),
            "--vary",
            "groups.nope.stock=1:2",
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ],
        capsys,
    )
    assert code == 2
    assert "unknown assumption 'groups.nope.stock'" in err
    code, err = _cli(
        [
            "sensitivity",
            str(path),
            "--vary",
            "no_colon=1",
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ],
        capsys,
    )
    assert code == 2
    assert "NAME=LOW:HIGH" in err
    assert not (tmp_path / "out").exists()


def test_sensitivity_from_measures_varies_each_assumption_over_its_range(tmp_path, capsys):
    path = write_experiment(tmp_path / "x", [M15, M17], months=12, replications=1)
    code = main(
        [
            "sensitivity",
            str(path),
            "--from-measures",
            "--backend",
            "inprocess",
            "--out",
            str(tmp_path / "out"),
            "--run-id",
            "s2",
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((tmp_path / "out" / "s2" / "manifest.json").read_text())
    # the one assumption with a range in the two files (m15 has none), its ends as written
    assert manifest["varied"] == [
        {
            "name": "wmo_weekly_cap_800.exceptions.leaves_share",
            "kind": "rule",
            "base": 0.3,
            "low": 0.15,
            "high": 0.5,
        }
    ]
    # base: baseline, each alone, package (4); each end: baseline, the measure, package (3)
    assert manifest["experiment"]["subruns"] == 4 + 2 * 3
    t = pl.read_parquet(tmp_path / "out" / "s2" / "sensitivity.parquet")
    cap = t.filter(pl.col("measure") == "wmo_cap_800").sort("budget_year").row(-1, named=True)
    assert cap["saving_high_net_cents"] > cap["saving_low_net_cents"]  # more leave: more saved
    ironing = t.filter(pl.col("measure") == "no_ironing")
    assert (ironing["swing_net_cents"] == 0).all()
    assert (ironing["saving_low_net_cents"] == ironing["saving_base_net_cents"]).all()
