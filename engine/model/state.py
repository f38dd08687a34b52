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
    Plain text is cast through an Enum (one vectorised pass, no Python object per row);
    dictionary-encoded text (the generator's Enum) maps its dictionary, then each row's
    code by one gather."""
    if isinstance(series.dtype, pl.Enum):
        return _enum_codes(series, choices, what)
    series = _plain_if_categorical(series)
    if series.dtype != pl.Utf8:
        raise InputError(what, f"expected text codes, got {series.dtype}")
    try:
        codes = series.cast(pl.Enum(choices)).to_physical()
    except pl.exceptions.InvalidOperationError:
        bad = series.filter(~series.is_in(choices)).drop_nulls().unique().to_list()[:5]
        raise InputError(what, f"unknown code(s) {bad}", "one of: " + ", ".join(choices)) from None
    return codes.cast(pl.Int32).fill_null(-1).to_numpy()


def _plain_if_categorical(series: pl.Series) -> pl.Series:
    """A Categorical column as plain text (a population file's Enum read back without its
    tag by some tool, Polars reads as Categorical)."""
    return series.cast(pl.Utf8) if isinstance(series.dtype, pl.Categorical) else series


def _enum_codes(series: pl.Series, choices: list[str], what: str) -> np.ndarray:
    """`_codes` of an Enum column: its dictionary's texts looked up in `choices` (an entry
    no row uses may be unknown)."""
    texts = series.dtype.categories.to_list()
    where = {c: i for i, c in enumerate(choices)}
    unknown = -2
    lut = np.array([where.get(t, unknown) for t in texts] + [-1], dtype=np.int32)
    codes = lut[series.to_physical().fill_null(len(texts)).to_numpy()]
    if (lut == unknown).any() and (codes == unknown).any():
        used = np.unique(series.to_physical().drop_nulls().to_numpy())
        bad = [texts[i] for i in used if lut[i] == unknown][:5]
        raise InputError(what, f"unknown code(s) {bad}", "one of: " + ", ".join(choices))
    return codes


def _step_codes(
    steps: pl.Series, product: np.ndarray, policy: Policy, products: list[str]
) -> np.ndarray:
    """Step text -> step index within the arrangement's product: every step text to one
    index, then a [product, text] table. HO steps may be missing (the minutes decide)."""
    names = sorted({st.code for p in products for st in policy.product(p).steps})
    unknown, missing = len(names), len(names) + 1
    steps = _plain_if_categorical(steps)
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


def _owner_rows(cid: np.ndarray, owner_ids: np.ndarray) -> np.ndarray:
    """Each arrangement's client row. Clients numbered 1..n in order (a generated population)
    need no search."""
    n, m = cid.size, owner_ids.size
    if n and cid[0] == 1 and cid[-1] == n and (np.diff(cid) == 1).all():
        owner = owner_ids.astype(np.int64) - 1
        bad = (owner < 0) | (owner >= n) if m else np.zeros(0, dtype=bool)
        if bad.any():
            raise InputError(
                "population", "an arrangement names a client id that is not in the clients table"
            )
        return owner.astype(np.int32)
    order = np.argsort(cid, kind="stable")
    pos = np.searchsorted(cid[order], owner_ids)
    if m and (pos.max() >= n or (cid[order][np.minimum(pos, n - 1)] != owner_ids).any()):
        raise InputError(
            "population", "an arrangement names a client id that is not in the clients table"
        )
    return order[pos].astype(np.int32)


def _column(frame: pl.DataFrame, name: str, dtype, null=None) -> np.ndarray:
    """A column as a contiguous NumPy array of `dtype` (nulls as `null`)."""
    col = frame[name]
    if null is not None and col.null_count():
        col = col.fill_null(null)
    return np.ascontiguousarray(col.to_numpy(), dtype=dtype)


def build_state(pop, policy: Policy, group_codes: list[str]) -> State:
    """Map the population frames to the flat arrays the kernel steps: codes checked and
    mapped column by column (vectorised), then every record written in one compiled pass
    (engine.model.fill)."""
    from engine.model.fill import fill_clients, fill_slots

    cl = pop.clients
    ar = pop.arrangements
    n, m = cl.height, ar.height
    products = policy.product_codes
    cid = _column(cl, "client_id", np.uint64)
    owner = _owner_rows(cid, _column(ar, "client_id", np.uint64))
    if m and (np.diff(owner) < 0).any():
        raise InputError(
            "population", "arrangements must be ordered by client (contiguous per client)"
        )
    counts = np.bincount(owner, minlength=n)
    arr_hi = np.cumsum(counts)
    arr_lo = arr_hi - counts

    flags = np.zeros(n, dtype=np.uint8)
    for i, f in enumerate(FLAGS):
        flags |= _column(cl, f, np.uint8, False) << np.uint8(i)
    # no Wmo group: null or empty text
    wmo_group = _codes(cl["wmo_group"], [*group_codes, ""], "clients.wmo_group")
    wmo_group = np.where(wmo_group == len(group_codes), -1, wmo_group).astype(np.int8)
    arrival = _column(cl, "arrival_month", np.int16, NO_MONTH)

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
    minutes = np.empty((m, len(HO_TASKS)), np.int16)
    for ti, t in enumerate(HO_TASKS):
        minutes[:, ti] = _column(ar, f"{t}_w", np.int16, 0)
    # np.empty, not np.zeros: NumPy asks the kernel for huge pages for it, so the first
    # write of the records costs a few page faults instead of one per 4 KiB; every byte is
    # written by the fill (the records have no padding)
    clients = np.empty(n, dtype=CLIENT)
    fill_clients(
        clients,
        cid,
        arr_lo.astype(np.int64),
        arr_hi.astype(np.int64),
        _column(cl, "birth_month", np.int16),
        arrival,
        wmo_group,
        _codes(cl["group"], group_codes, "clients.group").astype(np.int8),
        flags,
        _column(cl, "household", np.uint8),
        _column(cl, "district", np.uint8, 0) if "district" in cl.columns else np.zeros(n, np.uint8),
    )
    slots = np.empty(m, dtype=SLOT)
    fill_slots(
        slots,
        _column(ar, "arrangement_id", np.uint64),
        owner,
        _column(ar, "amount_factor", np.float32, 1.0),
        product,
        _column(ar, "start_month", np.int16, NO_MONTH),
        _column(ar, "planned_end_month", np.int16, NO_MONTH),
        _column(ar, "indication_no", np.int16, 0),
        _column(ar, "support_since_month", np.int16, NO_MONTH),
        minutes,
        step,
        status,
        kind,
        _codes(ar["funding"], FUNDING, "arrangements.funding").astype(np.uint8),
        _column(ar, "subcontracted", np.uint8, False),
        _codes(ar["frequency"], FREQUENCIES, "arrangements.frequency").astype(np.uint8),
    )
    return State(clients, slots, np.zeros((n, 0), dtype=np.int8), np.zeros((m, 0), dtype=np.int8))


def with_rule_state(s: State, n_rules: int, copy: bool = True) -> State:
    """A fresh copy of the state with rule state for `n_rules` rules: every client's
    standing undecided (-1), every slot's phase 0, nobody affected yet. `copy=False` takes
    `s`'s record arrays as they are (a state built for this run alone: no second copy)."""
    clients = copy_records(s.clients) if copy else s.clients
    clients["affected"] = 0
    return State(
        clients,
        copy_records(s.slots) if copy else s.slots,
        np.full((clients.shape[0], n_rules), -1, dtype=np.int8),
        np.zeros((s.slots.shape[0], n_rules), dtype=np.int8),
    )


def copy_records(a: np.ndarray) -> np.ndarray:
    """A copy of a record array as one block of bytes: NumPy copies a record type holding a
    sub-array (the slots' minutes) field by field, twenty times slower."""
    return np.ascontiguousarray(a).view(np.uint8).copy().view(a.dtype).reshape(a.shape)


def copy_state(s: State) -> State:
    return State(*(copy_records(a) if a.dtype.names else a.copy() for a in s))
