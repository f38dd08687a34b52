"""The synthetic population: clients and their arrangements at the start month, the inflow
pool of potential arrivals, and reserved follow-up slots (DESIGN sections 2 and 3).

Everything here is drawn with the *population seed*; what happens to people later is drawn
in the kernel with the simulation seed. Measures never touch this: client identity does not
depend on policy.

Clients and their initial slots come from one sequential NumPy stream per group; client ids
and initial-slot ids are 1, 2, ... (stock first, then the pool by arrival month). The
reserved follow-up slots of youth clients turning 18 within the horizon (verlengde
jeugdhulp, the Wmo hand-over) are not: `followup_slots` draws every attribute as a keyed,
stateless draw on (population seed, decision, client id, slot kind) (engine.model.rng
POPULATION_DECISIONS) and ids them by a hash of (client id, slot kind)
(`followup_slot_ids`). The extract reader calls the same function, so a stock written as an
extract and read back gets the same follow-up slots, ids and attributes included.

Output is a `Population`: two Polars frames (schema in `CLIENT_SCHEMA`, `ARRANGEMENT_SCHEMA`)
plus the inflow pool's intensity per group and month, so a run can admit arrivals at the
rate its own profile asks for (`admit when u < expected / pool intensity`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from engine.core.domain import FLAGS, FREQUENCIES, FUNDING, HO_TASKS, SLOT_KINDS
from engine.core.errors import InputError
from engine.core.sourced import Section
from engine.model.portable_math import exp_array, normal_quantile_array, pow_array
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
from synthetic_population.profile import Profile

CLIENT_SCHEMA = {
    "client_id": (pl.UInt64, "stable client id"),
    "group": (pl.Utf8, "client group at the reference month (youth: age band)"),
    "domain": (pl.Utf8, "wmo | jeugd"),
    "birth_month": (pl.Int16, "birth month, months since 2000-01"),
    "household": (pl.UInt8, "household size"),
    "district": (pl.UInt8, "district number"),
    "wmo_group": (
        pl.Utf8,
        "Wmo group: the group itself for Wmo clients; for youth the group after a hand-over at 18",
    ),
    "homeless": (pl.Boolean, "flag read by rules"),
    "domestic_violence": (pl.Boolean, "flag read by rules"),
    "small_tidy_household": (pl.Boolean, "flag read by rules"),
    "wlz_candidate": (pl.Boolean, "flag: higher Wlz hazard"),
    "arrival_month": (
        pl.Int16,
        "inflow pool: month of potential arrival; null for the start stock",
    ),
}
ARRANGEMENT_SCHEMA = {
    "arrangement_id": (pl.UInt64, "stable arrangement (slot) id"),
    "client_id": (pl.UInt64, "owner"),
    "slot_kind": (pl.Utf8, "initial | verlengd | handover (reserved follow-up)"),
    "product": (pl.Utf8, "product code from the policy library"),
    "step": (pl.Utf8, "step code"),
    "amount_factor": (pl.Float32, "client factor on the step price (youth heavy tail; 1 for Wmo)"),
    "start_month": (pl.Int16, "start of the current indication (null for pending slots)"),
    "planned_end_month": (pl.Int16, "planned end of the current indication: reindication month"),
    "indication_no": (pl.Int16, "number of the current indication (1 = first)"),
    "support_since_month": (pl.Int16, "first month of continuous support"),
    "funding": (pl.Utf8, "zin | pgb"),
    "subcontracted": (pl.Boolean, "provider subcontracts"),
    **{
        f"{t}_w": (pl.Int16, f"HO minutes per week (per two weeks when biweekly): {t}")
        for t in HO_TASKS
    },
    "frequency": (pl.Utf8, "HO frequency: weekly | biweekly"),
}


@dataclass
class Population:
    clients: pl.DataFrame
    arrangements: pl.DataFrame
    pool_rate: (
        np.ndarray
    )  # [group, month of horizon]: pool intensity (potential arrivals per month)
    group_codes: list[str]
    start: int
    months: int
    meta: dict = field(default_factory=dict)

    @property
    def n_clients(self) -> int:
        return self.clients.height

    @property
    def n_arrangements(self) -> int:
        return self.arrangements.height

    def fingerprint(self) -> str:
        """Hash of the population content (ids, attributes, slots): runs compare on it. It
        hashes the values themselves (`frame_digest`), not a library's row hash, so it is the
        same with every Polars version."""
        h = hashlib.sha256()
        for frame in (self.clients, self.arrangements):
            h.update(frame_digest(frame).encode())
        h.update(np.ascontiguousarray(self.pool_rate, dtype="<f8").tobytes())
        h.update(json.dumps([self.group_codes, self.start, self.months]).encode())
        return h.hexdigest()[:16]


def frame_digest(frame: pl.DataFrame) -> str:
    """SHA-256 of a frame's column names and values, from the values alone: numbers and
    booleans as little-endian bytes of their NumPy type, dates as int64 days, text as a
    sorted vocabulary (UTF-8, length-prefixed) and a code per row, nulls as a bit mask.
    Stable across library versions (unlike a library's row hash)."""
    h = hashlib.sha256()
    for name in frame.columns:
        col = frame[name]
        h.update(f"{name}:{col.len()}:".encode())
        h.update(np.packbits(col.is_null().to_numpy()).tobytes())
        if col.dtype == pl.Utf8:
            vocab = col.drop_nulls().unique().sort().to_list()
            h.update(
                b"text"
                + b"".join(len(v.encode()).to_bytes(8, "little") + v.encode() for v in vocab)
            )
            values = col.cast(pl.Enum(vocab)).to_physical().fill_null(0).to_numpy().astype("<u4")
        elif col.dtype.is_temporal():
            values = col.to_physical().fill_null(0).to_numpy().astype("<i8")
        else:
            values = col.fill_null(False if col.dtype == pl.Boolean else 0).to_numpy()
            values = values.astype(values.dtype.newbyteorder("<"))
        h.update(values.dtype.str.encode())
        h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()


def expected_inflow(profile: Profile, start: int, months: int) -> np.ndarray:
    """Expected new clients per group and horizon month (scaled), growth compounding yearly."""
    out = np.zeros((len(profile.groups), months))
    t = np.arange(months)
    offset = (start - profile.start) / 12.0
    for gi, g in enumerate(profile.groups):
        out[gi] = (
            g.inflow_per_year
            / 12.0
            * pow_array(1.0 + g.inflow_growth, offset + t / 12.0)
            * profile.scale
        )
    return out


def admitted_inflow(profile: Profile, start: int, months: int) -> np.ndarray:
    """Expected admitted new clients per group and horizon month: the profile's inflow times
    the fitted inflow multipliers. The pool is drawn from `expected_inflow` alone, so a fit
    moves admission at the margin and never changes who is in the pool (at most the pool
    oversample factor: admission cannot exceed the whole pool)."""
    mult = np.array([g.inflow_multiplier for g in profile.groups], dtype=np.float64)
    return expected_inflow(profile, start, months) * mult[:, None]


def _ho_params(profile: Profile) -> dict:
    s = Section(profile.ho_tasks, str(profile.path), "ho_tasks")
    out = {
        "cleaning_median_w": s.number("cleaning_median_w", 85, lo=0),
        "cleaning_sigma": s.number("cleaning_sigma", 0.4, lo=0),
        "ironing_w_by_household": s.raw("ironing_w_by_household", [10, 15, 20, 25]),
    }
    for t in HO_TASKS[1:]:
        if t == "ironing":
            out["ironing_share"] = s.share("ironing_share", 0.0)
            continue
        out[f"{t}_share"] = s.share(f"{t}_share", 0.0)
        out[f"{t}_w"] = s.number(f"{t}_w", 0, lo=0)
    iw = out["ironing_w_by_household"]
    if (
        not isinstance(iw, list)
        or not iw
        or any(not isinstance(x, (int, float)) or x < 0 for x in iw)
    ):
        raise s.error("ironing_w_by_household", f"{iw!r}", "minutes per household size 1, 2, 3, 4+")
    s.done()
    return out


def ho_step_from_minutes(total_w: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The HO step whose band holds the weekly minutes (band upper bounds exclusive)."""
    return np.minimum(np.searchsorted(bounds, total_w, side="right"), len(bounds) - 1)


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
            ho = _ho_params(profile)
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


def _choice(rng: np.random.Generator, weights, n: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(w), size=n, p=w / w.sum())


def _strings(vocab: list, codes: np.ndarray) -> pl.Series:
    """A text column from integer codes into `vocab` (a None entry gives nulls): one gather,
    no Python object per row."""
    return pl.Series(vocab, dtype=pl.Utf8).gather(codes)


def _int16_or_null(values: np.ndarray, null: np.ndarray) -> pl.Series:
    return pl.Series(values.astype(np.int16), dtype=pl.Int16).scatter(np.nonzero(null)[0], None)


def generate(
    profile: Profile, policy: Policy, seed: int, months: int = 48, start: int | None = None
) -> Population:
    """Draw the start stock and the inflow pool for `months` from `start` (default: the
    profile's stock month).

    Each group draws its start stock and its inflow pool from two streams of their own
    (seeded by population seed, group position and part), so the stock does not depend on
    the horizon, the inflow rates or the pool: `population export-extract` (which draws one
    month) writes the stock every horizon's run starts from. Rows are kept as integer codes
    and arrays and become Polars frames once at the end (text columns by one gather)."""
    if months < 1:
        raise InputError("--months", f"{months}", "at least 1 month")
    start = profile.start if start is None else start
    ho = _ho_params(profile)
    products = policy.product_codes
    ho_product = next((p for p in policy.products if p.ho_minutes), None)
    ho_bounds = (
        np.array([ho_product.steps[i].minutes_max for i in ho_product.band_steps])
        if ho_product
        else None
    )
    ho_band_steps = np.array(ho_product.band_steps) if ho_product else None
    group_codes = profile.group_codes
    pool_exp = expected_inflow(profile, start, months) * profile.pool_oversample
    ho_weights = list(profile.handover_groups.values())
    ho_names = list(profile.handover_groups)
    domains = sorted({g.domain for g in profile.groups})
    # Wmo group text: the group codes, then any hand-over name that is not one, then null
    wmo_vocab = [*group_codes, *[h for h in ho_names if h not in group_codes], None]
    ind_months = np.array([policy.product(p).indication_months for p in products])
    # step text per (product, step): one vocabulary with an offset per product
    step_lists = [[s.code for s in policy.product(p).steps] for p in products]
    step_offset = np.cumsum([0] + [len(x) for x in step_lists])[:-1]
    step_vocab = [c for x in step_lists for c in x]

    youth_product = np.array(
        [policy.product(p).domain == "jeugd" and p != profile.verlengd_product for p in products]
    )
    cl = {
        k: []
        for k in (
            "gidx",
            "local",
            "domain",
            "birth",
            "household",
            "district",
            "wmo",
            "arrival",
            "stock",
            "holds_youth",
            *FLAGS,
        )
    }
    ar = {
        k: []
        for k in (
            "gidx",
            "local",
            "kind",
            "prod",
            "step",
            "factor",
            "start",
            "planned_end",
            "ind_no",
            "since",
            "held",
            "funding",
            "sub",
            "minutes",
        )
    }
    for gi, g in enumerate(profile.groups):
        # two streams per group: the stock's, and the pool's (its size first)
        stock_rng, pool_rng = (
            np.random.Generator(np.random.Philox(np.random.SeedSequence([seed, 0xCA5E, gi, part])))
            for part in (0, 1)
        )
        n_stock = int(round(g.stock * profile.scale))
        pool_counts = pool_rng.poisson(pool_exp[gi])
        parts = [
            (stock_rng, np.full(n_stock, -1, dtype=np.int32), True),
            (pool_rng, np.repeat(start + np.arange(months), pool_counts).astype(np.int32), False),
        ]
        local0 = 0  # the part's first position among the group's clients
        for rng, arrival, in_stock in parts:
            n = arrival.size
            if n == 0:
                continue
            stock = np.full(n, in_stock)  # not `arrival < 0`: months before 2000 are < 0
            ref = np.where(stock, start, arrival)
            age_hi = g.age_max - (1 / 12 if g.domain == "jeugd" else 0)
            mode = min(max(g.age_mode, g.age_min), age_hi)
            age_m = (
                np.floor(rng.triangular(g.age_min, mode, age_hi, n) * 12).astype(np.int32)
                if age_hi > g.age_min
                else np.full(n, int(g.age_min * 12))
            )
            birth = ref - age_m
            sizes = np.array(list(g.household))
            household = sizes[_choice(rng, list(g.household.values()), n)]
            flags = {f: rng.random(n) < g.flags.get(f, 0.0) for f in FLAGS}
            flags["small_tidy_household"] &= household <= 2
            district = rng.integers(1, profile.districts + 1, n)
            if g.domain == "wmo":
                wmo = np.full(n, wmo_vocab.index(g.code))
            elif ho_names:
                wmo = np.array([wmo_vocab.index(h) for h in ho_names])[_choice(rng, ho_weights, n)]
            else:
                wmo = np.full(n, len(wmo_vocab) - 1)
            # compact dtypes: these arrays are concatenated and reordered once for all groups
            cl["gidx"].append(np.full(n, gi, dtype=np.int16))
            cl["local"].append(local0 + np.arange(n, dtype=np.int32))
            cl["domain"].append(np.full(n, domains.index(g.domain), dtype=np.int8))
            cl["birth"].append(birth.astype(np.int16))
            cl["household"].append(household.astype(np.uint8))
            cl["district"].append(district.astype(np.uint8))
            cl["wmo"].append(wmo.astype(np.int16))
            cl["arrival"].append(arrival.astype(np.int16))
            cl["stock"].append(stock)
            for f in FLAGS:
                cl[f].append(flags[f])
            # --- arrangements: one primary product per client, extra products by chance ------
            prim_names = list(g.primary)
            prim = np.array([products.index(p) for p in prim_names])[
                _choice(rng, list(g.primary.values()), n)
            ]
            owners = [np.arange(n)]
            prods = [prim]
            order = [np.zeros(n, dtype=np.int32)]
            for k, (pname, q) in enumerate(g.extra.items()):
                pi = products.index(pname)
                has = (rng.random(n) < q) & (prim != pi)
                owners.append(np.nonzero(has)[0])
                prods.append(np.full(has.sum(), pi))
                order.append(np.full(has.sum(), k + 1, dtype=np.int32))
            owner = np.concatenate(owners)
            prod = np.concatenate(prods)
            ordk = np.concatenate(order)
            srt = np.lexsort((ordk, owner))
            owner, prod = owner[srt], prod[srt]
            # who holds a youth arrangement other than verlengde jeugdhulp (the follow-up condition)
            holds_youth = np.zeros(n, dtype=bool)
            holds_youth[owner[youth_product[prod]]] = True
            cl["holds_youth"].append(holds_youth)
            m = owner.size
            step = np.zeros(m, dtype=np.int32)
            factor = np.ones(m, dtype=np.float32)
            minutes = np.zeros((m, len(HO_TASKS)), dtype=np.int16)
            for pi, pcode in enumerate(products):
                sel = np.nonzero(prod == pi)[0]
                if sel.size == 0:
                    continue
                pdef = policy.product(pcode)
                beh = profile.products[pcode]
                if pdef.ho_minutes:
                    hh = household[owner[sel]]
                    clean = np.clip(
                        np.round(
                            ho["cleaning_median_w"]
                            * exp_array(ho["cleaning_sigma"] * rng.standard_normal(sel.size))
                        ),
                        15,
                        600,
                    )
                    minutes[sel, 0] = clean
                    for ti, t in enumerate(HO_TASKS[1:], start=1):
                        has = rng.random(sel.size) < ho[f"{t}_share"]
                        if t == "ironing":
                            iw = np.asarray(ho["ironing_w_by_household"], dtype=np.float64)
                            val = iw[np.minimum(hh, len(iw)) - 1]
                        else:
                            val = np.full(sel.size, ho[f"{t}_w"])
                        minutes[sel, ti] = np.where(has, val, 0)
                    step[sel] = ho_band_steps[
                        ho_step_from_minutes(minutes[sel].sum(axis=1), ho_bounds)
                    ]
                else:
                    step[sel] = _choice(rng, beh.step_weights, sel.size)
                if beh.amount_sigma > 0:
                    s = beh.amount_sigma
                    factor[sel] = exp_array(s * rng.standard_normal(sel.size) - s * s / 2).astype(
                        np.float32
                    )
            # indication timing: stock arrangements are part-way through support
            is_stock = stock[owner]
            ind = ind_months[prod]
            supp = np.floor(rng.exponential(max(g.support_months_mean, 1e-9), m)).astype(np.int32)
            supp = np.minimum(supp, np.maximum(start - birth[owner], 0))
            supp = np.where(is_stock, supp, 0)
            into = supp % ind
            ind_no = 1 + supp // ind
            ind_start = np.where(is_stock, start - into, -1)
            funding = (rng.random(m) < profile.pgb_share).astype(np.int32)
            sub = (rng.random(m) < profile.subcontracted_share) & (funding == 0)
            ar["gidx"].append(np.full(m, gi, dtype=np.int16))
            ar["local"].append(local0 + owner.astype(np.int32))
            ar["kind"].append(np.zeros(m, dtype=np.int8))
            ar["prod"].append(prod.astype(np.int16))
            ar["step"].append((step_offset[prod] + step).astype(np.int16))
            ar["factor"].append(factor)
            ar["start"].append(ind_start.astype(np.int16))
            ar["planned_end"].append(np.where(is_stock, ind_start + ind, -1).astype(np.int16))
            ar["ind_no"].append(ind_no.astype(np.int16))
            ar["since"].append(np.where(is_stock, start - supp, -1).astype(np.int16))
            ar["held"].append(is_stock)  # only the stock holds an indication yet
            ar["funding"].append(funding.astype(np.int8))
            ar["sub"].append(sub)
            ar["minutes"].append(minutes)
            local0 += n
    cl = {k: np.concatenate(v) for k, v in cl.items()}
    ar = {k: np.concatenate(v) for k, v in ar.items()}
    # stable ids: stock first (group order), then the pool by arrival month
    order = np.lexsort(
        (cl["local"], cl["gidx"], np.where(cl["stock"], np.int16(-32768), cl["arrival"]))
    )
    cl = {k: v[order] for k, v in cl.items()}
    n = order.size
    client_id = np.arange(1, n + 1, dtype=np.uint64)
    # each arrangement's client: the row of (group, local) among the sorted clients
    group_base = np.concatenate(
        [[0], np.cumsum(np.bincount(cl["gidx"], minlength=len(profile.groups)))]
    )
    row_of = np.empty(n, dtype=np.int64)
    row_of[group_base[cl["gidx"]] + cl["local"]] = np.arange(n)
    arr_client = client_id[row_of[group_base[ar["gidx"]] + ar["local"]]]
    aorder = np.argsort(arr_client, kind="stable")
    ar = {k: v[aorder] for k, v in ar.items()}
    arr_client = arr_client[aorder]
    # initial slots are numbered 1, 2, ... in client order; the reserved follow-up slots are
    # keyed draws on the client id (followup_slots, shared with the extract reader) and sit
    # after the client's initial slots, verlengd before handover
    ar["aid"] = np.arange(1, aorder.size + 1, dtype=np.uint64)
    fu = followup_slots(
        profile,
        policy,
        seed,
        client_id,
        cl["birth"],
        np.where(cl["stock"], start, cl["arrival"]),
        cl["household"],
        cl["holds_youth"] & (cl["domain"] == domains.index("jeugd")),
        start,
        months,
    )
    k = fu["owner"].size
    follow = {
        "kind": fu["kind"].astype(np.int8),
        "prod": fu["prod"].astype(np.int16),
        "step": (step_offset[fu["prod"]] + fu["step"]).astype(np.int16),
        "factor": fu["factor"],
        "start": np.full(k, -1, dtype=np.int16),
        "planned_end": np.full(k, -1, dtype=np.int16),
        "ind_no": np.zeros(k, dtype=np.int16),
        "since": np.full(k, -1, dtype=np.int16),
        "held": np.zeros(k, dtype=bool),
        "funding": fu["funding"].astype(np.int8),
        "sub": fu["subcontracted"],
        "minutes": fu["minutes"],
        "aid": fu["arrangement_id"],
    }
    ar = {key: np.concatenate([ar[key], follow[key]]) for key in follow}
    arr_client = np.concatenate([arr_client, client_id[fu["owner"]]])
    aorder = np.lexsort(
        (ar["kind"], arr_client)
    )  # stable: a client's initial slots keep their order
    ar = {key: v[aorder] for key, v in ar.items()}
    arr_client = arr_client[aorder]
    m = aorder.size
    clients = pl.DataFrame(
        {
            "client_id": client_id,
            "group": _strings(group_codes, cl["gidx"]),
            "domain": _strings(domains, cl["domain"]),
            "birth_month": cl["birth"],
            "household": cl["household"],
            "district": cl["district"],
            "wmo_group": _strings(wmo_vocab, cl["wmo"]),
            **{f: cl[f] for f in FLAGS},
            "arrival_month": _int16_or_null(cl["arrival"], cl["stock"]),
        }
    )
    arrangements = pl.DataFrame(
        {
            "arrangement_id": ar["aid"],
            "client_id": arr_client,
            "slot_kind": _strings(SLOT_KINDS, ar["kind"]),
            "product": _strings(products, ar["prod"]),
            "step": _strings(step_vocab, ar["step"]),
            "amount_factor": ar["factor"],
            "start_month": _int16_or_null(ar["start"], ~ar["held"]),
            "planned_end_month": _int16_or_null(ar["planned_end"], ~ar["held"]),
            "indication_no": ar["ind_no"],
            "support_since_month": _int16_or_null(ar["since"], ~ar["held"]),
            "funding": _strings(FUNDING, ar["funding"]),
            "subcontracted": ar["sub"],
            **{f"{t}_w": ar["minutes"][:, ti] for ti, t in enumerate(HO_TASKS)},
            "frequency": _strings(FREQUENCIES, np.zeros(m, dtype=np.int64)),
        }
    )
    return Population(
        clients=clients,
        arrangements=arrangements,
        pool_rate=pool_exp,
        group_codes=group_codes,
        start=start,
        months=months,
        meta={
            "profile": profile.name,
            "population_seed": seed,
            "scale": profile.scale,
            "source": "synthetic",
        },
    )


def inflow_pool(
    profile: Profile, policy: Policy, seed: int, months: int = 48, start: int | None = None
) -> Population:
    """The inflow pool alone: exactly the potential arrivals (ids, attributes, slots) of
    `generate` with these arguments, the synthetic start stock left out. `meta` says how
    many client ids (`stock_clients`) and sequential initial-slot ids (`stock_slots`; the
    stock's follow-up slots have hashed ids, `followup_slot_ids`) the left-out stock took,
    so a real extract's stock can take their place (synthetic_population.extract)."""
    pop = generate(profile, policy, seed, months, start)
    is_pool = pl.col("arrival_month").is_not_null()
    clients = pop.clients.filter(is_pool)
    stock_ids = pop.clients.filter(~is_pool)["client_id"]
    arrangements = pop.arrangements.filter(
        pl.col("client_id").is_in(clients["client_id"].implode())
    )
    stock_slots = pop.arrangements.filter(
        ~pl.col("client_id").is_in(clients["client_id"].implode())
        & (pl.col("slot_kind") == "initial")
    ).height
    return Population(
        clients=clients,
        arrangements=arrangements,
        pool_rate=pop.pool_rate,
        group_codes=pop.group_codes,
        start=pop.start,
        months=pop.months,
        meta={**pop.meta, "stock_clients": stock_ids.len(), "stock_slots": stock_slots},
    )


# ------------------------------------------------------------------------- file round trip
def write_population(pop: Population, path: Path) -> None:
    """One Parquet file, one row per arrangement slot with its client's columns, and the
    pool intensity and horizon in the file's key-value metadata. Written atomically."""
    flat = pop.arrangements.join(pop.clients, on="client_id", how="left", maintain_order="left")
    table = flat.to_arrow()
    meta = {
        "caseload.population": json.dumps(
            {
                **pop.meta,
                "start": pop.start,
                "months": pop.months,
                "group_codes": pop.group_codes,
                "pool_rate": pop.pool_rate.tolist(),
                "fingerprint": pop.fingerprint(),
            }
        )
    }
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in meta.items()}}
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)


def read_population(path: Path) -> Population:
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "file not found")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(str(path), f"not a readable Parquet file: {exc}") from None
    raw = (table.schema.metadata or {}).get(b"caseload.population")
    if raw is None:
        raise InputError(
            str(path),
            "no caseload population metadata",
            "a file written by `caseload population generate` (extracts: `caseload population "
            "validate`)",
        )
    meta = json.loads(raw)
    flat = pl.from_arrow(table)
    missing = [c for c in list(CLIENT_SCHEMA) + list(ARRANGEMENT_SCHEMA) if c not in flat.columns]
    if missing:
        raise InputError(str(path), f"missing column {missing[0]!r}")
    clients = flat.select(list(CLIENT_SCHEMA)).unique(
        "client_id", keep="first", maintain_order=True
    )
    arrangements = flat.select(list(ARRANGEMENT_SCHEMA))
    pop = Population(
        clients=clients,
        arrangements=arrangements,
        pool_rate=np.asarray(meta["pool_rate"], dtype=np.float64),
        group_codes=meta["group_codes"],
        start=int(meta["start"]),
        months=int(meta["months"]),
        meta={
            k: v
            for k, v in meta.items()
            if k not in ("pool_rate", "group_codes", "start", "months", "fingerprint")
        },
    )
    return pop
