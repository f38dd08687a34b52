"""Client extracts: bad ones are refused row by row with nothing written; good ones become
the start stock of a run in front of the profile's own inflow pool; a synthetic stock
written as an extract runs to the same aggregates as the synthetic run."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.cli import main
from engine.simulation.run import RunSpec, simulate_scenario
from engine.simulation.simulate import simulate
from synthetic_population.extract import columns
from synthetic_population.extract.convert import (
    population_from_extract,
    stock_to_extract,
    write_extract,
)
from synthetic_population.extract.report import MAX_SHOWN, PROBLEM_KINDS
from synthetic_population.extract.validate import validate_extract
from synthetic_population.generator import generate
from synthetic_population.profile import load_profile
from tests.helpers import TOY_PROFILE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "synthetic_population" / "examples"
BROKEN = EXAMPLES / "broken_extract.csv"
EXAMPLE = EXAMPLES / "example_extract.csv"


@pytest.fixture(scope="module")
def rotterdam():
    return load_profile("rotterdam")


@pytest.fixture(scope="module")
def broken_report(rotterdam):
    return validate_extract(BROKEN, *rotterdam)


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_broken_extract_has_every_kind_of_problem(broken_report):
    # a real 64-bit hash collision cannot be written into a file: see the collision test
    assert set(broken_report.counts()) == set(PROBLEM_KINDS) - {"id_collision"}
    assert broken_report.clients is None
    assert broken_report.arrangements is None


@pytest.mark.parametrize(
    ("row", "column", "kind"),
    [
        (None, "household", "missing_column"),
        (3, "client_id", "missing_value"),
        (4, "birth_month", "wrong_type"),
        (5, "domestic_violence", "wrong_type"),
        (5, "weekly_amount_eur", "wrong_type"),
        (6, "client_group", "unknown_code"),
        (7, "product", "unknown_code"),
        (8, "step", "unknown_code"),
        (9, "funding", "unknown_code"),
        (10, "frequency", "unknown_code"),
        (11, "district", "out_of_range"),
        (11, "indication_no", "out_of_range"),
        (12, "weekly_amount_eur", "negative_amount"),
        (13, "indication_end", "end_before_start"),
        (15, "indication_start", "overlap"),
        (17, "arrangement_id", "duplicate_id"),
        (18, "birth_month", "inconsistent"),
        (19, "step", "inconsistent"),
        (20, "setting", "inconsistent"),
        (21, "weekly_amount_eur", "missing_value"),
        (22, "period", "missing_value"),
        (23, "birth_month", "out_of_range"),
        (24, "product", "inconsistent"),
        (25, "support_since", "inconsistent"),
        (26, "weekly_amount_eur", "inconsistent"),
        (27, "laundry_w", "negative_amount"),
    ],
)
def test_each_broken_row_is_reported_with_its_row_column_and_kind(broken_report, row, column, kind):
    hits = [
        p for p in broken_report.problems if p.row == row and p.column == column and p.kind == kind
    ]
    assert len(hits) == 1, [p.line() for p in broken_report.problems if p.row == row]
    assert hits[0].expected  # says what was expected


def test_the_valid_row_of_the_broken_extract_has_no_problem(broken_report):
    assert not [p for p in broken_report.problems if p.row == 2]


def test_run_with_a_broken_extract_prints_a_summary_and_rows_exits_2_and_writes_nothing(
    tmp_path, capsys
):
    code, out, err = run_cli(
        [
            "run",
            "--population",
            str(BROKEN),
            "--months",
            "12",
            "--out",
            str(tmp_path / "runs"),
            "--run-id",
            "x",
        ],
        capsys,
    )
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith(
        f"caseload: error: {BROKEN}: 27 problems in 23 rows and the header (missing_column 1,"
    )
    assert "nothing written" in lines[0]
    assert "  row 4, column birth_month: '1950-13' is not a month (expected" in err
    assert (
        len([x for x in lines[1:] if x.startswith("  row ") or x.startswith("  header")])
        == MAX_SHOWN
    )
    assert lines[-1].startswith("  ... 7 more")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_validate_json_lists_every_problem(capsys):
    code, out, _ = run_cli(["population", "validate", str(BROKEN), "--json"], capsys)
    assert code == 2
    report = json.loads(out)
    assert len(report["problems"]) == 27
    assert report["ok"] is False


def test_example_extract_is_valid_and_runs(tmp_path, capsys):
    code, out, err = run_cli(["population", "validate", str(EXAMPLE)], capsys)
    assert code == 0, err
    assert "28 clients" in out
    assert "33 arrangements" in out
    assert "1 row ended before 2024-01" in out
    assert "1 row start after 2024-01" in out
    code, out, err = run_cli(
        [
            "run",
            "--population",
            str(EXAMPLE),
            "--months",
            "12",
            "--out",
            str(tmp_path),
            "--run-id",
            "ex",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    manifest = json.loads((tmp_path / "ex" / "manifest.json").read_text())
    assert manifest["population"]["source"] == "extract"
    assert manifest["scenario"]["start"] == "2024-01"


def test_extract_weekly_amounts_are_what_the_kernel_pays(rotterdam):
    profile, policy = rotterdam
    pop = population_from_extract(EXAMPLE, profile, policy, seed=1, months=1)
    sim = simulate(profile, policy, pop, pop.start, 1, 1)
    stock = pop.arrangements.with_row_index("slot").filter(
        pl.col("client_id") >= 2**63
    )  # hashed FAKE-... ids
    flat = pl.read_csv(EXAMPLE, infer_schema=False)
    units = (
        flat["units"].cast(pl.Float64)
        * flat["unit_price_eur"].cast(pl.Float64)
        * flat["period"].replace_strict({"week": 1.0, "four_weeks": 0.25}, default=None)
    )
    amounts = flat.with_columns(
        pl.col("weekly_amount_eur").cast(pl.Float64).fill_null(units).alias("w")
    )
    amounts = amounts.filter(
        (pl.col("indication_start") <= "2024-01") & (pl.col("indication_end") >= "2024-01")
    )
    assert stock.height == amounts.height == 33
    paid = np.sort(sim.state.weekly_cents[stock["slot"].to_numpy()])
    expected = np.sort(np.round(amounts["w"].to_numpy() * 100).astype(np.int64))
    assert np.array_equal(paid, expected)


def followups_activated(result) -> int:
    """Reserved follow-up slots (verlengd, handover) that a run started."""
    s = result.sim.state
    return int(((s.kind != 0) & (s.status != 0)).sum())


def assert_same_run(synthetic, from_extract):
    assert from_extract.population.meta["source"] == "extract"
    # the same population: clients, slots (ids and attributes, follow-ups included), pool
    assert from_extract.population.clients.equals(synthetic.population.clients)
    assert from_extract.population.arrangements.equals(synthetic.population.arrangements)
    assert set(from_extract.tables) == set(synthetic.tables)
    for name, table in synthetic.tables.items():
        assert table.height > 0 or name in ("events", "affected")  # a baseline has no rule events
        assert table.equals(from_extract.tables[name]), name


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_synthetic_stock_as_an_extract_runs_to_the_same_aggregates(tmp_path, suffix):
    profile, policy = load_profile(TOY_PROFILE)
    pop = generate(profile, policy, 5, 24)
    path = write_extract(stock_to_extract(pop, policy), tmp_path / f"stock.{suffix}")
    kw = dict(profile=TOY_PROFILE, months=24, seed=3, population_seed=5)
    synthetic = simulate_scenario(RunSpec(**kw))
    from_extract = simulate_scenario(RunSpec(population_file=str(path), **kw))
    assert followups_activated(synthetic) > 0  # youth turning 18 are part of the round trip
    assert_same_run(synthetic, from_extract)


@pytest.mark.slow
def test_round_trip_with_youth_turning_18_gives_identical_aggregates(tmp_path, capsys):
    """The acceptance round trip on the default profile: `population export-extract` (which
    draws the stock for one month) run with `run --population FILE` and the same seeds over
    48 months, in which youth clients turn 18 and are handed over or continue in verlengde
    jeugdhulp, gives the synthetic run's aggregates bit for bit."""
    path = tmp_path / "stock.csv"
    code, _, err = run_cli(
        [
            "population",
            "export-extract",
            "--profile",
            "rotterdam",
            "--seed",
            "2",
            "--out",
            str(path),
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    kw = dict(months=48, seed=3, population_seed=2)
    synthetic = simulate_scenario(RunSpec(**kw))
    from_extract = simulate_scenario(RunSpec(population_file=str(path), **kw))
    handed_over = synthetic.tables["clients"]["outflow_transfer_out"].sum()
    assert handed_over > 100
    assert followups_activated(synthetic) > 300
    assert followups_activated(from_extract) == followups_activated(synthetic)
    assert_same_run(synthetic, from_extract)


def test_follow_up_slots_are_keyed_on_the_client_not_on_the_stream(rotterdam):
    """A client's follow-up slots (ids and attributes) do not depend on who else is in the
    population: two horizons (different pools) give the stock the same follow-ups."""
    profile, policy = rotterdam
    a, b = generate(profile, policy, 4, 30), generate(profile, policy, 4, 40)
    stock = a.clients.filter(pl.col("arrival_month").is_null())["client_id"].implode()

    def follow(p):
        return p.arrangements.filter(
            (pl.col("slot_kind") != "initial") & pl.col("client_id").is_in(stock)
        )

    fa, fb = follow(a), follow(b)
    assert fa.height > 0
    assert fb.height > fa.height
    assert (
        fb.join(fa, on="arrangement_id", how="semi")
        .sort("arrangement_id")
        .equals(fa.sort("arrangement_id"))
    )
    assert (fa["arrangement_id"] >= 2**63).all()  # hashed apart from the sequential initial ids


def test_youth_stock_turning_18_gets_the_generators_follow_up_slots(tmp_path):
    profile, policy = load_profile(TOY_PROFILE)
    pop = generate(profile, policy, 5, 24)
    path = write_extract(stock_to_extract(pop, policy), tmp_path / "stock.csv")
    read = population_from_extract(path, profile, policy, seed=5, months=24)
    stock_ids = pop.clients.filter(pl.col("arrival_month").is_null())["client_id"]
    key = list(read.arrangements.columns)

    def follow(p):
        return (
            p.arrangements.filter(
                (pl.col("slot_kind") != "initial") & pl.col("client_id").is_in(stock_ids.implode())
            )
            .select(key)
            .sort(key)
        )

    assert follow(pop).height > 0
    assert follow(read).equals(follow(pop))
    # the inflow pool is the synthetic one, with the same ids
    pool = pop.clients.filter(pl.col("arrival_month").is_not_null())
    assert read.clients.filter(pl.col("arrival_month").is_not_null()).equals(pool)


def test_numeric_ids_are_kept_and_text_ids_hashed_apart():
    keys, collisions = columns.id_keys(["123", "C-123", "00123", "9223372036854775808"], "client")
    assert keys["123"] == 123
    assert all(keys[t] >= 2**63 for t in ("C-123", "00123", "9223372036854775808"))
    assert len(set(keys.values())) == 4
    assert not collisions
    assert keys["C-123"] == columns.hash_id("C-123", "client")  # stable across runs and extracts


def test_ids_that_hash_to_the_same_number_are_refused(tmp_path, rotterdam, monkeypatch):
    flat = pl.read_csv(EXAMPLE, infer_schema=False)
    path = tmp_path / "e.csv"
    flat.write_csv(path)
    monkeypatch.setattr(columns, "hash_id", lambda text, namespace: (1 << 63) | (len(text) % 3))
    report = validate_extract(path, *rotterdam)
    kinds = {p.kind for p in report.problems}
    assert kinds == {"id_collision"}
    assert any("hashes to the same uint64 as client id" in p.what for p in report.problems)


def test_semicolon_csv_with_decimal_commas_and_dutch_codes_reads_the_same(tmp_path, rotterdam):
    flat = pl.read_csv(EXAMPLE, infer_schema=False)
    dutch = flat.with_columns(
        pl.col("weekly_amount_eur").str.replace(".", ",", literal=True),
        pl.col("unit_price_eur").str.replace(".", ",", literal=True),
        pl.col("period").replace({"week": "week", "four_weeks": "vier_weken"}),
        pl.col("unit").replace({"hour": "uur"}),
        pl.col("homeless").replace({"true": "ja", "false": "nee"}),
        pl.col("funding").str.to_uppercase(),
    )
    path = tmp_path / "nl.csv"
    dutch.write_csv(path, separator=";")
    a = validate_extract(EXAMPLE, *rotterdam)
    b = validate_extract(path, *rotterdam)
    assert b.ok, b.render() if not b.ok else ""
    assert a.clients.equals(b.clients)
    assert a.arrangements.equals(b.arrangements)


def test_extract_month_is_the_run_start_and_a_different_start_is_refused(tmp_path, capsys):
    code, _, err = run_cli(
        [
            "run",
            "--population",
            str(EXAMPLE),
            "--start",
            "2025-01",
            "--months",
            "6",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 2
    assert "--start or scenario.start: 2025-01, but" in err
    assert "(extract_month)" in err
    assert len(err.strip().splitlines()) == 1
    flat = pl.read_csv(EXAMPLE, infer_schema=False).drop("extract_month")
    path = tmp_path / "no_month.csv"
    flat.write_csv(path)
    profile, policy = load_profile("rotterdam")
    report = validate_extract(
        path, profile, policy, start=profile.start + 2
    )  # 2024-03: FAKE-A0035 (from 2024-04) still future
    assert report.ok
    assert report.start == profile.start + 2
    assert (
        report.arrangements.height < 33
    )  # indications that ended in 2024-01 or 2024-02 are not stock


def test_a_missing_or_unreadable_file_is_one_clear_line(tmp_path, capsys):
    code, _, err = run_cli(["population", "validate", str(tmp_path / "nope.csv")], capsys)
    assert code == 2
    assert "nope.csv: file not found" in err
    (tmp_path / "x.xlsx").write_text("x")
    code, _, err = run_cli(["population", "validate", str(tmp_path / "x.xlsx")], capsys)
    assert code == 2
    assert "unknown file type '.xlsx'" in err
    assert len(err.strip().splitlines()) == 1


def test_export_extract_writes_a_valid_extract(tmp_path, capsys):
    out = tmp_path / "stock.csv"
    code, _, err = run_cli(
        [
            "population",
            "export-extract",
            "--profile",
            TOY_PROFILE,
            "--out",
            str(out),
            "--fake-ids",
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    profile, policy = load_profile(TOY_PROFILE)
    report = validate_extract(out, profile, policy)
    assert report.ok
    assert report.clients.height == pl.read_csv(out)["client_id"].n_unique()
    assert not list(tmp_path.glob("*.partial"))


def test_data_commands_have_help_with_examples():
    for args in (
        ["population", "validate", "--help"],
        ["calibrate", "--help"],
        ["population", "export-extract", "--help"],
    ):
        out = subprocess.run(
            [sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, cwd=ROOT
        )
        assert out.returncode == 0, args
        assert "examples:" in out.stdout, args


def test_readme_documents_every_extract_column_and_problem_kind():
    readme = (ROOT / "synthetic_population" / "README.md").read_text()
    for col in columns.EXTRACT_COLUMNS:
        assert f"`{col.name}`" in readme, col.name
    for kind in PROBLEM_KINDS:
        assert f"`{kind}`" in readme, kind
