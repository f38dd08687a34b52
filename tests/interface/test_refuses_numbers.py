"""NaN, infinity and absurd numbers are refused wherever a number comes in: a profile, a
policy, a measure, a scenario's [overrides], `--set` and an extract. Each names the file and
key (or option, or column) and the range that was expected; nothing is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.cli import main
from tests.helpers import ROOT
from tests.interface.refusals import TOY, refuses, scenario, toy_args


def toy_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """The toy profile and policy copied to tmp_path/toy with one edit; returns the profile."""
    dest = tmp_path / "toy"
    shutil.copytree(TOY, dest)
    p = dest / file
    text = p.read_text()
    assert old in text, old
    p.write_text(text.replace(old, new, 1))
    return dest / "profile.toml"


POLICY_CASES = [
    (
        "price_w = 30.0",
        "price_w = nan",
        "products.ho.steps[0].price_w",
        "a value in [0.0, 100000.0]",
    ),
    (
        "price_w = 30.0",
        "price_w = 1e30",
        "products.ho.steps[0].price_w",
        "a value in [0.0, 100000.0]",
    ),
    (
        "price_w = 30.0",
        "price_w = inf",
        "products.ho.steps[0].price_w",
        "a value in [0.0, 100000.0]",
    ),
    (
        "monthly_eur = { value = 20.0",
        "monthly_eur = { value = 1e300",
        "own_contribution.monthly_eur",
        "a value in [0.0, 10000.0]",
    ),
    ("2025 = 1.02", "2025 = nan", "prices.index.2025", "a value in [0.01, 100.0]"),
    (
        "hourly_price_eur = { value = 30.0",
        "hourly_price_eur = { value = -inf",
        "ho.hourly_price_eur",
        "a value in [0.0, 1000.0]",
    ),
]


@pytest.mark.parametrize(("old", "new", "key", "expected"), POLICY_CASES)
def test_a_policy_figure_that_is_not_finite_or_absurd_is_refused(
    tmp_path, capsys, old, new, key, expected
):
    profile = toy_copy(tmp_path, "baseline.toml", old, new)
    args = ["run", "--profile", profile, "--months", "3", "--out", tmp_path / "out"]
    refuses(capsys, tmp_path, args, f"baseline.toml: key {key}", expected)


PROFILE_CASES = [
    (
        'household = { value = { "1" = 0.6',
        'household = { value = { "1" = -0.6',
        "groups.oud.household.1",
        "a value in [0.0, 1000000000.0]",
    ),
    (
        "moved_hazard_m = { value = 0.001",
        "moved_hazard_m = { value = nan",
        "groups.oud.moved_hazard_m",
        "a value in [0.0, 1.0]",
    ),
    ("stock = { value = 300", "stock = { value = 1e15", "groups.oud.stock", "a value in [0, "),
    ("scale = { value = 1.0", "scale = { value = inf", "population.scale", "a value in ["),
    (
        "step_weights = { value = [0.4, 0.4, 0.2]",
        "step_weights = { value = [0.4, nan, 0.2]",
        "products.beg.step_weights",
        "3 non-negative weights",
    ),
    (
        "handover_groups = { value = { jong = 1.0 }",
        "handover_groups = { value = { jong = 0.0 }",
        "youth.handover_groups",
        "a Wmo group's weight above 0",
    ),
]


@pytest.mark.parametrize(("old", "new", "key", "expected"), PROFILE_CASES)
def test_a_profile_figure_that_is_not_finite_or_absurd_is_refused(
    tmp_path, capsys, old, new, key, expected
):
    profile = toy_copy(tmp_path, "profile.toml", old, new)
    args = ["run", "--profile", profile, "--months", "3", "--out", tmp_path / "out"]
    refuses(capsys, tmp_path, args, f"profile.toml: key {key}", expected)


@pytest.mark.parametrize(
    ("item", "where"),
    [
        ("groups.oud.moved_hazard_m=NaN", "--set groups.oud.moved_hazard_m"),
        ("groups.oud.stock=Infinity", "--set groups.oud.stock"),
        ("population.scale=1e999", "--set population.scale"),
        ("groups.oud.stock=-inf", "--set groups.oud.stock"),
        ('groups.oud.household={"1": NaN}', "--set groups.oud.household.1"),
    ],
)
def test_set_refuses_nan_and_infinity(tmp_path, capsys, item, where):
    refuses(capsys, tmp_path, toy_args(tmp_path / "out", "--set", item), where, "a ")


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('[overrides]\n"groups.oud.stock" = nan\n', "overrides.groups.oud.stock"),
        ('[overrides]\n"population.scale" = inf\n', "overrides.population.scale"),
        (
            '[measure_overrides]\n"r.params.cap_eur_w" = -inf\n',
            "measure_overrides.r.params.cap_eur_w",
        ),
    ],
)
def test_a_scenario_override_that_is_not_finite_is_refused(tmp_path, capsys, body, key):
    sc = scenario(tmp_path, body)
    refuses(
        capsys,
        tmp_path,
        ["run", sc, "--out", tmp_path / "out"],
        f"{sc}: key {key}",
        "a finite number",
    )


@pytest.mark.parametrize(
    ("file", "old", "new", "key", "expected"),
    [
        (
            "t5_wmo_cap.toml",
            "cap_eur_w = 500.0",
            "cap_eur_w = nan",
            "rules[0].params.cap_eur_w",
            "a value in",
        ),
        (
            "t2_max_duration.toml",
            "end_share = 0.4",
            "end_share = nan",
            "rules[0].params.end_share",
            "a value in [0.0, 1.0]",
        ),
        (
            "t5_wmo_cap.toml",
            "leaves_share = 0.3",
            "leaves_share = inf",
            "rules[0].exceptions.leaves_share",
            "a value in [0.0, 1.0]",
        ),
        (
            "t2_max_duration.toml",
            "max_months = 12",
            "max_months = 1e300",
            "rules[0].params.max_months",
            "a value in",
        ),
        (
            "t5_wmo_cap.toml",
            "cap_eur_w = 500.0",
            "cap_eur_w = 1e30",
            "rules[0].params.cap_eur_w",
            "a value in",
        ),
    ],
)
def test_a_measure_parameter_that_is_not_finite_or_absurd_is_refused(
    tmp_path, capsys, file, old, new, key, expected
):
    m = tmp_path / file
    text = (TOY / "measures" / file).read_text()
    assert old in text
    m.write_text(text.replace(old, new))
    args = toy_args(tmp_path / "out", "--measure", m)
    refuses(capsys, tmp_path, args, f"{m}: key {key}", expected)


EXAMPLE = ROOT / "synthetic_population" / "examples" / "example_extract.csv"


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [
        ("weekly_amount_eur", "1" + "0" * 30, "out_of_range"),
        ("weekly_amount_eur", "100001", "out_of_range"),
        ("weekly_amount_eur", "nan", "wrong_type"),
        ("weekly_amount_eur", "inf", "wrong_type"),
        ("household", "99999999999999999999", "wrong_type"),
    ],
)
def test_an_extract_amount_that_is_absurd_is_a_problem_of_its_row(
    tmp_path, capsys, column, value, kind
):
    """Extract problems are listed per row under the summary line (README: client
    extracts): the first line names the file, the row line the column and expectation."""
    import polars as pl

    df = pl.read_csv(EXAMPLE, infer_schema=False)
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit(value))
        .otherwise(pl.col(column))
        .alias(column)
    )
    path = tmp_path / "extract.csv"
    df.write_csv(path)
    before = sorted(tmp_path.rglob("*"))
    code = main(["run", "--population", str(path), "--months", "3", "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"caseload: error: {path}: 1 problem"), lines[0]
    assert f"  row 2, column {column}: " in lines[1], lines[1]
    assert "(expected" in lines[1]
    assert f"[{kind}]" in lines[1]
    assert sorted(tmp_path.rglob("*")) == before
