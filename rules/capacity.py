"""Capacity as data: the places (or weekly hours) of capacity-bound products per month, in the
policy library, and the measures that change them.

In a policy library (`baseline.toml`), one table per capacity-bound product:

    [waiting]
    norm_weeks = { value = 8, unit = "weeks", source = "..." }   # the legal yardstick

    [capacity.beschermd_wonen]
    unit = "places"                    # places | hours_w (weekly hours of care)
    places = { value = { "2024-01" = 1900, "2025-01" = 1800 }, source = "..." }
    interim = { value = { product = "begeleiding", step = "beg4" }, source = "..." }
    urgent_flags = { value = ["homeless", "domestic_violence"], source = "..." }
    factor = { value = 1.0, source = "engine" }   # a multiplier on every month (sensitivity)

A capacity is a number, `"unlimited"`, or a table of months (`"YYYY-MM" = n`: from that
month on; before the first, the first). `districts = { "3" = 120, ... }` instead of
`places` / `hours_w` gives each listed district a pool of its own. `hours_w` counts an
arrangement's weekly minutes (household help) or its weekly amount / `hourly_eur`.

In a measure file, `[[capacity]]` tables change a product's capacity from a month, in scenario
order after the library's: `places` / `hours_w` (the capacity from then on), `factor` (times)
or `change` (plus), optionally for one `district` and until `effective_until`.

A run uses capacity only when asked (`capacity = true` in a scenario, `caseload run
--capacity`); the engine side is engine.model.capacity and engine.model.month_outer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.core.domain import FLAGS
from engine.core.months import parse_month
from engine.core.sourced import Section

UNITS = ("places", "hours_w")
UNLIMITED = math.inf
NORM_WEEKS = 8.0  # without [waiting]: Wmo 2015, investigation 6 weeks + decision 2 weeks


@dataclass(frozen=True)
class Capacity:
    product: str
    unit: str  # places | hours_w
    # district (0: the product's one pool, every district) -> ((month, capacity), ...) by month
    schedule: dict[int, tuple[tuple[int, float], ...]]
    interim_product: str
    interim_step: str
    urgent_flags: tuple[str, ...]
    hourly_eur: float | None
    factor: float

    def at(self, district: int, month: int) -> float:
        """The library's capacity of a pool in a month (before any measure), times `factor`."""
        points = self.schedule[district]
        value = points[0][1]
        for m, v in points:
            if m <= month:
                value = v
        return value * self.factor


@dataclass(frozen=True)
class CapacityChange:
    """A measure's change of a product's capacity from `effective_from` (until
    `effective_until`, exclusive): exactly one of `value`, `factor`, `change`."""

    name: str
    product: str
    effective_from: int
    effective_until: int | None
    value: float | None
    factor: float | None
    change: float | None
    district: int | None
    source: str
    measure: str = ""

    def apply(self, capacity: float, month: int) -> float:
        if month < self.effective_from or (
            self.effective_until is not None and month >= self.effective_until
        ):
            return capacity
        if self.value is not None:
            return self.value
        if self.factor is not None:
            return capacity * self.factor
        return max(0.0, capacity + self.change)


def _amount(sec: Section, key: str, value, where: str) -> float:
    if value == "unlimited":
        return UNLIMITED
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise sec.error(where, f"{value!r}", 'a capacity >= 0 or "unlimited"')
    return float(value)


def _schedule(sec: Section, key: str, value) -> tuple[tuple[int, float], ...]:
    """A number, "unlimited", or a table of months -> capacity, sorted by month."""
    if not isinstance(value, dict):
        return ((-(10**9), _amount(sec, key, value, key)),)
    if not value:
        raise sec.error(key, "an empty table", 'months "YYYY-MM" = capacity')
    points = [
        (
            parse_month(m, f"{sec.file}: key {sec.key(f'{key}.{m}')}"),
            _amount(sec, key, v, f"{key}.{m}"),
        )
        for m, v in value.items()
    ]
    return tuple(sorted(points))


def read_capacity(top: Section, products: dict) -> tuple[dict[str, Capacity], float]:
    """A library's [capacity.<product>] tables and [waiting] norm_weeks (`products`: code ->
    rules.policy.Product, for the checks)."""
    waiting = top.section("waiting", {})
    norm = waiting.number("norm_weeks", NORM_WEEKS, lo=0.0, hi=520.0)
    waiting.done()
    sec = top.section("capacity", {})
    out = {}
    for code in sec.data:
        if code not in products:
            raise sec.error(code, f"unknown product {code!r}", "one of: " + ", ".join(products))
        out[code] = _read_one(sec.section(code), code, products)
    for code, c in out.items():
        if c.interim_product in out:
            raise sec.error(
                f"{code}.interim.product",
                f"{c.interim_product!r} is capacity-bound itself",
                "a product without capacity (a waiting client gets it at once)",
            )
    return out, norm


def _read_one(cs: Section, code: str, products: dict) -> Capacity:
    unit = cs.text("unit", "places", choices=list(UNITS))
    if cs.has("districts"):
        raw = cs.raw("districts")
        if not isinstance(raw, dict) or not raw:
            raise cs.error("districts", f"{raw!r}", "a table district = capacity")
        schedule = {}
        for d, v in raw.items():
            if not str(d).isdigit() or not 1 <= int(d) <= 255:
                raise cs.error(f"districts.{d}", f"{d!r} is not a district", "a number 1..255")
            schedule[int(d)] = _schedule(cs, f"districts.{d}", v)
    else:
        schedule = {0: _schedule(cs, unit, cs.raw(unit))}
    interim = cs.raw("interim")
    isec = Section(interim, cs.file, cs.key("interim"))
    iprod = isec.text("product", choices=list(products))
    ip = products[iprod]
    istep = isec.text("step", choices=[s.code for s in ip.steps])
    isec.done()
    p = products[code]
    if iprod == code or ip.domain != p.domain or ip.ho_minutes:
        raise cs.error(
            "interim.product",
            f"{iprod!r}",
            f"another {p.domain} product without household-help minutes",
        )
    flags = cs.raw("urgent_flags", [])
    if not isinstance(flags, list) or any(f not in FLAGS for f in flags):
        raise cs.error("urgent_flags", f"{flags!r}", "a list of: " + ", ".join(FLAGS))
    hourly = cs.number("hourly_eur", None, lo=0.01) if cs.has("hourly_eur") else None
    if unit == "hours_w" and hourly is None and not p.ho_minutes:
        raise cs.error("hourly_eur", "missing", "EUR an hour, to count an arrangement's hours")
    factor = cs.number("factor", 1.0, lo=0.0)
    cs.done()
    return Capacity(code, unit, schedule, iprod, istep, tuple(flags), hourly, factor)


def read_capacity_change(
    sec: Section, capacity: dict[str, Capacity], measure: str
) -> CapacityChange:
    """One [[capacity]] table of a measure file."""
    name = sec.text("name")
    product = sec.text("product")
    if product not in capacity:
        raise sec.error(
            "product",
            f"{product!r} has no capacity in the policy library",
            "one of: " + (", ".join(capacity) or "(none: the library has no [capacity])"),
        )
    cap = capacity[product]
    keys = [k for k in (cap.unit, "factor", "change") if sec.has(k)]
    if len(keys) != 1:
        raise sec.error(
            cap.unit, f"{len(keys)} of {cap.unit}, factor, change", "exactly one of them"
        )
    value = _amount(sec, cap.unit, sec.raw(cap.unit), cap.unit) if sec.has(cap.unit) else None
    factor = sec.number("factor", None, lo=0.0) if sec.has("factor") else None
    change = sec.number("change", None) if sec.has("change") else None
    frm = parse_month(sec.raw("effective_from"), f"{sec.file}: key {sec.key('effective_from')}")
    until = sec.raw("effective_until", None)
    until = (
        parse_month(until, f"{sec.file}: key {sec.key('effective_until')}")
        if until is not None
        else None
    )
    if until is not None and until <= frm:
        raise sec.error("effective_until", "ends before it starts", "a month after effective_from")
    district = (
        sec.number("district", None, lo=1, hi=255, integer=True) if sec.has("district") else None
    )
    if district is not None and district not in cap.schedule:
        raise sec.error(
            "district", f"{district}", "a district with a pool of its own in the library"
        )
    source = sec.text("source")
    sec.done()
    return CapacityChange(
        name, product, frm, until, value, factor, change, district, source, measure
    )
