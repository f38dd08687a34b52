"""`caseload explain` on toy runs: one run's yearly change or two runs' difference split into
volume, mix and price, refused input, the workbook sheet and the report's waterfalls."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from engine.cli import main
from engine.reports.xlsx import read_xlsx_sheet
from engine.simulation.decomposition import LEVELS
from engine.simulation.run import simulate_scenario, write_run
from tests.helpers import decomposition_row as row
from tests.helpers import toy_spec


# ----------------------------------------------------------------------------- toy runs
@pytest.fixture(scope="module")
def runs(tmp_path_factory, toy_run):
    """base: the toy run (2024-01 + 36 months); indexed: the same with another price index;
    measure: the same with a maximum duration of begeleiding; other-pop: another population."""
    out = tmp_path_factory.mktemp("explain") / "out"
    write_run(toy_run, out, "base")
    index = {"2024": 1.0, "2025": 1.2, "2026": 1.3, "2027": 1.4}
    write_run(
        simulate_scenario(
            toy_spec(seed=11, population_seed=5, overrides={"policy.prices.index": index})
        ),
        out,
        "indexed",
    )
    write_run(
        simulate_scenario(toy_spec(seed=11, population_seed=5, measures=["t2_max_duration"])),
        out,
        "measure",
    )
    write_run(simulate_scenario(toy_spec(seed=11, population_seed=6)), out, "other-pop")
    return out


def explain(capsys, runs: Path, *args: str) -> tuple[int, str, str]:
    code = main(
        ["explain", *args, "--out", str(runs), "--catalog", str(runs.parent / "catalog.duckdb")]
    )
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_one_run_splits_the_yearly_change_of_the_run(runs, capsys):
    code, out, err = explain(capsys, runs, "base", "--json")
    assert code == 0, err
    folder = Path(json.loads(out)["folder"])
    assert folder.name == "explain-base-2024-2026"
    d = pl.read_parquet(folder / "decomposition.parquet")
    yearly = pl.read_parquet(runs / "base" / "arrangements_yearly.parquet")
    for dom in ("wmo", "jeugd"):
        r = row(d, "domain", domain=dom)
        net = {
            y: int(
                yearly.filter((pl.col("budget_year") == y) & (pl.col("domain") == dom))[
                    "net_cents"
                ].sum()
            )
            for y in (2024, 2026)
        }
        assert (r["from_year"], r["to_year"], r["net_cents_from"], r["net_cents_to"]) == (
            2024,
            2026,
            net[2024],
            net[2026],
        )
    assert (d["volume_cents"] + d["mix_cents"] + d["price_cents"] == d["net_cents_change"]).all()
    assert (d["residual_cents"] == 0).all()
    # the toy index rises 1.00 -> 1.04 from 2024 to 2026: the price part is about 4% of the cost
    t = row(d, "total")
    assert 0.02 * t["net_cents_from"] < t["price_cents"] < 0.06 * t["net_cents_to"]
    # registered in the catalog: the view `decomposition`
    code = main(
        [
            "runs",
            "sql",
            "SELECT DISTINCT level FROM decomposition WHERE run_id = 'explain-base-2024-2026'",
            "--json",
            "--catalog",
            str(runs.parent / "catalog.duckdb"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert {r["level"] for r in json.loads(out)} == set(LEVELS)


def test_an_index_that_moves_is_all_price(runs, capsys):
    code, out, err = explain(capsys, runs, "base", "indexed", "--json")
    assert code == 0, err
    d = pl.read_parquet(Path(json.loads(out)["folder"]) / "decomposition.parquet")
    assert sorted(d["to_year"].unique().to_list()) == [2024, 2025, 2026]
    assert (d["volume_cents"] == 0).all()  # the same arrangement-months in every cell
    same = d.filter(pl.col("to_year") == 2024)  # the index is 1.0 in 2024 in both
    assert (same["net_cents_change"] == 0).all()
    assert (same["mix_cents"] == 0).all()
    assert (same["price_cents"] == 0).all()
    for r in d.filter(pl.col("to_year") > 2024).iter_rows(named=True):
        # cost is rounded to cents per arrangement-month: mix holds at most that rounding
        assert abs(r["mix_cents"]) <= r["arrangement_months_to"], r
        assert r["price_cents"] > 0
        assert r["price_cents"] == r["net_cents_change"] - r["mix_cents"]


def test_a_measure_moves_volume_and_mix_and_no_price(runs, capsys):
    code, out, err = explain(capsys, runs, "base", "measure", "--year", "2026", "--json")
    assert code == 0, err
    d = pl.read_parquet(Path(json.loads(out)["folder"]) / "decomposition.parquet")
    assert (d["price_cents"] == 0).all()
    assert (d["residual_cents"] == 0).all()
    beg = row(d, "domain_product", domain="wmo", product="beg")
    # care ended: fewer arrangement-months
    assert beg["net_cents_change"] < 0
    assert beg["volume_cents"] < 0
    assert row(d, "domain", domain="jeugd")["net_cents_change"] == 0  # the measure is Wmo only


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "nope: unknown run id or folder"),
        (
            ["base", "--from", "2030", "--to", "2026"],
            "--from: 2030 is not a budget year of run base (expected a budget year in 2024-2026)",
        ),
        (["base", "--from", "2024", "--to", "2024"], "--from and --to are both 2024"),
        (["base", "other-pop"], "the runs differ in population"),
        (["base", "measure", "--from", "2024"], "--from/--to"),
        (["base", "measure", "--year", "2031"], "--year: 2031 is not a budget year"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_folder(runs, capsys, args, message):
    before = set(p.name for p in runs.iterdir())
    code, out, err = explain(capsys, runs, *args)
    assert code == 2
    assert message in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert set(p.name for p in runs.iterdir()) == before


def test_a_budget_year_only_partly_in_the_run_is_refused(tmp_path, capsys, toy_run):
    short = simulate_scenario(toy_spec(seed=11, population_seed=5, months=30))  # 2026: 6 months
    write_run(short, tmp_path, "short")
    code, out, err = explain(capsys, tmp_path, "short", "--from", "2024", "--to", "2026")
    assert code == 2, err
    assert "budget year 2026 is only partly in run short (6 of 12 months)" in err
    assert "2024-2025" in err
    code, out, err = explain(capsys, tmp_path, "short", "--json")  # default: the complete years
    assert code == 0, err
    assert Path(json.loads(out)["folder"]).name == "explain-short-2024-2025"


def test_workbook_sheet_and_report_waterfalls(runs, capsys, tmp_path):
    code, out, err = explain(capsys, runs, "base", "--name", "why", "--quiet")
    assert code == 0, err
    d = pl.read_parquet(runs / "why" / "decomposition.parquet")
    xlsx = tmp_path / "why.xlsx"
    assert main(["export", str(runs / "why"), "--xlsx", str(xlsx), "--quiet"]) == 0
    sheet = read_xlsx_sheet(xlsx, "Cost drivers")
    assert len(sheet) == d.height

    def cents(v: float) -> int:
        return int(round(v * 100))

    for r in sheet:
        assert cents(r["Volume EUR"]) + cents(r["Mix EUR"]) + cents(r["Price EUR"]) == cents(
            r["Change EUR"]
        )
    wmo = next(r for r in sheet if r["Level"] == "Domain" and r["Domain"] == "wmo")
    assert cents(wmo["Change EUR"]) == row(d, "domain", domain="wmo")["net_cents_change"]
    html = tmp_path / "why.html"
    assert main(["report", str(runs / "why"), "--out", str(html), "--quiet"]) == 0
    text = html.read_text(encoding="utf-8")
    charts = re.findall(r'<svg class="chart".*?</svg>', text, re.S)
    assert len(charts) == 2  # one waterfall per domain
    for svg in charts:
        assert svg.count('class="mark"') == 5  # from, volume, mix, price, to
    assert "Why net cost moves" in text
    assert "<script" not in text


def test_the_waterfalls_render_in_headless_chromium(runs, capsys, tmp_path):

    from tests.interface import cdp

    cdp.need_chromium()
    code, out, err = explain(capsys, runs, "base", "measure", "--name", "why-measure", "--quiet")
    assert code == 0, err
    html = tmp_path / "why-measure.html"
    assert main(["report", str(runs / "why-measure"), "--out", str(html), "--quiet"]) == 0
    with cdp.Page() as page:
        page.open(html.resolve().as_uri())
        assert page.errors() == []
        charts = page.evaluate(cdp.CHARTS_JS)
        assert len(charts) == 2 * 3  # a waterfall per domain and budget year (2024-2026)
        for c in charts:
            assert c["marks"] == 5, c
            assert c["drawn"] == 5, c
            assert c["width"] > 100, c
            assert c["height"] > 50, c
