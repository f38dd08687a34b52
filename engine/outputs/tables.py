"""Bins to tidy Polars frames: the tables of a run folder (DESIGN section 6).

Money is int64 cents throughout; `net_cents = gross_cents - own_contribution_cents`.
Months are written as dates (first of the month) with the budget year beside them, so the
files open as they are in Polars, DuckDB and Excel.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from engine.core.domain import DOMAINS, END_REASONS
from engine.core.months import month_of, year_of
from engine.model.layout import ARR_FIELDS, CLI_FIELDS_BASE
from rules.policy import Policy

OUTFLOW_COLUMNS = [f"outflow_{r}" for r in END_REASONS[1:]]
CLI_FIELDS = CLI_FIELDS_BASE + OUTFLOW_COLUMNS


def _month_dates(start: int, n: int) -> list[dt.date]:
    return [dt.date(year_of(start + t), month_of(start + t), 1) for t in range(n)]


def arrangements_frame(
    arr: np.ndarray, start: int, policy: Policy, group_codes: list[str], group_domains: list[str]
) -> pl.DataFrame:
    """month x domain x group x product x step x setting; only cells with any activity."""
    T, G, P, S, F = arr.shape
    idx = np.nonzero(arr.reshape(-1, F).any(axis=1))[0]
    t, g, p, s = np.unravel_index(idx, (T, G, P, S))
    vals = arr.reshape(-1, F)[idx]
    prods = policy.products
    step_code = np.array(
        [[pr.steps[j].code if j < len(pr.steps) else "" for j in range(S)] for pr in prods],
        dtype=object,
    )
    dates = np.array(_month_dates(start, T), dtype=object)
    frame = pl.DataFrame(
        {
            "month": pl.Series(dates[t].tolist(), dtype=pl.Date),
            "budget_year": pl.Series([year_of(start + int(x)) for x in t], dtype=pl.Int16),
            "domain": np.array([pr.domain for pr in prods], dtype=object)[p].tolist(),
            "group": np.array(group_codes, dtype=object)[g].tolist(),
            "product": np.array([pr.code for pr in prods], dtype=object)[p].tolist(),
            "step": step_code[p, s].tolist(),
            "setting": np.array([pr.setting for pr in prods], dtype=object)[p].tolist(),
            **{name: vals[:, i] for i, name in enumerate(ARR_FIELDS)},
        }
    )
    frame = frame.with_columns(
        (pl.col("gross_cents") - pl.col("own_contribution_cents")).alias("net_cents"),
    )
    order = [
        "month",
        "budget_year",
        "domain",
        "group",
        "product",
        "step",
        "setting",
        "arrangements",
        "gross_cents",
        "own_contribution_cents",
        "net_cents",
        "reindications",
        "starts",
        "ends",
    ]
    return frame.select(order).sort(["month", "domain", "group", "product", "step"])


def clients_frame(
    cli: np.ndarray, start: int, group_codes: list[str], group_domains: list[str]
) -> pl.DataFrame:
    """month x domain x group: stock, flows by kind and reason, clients served."""
    T, D, G, F = cli.shape
    rows = []
    dates = _month_dates(start, T)
    for d in range(D):
        for g in range(G):
            if not cli[:, d, g].any():
                continue
            for t in range(T):
                rows.append(
                    (
                        dates[t],
                        year_of(start + t),
                        DOMAINS[d],
                        group_codes[g],
                        *cli[t, d, g].tolist(),
                    )
                )
    schema = {
        "month": pl.Date,
        "budget_year": pl.Int16,
        "domain": pl.Utf8,
        "group": pl.Utf8,
        **{f: pl.Int64 for f in CLI_FIELDS},
    }
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    frame = frame.with_columns(
        pl.col("active_end").alias("served"),
        pl.sum_horizontal(OUTFLOW_COLUMNS).alias("outflow"),
        (pl.col("inflow_new") + pl.col("inflow_transfer")).alias("inflow"),
    )
    cols = [
        "month",
        "budget_year",
        "domain",
        "group",
        "active_start",
        "inflow",
        "inflow_new",
        "inflow_transfer",
        "outflow",
        *OUTFLOW_COLUMNS,
        "active_end",
        "served",
    ]
    return frame.select(cols).sort(["month", "domain", "group"])


def served_frame(
    served_half: np.ndarray,
    served_year: np.ndarray,
    start: int,
    months: int,
    group_codes: list[str],
) -> pl.DataFrame:
    """Clients served per half-year and per year, as the municipality counts them: a client
    counts once per period and domain, in the group of its first active month in the period.
    `complete` says whether the horizon covers the whole period."""
    rows = []
    end = start + months - 1
    for kind, arr, per in (("half_year", served_half, 6), ("year", served_year, 12)):
        first = start // per
        for i in range(arr.shape[0]):
            k = first + i
            p_start, p_end = k * per, k * per + per - 1
            y = year_of(p_start)
            label = f"{y}H{(p_start % 12) // 6 + 1}" if per == 6 else f"{y}"
            complete = p_start >= start and p_end <= end
            for d in range(arr.shape[1]):
                for g in range(arr.shape[2]):
                    if arr[i, d, g]:
                        rows.append(
                            (
                                kind,
                                label,
                                y,
                                complete,
                                DOMAINS[d],
                                group_codes[g],
                                int(arr[i, d, g]),
                            )
                        )
    schema = {
        "period_kind": pl.Utf8,
        "period": pl.Utf8,
        "budget_year": pl.Int16,
        "complete": pl.Boolean,
        "domain": pl.Utf8,
        "group": pl.Utf8,
        "clients_served": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def arrangements_yearly(arrangements: pl.DataFrame) -> pl.DataFrame:
    """Per budget year: arrangement-months, money and counts summed over the months."""
    keys = ["budget_year", "domain", "group", "product", "step", "setting"]
    sums = ["gross_cents", "own_contribution_cents", "net_cents", "reindications", "starts", "ends"]
    return (
        arrangements.group_by(keys)
        .agg(
            pl.col("arrangements").sum().alias("arrangement_months"),
            *[pl.col(c).sum() for c in sums],
            pl.col("month").n_unique().alias("months"),
        )
        .sort(keys)
    )


def clients_yearly(clients: pl.DataFrame, served: pl.DataFrame) -> pl.DataFrame:
    """Per budget year: stock at the start and end, flows summed, clients served in the year."""
    keys = ["budget_year", "domain", "group"]
    flows = ["inflow", "inflow_new", "inflow_transfer", "outflow", *OUTFLOW_COLUMNS]
    yearly = (
        clients.sort("month")
        .group_by(keys, maintain_order=True)
        .agg(
            pl.col("active_start").first(),
            *[pl.col(c).sum() for c in flows],
            pl.col("active_end").last(),
            pl.col("month").n_unique().alias("months"),
        )
    )
    year_served = served.filter(pl.col("period_kind") == "year").select(
        *keys, pl.col("clients_served").alias("served")
    )
    return (
        yearly.join(year_served, on=keys, how="left")
        .with_columns(pl.col("served").fill_null(0))
        .sort(keys)
    )


def summary_by_domain_year(arr_yearly: pl.DataFrame, served: pl.DataFrame) -> pl.DataFrame:
    """The headline table: clients served and gross / own contribution / net cost per
    domain and budget year (EUR)."""
    money = arr_yearly.group_by(["budget_year", "domain"]).agg(
        (pl.col("gross_cents").sum() / 100).alias("gross_eur"),
        (pl.col("own_contribution_cents").sum() / 100).alias("own_contribution_eur"),
        (pl.col("net_cents").sum() / 100).alias("net_eur"),
    )
    clients = (
        served.filter(pl.col("period_kind") == "year")
        .group_by(["budget_year", "domain"])
        .agg(pl.col("clients_served").sum(), pl.col("complete").all())
    )
    return clients.join(money, on=["budget_year", "domain"], how="full", coalesce=True).sort(
        ["domain", "budget_year"]
    )


def events_frame(
    events: np.ndarray, start: int, rules: list, policy: Policy, group_codes: list[str]
) -> pl.DataFrame:
    """Every rule event (long format): month, rule, measure, event, domain, group, product,
    count, weekly cents and weekly minutes it took away."""
    from engine.model.layout import EVENT_FIELDS, EVENT_KINDS

    R, K, G, P, T, F = events.shape
    flat = events.reshape(-1, F)
    idx = np.nonzero(flat[:, 0])[0]
    r, k, g, p, t = np.unravel_index(idx, (R, K, G, P, T))
    dates = np.array(_month_dates(start, T), dtype=object)
    prods = policy.products
    schema_cols = {
        "month": pl.Series(dates[t].tolist(), dtype=pl.Date),
        "budget_year": pl.Series([year_of(start + int(x)) for x in t], dtype=pl.Int16),
        "rule": pl.Series(
            np.array([ru.name for ru in rules] or [""], dtype=object)[r].tolist(), dtype=pl.Utf8
        ),
        "measure": pl.Series(
            np.array([ru.measure for ru in rules] or [""], dtype=object)[r].tolist(), dtype=pl.Utf8
        ),
        "event": pl.Series(np.array(EVENT_KINDS, dtype=object)[k].tolist(), dtype=pl.Utf8),
        "domain": pl.Series(
            np.array([pr.domain for pr in prods], dtype=object)[p].tolist(), dtype=pl.Utf8
        ),
        "group": pl.Series(np.array(group_codes, dtype=object)[g].tolist(), dtype=pl.Utf8),
        "product": pl.Series(
            np.array([pr.code for pr in prods], dtype=object)[p].tolist(), dtype=pl.Utf8
        ),
    }
    names = {
        "count": "count",
        "weekly_cents_changed": "weekly_cents_changed",
        "weekly_minutes_changed": "weekly_minutes_changed",
    }
    for i, f in enumerate(EVENT_FIELDS):
        schema_cols[names[f]] = pl.Series(flat[idx, i], dtype=pl.Int64)
    return pl.DataFrame(schema_cols).sort(["month", "rule", "event", "group", "product"])


def affected_frame(
    affected: np.ndarray, measures: list, group_codes: list[str], group_domains: list[str]
) -> pl.DataFrame:
    """Distinct clients whose care a measure reduced or ended, per group (`measure` = "all"
    for the scenario's measures together)."""
    rows = []
    names = [ms.name for ms in measures] + ["all"]
    for mi, name in enumerate(names):
        if mi == len(names) - 1 and not measures:
            continue
        for kind, label in ((0, "care_reduced"), (1, "care_ended")):
            for g, code in enumerate(group_codes):
                rows.append((name, label, group_domains[g], code, int(affected[mi, kind, g])))
    return pl.DataFrame(
        rows,
        schema={
            "measure": pl.Utf8,
            "kind": pl.Utf8,
            "domain": pl.Utf8,
            "group": pl.Utf8,
            "clients": pl.Int64,
        },
        orient="row",
    )
