"""Simulation state: two record arrays, built from a `Population`.

`S.clients` has one row per client, `S.slots` one per arrangement slot; each client's slots
are contiguous (`arr_lo:arr_hi`), reserved follow-up slots included. `COLUMNS` is the one
registry of every state field: record, dtype, unit and meaning (the record types are
`engine.model.layout.CLIENT` and `SLOT`). `S.rule_c` and `S.rule_a` hold rule state per
client and per slot, sized per scenario (`with_rule_state`). The kernel mutates a copy per run.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import polars as pl

from engine.core.domain import (
    FLAGS,
    FREQUENCIES,
    FUNDING,
    HO_TASKS,
    S_ACTIVE,
    S_PENDING,
    SLOT_KINDS,
)
from engine.core.errors import InputError
from engine.model.layout import CLIENT, SLOT
from rules.policy import Policy

NO_MONTH = -32768  # int16 sentinel: no month (stock clients have no arrival month)

# name: (record, unit, meaning) -- the registry of every state field (dtypes: layout)
COLUMNS = {
    # clients
    "cid": ("clients", "id", "stable client id"),
    "affected": (
        "clients",
        "bits",
        "affected by measure k (bit 2k care reduced, 2k+1 care ended; the last pair: any measure)",
    ),
    "arr_lo": ("clients", "index", "first arrangement slot of the client"),
    "arr_hi": ("clients", "index", "one past the last arrangement slot"),
    "birth": ("clients", "month", "birth month"),
    "arrival": ("clients", "month", "inflow pool arrival month; NO_MONTH for the start stock"),
    "wmo_group": ("clients", "code", "Wmo group index (youth: group after hand-over; -1 none)"),
    "pool_group": (
        "clients",
        "code",
        "group at the reference month (admission rates are per group)",
    ),
    "flags": ("clients", "bits", "client flags: " + ", ".join(FLAGS)),
    "household": ("clients", "persons", "household size"),
    "admitted": ("clients", "flag", "inflow: -1 undecided, 0 not admitted, 1 admitted (stock: 1)"),
    "district": ("clients", "code", "district number (0: unknown); rules may scope by it"),
    # arrangement slots
    "aid": ("slots", "id", "stable arrangement id"),
    "owner": ("slots", "index", "client row"),
    "weekly_cents": ("slots", "cents/week", "weekly amount in base-year cents (after rules)"),
    "factor": ("slots", "factor", "client factor on the step price (youth)"),
    "product": ("slots", "code", "product index in the policy catalogue"),
    "start": ("slots", "month", "start of the current indication"),
    "planned_end": ("slots", "month", "planned end of the current indication (reindication month)"),
    "ind_no": ("slots", "count", "indication number"),
    "since": ("slots", "month", "first month of continuous support"),
    "end_month": ("slots", "month", "month the arrangement ended"),
    "minutes": ("slots", "min/week", "HO minutes per task: " + ", ".join(HO_TASKS)),
    "step": ("slots", "code", "step index within the product"),
    "status": ("slots", "code", "0 pending (reserved or not yet arrived), 1 active, 2 ended"),
    "kind": ("slots", "code", "slot kind: " + ", ".join(SLOT_KINDS)),
    "funding": ("slots", "code", "0 zin, 1 pgb"),
    "subcontracted": ("slots", "flag", "provider subcontracts"),
    "frequency": ("slots", "code", "HO frequency: 0 weekly, 1 biweekly"),
    "end_reason": ("slots", "code", "engine.core.domain.END_REASONS"),
}
assert set(COLUMNS) == set(CLIENT.names) | set(SLOT.names), "every record field is registered"

_State = namedtuple("State", ["clients", "slots", "rule_c", "rule_a"])


class State(_State):
    """The state arrays; `state.status` (any registered field) is a view of that column."""

    __slots__ = ()

    def __getattr__(self, name: str) -> np.ndarray:
        if name in COLUMNS:
            return getattr(self, COLUMNS[name][0])[name]
        raise AttributeError(name)

    @property
    def n_clients(self) -> int:
        return self.clients.shape[0]

    @property
    def n_slots(self) -> int:
        return self.slots.shape[0]


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


def _step_codes(
    steps: pl.Series, product: np.ndarray, policy: Policy, products: list[str]
) -> np.ndarray:
    """Step text -> step index within the arrangement's product: every step text to one
    index, then a [product, text] table. HO steps may be missing (the minutes decide)."""
    names = sorted({st.code for p in products for st in policy.product(p).steps})
    unknown, missing = len(names), len(names) + 1
    text = (
        steps.cast(pl.Enum(names), strict=False)
        .to_physical()
        .cast(pl.Int32)
        .fill_null(unknown)
        .to_numpy()
        .copy()
    )
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
        wrong = (
            steps.filter(pl.Series(bad & (product == pi))).unique(maintain_order=True).to_list()[:5]
        )
        raise InputError(
            f"arrangements.step of {products[pi]}",
            f"unknown code(s) {wrong}",
            "one of: " + ", ".join(codes),
        )
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
        raise InputError(
            "population", "an arrangement names a client id that is not in the clients table"
        )
    owner = order[pos].astype(np.int32)
    if m and (np.diff(owner) < 0).any():
        raise InputError(
            "population", "arrangements must be ordered by client (contiguous per client)"
        )
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
        raise InputError(
            "clients.wmo_group",
            f"missing for client {int(cid[owner[a]])}, who holds a Wmo arrangement",
            "one of: " + ", ".join(group_codes),
        )
    kind = _codes(ar["slot_kind"], SLOT_KINDS, "arrangements.slot_kind").astype(np.int8)
    is_stock = arrival[owner] == NO_MONTH
    status = np.where((kind == 0) & is_stock, S_ACTIVE, S_PENDING).astype(np.int8)
    i16 = lambda col: ar[col].fill_null(NO_MONTH).to_numpy().astype(np.int16)  # noqa: E731
    minutes = (
        np.stack([ar[f"{t}_w"].fill_null(0).to_numpy().astype(np.int16) for t in HO_TASKS], axis=1)
        if m
        else np.zeros((0, len(HO_TASKS)), np.int16)
    )
    clients = np.zeros(n, dtype=CLIENT)
    clients["cid"] = cid
    clients["arr_lo"] = arr_lo
    clients["arr_hi"] = arr_hi
    clients["birth"] = cl["birth_month"].to_numpy().astype(np.int16)
    clients["arrival"] = arrival
    clients["wmo_group"] = wmo_group
    clients["pool_group"] = _codes(cl["group"], group_codes, "clients.group").astype(np.int8)
    clients["flags"] = flags
    clients["household"] = cl["household"].to_numpy().astype(np.uint8)
    if "district" in cl.columns:
        clients["district"] = cl["district"].fill_null(0).to_numpy().astype(np.uint8)
    clients["admitted"] = np.where(arrival == NO_MONTH, 1, -1).astype(np.int8)
    slots = np.zeros(m, dtype=SLOT)
    slots["aid"] = ar["arrangement_id"].to_numpy().astype(np.uint64)
    slots["owner"] = owner
    slots["factor"] = ar["amount_factor"].fill_null(1.0).to_numpy().astype(np.float32)
    slots["product"] = product
    slots["start"] = i16("start_month")
    slots["planned_end"] = i16("planned_end_month")
    slots["ind_no"] = ar["indication_no"].fill_null(0).to_numpy().astype(np.int16)
    slots["since"] = i16("support_since_month")
    slots["end_month"] = NO_MONTH
    slots["minutes"] = minutes
    slots["step"] = step
    slots["status"] = status
    slots["kind"] = kind
    slots["funding"] = _codes(ar["funding"], FUNDING, "arrangements.funding").astype(np.uint8)
    slots["subcontracted"] = ar["subcontracted"].fill_null(False).to_numpy().astype(np.uint8)
    slots["frequency"] = _codes(ar["frequency"], FREQUENCIES, "arrangements.frequency").astype(
        np.uint8
    )
    return State(clients, slots, np.zeros((n, 0), dtype=np.int8), np.zeros((m, 0), dtype=np.int8))


def with_rule_state(s: State, n_rules: int) -> State:
    """A fresh copy of the state with rule state for `n_rules` rules: every client's
    standing undecided (-1), every slot's phase 0, nobody affected yet."""
    clients = copy_records(s.clients)
    clients["affected"] = 0
    return State(
        clients,
        copy_records(s.slots),
        np.full((clients.shape[0], n_rules), -1, dtype=np.int8),
        np.zeros((s.slots.shape[0], n_rules), dtype=np.int8),
    )


def copy_records(a: np.ndarray) -> np.ndarray:
    """A copy of a record array as one block of bytes: NumPy copies a record type holding a
    sub-array (the slots' minutes) field by field, twenty times slower."""
    return np.ascontiguousarray(a).view(np.uint8).copy().view(a.dtype).reshape(a.shape)


def copy_state(s: State) -> State:
    return State(*(copy_records(a) if a.dtype.names else a.copy() for a in s))
