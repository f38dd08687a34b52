"""The primitives of the 2024 package (shift_intake, substitute, reindication_policy,
hazard_factor, inflow_factor, price_factor, transfer_out), each on its toy measure
(tests/data/toy/measures/t6-t12) with arrangement-month traces: no effect outside its scope,
an inert setting equals the baseline bit for bit, monotone in its parameter, never acts
before its date, exceptions hold. Checked against the baseline run, not the rule's code."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from engine.core.domain import FLAGS
from engine.core.months import parse_month
from engine.core.scenario import RunSpec
from engine.model.layout import X_APPROVED
from engine.simulation.run import load_measures
from engine.simulation.simulate import simulate
from synthetic_population.generator import generate
from synthetic_population.profile import load_profile
from tests.helpers import TOY_PROFILE

MONTHS = 36
FROM = parse_month("2024-04")  # every toy measure's effective_from

# measure, its (first) rule, the parameter that sets its strength: inert, weak, strong
CASES = {
    "t6_shift_intake": ("t6_youth_to_light", "share", 0.0, 0.3, 0.9),
    "t7_substitute": ("t7_bw_to_beg", "share", 0.0, 0.3, 0.9),
    "t8_reindication_policy": ("t8_youth_reindication", "end_add", 0.0, 0.1, 0.4),
    "t9_hazard_factor": ("t9_beg_outflow", "factor", 1.0, 1.5, 4.0),
    "t10_inflow_factor": ("t10_ho_inflow", "factor", 1.0, 0.8, 0.3),
    "t11_price_factor": ("t11_subcontracted_fee", "factor", 1.0, 0.95, 0.8),
    "t12_transfer_out": ("t12_youth_to_wlz", "share", 0.0, 0.2, 0.7),
}
# other parameters set inert with the one above (a measure's second rule is always inert)
ALSO_INERT = {
    "t6_shift_intake": {"t6_ho_fewer_minutes.params.share": 0.0},
    "t8_reindication_policy": {
        "t8_youth_reindication.params.step_down_add": 0.0,
        "t8_youth_reindication.params.step_up_factor": 1.0,
        "t8_youth_reindication.params.indication_factor": 1.0,
    },
}
IDS = list(CASES)


@functools.lru_cache(maxsize=1)
def _setup():
    profile, policy = load_profile(TOY_PROFILE)
    pop = generate(profile, policy, 4, MONTHS)
    return profile, policy, pop


@functools.lru_cache(maxsize=64)
def sim(measures: tuple = (), overrides: tuple = ()):
    profile, policy, pop = _setup()
    over = {k: list(v) if isinstance(v, tuple) else v for k, v in overrides}
    spec = RunSpec(profile=TOY_PROFILE, measures=list(measures), measure_overrides=over)
    loaded = load_measures(spec, profile, policy)
    return simulate(profile, policy, pop, profile.start, MONTHS, 3, measures=loaded, trace=True)


def run_with(measure: str, value, extra: dict | None = None):
    rule, key = CASES[measure][:2]
    over = {f"{rule}.params.{key}": value, **(extra or {})}
    items = ((k, tuple(v) if isinstance(v, list) else v) for k, v in over.items())
    return sim((measure,), tuple(sorted(items)))


def net_cents(run) -> int:
    return int(run.arr[..., 1].sum() - run.arr[..., 2].sum())


def same_run(a, b) -> bool:
    return (
        np.array_equal(a.trace_cost, b.trace_cost)
        and np.array_equal(a.arr, b.arr)
        and np.array_equal(a.cli, b.cli)
    )


def in_scope_slots(measure: str) -> np.ndarray:
    """Slots of a product any rule of the measure names, and every slot of their clients
    (a rule may end all of a client's arrangements in the domain)."""
    profile, policy, pop = _setup()
    spec = RunSpec(profile=TOY_PROFILE, measures=[measure])
    loaded = load_measures(spec, profile, policy)
    products = {p for r in loaded[0].rules for p in r.products}
    S = sim().state
    mask = np.isin(S.product, [policy.product_codes.index(p) for p in products])
    touched = np.zeros(S.cid.shape[0], bool)
    touched[S.owner[mask]] = True
    return touched[S.owner]


@pytest.mark.parametrize("measure", IDS)
def test_an_inert_setting_equals_the_baseline_bit_for_bit(measure):
    inert = CASES[measure][2]
    run = run_with(measure, inert, ALSO_INERT.get(measure))
    assert same_run(sim(), run)
    assert run.events.sum() == 0


@pytest.mark.parametrize("measure", IDS)
def test_the_measure_changes_costs_and_nothing_outside_its_scope(measure):
    base = sim()
    run = run_with(measure, CASES[measure][4])
    scoped = in_scope_slots(measure)
    assert np.array_equal(base.trace_cost[~scoped], run.trace_cost[~scoped])
    assert not np.array_equal(base.trace_cost[scoped], run.trace_cost[scoped])


@pytest.mark.parametrize("measure", IDS)
def test_the_saving_grows_with_the_strength_of_the_parameter(measure):
    _, _, inert, weak, strong = CASES[measure]
    costs = [net_cents(run_with(measure, v)) for v in (inert, weak, strong)]
    assert costs[0] >= costs[1] >= costs[2]
    assert costs[0] > costs[2]


@pytest.mark.parametrize("measure", IDS)
def test_nothing_changes_before_the_rule_starts(measure):
    base = sim()
    run = run_with(measure, CASES[measure][4])
    before = FROM - _setup()[0].start
    assert np.array_equal(base.trace_cost[:, :before], run.trace_cost[:, :before])
    assert not np.array_equal(base.trace_cost[:, before:], run.trace_cost[:, before:])
    # and the months before are booked under the product and step they had (a rule that
    # changes a slot's product later must not move them)
    assert np.array_equal(base.arr[:before], run.arr[:before])


@pytest.mark.parametrize("measure", IDS)
def test_every_client_approved_case_by_case_keeps_the_baseline(measure):
    rule = CASES[measure][0]
    extra = {f"{rule}.exceptions.approved_share": 1.0, **ALSO_INERT.get(measure, {})}
    run = run_with(measure, CASES[measure][4], extra)
    assert same_run(sim(), run)


@pytest.mark.parametrize("measure", IDS)
def test_clients_approved_case_by_case_keep_the_baseline_and_the_others_do_not(measure):
    rule = CASES[measure][0]
    extra = {f"{rule}.exceptions.approved_share": 0.5, **ALSO_INERT.get(measure, {})}
    run = run_with(measure, CASES[measure][4], extra)
    S = run.state
    approved = (S.rule_c[:, 0] == X_APPROVED)[S.owner]
    base = sim()
    assert approved.sum() > 0
    assert np.array_equal(base.trace_cost[approved], run.trace_cost[approved])
    assert not np.array_equal(base.trace_cost[~approved], run.trace_cost[~approved])


# the toy's youth groups hold no flags: the Wmo measures
@pytest.mark.parametrize("measure", ["t7_substitute", "t9_hazard_factor", "t10_inflow_factor"])
def test_clients_with_an_exempt_flag_keep_the_baseline(measure):
    rule = CASES[measure][0]
    S0 = sim().state
    flag = max(  # the flag most clients in scope hold
        FLAGS,
        key=lambda f: (
            (S0.flags[S0.owner] & (1 << FLAGS.index(f)) != 0) & in_scope_slots(measure)
        ).sum(),
    )
    extra = {f"{rule}.exceptions.flags": [flag], **ALSO_INERT.get(measure, {})}
    run = run_with(measure, CASES[measure][4], extra)
    S = run.state
    flagged = (S.flags[S.owner] & (1 << FLAGS.index(flag))) != 0
    base = sim()
    assert (flagged & in_scope_slots(measure)).sum() > 0
    assert np.array_equal(base.trace_cost[flagged], run.trace_cost[flagged])
    assert not np.array_equal(base.trace_cost[~flagged], run.trace_cost[~flagged])
