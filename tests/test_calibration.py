"""The default profile reproduces the municipality's counts (clients served in the period,
as the Raadsmonitor counts them). Targets and tolerances come from the profile itself."""

import polars as pl

from synthetic_population.profile import load_profile


def served(run, period, domain, group=None):
    s = run.tables["served"].filter((pl.col("period") == period) & (pl.col("domain") == domain))
    if group:
        s = s.filter(pl.col("group") == group)
    return s["clients_served"].sum()


def test_default_profile_reproduces_clients_served(default_run):
    profile, _ = load_profile("rotterdam")
    t = profile.targets
    wmo = t["wmo_served_2024h1"]
    assert abs(served(default_run, "2024H1", "wmo") / wmo["value"] - 1) <= wmo["tolerance"]
    assert served(default_run, "2026H1", "wmo") > t["wmo_served_2026h1_min"]["value"]
    youth = t["jeugd_served_2024"]
    assert abs(served(default_run, "2024", "jeugd") / youth["value"] - 1) <= youth["tolerance"]
    assert served(default_run, "2024H1", "wmo", "ouderen") > t["ouderen_served_2024h1_min"]["value"]


def test_youth_costs_are_concentrated(default_run):
    """A small share of children carries most of the youth cost (heavy tail)."""
    import numpy as np

    from engine.simulate import simulate
    from synthetic_population.generator import generate

    profile, policy = load_profile("rotterdam")
    pop = generate(profile, policy, 1, 12)
    sim = simulate(profile, policy, pop, profile.start, 12, 1, trace=True)
    youth_products = [i for i, p in enumerate(policy.products) if p.domain == "jeugd"]
    is_youth = np.isin(sim.state.product, youth_products)
    per_client = np.bincount(sim.state.owner[is_youth], weights=sim.trace_cost[is_youth].sum(axis=1), minlength=sim.state.cid.shape[0])
    costs = np.sort(per_client[per_client > 0])[::-1]
    top20 = costs[: len(costs) // 5].sum() / costs.sum()
    assert top20 > 0.6
