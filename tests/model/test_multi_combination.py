"""Several measure combinations in one kernel pass (engine.model.combinations,
`Context.run_many`): exact, bit for bit the sub-runs one pass per combination gives, and wired
into experiments on every backend.

The toy measures (tests/data/toy/measures) cover every primitive the toy policy supports
with overlapping scopes; the default profile runs the five BOZ measures (set_frequency too).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.model.combinations import restore_client
from engine.model.kernel import run_kernel, weekly_base_cents_all
from engine.model.rng import MODE_SEQUENTIAL
from engine.model.state import State, with_rule_state
from engine.simulation.backends import _tasks, run_jobs
from engine.simulation.experiment import load_experiment, plan, run_experiment, units_for
from engine.simulation.simulate import allocate_bins, compile_params
from engine.simulation.subrun import D_AFFECTED, D_ARRANGEMENTS, Context, ContextSpec, Unit
from tests.helpers import TOY_PROFILE

TOY_MEASURES = ["t1_youth_cap", "t2_max_duration", "t3_no_ironing", "t4_review", "t5_wmo_cap"]
BOZ_MEASURES = [
    "m04_youth_weekly_cap_4000",
    "m12_max_three_years",
    "m15_no_ironing",
    "m16_biweekly_household_help",
    "m17_wmo_weekly_cap_800",
]
ALL_32 = list(range(32))


@pytest.fixture(scope="module")
def toy_ctx():
    return Context.build(
        ContextSpec(profile=TOY_PROFILE, months=36, population_seed=5, measures=TOY_MEASURES)
    )


@pytest.fixture(scope="module")
def default_ctx():
    return Context.build(ContextSpec(months=24, population_seed=2, measures=BOZ_MEASURES))


def _separate(ctx: Context, seed: int, masks: list[int]):
    return [ctx.run(Unit(seed, m, D_AFFECTED)) for m in masks]


def _assert_same(masks, expected, got):
    assert len(expected) == len(got) == len(masks)
    for mask, a, b in zip(masks, expected, got, strict=True):
        assert np.array_equal(a.net_y, b.net_y), mask
        assert np.array_equal(a.gross_y, b.gross_y), mask
        assert a.affected is not None
        assert b.affected is not None
        assert a.affected.dtype == b.affected.dtype, mask
        assert np.array_equal(a.affected, b.affected), mask


def test_run_many_over_all_32_subsets_equals_32_separate_runs_on_the_toy_profile(toy_ctx):
    expected = _separate(toy_ctx, 3, ALL_32)
    got = toy_ctx.run_many(3, ALL_32)
    _assert_same(ALL_32, expected, got)
    assert (
        len({tuple(r.net_y) for r in expected}) == 32
    )  # every measure changes something: the test has teeth
    assert any(r.affected.sum() > 0 for r in expected)


def test_run_many_steps_far_fewer_trajectories_than_subsets_times_clients(toy_ctx):
    toy_ctx.run_many(4, ALL_32)
    st_ = toy_ctx.last_multi_stats
    assert st_["combinations"] == 32
    assert st_["clients"] == toy_ctx.state.cid.shape[0]
    assert st_["clients"] < st_["trajectories"] < 3 * st_["clients"]


@pytest.mark.slow
def test_run_many_over_all_32_subsets_equals_32_separate_runs_on_the_default_profile(default_ctx):
    expected = _separate(default_ctx, 5, ALL_32)
    got = default_ctx.run_many(5, ALL_32)
    _assert_same(ALL_32, expected, got)
    assert len({tuple(r.net_y) for r in expected}) == 32
    st_ = default_ctx.last_multi_stats
    assert st_["trajectories"] < 2 * st_["clients"]


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**31 - 1), masks=st.lists(st.integers(0, 31), min_size=1, max_size=6))
def test_run_many_equals_separate_runs_for_random_seeds_and_subsets(toy_ctx, seed, masks):
    _assert_same(masks, _separate(toy_ctx, seed, masks), toy_ctx.run_many(seed, masks))


def test_run_many_does_not_depend_on_the_number_of_threads(toy_ctx):
    one = toy_ctx.run_many(6, ALL_32, threads=1)
    two = toy_ctx.run_many(6, ALL_32, threads=2)
    _assert_same(ALL_32, one, two)


def test_sequential_draws_fall_back_to_one_pass_per_subset_and_still_match():
    ctx = Context.build(
        ContextSpec(
            profile=TOY_PROFILE,
            months=24,
            population_seed=5,
            measures=TOY_MEASURES,
            rng_mode=MODE_SEQUENTIAL,
        )
    )
    masks = [0, 1, 6, 31, 17]
    got = ctx.run_many(9, masks)
    assert ctx.last_multi_stats is None  # no multi-combination pass was made
    _assert_same(masks, _separate(ctx, 9, masks), got)


def test_restoring_a_client_undoes_everything_the_kernel_wrote(toy_ctx):
    """A further trajectory starts from the initial state: after a whole run with every rule
    on, restoring every client (engine.model.combinations.restore_client) gives back the
    state before the run, field for field (and the run did change it)."""
    ctx = toy_ctx
    rules = [r for m in ctx.measures for r in m.rules]
    P = compile_params(
        ctx.profile,
        ctx.policy,
        ctx.population.pool_rate[:, : ctx.months],
        ctx.start,
        ctx.months,
        2,
        rules=rules,
        measure_names=[m.name for m in ctx.measures],
        events=False,
    )
    S = with_rule_state(ctx.state, len(rules))
    weekly_base_cents_all(S, P)
    before = State(*(a.copy() for a in S))
    B = allocate_bins(
        P, len(ctx.profile.groups), len(ctx.policy.products), 2, S.n_slots, len(ctx.measures)
    )
    run_kernel(S, P, B, 2)
    changed = {
        name
        for name in ("status", "weekly_cents", "admitted", "affected", "minutes")
        if not np.array_equal(getattr(before, name), getattr(S, name))
    }
    assert changed == {
        "status",
        "weekly_cents",
        "admitted",
        "affected",
        "minutes",
    }
    assert not np.array_equal(before.rule_c, S.rule_c)
    for c in range(S.n_clients):
        restore_client(before, S, c)
    for name in State._fields:
        assert np.array_equal(getattr(before, name), getattr(S, name)), name


# ------------------------------------------------------------------------------ experiments
def _toy_experiment(tmp_path, seeds=(1, 2)):
    (tmp_path / "base.toml").write_text(
        f'[scenario]\nname = "toy-base"\nprofile = "{TOY_PROFILE}"\nstart = "2024-01"\nmonths = '
        "24\nseed = 1\npopulation_seed = 5\n"
    )
    (tmp_path / "exp.toml").write_text(
        '[experiment]\nname = "toy-exp"\nbaseline = "base.toml"\n'
        f"measures = {TOY_MEASURES!r}\nseeds = {list(seeds)!r}\n".replace("'", '"')
    )
    return load_experiment(tmp_path / "exp.toml")


def test_experiment_units_of_one_seed_without_detail_go_in_one_task(tmp_path):
    spec = _toy_experiment(tmp_path)
    masks, _ = plan(spec, 5)
    units = units_for(spec, 5, masks)
    tasks = _tasks([(spec.context_spec(), units)], workers=2)
    assert sorted(i for _, idx in tasks for i in idx) == list(range(len(units)))
    multi = [
        idx
        for _, idx in tasks
        if all(units[i].detail & ~D_AFFECTED == 0 for i in idx) and len(idx) > 1
    ]
    assert len(multi) == len(spec.seeds)
    for idx in multi:
        seeds = {units[i].seed for i in idx}
        assert len(seeds) == 1
        # all but the baseline and the package (arrangement bins), and for the first seed the
        # measures alone (monthly costs)
        assert len(idx) == (25 if seeds == {spec.seeds[0]} else 30)


def test_multi_combination_tasks_give_the_sub_runs_one_pass_each_gives(tmp_path, toy_ctx):
    spec = _toy_experiment(tmp_path)
    cspec = spec.context_spec()
    ctx = Context.build(cspec)
    units = units_for(spec, 5, plan(spec, 5)[0])
    (got,), _ = run_jobs([(cspec, units)], backend="inprocess", contexts={cspec.key(): ctx})
    for u, r in zip(units, got, strict=True):
        ref = ctx.run(u)
        assert np.array_equal(r.net_y, ref.net_y), u
        assert np.array_equal(r.gross_y, ref.gross_y), u
        assert (r.affected is None) == (ref.affected is None), u
        if ref.affected is not None:
            assert np.array_equal(r.affected, ref.affected), u
        assert (r.arrangements is None) == (not u.detail & D_ARRANGEMENTS)


@pytest.mark.slow
def test_experiment_tables_identical_on_every_backend_and_worker_count(tmp_path):
    spec = _toy_experiment(tmp_path, seeds=(1, 2, 3))
    runs = [
        run_experiment(spec, backend=b, workers=w)[0]
        for b, w in (("inprocess", None), ("process", 1), ("process", 2))
    ]
    first = runs[0]
    assert first["savings"].height > 0
    for other in runs[1:]:
        assert first.keys() == other.keys()
        for name in first:
            assert first[name].equals(other[name]), name


PACKAGE_TOY_MEASURES = [
    "t6_shift_intake",
    "t7_substitute",
    "t8_reindication_policy",
    "t9_hazard_factor",
    "t10_inflow_factor",
    "t11_price_factor",
    "t12_transfer_out",
    "t2_max_duration",
]


def test_run_many_with_the_package_primitives_equals_separate_runs():
    """The hook points (reindication outcome, goal waiting time, admission) and the moment
    primitives of the package: every subset's result bit for bit as its own sub-run."""
    ctx = Context.build(
        ContextSpec(
            profile=TOY_PROFILE, months=36, population_seed=5, measures=PACKAGE_TOY_MEASURES
        )
    )
    rng = np.random.default_rng(3)
    masks = sorted({0, 255, *(1 << i for i in range(8)), *rng.integers(0, 256, 40).tolist()})
    expected = _separate(ctx, 11, masks)
    _assert_same(masks, expected, ctx.run_many(11, masks))
    assert len({tuple(r.net_y) for r in expected}) > 0.9 * len(masks)  # the measures bite
