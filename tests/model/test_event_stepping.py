"""Keyed draws: exits and goals are waiting times drawn ahead, and the kernel steps a client
only in the months in which something can happen to it (engine.model.kernel, engine.model.rng).

Two things to prove: the waiting times have the distribution of one Bernoulli(h) draw per
month, and skipping the months in between changes no output bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.months import month_index
from engine.model.rng import NEVER, keyed_uniform_np, months_to_event
from engine.simulation.run import RunSpec, load_measures
from engine.simulation.simulate import simulate
from synthetic_population.generator import generate
from synthetic_population.profile import load_profile
from tests.helpers import ROOT, TOY_PROFILE

wait = months_to_event.py_func  # the same code, uncompiled (scalar)

TOY_MEASURES = ["t1_youth_cap", "t2_max_duration", "t3_no_ironing", "t4_review", "t5_wmo_cap"]
# several reviews at once, slots moving into and out of their products
REVIEWS = [str(ROOT / "tests" / "data" / "measures" / "reviews_staggered.toml")]
BOZ_MEASURES = [
    "m04_youth_weekly_cap_4000",
    "m12_max_three_years",
    "m15_no_ironing",
    "m16_biweekly_household_help",
    "m17_wmo_weekly_cap_800",
]


@pytest.mark.parametrize("h", [0.0005, 0.014, 0.2, 0.7])
def test_waiting_times_are_geometric_as_one_bernoulli_draw_per_month(h):
    u = keyed_uniform_np(1, 12, np.arange(200_000, dtype=np.uint64), 0)
    n = np.array([wait(x, h) for x in u])
    assert n.min() >= 1
    # P(N > k) = (1 - h)^k for the first months, within sampling error
    for k in (1, 2, 5, 12, 48):
        p = (1 - h) ** k
        se = math.sqrt(p * (1 - p) / len(u)) + 1e-12
        assert abs((n > k).mean() - p) < 5 * se + 1e-9, (k, (n > k).mean(), p)
    assert abs(n.mean() - 1 / h) < 5 * math.sqrt((1 - h) / h**2 / len(u)) + 1e-9


def test_waiting_time_edges_never_and_at_once():
    assert wait(0.3, 0.0) == NEVER
    assert wait(0.999999, 1.0) == 1
    assert wait(0.0, 0.5) == 1
    assert 1 <= wait(1.0 - 2.0**-53, 1e-12) <= NEVER


@settings(max_examples=200, deadline=None)
@given(
    u=st.floats(0.0, 1.0, exclude_max=True), h1=st.floats(1e-6, 0.999), h2=st.floats(1e-6, 0.999)
)
def test_a_lower_hazard_never_brings_the_event_earlier(u, h1, h2):
    lo, hi = sorted((h1, h2))
    assert wait(u, lo) >= wait(u, hi) >= 1


def _sim(profile_name, months, measures, every_month, start=None, seed=5, population_seed=2):
    spec = RunSpec(
        profile=profile_name,
        months=months,
        seed=seed,
        population_seed=population_seed,
        measures=measures,
    )
    profile, policy = load_profile(spec.profile)
    start = profile.start if start is None else start
    pop = generate(profile, policy, spec.population_seed, months, start)
    ms = load_measures(spec, profile, policy)
    return simulate(profile, policy, pop, start, months, seed, measures=ms, every_month=every_month)


@pytest.mark.parametrize(
    ("profile_name", "months", "measures", "start"),
    [
        ("rotterdam", 36, [], None),
        ("rotterdam", 24, BOZ_MEASURES, None),
        ("rotterdam", 48, REVIEWS, None),
        (str(TOY_PROFILE), 60, TOY_MEASURES, None),
        (
            str(TOY_PROFILE),
            40,
            [],
            month_index(1999, 4),
        ),  # month indices < 0, half-years and years not aligned with the start
    ],
    ids=[
        "default-baseline",
        "default-boz",
        "default-reviews",
        "toy-measures",
        "toy-before-2000-april",
    ],
)
def test_stepping_only_event_months_gives_the_same_outputs_as_stepping_every_month(
    profile_name, months, measures, start
):
    """Skipping the months between events is sound (`next_event`, `served_skipped`): both
    runs share the event planning itself (`plan_slots`, `plan_exits`), which the golden
    digests and the calibration tests cover."""
    skip = _sim(profile_name, months, measures, every_month=False, start=start)
    every = _sim(profile_name, months, measures, every_month=True, start=start)
    for name in ("arr", "cli", "served_half", "served_year", "events", "affected"):
        a, b = getattr(skip, name), getattr(every, name)
        assert a.shape == b.shape, name
        assert np.array_equal(a, b), name
    for name in skip.state._fields:
        assert np.array_equal(getattr(skip.state, name), getattr(every.state, name)), (
            f"state.{name}"
        )
    assert skip.active_arrangement_months > 0
    assert skip.served_half.sum() > 0
