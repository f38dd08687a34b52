"""Reserved follow-up slots: verlengde jeugdhulp and the Wmo hand-over for youth clients who
turn 18 within the horizon. Every attribute is a keyed draw on (population seed, decision,
client id, slot kind) and the slot id a hash of (client id, slot kind), so the generator and
the extract reader give a client the same slots (`followup_slots`)."""

from __future__ import annotations

import numpy as np

from engine.core.domain import HO_TASKS, SLOT_KINDS
from engine.model.portable_math import exp_array, normal_quantile_array
from engine.model.rng import (
    P_FOLLOWUP_CLEANING,
    P_FOLLOWUP_FACTOR,
    P_FOLLOWUP_FUNDING,
    P_FOLLOWUP_SLOT_ID,
    P_FOLLOWUP_STEP,
    P_FOLLOWUP_SUBCONTRACTED,
    P_FOLLOWUP_TASK,
    keyed_bits_np,
    keyed_uniform_np,
)
from rules.policy import Policy
from synthetic_population.household_help import ho_params, ho_step_from_minutes
from synthetic_population.profile import Profile


def turning_18(birth: np.ndarray, ref: np.ndarray, start: int, months: int) -> np.ndarray:
    """Positions of youth clients who turn 18 within the horizon, after their reference
    month (stock: the start month; pool: the arrival month): they get follow-up slots."""
    birth = np.asarray(birth, dtype=np.int64)
    b18 = birth + 18 * 12
    return np.nonzero((b18 > ref) & (b18 < start + months) & (b18 >= start))[0]


def slot_step_weights(profile: Profile, pcode: str, kind: int) -> tuple[float, ...]:
    """Step weights of a product in a slot of this kind (follow-ups have their own)."""
    sw = profile.products[pcode].step_weights
    if kind == SLOT_KINDS.index("handover") and pcode == profile.handover_product:
        return profile.handover_step_weights
    if kind == SLOT_KINDS.index("verlengd") and pcode == profile.verlengd_product:
        return profile.verlengd_step_weights
    return sw


def followup_slot_ids(client_id: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """The id of a client's reserved follow-up slot of a kind: a hash of (client id, slot
    kind) with the top bit set, so it depends on nothing else (not on how many slots other
    clients hold, nor on the population seed) and never meets the sequential ids 1, 2, ...
    of initial slots or an extract's numeric ids."""
    bits = keyed_bits_np(
        0,
        P_FOLLOWUP_SLOT_ID,
        np.asarray(client_id, dtype=np.uint64),
        np.asarray(kind, dtype=np.int64),
    )
    return bits | np.uint64(1 << 63)


def _normal_inv(u: np.ndarray) -> np.ndarray:
    """Standard normal quantiles of uniforms (inverse CDF, monotone in u)."""
    return normal_quantile_array(np.clip(np.asarray(u, dtype=np.float64), 1e-12, 1 - 1e-12))


def followup_slots(
    profile: Profile,
    policy: Policy,
    seed: int,
    client_id: np.ndarray,
    birth: np.ndarray,
    ref: np.ndarray,
    household: np.ndarray,
    holds_youth: np.ndarray,
    start: int,
    months: int,
) -> dict[str, np.ndarray]:
    """Reserved follow-up slots (verlengde jeugdhulp, then the Wmo hand-over) for youth
    clients who turn 18 within the horizon after their reference month (`turning_18`) and
    hold a youth arrangement other than verlengde jeugdhulp (the kernel's hand-over
    condition). The one definition both the generator and the extract reader use, so a
    client gets the same slots on both paths.

    Inputs are per client (arrays of equal length); `seed` is the population seed. Every
    attribute is a keyed draw `u = f(seed, decision, client id, slot kind)`
    (engine.model.rng.POPULATION_DECISIONS), used monotonically: the step by the inverse CDF of
    the slot's step weights (`slot_step_weights`), the amount factor lognormal by the normal
    inverse CDF, pgb when `u < pgb_share`, subcontracted when `u < subcontracted_share` (zin
    only); a household-help follow-up gets lognormal cleaning minutes and each further task
    when `u < share`, and the step of its minutes. Slot ids are `followup_slot_ids`.

    Returns arrays, one row per slot, ordered by owner and then kind: `owner` (position in
    the inputs), `kind` (engine.core.domain.SLOT_KINDS), `prod` (index in the policy's product
    codes), `step` (index within the product), `factor`, `funding` (FUNDING index),
    `subcontracted`, `minutes` ([slot, HO_TASKS]) and `arrangement_id`."""
    products = policy.product_codes
    client_id = np.asarray(client_id, dtype=np.uint64)
    turning = turning_18(birth, np.asarray(ref, dtype=np.int64), start, months)
    turning = turning[np.asarray(holds_youth, dtype=bool)[turning]]
    kinds = [
        (SLOT_KINDS.index(k), p)
        for k, p in (("verlengd", profile.verlengd_product), ("handover", profile.handover_product))
        if profile.age18.get(k, 0) > 0
    ]
    owner = np.repeat(turning, len(kinds)).astype(np.int64)
    kind = np.tile(np.array([k for k, _ in kinds], dtype=np.int64), turning.size)
    prod = np.tile(np.array([products.index(p) for _, p in kinds], dtype=np.int64), turning.size)
    n = owner.size
    cid = client_id[owner]
    step = np.zeros(n, dtype=np.int64)
    factor = np.ones(n, dtype=np.float32)
    minutes = np.zeros((n, len(HO_TASKS)), dtype=np.int16)
    u_step = keyed_uniform_np(seed, P_FOLLOWUP_STEP, cid, kind)
    u_factor = keyed_uniform_np(seed, P_FOLLOWUP_FACTOR, cid, kind)
    for pi in np.unique(prod):
        sel = np.nonzero(prod == pi)[0]
        pcode = products[pi]
        pdef = policy.product(pcode)
        if pdef.ho_minutes:
            ho = ho_params(profile)
            bounds = np.array([pdef.steps[i].minutes_max for i in pdef.band_steps])
            z = _normal_inv(keyed_uniform_np(seed, P_FOLLOWUP_CLEANING, cid[sel], kind[sel]))
            minutes[sel, 0] = np.clip(
                np.round(ho["cleaning_median_w"] * exp_array(ho["cleaning_sigma"] * z)), 15, 600
            )
            hh = np.asarray(household, dtype=np.int64)[owner[sel]]
            for ti, t in enumerate(HO_TASKS[1:], start=1):
                has = (
                    keyed_uniform_np(seed, P_FOLLOWUP_TASK, cid[sel], 8 * kind[sel] + ti)
                    < ho[f"{t}_share"]
                )
                if t == "ironing":
                    iw = np.asarray(ho["ironing_w_by_household"], dtype=np.float64)
                    val = iw[np.clip(hh, 1, len(iw)) - 1]
                else:
                    val = np.full(sel.size, ho[f"{t}_w"])
                minutes[sel, ti] = np.where(has, val, 0)
            step[sel] = np.array(pdef.band_steps)[
                ho_step_from_minutes(minutes[sel].sum(axis=1), bounds)
            ]
        else:
            for k in np.unique(kind[sel]):
                sub = sel[kind[sel] == k]
                cum = np.cumsum(
                    np.asarray(slot_step_weights(profile, pcode, int(k)), dtype=np.float64)
                )
                step[sub] = np.minimum(
                    np.searchsorted(cum / cum[-1], u_step[sub], side="right"), len(pdef.steps) - 1
                )
        s = profile.products[pcode].amount_sigma
        if s > 0:
            factor[sel] = exp_array(s * _normal_inv(u_factor[sel]) - s * s / 2).astype(np.float32)
    pgb = keyed_uniform_np(seed, P_FOLLOWUP_FUNDING, cid, kind) < profile.pgb_share
    sub = (
        keyed_uniform_np(seed, P_FOLLOWUP_SUBCONTRACTED, cid, kind) < profile.subcontracted_share
    ) & ~pgb
    return {
        "owner": owner,
        "kind": kind,
        "prod": prod,
        "step": step,
        "factor": factor,
        "funding": pgb.astype(np.int64),
        "subcontracted": sub,
        "minutes": minutes,
        "arrangement_id": followup_slot_ids(cid, kind),
    }
