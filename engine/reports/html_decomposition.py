"""The HTML report's page for a `caseload explain` folder (engine.reports.html): why net cost
moves, as a waterfall per domain from one total to the other through volume, mix and price,
the domain table and, folded, the parts per product."""

from __future__ import annotations

import polars as pl

from engine.outputs.folder import Folder
from engine.reports import charts, html_parts
from engine.reports.charts import BASELINE, esc, fmt_eur
from engine.reports.html_sections import about_section
from engine.reports.sheet import SMALL_CELL


def decomposition_page(folder: Folder) -> tuple[str, str, str]:
    """Why net cost moves: per pair of periods a waterfall per domain (from-total, volume, mix,
    price, to-total), the domain table and, folded, the parts per product."""
    from engine.simulation.decomposition import months_of_year

    m = folder.manifest
    d = folder.table("decomposition")
    a, b = m.get("from", {}), m.get("to", {})
    years_mode = m.get("mode") == "years"
    pairs = d.select("from_year", "to_year").unique().sort(["from_year", "to_year"]).rows()

    def name_of(year: int, run: str) -> str:
        return str(year) if years_mode else f"{run} {year}"

    def dom(x) -> str:
        return (
            "All domains"
            if x is None
            else "Wmo"
            if x == "wmo"
            else "Youth care"
            if x == "jeugd"
            else str(x)
        )

    last = d.filter(
        (pl.col("from_year") == pairs[-1][0])
        & (pl.col("to_year") == pairs[-1][1])
        & (pl.col("level") == "total")
    ).row(0, named=True)
    what = (
        f"{pairs[-1][0]} -> {pairs[-1][1]}"
        if years_mode
        else f"{b.get('run_id')} - {a.get('run_id')}, {pairs[-1][1]}"
    )
    kpis = [
        (f"net cost change {what}", fmt_eur(last["net_cents_change"] / 100)),
        ("of which volume", fmt_eur(last["volume_cents"] / 100)),
        ("of which mix", fmt_eur(last["mix_cents"] / 100)),
        ("of which price", fmt_eur(last["price_cents"] / 100)),
    ]
    body = [html_parts.kpis(kpis)]
    figs, rows, prod_rows = [], [], []
    for fy, ty in pairs:
        pair = d.filter((pl.col("from_year") == fy) & (pl.col("to_year") == ty))
        doms = pair.filter(pl.col("level") == "domain").sort(pl.col("domain") != "wmo", "domain")
        for r in [
            *doms.iter_rows(named=True),
            pair.filter(pl.col("level") == "total").row(0, named=True),
        ]:
            start = (name_of(fy, a.get("run_id")), r["net_cents_from"] / 100)
            end = (name_of(ty, b.get("run_id")), r["net_cents_to"] / 100)
            parts = [
                ("volume", r["volume_cents"] / 100),
                ("mix", r["mix_cents"] / 100),
                ("price", r["price_cents"] / 100),
            ]
            if r["domain"] is not None:
                title = (
                    f"{dom(r['domain'])}: {start[0]} -> {end[0]}"
                    if years_mode
                    else f"{dom(r['domain'])}, {ty}: {a.get('run_id')} -> {b.get('run_id')}"
                )
                figs.append(
                    html_parts.figure(
                        title,
                        charts.waterfall(
                            start, parts, end, f"{title}: net cost change by volume, mix and price"
                        ),
                    )
                )
            rows.append(
                [
                    f"{fy} -> {ty}" if years_mode else str(ty),
                    dom(r["domain"]),
                    html_parts.eur(r["net_cents_from"] / 100),
                    html_parts.eur(r["net_cents_to"] / 100),
                    html_parts.eur(r["net_cents_change"] / 100),
                    html_parts.eur(r["volume_cents"] / 100),
                    html_parts.eur(r["mix_cents"] / 100),
                    html_parts.eur(r["price_cents"] / 100),
                ]
            )
        n0 = max(len(months_of_year(m["start"], m["months"], fy)), 1) if m.get("start") else 12
        n1 = max(len(months_of_year(m["start"], m["months"], ty)), 1) if m.get("start") else 12
        for r in (
            pair.filter(pl.col("level") == "domain_product")
            .sort(pl.col("domain") != "wmo", "domain", "product")
            .iter_rows(named=True)
        ):
            if (
                r["arrangement_months_from"] / n0 < SMALL_CELL
                and r["arrangement_months_to"] / n1 < SMALL_CELL
            ):
                continue
            prod_rows.append(
                [
                    f"{fy} -> {ty}" if years_mode else str(ty),
                    dom(r["domain"]),
                    r["product"],
                    html_parts.eur(r["net_cents_change"] / 100),
                    html_parts.eur(r["volume_cents"] / 100),
                    html_parts.eur(r["mix_cents"] / 100),
                    html_parts.eur(r["price_cents"] / 100),
                ]
            )
    sign = (
        "the later year minus the earlier one"
        if years_mode
        else f"{b.get('run_id')} minus {a.get('run_id')}: a saving is negative"
    )
    body.append(
        "<section><h2>Why net cost moves</h2>"
        f'<p class="lead">The change of net cost ({esc(sign)}) split into volume '
        "(arrangement-months), mix (steps and products within the domain and the amount "
        "per arrangement-month at constant tariffs) and price (step tariffs x the price index), in "
        "nominal euros. The three parts add up to the change to the cent "
        "(Shapley value over the three factors).</p>"
        + html_parts.legend(
            [
                ("total", BASELINE, True),
                ("raises cost", charts.UP, True),
                ("lowers cost", charts.DOWN, True),
            ]
        )
        + '<div class="grid">'
        + "".join(figs)
        + "</div>"
        + '<p class="note">Each chart\'s axis starts near its lowest level, not at zero, so '
        "that parts of a few percent show; the tick labels say where.</p>"
        + html_parts.table(
            [
                "Years",
                "Domain",
                "From EUR",
                "To EUR",
                "Change EUR",
                "Volume EUR",
                "Mix EUR",
                "Price EUR",
            ],
            rows,
            set(range(2, 8)),
        )
        + "<details><summary>Per product</summary>"
        + html_parts.table(
            ["Years", "Domain", "Product", "Change EUR", "Volume EUR", "Mix EUR", "Price EUR"],
            prod_rows,
            {3, 4, 5, 6},
        )
        + f'<p class="note">Products with fewer than {SMALL_CELL} arrangements a month on '
        "average in both periods are left out. Each product is split on its own cells (steps "
        "and groups), "
        "so the products' parts do not add up to the domain's (the domain's mix also holds the "
        "shifts between products).</p></details></section>"
    )
    body.append(about_section(folder))
    title = (
        f"Why costs move: {a.get('run_id')} {pairs[0][0]} -> {pairs[-1][1]}"
        if years_mode
        else f"Why costs move: {b.get('run_id')} against {a.get('run_id')}"
    )
    sub = (
        f"Decomposition {folder.run_id} | profile {m.get('profile')} | {m.get('start')} + "
        f"{m.get('months')} months | volume, mix and price"
    )
    return title, sub, "".join(body)
