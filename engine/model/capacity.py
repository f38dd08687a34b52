"""Capacity for a run: the library's capacity and the measures' changes compiled to arrays,
the interim slots reserved in the state, and the clients the month-outer driver steps.

- **pools**: one per capacity-bound product, or per product and district when the library
  gives districts (rules.capacity); `cap[pool, t]` the places (or minutes a week) of run
  month t, after the scenario's measures in order; "unlimited" is `UNLIMITED`.
- **interim slots**: every slot of a bound product that may still start (pending: an inflow
  client's initial slot, a follow-up at 18) gets the product's interim arrangement reserved
  right after it (kind `interim`, engine.core.domain), with a stable id hashed from the
  bound slot's id: the same in the baseline and every measure run (`with_interim_slots`).
  They depend on the library's bound products only, never on the places.
- **coupled clients**: those who hold, or may start, a bound product (decided from their
  slots before the run); everybody else keeps the client-outer kernel.

Nothing here runs without capacity: the kernel then sees `places.no_capacity`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.core.domain import FLAGS, S_PENDING, SLOT_INTERIM
from engine.core.errors import InputError
from engine.model.layout import SLOT
from engine.model.params import log_survival
from engine.model.places import Cap
from engine.model.rng import P_INTERIM_SLOT_ID
from engine.model.state import NO_MONTH, State

UNLIMITED = 1 << 62  # units of capacity: no limit
MAX_CLIENT_SLOTS = 62  # a coupled client's slots are bits of one int64 (layout.W_Q_*)


@dataclass
class CapacityRun:
    """What a run with capacity needs beside the state and parameters."""

    pools: list[tuple[str, int]]  # (product code, district; 0: every district)
    units: list[str]  # per pool: places | hours_w
    cap: np.ndarray  # [pool, month] int64: places, or minutes a week
    pool_product: np.ndarray  # [pool] product index
    hourly_cents: np.ndarray  # [pool] int64: an hour of care (hours_w, not household help)
    urgent: np.ndarray  # [pool] uint8: the client flags that make a request urgent
    give_up_lh: np.ndarray  # [pool] log(1 - give-up hazard)
    slot_pool: np.ndarray  # [slot] int32: the pool of a bound slot, -1 otherwise
    cap_params: Cap  # P.cap
    norm_weeks: float
    interim: list[tuple[str, str]]  # per pool: interim product and step
    changes: list  # the measures' rules.capacity.CapacityChange, in order


def bound_products(policy) -> np.ndarray:
    codes = policy.product_codes
    return np.array([c in policy.capacity for c in codes], dtype=bool)


_M64 = (1 << 64) - 1


def _splitmix64_int(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _splitmix64_np(x: np.ndarray) -> np.ndarray:
    """SplitMix64 on a uint64 array (wrapping arithmetic, as engine.model.rng.splitmix64)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def interim_ids(aids: np.ndarray) -> np.ndarray:
    """The interim slot ids of bound slots `aids`: `rng.keyed_bits_np(0, P_INTERIM_SLOT_ID,
    aids, 0)` with the top bit set, in NumPy (a run that finds its population in the cache
    need not load the compiled hash; tests/unit/test_capacity_rules.py checks they agree)."""
    key = _splitmix64_int(0 ^ _splitmix64_int(P_INTERIM_SLOT_ID))
    ek = _splitmix64_np(np.uint64(key) ^ np.asarray(aids, dtype=np.uint64))
    return _splitmix64_np(ek) | np.uint64(1 << 63)


def _collides(ids: np.ndarray, others: np.ndarray) -> bool:
    """Do the new ids repeat, or meet any of `others`? (Sorted new ids, searched: linear in
    the slots, not a sort of all of them.)"""
    srt = np.sort(ids)
    if (srt[1:] == srt[:-1]).any():
        return True
    others = others[others >= np.uint64(1 << 63)]  # the new ids have the top bit set
    pos = np.minimum(np.searchsorted(srt, others), srt.size - 1)
    return bool((srt[pos] == others).any())


def with_interim_slots(s: State, policy) -> State:
    """The state with an interim slot reserved right after every pending slot of a bound
    product (see the module). Rule state is empty (sized later by `with_rule_state`). `s`
    must be the run's own state: its clients' slot ranges are moved in place."""
    bound = bound_products(policy)
    slots = s.slots
    need = bound[slots["product"]] & (slots["status"] == S_PENDING)
    n_new = int(need.sum())
    if n_new == 0:
        return s
    csum = np.cumsum(need, dtype=np.int64)
    before = csum - need  # bound pending slots before each slot
    new_pos = np.arange(slots.shape[0]) + before
    # copied as opaque rows (NumPy copies a record type holding a sub-array field by field);
    # every row is written once: the old ones here, the interim ones below
    row = np.dtype((np.void, SLOT.itemsize))
    raw = np.empty(slots.shape[0] + n_new, dtype=row)
    raw[new_pos] = np.ascontiguousarray(slots).view(row)
    at = new_pos[need] + 1
    raw[at] = np.zeros(1, dtype=row)[0]
    out = raw.view(SLOT)
    src = slots[need]
    ids = interim_ids(src["aid"])
    if _collides(ids, slots["aid"]):
        raise InputError("population", "an interim slot id collides with another slot id")
    codes = policy.product_codes
    ip = np.zeros(len(codes), dtype=np.int16)
    istep = np.zeros(len(codes), dtype=np.int8)
    for code, cap in policy.capacity.items():
        p = policy.product(cap.interim_product)
        ip[codes.index(code)] = codes.index(cap.interim_product)
        istep[codes.index(code)] = p.step_index(cap.interim_step)
    rows = out[at]
    rows["aid"] = ids
    rows["owner"] = src["owner"]
    rows["factor"] = 1.0
    rows["product"] = ip[src["product"]]
    rows["step"] = istep[src["product"]]
    for f in ("start", "planned_end", "since", "end_month"):
        rows[f] = NO_MONTH
    rows["status"] = S_PENDING
    rows["kind"] = SLOT_INTERIM
    rows["funding"] = src["funding"]
    rows["subcontracted"] = src["subcontracted"]
    out[at] = rows
    clients = s.clients  # the run's own state (simulate's `_state`): changed in place
    cum = np.concatenate([np.zeros(1, dtype=np.int64), csum])
    clients["arr_lo"] = clients["arr_lo"] + cum[clients["arr_lo"]]
    clients["arr_hi"] = clients["arr_hi"] + cum[clients["arr_hi"]]
    return State(
        clients,
        out,
        np.zeros((clients.shape[0], 0), dtype=np.int8),
        np.zeros((out.shape[0], 0), dtype=np.int8),
    )


def _units(value: float, unit: str) -> int:
    if math.isinf(value):
        return UNLIMITED
    return int(math.floor(value * (60.0 if unit == "hours_w" else 1.0) + 0.5))


def compile_capacity(
    policy, profile, s: State, districts: np.ndarray, measures: list, start: int, months: int
) -> CapacityRun:
    """The run's pools and capacity per month (the measures' [[capacity]] changes applied in
    scenario order), each bound slot's pool and the coupled clients, for a state with interim
    slots (`with_interim_slots`). `districts`: each client's district (0: unknown)."""
    codes = policy.product_codes
    changes = [ch for ms in measures for ch in ms.capacity]
    pools, units, interim = [], [], []
    for code, c in policy.capacity.items():
        for d in sorted(c.schedule):
            pools.append((code, d))
            units.append(c.unit)
            interim.append((c.interim_product, c.interim_step))
    cap = np.zeros((len(pools), months), dtype=np.int64)
    for k, (code, d) in enumerate(pools):
        c = policy.capacity[code]
        for t in range(months):
            v = c.at(d, start + t)
            for ch in changes:
                if ch.product == code and (ch.district is None or ch.district == d):
                    v = ch.apply(v, start + t)
            cap[k, t] = _units(v, c.unit)
    bound = bound_products(policy)
    prod = s.slots["product"]
    is_bound = bound[prod]
    owner = s.slots["owner"]
    # pool of (product, district): a product's one pool (district 0) serves every district
    lut = np.full((len(codes), 256), -1, dtype=np.int32)
    for k, (code, d) in enumerate(pools):
        if d == 0:
            lut[codes.index(code), :] = k
        else:
            lut[codes.index(code), d] = k
    slot_pool = np.full(s.slots.shape[0], -1, dtype=np.int32)
    dist = np.asarray(districts, dtype=np.int64)
    at = np.nonzero(is_bound)[0]
    slot_pool[at] = lut[prod[at], dist[owner[at]]]
    missing = at[slot_pool[at] < 0]
    if missing.size:
        p, d = int(prod[missing[0]]), int(dist[owner[missing[0]]])
        raise InputError(
            f"{policy.path}: key capacity.{codes[p]}.districts",
            f"no pool for district {d}, where a client of {codes[p]} lives",
            "a capacity for every district with clients, or one for the whole product",
        )
    coupled = np.zeros(s.clients.shape[0], dtype=np.uint8)
    coupled[owner[is_bound]] = 1
    n_slots = s.clients["arr_hi"].astype(np.int64) - s.clients["arr_lo"]
    if (n_slots[coupled == 1] > MAX_CLIENT_SLOTS).any():
        raise InputError("population", "a client of a capacity-bound product has > 62 slots")
    give_up = np.array(
        [profile.products[code].give_up_hazard_m for code, _ in pools], dtype=np.float64
    )
    flag_bits = {f: 1 << i for i, f in enumerate(FLAGS)}
    return CapacityRun(
        pools=pools,
        units=units,
        cap=cap,
        pool_product=np.array([codes.index(code) for code, _ in pools], dtype=np.int64),
        hourly_cents=np.array(
            [int(round((policy.capacity[code].hourly_eur or 0.0) * 100)) or 1 for code, _ in pools],
            dtype=np.int64,
        ),
        urgent=np.array(
            [sum(flag_bits[f] for f in policy.capacity[code].urgent_flags) for code, _ in pools],
            dtype=np.uint8,
        ),
        give_up_lh=log_survival(give_up),
        slot_pool=slot_pool,
        cap_params=Cap(bound.astype(np.uint8), coupled),
        norm_weeks=policy.norm_weeks,
        interim=interim,
        changes=changes,
    )
