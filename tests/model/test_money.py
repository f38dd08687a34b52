"""The money formula, recomputed in plain Python from the state and the arrangement-month
trace, against what the kernel booked: each arrangement-month costs

    weekly = round(step price in cents x client factor)       (base-year cents a week)
    gross  = round(weekly x price index of the year x days in the month / 7)

rounded once (half up) to whole cents; the own contribution is the month's amount (EUR a
month x index, rounded) paid once per client by the first active arrangement whose product
carries it, at most its gross; net = gross - own contribution. Only the trace's "which step
was active in which month" comes from the kernel; every cent is computed here."""

from __future__ import annotations

import calendar
import math
from collections import defaultdict

import polars as pl
import pytest

from engine.core.months import month_of, year_of
from engine.outputs import tables as aggregate
from engine.simulation.simulate import simulate
from synthetic_population.generator import generate
from synthetic_population.profile import load_profile
from tests.helpers import TOY_PROFILE

MONTHS = 30


@pytest.fixture(scope="module")
def traced():
    profile, policy = load_profile(TOY_PROFILE)
    pop = generate(profile, policy, 4, MONTHS)
    sim = simulate(profile, policy, pop, profile.start, MONTHS, 9, trace=True)
    return profile, policy, sim


def expected_cents(profile, policy, sim):
    """gross per arrangement-month, and gross / own per (month, product, step), in Python."""
    S = sim.state
    price_cents = [[int(round(st.price_w * 100)) for st in p.steps] for p in policy.products]
    own_product = [p.own_contribution for p in policy.products]
    gross_am = {}
    cells = defaultdict(lambda: [0, 0])
    for t in range(MONTHS):
        m = profile.start + t
        index = policy.index_for_year(year_of(m))
        days = calendar.monthrange(year_of(m), month_of(m))[1]
        scale = index * days / 7.0
        oc = int(round(policy.own_contribution_monthly_eur * 100 * index))
        paid = set()  # clients whose own contribution this month is booked
        for a in range(S.product.shape[0]):  # slots are in client order, lowest index first
            step = int(sim.trace_step[a, t])
            if step < 0:
                continue
            p = int(S.product[a])
            weekly = math.floor(price_cents[p][step] * float(S.factor[a]) + 0.5)
            gross = math.floor(weekly * scale + 0.5)
            gross_am[a, t] = gross
            cell = cells[t, p, step]
            cell[0] += gross
            c = int(S.owner[a])
            if own_product[p] and c not in paid:
                paid.add(c)
                cell[1] += min(oc, gross)
    return gross_am, cells


def test_every_arrangement_month_costs_what_the_formula_says(traced):
    profile, policy, sim = traced
    gross_am, _ = expected_cents(profile, policy, sim)
    assert len(gross_am) > 5_000
    wrong = [
        (a, t, g, int(sim.trace_cost[a, t]))
        for (a, t), g in gross_am.items()
        if int(sim.trace_cost[a, t]) != g
    ]
    assert wrong == []


def test_the_arrangements_table_adds_up_to_the_formula_per_month_product_and_step(traced):
    profile, policy, sim = traced
    _, cells = expected_cents(profile, policy, sim)
    groups = profile.group_codes
    domains = [g.domain for g in profile.groups]
    table = aggregate.arrangements_frame(sim.arr, profile.start, policy, groups, domains)
    got = table.group_by("month", "product", "step").agg(
        pl.col("gross_cents").sum(),
        pl.col("own_contribution_cents").sum(),
        pl.col("net_cents").sum(),
    )
    months = sorted(table["month"].unique().to_list())
    want = {
        (months[t], policy.products[p].code, policy.products[p].steps[s].code): v
        for (t, p, s), v in cells.items()
    }
    have = {(r[0], r[1], r[2]): [r[3], r[4], r[5]] for r in got.iter_rows()}
    assert set(have) == set(want)
    for key, (gross, own) in want.items():
        assert have[key] == [gross, own, gross - own], key
    assert sum(v[1] for v in want.values()) > 0  # the own contribution is exercised
