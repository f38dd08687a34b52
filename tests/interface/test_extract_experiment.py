"""Experiments, sensitivity and crosscheck on a team's client extract (`--population FILE`,
`--start`): every sub-run steps the file's clients, from its month, on every backend."""

import json
from pathlib import Path

import polars as pl

from engine.cli import main
from synthetic_population.extract.convert import stock_to_extract, write_extract
from synthetic_population.generator import generate
from synthetic_population.profile import load_profile
from tests.helpers import ROOT, TOY_PROFILE

EXAMPLE = ROOT / "synthetic_population" / "examples" / "example_extract.csv"


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def write_toy_experiment(folder: Path, start: str | None = None, months: int = 24) -> Path:
    """An experiment on the toy profile: no ironing and the Wmo ceiling, one seed."""
    start_key = f'start = "{start}"\n' if start else ""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.toml").write_text(
        f'[scenario]\nname = "base"\nprofile = "{TOY_PROFILE}"\n{start_key}months = {months}\n'
        "seed = 3\npopulation_seed = 5\n"
    )
    path = folder / "exp.toml"
    path.write_text(
        '[experiment]\nname = "exp"\nbaseline = "base.toml"\n'
        'measures = ["t3_no_ironing", "t5_wmo_cap"]\nreplications = 1\n'
    )
    return path


def run_experiment_cli(capsys, exp: Path, out: Path, run_id: str, *extra: str):
    return run_cli(
        ["experiment", str(exp), "--out", str(out), "--run-id", run_id, "--quiet", *extra],
        capsys,
    )


def test_an_experiment_runs_every_sub_run_on_the_extract_it_is_given(tmp_path, capsys):
    """`experiment --population FILE`: a synthetic stock written as an extract gives the
    synthetic experiment's savings to the cent; half of its clients give other savings (the
    same on a worker process, which steps the population the parent read), so the file is
    what the sub-runs step; sensitivity and crosscheck read it too."""
    profile, policy = load_profile(TOY_PROFILE)
    pop = generate(profile, policy, 5, 24)
    stock = stock_to_extract(pop, policy)
    full = write_extract(stock, tmp_path / "stock.csv")
    ids = stock["client_id"].unique().sort()
    half = write_extract(
        stock.filter(pl.col("client_id").is_in(ids.head(ids.len() // 2).implode())),
        tmp_path / "half.csv",
    )
    exp = write_toy_experiment(tmp_path)
    out = tmp_path / "out"
    runs = [
        ("synthetic", ()),
        ("extract", ("--population", str(full), "--backend", "inprocess")),
        ("half", ("--population", str(half), "--backend", "inprocess")),
        ("worker", ("--population", str(half), "--backend", "process", "--workers", "1")),
    ]
    savings, manifests = {}, {}
    for run_id, extra in runs:
        code, _, err = run_experiment_cli(capsys, exp, out, run_id, *extra)
        assert code == 0, err
        savings[run_id] = pl.read_parquet(out / run_id / "savings_by_seed.parquet")
        manifests[run_id] = json.loads((out / run_id / "manifest.json").read_text())
    package = savings["synthetic"].filter(pl.col("measure") == "package")
    assert (package["standalone_net_cents"] > 0).all()  # the package saves: the test can fail
    assert savings["extract"].equals(savings["synthetic"])
    assert not savings["half"].equals(savings["synthetic"])
    assert savings["worker"].equals(savings["half"])
    assert manifests["synthetic"]["population"]["source"] == "synthetic"
    for run_id in ("extract", "worker", "half"):
        assert manifests[run_id]["population"]["source"] == "extract"
    assert manifests["extract"]["population"]["file"] == str(full)
    assert (
        manifests["half"]["population"]["clients"]
        < manifests["extract"]["population"]["clients"]
        == manifests["synthetic"]["population"]["clients"]
    )
    # the finance workbook says which stock the savings are of
    code, _, err = run_cli(
        ["export", str(out / "extract"), "--csv", str(tmp_path / "wb"), "--quiet"], capsys
    )
    assert code == 0, err
    about = dict(pl.read_csv(tmp_path / "wb" / "about.csv").iter_rows())
    assert (
        about["Population"]
        == f"extract from {full}, {manifests['extract']['population']['clients']:,} clients"
    )
    # `sensitivity --population FILE` reads it too
    swings = {}
    for run_id, extra in [("s-synthetic", ()), ("s-full", (full,)), ("s-half", (half,))]:
        code, _, err = run_cli(
            ["sensitivity", str(exp), "--vary", "t5_wmo_cap_500.params.cap_eur_w=300:700"]
            + [a for f in extra for a in ("--population", str(f))]
            + ["--backend", "inprocess", "--out", str(out), "--run-id", run_id, "--quiet"],
            capsys,
        )
        assert code == 0, err
        swings[run_id] = pl.read_parquet(out / run_id / "sensitivity.parquet")
    assert swings["s-full"].equals(swings["s-synthetic"])
    assert not swings["s-half"].equals(swings["s-synthetic"])
    # and `crosscheck --population FILE`: the spreadsheet estimate from the extract's stock
    checks = {}
    for run_id, extra in [("synthetic", ()), ("full", (full,)), ("half", (half,))]:
        csv_out = tmp_path / f"cc-{run_id}.csv"
        code, text, err = run_cli(
            ["crosscheck", str(exp), "--csv", str(csv_out)]
            + [a for f in extra for a in ("--population", str(f))],
            capsys,
        )
        assert code == 0, err
        assert (f"stock of {extra[0]}" if extra else "population seed 5") in text.splitlines()[0]
        checks[run_id] = pl.read_csv(csv_out)
    assert checks["full"].equals(checks["synthetic"])
    assert not checks["half"].equals(checks["synthetic"])


def test_an_extract_without_a_month_is_read_for_the_baseline_start_and_a_month_is_kept(
    tmp_path, capsys
):
    """An extract without `extract_month` is read for the baseline's start; one with it and
    a baseline naming another start is refused with both months."""
    flat = pl.read_csv(EXAMPLE, infer_schema=False).drop("extract_month")
    no_month = tmp_path / "no_month.csv"
    flat.write_csv(no_month)
    exp = write_experiment_for(tmp_path / "a", start="2024-03")
    code, _, err = run_experiment_cli(
        capsys, exp, tmp_path / "out", "a", "--population", str(no_month), "--backend", "inprocess"
    )
    assert code == 0, err
    manifest = json.loads((tmp_path / "out" / "a" / "manifest.json").read_text())
    assert manifest["experiment"]["start"] == "2024-03"
    assert manifest["budget_years"] == [2024, 2025]
    exp = write_experiment_for(tmp_path / "b", start="2025-01")
    code, _, err = run_experiment_cli(
        capsys, exp, tmp_path / "out", "b", "--population", str(EXAMPLE), "--backend", "inprocess"
    )
    assert code == 2
    assert "scenario.start: 2025-01, but" in err
    assert "2024-01 (extract_month)" in err
    assert not (tmp_path / "out" / "b").exists()


def write_experiment_for(folder: Path, start: str) -> Path:
    """A one-seed experiment of the default profile's Wmo ceiling over 12 months."""
    folder.mkdir(parents=True)
    (folder / "base.toml").write_text(
        f'[scenario]\nname = "base"\nstart = "{start}"\nmonths = 12\nseed = 1\n'
    )
    path = folder / "exp.toml"
    path.write_text(
        '[experiment]\nname = "exp"\nbaseline = "base.toml"\n'
        'measures = ["m17_wmo_weekly_cap_800"]\nreplications = 1\n'
    )
    return path


def test_an_experiment_refuses_a_population_file_made_for_another_start(tmp_path, capsys):
    """A population file is stepped from the month it was made for: an experiment whose
    baseline starts elsewhere is refused with what the file covers, as a run is."""
    pop_file = tmp_path / "pop2023.parquet"
    code, _, err = run_cli(
        ["population", "generate", "--profile", TOY_PROFILE, "--start", "2023-01"]
        + ["--months", "36", "--out", str(pop_file), "--quiet"],
        capsys,
    )
    assert code == 0, err
    exp = write_toy_experiment(tmp_path, start="2024-01", months=12)
    code, _, err = run_experiment_cli(
        capsys, exp, tmp_path / "out", "x", "--population", str(pop_file), "--backend", "inprocess"
    )
    assert code == 2
    assert "covers 2023-01 for 36 months; the run asks 2024-01 for 12" in err
    assert not (tmp_path / "out" / "x").exists()


def test_an_experiment_starts_in_its_extract_month_on_every_backend(tmp_path, capsys):
    """A stock of 2024-06 (the toy profile starts in 2024-01): an experiment whose baseline
    names no start runs from the extract month, in process and on a worker process, with the
    savings of the synthetic experiment started there (another route to the same number); a
    baseline naming 2024-01 is refused, and `--start 2024-06` mends it. Sensitivity's rule
    variants (their contexts get the parent's population) start there too."""
    profile, policy = load_profile(TOY_PROFILE)
    june = profile.start + 5
    pop = generate(profile, policy, 5, 24, june)
    extract = write_extract(stock_to_extract(pop, policy), tmp_path / "june.csv")
    out = tmp_path / "out"
    exp = write_toy_experiment(tmp_path / "none", months=12)
    synthetic = write_toy_experiment(tmp_path / "syn", start="2024-06", months=12)
    pinned = write_toy_experiment(tmp_path / "pinned", start="2024-01", months=12)
    savings = {}
    for run_id, path, extra in [
        ("synthetic", synthetic, ()),
        ("inprocess", exp, ("--population", str(extract), "--backend", "inprocess")),
        ("worker", exp, ("--population", str(extract), "--backend", "process", "--workers", "1")),
        (
            "mended",
            pinned,
            ("--population", str(extract), "--start", "2024-06", "--backend", "inprocess"),
        ),
    ]:
        code, _, err = run_experiment_cli(capsys, path, out, run_id, *extra)
        assert code == 0, err
        manifest = json.loads((out / run_id / "manifest.json").read_text())
        assert manifest["experiment"]["start"] == "2024-06", run_id
        assert manifest["budget_years"] == [2024, 2025]
        savings[run_id] = pl.read_parquet(out / run_id / "savings_by_seed.parquet")
    assert (
        savings["synthetic"].filter(pl.col("measure") == "package")["standalone_net_cents"] != 0
    ).any()
    for run_id in ("inprocess", "worker", "mended"):
        assert savings[run_id].equals(savings["synthetic"]), run_id
    code, text, err = run_cli(  # the finance table says which stock it is of
        ["experiment", str(exp), "--population", str(extract), "--backend", "inprocess"]
        + ["--out", str(out), "--run-id", "printed"],
        capsys,
    )
    assert code == 0, err
    assert f"1seed,on{extract})" in "".join(text.split())  # the title wraps
    code, _, err = run_experiment_cli(
        capsys, pinned, out, "refused", "--population", str(extract), "--backend", "inprocess"
    )
    assert code == 2
    assert "--start or scenario.start: 2024-01, but" in err
    assert "2024-06 (extract_month)" in err
    assert not (out / "refused").exists()
    swings = {}
    for run_id, path, extra in [
        ("s-synthetic", synthetic, ("--backend", "inprocess")),
        ("s-worker", exp, ("--population", str(extract), "--backend", "process", "--workers", "1")),
    ]:
        code, _, err = run_cli(
            ["sensitivity", str(path), "--vary", "t5_wmo_cap_500.params.cap_eur_w=300:700", *extra]
            + ["--out", str(out), "--run-id", run_id, "--quiet"],
            capsys,
        )
        assert code == 0, err
        swings[run_id] = pl.read_parquet(out / run_id / "sensitivity.parquet")
        assert (
            json.loads((out / run_id / "manifest.json").read_text())["experiment"]["start"]
            == "2024-06"
        )
    assert swings["s-worker"].equals(swings["s-synthetic"])
    assert (swings["s-synthetic"]["swing_net_cents"] != 0).any()


def test_sensitivity_on_an_extract_refuses_to_vary_a_stock_size(tmp_path, capsys):
    """An extract fixes the start stock: varying a group's stock would silently move nothing."""
    profile, policy = load_profile(TOY_PROFILE)
    extract = write_extract(
        stock_to_extract(generate(profile, policy, 5, 24), policy), tmp_path / "stock.csv"
    )
    exp = write_toy_experiment(tmp_path)
    code, _, err = run_cli(
        ["sensitivity", str(exp), "--vary", "groups.oud.stock=150:600"]
        + ["--population", str(extract), "--backend", "inprocess"]
        + ["--out", str(tmp_path / "out"), "--run-id", "s", "--quiet"],
        capsys,
    )
    assert code == 2
    assert "groups.oud.stock: the start stock is" in err
    assert "no --population" in err
    assert not (tmp_path / "out" / "s").exists()
