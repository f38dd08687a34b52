"""Converting between extracts and populations: a valid extract's stock in front of the
profile's inflow pool as the `Population` the kernel reads (`population_from_extract`), a
population file or an extract behind `run --population FILE` (`load_population_file`), and a
synthetic start stock written as an extract (`stock_to_extract`, `write_extract`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from engine.core.domain import FLAGS, FREQUENCIES, FUNDING, HO_TASKS, SLOT_KINDS
from engine.core.errors import InputError
from engine.core.months import format_month, year_of
from engine.model.rng import P_WMO_GROUP_AT_18, keyed_uniform_np
from rules.policy import Policy
from synthetic_population.extract.report import ExtractReport
from synthetic_population.extract.validate import read_extract
from synthetic_population.followup import followup_slot_ids, followup_slots
from synthetic_population.generator import (
    ARRANGEMENT_SCHEMA,
    CLIENT_SCHEMA,
    Population,
    inflow_pool,
)
from synthetic_population.profile import Profile


def _followups(
    report: ExtractReport, profile: Profile, policy: Policy, seed: int, months: int
) -> pl.DataFrame:
    """Reserved follow-up slots for the stock's youth clients who turn 18 in the horizon:
    `followup.followup_slots`, the generator's own function, on the extract's clients."""
    cl = report.clients
    start = report.start
    youth_products = [
        p.code
        for p in policy.products
        if p.domain == "jeugd" and p.code != profile.verlengd_product
    ]
    holders = report.arrangements.filter(pl.col("product").is_in(youth_products))["client_id"]
    eligible = ((cl["domain"] == "jeugd") & cl["client_id"].is_in(holders.implode())).to_numpy()
    ids = cl["client_id"].to_numpy()
    fu = followup_slots(
        profile,
        policy,
        seed,
        ids,
        cl["birth_month"].to_numpy(),
        np.full(cl.height, start),
        cl["household"].to_numpy(),
        eligible,
        start,
        months,
    )
    products = policy.product_codes
    k = fu["owner"].size
    return pl.DataFrame(
        {
            "arrangement_id": pl.Series(fu["arrangement_id"], dtype=pl.UInt64),
            "client_id": pl.Series(ids[fu["owner"]], dtype=pl.UInt64),
            "slot_kind": pl.Series([SLOT_KINDS[x] for x in fu["kind"]], dtype=pl.Utf8),
            "product": pl.Series([products[x] for x in fu["prod"]], dtype=pl.Utf8),
            "step": pl.Series(
                [
                    policy.product(products[p]).steps[x].code
                    for p, x in zip(fu["prod"], fu["step"], strict=True)
                ],
                dtype=pl.Utf8,
            ),
            "amount_factor": pl.Series(fu["factor"], dtype=pl.Float32),
            "start_month": pl.Series([None] * k, dtype=pl.Int16),
            "planned_end_month": pl.Series([None] * k, dtype=pl.Int16),
            "indication_no": pl.Series(np.zeros(k, dtype=np.int16), dtype=pl.Int16),
            "support_since_month": pl.Series([None] * k, dtype=pl.Int16),
            "funding": pl.Series([FUNDING[x] for x in fu["funding"]], dtype=pl.Utf8),
            "subcontracted": pl.Series(fu["subcontracted"], dtype=pl.Boolean),
            **{
                f"{t}_w": pl.Series(fu["minutes"][:, ti], dtype=pl.Int16)
                for ti, t in enumerate(HO_TASKS)
            },
            "frequency": pl.Series([FREQUENCIES[0]] * k, dtype=pl.Utf8),
        }
    )


def population_from_extract(
    path: str | Path,
    profile: Profile,
    policy: Policy,
    seed: int,
    months: int,
    start: int | None = None,
) -> Population:
    """A valid extract's stock in front of the profile's inflow pool (population seed
    `seed`), for a run of `months` from the extract month."""
    report = read_extract(path, profile, policy, start)
    start = report.start
    clients = report.clients
    # youth clients without a Wmo group after 18: a keyed draw from the profile's weights
    missing = clients.filter((pl.col("domain") == "jeugd") & pl.col("wmo_group").is_null())
    if missing.height and profile.handover_groups:
        names = list(profile.handover_groups)
        cum = np.cumsum(list(profile.handover_groups.values()))
        u = keyed_uniform_np(seed, P_WMO_GROUP_AT_18, missing["client_id"].to_numpy(), 0)
        drawn = np.minimum(np.searchsorted(cum / cum[-1], u, side="right"), len(names) - 1)
        fill = pl.DataFrame({"client_id": missing["client_id"], "_wg": [names[i] for i in drawn]})
        clients = (
            clients.join(fill, on="client_id", how="left", maintain_order="left")
            .with_columns(pl.col("wmo_group").fill_null(pl.col("_wg")))
            .drop("_wg")
        )
    follow = _followups(report, profile, policy, seed, months)
    stock_arr = pl.concat([report.arrangements, follow]).with_columns(
        pl.col("slot_kind")
        .replace_strict({k: i for i, k in enumerate(SLOT_KINDS)}, return_dtype=pl.Int8)
        .alias("_k")
    )
    # clients in id order; a client's slots contiguous: its extract rows by id, then follow-ups
    stock_arr = stock_arr.sort(["client_id", "_k", "arrangement_id"]).drop("_k")
    pool = inflow_pool(profile, policy, seed, months, start)
    c_off = int(report.numeric_max["client"]) - int(pool.meta["stock_clients"])
    a_off = int(report.numeric_max["arrangement"]) - int(pool.meta["stock_slots"])
    top = int(pool.clients["client_id"].max() or 0) + c_off
    top_a = (
        int(pool.arrangements.filter(pl.col("slot_kind") == "initial")["arrangement_id"].max() or 0)
        + a_off
    )
    if top >= (1 << 63) or top_a >= (1 << 63):
        raise InputError(
            str(path),
            "numeric ids too large to number the inflow pool after them",
            "numeric ids below 2^63 minus the pool size",
        )
    pool_clients = pool.clients.with_columns(
        (pl.col("client_id").cast(pl.Int64) + c_off).cast(pl.UInt64)
    )
    # pool clients and their initial slots keep their order and are shifted past the
    # extract's ids; a follow-up slot's id is a function of its client's id, so it follows
    pool_arr = pool.arrangements.with_columns(
        (pl.col("client_id").cast(pl.Int64) + c_off).cast(pl.UInt64)
    )
    kind = (
        pool_arr["slot_kind"]
        .replace_strict({k: i for i, k in enumerate(SLOT_KINDS)}, return_dtype=pl.Int64)
        .to_numpy()
    )
    new_aid = pool_arr["arrangement_id"].to_numpy().astype(np.uint64)
    init = kind == 0
    new_aid[init] = (new_aid[init].astype(np.int64) + a_off).astype(np.uint64)
    new_aid[~init] = followup_slot_ids(pool_arr["client_id"].to_numpy()[~init], kind[~init])
    pool_arr = pool_arr.with_columns(pl.Series("arrangement_id", new_aid, dtype=pl.UInt64))
    # the extract's text is plain, the generated pool's dictionary-encoded: one kind for both
    plain = pl.col(pl.Enum).cast(pl.Utf8)
    all_clients = pl.concat(
        [
            clients.select(list(CLIENT_SCHEMA)).with_columns(plain),
            pool_clients.select(list(CLIENT_SCHEMA)).with_columns(plain),
        ]
    )
    all_arr = pl.concat(
        [
            stock_arr.select(list(ARRANGEMENT_SCHEMA)).with_columns(plain),
            pool_arr.select(list(ARRANGEMENT_SCHEMA)).with_columns(plain),
        ]
    )
    for what, ids in (
        ("client", all_clients["client_id"]),
        ("arrangement", all_arr["arrangement_id"]),
    ):
        if ids.n_unique() != ids.len():
            raise InputError(
                str(path),
                f"{what} ids of the extract collide with the inflow pool or its follow-up slots",
                "other ids",
            )
    return Population(
        clients=all_clients,
        arrangements=all_arr,
        pool_rate=pool.pool_rate,
        group_codes=profile.group_codes,
        start=start,
        months=months,
        meta={
            "profile": profile.name,
            "population_seed": seed,
            "scale": profile.scale,
            "source": "extract",
            "extract_file": str(path),
            "extract_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16],
            "stock_clients": clients.height,
            "stock_arrangements": report.arrangements.height,
            "followup_slots": follow.height,
            "notes": report.notes,
            "warnings": report.warnings,
        },
    )


def is_population_file(path: Path) -> bool:
    """A Parquet file written by `caseload population generate` (not an extract)."""
    if Path(path).suffix.lower() != ".parquet" or not Path(path).exists():
        return False
    try:
        meta = pq.read_schema(path).metadata or {}
    except (pa.ArrowInvalid, OSError):
        return False
    return b"caseload.population" in meta


def load_population_file(
    path: str | Path,
    profile: Profile,
    policy: Policy,
    seed: int,
    months: int,
    start: int | None = None,
) -> Population:
    """`run --population FILE`: a population file, or a client extract (CSV or Parquet)."""
    from synthetic_population.generator import read_population

    path = Path(path)
    if is_population_file(path):
        return read_population(path)
    return population_from_extract(path, profile, policy, seed, months, start)


# ------------------------------------------------------------------------------ writing
def stock_to_extract(
    pop: Population, policy: Policy, client_id_format: str | None = None
) -> pl.DataFrame:
    """A population's start stock as an extract (one row per active arrangement, client
    columns repeated; reserved follow-up slots left out). `client_id_format` (e.g.
    "FAKE-{:05d}") writes text ids instead of the numbers."""
    start = pop.start
    stock = pop.clients.filter(pl.col("arrival_month").is_null())
    arr = pop.arrangements.filter(
        (pl.col("slot_kind") == "initial") & pl.col("start_month").is_not_null()
    )
    arr = arr.join(stock, on="client_id", how="inner", maintain_order="left")
    index = policy.index_for_year(year_of(start))
    price = {
        (p.code, s.code): int(round(s.price_w * 100)) for p in policy.products for s in p.steps
    }
    # the step price times the client's factor, unrounded (9 decimals): a real extract has
    # cents; the extra decimals carry the factor, so the stock reads back exactly
    weekly = [
        round(price[(p, s)] * float(f) * index / 100.0, 9)
        for p, s, f in zip(
            arr["product"].to_list(),
            arr["step"].to_list(),
            arr["amount_factor"].to_list(),
            strict=True,
        )
    ]
    cid = arr["client_id"]
    aid = arr["arrangement_id"]
    if client_id_format:
        cid = pl.Series([client_id_format.format(i) for i in cid.to_list()])
        aid = pl.Series([f"A-{i:06d}" for i in aid.to_list()])
    fmt = lambda col: pl.Series([format_month(m) if m is not None else None for m in col.to_list()])  # noqa: E731
    return pl.DataFrame(
        {
            "extract_month": [format_month(start)] * arr.height,
            "client_id": cid.cast(pl.Utf8),
            "birth_month": fmt(arr["birth_month"]),
            "household": arr["household"].cast(pl.Int64),
            "client_group": arr["group"],
            "wmo_group_at_18": pl.select(
                pl.when(arr["domain"] == "jeugd").then(arr["wmo_group"])
            ).to_series(),
            "district": arr["district"].cast(pl.Int64),
            **{f: arr[f] for f in FLAGS},
            "arrangement_id": aid.cast(pl.Utf8),
            "product": arr["product"],
            "step": arr["step"],
            "indication_start": fmt(arr["start_month"]),
            "indication_end": fmt(arr["planned_end_month"] - 1),
            "support_since": fmt(arr["support_since_month"]),
            "indication_no": arr["indication_no"].cast(pl.Int64),
            "weekly_amount_eur": pl.Series(weekly, dtype=pl.Float64),
            "setting": arr["product"].replace_strict({p.code: p.setting for p in policy.products}),
            "funding": arr["funding"],
            "subcontracted": arr["subcontracted"],
            **{
                f"{t}_w": pl.select(
                    pl.when(
                        arr["product"].is_in([p.code for p in policy.products if p.ho_minutes])
                    ).then(arr[f"{t}_w"].cast(pl.Int64))
                )
                .to_series()
                .alias(f"{t}_w")
                for t in HO_TASKS
            },
            "frequency": pl.select(
                pl.when(
                    arr["product"].is_in([p.code for p in policy.products if p.ho_minutes])
                ).then(arr["frequency"])
            )
            .to_series()
            .alias("frequency"),
        }
    ).with_columns(pl.col(pl.Enum).cast(pl.Utf8))  # an extract's text is plain text


def write_extract(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write an extract as CSV or Parquet, atomically (temporary name, then rename)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(
            str(path), f"unknown file type {suffix!r}", "a file name ending in .csv or .parquet"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    try:
        if suffix == ".csv":
            frame.write_csv(tmp)
        else:
            frame.write_parquet(tmp, compression="zstd")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
