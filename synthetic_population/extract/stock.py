"""From a checked extract to the start stock: the indications active in the extract month as
the population's client and arrangement frames, each weekly amount carried by an amount
factor on its step's price; and the household-help steps both the checks and the stock use."""

from __future__ import annotations

import numpy as np
import polars as pl

from engine.core.domain import FLAGS, HO_TASKS
from engine.core.errors import InputError
from engine.core.months import format_month, year_of
from rules.policy import Policy, Product
from synthetic_population.extract.columns import hash_id
from synthetic_population.extract.read import Columns
from synthetic_population.extract.report import ExtractReport, Problem, counted
from synthetic_population.generator import ARRANGEMENT_SCHEMA, CLIENT_SCHEMA


# ------------------------------------------------------------------------------ household help
def household_help_step(product: Product, total_w: float, biweekly: bool) -> int:
    """The step household help gets for these minutes (as
    engine.model.arrangement.weekly_base_cents)."""
    band = list(getattr(product, "band_steps", range(len(product.steps))))
    bi = getattr(product, "biweekly_step", -1)
    if biweekly and bi >= 0:
        return bi
    total = total_w / 2.0 if biweekly else total_w
    k = 0
    while k + 1 < len(band) and total >= product.steps[band[k]].minutes_max:
        k += 1
    return band[k]


def household_help_minutes(product: Product, step: int, biweekly: bool) -> int | None:
    """Cleaning minutes inside the band of a household-help step (for extracts without
    task minutes); None when the step has no band."""
    band = list(getattr(product, "band_steps", range(len(product.steps))))
    if step not in band:
        return 150 if biweekly else None
    k = band.index(step)
    lo = product.steps[band[k - 1]].minutes_max if k > 0 else 0.0
    hi = product.steps[step].minutes_max
    mid = lo + 60 if hi >= 10_000 else (lo + hi) / 2
    return int(round(mid * (2 if biweekly else 1)))


# ------------------------------------------------------------------------------ the stock
def build_stock(
    report: ExtractReport,
    cols: Columns,
    rows: pl.Series,
    ckeys: dict[str, int],
    akeys: dict[str, int],
    policy: Policy,
) -> ExtractReport:
    """Fill in `report.clients` and `report.arrangements` from a file without problems (rows:
    the row number of each record). An amount its step's price cannot carry (a priced-0 step)
    is still a problem; the report then has no stock."""
    start = report.start
    active = ((cols.ind_start <= start) & (cols.ind_end >= start)).to_numpy()
    _note_rows_outside(report.notes, cols, start)
    ckey = np.array([ckeys[c] for c in cols.client_id.to_list()], dtype=np.uint64)
    akey = _arrangement_keys(cols, akeys, active, report)
    _note_clients_outside(report.notes, cols, active, start)

    factor = _amount_factors(report, cols, active, rows, policy)
    if not report.ok:
        return report
    arr = _arrangement_frame(cols, active, akey, ckey, factor, policy)
    cl = _client_frame(cols, active, ckey)
    order = np.lexsort((arr["arrangement_id"].to_numpy(), arr["client_id"].to_numpy()))
    report.arrangements = arr[order].select(list(ARRANGEMENT_SCHEMA))
    report.clients = cl.sort("client_id").select(list(CLIENT_SCHEMA))
    numeric = [k for k in ckeys.values() if k < (1 << 63)]
    report.numeric_max = {
        "client": max(numeric, default=0),
        "arrangement": max((k for k in akeys.values() if k < (1 << 63)), default=0),
    }
    return report


def _note_rows_outside(notes: list[str], cols: Columns, start: int) -> None:
    """Rows that ended before the extract month or start after it are history or plans,
    not stock: said in the notes, not problems."""
    ended = (cols.ind_end < start).to_numpy()
    future = (cols.ind_start > start).to_numpy()
    if ended.any():
        notes.append(
            f"{counted(int(ended.sum()), 'row')} ended before {format_month(start)}: not part of "
            "the stock"
        )
    if future.any():
        notes.append(
            f"{counted(int(future.sum()), 'row')} start after {format_month(start)}: not part of "
            "the stock"
        )


def _note_clients_outside(notes: list[str], cols: Columns, active, start: int) -> None:
    """Clients none of whose rows is active in the extract month leave the stock altogether."""
    cid_l = cols.client_id.to_list()
    all_clients = set(cid_l)
    kept_clients = {c for c, a in zip(cid_l, active, strict=True) if a}
    if len(kept_clients) < len(all_clients):
        notes.append(
            f"{counted(len(all_clients) - len(kept_clients), 'client')} without an indication "
            f"active in {format_month(start)}: not part of the stock"
        )


def _arrangement_keys(
    cols: Columns, akeys: dict[str, int], active, report: ExtractReport
) -> np.ndarray:
    """The arrangement id of every row: from the file's arrangement_id, else a hash of client
    and product, which must not collide within the stock (the file cannot be fixed by the
    reader, only by an arrangement_id column)."""
    if akeys:
        return np.array([akeys[a] for a in cols.arrangement_id.to_list()], dtype=np.uint64)
    akey = np.array(
        [
            hash_id(f"{c}|{p}", "arrangement-of")
            for c, p in zip(cols.client_id.to_list(), cols.product.to_list(), strict=True)
        ],
        dtype=np.uint64,
    )
    coll = len(set(akey[active].tolist())) != int(active.sum())
    if coll:  # only when ids of different client-product pairs collide
        raise InputError(
            str(report.path), "two derived arrangement ids collide", "an arrangement_id column"
        )
    return akey


def _amount_factors(
    report: ExtractReport, cols: Columns, active: np.ndarray, rows: pl.Series, policy: Policy
) -> np.ndarray:
    """Each stock row's amount as a factor on its step's weekly price in base-year cents, so
    that the kernel's weekly amount (price x factor x the year's index) gives it back. A
    positive amount on a step priced 0 cannot be carried: a problem in the report."""
    idx = np.nonzero(active)[0]
    sel = pl.Series(active)
    prod_codes = cols.product.filter(sel).to_list()
    freq_l = cols.frequency.to_list()
    index = policy.index_for_year(year_of(report.start))
    amt = cols.amount.filter(sel).to_numpy()
    factor = np.ones(idx.size, dtype=np.float64)
    for j, p in enumerate(prod_codes):
        s = cols.step[idx[j]]
        pr = policy.product(p)
        if pr.ho_minutes:
            s = household_help_step(
                pr, float(cols.minutes_w[idx[j]].sum()), freq_l[idx[j]] == "biweekly"
            )
        price_cents = int(round(pr.steps[s].price_w * 100))
        want = amt[j] * 100.0 / index
        if price_cents > 0:
            factor[j] = want / price_cents
        elif want > 0:
            report.problems.append(
                Problem(
                    "inconsistent",
                    int(rows[int(idx[j])]),
                    "weekly_amount_eur",
                    f"{amt[j]:.2f}",
                    f"is not 0 while step {pr.steps[s].code} is priced 0 in the policy",
                    "0, or another step",
                )
            )
    return factor


def _indication_numbers(cols: Columns, sel: pl.Series, policy: Policy) -> np.ndarray:
    """The file's indication_no, or where empty the indications since support_since at the
    product's indication length (1 = the first)."""
    prod_codes = cols.product.filter(sel).to_list()
    ind_months = np.array([policy.product(p).indication_months for p in prod_codes], dtype=np.int64)
    st = cols.ind_start.filter(sel).to_numpy().astype(np.int64)
    sn = cols.since.filter(sel).fill_null(cols.ind_start.filter(sel)).to_numpy().astype(np.int64)
    ino = cols.ind_no.filter(sel)
    return np.where(
        ino.is_null().to_numpy(),
        1 + (st - sn) // np.maximum(ind_months, 1),
        ino.fill_null(0).to_numpy(),
    )


def _arrangement_frame(
    cols: Columns,
    active: np.ndarray,
    akey: np.ndarray,
    ckey: np.ndarray,
    factor: np.ndarray,
    policy: Policy,
) -> pl.DataFrame:
    """The stock rows as initial arrangement slots (ARRANGEMENT_SCHEMA's columns)."""
    idx = np.nonzero(active)[0]
    sel = pl.Series(active)
    prod_codes = cols.product.filter(sel).to_list()
    steps_i = [cols.step[i] for i in idx]
    st = cols.ind_start.filter(sel).to_numpy().astype(np.int64)
    sn = cols.since.filter(sel).fill_null(cols.ind_start.filter(sel)).to_numpy().astype(np.int64)
    return pl.DataFrame(
        {
            "arrangement_id": pl.Series(akey[idx], dtype=pl.UInt64),
            "client_id": pl.Series(ckey[idx], dtype=pl.UInt64),
            "slot_kind": ["initial"] * idx.size,
            "product": prod_codes,
            "step": [
                policy.product(p).steps[s].code for p, s in zip(prod_codes, steps_i, strict=True)
            ],
            "amount_factor": pl.Series(factor, dtype=pl.Float32),
            "start_month": pl.Series(st, dtype=pl.Int16),
            "planned_end_month": pl.Series(cols.ind_end.filter(sel).to_numpy() + 1, dtype=pl.Int16),
            "indication_no": pl.Series(_indication_numbers(cols, sel, policy), dtype=pl.Int16),
            "support_since_month": pl.Series(sn, dtype=pl.Int16),
            "funding": cols.funding.filter(sel),
            "subcontracted": cols.subcontracted.filter(sel),
            **{
                f"{t}_w": pl.Series(cols.minutes_w[idx, ti], dtype=pl.Int16)
                for ti, t in enumerate(HO_TASKS)
            },
            "frequency": cols.frequency.filter(sel),
        }
    )


def _client_frame(cols: Columns, active: np.ndarray, ckey: np.ndarray) -> pl.DataFrame:
    """The stock's clients (CLIENT_SCHEMA's columns), one row each, from their first row."""
    idx = np.nonzero(active)[0]
    sel = pl.Series(active)
    domain = cols.domain.filter(sel)
    group = cols.group.filter(sel)
    return pl.DataFrame(
        {
            "client_id": pl.Series(ckey[idx], dtype=pl.UInt64),
            "group": group,
            "domain": domain,
            "birth_month": cols.birth.filter(sel).cast(pl.Int16),
            "household": cols.household.filter(sel).cast(pl.UInt8),
            "district": cols.district.filter(sel).fill_null(0).cast(pl.UInt8),
            # a Wmo client keeps its group after 18; a youth client gets the file's
            "wmo_group": pl.DataFrame({"d": domain, "g": group, "w": cols.wmo18.filter(sel)})
            .select(pl.when(pl.col("d") == "wmo").then(pl.col("g")).otherwise(pl.col("w")))
            .to_series(),
            **{f: cols.flags[f].filter(sel) for f in FLAGS},
            "arrival_month": pl.Series([None] * idx.size, dtype=pl.Int16),
        }
    ).unique("client_id", keep="first", maintain_order=True)
