"""The calibration's report (engine.simulation.calibration): the table of targets before
and after, a self-contained HTML chart, the fitted parameters as TOML, all written to a
fresh report folder."""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from pathlib import Path

import polars as pl

from engine.outputs.folder import atomic_folder, write_json
from synthetic_population.profile import (
    Profile,
)
from synthetic_population.targets import Target, number


def _table(targets: list[Target], before: dict, after: dict) -> pl.DataFrame:
    rows = []
    for t in targets:
        ref = t.value if t.value is not None else (t.min if t.min is not None else t.max)
        a = after.get(t.name)
        lo, hi = t.bounds
        rows.append(
            {
                "target": t.name,
                "metric": t.metric,
                "period": t.period,
                "domain": t.domain,
                "group": t.group,
                "product": t.scope_label or None,
                "base_period": t.base_period,
                "figure": t.figure(" "),
                "value": t.value,
                "tolerance": t.tolerance if t.value is not None else None,
                "min": t.min,
                "max": t.max,
                "lower": None if math.isinf(lo) else lo,
                "upper": None if math.isinf(hi) else hi,
                "fitted": t.fit,
                "before": before.get(t.name),
                "simulated": a,
                "difference": None if a is None or ref is None else a - ref,
                "difference_pct": None if a is None or not ref else 100.0 * (a / ref - 1),
                "within_tolerance": None if a is None else bool(t.passes(a)),
                "source": t.source,
                "how": t.how or None,
            }
        )
    schema = {
        "target": pl.Utf8,
        "metric": pl.Utf8,
        "period": pl.Utf8,
        "domain": pl.Utf8,
        "group": pl.Utf8,
        "product": pl.Utf8,
        "base_period": pl.Utf8,
        "figure": pl.Utf8,
        "value": pl.Float64,
        "tolerance": pl.Float64,
        "min": pl.Float64,
        "max": pl.Float64,
        "lower": pl.Float64,
        "upper": pl.Float64,
        "fitted": pl.Boolean,
        "before": pl.Float64,
        "simulated": pl.Float64,
        "difference": pl.Float64,
        "difference_pct": pl.Float64,
        "within_tolerance": pl.Boolean,
        "source": pl.Utf8,
        "how": pl.Utf8,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def _svg(table: pl.DataFrame, title: str) -> str:
    """A dot plot: simulated / target figure per target, before (hollow) and after (filled),
    with the accepted band shaded. Self-contained SVG."""
    rows = table.to_dicts()
    w, left, right, top, rh = 760, 250, 30, 40, 30
    h = top + rh * len(rows) + 40
    lo_r, hi_r = 0.8, 1.2
    x = lambda r: left + (min(max(r, lo_r), hi_r) - lo_r) / (hi_r - lo_r) * (w - left - right)  # noqa: E731
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        'font-family="sans-serif" font-size="12">',
        f'<text x="10" y="20" font-weight="bold">{html.escape(title)}</text>',
    ]
    for tick in (0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2):
        out.append(
            f'<line x1="{x(tick):.1f}" y1="{top - 8}" x2="{x(tick):.1f}" y2="{h - 30}" '
            'stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{x(tick):.1f}" y="{h - 14}" text-anchor="middle" '
            f'fill="#555">{(tick - 1) * 100:+.0f}%</text>'
        )
    for i, r in enumerate(rows):
        y = top + i * rh + rh / 2
        ref = (
            r["value"]
            if r["value"] is not None
            else (r["min"] if r["min"] is not None else r["max"])
        )
        out.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" '
            f'text-anchor="end">{html.escape(r["target"])}</text>'
        )
        if not ref:
            continue
        lo = r["lower"] / ref if r["lower"] is not None else lo_r
        hi = r["upper"] / ref if r["upper"] is not None else hi_r
        out.append(
            f'<rect x="{x(lo):.1f}" y="{y - 8:.1f}" width="{max(x(hi) - x(lo), 1):.1f}" '
            'height="16" fill="#cfe8cf"/>'
        )
        if r["before"] is not None:
            out.append(
                f'<circle cx="{x(r["before"] / ref):.1f}" cy="{y:.1f}" r="5" fill="none" '
                f'stroke="#888" stroke-width="2"><title>before: {r["before"]:,.0f}</title></circle>'
            )
        if r["simulated"] is not None:
            color = "#1a7f37" if r["within_tolerance"] else "#c62828"
            out.append(
                f'<circle cx="{x(r["simulated"] / ref):.1f}" cy="{y:.1f}" r="5" '
                f'fill="{color}"><title>simulated: {r["simulated"]:,.0f}</title></circle>'
            )
    out.append("</svg>")
    return "\n".join(out)


def _html(table: pl.DataFrame, title: str, multipliers: dict, meta: dict) -> str:
    head = [
        "target",
        "figure",
        "period",
        "domain",
        "group",
        "product",
        "before",
        "simulated",
        "difference_pct",
        "within_tolerance",
        "fitted",
        "source",
    ]
    cells = []
    for r in table.iter_rows(named=True):

        def fmt(k, v):
            if v is None:
                return ""
            if k in ("before", "simulated"):
                return number(v)
            if k == "difference_pct":
                return f"{v:+.1f}%"
            if k == "within_tolerance":
                return "yes" if v else "NO"
            if k == "fitted":
                return "fit" if v else "check"
            return html.escape(str(v))

        cells.append("<tr>" + "".join(f"<td>{fmt(k, r[k])}</td>" for k in head) + "</tr>")
    mult = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v[0]:.4f}</td><td>{v[1]:.4f}</td></tr>"
        for k, v in multipliers.items()
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:24px;color:#222}} \
table{{border-collapse:collapse;margin:12px 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} \
td:first-child,th:first-child{{text-align:left}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Simulated figure against each target: the green band is what the target accepts; \
hollow = before, filled = after
(green within tolerance, red outside). Axis: difference from the target figure.</p>
{_svg(table, title)}
<table><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>{"".join(cells)}</table>
{_out_of_sample_html(table)}
<h2>Multipliers per group</h2>
<table><tr><th>group</th><th>inflow</th><th>exit hazards</th></tr>\
{mult or '<tr><td colspan="3">none (all 1)</td></tr>'}</table>
<pre>{html.escape(json.dumps(meta, indent=2, default=str))}</pre>
</body></html>
"""


def out_of_sample(table: pl.DataFrame) -> list[dict]:
    """The rows no fit used (`fit = false`) that the run measured: published or derived
    figure, simulated value, error."""
    return [
        r
        for r in table.iter_rows(named=True)
        if not r["fitted"] and r["simulated"] is not None and r["value"] is not None
    ]


def _out_of_sample_html(table: pl.DataFrame) -> str:
    rows = out_of_sample(table)
    if not rows:
        return ""
    cells = "".join(
        f"<tr><td>{html.escape(r['target'])}</td><td>{number(r['value'])}</td>"
        f"<td>{number(r['simulated'])}</td><td>{r['difference_pct']:+.1f}%</td>"
        f"<td>{html.escape(r['how'] or r['source'] or '')}</td></tr>"
        for r in rows
    )
    return (
        "<h2>Out of sample: figures no fit used</h2><p>Error = simulated / figure - 1.</p>"
        "<table><tr><th>figure</th><th>published or derived</th><th>simulated</th>"
        f"<th>error</th><th>source or arithmetic</th></tr>{cells}</table>"
    )


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


def _fitted_toml(profile: Profile, mult: dict[str, tuple[float, float]], meta: dict) -> str:
    lines = [
        f"# Fitted by `caseload calibrate {profile.name}`: multipliers per client group that make "
        "the",
        "# baseline meet the profile's [targets]. load_profile applies them to every run of the",
        "# profile (baseline and measures); delete this file to run the profile as written.",
        "# Inflow: a factor on admission from the inflow pool (the pool itself never changes).",
        "# Exit: a factor on the group's moved_hazard_m and wlz_hazard_m.",
        "[meta]",
    ]
    for k, v in meta.items():
        lines.append(f"{k} = {_toml_value(v)}")
    for code, (a, h) in mult.items():
        lines += [
            "",
            f"[groups.{code}]",
            f'inflow_multiplier = {{ value = {a:.4f}, unit = "factor on admission", source = '
            f'"fitted: caseload calibrate" }}',
            f'exit_multiplier = {{ value = {h:.4f}, unit = "factor on moved and Wlz hazards", '
            f'source = "fitted: caseload calibrate" }}',
        ]
    return "\n".join(lines) + "\n"


def _write_report(
    out_dir: Path,
    name: str,
    table: pl.DataFrame,
    title: str,
    mult: dict,
    meta: dict,
    fitted_text: str | None,
) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    final = Path(out_dir) / f"calibration-{name}-{stamp}"
    n = 1
    while final.exists():
        n += 1
        final = Path(out_dir) / f"calibration-{name}-{stamp}-{n}"
    with atomic_folder(out_dir, final.name, "profile name") as tmp:
        table.write_parquet(tmp / "calibration.parquet")
        table.write_csv(tmp / "calibration.csv")
        (tmp / "calibration.html").write_text(_html(table, title, mult, meta), encoding="utf-8")
        write_json(meta, tmp / "meta.json")
        if fitted_text:
            (tmp / "fitted.toml").write_text(fitted_text, encoding="utf-8")
    return final
