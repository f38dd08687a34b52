"""Invariants of every run. Stocks (clients active at the end of each month, per domain and
group) are recounted client by client from the arrangement-month trace, independently of the
kernel's own bookkeeping (which derives them from the opening stock and the flows, so the
identity active_end = active_start + inflow - outflow holds by construction and proves
nothing). Money is recomputed in tests/model/test_money.py; here only its signs."""

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.domain import JEUGD, WMO
from engine.simulation.simulate import simulate
from synthetic_population.generator import generate
from synthetic_population.profile import load_profile
from tests.helpers import TOY_PROFILE

C_END = 1  # sim.cli[t, domain, group, C_END]: active at the end of month t


def recount_active(profile, policy, sim, months: int) -> np.ndarray:
    """Clients active at the end of each month per domain and group [t, d, g], counted from
    the trace: a client is active in a domain when one of its arrangements of that domain is
    active; youth clients count in the age band of their age that month."""
    S = sim.state
    domain = np.array([0 if p.domain == "wmo" else 1 for p in policy.products])[S.product]
    active = sim.trace_step >= 0  # [arrangement, month]
    bands = np.array(profile.youth_age_bands) * 12
    youth_groups = [i for i, g in enumerate(profile.groups) if g.domain == "jeugd"]
    out = np.zeros((months, 2, len(profile.groups)), dtype=np.int64)
    for t in range(months):
        m = profile.start + t
        for d in (WMO, JEUGD):
            holders = np.unique(S.owner[active[:, t] & (domain == d)])
            if d == WMO:
                groups = S.wmo_group[holders].astype(np.int64)
            else:
                band = np.clip(
                    np.searchsorted(bands, m - S.birth[holders].astype(np.int64), side="right") - 1,
                    0,
                    len(youth_groups) - 1,
                )
                groups = np.array(youth_groups)[band]
            out[t, d] = np.bincount(groups, minlength=len(profile.groups))
    return out


def assert_stocks_recounted(profile_ref, pop_seed: int, seed: int, months: int) -> None:
    profile, policy = load_profile(profile_ref)
    pop = generate(profile, policy, pop_seed, months)
    sim = simulate(profile, policy, pop, profile.start, months, seed, trace=True)
    counted = recount_active(profile, policy, sim, months)
    booked = sim.cli[:months, :, :, C_END]
    bad = np.argwhere(counted != booked)
    assert bad.size == 0, [(tuple(i), counted[tuple(i)], booked[tuple(i)]) for i in bad[:5]]
    assert counted.sum() > 0


def assert_money(arrangements: pl.DataFrame) -> None:
    """Signs only: no negative cost, no own contribution above the gross it is paid from."""
    assert arrangements.filter(pl.col("gross_cents") < 0).height == 0
    assert arrangements.filter(pl.col("own_contribution_cents") < 0).height == 0
    assert arrangements.filter(pl.col("net_cents") < 0).height == 0


def test_stocks_equal_an_independent_count_of_active_clients():
    assert_stocks_recounted(TOY_PROFILE, 3, 8, 30)


def test_stocks_equal_an_independent_count_on_the_default_profile():
    assert_stocks_recounted("rotterdam", 1, 1, 48)


def test_transfers_balance_across_groups_and_domains(toy_run, default_run):
    """Every youth client handed over at 18 leaves youth care and enters the Wmo in the same
    month. The toy expects about two hand-overs a run (it may have none); the default
    profile has hundreds."""
    for run, at_least in ((toy_run, 0), (default_run, 100)):  # at least `at_least` hand-overs
        c = run.tables["clients"]
        by_month = c.group_by("month").agg(
            pl.col("outflow_transfer_out").filter(pl.col("domain") == "jeugd").sum().alias("out"),
            pl.col("inflow_transfer").filter(pl.col("domain") == "wmo").sum().alias("in_wmo"),
        )
        assert (by_month["out"] <= by_month["in_wmo"]).all()
        assert c["outflow_transfer_out"].sum() >= at_least


def test_costs_are_never_negative(toy_run):
    assert_money(toy_run.tables["arrangements"])


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**40), pop_seed=st.integers(0, 2**40), months=st.integers(1, 40))
def test_stocks_recount_for_any_seeds_and_horizon(seed, pop_seed, months):
    assert_stocks_recounted(TOY_PROFILE, pop_seed, seed, months)


def test_clients_served_in_a_year_are_at_least_the_most_active_at_a_month_end(toy_run):
    run = toy_run
    assert_money(run.tables["arrangements"])
    served = run.tables["served"].filter(pl.col("period_kind") == "year")
    active = run.tables["clients"].group_by("budget_year", "domain").agg(pl.col("active_end").max())
    joined = (
        served.group_by("budget_year", "domain")
        .agg(pl.col("clients_served").sum())
        .join(active, on=["budget_year", "domain"])
    )
    assert joined.height > 0
    assert (joined["clients_served"] >= joined["active_end"]).all()
