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

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from engine.core.domain import FLAGS, FREQUENCIES, FUNDING, HO_TASKS, SLOT_KINDS
from engine.core.errors import InputError
from engine.model.inflow import expected_inflow
from rules.policy import Policy
from synthetic_population.draws import ARRANGEMENT_ARRAYS, CLIENT_ARRAYS, Codes, draw_part
from synthetic_population.fingerprint import fingerprint_of, frame_digest
from synthetic_population.followup import followup_slots
from synthetic_population.memory import release_freed_memory
from synthetic_population.placement import Placed, part_rows, rank_in_runs
from synthetic_population.profile import Profile
from synthetic_population.size import check_population_size

DRAW_THREADS = 2  # parts drawn side by side (the results do not depend on it)


# Text columns: dictionary-encoded (a `pl.Enum` of sorted texts) as the generator makes them,
# plain `pl.Utf8` as an extract gives them; every reader takes either.
TEXT = pl.Enum
CLIENT_SCHEMA = {
    "client_id": (pl.UInt64, "stable client id"),
    "group": (TEXT, "client group at the reference month (youth: age band)"),
    "domain": (TEXT, "wmo | jeugd"),
    "birth_month": (pl.Int16, "birth month, months since 2000-01"),
    "household": (pl.UInt8, "household size"),
    "district": (pl.UInt8, "district number"),
    "wmo_group": (
        TEXT,
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
    "slot_kind": (TEXT, "initial | verlengd | handover (reserved follow-up)"),
    "product": (TEXT, "product code from the policy library"),
    "step": (TEXT, "step code"),
    "amount_factor": (pl.Float32, "client factor on the step price (youth heavy tail; 1 for Wmo)"),
    "start_month": (pl.Int16, "start of the current indication (null for pending slots)"),
    "planned_end_month": (pl.Int16, "planned end of the current indication: reindication month"),
    "indication_no": (pl.Int16, "number of the current indication (1 = first)"),
    "support_since_month": (pl.Int16, "first month of continuous support"),
    "funding": (TEXT, "zin | pgb"),
    "subcontracted": (pl.Boolean, "provider subcontracts"),
    **{
        f"{t}_w": (pl.Int16, f"HO minutes per week (per two weeks when biweekly): {t}")
        for t in HO_TASKS
    },
    "frequency": (TEXT, "HO frequency: weekly | biweekly"),
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
    # (clients, arrangements, fingerprint): known for these frames (a cached population)
    _fingerprint: tuple | None = field(default=None, repr=False, compare=False)
    # (clients, arrangements, key): these frames are the population cache's entry `key`
    _cache_key: tuple | None = field(default=None, repr=False, compare=False)

    # A cached population's frames can be mapped when first used (`mapped_later`): a run
    # that finds the population's state in the cache never reads them (nor imports PyArrow).
    # Until then `clients` and `arrangements` are missing from the instance, `__getattr__`
    # maps them, and the sizes, fingerprint and cache key are known without them.

    @classmethod
    def mapped_later(cls, load, n_clients: int, n_arrangements: int, **fields) -> Population:
        """A population whose frames `load()` returns (clients, arrangements) when first
        used; `n_clients` and `n_arrangements` are their heights."""
        pop = cls(clients=None, arrangements=None, **fields)
        del pop.__dict__["clients"], pop.__dict__["arrangements"]
        pop.__dict__["_load_frames"] = load
        pop.__dict__["_sizes"] = (int(n_clients), int(n_arrangements))
        return pop

    def __getattr__(self, name: str):
        # only reached for a missing attribute: the frames of a population `mapped_later`
        if name not in _FRAMES or "_load_frames" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        with _MAPPING:  # threads sharing the population map it once
            load = self.__dict__.get("_load_frames")
            if load is not None:
                clients, arrangements = load()
                self.__dict__.setdefault("clients", clients)
                self.__dict__.setdefault("arrangements", arrangements)
                for attr in ("_fingerprint", "_cache_key"):  # known for the frames now mapped
                    known = self.__dict__.get(attr)
                    if known is not None and known[0] is _LATER:
                        self.__dict__[attr] = (clients, arrangements, known[2])
                del self.__dict__["_load_frames"]
        return self.__dict__[name]

    def __getstate__(self) -> dict:
        """Pickled with its frames (a process pool's worker maps nothing)."""
        for name in _FRAMES:
            getattr(self, name)
        return dict(self.__dict__)

    def _later(self) -> bool:
        """Are the frames still to be mapped?"""
        return "_load_frames" in self.__dict__

    def _frames(self) -> tuple:
        return (_LATER, _LATER) if self._later() else (self.clients, self.arrangements)

    def _known(self, known: tuple | None):
        """The value in `known` if it was recorded for the current frames, else None."""
        if known is None:
            return None
        clients, arrangements = self._frames()
        return known[2] if known[0] is clients and known[1] is arrangements else None

    @property
    def n_clients(self) -> int:
        if self._later() and "clients" not in self.__dict__:
            return self.__dict__["_sizes"][0]
        return self.clients.height

    @property
    def n_arrangements(self) -> int:
        if self._later() and "arrangements" not in self.__dict__:
            return self.__dict__["_sizes"][1]
        return self.arrangements.height

    def fingerprint(self) -> str:
        """Hash of the population content (ids, attributes, slots): runs compare on it. It
        hashes the values themselves (`frame_digest`), not a library's row hash, so it is the
        same with every Polars version. Computed once for these frames."""
        known = self._known(self._fingerprint)
        if known is not None:
            return known
        digests = [frame_digest(frame) for frame in (self.clients, self.arrangements)]
        self.remember_fingerprint(
            fingerprint_of(digests, self.pool_rate, self.group_codes, self.start, self.months)
        )
        return self._fingerprint[2]

    def remember_fingerprint(self, fingerprint: str) -> None:
        """Record the fingerprint of the current frames (the population cache stores it)."""
        self._fingerprint = (*self._frames(), fingerprint)

    def remember_cache_key(self, key: str) -> None:
        """Record that the current frames are the population cache's entry `key`."""
        self._cache_key = (*self._frames(), key)

    def forget_cache_key(self) -> None:
        self._cache_key = None

    @property
    def cache_key(self) -> str | None:
        """The population cache's key of these frames (None: not from the cache)."""
        return self._known(self._cache_key)


_FRAMES = ("clients", "arrangements")
_LATER = object()  # in a known fingerprint or cache key: the frames still to be mapped
_MAPPING = threading.Lock()


def _text(vocab: list, codes: np.ndarray) -> pl.Series:
    """A text column from integer codes into `vocab` (a None entry gives nulls; an entry may
    repeat) by one gather, no Python object per row. The column is dictionary-encoded text:
    an Enum of the vocabulary's texts in sorted order (so it sorts and compares as text does),
    one byte a row where a plain text column holds a 16-byte view: a third less memory for
    the whole population, less to write to the cache, and codes the state builder maps by
    their dictionary instead of casting each row's text. The index is made UInt32 by NumPy
    (Polars casting a small integer Series took as long as the gather)."""
    texts = pl.Enum(sorted({v for v in vocab if v is not None}))
    return pl.Series(vocab, dtype=texts).gather(pl.Series(codes.astype(np.uint32)))


def _int16_or_null(values: np.ndarray, null: np.ndarray) -> pl.Series:
    """An Int16 column, null where `null` holds (a mask: 25 times faster than putting None
    at each index)."""
    return pl.Series(values.astype(np.int16), dtype=pl.Int16).set(pl.Series(null), None)


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
    parts = generate_parts(profile, policy, seed, months, start)
    fields = next(parts)
    clients = next(parts)
    arrangements = next(parts)
    parts.close()
    return Population(clients=clients, arrangements=arrangements, **fields)


def generate_parts(
    profile: Profile,
    policy: Policy,
    seed: int,
    months: int = 48,
    start: int | None = None,
    *,
    release_memory: bool = False,
):
    """`generate` a part at a time: yields the `Population`'s fields other than its frames
    (a dict), then the clients frame, then the arrangements frame (close it after that). A
    caller that writes each frame away and lets go of it before asking for the next (the
    population cache's miss path) never holds both frames at once. `release_memory` gives
    the draws' freed temporaries back to the system before each frame is made (glibc keeps
    them; the frames' allocator, Polars', never reuses them): the peak memory of a process
    that generates once; not for one that generates again (it faults them in again).
    """
    if months < 1:
        raise InputError("--months", f"{months}", "at least 1 month")
    start = profile.start if start is None else start
    check_population_size(profile, start, months)  # before anything is drawn
    codes = Codes.of(profile, policy)
    pool_exp = expected_inflow(profile, start, months) * profile.pool_oversample
    n_groups = len(profile.groups)
    n_stock = np.zeros(n_groups, dtype=np.int64)
    pool_counts = np.zeros((n_groups, months), dtype=np.int64)
    parts = []  # (group, its stream, arrival months, stock or pool, first local position)
    for gi, g in enumerate(profile.groups):
        # two streams per group: the stock's, and the pool's (its size first)
        stock_rng, pool_rng = (
            np.random.Generator(np.random.Philox(np.random.SeedSequence([seed, 0xCA5E, gi, part])))
            for part in (0, 1)
        )
        n_stock[gi] = int(round(g.stock * profile.scale))
        pool_counts[gi] = pool_rng.poisson(pool_exp[gi])
        pool_arrival = np.repeat(start + np.arange(months), pool_counts[gi]).astype(np.int32)
        arrivals = (
            (stock_rng, np.full(n_stock[gi], -1, dtype=np.int32), True),
            (pool_rng, pool_arrival, False),
        )
        local0 = 0  # the part's first position among the group's clients
        for rng, arrival, in_stock in arrivals:
            if arrival.size:
                parts.append((gi, rng, arrival, in_stock, local0))
                local0 += arrival.size

    n = int(n_stock.sum() + pool_counts.sum())
    clients = Placed(n)  # a part's clients are put at their rows as soon as they are drawn

    def draw(part) -> tuple:
        gi, rng, arrival, in_stock, local0 = part
        cl_p = {k: [] for k in CLIENT_ARRAYS}
        ar_p = {k: [] for k in ARRANGEMENT_ARRAYS}
        g = profile.groups[gi]
        draw_part(cl_p, ar_p, rng, gi, g, arrival, in_stock, local0, start, profile, policy, codes)
        rows = part_rows(gi, in_stock, arrival.size, n_stock, pool_counts)
        clients.put({k: v[0] for k, v in cl_p.items()}, rows, CLIENT_ARRAYS)
        return {k: v[0] for k, v in ar_p.items()}, rows, local0

    yield {
        "pool_rate": pool_exp,
        "group_codes": codes.group_codes,
        "start": start,
        "months": months,
        "meta": {
            "profile": profile.name,
            "population_seed": seed,
            "scale": profile.scale,
            "source": "synthetic",
        },
    }
    # the parts draw from streams of their own, so they can be drawn side by side (NumPy
    # lets go of the GIL while it fills or copies an array); the results are taken in part
    # order, and the slots are placed a part per thread too
    with ThreadPoolExecutor(DRAW_THREADS) as pool:
        drawn = list(pool.map(draw, parts))
        del parts
        cl, clients.arrays = clients.arrays, {}  # `cl` alone holds them: freed below
        client_id = np.arange(1, n + 1, dtype=np.uint64)
        ar, arr_client = _place_slots(
            drawn, cl, client_id, profile, policy, seed, start, months, codes, pool
        )
    del drawn
    if release_memory:
        release_freed_memory()
    yield _client_frame(cl, client_id, codes)  # held here by no name: the caller's to free
    del cl, client_id
    if release_memory:
        release_freed_memory()
    yield _arrangement_frame(ar, arr_client, codes)  # takes the arrays out of `ar`


def _place_slots(
    drawn: list,
    cl: dict,
    client_id: np.ndarray,
    profile: Profile,
    policy: Policy,
    seed: int,
    start: int,
    months: int,
    codes: Codes,
    pool: ThreadPoolExecutor,
) -> tuple[dict, np.ndarray]:
    """The arrangement slots in client order: each client's initial slots (in the order drawn,
    numbered 1, 2, ... across clients), then its reserved follow-up slots (keyed draws on the
    client id, `followup_slots`, shared with the extract reader; verlengd before handover).
    Positions are computed from per-client counts (no sort); each part is placed on one of
    `pool`'s threads. Returns the slots' arrays and each slot's client id."""
    n = client_id.size
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
    # each client's initial slots, counted per part: a part's slots come grouped by client in
    # the part's client order (`draws.draw_part`), so a slot's place follows from the counts
    counts = []
    per_init = np.zeros(n, dtype=np.int64)
    for ar_p, rows, local0 in drawn:
        counts.append(np.bincount(ar_p.pop("local") - local0, minlength=rows.size))
        per_init[rows] = counts[-1]
        del ar_p["gidx"]
    per_fu = np.bincount(fu["owner"], minlength=n)
    per_client = per_init + per_fu
    slot0 = np.cumsum(per_client) - per_client  # each client's first slot
    init0 = np.cumsum(per_init) - per_init  # initial slots of the clients before
    m = int(per_client.sum())
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
    slots = Placed(m)
    keys = list(follow)

    def put(part) -> None:
        (ar_p, rows, _), count = part
        # slot j of the part, of its client i: rank j - first[i] among the client's slots
        first = np.cumsum(count) - count
        j = np.arange(int(count.sum()), dtype=np.int64)
        ar_p["aid"] = (np.repeat(init0[rows] - first, count) + j + 1).astype(np.uint64)
        slots.put(ar_p, np.repeat(slot0[rows] - first, count) + j, keys)

    at = slot0[fu["owner"]] + per_init[fu["owner"]] + rank_in_runs(fu["owner"])
    placing = [pool.submit(slots.put, follow, at, keys)]
    placing += [pool.submit(put, part) for part in zip(drawn, counts, strict=True)]
    for job in placing:
        job.result()  # (an error in a part is raised here)
    return slots.arrays, np.repeat(client_id, per_client)


def _client_frame(cl: dict, client_id: np.ndarray, codes: Codes) -> pl.DataFrame:
    """The clients as CLIENT_SCHEMA's frame (text columns by one gather)."""
    return pl.DataFrame(
        {
            "client_id": client_id,
            "group": _text(codes.group_codes, cl["gidx"]),
            "domain": _text(codes.domains, cl["domain"]),
            "birth_month": cl["birth"],
            "household": cl["household"],
            "district": cl["district"],
            "wmo_group": _text(codes.wmo_vocab, cl["wmo"]),
            **{f: cl[f] for f in FLAGS},
            "arrival_month": _int16_or_null(cl["arrival"], cl["stock"]),
        }
    )


def _arrangement_frame(ar: dict, arr_client: np.ndarray, codes: Codes) -> pl.DataFrame:
    """The arrangement slots as ARRANGEMENT_SCHEMA's frame (text columns by one gather). The
    arrays are taken out of `ar` column by column, so each is freed once it is a column."""
    m = arr_client.size
    pending = ~ar.pop("held")
    minutes = ar.pop("minutes")
    return pl.DataFrame(
        {
            "arrangement_id": ar.pop("aid"),
            "client_id": arr_client,
            "slot_kind": _text(SLOT_KINDS, ar.pop("kind")),
            "product": _text(codes.products, ar.pop("prod")),
            "step": _text(codes.step_vocab, ar.pop("step")),
            "amount_factor": ar.pop("factor"),
            "start_month": _int16_or_null(ar.pop("start"), pending),
            "planned_end_month": _int16_or_null(ar.pop("planned_end"), pending),
            "indication_no": ar.pop("ind_no"),
            "support_since_month": _int16_or_null(ar.pop("since"), pending),
            "funding": _text(FUNDING, ar.pop("funding")),
            "subcontracted": ar.pop("sub"),
            **{f"{t}_w": minutes[:, ti] for ti, t in enumerate(HO_TASKS)},
            "frequency": _text(FREQUENCIES, np.zeros(m, dtype=np.uint8)),
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
    import pyarrow.parquet as pq  # here: a run that writes no population file never needs it

    flat = pop.arrangements.join(pop.clients, on="client_id", how="left", maintain_order="left")
    table = flat.to_arrow()
    meta = {
        "caseload.population": json.dumps(
            {
                **{k: v for k, v in pop.meta.items() if k != "population_cache"},
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
    import pyarrow as pa
    import pyarrow.parquet as pq

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
