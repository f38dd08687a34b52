"""Waiting lists in the workbook and the HTML report (a run with capacity on: the run folder's
`waiting.parquet` and `waiting_yearly.parquet`, engine.outputs.waiting).

- the workbook sheet "Waiting lists": per capacity-bound product and budget year, places,
  occupation, the queue's flows, waits and the interim care's cost;
- the report section: per capacity-bound product a chart of the waiting list per month (and
  of those waiting longer than the norm), and the yearly table.

Client counts under SMALL_CELL are suppressed in both ("<10"; left out of the chart).
"""

from __future__ import annotations

import polars as pl

from engine.outputs.folder import Folder
from engine.reports import charts, html_parts
from engine.reports.charts import BASELINE, PALETTE, Series, esc
from engine.reports.sheet import FLOAT, INT, MONEY, SMALL_CELL, SUPPRESSED, TEXT, Sheet, suppress

COUNTS = ["waiting_start", "joined", "admitted", "left", "waiting_end"]
COUNT_NAMES = {
    "waiting_start": "Waiting at start",
    "joined": "Joined",
    "admitted": "Given a place",
    "left": "Left the queue",
    "waiting_end": "Waiting at end",
}


def _norm_weeks(folder: Folder) -> float | None:
    cap = folder.manifest.get("capacity") or {}
    return cap.get("norm_weeks")


def _yearly_rows(folder: Folder) -> pl.DataFrame:
    """The yearly table in display order, money in EUR, counts suppressed under SMALL_CELL."""
    y = folder.table("waiting_yearly")
    cols = {}
    if "scenario" in y.columns:  # an experiment: the first seed's scenarios
        rank = {"baseline": 0, "package": 2}
        y = y.with_columns(
            pl.col("scenario").replace_strict(rank, default=1, return_dtype=pl.Int8).alias("_r")
        ).sort(["product", "district", "_r", "scenario", "budget_year"])
        cols["Scenario"] = y["scenario"]
    else:
        y = y.sort(["product", "district", "budget_year"])
    cols |= {
        "Product": y["product"],
        "District": y["district"].cast(pl.Utf8).replace("0", "all"),
        "Budget year": y["budget_year"].cast(pl.Int64),
        "Places (mean)": y["capacity_mean"].round(1),
        "Occupied (mean)": y["occupied_mean"].round(1),
    }
    for c in COUNTS:
        cols[COUNT_NAMES[c]] = [str(v) for v in suppress(y[c].to_list())]
    cols["Waiting list (mean)"] = [str(v) for v in suppress(y["waiting_mean"].to_list())]
    cols["Median wait (months)"] = y["wait_median_months"]
    cols["P90 wait (months)"] = y["wait_p90_months"]
    cols["Share over the norm"] = y["share_over_norm"].round(3)
    cols["Interim care"] = y["interim_product"]
    cols["Interim care EUR"] = (y["interim_gross_cents"] / 100).round(2)
    return pl.DataFrame(cols)


def waiting_sheet(folder: Folder) -> Sheet:
    """The workbook sheet of a run folder with capacity on."""
    frame = _yearly_rows(folder)
    norm = _norm_weeks(folder)
    formats = {c: INT for c in (*COUNT_NAMES.values(), "Waiting list (mean)")}
    formats.update(
        {
            "Scenario": TEXT,
            "Product": TEXT,
            "District": TEXT,
            "Budget year": INT,
            "Places (mean)": FLOAT,
            "Occupied (mean)": FLOAT,
            "Median wait (months)": FLOAT,
            "P90 wait (months)": FLOAT,
            "Share over the norm": FLOAT,
            "Interim care": TEXT,
            "Interim care EUR": MONEY,
        }
    )
    return Sheet(
        "Waiting lists",
        "Waiting lists of the capacity-bound products, per budget year",
        f"Waits are whole months from the indication to the start of care, of those given a "
        f"place in the year; over the norm: longer than {norm or 8:g} weeks. Interim care is "
        f'what a waiting client gets instead (gross EUR). Counts under {SMALL_CELL} are shown as "'
        f'{SUPPRESSED}".' + (" Experiment: the first seed." if "Scenario" in frame.columns else ""),
        frame,
        {k: v for k, v in formats.items() if k in frame.columns},
        freeze_cols=4 if "Scenario" in frame.columns else 3,
    )


def _month_labels(frame: pl.DataFrame) -> list[str]:
    return frame["month"].dt.strftime("%Y-%m").to_list()


def _shown(values: list) -> list:
    return [v if v is not None and v >= SMALL_CELL else None for v in values]


def waiting_section(folder: Folder) -> str:
    """The report's section: a chart per capacity-bound product, and the yearly table."""
    w = folder.table("waiting").sort(["product", "district", "month"])
    if w.height == 0:
        return ""
    norm = _norm_weeks(folder) or 8
    out = [
        "<section><h2>Waiting lists</h2>",
        '<p class="lead">Clients waiting for a place at the end of each month, per '
        f"capacity-bound product, and those of them waiting longer than the norm ({norm:g} "
        "weeks); a waiting client gets interim care meanwhile.</p>",
    ]
    for (product, district), sub in w.group_by(["product", "district"], maintain_order=True):
        name = product if district == 0 else f"{product}, district {district}"
        series = [
            Series("waiting", _shown(sub["waiting_end"].to_list()), PALETTE[0]),
            Series(
                "over the norm", _shown(sub["waiting_over_norm"].to_list()), PALETTE[1], dash="5 4"
            ),
        ]
        cap = sub["capacity"].drop_nulls()
        if cap.len() == 0:
            places = "unlimited"
        elif cap.min() == cap.max():
            places = f"{cap.min():,.0f} places"
        else:
            places = f"{cap.min():,.0f}-{cap.max():,.0f} places"
        svg = charts.line_chart(
            series,
            _month_labels(sub),
            f"{name}: clients waiting per month",
            fmt=charts.fmt_int,
            width=1100,
            height=240,
        )
        legend = html_parts.legend(
            [("waiting", PALETTE[0], False), ("over the norm", PALETTE[1], False)]
        )
        if not svg or all(v is None for s in series for v in s.values):
            out.append(
                f'<p class="note">{esc(name)} ({esc(places)}): never {SMALL_CELL} or more '
                "waiting at the end of a month.</p>"
            )
        else:
            out.append(html_parts.figure(f"{name} ({places})", svg, legend))
    y = _yearly_rows(folder)
    heads = y.columns
    eur = heads.index("Interim care EUR")
    rows = [
        ["" if v is None else (f"{v:,.0f}" if i == eur else v) for i, v in enumerate(r)]
        for r in y.iter_rows()
    ]
    out.append(
        "<details open><summary>Per budget year</summary>"
        + html_parts.table(heads, rows, set(range(2, len(heads))) - {heads.index("Interim care")})
        + "</details>"
    )
    out.append(
        f'<p class="note">Counts under {SMALL_CELL} are suppressed ("{SUPPRESSED}") and left '
        "out of the charts. Waits: whole months from the indication to the start of care, of "
        "those given a place in the year.</p></section>"
    )
    return "".join(out)


def waiting_comparison_section(base: Folder, meas: Folder, names: tuple[str, str]) -> str:
    """A comparison of two runs with capacity on: per capacity-bound product, the waiting list
    per month of both runs in one chart, and per budget year the waiting list, the waits and
    the interim care's cost of both."""
    wb = base.table("waiting").sort(["product", "district", "month"])
    wm = meas.table("waiting").sort(["product", "district", "month"])
    out = [
        "<section><h2>Waiting lists: baseline and measure</h2>",
        '<p class="lead">Clients waiting for a place at the end of each month, per '
        "capacity-bound product, in the baseline run (grey) and the measure run.</p>",
    ]
    keys = wb.select("product", "district").unique(maintain_order=True).rows()
    for product, district in keys:
        b = wb.filter((pl.col("product") == product) & (pl.col("district") == district))
        m = wm.filter((pl.col("product") == product) & (pl.col("district") == district))
        if m.height != b.height:
            continue
        name = product if district == 0 else f"{product}, district {district}"
        series = [
            Series(names[0], _shown(b["waiting_end"].to_list()), BASELINE),
            Series(names[1], _shown(m["waiting_end"].to_list()), PALETTE[0]),
        ]
        svg = charts.line_chart(
            series,
            _month_labels(b),
            f"{name}: clients waiting per month, baseline and measure",
            fmt=charts.fmt_int,
            width=1100,
            height=240,
        )
        if svg and any(v is not None for s in series for v in s.values):
            legend = html_parts.legend([(names[0], BASELINE, False), (names[1], PALETTE[0], False)])
            out.append(html_parts.figure(name, svg, legend))
        else:
            out.append(
                f'<p class="note">{esc(name)}: never {SMALL_CELL} or more waiting at the end '
                "of a month in either run.</p>"
            )
    yb = base.table("waiting_yearly").sort(["product", "district", "budget_year"])
    ym = meas.table("waiting_yearly").sort(["product", "district", "budget_year"])
    rows = []
    for rb, rm in zip(yb.iter_rows(named=True), ym.iter_rows(named=True), strict=False):
        rows.append(
            [
                rb["product"],
                rb["budget_year"],
                *suppress([rb["waiting_end"], rm["waiting_end"]]),
                "" if rm["wait_median_months"] is None else f"{rm['wait_median_months']:.0f}",
                "" if rm["share_over_norm"] is None else f"{rm['share_over_norm']:.0%}",
                f"{rb['interim_gross_cents'] / 100:,.0f}",
                f"{rm['interim_gross_cents'] / 100:,.0f}",
            ]
        )
    heads = [
        "Product",
        "Budget year",
        "Waiting at end, baseline",
        "Waiting at end, measure",
        "Median wait, measure (months)",
        "Over the norm, measure",
        "Interim care EUR, baseline",
        "Interim care EUR, measure",
    ]
    out.append(
        "<details open><summary>Per budget year</summary>"
        + html_parts.table(heads, rows, set(range(1, len(heads))))
        + "</details>"
    )
    out.append(
        f'<p class="note">Counts under {SMALL_CELL} are suppressed ("{SUPPRESSED}") and left '
        "out of the charts.</p></section>"
    )
    return "".join(out)


def waiting_experiment_section(folder: Folder, measures: list[dict]) -> str:
    """An experiment with capacity on: per capacity-bound product, the waiting list per month
    of the first seed's baseline (grey), each measure alone and the package (black), and per
    scenario and budget year the waiting list and the interim care's cost."""
    from engine.reports.charts import PACKAGE

    w = folder.table("waiting").sort(["scenario", "product", "district", "month"])
    names = [m["name"] for m in measures]
    order = ["baseline", *[n for n in names if n in set(w["scenario"])], "package"]
    colour = {"baseline": BASELINE, "package": PACKAGE}
    for i, n in enumerate(order[1:-1]):
        colour[n] = PALETTE[i % len(PALETTE)]
    out = [
        "<section><h2>Waiting lists per scenario</h2>",
        '<p class="lead">Clients waiting for a place at the end of each month, per '
        "capacity-bound product: the baseline (grey), each measure alone and the package "
        "(black), first seed.</p>",
    ]
    for (product, district), sub in w.group_by(["product", "district"], maintain_order=True):
        name = product if district == 0 else f"{product}, district {district}"
        series, labels = [], None
        for sc in order:
            part = sub.filter(pl.col("scenario") == sc).sort("month")
            if part.height:
                labels = labels or _month_labels(part)
                series.append(Series(sc, _shown(part["waiting_end"].to_list()), colour[sc]))
        svg = charts.line_chart(
            series,
            labels or [],
            f"{name}: clients waiting per month per scenario",
            fmt=charts.fmt_int,
            width=1100,
            height=240,
        )
        if svg and any(v is not None for s in series for v in s.values):
            legend = html_parts.legend([(s.name, s.color, False) for s in series])
            out.append(html_parts.figure(name, svg, legend))
        else:
            out.append(
                f'<p class="note">{esc(name)}: never {SMALL_CELL} or more waiting at the end '
                "of a month in any scenario.</p>"
            )
    y = folder.table("waiting_yearly")
    rank = {sc: i for i, sc in enumerate(order)}
    rows = [
        [
            r["scenario"],
            r["product"],
            r["budget_year"],
            *suppress([r["waiting_end"]]),
            "" if r["wait_median_months"] is None else f"{r['wait_median_months']:.0f}",
            f"{r['interim_gross_cents'] / 100:,.0f}",
        ]
        for r in sorted(
            y.iter_rows(named=True),
            key=lambda r: (r["product"], rank.get(r["scenario"], 99), r["budget_year"]),
        )
    ]
    heads = ["Scenario", "Product", "Budget year", "Waiting at end", "Median wait (months)",
             "Interim care EUR"]  # fmt: skip
    out.append(
        "<details><summary>Per scenario and budget year</summary>"
        + html_parts.table(heads, rows, {2, 3, 4, 5})
        + "</details>"
    )
    out.append(
        f'<p class="note">Counts under {SMALL_CELL} are suppressed ("{SUPPRESSED}") and left '
        "out of the charts.</p></section>"
    )
    return "".join(out)
