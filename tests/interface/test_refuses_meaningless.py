"""Input that would be accepted but mean nothing: a rule whose scope or moments name nothing
is refused, as are an extract with a duplicate column or that is not UTF-8 (ids would merge);
a rule outside the horizon and indication dates far before the extract month are legal but
suspicious, so the run goes ahead with one warning line that names the file and key."""

from __future__ import annotations

import json

import polars as pl
import pytest

from engine.cli import main
from tests.helpers import ROOT
from tests.interface.refusals import TOY, refuses, toy_args

EXAMPLE = ROOT / "synthetic_population" / "examples" / "example_extract.csv"
MEASURE = (TOY / "measures" / "t2_max_duration.toml").read_text()


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('steps = ["beg2", "beg3"]', "steps = []", "rules[0].scope.steps"),
        ('groups = ["oud", "jong"]', "groups = []", "rules[0].scope.groups"),
        ('products = ["beg"]', "products = []", "rules[0].scope.products"),
        (
            'scope = { domain = "wmo",',
            'scope = { domain = "wmo", settings = [],',
            "rules[0].scope.settings",
        ),
        ('moments = ["intake", "reindication"]', "moments = []", "rules[0].moments"),
    ],
)
def test_a_rule_that_could_act_on_nobody_is_refused(tmp_path, capsys, old, new, key):
    assert old in MEASURE
    m = tmp_path / "m.toml"
    m.write_text(MEASURE.replace(old, new))
    line = refuses(
        capsys,
        tmp_path,
        toy_args(tmp_path / "o", "--measure", m),
        f"{m}: key {key}",
        "at least one name",
    )
    assert "the rule could act on nobody" in line


@pytest.mark.parametrize("second", ["client_id", "CLIENT_ID", " Client_Id "])
def test_an_extract_with_a_duplicate_column_is_refused(tmp_path, capsys, second):
    lines = EXAMPLE.read_text().splitlines()
    f = tmp_path / "dup.csv"
    f.write_text("\n".join([lines[0] + "," + second] + [r + ",X" for r in lines[1:]]) + "\n")
    line = refuses(capsys, tmp_path, ["population", "validate", f], str(f), "one column per name")
    assert "column 'client_id' occurs twice" in line


def test_a_latin1_extract_is_refused_before_ids_can_merge(tmp_path, capsys):
    """'FAKE-0001é' and 'FAKE-0001ë' differ in Latin-1 and would both read as 'FAKE-0001\ufffd'."""
    text = EXAMPLE.read_text()
    f = tmp_path / "latin1.csv"
    f.write_bytes(text.replace("FAKE-0001,", "FAKE-0001\xe9,", 1).encode("latin-1"))
    line = refuses(capsys, tmp_path, ["population", "validate", f], str(f), "a CSV file in UTF-8")
    assert "line 2 is not UTF-8 text" in line


def test_a_rule_after_the_horizon_runs_with_one_warning_naming_it(tmp_path, capsys):
    m = tmp_path / "late.toml"
    m.write_text(MEASURE.replace('effective_from = "2024-04"', 'effective_from = "2030-01"'))
    code = main(
        [*toy_args(tmp_path / "o", "--measure", m, "--run-id", "r", "--quiet", "--catalog", "off")]
    )
    _, err = capsys.readouterr()
    assert code == 0, err
    expected = (
        f"caseload: warning: {m}: rule 't2_max_12_months': effective_from 2030-01 is after the "
        "horizon's last month 2024-03: the rule never acts (expected a longer --months or an "
        "earlier date)"
    )
    assert err.strip().splitlines() == [expected]
    manifest = json.loads((tmp_path / "o" / "r" / "manifest.json").read_text())
    assert manifest["warnings"] == [expected.removeprefix("caseload: warning: ")]


def test_a_rule_within_the_horizon_gives_no_warning(tmp_path, capsys):
    m = tmp_path / "m.toml"
    m.write_text(MEASURE)
    args = toy_args(tmp_path / "o", "--measure", m, "--quiet", "--catalog", "off")
    args[args.index("--months") + 1] = "12"  # 2024-01..12 holds the rule's 2024-04
    assert main(args) == 0
    assert capsys.readouterr().err == ""


def test_indications_since_1900_validate_with_a_warning(tmp_path, capsys):
    df = pl.read_csv(EXAMPLE, infer_schema=False)
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) < 2)
        .then(pl.lit("1900-01"))
        .otherwise(pl.col("support_since"))
        .alias("support_since")
    )
    f = tmp_path / "old.csv"
    df.write_csv(f)
    code = main(["population", "validate", str(f)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err.strip().splitlines() == [
        f"caseload: warning: {f}: column support_since: 2 rows begin more than 50 years before "
        "the extract month (earliest 1900-01; expected real dates, not placeholders)"
    ]


def test_a_start_far_from_the_profile_runs_with_warnings_naming_the_profile_and_index(
    tmp_path, capsys
):
    args = toy_args(tmp_path / "o", "--start", "2040-01", "--quiet", "--catalog", "off")
    assert main(args) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("caseload: warning: --start 2040-01 is more than 10 years from")
    assert "(expected a start near the profile's month)" in lines[0]
    assert lines[1].startswith(f"caseload: warning: {TOY / 'baseline.toml'}: key prices.index")
    assert "covers 2024-2027, the run 2040-2040" in lines[1]
