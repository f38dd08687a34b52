"""The spreadsheet cross-check's arithmetic (engine.simulation.crosscheck) on a toy stock
written by hand, where every answer is worked out below in plain numbers: clients in scope,
weekly amounts, who is affected, the month the rule reaches them and the saving per year."""

from __future__ import annotations

import polars as pl
import pytest

from engine.core.months import month_index
from engine.simulation.crosscheck import (
    WEEKS_PER_MONTH,
    flagged,
    in_scope,
    months_in_year,
    reached_month,
    spreadsheet,
)
from rules.policy import load_policy
from rules.schema import Rule
from tests.helpers import DATA

POLICY = load_policy(DATA / "toy" / "baseline.toml")  # index 2024 1.0, 2025 1.02
M = month_index  # (year, month) -> month index
YEARS = [2024, 2025]
W = WEEKS_PER_MONTH  # 365.25 / 7 / 12


def _arr(cid, group, product, step, weekly, planned_end, since, **kw):
    row = {
        "client_id": cid,
        "group": group,
        "domain": "jeugd" if group == "jong" else "wmo",
        "product": product,
        "step": step,
        "amount_factor": 1.0,
        "weekly_eur": float(weekly),
        "planned_end_month": planned_end,
        "support_since_month": since,
        "homeless": False,
        "domestic_violence": False,
        "small_tidy_household": False,
        "wlz_candidate": False,
    }
    for col in ("cleaning_w", "laundry_w", "ironing_w", "shopping_meals_w", "dishes_w"):
        row[col] = 0
    row["bed_linen_w"] = 0
    row.update(kw)
    return row


# Client 1: begeleiding beg3 (700) + beg2 (300) = EUR 1,000 a week, indications end 2024-09.
# Client 2: beg1 (100), ends 2024-02 (before the rule: next reindication 2024-03 + 6 = 2024-09).
# Client 3: household help ho2 with 70 min cleaning + 20 min ironing (90 min: ho2, EUR 60);
#   without ironing 70 min is still ho2; with 40 + 20 = 60 min (client 4) ho2 -> ho1 (EUR 30);
#   client 6: 60 + 30 min, without ironing exactly 60 min: still ho2 (a band holds minutes
#   below its upper bound, as the kernel prices them).
# Client 5: homeless, beg3 EUR 700 + beg2 300 = 1,000, ends 2024-09 (exempt under a flag).
STOCK = pl.DataFrame(
    [
        _arr(1, "oud", "beg", "beg3", 700, M(2024, 9), M(2019, 1)),
        _arr(1, "oud", "beg", "beg2", 300, M(2024, 9), M(2023, 1)),
        _arr(2, "oud", "beg", "beg1", 100, M(2024, 2), M(2023, 6)),
        _arr(3, "oud", "ho", "ho2", 60, M(2025, 6), M(2022, 1), cleaning_w=70, ironing_w=20),
        _arr(4, "oud", "ho", "ho2", 60, M(2024, 12), M(2022, 1), cleaning_w=40, ironing_w=20),
        _arr(6, "oud", "ho", "ho2", 60, M(2024, 12), M(2022, 1), cleaning_w=60, ironing_w=30),
        _arr(5, "oud", "beg", "beg3", 700, M(2024, 9), M(2020, 1), homeless=True),
        _arr(5, "oud", "beg", "beg2", 300, M(2024, 9), M(2020, 1), homeless=True),
    ]
)


def _rule(primitive="weekly_cap", products=("beg",), params=None, **kw) -> Rule:
    base = dict(
        name="r",
        primitive=primitive,
        domain="wmo",
        groups=["oud"],
        products=list(products),
        settings=["extramural"],
        steps={p: [s.code for s in POLICY.product(p).steps] for p in products},
        moments=["intake", "reindication"],
        effective_from=M(2024, 7),
        effective_until=None,
        transition_months=0,
        exempt_flags=[],
        approved_share=0.0,
        leaves_share=0.0,
        params=params if params is not None else {"cap_eur_w": 800.0, "per": "client"},
        source="test",
    )
    base.update(kw)
    return Rule(**base)


def test_scope_counts_the_clients_and_weekly_amounts_of_in_scope_arrangements():
    scope = in_scope(STOCK, _rule(), POLICY)
    assert sorted(scope["client_id"].unique().to_list()) == [1, 2, 5]
    assert scope["weekly_eur"].sum() == 700 + 300 + 100 + 700 + 300
    one_step = _rule(steps={"beg": ["beg3"]})
    assert in_scope(STOCK, one_step, POLICY)["weekly_eur"].sum() == 1400


def test_a_rule_reaches_an_arrangement_at_its_first_reindication_under_the_rule():
    scope = in_scope(STOCK, _rule(), POLICY)
    # client 1 and 5: planned end 2024-09 -> 2024-10; client 2: 2024-03 is before the rule,
    # the next reindication is 6 months (beg's indication length) later: 2024-09
    assert (
        reached_month(scope, _rule(), POLICY).tolist()
        == [M(2024, 10)] * 2 + [M(2024, 9)] + [M(2024, 10)] * 2
    )
    dated = _rule(moments=["intake", "reindication", "date"], transition_months=2)
    assert reached_month(scope, dated, POLICY).tolist() == [M(2024, 9)] * 5
    monthly = _rule(moments=["monthly"])
    assert reached_month(scope, monthly, POLICY).tolist() == [M(2024, 7)] * 5


def test_months_in_year_count_from_the_start_month_to_the_year_end_or_the_rule_end():
    starts = pl.Series([M(2024, 10), M(2023, 1), M(2026, 1)]).to_numpy()
    assert months_in_year(starts, 2024).tolist() == [3, 12, 0]
    assert months_in_year(starts, 2024, until=M(2024, 12)).tolist() == [2, 11, 0]


def test_weekly_cap_saves_the_excess_over_the_cap_from_the_month_it_is_reached():
    est = spreadsheet(_rule(), STOCK, POLICY, YEARS)
    # client 1: 1,000 - 800 = 200 a week; client 5 too (no flag exempts him here)
    assert est.clients_in_scope == 3
    assert est.clients_affected == 2
    assert est.weekly_saving_eur == pytest.approx(400.0)
    assert est.saving_eur[2024] == pytest.approx(400 * W * 3 * 1.0)  # Oct-Dec
    assert est.saving_eur[2025] == pytest.approx(400 * W * 12 * 1.02)
    assert est.months_in_force == {2024: pytest.approx(3.0), 2025: pytest.approx(12.0)}


def test_weekly_cap_exceptions_approved_leaving_and_exempt():
    exempt = spreadsheet(_rule(exempt_flags=["homeless"]), STOCK, POLICY, YEARS)
    assert exempt.weekly_saving_eur == pytest.approx(200.0)
    approved = spreadsheet(_rule(approved_share=0.25), STOCK, POLICY, YEARS)
    assert approved.weekly_saving_eur == pytest.approx(0.75 * 400.0)
    # a leaving share takes the client's whole in-scope amount: 0.3 x 1,000 + 0.7 x 200
    leaving = spreadsheet(_rule(leaves_share=0.3, exempt_flags=["homeless"]), STOCK, POLICY, YEARS)
    assert leaving.weekly_saving_eur == pytest.approx(0.3 * 1000 + 0.7 * 200)


def test_remove_task_saves_the_price_of_the_step_the_remaining_minutes_fall_to():
    rule = _rule("remove_task", ("ho",), {"tasks": ["ironing"]})
    est = spreadsheet(rule, STOCK, POLICY, YEARS)
    # client 3: 90 -> 70 min stays ho2 (no saving); client 4: 60 -> 40 min, ho2 -> ho1: 30
    assert est.clients_affected == 1
    assert est.weekly_saving_eur == pytest.approx(30.0)
    # client 4's indication ends 2024-12: from 2025-01, 12 months of 2025 at index 1.02
    assert est.saving_eur == {2024: 0.0, 2025: pytest.approx(30 * W * 12 * 1.02)}


def test_max_duration_ends_or_steps_down_after_the_phase_out():
    params = {
        "max_months": 36,
        "phase_out_months": 6,
        "end_share": 0.5,
        "step_down_to": {"beg": "beg1"},
    }
    rule = _rule("max_duration", params=params, exempt_flags=["homeless"])
    est = spreadsheet(rule, STOCK, POLICY, YEARS)
    # client 1's beg3 (since 2019-01) is past 36 months at its reindication 2024-10: phase-out
    # to 2025-04; then half ends (700) and half steps down to beg1 (700 - 100): 650 a week.
    # Its beg2 (since 2023-01) reaches 36 months in 2026-01: outside these years.
    # client 2 (since 2023-06) reaches 36 months in 2026-06; client 5 is exempt.
    assert est.saving_eur[2024] == 0.0
    assert est.saving_eur[2025] == pytest.approx(650 * W * 9 * 1.02)  # Apr-Dec 2025


def test_a_primitive_without_a_rule_of_thumb_follows_the_share_and_factor_convention():
    rule = _rule("future_primitive", params={"share": 0.5, "factor": 0.8})
    est = spreadsheet(rule, STOCK, POLICY, YEARS)
    assert est.estimated
    assert est.weekly_saving_eur == pytest.approx(0.5 * 0.2 * 2100)
    scope_only = spreadsheet(_rule("future_primitive", params={"to": "x"}), STOCK, POLICY, YEARS)
    assert not scope_only.estimated
    assert scope_only.clients_in_scope == 3
    assert scope_only.weekly_in_scope_eur == 2100


def test_a_factor_two_difference_is_flagged():
    row = {"years": {2024: (3.0, 1e6, 2.5e6), 2025: (12.0, 1e6, 1.5e6), 2026: (12.0, 10.0, 1e3)}}
    assert flagged(row, 2024)
    assert not flagged(row, 2025)
    assert not flagged(row, 2026)  # too small to matter
