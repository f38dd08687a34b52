"""Profile, policy and rules compiled to the record arrays the kernel reads.

The kernel never parses a date or looks up a string: every dated parameter is resolved here
into month-indexed arrays, every code into an index, every rule's parameters into the named
slots its primitive defines (engine.model.primitives).

    P.run[0]     scalars and small tables (`layout.RUN`)
    P.products   per product: domain, setting, steps, indication length, reindication
                 outcomes (cumulative), goal hazard and its log-survival, prices per step
    P.groups     per group: domain, monthly hazards of moving away and Wlz and their logs
    P.months     per run month (one more: the end): days, price index, own contribution,
                 cost scale (index x days / 7), date/monthly rules in force
    P.month_scale, P.month_oc
                 the cost scale and the own contribution per month again, as contiguous
                 arrays: the cost accrual's loop over a segment's months reads them (a
                 strided read from the month records kept it from vectorising: 10% of the
                 kernel)
    P.admit_p    [group, month]: admission probability of a pool client
    P.rules      per rule, in scenario order: primitive, moments, validity, key, measure,
                 groups, exceptions, parameter slots
    P.rule_prod  [rule, product]: steps in scope, target step
    P.gates      [month, product]: the steps a rule of intake / reindication holds in scope,
                 whether a date or monthly rule can act on the product, the next such month
    P.cap        capacity (engine.model.places.Cap): the products bound, the clients the
                 month-outer driver steps; none without capacity (engine.model.capacity)
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from engine.core.domain import DOMAINS, FLAGS, SETTINGS
from engine.core.errors import InputError
from engine.core.months import days_array, year_of
from engine.model.inflow import admitted_inflow
from engine.model.layout import (
    GATE,
    GROUP,
    MAX_BANDS,
    MAX_DECISIONS,
    MAX_GROUPS,
    MAX_MEASURES,
    MAX_RULE_PARAMS,
    MAX_SCENARIO_RULES,
    MAX_STEPS,
    MOMENT_BITS,
    MONTH,
    NO_END,
    NO_FLOOR,
    PRODUCT,
    RULE,
    RULE_PRODUCT,
    RUN,
)
from engine.model.places import no_capacity
from engine.model.portable_math import log1p_array
from engine.model.primitives import (
    ADMIT_CODES,
    BY_NAME,
    CODES,
    GOAL_CODES,
    PRE_CODES,
    SEGMENT_CODES,
)
from engine.model.primitives.spec import RuleContext
from engine.model.rng import MODE_KEYED, decision_keys

Params = namedtuple(
    "Params",
    [
        "run",
        "products",
        "groups",
        "months",
        "month_scale",
        "month_oc",
        "admit_p",
        "rules",
        "rule_prod",
        "gates",
        "cap",
    ],
)


def log_survival(h: np.ndarray) -> np.ndarray:
    """log(1 - h) per monthly hazard; -inf for h >= 1, by engine.model.portable_math (as the
    kernel's own): the same bits on every CPU, unlike NumPy's vectorised log1p."""
    h = np.asarray(h, dtype=np.float64)
    below = h < 1.0
    return np.where(below, log1p_array(-np.where(below, h, 0.0)), -math.inf)


def _fits(n: int, limit: int, what: str) -> None:
    if n > limit:
        raise InputError(what, f"{n} is more than the engine holds", f"at most {limit}")


def compile_params(
    profile,
    policy,
    pool_rate: np.ndarray,
    start: int,
    months: int,
    seed: int,
    rng_mode: int = MODE_KEYED,
    trace: bool = False,
    rules: list | None = None,
    measure_names: list[str] | None = None,
    events: bool = True,
) -> Params:
    """The kernel's parameters for a run of `months` from `start`. `rules`: rules.schema.Rule
    objects in scenario order (None or []: the baseline); `measure_names`: the measures the
    rules belong to, in order. `events=False`: rule events are not booked (experiment
    sub-runs need only costs and the clients affected)."""
    prods = policy.products
    groups = profile.groups
    _fits(max(len(p.steps) for p in prods), MAX_STEPS, "policy: steps of a product")
    _fits(len(groups), MAX_GROUPS, "profile: client groups")
    _fits(len(profile.mortality_age_from), MAX_BANDS, "profile: mortality bands")
    _fits(len(profile.youth_age_bands), MAX_BANDS, "profile: youth age bands")

    run = np.zeros(1, dtype=RUN)
    r0 = run[0]
    keys = decision_keys(seed)
    _fits(keys.shape[0], MAX_DECISIONS, "decision ids")
    r0["keys"][: keys.shape[0]] = keys
    r0["seed"] = np.uint64(seed)
    r0["rng_mode"] = rng_mode
    r0["start"] = start
    r0["T"] = months
    r0["half0"] = start // 6
    r0["year0"] = start // 12
    ho = next((p for p in prods if p.ho_minutes), None)
    band_steps = ho.band_steps if ho else [0]
    _fits(len(band_steps), MAX_BANDS, "policy: household-help minute bands")
    r0["ho_band_steps"][: len(band_steps)] = band_steps
    r0["ho_bounds"][: len(band_steps)] = (
        [ho.steps[i].minutes_max for i in band_steps] if ho else [1e9]
    )
    r0["n_ho_bands"] = len(band_steps)
    r0["ho_biweekly_step"] = ho.biweekly_step if ho else -1
    r0["ho_step_change"] = policy.ho_step_change_minutes
    codes = policy.product_codes
    r0["p_verlengd"] = (
        codes.index(profile.verlengd_product) if profile.verlengd_product in codes else -1
    )
    mort_from = np.array(profile.mortality_age_from, dtype=np.float64) * 12
    mort_h = np.array(profile.mortality_hazard_m, dtype=np.float64)
    r0["n_mort"] = mort_from.shape[0]
    r0["mort_from_m"][: mort_from.shape[0]] = mort_from
    r0["mort_h"][: mort_h.shape[0]] = mort_h
    r0["mort_lh"][: mort_h.shape[0]] = log_survival(mort_h)
    youth = [i for i, g in enumerate(groups) if g.domain == "jeugd"]
    bands_m = (np.array(profile.youth_age_bands, dtype=np.float64) * 12).astype(np.int64)
    r0["youth_bands_m"][: bands_m.shape[0]] = bands_m
    r0["youth_groups"][: len(youth)] = youth
    r0["n_youth"] = len(youth)
    r0["youth_end_m"] = round(profile.youth_age_bands[-1] * 12)
    a18 = profile.age18
    r0["age18_cum"] = np.cumsum(
        [a18.get("end", 0.0), a18.get("verlengd", 0.0), a18.get("handover", 0.0)]
    )
    r0["wlz_candidate_mult"] = profile.wlz_candidate_multiplier
    r0["trace"] = trace
    r0["events"] = events

    product = np.zeros(len(prods), dtype=PRODUCT)
    goal = np.array([profile.products[p.code].goal_hazard_m for p in prods], dtype=np.float64)
    product["domain"] = [DOMAINS.index(p.domain) for p in prods]
    product["setting"] = [SETTINGS.index(p.setting) for p in prods]
    product["nsteps"] = [len(p.steps) for p in prods]
    product["own"] = [p.own_contribution for p in prods]
    product["ho"] = [p.ho_minutes for p in prods]
    product["ind"] = [p.indication_months for p in prods]
    product["goal"] = goal
    product["goal_lh"] = log_survival(goal)
    product["reind_cum"] = np.cumsum(
        np.array([p.reindication for p in prods], dtype=np.float64), axis=1
    )[:, :3]
    for i, p in enumerate(prods):
        cents = [int(round(s.price_w * 100)) for s in p.steps]
        product["price_cents"][i] = cents + [cents[-1]] * (MAX_STEPS - len(cents))

    group = np.zeros(len(groups), dtype=GROUP)
    moved = np.array([g.moved_hazard_m for g in groups], dtype=np.float64)
    wlz = np.array([g.wlz_hazard_m for g in groups], dtype=np.float64)
    group["domain"] = [DOMAINS.index(g.domain) for g in groups]
    group["moved"] = moved
    group["wlz"] = wlz
    group["moved_lh"] = log_survival(moved)
    group["wlz_lh"] = log_survival(wlz)
    group["wlz_cand_lh"] = log_survival(wlz * np.float64(profile.wlz_candidate_multiplier))

    month = np.zeros(months + 1, dtype=MONTH)
    price_index = np.array(
        [policy.index_for_year(year_of(start + t)) for t in range(months)], dtype=np.float64
    )
    days = days_array(start, months)
    month["days"][:months] = days
    month["price_index"][:months] = price_index
    month["oc_cents"][:months] = np.round(
        policy.own_contribution_monthly_eur * 100 * price_index
    ).astype(np.int64)
    month["scale"][:months] = price_index * days / 7.0  # the cost of a month: weekly x scale
    month["step_all"] = months

    expected = admitted_inflow(profile, start, months)
    if pool_rate.shape != expected.shape:
        raise ValueError(
            f"pool intensity {pool_rate.shape} does not match groups x months {expected.shape}"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        admit = np.where(pool_rate > 0, np.minimum(expected / pool_rate, 1.0), 0.0)

    rule, rule_prod, gates = compile_rules(
        rules or [],
        policy,
        profile.group_codes,
        measure_names or [],
        start,
        months,
        keyed=rng_mode == MODE_KEYED,
        price_index=price_index,
    )
    r0["n_rules"] = rule.shape[0]
    goal = np.isin(rule["prim"], list(GOAL_CODES))
    r0["goal_rules"] = _mask(goal)
    r0["admit_rules"] = _mask(np.isin(rule["prim"], list(ADMIT_CODES)))
    for p in range(len(prods)):  # a slot of a product none holds draws its goal month inline
        product["goal_rules"][p] = _mask(goal & (rule_prod["steps"][:, p] != 0))
    r0["segment_rules"] = int(np.isin(rule["prim"], list(SEGMENT_CODES)).sum()) if rule.size else 0
    month["dm_on"][:months] = gates["dm"][:months].any(axis=1)
    for p in range(len(prods)):
        gates["next_dm"][:, p] = next_rule_month(gates["dm"][:months, p].astype(bool))
        gates["next_seg"][:, p] = next_rule_month(gates["seg"][:months, p].astype(bool))
    return Params(
        run,
        product,
        group,
        month,
        np.ascontiguousarray(month["scale"]),
        np.ascontiguousarray(month["oc_cents"]),
        np.ascontiguousarray(admit, dtype=np.float64),
        rule,
        rule_prod,
        gates,
        no_capacity(len(prods)),
    )


def _mask(flags: np.ndarray) -> int:
    """One bit per rule, set where `flags` (one per rule) is true."""
    return sum(1 << r for r in np.flatnonzero(flags).tolist())


def next_rule_month(dm_on: np.ndarray) -> np.ndarray:
    """next[t]: the first month t' >= t flagged in `dm_on` (a date or monthly rule in force,
    or one with segment events; T if none); one entry more, so next[T] = T."""
    T = dm_on.shape[0]
    out = np.full(T + 1, T, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        out[t] = t if dm_on[t] else out[t + 1]
    return out


def _bits(names: list[str], vocabulary: list[str]) -> int:
    return sum(1 << vocabulary.index(x) for x in names)


def compile_rules(
    rules: list,
    policy,
    group_codes: list[str],
    measure_names: list[str],
    start: int,
    months: int,
    *,
    keyed: bool,
    price_index: np.ndarray,
):
    """`P.rules`, `P.rule_prod` and `P.gates` for rules in scenario order (`keyed`: for keyed
    draws, whose monthly rules gate only the months their primitive can be due in;
    `price_index`: per run month, for the client floors of the gates)."""
    if len(price_index) != months:
        raise ValueError(f"price_index has {len(price_index)} months, not {months}")
    _fits(len(measure_names), MAX_MEASURES, "measures in one scenario")
    _fits(len(rules), MAX_SCENARIO_RULES, "rules in one scenario")
    R, NP = len(rules), len(policy.products)
    codes = policy.product_codes
    rule = np.zeros(R, dtype=RULE)
    rule_prod = np.zeros((R, NP), dtype=RULE_PRODUCT)
    rule_prod["step_to"] = -1
    rule_prod["prod_to"] = -1
    gates = np.zeros((months + 1, NP), dtype=GATE)
    gates["intake_floor"] = NO_FLOOR
    gates["reind_floor"] = NO_FLOOR
    for r, rl in enumerate(rules):
        row = rule[r]
        row["prim"] = CODES[rl.primitive]
        row["moments"] = sum(MOMENT_BITS[m] for m in rl.moments)
        row["eff_from"] = rl.effective_from
        row["eff_until"] = rl.effective_until if rl.effective_until is not None else NO_END
        row["date"] = rl.effective_from + rl.transition_months if "date" in rl.moments else -1
        row["key"] = rl.key
        row["measure"] = measure_names.index(rl.measure)
        row["groups"] = np.uint64(_bits(rl.groups, group_codes))
        row["districts"] = (
            np.uint64(sum(1 << d for d in rl.districts))
            if rl.districts
            else np.uint64(0xFFFFFFFFFFFFFFFF)
        )
        row["exempt"] = _bits(rl.exempt_flags, FLAGS)
        row["approved"] = rl.approved_share
        row["leaves"] = rl.leaves_share
        for prod, steps in rl.steps.items():
            p = policy.product(prod)
            rule_prod[r, codes.index(prod)]["steps"] = _bits(steps, [s.code for s in p.steps])
        packed = BY_NAME[rl.primitive].SPEC.pack(
            rl.params, RuleContext(policy, rl.products, rl.effective_from, group_codes)
        )
        for slot, value in packed.f.items():
            row["f"][slot] = value
        for slot, value in packed.i.items():
            row["i"][slot] = value
        for prod, step in packed.step_to.items():
            rule_prod[r, codes.index(prod)]["step_to"] = step
        for prod, target in packed.prod_to.items():
            rule_prod[r, codes.index(prod)]["prod_to"] = target
        assert max([*packed.f, *packed.i, -1]) < MAX_RULE_PARAMS
        _gate(gates, rl, row, rule_prod[r]["steps"], r, start, price_index, keyed)
    return rule, rule_prod, gates


def _gate(gates, rl, row, steps: np.ndarray, r: int, start: int, price_index, keyed) -> None:
    """Rule r's part of the gates (`GATE`) in the months it is in force; `steps`: the steps it
    holds in scope, per product. With keyed draws a monthly rule whose primitive says in which
    months it can be due (`due_month`: a review, in its window) gates only those: the kernel
    steps no client for it in the other months, and looks at no slot for it there unless
    another date or monthly rule holds the product. (Sequential draws
    take the primitive's draw every month: they keep every month.) A rule of intake or
    reindication whose primitive has a client floor (`client_floor`: a weekly cap) lowers the
    month's floor of the products it holds; one without opens its steps."""
    until = rl.effective_until if rl.effective_until is not None else NO_END
    held = (steps != 0).astype(np.uint64) << np.uint64(r)  # per product
    module = BY_NAME[rl.primitive]
    for t in range(len(price_index)):
        m = start + t
        if not rl.effective_from <= m < until:
            continue
        if row["prim"] in SEGMENT_CODES and module.segment_month(row, m):
            gates["seg"][t] |= steps != 0
        if row["prim"] in GOAL_CODES or row["prim"] in ADMIT_CODES:
            continue  # these act at their own hook points (engine.model.hooks), not moments
        monthly = "monthly" in rl.moments and (
            not keyed or not hasattr(module, "due_month") or module.due_month(row, m)
        )
        if monthly or ("date" in rl.moments and m == row["date"]):
            gates["dm"][t] |= steps != 0
        floor = getattr(module, "client_floor", None)
        floor = floor(row, price_index[t]) if floor is not None else None
        for moment, field in (("intake", "intake"), ("reindication", "reind")):
            if moment not in rl.moments:
                continue
            gates[field][t] |= steps
            gates[f"{field}_rules"][t] |= held
            if floor is None:
                gates[f"{field}_open"][t] |= steps
            else:
                low = gates[f"{field}_floor"][t]
                gates[f"{field}_floor"][t] = np.where(steps != 0, np.minimum(low, floor), low)
        if "reindication" in rl.moments and row["prim"] in PRE_CODES:
            gates["pre"][t] |= steps
