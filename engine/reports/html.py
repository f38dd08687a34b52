"""The HTML report for the council: one self-contained file (inline CSS and SVG charts, no
script, nothing loaded from anywhere), readable offline and printable.

`caseload report FOLDER --out FILE.html` takes a run, comparison, experiment or sensitivity
folder. What it shows (where the folder has it):
- key figures;
- savings per measure and budget year with the 5-95% interval over seeds (experiment), or
  per domain (comparison);
- cost per product over time: baseline against each measure and the package;
- caseload per domain and client group;
- people affected per measure: care reduced or ended, by client group;
- the sensitivity tornado (a sensitivity folder, given or found beside the experiment);
- waiting lists (a run with capacity on): a chart per capacity-bound product and the yearly
  table; for a comparison of two such runs both waiting lists in one chart
  (engine.reports.waiting_report);
- rule events (run), the register of assumptions and what ran;
- why net cost moves (a `caseload explain` folder): a waterfall per domain from one total to
  the other through volume, mix and price, and the parts per product.
Client counts under 10 are suppressed everywhere ("<10", no bar); products with fewer than
10 arrangements a month on average are shown together as "other products".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from engine.core.errors import InputError
from engine.outputs.folder import Folder, open_folder
from engine.reports import charts, html_parts
from engine.reports.charts import PALETTE, esc, fmt_eur
from engine.reports.html_decomposition import decomposition_page
from engine.reports.html_sections import (
    about_section,
    about_section_comparison,
    affected_section,
    assumptions_section,
    caseload_section,
    cost_section,
    events_section,
    month_key,
    run_caseload,
    run_costs,
    savings_section,
    small_products_in,
    tornado_section,
)
from engine.reports.package_view import driving_ranges, find_sensitivity
from engine.reports.sheet import SMALL_CELL

CSS = """
:root{--ink:#1f2933;--muted:#5b6571;--line:#dfe3e8;--accent:#1f3b57;--bg:#f6f7f9}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);\
font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}
header{background:var(--accent);color:#fff;padding:28px 40px 22px}
header h1{margin:0 0 4px;font-size:26px;font-weight:650;letter-spacing:-.01em}
header p{margin:0;color:#d5dee8;font-size:14px}
nav{margin:14px 0 0;display:flex;flex-wrap:wrap;gap:6px 18px;font-size:13px}
nav a{color:#fff;text-decoration:none;border-bottom:1px solid rgba(255,255,255,.35)}
nav a:hover{border-bottom-color:#fff}
main{max-width:1180px;margin:0 auto;padding:24px 40px 48px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:20px 24px;\
margin:0 0 22px}
h2{font-size:19px;margin:0 0 4px;color:var(--accent)}
h3{font-size:15px;margin:14px 0 4px}
.lead{color:var(--muted);margin:0 0 12px;font-size:14px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:14px;\
margin:0 0 22px}
.kpi{background:#fff;border:1px solid var(--line);border-left:4px solid var(--accent);\
border-radius:8px;padding:12px 16px}
.kpi .v{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
.kpi .l{color:var(--muted);font-size:13px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:10px 22px}
figure{margin:6px 0 10px}
figcaption{font-weight:600;font-size:14px;margin:0 0 4px}
svg.chart{max-width:100%;height:auto;display:block}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13px;color:var(--muted);margin:4px 0 8px}
.legend span{display:inline-flex;align-items:center;gap:6px}
.legend i{display:inline-block;width:14px;height:4px;border-radius:2px}
.legend i.box{height:12px;width:12px;border-radius:2px}
table{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums;\
margin:6px 0}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600;position:sticky;top:0}
td.n,th.n{text-align:right;white-space:nowrap}
td .ci{color:var(--muted);font-size:11.5px}
tr.total td{font-weight:650;border-top:2px solid var(--ink)}
tr.group th{text-align:left;padding-top:.8em;border-bottom:1px solid var(--ink)}
details{margin:8px 0}
summary{cursor:pointer;color:var(--accent);font-weight:600;font-size:14px}
.note{color:var(--muted);font-size:13px}
footer{color:var(--muted);font-size:12px;text-align:center;padding:0 0 30px}
@media print{nav{display:none}body{background:#fff}\
header{background:#fff;color:var(--ink);border-bottom:2px solid var(--accent)}\
header p{color:var(--muted)}section{break-inside:avoid;border:none;padding:0}}
"""


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")


def _with_ids(body: str) -> tuple[str, str]:
    """Give every section the id of its heading; return the body and a contents bar."""
    parts = body.split("<section><h2>")
    links = []
    out = [parts[0]]
    for part in parts[1:]:
        heading = part.split("</h2>", 1)[0]
        sid = _slug(heading)
        links.append(f'<a href="#{sid}">{heading}</a>')
        out.append(f'<section id="{sid}"><h2>{part}')
    nav = "<nav>" + "".join(links) + "</nav>" if links else ""
    return "".join(out), nav


def _page(title: str, subtitle: str, body: str) -> str:
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    body, nav = _with_ids(body)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src '
        "'unsafe-inline'; img-src data:\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p>{nav}</header><main>{body}</main>"
        f"<footer>caseload report, written {esc(stamp)}. Aggregates only: no client-level data; "
        f"cells of fewer than {SMALL_CELL} clients suppressed.</footer>"
        "</body></html>"
    )


# ----------------------------------------------------------------------------- per kind
def _experiment(folder: Folder, sens: Folder | None) -> tuple[str, str, str]:
    m = folder.manifest
    ex = m.get("experiment", {})
    measures = m.get("measures", [])
    sv = folder.table("savings")
    base = folder.table("baseline_yearly")
    n_seeds = base["seed"].n_unique()
    years = sorted(sv["budget_year"].unique().to_list())
    pkg = sv.filter(pl.col("measure") == "package")
    base_net = base["net_cents"].sum() / n_seeds / 100.0
    kpis = [
        (f"baseline net cost {years[0]}-{years[-1]}", fmt_eur(base_net)),
        (f"package saving {years[0]}-{years[-1]}", fmt_eur(pkg["shapley_net_eur_mean"].sum())),
        (
            f"package saving {years[-1]}",
            fmt_eur(pkg.filter(pl.col("budget_year") == years[-1])["shapley_net_eur_mean"].sum()),
        ),
        ("measures / seeds", f"{len(measures)} / {n_seeds}"),
    ]
    body = [html_parts.kpis(kpis), savings_section(sv, measures, driving_ranges(sens))]
    if folder.has("costs_monthly"):
        cm = folder.table("costs_monthly")
        scen = (
            [("baseline", "baseline")]
            + [
                (x["name"], f"{x.get('number') or ''} {x.get('title') or x['name']}".strip())
                for x in measures
                if x["name"] in set(cm["scenario"])
            ]
            + [("package", "package (all measures)")]
        )
        body.append(
            cost_section(
                cm,
                scen,
                small_products_in(base),
                "Net cost per month of the first seed: the baseline (grey), each measure on its "
                "own and the package (dashed).",
            )
        )
    if folder.has("baseline_clients"):
        cl = folder.table("baseline_clients")
        if "seed" in cl.columns:
            cl = cl.filter(pl.col("seed") == cl["seed"].min())
        body.append(
            caseload_section(
                cl.select(
                    "domain",
                    "group",
                    month_key(pl.col("month")).alias("x"),
                    pl.col("active_end").cast(pl.Float64).alias("value"),
                ),
                "month",
                "Clients with an active arrangement at the end of each month, baseline, first "
                "seed.",
            )
        )
    else:
        months_in_year = base.group_by(["seed", "budget_year"]).agg(pl.lit(12).alias("m"))
        cl = (
            base.group_by(["seed", "budget_year", "domain", "group"])
            .agg(pl.col("arrangement_months").sum())
            .join(months_in_year, on=["seed", "budget_year"])
            .group_by(["budget_year", "domain", "group"])
            .agg((pl.col("arrangement_months") / pl.col("m")).mean().alias("value"))
        )
        body.append(
            caseload_section(
                cl.select(
                    "domain", "group", pl.col("budget_year").cast(pl.Utf8).alias("x"), "value"
                ),
                "year",
                "Average active arrangements per month in each budget year, baseline, mean of "
                f"{n_seeds} seeds (a client with two products counts twice).",
            )
        )
    if folder.has("affected"):
        aff = folder.table("affected")
        n = aff["seed"].n_unique() if "seed" in aff.columns else 1
        aff = aff.group_by(["measure", "domain", "group", "kind"]).agg(
            (pl.col("clients").sum() / max(n, 1)).alias("clients")
        )
        order = [
            (x["name"], f"{x.get('number') or ''} {x.get('title') or x['name']}".strip())
            for x in measures
        ] + [("package", "Package (all measures)")]
        body.append(
            affected_section(
                aff,
                order,
                "Clients whose care a measure reduced or ended, each measure on its own and the "
                f"package{f', mean of {n} seeds' if n > 1 else ''}.",
            )
        )
    if folder.has("waiting"):  # capacity on
        from engine.reports.waiting_report import waiting_experiment_section

        body.append(waiting_experiment_section(folder, measures))
    if sens is not None:
        body.append(tornado_section(sens, measures))
    if folder.has("assumptions"):
        body.append(assumptions_section(folder.table("assumptions")))
    body.append(about_section(folder))
    title = f"{ex.get('name') or folder.run_id}: savings of {len(measures)} measures"
    sub = (
        f"Experiment {folder.run_id} | profile {Path(str(ex.get('profile', ''))).stem} | "
        f"{ex.get('start')} + {ex.get('months')} months | seeds "
        f"{', '.join(map(str, ex.get('seeds', [])))}"
    )
    return title, sub, "".join(body)


def _run(folder: Folder) -> tuple[str, str, str]:
    m = folder.manifest
    sc = m.get("scenario", {})
    summ = folder.table("summary")
    years = sorted(summ["budget_year"].unique().to_list())
    kpis = [
        (f"net cost {years[0]}-{years[-1]}", fmt_eur(summ["net_eur"].sum())),
        (f"gross cost {years[0]}-{years[-1]}", fmt_eur(summ["gross_eur"].sum())),
    ]
    for d in ("wmo", "jeugd"):
        s = summ.filter((pl.col("domain") == d) & (pl.col("budget_year") == years[0]))
        if s.height:
            kpis.append(
                (
                    f"{'Wmo' if d == 'wmo' else 'youth'} clients served {years[0]}",
                    html_parts.count(s["clients_served"][0]),
                )
            )
    rows = [
        [
            r["domain"],
            f"{r['budget_year']}{'' if r['complete'] else ' (part)'}",
            html_parts.count(r["clients_served"]),
            html_parts.eur(r["gross_eur"]),
            html_parts.eur(r["own_contribution_eur"]),
            html_parts.eur(r["net_eur"]),
        ]
        for r in sorted(
            summ.iter_rows(named=True),
            key=lambda r: (r["domain"] != "wmo", r["domain"], r["budget_year"]),
        )
    ]
    body = [
        html_parts.kpis(kpis),
        "<section><h2>Clients and cost per budget year</h2>"
        + html_parts.table(
            [
                "Domain",
                "Budget year",
                "Clients served",
                "Gross EUR",
                "Own contributions EUR",
                "Net EUR",
            ],
            rows,
            {2, 3, 4, 5},
        )
        + "</section>",
    ]
    body.append(
        cost_section(
            run_costs(folder, "run"),
            [("run", sc.get("name") or "run")],
            small_products_in(folder.table("arrangements_yearly")),
            "Net cost per month, all products and per product.",
        )
    )
    body.append(
        caseload_section(
            run_caseload(folder),
            "month",
            "Clients with an active arrangement at the end of each month.",
        )
    )
    if folder.has("affected") and folder.table("affected").height:
        aff = folder.table("affected")
        names = [x["name"] for x in sc.get("measures", [])]
        titles = {
            x["name"]: f"{x.get('number') or ''} {x.get('title') or x['name']}".strip()
            for x in sc.get("measures", [])
        }
        body.append(
            affected_section(
                aff,
                [(n, titles[n]) for n in names] + [("all", "All measures together")],
                "Clients whose care a measure reduced or ended.",
            )
        )
    if folder.has("waiting"):  # a run with capacity on
        from engine.reports.waiting_report import waiting_section

        body.append(waiting_section(folder))
    if folder.has("events"):
        body.append(events_section(folder.table("events")))
    body.append(about_section(folder))
    title = f"{sc.get('name') or folder.run_id}: clients and costs"
    sub = (
        f"Run {folder.run_id} | profile {sc.get('profile')} | {sc.get('start')} + "
        f"{sc.get('months')} months | seed {m.get('seeds', {}).get('simulation')}"
    )
    return title, sub, "".join(body)


def _comparison(folder: Folder) -> tuple[str, str, str]:
    m = folder.manifest
    yearly = folder.table("comparison_yearly")
    years = sorted(yearly["budget_year"].unique().to_list())
    domains = sorted(yearly["domain"].unique().to_list(), key=lambda d: (d != "wmo", d))
    mname, bname = m["measure"]["scenario"].get("name"), m["baseline"]["scenario"].get("name")
    kpis = [
        (f"saving {years[0]}-{years[-1]}", fmt_eur(yearly["saving_net_cents"].sum() / 100.0)),
        (
            f"saving {years[-1]}",
            fmt_eur(
                yearly.filter(pl.col("budget_year") == years[-1])["saving_net_cents"].sum() / 100.0
            ),
        ),
        (
            f"baseline net cost {years[0]}-{years[-1]}",
            fmt_eur(yearly["net_cents_baseline"].sum() / 100.0),
        ),
    ]
    groups = []
    for i, d in enumerate(domains):
        by = dict(
            yearly.filter(pl.col("domain") == d)
            .select("budget_year", "saving_net_cents")
            .iter_rows()
        )
        groups.append(
            (
                "Wmo" if d == "wmo" else "Youth care" if d == "jeugd" else d,
                PALETTE[i],
                [by.get(y, 0) / 100.0 for y in years],
                None,
                None,
            )
        )
    svg = charts.bar_chart(
        [str(y) for y in years],
        groups,
        "Net saving per budget year by domain",
        width=1100,
        height=320,
    )
    rows = []
    for y in years:
        s = yearly.filter(pl.col("budget_year") == y)
        rows.append(
            [
                str(y),
                html_parts.eur(s["net_cents_baseline"].sum() / 100),
                html_parts.eur(s["net_cents_measure"].sum() / 100),
                html_parts.eur(s["saving_net_cents"].sum() / 100),
                html_parts.eur(s["saving_gross_cents"].sum() / 100),
            ]
        )
    body = [
        html_parts.kpis(kpis),
        "<section><h2>Savings per budget year</h2>"
        f'<p class="lead">Baseline net cost minus net cost of {esc(mname)}, nominal euros, one '
        "seed.</p>"
        + html_parts.legend([(g[0], g[1], True) for g in groups])
        + html_parts.figure("Net saving per budget year", svg)
        + html_parts.table(
            [
                "Budget year",
                "Baseline net EUR",
                "Measure net EUR",
                "Saving net EUR",
                "Saving gross EUR",
            ],
            rows,
            {1, 2, 3, 4},
        )
        + "</section>",
    ]
    base_dir, meas_dir = (
        Path(m["baseline"].get("run_dir", "")),
        Path(m["measure"].get("run_dir", "")),
    )
    runs_there = all((p / "arrangements.parquet").exists() for p in (base_dir, meas_dir))
    if runs_there:
        b, me = open_folder(str(base_dir)), open_folder(str(meas_dir))
        costs = pl.concat([run_costs(b, "baseline"), run_costs(me, "measure")])
        body.append(
            cost_section(
                costs,
                [
                    ("baseline", "baseline" if bname == "baseline" else f"baseline ({bname})"),
                    ("measure", mname),
                ],
                small_products_in(b.table("arrangements_yearly")),
                "Net cost per month: the baseline (grey) against the measure run.",
            )
        )
        body.append(
            caseload_section(
                run_caseload(b),
                "month",
                "Clients with an active arrangement at the end of each month, baseline run.",
            )
        )
    else:
        body.append(
            '<section><h2>Cost per product over time</h2><p class="note">The two run folders are '
            "not there any more; monthly charts need them.</p></section>"
        )
    if runs_there and b.has("waiting") and me.has("waiting"):  # both with capacity on
        from engine.reports.waiting_report import waiting_comparison_section

        body.append(waiting_comparison_section(b, me, (bname or "baseline", mname or "measure")))
    if runs_there and me.has("affected") and me.table("affected").height:
        sc = m["measure"]["scenario"]
        titles = [
            (x["name"], f"{x.get('number') or ''} {x.get('title') or x['name']}".strip())
            for x in sc.get("measures", [])
        ]
        body.append(
            affected_section(
                me.table("affected"),
                [*titles, ("all", "All measures together")],
                "Clients whose care each measure reduced or ended within the measure run, and all "
                "measures together, per client group.",
            )
        )
    elif folder.has("affected_by_group"):
        ag = folder.table("affected_by_group")
        aff = pl.concat(
            [
                ag.select(
                    pl.lit("all").alias("measure"),
                    "domain",
                    "group",
                    pl.lit(k).alias("kind"),
                    pl.col(k).cast(pl.Float64).alias("clients"),
                )
                for k in ("care_reduced", "care_ended")
            ]
        )
        body.append(
            affected_section(
                aff,
                [("all", mname)],
                "Clients whose care the measures reduced or ended, per client group.",
            )
        )
    body.append(about_section_comparison(folder))
    return (
        f"{mname} versus {bname}",
        f"Comparison {folder.run_id} | {m['baseline']['scenario'].get('start')} + "
        f"{m['baseline']['scenario'].get('months')} months | seed "
        f"{m.get('seeds', {}).get('simulation')}",
        "".join(body),
    )


def build_report(folder: Folder, sensitivity: Folder | None = None) -> str:
    if folder.kind == "experiment":
        title, sub, body = _experiment(
            folder, sensitivity if sensitivity is not None else find_sensitivity(folder)
        )
    elif folder.kind == "run":
        title, sub, body = _run(folder)
    elif folder.kind == "comparison":
        title, sub, body = _comparison(folder)
    elif folder.kind == "decomposition":
        title, sub, body = decomposition_page(folder)
    elif folder.kind == "sensitivity":
        ex = folder.manifest.get("experiment", {})
        title, sub = (
            f"{ex.get('name') or folder.run_id}: sensitivity",
            f"Sensitivity {folder.run_id} | {len(folder.manifest.get('varied', []))} parameters "
            "varied",
        )
        body = tornado_section(folder, folder.manifest.get("measures", [])) + about_section(folder)
    else:
        raise InputError(
            str(folder.path),
            f"a {folder.kind} folder",
            "a run, comparison, experiment or sensitivity folder",
        )
    return _page(title, sub, body)


def write_report(text: str, path: Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError("--out", f"{str(path)!r}", "a file name ending in .html")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
