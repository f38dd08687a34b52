"""The HTML report's building blocks: numbers as the report shows them, a table, a legend,
a figure, a row of key figures. The report's pages (engine.reports.html) and sections
(html_sections, waiting_report, html_decomposition) are made of these."""

from __future__ import annotations

from engine.reports.charts import esc
from engine.reports.sheet import SMALL_CELL, SUPPRESSED


def eur(v) -> str:
    return "" if v is None else f"{v:,.0f}"


def count(v) -> str:
    if v is None:
        return ""
    n = int(round(v))
    return SUPPRESSED if n < SMALL_CELL else f"{n:,}"


def legend(items: list[tuple[str, str, bool]]) -> str:
    """(name, colour, box?)"""
    return (
        '<div class="legend">'
        + "".join(
            f'<span><i class="{"box" if box else ""}" style="background:{c}"></i>{esc(n)}</span>'
            for n, c, box in items
        )
        + "</div>"
    )


def table(
    headers: list[str], rows: list[list], numeric: set[int] = frozenset(), total_last: bool = False
) -> str:
    out = ["<table><thead><tr>"]
    out += [
        f'<th class="{"n" if i in numeric else ""}">{esc(h)}</th>' for i, h in enumerate(headers)
    ]
    out.append("</tr></thead><tbody>")
    for ri, r in enumerate(rows):
        cls = ' class="total"' if total_last and ri == len(rows) - 1 else ""
        out.append(
            f"<tr{cls}>"
            + "".join(
                f'<td class="{"n" if i in numeric else ""}">{esc(v)}</td>' for i, v in enumerate(r)
            )
            + "</tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def figure(title: str, svg: str, legend: str = "") -> str:
    if not svg:
        return ""
    return f"<figure><figcaption>{esc(title)}</figcaption>{legend}{svg}</figure>"


def kpis(items: list[tuple[str, str]]) -> str:
    return (
        '<div class="kpis">'
        + "".join(
            f'<div class="kpi"><div class="v">{esc(v)}</div><div class="l">{esc(k)}</div></div>'
            for k, v in items
        )
        + "</div>"
    )
