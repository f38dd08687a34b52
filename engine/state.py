"""Simulation state as flat typed arrays (DESIGN section 9), built from a `Population`.

Clients are rows of the client arrays; each client's arrangement slots are contiguous
(`arr_lo[c]:arr_hi[c]`), reserved follow-up slots included. `COLUMNS` is the one registry of
every state column: name, dtype, unit and meaning. The kernel mutates a copy per run.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import polars as pl

from engine.domain import FLAGS, FREQUENCIES, FUNDING, HO_TASKS, S_ACTIVE, S_PENDING, SLOT_KINDS
from engine.errors import InputError
from rules.policy import Policy

NO_MONTH = -32768  # int16 sentinel: no month (stock clients have no arrival month)

# name: (dtype, unit, meaning) -- the registry of every state column
COLUMNS = {
    # clients
    "cid": (np.uint64, "id", "stable client id"),
    "birth": (np.int16, "month", "birth month"),
    "wmo_group": (np.int8, "code", "Wmo group index (youth: group after hand-over; -1 none)"),
    "pool_group": (np.int8, "code", "group at the reference month (admission rates are per group)"),
    "flags": (np.uint8, "bits", "client flags: " + ", ".join(FLAGS)),
    "household": (np.uint8, "persons", "household size"),
    "arrival": (np.int16, "month", "inflow pool arrival month; NO_MONTH for the start stock"),
    "admitted": (np.int8, "flag", "inflow: -1 undecided, 0 not admitted, 1 admitted (stock: 1)"),
    "arr_lo": (np.int32, "index", "first arrangement slot of the client"),
    "arr_hi": (np.int32, "index", "one past the last arrangement slot"),
    # arrangement slots
    "aid": (np.uint64, "id", "stable arrangement id"),
    "owner": (np.int32, "index", "client row"),
    "product": (np.int16, "code", "product index in the policy catalogue"),
    "step": (np.int8, "code", "step index within the product"),
    "factor": (np.float32, "factor", "client factor on the step price (youth)"),
    "status": (np.int8, "code", "0 pending (reserved or not yet arrived), 1 active, 2 ended"),
    "kind": (np.int8, "code", "slot kind: " + ", ".join(SLOT_KINDS)),
    "start": (np.int16, "month", "start of the current indication"),
    "planned_end": (np.int16, "month", "planned end of the current indication (reindication month)"),
    "ind_no": (np.int16, "count", "indication number"),
    "since": (np.int16, "month", "first month of continuous support"),
    "funding": (np.uint8, "code", "0 zin, 1 pgb"),
    "subcontracted": (np.uint8, "flag", "provider subcontracts"),
    "minutes": (np.int16, "min/week", "HO minutes per task: " + ", ".join(HO_TASKS)),
    "frequency": (np.uint8, "code", "HO frequency: 0 weekly, 1 biweekly"),
    "weekly_cents": (np.int32, "cents/week", "weekly amount in base-year cents (after rules)"),
    "end_month": (np.int16, "month", "month the arrangement ended"),
    "end_reason": (np.uint8, "code", "engine.domain.END_REASONS"),
    # rule state, sized per scenario (engine.simulate.with_rule_state)
    "rule_c": (np.int8, "code", "per client and rule: exception standing, decided once and kept (rule_hooks X_*)"),
    "rule_a": (np.int8, "code", "per arrangement and rule: max_duration phase (0 none, 1 phase-out, 2 done)"),
    "affected": (np.uint32, "bits", "per client: affected by measure k (bit 2k care reduced, 2k+1 care ended)"),
}

State = namedtuple("State", list(COLUMNS))


def _codes(series: pl.Series, choices: list[str], what: str) -> np.ndarray:
    """Text codes -> their index in `choices` (null -> -1); an unknown code is an error.
    Cast through an Enum: one vectorised pass, no Python object per row."""
    if series.dtype != pl.Utf8:
        raise InputError(what, f"expected text codes, got {series.dtype}")
    try:
        codes = series.cast(pl.Enum(choices)).to_physical()
    except pl.exceptions.InvalidOperationError:
        bad = series.filter(~series.is_in(choices)).drop_nulls().unique().to_list()[:5]
        raise InputError(what, f"unknown code(s) {bad}", "one of: " + ", ".join(choices)) from None
    return codes.cast(pl.Int32).fill_null(-1).to_numpy()


def _step_codes(steps: pl.Series, product: np.ndarray, policy: Policy, products: list[str]) -> np.ndarray:
    """Step text -> step index within the arrangement's product: every step text to one
    index, then a [product, text] table. HO steps may be missing (the minutes decide)."""
    names = sorted({st.code for p in products for st in policy.product(p).steps})
    unknown, missing = len(names), len(names) + 1
    text = steps.cast(pl.Enum(names), strict=False).to_physical().cast(pl.Int32).fill_null(unknown).to_numpy().copy()
    text[steps.is_null().to_numpy()] = missing
    table = np.full((len(products), len(names) + 2), -1, dtype=np.int16)
    for pi, p in enumerate(products):
        for si, st in enumerate(policy.product(p).steps):
            table[pi, names.index(st.code)] = si
        if policy.product(p).ho_minutes:
            table[pi, missing] = 0
    step = table[product, text]
    bad = step < 0
    if bad.any():  # name the first product with a step it does not have
        pi = int(product[np.argmax(bad)])
        codes = [st.code for st in policy.product(products[pi]).steps]
        wrong = steps.filter(pl.Series(bad & (product == pi))).unique(maintain_order=True).to_list()[:5]
        raise InputError(f"arrangements.step of {products[pi]}", f"unknown code(s) {wrong}", "one of: " + ", ".join(codes))
    return step.astype(np.int8)


def build_state(pop, policy: Policy, group_codes: list[str]) -> State:
    """Map the population frames to the flat arrays the kernel steps."""
    cl = pop.clients
    ar = pop.arrangements
    n, m = cl.height, ar.height
    products = policy.product_codes
    cid = cl["client_id"].to_numpy().astype(np.uint64)
    owner_ids = ar["client_id"].to_numpy().astype(np.uint64)
    order = np.argsort(cid, kind="stable")
    pos = np.searchsorted(cid[order], owner_ids)
    if m and (pos.max() >= n or (cid[order][np.minimum(pos, n - 1)] != owner_ids).any()):
        raise InputError("population", "an arrangement names a client id that is not in the clients table")
    owner = order[pos].astype(np.int32)
    if m and (np.diff(owner) < 0).any():
        raise InputError("population", "arrangements must be ordered by client (contiguous per client)")
    counts = np.bincount(owner, minlength=n)
    arr_hi = np.cumsum(counts).astype(np.int32)
    arr_lo = (arr_hi - counts).astype(np.int32)

    flags = np.zeros(n, dtype=np.uint8)
    for i, f in enumerate(FLAGS):
        flags |= (cl[f].fill_null(False).to_numpy().astype(np.uint8) << i).astype(np.uint8)
    wmo_group = _codes(cl["wmo_group"].fill_null(""), [*group_codes, ""], "clients.wmo_group")
    wmo_group = np.where(wmo_group == len(group_codes), -1, wmo_group).astype(np.int8)
    arrival = cl["arrival_month"].fill_null(NO_MONTH).to_numpy().astype(np.int16)

    product = _codes(ar["product"], products, "arrangements.product").astype(np.int16)
    if (product < 0).any():
        raise InputError("arrangements.product", "missing", "a product code on every arrangement")
    step = _step_codes(ar["step"], product, policy, products)
    # the kernel indexes its bins with these codes unchecked: a Wmo arrangement needs a Wmo group
    wmo_product = np.array([policy.product(p).domain == "wmo" for p in products])
    if m and (wmo_product[product] & (wmo_group[owner] < 0)).any():
        a = int(np.argmax(wmo_product[product] & (wmo_group[owner] < 0)))
        raise InputError("clients.wmo_group", f"missing for client {int(cid[owner[a]])}, who holds a Wmo arrangement", "one of: " + ", ".join(group_codes))
    kind = _codes(ar["slot_kind"], SLOT_KINDS, "arrangements.slot_kind").astype(np.int8)
    is_stock = arrival[owner] == NO_MONTH
    status = np.where((kind == 0) & is_stock, S_ACTIVE, S_PENDING).astype(np.int8)
    i16 = lambda col: ar[col].fill_null(NO_MONTH).to_numpy().astype(np.int16)  # noqa: E731
    minutes = np.stack([ar[f"{t}_w"].fill_null(0).to_numpy().astype(np.int16) for t in HO_TASKS], axis=1) if m else np.zeros((0, len(HO_TASKS)), np.int16)
    return State(
        cid=cid,
        birth=cl["birth_month"].to_numpy().astype(np.int16),
        wmo_group=wmo_group,
        pool_group=_codes(cl["group"], group_codes, "clients.group").astype(np.int8),
        flags=flags,
        household=cl["household"].to_numpy().astype(np.uint8),
        arrival=arrival,
        admitted=np.where(arrival == NO_MONTH, 1, -1).astype(np.int8),
        arr_lo=arr_lo,
        arr_hi=arr_hi,
        aid=ar["arrangement_id"].to_numpy().astype(np.uint64),
        owner=owner,
        product=product,
        step=step,
        factor=ar["amount_factor"].fill_null(1.0).to_numpy().astype(np.float32),
        status=status,
        kind=kind,
        start=i16("start_month"),
        planned_end=i16("planned_end_month"),
        ind_no=ar["indication_no"].fill_null(0).to_numpy().astype(np.int16),
        since=i16("support_since_month"),
        funding=_codes(ar["funding"], FUNDING, "arrangements.funding").astype(np.uint8),
        subcontracted=ar["subcontracted"].fill_null(False).to_numpy().astype(np.uint8),
        minutes=np.ascontiguousarray(minutes),
        frequency=_codes(ar["frequency"], FREQUENCIES, "arrangements.frequency").astype(np.uint8),
        weekly_cents=np.zeros(m, dtype=np.int32),
        end_month=np.full(m, NO_MONTH, dtype=np.int16),
        end_reason=np.zeros(m, dtype=np.uint8),
        rule_c=np.zeros((n, 0), dtype=np.int8),
        rule_a=np.zeros((m, 0), dtype=np.int8),
        affected=np.zeros(n, dtype=np.uint32),
    )


def with_rule_state(s: State, n_rules: int) -> State:
    """A fresh copy of the state with rule-state arrays for `n_rules` rules."""
    s = copy_state(s)
    return s._replace(
        rule_c=np.full((s.cid.shape[0], n_rules), -1, dtype=np.int8),
        rule_a=np.zeros((s.aid.shape[0], n_rules), dtype=np.int8),
        affected=np.zeros(s.cid.shape[0], dtype=np.uint32),
    )


def copy_state(s: State) -> State:
    return State(*(a.copy() for a in s))
