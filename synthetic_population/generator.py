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
from engine.model.portable_math import pow_array
from rules.policy import Policy
from synthetic_population.draws import ARRANGEMENT_ARRAYS, CLIENT_ARRAYS, Codes, draw_part
from synthetic_population.followup import followup_slots
from synthetic_population.profile import Profile
from synthetic_population.size import check_population_size

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
    check_population_size(profile, start, months)  # before anything is drawn
    codes = Codes.of(profile, policy)
    pool_exp = expected_inflow(profile, start, months) * profile.pool_oversample
    cl = {k: [] for k in CLIENT_ARRAYS}
    ar = {k: [] for k in ARRANGEMENT_ARRAYS}
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
            if arrival.size == 0:
                continue
            draw_part(cl, ar, rng, gi, g, arrival, in_stock, local0, start, profile, policy, codes)
            local0 += arrival.size
    cl = {k: np.concatenate(v) for k, v in cl.items()}
    ar = {k: np.concatenate(v) for k, v in ar.items()}
    client_id, cl, ar, arr_client = _number(cl, ar, len(profile.groups))
    ar, arr_client = _add_followups(
        ar, arr_client, cl, client_id, profile, policy, seed, start, months, codes
    )
    return Population(
        clients=_client_frame(cl, client_id, codes),
        arrangements=_arrangement_frame(ar, arr_client, codes),
        pool_rate=pool_exp,
        group_codes=codes.group_codes,
        start=start,
        months=months,
        meta={
            "profile": profile.name,
            "population_seed": seed,
            "scale": profile.scale,
            "source": "synthetic",
        },
    )


def _number(cl: dict, ar: dict, n_groups: int) -> tuple[np.ndarray, dict, dict, np.ndarray]:
    """Stable ids: clients numbered 1, 2, ... with the stock first (group order), then the
    pool by arrival month; arrangements in client order, initial slots numbered 1, 2, ...
    Returns client ids, the clients and arrangements in that order, and each arrangement's
    client id."""
    order = np.lexsort(
        (cl["local"], cl["gidx"], np.where(cl["stock"], np.int16(-32768), cl["arrival"]))
    )
    cl = {k: v[order] for k, v in cl.items()}
    n = order.size
    client_id = np.arange(1, n + 1, dtype=np.uint64)
    # each arrangement's client: the row of (group, local) among the sorted clients
    group_base = np.concatenate([[0], np.cumsum(np.bincount(cl["gidx"], minlength=n_groups))])
    row_of = np.empty(n, dtype=np.int64)
    row_of[group_base[cl["gidx"]] + cl["local"]] = np.arange(n)
    arr_client = client_id[row_of[group_base[ar["gidx"]] + ar["local"]]]
    aorder = np.argsort(arr_client, kind="stable")
    ar = {k: v[aorder] for k, v in ar.items()}
    ar["aid"] = np.arange(1, aorder.size + 1, dtype=np.uint64)
    return client_id, cl, ar, arr_client[aorder]


def _add_followups(
    ar: dict,
    arr_client: np.ndarray,
    cl: dict,
    client_id: np.ndarray,
    profile: Profile,
    policy: Policy,
    seed: int,
    start: int,
    months: int,
    codes: Codes,
) -> tuple[dict, np.ndarray]:
    """The reserved follow-up slots (keyed draws on the client id, `followup_slots`, shared
    with the extract reader) after each client's initial slots, verlengd before handover."""
    fu = followup_slots(
        profile,
        policy,
        seed,
        client_id,
        cl["birth"],
        np.where(cl["stock"], start, cl["arrival"]),
        cl["household"],
        cl["holds_youth"] & (cl["domain"] == codes.domains.index("jeugd")),
        start,
        months,
    )
    k = fu["owner"].size
    follow = {
        "kind": fu["kind"].astype(np.int8),
        "prod": fu["prod"].astype(np.int16),
        "step": (codes.step_offset[fu["prod"]] + fu["step"]).astype(np.int16),
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
    # stable: a client's initial slots keep their order
    aorder = np.lexsort((ar["kind"], arr_client))
    return {key: v[aorder] for key, v in ar.items()}, arr_client[aorder]


def _client_frame(cl: dict, client_id: np.ndarray, codes: Codes) -> pl.DataFrame:
    """The clients as CLIENT_SCHEMA's frame (text columns by one gather)."""
    return pl.DataFrame(
        {
            "client_id": client_id,
            "group": _strings(codes.group_codes, cl["gidx"]),
            "domain": _strings(codes.domains, cl["domain"]),
            "birth_month": cl["birth"],
            "household": cl["household"],
            "district": cl["district"],
            "wmo_group": _strings(codes.wmo_vocab, cl["wmo"]),
            **{f: cl[f] for f in FLAGS},
            "arrival_month": _int16_or_null(cl["arrival"], cl["stock"]),
        }
    )


def _arrangement_frame(ar: dict, arr_client: np.ndarray, codes: Codes) -> pl.DataFrame:
    """The arrangement slots as ARRANGEMENT_SCHEMA's frame (text columns by one gather)."""
    m = arr_client.size
    return pl.DataFrame(
        {
            "arrangement_id": ar["aid"],
            "client_id": arr_client,
            "slot_kind": _strings(SLOT_KINDS, ar["kind"]),
            "product": _strings(codes.products, ar["prod"]),
            "step": _strings(codes.step_vocab, ar["step"]),
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
