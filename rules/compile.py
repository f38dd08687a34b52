"""Rules compiled to flat arrays for the kernel (engine.rule_hooks reads them)."""

from __future__ import annotations

import numpy as np

from engine.domain import FLAGS, FREQUENCIES, HO_TASKS
from engine.rule_hooks import MO_DATE, MO_INTAKE, MO_MONTHLY, MO_REINDICATION
from rules.policy import Policy
from rules.schema import Rule

PRIMITIVE_CODES = {"weekly_cap": 0, "max_duration": 1, "remove_task": 2, "set_frequency": 3, "review": 4}
MOMENT_BITS = {"intake": MO_INTAKE, "reindication": MO_REINDICATION, "date": MO_DATE, "monthly": MO_MONTHLY}
NO_END = 2**31 - 1
MAX_MEASURES = 15  # affected-client bits: two per measure plus two for all measures, in a uint32


def _flag_bits(names: list[str]) -> int:
    return sum(1 << FLAGS.index(f) for f in names)


def compile_rules(rules: list[Rule], policy: Policy, group_codes: list[str], measure_names: list[str], start: int = 0, months: int = 0) -> dict[str, np.ndarray]:
    """Arrays r_* (one row per rule, in scenario order) for `engine.compile.Params`."""
    if len(measure_names) > MAX_MEASURES:
        raise ValueError(f"at most {MAX_MEASURES} measures in one scenario")
    R, P = len(rules), len(policy.products)
    S = max(len(p.steps) for p in policy.products)
    G = len(group_codes)
    codes = policy.product_codes
    out = {
        "r_prim": np.zeros(R, np.int64),
        "r_moments": np.zeros(R, np.int64),
        "r_from": np.zeros(R, np.int64),
        "r_until": np.full(R, NO_END, np.int64),
        "r_date": np.full(R, -1, np.int64),
        "r_key": np.zeros(R, np.int64),
        "r_measure": np.zeros(R, np.int64),
        "r_prod": np.zeros((R, P), np.uint8),
        "r_step": np.zeros((R, P, S), np.uint8),
        "r_group": np.zeros((R, G), np.uint8),
        "r_exempt": np.zeros(R, np.uint8),
        "r_require": np.zeros(R, np.uint8),
        "r_approved": np.zeros(R, np.float64),
        "r_leaves": np.zeros(R, np.float64),
        "r_f": np.zeros((R, 2), np.float64),
        "r_i": np.zeros((R, 2), np.int64),
        "r_tasks": np.zeros(R, np.int64),
        "r_step_to": np.full((R, P), -1, np.int64),
        # per horizon month: is any date or monthly rule in force (the kernel calls the hook only then)
        "dm_on": np.zeros(months, np.bool_),
        # gates the kernel checks inline before calling a hook (no call for what no rule can touch):
        # [moment (0 intake, 1 reindication), month, product, step]: a rule of that moment in force
        # whose scope holds the product and step; [month, product]: a date rule at its date or a
        # monthly rule in force whose scope holds the product
        "hook_on": np.zeros((2, months, P, S), np.uint8),
        "dm_prod": np.zeros((months, P), np.uint8),
    }
    for r, rule in enumerate(rules):
        out["r_prim"][r] = PRIMITIVE_CODES[rule.primitive]
        out["r_moments"][r] = sum(MOMENT_BITS[m] for m in rule.moments)
        out["r_from"][r] = rule.effective_from
        if rule.effective_until is not None:
            out["r_until"][r] = rule.effective_until
        if "date" in rule.moments:
            out["r_date"][r] = rule.effective_from + rule.transition_months
        out["r_key"][r] = rule.key
        out["r_measure"][r] = measure_names.index(rule.measure)
        for prod, steps in rule.steps.items():
            pi = codes.index(prod)
            out["r_prod"][r, pi] = 1
            for sc in steps:
                out["r_step"][r, pi, policy.product(prod).step_index(sc)] = 1
        for g in rule.groups:
            out["r_group"][r, group_codes.index(g)] = 1
        out["r_exempt"][r] = _flag_bits(rule.exempt_flags)
        out["r_approved"][r] = rule.approved_share
        out["r_leaves"][r] = rule.leaves_share
        prm = rule.params
        if rule.primitive == "weekly_cap":
            out["r_f"][r, 0] = prm["cap_eur_w"] * 100.0
            out["r_i"][r, 0] = int(prm["indexed"])
        elif rule.primitive == "max_duration":
            out["r_i"][r] = (prm["max_months"], prm["phase_out_months"])
            out["r_f"][r, 0] = prm["end_share"]
            for prod, sc in prm["step_down_to"].items():
                out["r_step_to"][r, codes.index(prod)] = policy.product(prod).step_index(sc)
        elif rule.primitive in ("remove_task", "review"):
            out["r_tasks"][r] = sum(1 << HO_TASKS.index(t) for t in prm["tasks"])
            if rule.primitive == "review":
                out["r_i"][r, 0] = prm["window_months"]
                out["r_f"][r, 0] = prm["share"]
        elif rule.primitive == "set_frequency":
            out["r_i"][r] = (FREQUENCIES.index(prm["frequency"]), prm["cleaning_minutes"])
            out["r_f"][r, 0] = prm["max_cleaning_minutes_w"]
            out["r_require"][r] = _flag_bits(prm["require_flags"])
        for t in range(months):
            m = start + t
            on = rule.effective_from <= m < (rule.effective_until if rule.effective_until is not None else NO_END)
            if on and ("monthly" in rule.moments or ("date" in rule.moments and m == out["r_date"][r])):
                out["dm_on"][t] = True
                out["dm_prod"][t] |= out["r_prod"][r]
            for k, moment in enumerate(("intake", "reindication")):
                if on and moment in rule.moments:
                    out["hook_on"][k, t] |= out["r_step"][r]
    return out


def empty_rules(policy: Policy, group_codes: list[str], months: int = 0) -> dict[str, np.ndarray]:
    return compile_rules([], policy, group_codes, [], 0, months)
