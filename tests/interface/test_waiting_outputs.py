"""A run with capacity on, end to end through the command line: its folder holds
`waiting.parquet` and `waiting_yearly.parquet`, the catalog views them, the workbook has a
"Waiting lists" sheet (small counts suppressed) and the report a chart per capacity-bound
product. A run without capacity has none of them."""

from __future__ import annotations

import re

import duckdb
import polars as pl
import pytest

from engine.cli import main
from engine.reports.xlsx import read_xlsx_sheet
from tests.helpers import TOY_PROFILE

SCENARIO = f"""
[scenario]
name = "toy-capacity"
profile = "{TOY_PROFILE}"
start = "2024-01"
months = 36
seed = 1
population_seed = 1
measures = []
capacity = true

[overrides]
"population.scale" = 3.5
"""


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("waiting")
    sc = d / "toy-capacity.toml"
    sc.write_text(SCENARIO)
    cat = d / "catalog.duckdb"
    args = ["--out", str(d / "out"), "--catalog", str(cat), "--quiet"]
    assert main(["run", str(sc), "--run-id", "cap", *args]) == 0
    assert main(["run", str(sc), "--no-capacity", "--run-id", "nocap", *args]) == 0
    return d


def test_a_capacity_run_folder_holds_its_waiting_tables_and_the_catalog_views_them(out):
    w = pl.read_parquet(out / "out" / "cap" / "waiting.parquet")
    y = pl.read_parquet(out / "out" / "cap" / "waiting_yearly.parquet")
    assert set(w["product"]) == {"bw"}
    assert w.height == 36
    assert y["joined"].sum() == w["joined"].sum()
    assert y.filter(pl.col("budget_year") == 2025)["interim_gross_cents"].item() == (
        w.filter(pl.col("budget_year") == 2025)["interim_gross_cents"].sum()
    )
    assert not (out / "out" / "nocap" / "waiting.parquet").exists()
    con = duckdb.connect(str(out / "catalog.duckdb"), read_only=True)
    rows = con.execute("SELECT run_id, sum(joined) FROM waiting GROUP BY 1").fetchall()
    assert rows == [("cap", w["joined"].sum())]
    con.close()


def test_the_workbook_of_a_capacity_run_has_a_waiting_list_sheet_with_small_cells_suppressed(
    out, tmp_path
):
    path = tmp_path / "cap.xlsx"
    assert main(["export", str(out / "out" / "cap"), "--xlsx", str(path), "--quiet"]) == 0
    sheet = read_xlsx_sheet(path, "Waiting lists")
    y = pl.read_parquet(out / "out" / "cap" / "waiting_yearly.parquet").sort("budget_year")
    assert len(sheet) == y.height
    joined = [r["Joined"] for r in sheet]
    expect = [str(v) if v >= 10 else "<10" for v in y["joined"].to_list()]
    assert [str(j) for j in joined] == expect
    assert sheet[0]["Waiting at start"] == "<10"  # the queue starts empty
    path2 = tmp_path / "nocap.xlsx"
    assert main(["export", str(out / "out" / "nocap"), "--xlsx", str(path2), "--quiet"]) == 0
    with pytest.raises(Exception, match="Waiting lists"):
        read_xlsx_sheet(path2, "Waiting lists")


def test_the_report_of_a_capacity_run_has_a_waiting_list_chart_per_bound_product(out, tmp_path):
    html = tmp_path / "cap.html"
    assert main(["report", str(out / "out" / "cap"), "--out", str(html), "--quiet"]) == 0
    text = html.read_text()
    section = text[text.index("<h2>Waiting lists</h2>") :]
    section = section[: section.index("</section>")]
    assert re.search(r"<figcaption>bw \([\d,]+ places\)</figcaption>", section)
    assert section.count("<svg") == 1  # one capacity-bound product, one chart
    nocap = tmp_path / "nocap.html"
    assert main(["report", str(out / "out" / "nocap"), "--out", str(nocap), "--quiet"]) == 0
    assert "Waiting lists" not in nocap.read_text()


def test_the_run_summary_of_a_capacity_run_shows_its_waiting_lists(out, capsys):
    sc = str(out / "toy-capacity.toml")
    args = ["--out", str(out / "out"), "--catalog", "off"]
    assert main(["run", sc, "--run-id", "cap-shown", *args]) == 0
    text = capsys.readouterr().out
    assert "waiting lists" in text
    assert re.search(r"│ bw\s+│ 2024 │\s+112 │", text)
    assert main(["run", sc, "--no-capacity", "--run-id", "nocap-shown", *args]) == 0
    assert "waiting lists" not in capsys.readouterr().out


def test_the_report_of_a_comparison_of_capacity_runs_draws_both_waiting_lists(out, tmp_path):
    (out / "cut.toml").write_text(
        '[measure]\nname = "cut"\nnumber = 1\nsource = "test"\n\n[[capacity]]\nname = "bw_cut"\n'
        'product = "bw"\nfactor = 0.8\neffective_from = "2025-01"\nsource = "test"\n'
    )
    sc = out / "toy-capacity-cut.toml"
    sc.write_text(
        SCENARIO.replace("measures = []", 'measures = ["cut.toml"]').replace(
            '"toy-capacity"', '"toy-capacity-cut"'
        )
    )
    args = ["--out", str(out / "out"), "--catalog", "off", "--quiet"]
    assert main(["run", str(sc), "--run-id", "cut", *args]) == 0
    o = out / "out"
    assert main(["compare", str(o / "cap"), str(o / "cut"), "--out", str(o), "--quiet"]) == 0
    cmp = next(p for p in o.iterdir() if p.name.startswith("compare-"))
    html = tmp_path / "cmp.html"
    assert main(["report", str(cmp), "--out", str(html), "--quiet"]) == 0
    text = html.read_text()
    section = text[text.index("<h2>Waiting lists: baseline and measure</h2>") :]
    section = section[: section.index("</section>")]
    assert section.count("<svg") == 1
    assert "toy-capacity-cut" in section


def test_an_experiment_with_capacity_keeps_the_queues_of_its_first_seed(out, tmp_path):
    cut = out / "cut2.toml"
    cut.write_text(
        '[measure]\nname = "cut2"\nnumber = 2\nsource = "test"\n\n[[capacity]]\nname = "c2"\n'
        'product = "bw"\nfactor = 0.8\neffective_from = "2025-01"\nsource = "test"\n'
    )
    exp = out / "exp.toml"
    exp.write_text(
        '[experiment]\nname = "cap-exp"\nbaseline = "toy-capacity.toml"\n'
        f'measures = ["{cut}"]\nreplications = 2\nfirst_seed = 1\nattribution = "shapley"\n'
    )
    cat = out / "exp-catalog.duckdb"
    o = out / "out"
    args = ["--out", str(o), "--run-id", "capexp", "--catalog", str(cat), "--quiet"]
    assert main(["experiment", str(exp), *args]) == 0
    y = pl.read_parquet(o / "capexp" / "waiting_yearly.parquet")
    assert set(y["scenario"]) == {"baseline", "cut2"}  # one measure: it is the package
    run = pl.read_parquet(o / "cap" / "waiting_yearly.parquet")  # the same baseline, run alone
    base = y.filter(pl.col("scenario") == "baseline").drop("scenario")
    assert base.equals(run.select(base.columns))
    con = duckdb.connect(str(cat), read_only=True)
    n = con.execute("SELECT count(*) FROM experiment_waiting_yearly").fetchone()[0]
    con.close()
    assert n == y.height
    path = tmp_path / "exp.xlsx"
    assert main(["export", str(o / "capexp"), "--xlsx", str(path), "--quiet"]) == 0
    sheet = read_xlsx_sheet(path, "Waiting lists")
    assert [r["Scenario"] for r in sheet][:3] == ["baseline"] * 3
    html = tmp_path / "exp.html"
    assert main(["report", str(o / "capexp"), "--out", str(html), "--quiet"]) == 0
    assert "<h2>Waiting lists per scenario</h2>" in html.read_text()
