"""The per-month, per-product rule masks the rule hook reads (`P.gates.intake_rules`,
`reind_rules`): exactly the rules of that moment in force that month and holding the
product, recomputed here from the rule files' own fields."""

from __future__ import annotations

import math
import tomllib

import pytest

from engine.core.errors import InputError
from engine.core.months import year_of
from engine.model.layout import MAX_SCENARIO_RULES, NO_FLOOR
from engine.model.params import compile_params
from engine.model.primitives import ADMIT_CODES, CODES, GOAL_CODES
from engine.model.rng import MODE_KEYED, MODE_SEQUENTIAL
from rules.schema import load_measure
from synthetic_population.generator import generate
from synthetic_population.profile import load_profile
from tests.helpers import ROOT, TOY_PROFILE

MEASURES = [
    "t1_youth_cap",
    "t2_max_duration",
    "t3_no_ironing",
    "t4_review",
    "t5_wmo_cap",
    "t7_substitute",
]
MONTHS = 30


def _params(rules, names, pop, profile, policy, rng_mode=MODE_KEYED):
    return compile_params(
        profile,
        policy,
        pop.pool_rate,
        profile.start,
        MONTHS,
        1,
        rng_mode=rng_mode,
        rules=rules,
        measure_names=names,
    )


@pytest.fixture(scope="module")
def toy():
    profile, policy = load_profile(TOY_PROFILE)
    pop = generate(profile, policy, 1, MONTHS)
    groups = {g.code: g.domain for g in profile.groups}
    measures = [load_measure(ref, policy, groups) for ref in MEASURES]
    return profile, policy, pop, measures


def _held_each_month(rules, profile, policy):
    """Per run month t (month m), product p (`code`) and moment (gate field prefix `field`):
    the rules of the moment in force that hold the product, from the rule files' own fields
    (rules of the kernel's own hook points are not at moments)."""
    for t in range(MONTHS):
        m = profile.start + t
        for p, code in enumerate(policy.product_codes):
            for moment, field in (("intake", "intake"), ("reindication", "reind")):
                held = [
                    rl
                    for rl in rules
                    if moment in rl.moments
                    and rl.effective_from <= m
                    and (rl.effective_until is None or m < rl.effective_until)
                    and rl.steps.get(code)
                    and CODES[rl.primitive] not in GOAL_CODES | ADMIT_CODES
                ]
                yield t, m, p, code, field, held


def test_moment_masks_name_the_rules_in_force_that_hold_the_product(toy):
    profile, policy, pop, measures = toy
    rules = [r for ms in measures for r in ms.rules]
    P = _params(rules, [ms.name for ms in measures], pop, profile, policy)
    seen = 0
    for t, _, p, code, field, held in _held_each_month(rules, profile, policy):
        expected = {r for r, rl in enumerate(rules) if rl in held}
        mask = int(P.gates[t, p][f"{field}_rules"])
        got = {r for r in range(len(rules)) if mask >> r & 1}
        assert got == expected, f"month {t}, product {code}, {field}"
        seen += len(got)
    assert seen > 0, "no rule held any product: the test has no teeth"


def test_the_goal_and_admission_masks_name_the_rules_with_those_factors():
    """The goal hazard and the admission hooks ask only the rules of `goal_rules` and
    `admit_rules`: in the whole 2024 package, the hazard factors and the inflow factors."""
    profile, policy = load_profile("rotterdam", {"population.scale": 0.02})
    pop = generate(profile, policy, 1, MONTHS)
    groups = {g.code: g.domain for g in profile.groups}
    with open(ROOT / "runs" / "scenarios" / "boz-2024-full.toml", "rb") as fh:
        refs = tomllib.load(fh)["scenario"]["measures"]
    measures = [load_measure(ref, policy, groups) for ref in refs]
    rules = [r for ms in measures for r in ms.rules]
    P = _params(rules, [ms.name for ms in measures], pop, profile, policy)
    for field, primitive in (("goal_rules", "hazard_factor"), ("admit_rules", "inflow_factor")):
        mask = int(P.run[0][field])
        want = {r for r, rl in enumerate(rules) if rl.primitive == primitive}
        assert len(want) >= 2, f"fewer than two {primitive} rules: the test has little teeth"
        assert {r for r in range(len(rules)) if mask >> r & 1} == want, field
    # per product, the hazard factors that hold it: a slot of another draws its goal inline
    held_somewhere = 0
    for p, code in enumerate(policy.product_codes):
        mask = int(P.products[p]["goal_rules"])
        want = {
            r
            for r, rl in enumerate(rules)
            if rl.primitive == "hazard_factor" and rl.steps.get(code)
        }
        assert {r for r in range(len(rules)) if mask >> r & 1} == want, code
        held_somewhere += bool(want)
    assert 0 < held_somewhere < len(policy.product_codes), "every product or none: no teeth"


def test_a_review_gates_only_its_window_with_keyed_draws_and_every_month_with_sequential(toy):
    """With keyed draws a review can be due only in its window: the months after it are not
    gated, so the kernel neither steps a client nor looks at its slots there for the rule.
    Sequential draws take the review's draw every month the rule is in force: all gated."""
    profile, policy, pop, measures = toy
    (review,) = [ms for ms in measures if ms.name == "t4_review"]
    (rule,) = [rl for rl in review.rules if rl.primitive == "review"]
    ho = policy.product_codes.index("ho")
    window = range(rule.effective_from, rule.effective_from + rule.params["window_months"])
    in_force = range(rule.effective_from, profile.start + MONTHS)
    assert len(in_force) > len(window)  # months after the window: the test has teeth
    for mode, months in ((MODE_KEYED, window), (MODE_SEQUENTIAL, in_force)):
        P = _params(review.rules, [review.name], pop, profile, policy, mode)
        gated = [profile.start + t for t in range(MONTHS) if P.gates[t, ho]["dm"]]
        assert gated == list(months), mode
        assert [bool(P.months[t]["dm_on"]) for t in range(MONTHS)] == [
            profile.start + t in months for t in range(MONTHS)
        ]


def test_a_weekly_cap_sets_a_client_floor_and_every_other_rule_opens_its_steps(toy):
    """The kernel calls the rule hook at intake or reindication only where a rule without a
    client floor holds the slot's step, or the client's weekly total exceeds the lowest
    floor (hooks.may_act). Recomputed from the rule files: a weekly cap's floor is its
    ceiling in cents over the month's price index, a cent lower; other rules open steps."""
    profile, policy, pop, measures = toy
    rules = [r for ms in measures for r in ms.rules]
    P = _params(rules, [ms.name for ms in measures], pop, profile, policy)
    floors = 0
    for t, m, p, code, field, held in _held_each_month(rules, profile, policy):
        index = policy.index_for_year(year_of(m))
        caps = [rl for rl in held if rl.primitive == "weekly_cap"]
        want = min(
            (
                math.floor(
                    rl.params["cap_eur_w"] * 100 / (1 if rl.params["indexed"] else index) + 1e-9
                )
                - 1
                for rl in caps
            ),
            default=NO_FLOOR,
        )
        assert P.gates[t, p][f"{field}_floor"] == want, (t, code, field)
        steps = [s.code for s in policy.product(code).steps]
        bits = int(P.gates[t, p][f"{field}_open"])
        opened = {steps[k] for k in range(len(steps)) if bits >> k & 1}
        assert opened == {s for rl in held if rl not in caps for s in rl.steps[code]}
        floors += want != NO_FLOOR
    assert floors > 0, "no weekly cap held a product: the test has no teeth"


def test_more_rules_than_the_masks_hold_are_refused_with_the_limit(toy):
    profile, policy, pop, measures = toy
    rules = [r for ms in measures for r in ms.rules]
    many = rules * (MAX_SCENARIO_RULES // len(rules) + 1)
    assert len(many) > MAX_SCENARIO_RULES
    with pytest.raises(InputError, match="rules in one scenario") as err:
        _params(many, [ms.name for ms in measures], pop, profile, policy)
    assert str(MAX_SCENARIO_RULES) in str(err.value)
