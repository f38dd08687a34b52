"""The synthetic population: stock and pool are told apart by who they are, not by the sign
of a month (month indices before 2000 are negative)."""

import numpy as np
import polars as pl

from engine.core.months import month_index
from synthetic_population.generator import generate
from synthetic_population.profile import load_profile
from tests.helpers import TOY_PROFILE


def test_a_start_before_2000_keeps_pool_arrivals_and_support_months():
    profile, policy = load_profile(TOY_PROFILE)
    start = month_index(1999, 7)
    pop = generate(profile, policy, 5, 12, start)
    clients = pop.clients
    n_stock = sum(int(round(g.stock * profile.scale)) for g in profile.groups)
    assert clients["arrival_month"].null_count() == n_stock
    arrivals = clients["arrival_month"].drop_nulls()
    assert arrivals.min() == start
    assert (arrivals < 0).sum() > 0
    held = pop.arrangements.join(
        clients.select("client_id", "arrival_month"), on="client_id"
    ).filter(pl.col("arrival_month").is_null() & (pl.col("slot_kind") == "initial"))
    for col in ["start_month", "planned_end_month", "support_since_month"]:
        assert held[col].null_count() == 0, col
    assert (held["support_since_month"] < 0).sum() > 0
    assert np.all(held["start_month"].to_numpy() <= start)
