"""`caseload crosscheck`: the spreadsheet estimate beside the simulated saving per measure;
and bad back-test targets as one-line errors."""

from __future__ import annotations

import csv
import shutil

import polars as pl

from engine.cli import main
from engine.core.scenario import load_scenario
from tests.helpers import DATA, ROOT

MEASURES = ROOT / "rules" / "library" / "rotterdam" / "measures"
SCENARIO = ROOT / "runs" / "scenarios" / "boz-2024.toml"


def test_crosscheck_puts_each_measure_beside_its_recorded_saving(tmp_path, capsys):
    out = tmp_path / "cc.csv"
    code = main(["crosscheck", str(SCENARIO), "--csv", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    table = pl.read_csv(out)
    # the simulated column is each measure alone against the baseline: the savings recorded
    # beside the measure files (tests/regression/test_expected_results.py), another route
    for ref in load_scenario(SCENARIO).measures:
        f = MEASURES / f"{ref}.toml"
        name = next(ln.split('"')[1] for ln in f.read_text().splitlines() if ln.startswith("name"))
        rows = table.filter(pl.col("measure") == name).sort("budget_year")
        with open(f.with_suffix(".expected.csv"), encoding="utf-8") as fh:
            expected = [int(r["saving_gross_cents"]) / 100 for r in csv.DictReader(fh)]
        assert rows["simulated_eur"].to_list() == expected, name
        assert rows["spreadsheet_eur"].is_not_null().all(), name
        assert name in text


def test_crosscheck_of_a_missing_file_or_one_without_measures_is_a_one_line_error(capsys):
    assert main(["crosscheck", "no-such-scenario.toml"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "no-such-scenario.toml" in err
    assert main(["crosscheck", str(ROOT / "runs" / "scenarios" / "baseline.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "key measures" in err


def test_a_target_naming_an_unknown_task_field_is_a_one_line_error(tmp_path, capsys):
    shutil.copy(DATA / "toy" / "baseline.toml", tmp_path / "baseline.toml")
    bad = '\n[targets]\nx = { value = 1, period = "2024", domain = "wmo", iv3 = "9.99" }\n'
    (tmp_path / "p.toml").write_text((DATA / "toy" / "profile.toml").read_text() + bad)
    assert main(["calibrate", str(tmp_path / "p.toml"), "--report-only"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "targets.x" in err
    assert "iv3" in err
