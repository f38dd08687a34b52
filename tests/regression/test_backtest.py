"""The back-test profile `rotterdam_2020`: the default profile's behaviour run forward from
a 2020 stock fitted to CBS's 2020 Wmo counts, measured against figures no fit used
(synthetic_population/README.md, "Back-test")."""

from __future__ import annotations

import polars as pl
import pytest

from engine.core.sourced import load_toml
from engine.simulation.calibration import report_only
from engine.simulation.run import RunSpec, simulate_scenario
from synthetic_population.profile import PROFILES, load_profile


def _without_fitted_parts(raw: dict) -> dict:
    """A profile's tree without what the back-test may change: meta, targets, and each
    group's stock and inflow per year."""
    out = {k: v for k, v in raw.items() if k not in ("meta", "targets")}
    out["groups"] = {
        g: {k: v for k, v in tab.items() if k not in ("stock", "inflow_per_year")}
        for g, tab in raw["groups"].items()
    }
    return out


def test_backtest_profile_changes_only_start_stock_inflow_and_targets():
    default = load_toml(PROFILES / "rotterdam.toml")
    backtest = load_toml(PROFILES / "rotterdam_2020.toml")
    assert _without_fitted_parts(backtest) == _without_fitted_parts(default)
    assert backtest["meta"]["policy"] == default["meta"]["policy"]
    assert backtest["meta"]["start"] == "2020-01"
    # inflow: the default's 2024 inflow discounted by its own growth to 2020
    for g, tab in default["groups"].items():
        growth = tab["inflow_growth"]["value"]
        expected = tab["inflow_per_year"]["value"] / (1 + growth) ** 4
        assert backtest["groups"][g]["inflow_per_year"]["value"] == pytest.approx(expected, abs=0.5)


def test_the_policy_prices_2020_below_2024():
    _, policy = load_profile("rotterdam_2020")
    index = [policy.index_for_year(y) for y in range(2020, 2025)]
    assert index == sorted(index)
    assert index[0] < 0.9
    assert index[-1] == 1.0


@pytest.fixture(scope="module")
def backtest(tmp_path_factory):
    return report_only("rotterdam_2020", out_dir=tmp_path_factory.mktemp("bt"))


def test_backtest_meets_its_2020_counts_and_reports_four_out_of_sample_figures(backtest):
    table = backtest.table
    fitted = table.filter(pl.col("fitted"))
    assert fitted["target"].to_list() == ["hbh_clients_2020", "ot_clients_2020", "vo_clients_2020"]
    assert fitted["within_tolerance"].all()
    oos = table.filter(~pl.col("fitted"))
    assert oos.height >= 4
    assert oos["simulated"].is_not_null().all()
    assert (oos["difference_pct"].abs() < 100).all()
    html = (backtest.report_dir / "calibration.html").read_text()
    assert "Out of sample" in html
    assert "wmo_served_2022h1" in html
    assert "out of sample" in backtest.text()


def test_backtest_figures_agree_with_an_ordinary_run_of_the_profile(backtest):
    """The report's 2022 H1 count and 2021 spend, recomputed from a plain `caseload run`
    of the profile over the same horizon (through the last target period, 2022)."""
    run = simulate_scenario(RunSpec(profile="rotterdam_2020", months=36))  # as calibrate
    served = run.tables["served"].filter(
        (pl.col("period") == "2022H1") & (pl.col("domain") == "wmo")
    )["clients_served"]
    row = backtest.table.filter(pl.col("target") == "wmo_served_2022h1")
    assert row["simulated"][0] == served.sum()
    _, policy = load_profile("rotterdam_2020")
    field_671 = [p.code for p in policy.products if p.iv3 == "6.71"]
    yearly = run.tables["arrangements_yearly"].filter(
        (pl.col("budget_year") == 2021) & pl.col("product").is_in(field_671)
    )
    row = backtest.table.filter(pl.col("target") == "iv3_671_gross_2021")
    assert row["simulated"][0] == pytest.approx(yearly["gross_cents"].sum() / 100)
