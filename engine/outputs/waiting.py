"""A run's waiting lists as tables (runs with capacity: engine.model.month_outer).

`waiting.parquet`: month x product x district (0: the product's one pool) -- capacity,
occupation, the queue's flows (waiting_start + joined - admitted - left = waiting_end), how
long those given a place waited (median, P90, over the legal norm), interim care and its
cost. `waiting_yearly.parquet`: the same per budget year. Waits are whole months, from the
month a request is made (the indication) to the month care starts: 0 when it starts at once.
A wait is over the norm when it is longer than `norm_weeks` (Wmo: 8 weeks from application
to decision, `[waiting] norm_weeks` in the policy library): with whole months, 2 months or
more for 8 weeks.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl

from engine.core.domain import QUEUE_LEFT
from engine.core.months import month_of, year_of
from engine.model.capacity import UNLIMITED
from engine.model.layout import Q_LEFT0, QUEUE_FIELDS

WEEKS_PER_MONTH = 365.25 / 12 / 7
LEFT_COLUMNS = [f"left_{r}" for r in QUEUE_LEFT]


def norm_months(norm_weeks: float) -> int:
    """The longest wait in whole months that is within a norm of `norm_weeks`."""
    return int(math.floor(norm_weeks / WEEKS_PER_MONTH + 1e-9))


def _quantile(hist: np.ndarray, q: float) -> float | None:
    """The q-quantile of counts per whole month (the ceil(q n)-th smallest), None if empty."""
    n = int(hist.sum())
    if n == 0:
        return None
    return float(np.searchsorted(np.cumsum(hist), math.ceil(q * n)))


def _units(values: np.ndarray, unit: str, unlimited_null: bool = True) -> list:
    """Places as they are; minutes a week as hours a week; unlimited as null."""
    out = []
    for v in values.tolist():
        if unlimited_null and v >= UNLIMITED // 2:
            out.append(None)
        else:
            out.append(v / 60.0 if unit == "hours_w" else float(v))
    return out


def _wait_columns(hist: np.ndarray, norm: int) -> dict:
    """median / P90 wait (months) and the number and share over the norm, per row of hist."""
    med, p90, over, share = [], [], [], []
    for h in hist:
        n = int(h.sum())
        med.append(_quantile(h, 0.5))
        p90.append(_quantile(h, 0.9))
        o = int(h[norm + 1 :].sum())
        over.append(o)
        share.append(o / n if n else None)
    return {
        "wait_median_months": pl.Series(med, dtype=pl.Float64),
        "wait_p90_months": pl.Series(p90, dtype=pl.Float64),
        "admitted_over_norm": pl.Series(over, dtype=pl.Int64),
        "share_over_norm": pl.Series(share, dtype=pl.Float64),
    }


def waiting_frame(sim, start: int, policy) -> pl.DataFrame:
    """month x product x district: the queue of every capacity pool (see the module)."""
    cr, q = sim.capacity, sim.queue
    norm = norm_months(cr.norm_weeks)
    frames = []
    for k, (product, district) in enumerate(cr.pools):
        st = q.stats[k]
        T = st.shape[0]
        unit = cr.units[k]
        months = [dt.date(year_of(start + t), month_of(start + t), 1) for t in range(T)]
        cols = {
            "month": pl.Series(months, dtype=pl.Date),
            "budget_year": pl.Series([year_of(start + t) for t in range(T)], dtype=pl.Int16),
            "product": [product] * T,
            "district": pl.Series([district] * T, dtype=pl.Int16),
            "unit": [unit] * T,
            "capacity": pl.Series(_units(st[:, 0], unit), dtype=pl.Float64),
            "occupied": pl.Series(_units(st[:, 1], unit, False), dtype=pl.Float64),
            "free": pl.Series(_units(st[:, 2], unit), dtype=pl.Float64),
        }
        for i, name in enumerate(QUEUE_FIELDS[3:8], start=3):
            cols[name] = pl.Series(st[:, i], dtype=pl.Int64)
        for i, name in enumerate(LEFT_COLUMNS):
            cols[name] = pl.Series(st[:, Q_LEFT0 + i], dtype=pl.Int64)
        cols["occupied_end"] = pl.Series(_units(st[:, 8], unit, False), dtype=pl.Float64)
        cols["interim_arrangements"] = pl.Series(st[:, 9], dtype=pl.Int64)
        cols["interim_gross_cents"] = pl.Series(st[:, 10], dtype=pl.Int64)
        cols["interim_product"] = [cr.interim[k][0]] * T
        cols.update(_wait_columns(q.wait_adm[k], norm))
        cols["waiting_over_norm"] = pl.Series(q.wait_cur[k][:, norm + 1 :].sum(axis=1))
        frames.append(pl.DataFrame(cols))
    frame = pl.concat(frames) if frames else pl.DataFrame()
    if frame.height:
        frame = frame.with_columns(
            pl.sum_horizontal(LEFT_COLUMNS).alias("left"),
            (pl.col("occupied_end") / pl.col("capacity")).alias("occupancy"),
        )
    return frame.select(_ORDER).sort(["product", "district", "month"])


_ORDER = [
    "month",
    "budget_year",
    "product",
    "district",
    "unit",
    "capacity",
    "occupied",
    "free",
    "waiting_start",
    "joined",
    "admitted",
    "admitted_at_once",
    "left",
    *LEFT_COLUMNS,
    "waiting_end",
    "waiting_over_norm",
    "wait_median_months",
    "wait_p90_months",
    "admitted_over_norm",
    "share_over_norm",
    "occupied_end",
    "occupancy",
    "interim_product",
    "interim_arrangements",
    "interim_gross_cents",
]


def waiting_yearly(sim, start: int, monthly: pl.DataFrame) -> pl.DataFrame:
    """budget year x product x district: the queue's flows summed, the waiting list at the
    start and end of the year, waits of those given a place in the year, interim care."""
    cr, q = sim.capacity, sim.queue
    norm = norm_months(cr.norm_weeks)
    years = np.array([year_of(start + t) for t in range(q.stats.shape[1])])
    rows = []
    for k, (product, district) in enumerate(cr.pools):
        for y in sorted(set(years.tolist())):
            sel = years == y
            hist = q.wait_adm[k][sel].sum(axis=0)
            w = _wait_columns(hist[None, :], norm)
            rows.append(
                {
                    "budget_year": y,
                    "product": product,
                    "district": district,
                    "months": int(sel.sum()),
                    **{c: v[0] for c, v in w.items()},
                }
            )
    waits = pl.DataFrame(rows).with_columns(
        pl.col("budget_year").cast(pl.Int16), pl.col("district").cast(pl.Int16)
    )
    keys = ["budget_year", "product", "district"]
    sums = ["joined", "admitted", "admitted_at_once", "left", *LEFT_COLUMNS]
    yearly = (
        monthly.sort("month")
        .group_by([*keys, "unit", "interim_product"], maintain_order=True)
        .agg(
            pl.col("capacity").mean().alias("capacity_mean"),
            pl.col("occupied_end").mean().alias("occupied_mean"),
            pl.col("waiting_start").first(),
            *[pl.col(c).sum() for c in sums],
            pl.col("waiting_end").last(),
            pl.col("waiting_end").mean().alias("waiting_mean"),
            pl.col("interim_arrangements").sum().alias("interim_arrangement_months"),
            pl.col("interim_gross_cents").sum(),
        )
    )
    return yearly.join(waits, on=keys, how="left").sort(keys)
