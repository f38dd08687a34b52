"""The finance workbook: opened with a reader, its totals equal the Arrow tables; formatted
for people (frozen header, thousands separators, one table per sheet); small cells
suppressed; the IV3 mapping comes from the policy library and is validated."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from engine.cli import main
from engine.core.errors import InputError
from engine.reports.xlsx import read_xlsx_sheet
from engine.simulation.run import write_run
from rules.policy import load_policy
from tests.helpers import write_experiment

ROOT = Path(__file__).resolve().parents[2]
YEARS = [2024, 2025, 2026]


@pytest.fixture(scope="module")
def folders(tmp_path_factory, toy_run):
    out = tmp_path_factory.mktemp("wb") / "out"
    return {
        "exp": write_experiment(out, "exp", toy_run, seeds=(1, 2, 3)),
        "one": write_experiment(out, "one", toy_run, seeds=(7,)),
        "run": write_run(toy_run, out, "base"),
        "out": out,
    }


@pytest.fixture(scope="module")
def workbook(folders, tmp_path_factory):
    path = tmp_path_factory.mktemp("xlsx") / "exp.xlsx"
    assert main(["export", str(folders["exp"]), "--xlsx", str(path), "--quiet"]) == 0
    return path


def approx_eur(a: float, b: float, rows: int) -> bool:
    return abs(a - b) <= 0.005 * max(rows, 1) + 1e-6


def test_sheets_and_formatting(workbook):
    wb = openpyxl.load_workbook(workbook)
    assert wb.sheetnames == [
        "About",
        "Savings",
        "Savings detail",
        "Baseline by product",
        "Baseline by IV3",
        "Clients affected",
        "Assumptions",
    ]
    for ws in wb.worksheets:
        # header row 4 frozen
        assert ws.freeze_panes is not None, ws.title
        assert ws.freeze_panes[1:] == "5", (ws.title, ws.freeze_panes)
        assert len(ws.tables) == 1, ws.title  # one table per sheet
        assert ws.column_dimensions["A"].width
        assert ws.column_dimensions["A"].width >= 8
    ws = wb["Baseline by product"]
    header = [c.value for c in ws[4]]
    assert header == ["Domain", "IV3", "Product", "Area", "Line", "2024", "2025", "2026", "Total"]
    col = header.index("2025") + 1
    assert ws.cell(row=5, column=col).number_format == "#,##0"  # thousands separators
    assert isinstance(ws.cell(row=5, column=col).value, float)
    assert ws.cell(row=5, column=1).value == "wmo"


LINES = {
    "Gross cost": "gross_cents",
    "Own contributions": "own_contribution_cents",
    "Net cost": "net_cents",
}


def test_baseline_totals_equal_the_arrow_tables(workbook, folders):
    base = pl.read_parquet(folders["exp"] / "baseline_yearly.parquet")
    n = base["seed"].n_unique()
    by_product = read_xlsx_sheet(workbook, "Baseline by product")
    by_iv3 = read_xlsx_sheet(workbook, "Baseline by IV3")
    for line, src in LINES.items():
        for year in YEARS:
            want = base.filter(pl.col("budget_year") == year)[src].sum() / n / 100
            got_p = sum(r[str(year)] for r in by_product if r["Line"] == line)
            got_i = sum(r[str(year)] for r in by_iv3 if r["Line"] == line)
            assert approx_eur(got_p, want, len(by_product)), (line, year, got_p, want)
            assert approx_eur(got_i, want, len(by_iv3)), (line, year, got_i, want)
        total = sum(r["Total"] for r in by_iv3 if r["Line"] == line)
        assert approx_eur(total, base[src].sum() / n / 100, 3 * len(by_iv3))
    # per product as well, and the IV3 of each product is the policy library's
    policy = load_policy(ROOT / "tests/data/toy/baseline.toml")
    for r in by_product:
        assert r["IV3"] == policy.product(r["Product"]).iv3
        for year in YEARS:
            want = (
                base.filter((pl.col("product") == r["Product"]) & (pl.col("budget_year") == year))[
                    LINES[r["Line"]]
                ].sum()
                / n
                / 100
            )
            assert abs(r[str(year)] - want) <= 0.0051
    assert {r["IV3"] for r in by_iv3} == {"6.6", "6.71", "6.72", "6.81", "6.82"}
    pkg = pl.read_parquet(folders["exp"] / "package_yearly.parquet")
    saving = sum(r["Total"] for r in by_iv3 if r["Line"] == "Saving (net)")
    assert approx_eur(
        saving, (base["net_cents"].sum() - pkg["net_cents"].sum()) / n / 100, 3 * len(by_iv3)
    )


def test_savings_equal_the_arrow_tables_and_add_up(workbook, folders):
    sv = pl.read_parquet(folders["exp"] / "savings.parquet")
    wide = read_xlsx_sheet(workbook, "Savings")
    totals = sv.group_by("measure").agg(pl.col("shapley_net_eur_mean").sum())
    by_saving = totals.filter(pl.col("measure") != "package").sort(
        "shapley_net_eur_mean", descending=True
    )["measure"]
    assert [r["Name"] for r in wide] == [*by_saving, "package"]  # largest saving first
    for r in wide:
        for y in YEARS:
            want = sv.filter((pl.col("measure") == r["Name"]) & (pl.col("budget_year") == y))[
                "shapley_net_eur_mean"
            ].item()
            assert abs(r[str(y)] - want) <= 0.0051
    for y in YEARS:  # the measures' shares add up to the package
        assert abs(sum(r[str(y)] for r in wide[:-1]) - wide[-1][str(y)]) <= 0.02
    detail = read_xlsx_sheet(workbook, "Savings detail")
    assert len(detail) == sv.height
    for r in detail:
        s = sv.filter(
            (pl.col("measure") == r["Name"]) & (pl.col("budget_year") == r["Budget year"])
        )
        assert abs(r["Saving 5% EUR"] - s["shapley_net_eur_p5"].item()) <= 0.0051
        assert abs(r["Saving 95% EUR"] - s["shapley_net_eur_p95"].item()) <= 0.0051
        assert abs(r["Saving alone EUR"] - s["standalone_net_eur_mean"].item()) <= 0.0051
        assert r["Saving 5% EUR"] <= r["Saving EUR (share of package)"] <= r["Saving 95% EUR"]


def test_one_seed_has_no_interval_columns(folders, tmp_path):
    path = tmp_path / "one.xlsx"
    assert main(["export", str(folders["one"]), "--xlsx", str(path), "--quiet"]) == 0
    detail = read_xlsx_sheet(path, "Savings detail")
    assert "Saving 5% EUR" not in detail[0]
    assert detail[0]["Seeds"] == 1


def test_clients_affected_are_suppressed_under_10(workbook, folders):
    aff = pl.read_parquet(folders["exp"] / "affected.parquet")
    n = aff["seed"].n_unique()
    mean = aff.group_by(["measure", "group", "kind"]).agg(
        (pl.col("clients").sum() / n).round(0).alias("c")
    )
    rows = read_xlsx_sheet(workbook, "Clients affected")
    seen_small = seen_large = False
    names = {
        "Package (all measures)": "package",
        "Youth weekly ceiling EUR 4,000": "youth_cap",
        "No more ironing in household help": "no_ironing",
        "Max 3 years of support": "max_three_years",
    }
    for r in rows:
        for col, kind in (
            ("Care reduced (clients)", "care_reduced"),
            ("Care ended (clients)", "care_ended"),
        ):
            want = mean.filter(
                (pl.col("measure") == names[r["Measure"]])
                & (pl.col("group") == r["Group"])
                & (pl.col("kind") == kind)
            )["c"].item()
            if want < 10:
                assert r[col] == "<10"
                seen_small = True
            else:
                assert r[col] == int(want)
                seen_large = True
    assert seen_small
    assert seen_large


def test_assumptions_and_about(workbook, folders):
    reg = read_xlsx_sheet(workbook, "Assumptions")
    src = pl.read_parquet(folders["exp"] / "assumptions.parquet")
    assert len(reg) == src.height
    assert reg[0]["Parameter"] == src["name"][0]
    assert any(r["Parameter"] == "policy.products.ho.iv3" for r in reg)
    about = {r["Item"]: r["Value"] for r in read_xlsx_sheet(workbook, "About")}
    assert about["Kind"] == "experiment"
    assert about["Simulation seeds"] == "1, 2, 3"
    assert about["Attribution"] == "shapley_exact"


def test_csv_export_writes_one_file_per_sheet(folders, tmp_path, capsys):
    code = main(["export", str(folders["exp"]), "--csv", str(tmp_path / "csv"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "csv").iterdir())
    assert names == sorted(
        [
            "about.csv",
            "savings.csv",
            "savings_detail.csv",
            "baseline_by_product.csv",
            "baseline_by_iv3.csv",
            "clients_affected.csv",
            "assumptions.csv",
        ]
    )
    assert [s["name"] for s in out["sheets"]][0] == "About"
    by_iv3 = pl.read_csv(
        tmp_path / "csv" / "baseline_by_iv3.csv", schema_overrides={"IV3": pl.Utf8}
    )
    base = pl.read_parquet(folders["exp"] / "baseline_yearly.parquet")
    assert approx_eur(
        by_iv3.filter(pl.col("Line") == "Gross cost")["Total"].sum(),
        base["gross_cents"].sum() / 3 / 100,
        3 * by_iv3.height,
    )


def test_a_run_folder_gives_the_baseline_sheets(folders, tmp_path, toy_run):
    path = tmp_path / "run.xlsx"
    assert (
        main(["export", "base", "--runs-dir", str(folders["out"]), "--xlsx", str(path), "--quiet"])
        == 0
    )
    wb = openpyxl.load_workbook(path, read_only=True)
    assert wb.sheetnames == ["About", "Baseline by product", "Baseline by IV3", "Assumptions"]
    wb.close()
    rows = read_xlsx_sheet(path, "Baseline by IV3")
    want = toy_run.tables["arrangements_yearly"]["net_cents"].sum() / 100
    assert approx_eur(sum(r["Total"] for r in rows if r["Line"] == "Net cost"), want, 3 * len(rows))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["export", "no-such-experiment", "--xlsx", "x.xlsx"],
            "no-such-experiment: unknown run id or folder",
        ),
        (["export", "{exp}"], "nothing to write"),
        (["export", "{exp}", "--xlsx", "x.csv"], "a file name ending in .xlsx"),
        (
            ["export", "{broken}", "--xlsx", "x.xlsx"],
            "the experiment folder is missing savings.parquet",
        ),
        (["export", "{nomanifest}", "--xlsx", "x.xlsx"], "manifest.json is missing"),
    ],
)
def test_bad_export_input_is_one_line_and_exit_2(
    folders, tmp_path, capsys, monkeypatch, args, message
):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(folders["exp"], broken)
    (broken / "savings.parquet").unlink()
    (tmp_path / "nomanifest").mkdir()
    monkeypatch.chdir(tmp_path)
    args = [
        a.format(exp=folders["exp"], broken=broken, nomanifest=tmp_path / "nomanifest")
        for a in args
    ]
    code = main([*args, "--runs-dir", str(folders["out"])])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.xlsx").exists()


def test_iv3_is_validated_per_domain(tmp_path):
    text = (ROOT / "tests/data/toy/baseline.toml").read_text()
    bad = tmp_path / "baseline.toml"
    bad.write_text(
        text.replace(
            'iv3 = { value = "6.72", source = "test" }',
            'iv3 = { value = "6.71", source = "test" }',
            1,
        )
    )
    with pytest.raises(
        InputError,
        match=(
            r"key products.jamb.iv3: '6.71' is not an IV3 task field for a jeugd product "
            r"\(expected one of: 6.72, 6.82"
        ),
    ):
        load_policy(bad)
    bad.write_text(
        text.replace(
            'iv3 = { value = "6.71", source = "test" }',
            'iv3 = { value = "7.1", source = "test" }',
            1,
        )
    )
    with pytest.raises(InputError, match="key products.ho.iv3: '7.1'"):
        load_policy(bad)
    bad.write_text(text.replace('iv3 = { value = "6.81", source = "test" }\n', "", 1))
    assert (
        load_policy(bad).product("bw").iv3 == "6.81"
    )  # no iv3: intramural Wmo care is escalated care
    for lib in ("rotterdam", "gooi_vechtstreek"):
        pol = load_policy(lib)
        assert {p.iv3 for p in pol.products} <= {"6.6", "6.71", "6.72", "6.81", "6.82"}
        assert any(r.name.endswith(".iv3") and r.source for r in pol.register)
