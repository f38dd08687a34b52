"""Profile and policy compiled to month-indexed arrays for the kernel (DESIGN section 9):
the kernel never parses a date or looks up a string.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from engine.domain import DOMAINS, SETTINGS
from engine.months import days_array, year_of
from engine.rng import MODE_KEYED, decision_keys
from rules.policy import Policy
from synthetic_population.profile import Profile


def log_survival(h: np.ndarray) -> np.ndarray:
    """log(1 - h) per monthly hazard; -inf for h >= 1. With `math.log1p` (the C library's,
    as the kernel's own): NumPy's vectorised log1p may differ in the last bit by CPU."""
    return np.array([math.log1p(-x) if x < 1.0 else -math.inf for x in np.asarray(h, dtype=np.float64).ravel().tolist()], dtype=np.float64).reshape(np.shape(h))


Params = namedtuple(
    "Params",
    [
        "seed", "keys", "rng_mode", "start", "T",
        "days", "price_index", "oc_cents",
        "p_domain", "p_setting", "p_nsteps", "p_ind", "p_reind_cum", "p_own", "p_goal", "p_ho", "price_cents",
        "ho_band_steps", "ho_bounds", "ho_biweekly_step", "ho_step_change", "p_verlengd",
        "g_domain", "g_moved", "g_wlz", "admit_p", "wlz_candidate_mult",
        "mort_from_m", "mort_h", "youth_bands_m", "youth_groups", "youth_end_m",
        "age18_cum", "half0", "year0",
        # log(1 - h) of the monthly hazards, for waiting times (engine.rng.months_from_log):
        # goal per product; moved, Wlz and Wlz for a candidate per group; mortality per band
        "p_goal_lh", "g_moved_lh", "g_wlz_lh", "g_wlz_cand_lh", "mort_lh",
        "trace",
        # rules (rules.compile): one row per rule in scenario order
        "r_prim", "r_moments", "r_from", "r_until", "r_date", "r_key", "r_measure", "r_prod", "r_step", "r_group",
        "r_exempt", "r_require", "r_approved", "r_leaves", "r_f", "r_i", "r_tasks", "r_step_to", "dm_on",
        "hook_on", "dm_prod",
        "ev_on",
    ],
)


def compile_params(profile: Profile, policy: Policy, pool_rate: np.ndarray, start: int, months: int, seed: int,
                   rng_mode: int = MODE_KEYED, trace: bool = False, rules: dict | None = None, events: bool = True) -> Params:
    """`rules`: arrays from rules.compile.compile_rules (None: the baseline, no rules).
    `events=False`: rule events are not booked (experiment sub-runs need only costs and the
    clients affected; the events bins are then not allocated)."""
    from rules.compile import empty_rules
    from synthetic_population.generator import admitted_inflow

    rules = rules if rules is not None else empty_rules(policy, profile.group_codes, months)

    prods = policy.products
    P = len(prods)
    smax = max(len(p.steps) for p in prods)
    years = [year_of(start + t) for t in range(months)]
    price_index = np.array([policy.index_for_year(y) for y in years], dtype=np.float64)
    oc_cents = np.round(policy.own_contribution_monthly_eur * 100 * price_index).astype(np.int64)
    price_cents = np.zeros((P, smax), dtype=np.int64)
    for i, p in enumerate(prods):
        for j, s in enumerate(p.steps):
            price_cents[i, j] = int(round(s.price_w * 100))
        price_cents[i, len(p.steps):] = price_cents[i, len(p.steps) - 1]
    ho = next((p for p in prods if p.ho_minutes), None)
    ho_band_steps = np.array(ho.band_steps if ho else [0], dtype=np.int64)
    ho_bounds = np.array([ho.steps[i].minutes_max for i in ho.band_steps] if ho else [1e9], dtype=np.float64)
    codes = policy.product_codes
    groups = profile.groups
    expected = admitted_inflow(profile, start, months)
    if pool_rate.shape != expected.shape:
        raise ValueError(f"pool intensity {pool_rate.shape} does not match groups x months {expected.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        admit = np.where(pool_rate > 0, np.minimum(expected / pool_rate, 1.0), 0.0)
    youth = [i for i, g in enumerate(groups) if g.domain == "jeugd"]
    a18 = profile.age18
    p_goal = np.array([profile.products[p.code].goal_hazard_m for p in prods], dtype=np.float64)
    g_moved = np.array([g.moved_hazard_m for g in groups], dtype=np.float64)
    g_wlz = np.array([g.wlz_hazard_m for g in groups], dtype=np.float64)
    mort_h = np.array(profile.mortality_hazard_m, dtype=np.float64)
    wlz_mult = np.float64(profile.wlz_candidate_multiplier)
    age18_cum = np.cumsum([a18.get("end", 0.0), a18.get("verlengd", 0.0), a18.get("handover", 0.0)])
    return Params(
        seed=np.uint64(seed), keys=decision_keys(seed), rng_mode=np.int64(rng_mode), start=np.int64(start), T=np.int64(months),
        days=days_array(start, months), price_index=price_index, oc_cents=oc_cents,
        p_domain=np.array([DOMAINS.index(p.domain) for p in prods], dtype=np.int8),
        p_setting=np.array([SETTINGS.index(p.setting) for p in prods], dtype=np.int8),
        p_nsteps=np.array([len(p.steps) for p in prods], dtype=np.int8),
        p_ind=np.array([p.indication_months for p in prods], dtype=np.int16),
        p_reind_cum=np.cumsum(np.array([p.reindication for p in prods], dtype=np.float64), axis=1),
        p_own=np.array([p.own_contribution for p in prods], dtype=np.uint8),
        p_goal=p_goal,
        p_ho=np.array([p.ho_minutes for p in prods], dtype=np.uint8),
        price_cents=price_cents,
        ho_band_steps=ho_band_steps,
        ho_bounds=ho_bounds,
        ho_biweekly_step=np.int64(ho.biweekly_step if ho else -1),
        ho_step_change=np.int64(policy.ho_step_change_minutes),
        p_verlengd=np.int64(codes.index(profile.verlengd_product) if profile.verlengd_product in codes else -1),
        g_domain=np.array([DOMAINS.index(g.domain) for g in groups], dtype=np.int8),
        g_moved=g_moved,
        g_wlz=g_wlz,
        admit_p=np.ascontiguousarray(admit, dtype=np.float64),
        wlz_candidate_mult=wlz_mult,
        mort_from_m=np.array(profile.mortality_age_from, dtype=np.float64) * 12,
        mort_h=mort_h,
        youth_bands_m=(np.array(profile.youth_age_bands, dtype=np.float64) * 12).astype(np.int64),
        youth_groups=np.array(youth, dtype=np.int64),
        youth_end_m=np.int64(round(profile.youth_age_bands[-1] * 12)),
        age18_cum=age18_cum.astype(np.float64),
        half0=np.int64(start // 6), year0=np.int64(start // 12),
        p_goal_lh=log_survival(p_goal), g_moved_lh=log_survival(g_moved), g_wlz_lh=log_survival(g_wlz),
        g_wlz_cand_lh=log_survival(g_wlz * wlz_mult), mort_lh=log_survival(mort_h),
        trace=np.bool_(trace),
        ev_on=np.bool_(events),
        **rules,
    )
