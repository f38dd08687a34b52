"""Hand-written SVG charts for the HTML report: no JavaScript, no external files, so a report
opens offline and prints as it looks. Each function returns one `<svg class="chart">`
element; data marks carry the class `mark` (the browser test counts them).

Charts: `line_chart` (series over months), `bar_chart` (grouped bars per category, with
optional interval whiskers), `hbar_chart` (horizontal stacked bars with labels, for
suppressed small cells), `tornado` (low and high around a base value), `waterfall` (a total,
the parts that move it, the new total).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

# Okabe-Ito, readable by people with colour-vision deficiencies; baseline is dark grey.
PALETTE = [
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#8C6D31",
    "#7F7F7F",
    "#332288",
    "#117733",
]
BASELINE = "#8a8f98"
PACKAGE = "#111111"
GRID = "#e3e6ea"
AXIS = "#8a9099"
TEXT = "#2b2f36"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def esc(s) -> str:
    return html.escape(str(s), quote=True)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi == lo:
        hi = lo + 1.0
    span = hi - lo
    raw = span / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks = [round(start, 10)]
    while ticks[-1] < hi - 1e-9 * span:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def fmt_eur(v: float, span: float | None = None, step: float | None = None) -> str:
    """Compact euro amounts: EUR 1.2 m, EUR 350 k. `span` (the largest magnitude shown beside
    it) picks the unit; `step` (between axis ticks) picks the decimals, so ticks differ."""
    if v == 0:
        return "\u20ac0"
    a = abs(v) if span is None else span
    sign = "-" if v < 0 else ""
    v = abs(v)
    unit, suffix = next(
        (u, s) for u, s in ((1e9, " bn"), (1e6, " m"), (1e3, " k"), (1.0, "")) if a >= u or u == 1.0
    )
    if step:
        d = next(
            (k for k in range(4) if abs(round(step / unit * 10**k) - step / unit * 10**k) < 1e-6), 3
        )
    elif unit == 1e6:
        d = 0 if a >= 1e8 else (1 if a >= 1e7 else 2)
    elif unit == 1e9:
        d = 1
    else:
        d = 0
    return f"{sign}\u20ac{v / unit:,.{d}f}{suffix}"


def fmt_int(v: float, span: float | None = None, step: float | None = None) -> str:
    if step and step < 1:
        # the fewest decimals (at most 3) that show the step exactly
        d = next((k for k in range(4) if abs(round(step * 10**k) - step * 10**k) < 1e-6), 3)
        return f"{v:,.{d}f}"
    return f"{v:,.0f}"


def _step(ticks: list[float]) -> float | None:
    return ticks[1] - ticks[0] if len(ticks) > 1 else None


@dataclass
class Series:
    name: str
    values: list[float | None]
    color: str
    width: float = 2.0
    dash: str | None = None


def _svg_open(w: int, h: int, label: str) -> list[str]:
    return [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" '
        f'height="{h}" role="img" aria-label="{esc(label)}" '
        f'font-family="{FONT}" font-size="12" fill="{TEXT}">',
        f"<title>{esc(label)}</title>",
    ]


def _y_axis(out: list[str], ticks: list[float], y_of, left: float, right: float, fmt) -> None:
    span = max(abs(ticks[0]), abs(ticks[-1]))
    step = _step(ticks)
    for t in ticks:
        y = y_of(t)
        out.append(
            f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID if t != 0 else AXIS}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="#5b616b">{esc(fmt(t, span, step))}</text>'
        )


def line_chart(
    series: list[Series],
    x_labels: list[str],
    label: str,
    fmt=fmt_eur,
    width: int = 760,
    height: int = 300,
    zero: bool = True,
) -> str:
    """Lines over a shared x axis of months ('YYYY-MM'); a tick at each January."""
    left, right, top, bottom = 78, width - 16, 14, height - 34
    vals = [v for s in series for v in s.values if v is not None]
    if not vals or not x_labels:
        return ""
    lo = min(0.0, min(vals)) if zero else min(vals)
    hi = max(vals)
    ticks = nice_ticks(lo, hi)
    ylo, yhi = ticks[0], ticks[-1]
    n = len(x_labels)

    def x_of(i):
        return left + (right - left) * (i / max(n - 1, 1))

    def y_of(v):
        return bottom - (bottom - top) * ((v - ylo) / (yhi - ylo))

    out = _svg_open(width, height, label)
    _y_axis(out, ticks, y_of, left, right, fmt)
    for i, lab in enumerate(x_labels):
        if lab.endswith("-01") or (i == 0 and n < 13):
            x = x_of(i)
            out.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 5}" stroke="{AXIS}"/>'
            )
            out.append(
                f'<text x="{x:.1f}" y="{bottom + 19}" text-anchor="middle" '
                f'fill="#5b616b">{esc(lab[:4] if lab.endswith("-01") else lab)}</text>'
            )
    out.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="{AXIS}"/>')
    for s in series:
        pts = [(x_of(i), y_of(v)) for i, v in enumerate(s.values) if v is not None]
        if not pts:
            continue
        d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        out.append(
            f'<path class="mark" d="{d}" fill="none" stroke="{s.color}" stroke-width="{s.width}" '
            f'stroke-linejoin="round" stroke-linecap="round"{dash}>'
            f"<title>{esc(s.name)}</title></path>"
        )
    out.append("</svg>")
    return "".join(out)


def bar_chart(
    categories: list[str],
    groups: list[
        tuple[str, str, list[float | None], list[float | None] | None, list[float | None] | None]
    ],
    label: str,
    fmt=fmt_eur,
    width: int = 760,
    height: int = 320,
) -> str:
    """Grouped bars: for each category (e.g. a budget year) one bar per group (name, colour,
    values, interval low, interval high); whiskers where an interval is given."""
    left, right, top, bottom = 78, width - 16, 16, height - 34
    vals = [
        v
        for _, _, vs, lo, hi in groups
        for arr in (vs, lo or [], hi or [])
        for v in arr
        if v is not None
    ]
    if not vals or not categories:
        return ""
    ticks = nice_ticks(min(0.0, min(vals)), max(0.0, max(vals)))
    ylo, yhi = ticks[0], ticks[-1]

    def y_of(v):
        return bottom - (bottom - top) * ((v - ylo) / (yhi - ylo))

    out = _svg_open(width, height, label)
    _y_axis(out, ticks, y_of, left, right, fmt)
    slot = (right - left) / len(categories)
    inner = slot * 0.78
    bw = inner / max(len(groups), 1)
    span = max(abs(ylo), abs(yhi))
    for ci, cat in enumerate(categories):
        x0 = left + ci * slot + (slot - inner) / 2
        out.append(
            f'<text x="{left + ci * slot + slot / 2:.1f}" y="{bottom + 19}" text-anchor="middle" '
            f'fill="#5b616b">{esc(cat)}</text>'
        )
        for gi, (name, color, vs, lo, hi) in enumerate(groups):
            v = vs[ci]
            if v is None:
                continue
            x = x0 + gi * bw
            y1, y2 = sorted((y_of(0), y_of(v)))
            h = max(y2 - y1, 0.8)
            tip = f"{name}, {cat}: {fmt(v, span)}"
            if lo and hi and lo[ci] is not None and hi[ci] is not None:
                tip += f" (5-95%: {fmt(lo[ci], span)} to {fmt(hi[ci], span)})"
            out.append(
                f'<rect class="mark" x="{x + 1:.1f}" y="{y1:.1f}" width="{max(bw - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="{color}" rx="1.5"><title>{esc(tip)}</title></rect>'
            )
            if lo and hi and lo[ci] is not None and hi[ci] is not None and hi[ci] != lo[ci]:
                xm = x + bw / 2
                ya, yb = y_of(lo[ci]), y_of(hi[ci])
                out.append(
                    f'<path d="M{xm:.1f},{ya:.1f} V{yb:.1f} M{xm - 4:.1f},{ya:.1f} H{xm + 4:.1f} '
                    f'M{xm - 4:.1f},{yb:.1f} H{xm + 4:.1f}" stroke="#222" stroke-width="1.2" '
                    'fill="none"/>'
                )
    out.append(
        f'<line x1="{left}" x2="{right}" y1="{y_of(0):.1f}" y2="{y_of(0):.1f}" stroke="{AXIS}"/>'
    )
    out.append("</svg>")
    return "".join(out)


def hbar_chart(
    rows: list[tuple[str, list[float | None]]],
    parts: list[tuple[str, str]],
    label: str,
    fmt=fmt_int,
    width: int = 760,
    suppressed_text: str = "<10",
) -> str:
    """Horizontal stacked bars, one row per label; `parts` are (name, colour) of the stacked
    segments. A None value is a suppressed cell: no bar, the text '<10' instead."""
    if not rows:
        return ""
    left, right, top = 120, width - 150, 8
    rh = 26
    height = top + rh * len(rows) + 30
    totals = [sum(v for v in vs if v is not None) for _, vs in rows]
    hi = max(totals) if totals and max(totals) > 0 else 1.0
    ticks = nice_ticks(0, hi, 4)
    xmax = ticks[-1]

    def x_of(v):
        return left + (right - left) * (v / xmax)

    out = _svg_open(width, height, label)
    bottom = top + rh * len(rows)
    for t in ticks:
        x = x_of(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" stroke="{GRID}"/>')
        out.append(
            f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" '
            f'fill="#5b616b">{esc(fmt(t, None, _step(ticks)))}</text>'
        )
    for ri, (name, vs) in enumerate(rows):
        y = top + ri * rh
        out.append(
            f'<text x="{left - 8}" y="{y + rh / 2 + 4:.1f}" text-anchor="end">{esc(name)}</text>'
        )
        x = left
        notes = []
        for (pname, color), v in zip(parts, vs, strict=True):
            if v is None:
                notes.append(f"{pname.split()[-1]} {suppressed_text}")
                continue
            w = x_of(v) - left
            if w > 0:
                out.append(
                    f'<rect class="mark" x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{rh - 8}" '
                    f'fill="{color}"><title>{esc(f"{name}, {pname}: {fmt(v)}")}</title></rect>'
                )
            x += w
        total = sum(v for v in vs if v is not None)
        txt = fmt(total) if any(v is not None for v in vs) else ""
        if notes:
            txt = f"{txt} ({', '.join(notes)})" if txt else ", ".join(notes)
        out.append(
            f'<text x="{x + 6:.1f}" y="{y + rh / 2 + 4:.1f}" fill="#5b616b">{esc(txt)}</text>'
        )
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}" stroke="{AXIS}"/>')
    out.append("</svg>")
    return "".join(out)


def tornado(
    rows: list[tuple[str, float, float, str, str]],
    base: float,
    label: str,
    fmt=fmt_eur,
    width: int = 760,
) -> str:
    """One row per parameter, sorted by the caller (largest swing first): a bar from the base
    saving to the saving at the low value (upper half of the row) and one to the saving at the
    high value (lower half), so both show when they lie on the same side."""
    if not rows:
        return ""
    left, right, top = 330, width - 44, 24
    rh = 34
    height = top + rh * len(rows) + 30
    vals = [base] + [v for _, lo, hi, _, _ in rows for v in (lo, hi)]
    ticks = nice_ticks(min(vals), max(vals), 5)
    xlo, xhi = ticks[0], ticks[-1]
    span = max(abs(xlo), abs(xhi))
    step = _step(ticks)

    def x_of(v):
        return left + (right - left) * ((v - xlo) / (xhi - xlo))

    out = _svg_open(width, height, label)
    bottom = top + rh * len(rows)
    for t in ticks:
        x = x_of(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" stroke="{GRID}"/>')
        out.append(
            f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" '
            f'fill="#5b616b">{esc(fmt(t, span, step))}</text>'
        )
    fine = step / 10 if step else None
    for ri, (name, lo, hi, lo_txt, hi_txt) in enumerate(rows):
        y = top + ri * rh
        out.append(
            f'<text x="{left - 8}" y="{y + rh / 2 + 4:.1f}" text-anchor="end">{esc(name)}</text>'
        )
        half = (rh - 8) / 2
        for k, (v, color, txt) in enumerate(((lo, PALETTE[4], lo_txt), (hi, PALETTE[5], hi_txt))):
            x1, x2 = sorted((x_of(base), x_of(v)))
            out.append(
                f'<rect class="mark" x="{x1:.1f}" y="{y + 4 + k * half:.1f}" '
                f'width="{max(x2 - x1, 1):.1f}" height="{half:.1f}" fill="{color}">'
                f"<title>{esc(f'{name} = {txt}: saving {fmt(v, span, fine)}')}</title></rect>"
            )
    xb = x_of(base)
    out.append(
        f'<line x1="{xb:.1f}" x2="{xb:.1f}" y1="{top - 6}" y2="{bottom}" stroke="{TEXT}" '
        'stroke-width="1.5"/>'
    )
    out.append(
        f'<text x="{xb:.1f}" y="{top - 10}" text-anchor="middle" font-weight="600">base '
        f"{esc(fmt(base, span, fine))}</text>"
    )
    out.append("</svg>")
    return "".join(out)


UP = "#D55E00"  # a part that raises cost
DOWN = "#009E73"  # a part that lowers it


def waterfall(
    start: tuple[str, float],
    parts: list[tuple[str, float]],
    end: tuple[str, float],
    label: str,
    fmt=fmt_eur,
    width: int = 540,
    height: int = 260,
) -> str:
    """A total, the parts that move it (floating bars from the running level: up in
    vermillion, down in green, a hairline for 0; dashed connectors; each part labelled in
    its own unit, so a small one does not read as 0) and the new total (grey). When every level
    lies far from zero the axis starts near the lowest level (the tick labels say where),
    so that parts of a few percent stay visible."""
    left, right, top, bottom = 78, width - 12, 22, height - 34
    levels = [start[1]]
    for _, v in parts:
        levels.append(levels[-1] + v)
    lo, hi = min([*levels, end[1]]), max([*levels, end[1]])
    if lo > 0 and hi > 0 and (hi - lo) < 0.6 * hi:
        pad = max((hi - lo) * 0.15, abs(hi) * 0.01)
        ticks = nice_ticks(lo - pad, hi + pad)
    else:
        ticks = nice_ticks(min(0.0, lo), max(0.0, hi))
    ylo, yhi = ticks[0], ticks[-1]
    span = max(abs(ylo), abs(yhi))

    def y_of(v):
        return bottom - (bottom - top) * ((v - ylo) / (yhi - ylo))

    out = _svg_open(width, height, label)
    _y_axis(out, ticks, y_of, left, right, fmt)
    bars = [(start[0], ylo if ylo > 0 else 0.0, start[1], BASELINE, fmt(start[1], span))]
    for (name, v), a, b in zip(parts, levels[:-1], levels[1:], strict=True):
        bars.append(
            (name, a, b, UP if v > 0 else DOWN if v < 0 else AXIS, ("+" if v > 0 else "") + fmt(v))
        )
    bars.append((end[0], ylo if ylo > 0 else 0.0, end[1], BASELINE, fmt(end[1], span)))
    slot = (right - left) / len(bars)
    bw = slot * 0.62
    for i, (name, a, b, color, txt) in enumerate(bars):
        x = left + i * slot + (slot - bw) / 2
        y1, y2 = sorted((y_of(a), y_of(b)))
        out.append(
            f'<rect class="mark" x="{x:.1f}" y="{y1:.1f}" width="{bw:.1f}" '
            f'height="{max(y2 - y1, 0.8):.1f}" fill="{color}" '
            f'rx="1.5"><title>{esc(f"{name}: {txt}")}</title></rect>'
        )
        out.append(
            f'<text x="{x + bw / 2:.1f}" y="{y1 - 5:.1f}" text-anchor="middle" '
            f'font-size="11">{esc(txt)}</text>'
        )
        out.append(
            f'<text x="{x + bw / 2:.1f}" y="{bottom + 19}" text-anchor="middle" '
            f'fill="#5b616b">{esc(name)}</text>'
        )
        if 0 < i < len(bars) - 1 or i == 0:
            nxt = x + slot
            level = b
            out.append(
                f'<line x1="{x + bw:.1f}" x2="{nxt:.1f}" y1="{y_of(level):.1f}" '
                f'y2="{y_of(level):.1f}" stroke="{AXIS}" stroke-dasharray="3 3"/>'
            )
    out.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="{AXIS}"/>')
    out.append("</svg>")
    return "".join(out)
