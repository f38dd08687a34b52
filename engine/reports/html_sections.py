"""Sections of the HTML report (engine.reports.html), made of the building blocks in
engine.reports.html_parts: costs over time, savings, caseload, people affected, the
sensitivity tornado, assumptions, rule events and what ran. Each returns an HTML fragment;
client counts under SMALL_CELL are suppressed here."""

from __future__ import annotations

import json

import polars as pl

from engine.outputs.folder import Folder
from engine.reports import charts, html_parts
from engine.reports.charts import BASELINE, PACKAGE, PALETTE, Series, esc, fmt_eur
from engine.reports.sheet import SMALL_CELL, SUPPRESSED
from engine.reports.workbook import about_sheet


def month_key(col: pl.Expr) -> pl.Expr:
    return col.dt.strftime("%Y-%m")


# ----------------------------------------------------------------------------- sections
def cost_section(
    costs: pl.DataFrame, scenarios: list[tuple[str, str]], small_products: set[str], lead: str
) -> str:
    """Cost per product over time: one panel for the total and one per product; a line per
    scenario. `costs`: scenario, month (YYYY-MM), product, net_cents."""
    if costs.height == 0:
        return ""
    costs = costs.with_columns(
        pl.when(pl.col("product").is_in(list(small_products)))
        .then(pl.lit("other products"))
        .otherwise(pl.col("product"))
        .alias("product")
    )
    months = sorted(costs["month"].unique().to_list())
    colours = {}
    legend = []
    for i, (key, name) in enumerate(scenarios):
        c = (
            BASELINE
            if i == 0
            else (PACKAGE if key == "package" else PALETTE[(i - 1) % len(PALETTE)])
        )
        colours[key] = c
        legend.append((name, c, False))

    def panel(frame: pl.DataFrame, title: str, width: int, height: int) -> str:
        series = []
        for i, (key, name) in enumerate(scenarios):
            sub = (
                frame.filter(pl.col("scenario") == key)
                .group_by("month")
                .agg(pl.col("net_cents").sum())
            )
            by = dict(zip(sub["month"].to_list(), sub["net_cents"].to_list(), strict=True))
            vals = [by.get(m, 0) / 100.0 for m in months]
            series.append(
                Series(
                    name,
                    vals,
                    colours[key],
                    width=3.2 if i == 0 else (2.2 if key == "package" else 1.6),
                    dash="6 4" if key == "package" else None,
                )
            )
        return html_parts.figure(
            title,
            charts.line_chart(
                series,
                months,
                f"{title}: net cost per month",
                width=width,
                height=height,
                zero=False,
            ),
        )

    total = panel(costs, "All products: net cost per month (EUR)", 1100, 300)
    order = (
        costs.filter(pl.col("scenario") == scenarios[0][0])
        .group_by("product")
        .agg(pl.col("net_cents").sum())
        .sort("net_cents", descending=True)["product"]
        .to_list()
    )
    panels = [panel(costs.filter(pl.col("product") == p), p, 540, 220) for p in order]
    return (
        "<section><h2>Cost per product over time</h2>"
        f'<p class="lead">{esc(lead)}</p>'
        + html_parts.legend(legend)
        + total
        + '<div class="grid">'
        + "".join(panels)
        + "</div></section>"
    )


def small_products_in(yearly: pl.DataFrame) -> set[str]:
    """Products with fewer than 10 arrangements a month on average (of the first seed)."""
    if "seed" in yearly.columns:
        yearly = yearly.filter(pl.col("seed") == yearly["seed"].min())
    months = max(yearly.select(pl.col("budget_year").n_unique()).item() * 12, 1)
    per = yearly.group_by("product").agg(pl.col("arrangement_months").sum())
    return {p for p, am in per.iter_rows() if am / months < SMALL_CELL}


def _bar(sv, name, years, n_seeds):
    """Per year: the mean Shapley share and its 5-95% range over seeds (None: one seed)."""
    sub = sv.filter(pl.col("measure").is_in(name if isinstance(name, list) else [name]))
    if isinstance(name, list):  # several measures as one bar: their sum, no interval
        by = sub.group_by("budget_year").agg(pl.col("shapley_net_eur_mean").sum())
        got = dict(by.iter_rows())
        return [got.get(y) for y in years], None, None
    by = {r["budget_year"]: r for r in sub.iter_rows(named=True)}
    vals = [by[y]["shapley_net_eur_mean"] if y in by else None for y in years]
    if n_seeds <= 1:
        return vals, None, None
    lo = [by[y]["shapley_net_eur_p5"] if y in by else None for y in years]
    hi = [by[y]["shapley_net_eur_p95"] if y in by else None for y in years]
    return vals, lo, hi


def savings_section(sv: pl.DataFrame, measures: list[dict], ranges: dict | None = None) -> str:
    from engine.reports.package_view import SHOW_IN_CHART, ordered

    ranges = ranges or {}
    years = sorted(sv["budget_year"].unique().to_list())
    n_seeds = int(sv["n_seeds"].max())
    titles = {m["name"]: m for m in measures}
    groups_by_domain = ordered(sv, measures)
    names = [n for _, ns in groups_by_domain for n in ns]
    total = dict(sv.group_by("measure").agg(pl.col("shapley_net_eur_mean").sum()).iter_rows())
    charted = sorted(names, key=lambda n: -total[n])
    rest = charted[SHOW_IN_CHART:] if len(charted) > SHOW_IN_CHART + 1 else []
    charted = [n for n in charted if n not in rest]
    groups, legend = [], []
    for i, name in enumerate([*charted, *([rest] if rest else [])]):
        vals, lo, hi = _bar(sv, name, years, n_seeds)
        label = (
            f"{len(rest)} other measures"
            if isinstance(name, list)
            else f"{titles[name].get('number') or ''} {titles[name].get('title') or name}".strip()
        )
        groups.append((label, PALETTE[i % len(PALETTE)], vals, lo, hi))
        legend.append((label, PALETTE[i % len(PALETTE)], True))
    svg = charts.bar_chart(
        [str(y) for y in years],
        groups,
        "Net saving per measure and budget year",
        width=1100,
        height=340,
    )
    body = []
    domain_of = {n: d for d, ns in groups_by_domain for n in ns}
    shown = None
    for name in [*names, "package"]:
        if len(groups_by_domain) > 1 and name != "package" and domain_of[name] != shown:
            shown = domain_of[name]
            body.append(f'<tr class="group"><th colspan="{len(years) + 3}">{esc(shown)}</th></tr>')
        sub = sv.filter(pl.col("measure") == name)
        by = {r["budget_year"]: r for r in sub.iter_rows(named=True)}
        label = (
            "Package (all measures)"
            if name == "package"
            else f"{titles[name].get('number') or ''} {titles[name].get('title') or name}".strip()
        )
        cells = []
        for y in years:
            r = by.get(y)
            if r is None:
                cells.append("")
            elif n_seeds > 1:
                cells.append(
                    f"{esc(fmt_eur(r['shapley_net_eur_mean']))}<div "
                    f'class="ci">{esc(fmt_eur(r["shapley_net_eur_p5"]))} to '
                    f"{esc(fmt_eur(r['shapley_net_eur_p95']))}</div>"
                )
            else:
                cells.append(esc(fmt_eur(r["shapley_net_eur_mean"])))
        total_m = sum(r["shapley_net_eur_mean"] for r in by.values())
        cls = ' class="total"' if name == "package" else ""
        rng = ranges.get(name)
        rng_cell = (
            f'{esc(fmt_eur(rng[1]))} to {esc(fmt_eur(rng[2]))}<div class="ci">{esc(rng[0])}</div>'
            if rng
            else ""
        )
        body.append(
            f"<tr{cls}><td>{esc(label)}</td>"
            + "".join(f'<td class="n">{c}</td>' for c in cells)
            + f'<td class="n">{esc(fmt_eur(total_m))}</td>'
            + (f'<td class="n">{rng_cell}</td>' if ranges else "")
            + "</tr>"
        )
    head = (
        "<tr><th>Measure</th>"
        + "".join(f'<th class="n">{y}</th>' for y in years)
        + '<th class="n">Total</th>'
        + ('<th class="n">Range (driving assumption)</th>' if ranges else "")
        + "</tr>"
    )
    table = f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"
    if n_seeds > 1:
        table += '<p class="note">Below each mean: the 5-95% range over the seeds.</p>'
    if ranges:
        table += (
            '<p class="note">Range: the saving over the horizon (the measure alone, first seed)'
            " at the low and at the high value of the assumption that moves it most"
            " (caseload sensitivity); no one figure is certain.</p>"
        )
    if rest:
        table += (
            f'<p class="note">The chart draws the {len(charted)} largest measures one by one'
            f" and the other {len(rest)} as one bar; the table lists every measure.</p>"
        )
    interval = (
        f"bars are the mean over {n_seeds} seeds, whiskers the 5-95% range over the seeds"
        if n_seeds > 1
        else "one seed: no interval"
    )
    return (
        "<section><h2>Savings per measure</h2>"
        '<p class="lead">Net saving (baseline net cost minus net cost with the measures) per '
        "budget year, in nominal euros. Each measure gets its "
        "share of the package saving (Shapley attribution), so the measures add up to the "
        f"package; {interval}.</p>"
        + html_parts.legend(legend)
        + html_parts.figure("Net saving per measure and budget year", svg)
        + table
        + "</section>"
    )


def caseload_section(frame: pl.DataFrame, x_kind: str, lead: str) -> str:
    """frame: domain, group, x (month 'YYYY-MM' or budget year), value. A line per group
    (months) or bars (years), one chart per domain; cells under 10 are left out."""
    if frame.height == 0:
        return ""
    out = [
        "<section><h2>Caseload per domain and client group</h2>",
        f'<p class="lead">{esc(lead)}</p>',
    ]
    table_rows = []
    xs = sorted(frame["x"].unique().to_list())
    for domain in sorted(frame["domain"].unique().to_list(), key=lambda d: (d != "wmo", d)):
        sub = frame.filter(pl.col("domain") == domain)
        groups = sorted(sub["group"].unique().to_list())
        legend, series, bars = [], [], []
        for i, g in enumerate(groups):
            by = dict(sub.filter(pl.col("group") == g).select("x", "value").iter_rows())
            vals = [by.get(x) for x in xs]
            shown = [v if v is not None and round(v) >= SMALL_CELL else None for v in vals]
            color = PALETTE[i % len(PALETTE)]
            if any(v is not None for v in shown):
                legend.append((g, color, x_kind != "month"))
                series.append(Series(g, shown, color))
                bars.append((g, color, shown, None, None))
            table_rows.append([domain, g, *[html_parts.count(v) for v in vals]])
        title = f"{'Wmo' if domain == 'wmo' else 'Youth care' if domain == 'jeugd' else domain}"
        if x_kind == "month":
            svg = charts.line_chart(
                series,
                [str(x) for x in xs],
                f"{title}: clients per month by group",
                fmt=charts.fmt_int,
                width=1100,
                height=280,
            )
        else:
            svg = charts.bar_chart(
                [str(x) for x in xs],
                bars,
                f"{title}: caseload per budget year by group",
                fmt=charts.fmt_int,
                width=1100,
                height=280,
            )
        out.append(html_parts.figure(title, svg, html_parts.legend(legend)))
    if x_kind == "month":
        keep = [x for x in xs if str(x).endswith("-01") or str(x).endswith("-07")]
        idx = [xs.index(x) for x in keep]
        table_rows = [[r[0], r[1], *[r[2 + i] for i in idx]] for r in table_rows]
        heads = [str(x) for x in keep]
    else:
        heads = [str(x) for x in xs]
    out.append(
        "<details><summary>Table</summary>"
        + html_parts.table(["Domain", "Group", *heads], table_rows, set(range(2, 2 + len(heads))))
        + "</details>"
    )
    out.append(
        f'<p class="note">Cells of fewer than {SMALL_CELL} are suppressed ("{SUPPRESSED}") and '
        "left out of the charts.</p></section>"
    )
    return "".join(out)


def affected_section(aff: pl.DataFrame, order: list[tuple[str, str]], lead: str) -> str:
    """aff: measure, domain, group, kind, clients (mean over seeds)."""
    if aff.height == 0:
        return ""
    parts = [("care reduced", PALETTE[0]), ("care ended", PALETTE[5])]
    figs, rows = [], []
    for key, label in order:
        sub = aff.filter(pl.col("measure") == key)
        if sub.height == 0:
            continue
        data = []
        for (domain, group), g in sorted(
            sub.group_by(["domain", "group"]), key=lambda kv: (kv[0][0] != "wmo", kv[0])
        ):
            by = dict(g.select("kind", "clients").iter_rows())
            red, end = by.get("care_reduced", 0.0), by.get("care_ended", 0.0)
            if round(red) == 0 and round(end) == 0:
                continue
            vals = [
                red if round(red) >= SMALL_CELL else None,
                end if round(end) >= SMALL_CELL else None,
            ]
            data.append((f"{group}", vals))
            rows.append([label, domain, group, html_parts.count(red), html_parts.count(end)])
        if not data:
            continue
        svg = charts.hbar_chart(data, parts, f"{label}: clients affected by group", width=540)
        if 'class="mark"' not in svg:
            figs.append(
                f'<figure><figcaption>{esc(label)}</figcaption><p class="note">Every group under '
                f"{SMALL_CELL} clients: suppressed.</p></figure>"
            )
        else:
            figs.append(html_parts.figure(label, svg))
    if not rows:
        return ""
    return (
        "<section><h2>People affected per measure</h2>"
        f'<p class="lead">{esc(lead)}</p>'
        + html_parts.legend([(n, c, True) for n, c in parts])
        + '<div class="grid">'
        + "".join(figs)
        + "</div>"
        + "<details><summary>Table</summary>"
        + html_parts.table(
            ["Measure", "Domain", "Group", "Care reduced", "Care ended"], rows, {3, 4}
        )
        + "</details>"
        + '<p class="note">Distinct clients over the horizon. Cells of fewer than '
        f'{SMALL_CELL} clients are suppressed ("{SUPPRESSED}").</p></section>'
    )


def tornado_section(sens: Folder, measures: list[dict]) -> str:
    s = sens.table("sensitivity")
    if s.height == 0:
        return ""
    titles = {
        m["name"]: f"{m.get('number') or ''} {m.get('title') or m['name']}".strip()
        for m in measures
    }
    titles["package"] = "Package (all measures)"
    order = [m["name"] for m in measures if m["name"] in set(s["measure"])] + (
        ["package"] if "package" in set(s["measure"]) else []
    )
    order += [m for m in sorted(set(s["measure"])) if m not in order]
    figs = []
    for m in order:
        sub = (
            s.filter(pl.col("measure") == m)
            .group_by(["parameter", "value_base", "value_low", "value_high"])
            .agg(
                pl.col("saving_base_net_cents").sum(),
                pl.col("saving_low_net_cents").sum(),
                pl.col("saving_high_net_cents").sum(),
                pl.col("swing_net_cents").sum(),
            )
            .sort("swing_net_cents", descending=True)
        )
        if sub.height == 0:
            continue
        base = sub["saving_base_net_cents"][0] / 100.0
        rows = [
            (
                f"{r['parameter']} ({json.loads(r['value_low'])} / {json.loads(r['value_high'])})",
                r["saving_low_net_cents"] / 100.0,
                r["saving_high_net_cents"] / 100.0,
                f"{json.loads(r['value_low'])}",
                f"{json.loads(r['value_high'])}",
            )
            for r in sub.iter_rows(named=True)
        ]
        figs.append(
            html_parts.figure(
                titles.get(m, m),
                charts.tornado(
                    rows, base, f"{titles.get(m, m)}: sensitivity of the saving", width=1100
                ),
            )
        )
    if not figs:
        return ""
    years = sorted(s["budget_year"].unique().to_list())
    return (
        "<section><h2>Sensitivity</h2>"
        f'<p class="lead">How the net saving over {years[0]}-{years[-1]} moves when one assumption '
        "at a time is set to its low or high value; "
        "parameters with the largest swing first. The line is the saving at the base values.</p>"
        + html_parts.legend(
            [
                ("saving at the low value", PALETTE[4], True),
                ("saving at the high value", PALETTE[5], True),
            ]
        )
        + "".join(figs)
        + f'<p class="note">From {esc(sens.path)}.</p></section>'
    )


def assumptions_section(frame: pl.DataFrame) -> str:
    if frame is None or frame.height == 0:
        return ""
    n_ass = frame.filter(pl.col("source").str.starts_with("assumption")).height
    rows = [
        [
            r["name"],
            r["value"] if len(r["value"]) <= 60 else r["value"][:57] + "...",
            r["unit"],
            r["source"],
        ]
        for r in frame.iter_rows(named=True)
    ]
    return (
        "<section><h2>Assumptions</h2>"
        f'<p class="lead">{frame.height:,} named parameters; {n_ass:,} of them are marked '
        '"assumption" (a reasoned default where the documents are silent). '
        "Each can be replaced by name.</p><details><summary>The register</summary>"
        + html_parts.table(["Parameter", "Value", "Unit", "Source"], rows)
        + "</details></section>"
    )


def about_section(folder: Folder) -> str:
    rows = [list(r) for r in about_sheet(folder).frame.iter_rows()]
    return (
        "<section><h2>What ran</h2><details><summary>Run description</summary>"
        + html_parts.table(["Item", "Value"], rows)
        + "</details></section>"
    )


def run_costs(folder: Folder, scenario: str) -> pl.DataFrame:
    arr = folder.table("arrangements")
    return (
        arr.group_by(["month", "product"])
        .agg(pl.col("net_cents").sum())
        .select(
            pl.lit(scenario).alias("scenario"),
            month_key(pl.col("month")).alias("month"),
            "product",
            "net_cents",
        )
    )


def run_caseload(folder: Folder) -> pl.DataFrame:
    cl = folder.table("clients")
    return cl.select(
        "domain",
        "group",
        month_key(pl.col("month")).alias("x"),
        pl.col("active_end").cast(pl.Float64).alias("value"),
    )


def events_section(ev: pl.DataFrame) -> str:
    if ev.height == 0:
        return ""
    t = (
        ev.group_by(["measure", "rule", "event", "budget_year"])
        .agg(pl.col("count").sum())
        .sort(["measure", "rule", "event", "budget_year"])
    )
    years = sorted(t["budget_year"].unique().to_list())
    rows = []
    for (measure, rule, event), g in t.group_by(["measure", "rule", "event"], maintain_order=True):
        by = dict(g.select("budget_year", "count").iter_rows())
        rows.append([measure, rule, event, *[html_parts.count(by.get(y, 0)) for y in years]])
    return (
        '<section><h2>Rule events</h2><p class="lead">What each rule did, per budget year '
        "(arrangements capped, tasks removed, ended, ...).</p>"
        + html_parts.table(
            ["Measure", "Rule", "Event", *[str(y) for y in years]],
            rows,
            set(range(3, 3 + len(years))),
        )
        + f'<p class="note">Counts of fewer than {SMALL_CELL} are suppressed.</p></section>'
    )


def about_section_comparison(folder: Folder) -> str:
    m = folder.manifest
    rows = [
        ["Folder", str(folder.path)],
        ["Baseline run", f"{m['baseline'].get('run_id')} ({m['baseline'].get('run_dir')})"],
        ["Measure run", f"{m['measure'].get('run_id')} ({m['measure'].get('run_dir')})"],
        [
            "Measures",
            ", ".join(
                f"{x.get('number') or ''} {x.get('title') or x.get('name')}".strip()
                for x in m["measure"]["scenario"].get("measures", [])
            ),
        ],
        ["Seeds", json.dumps(m.get("seeds"))],
        ["Population", str(m.get("population"))],
        ["Created", str(m.get("created"))],
    ]
    return (
        "<section><h2>What ran</h2><details><summary>Run description</summary>"
        + html_parts.table(["Item", "Value"], rows)
        + "</details></section>"
    )
