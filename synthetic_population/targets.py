"""A profile's targets: figures a baseline must reproduce (clients served or gross cost in a
period, for a domain, a group or a product), read from the profile's [targets] and checked
and fitted by `caseload calibrate` (synthetic_population.calibration)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.core.domain import DOMAINS
from engine.core.errors import InputError
from engine.core.sourced import Section
from rules.policy import Policy

if TYPE_CHECKING:
    from synthetic_population.profile import Group

TARGET_METRICS = ["clients_served", "gross_eur"]
_PERIOD_RE = re.compile(r"^(\d{4})(H[12])?$")


@dataclass(frozen=True)
class Target:
    """A figure a baseline must reproduce: a metric in a period (`2024H1` or `2024`) for a
    domain, optionally one group or one product, with a `value` and relative `tolerance`
    and/or a `min` / `max` bound. Targets without period and domain (the old form) are kept
    for reference and not checked."""

    name: str
    value: float | None = None
    tolerance: float = 0.05
    min: float | None = None
    max: float | None = None
    metric: str = "clients_served"
    period: str | None = None
    domain: str | None = None
    group: str | None = None
    product: str | None = None
    fit: bool = True
    source: str = ""
    unit: str = ""

    @property
    def declarative(self) -> bool:
        return self.period is not None and self.domain is not None

    @property
    def bounds(self) -> tuple[float, float]:
        """The accepted range: value +/- tolerance, intersected with min and max."""
        lo, hi = -float("inf"), float("inf")
        if self.value is not None:
            lo, hi = self.value * (1 - self.tolerance), self.value * (1 + self.tolerance)
        if self.min is not None:
            lo = max(lo, self.min)
        if self.max is not None:
            hi = min(hi, self.max)
        return lo, hi

    def passes(self, simulated: float) -> bool:
        lo, hi = self.bounds
        return lo <= simulated <= hi

    def figure(self, joiner: str = " and ") -> str:
        """The target as people read it: '37,000 +/- 5%', '>= 40,000'."""
        parts = []
        if self.value is not None:
            parts.append(f"{self.value:,.0f} +/- {self.tolerance:.0%}")
        if self.min is not None:
            parts.append(f">= {self.min:,.0f}")
        if self.max is not None:
            parts.append(f"<= {self.max:,.0f}")
        return joiner.join(parts)

    def describe(self) -> str:
        scope = "/".join(x for x in (self.domain, self.group, self.product) if x)
        return f"{self.metric} {scope} {self.period}: {self.figure()}"


def parse_targets(top: Section, f: str, groups: list[Group], policy: Policy) -> dict[str, Target]:
    """The profile's [targets]: a plain number is a reference figure; a table is a target
    the calibration can check and fit."""
    raw_targets = top.raw("targets", {})
    if not isinstance(raw_targets, dict):
        raise top.error("targets", f"is {type(raw_targets).__name__}", "a table of targets")
    group_domain = {g.code: g.domain for g in groups}
    targets = {}
    for tname, tval in raw_targets.items():
        if isinstance(tval, bool) or not isinstance(tval, (int, float, dict)):
            raise InputError(
                f"{f}: key targets.{tname}",
                f"{tval!r}",
                "a number or { period, domain, value | min | max, ... }",
            )
        if not isinstance(tval, dict):
            targets[tname] = Target(tname, value=float(tval), fit=False)
            continue
        targets[tname] = _parse_target(tname, tval, f, group_domain, policy)
    return targets


def _parse_target(
    tname: str, tval: dict, f: str, group_domain: dict[str, str], policy: Policy
) -> Target:
    """One target table: its figure, then its scope, which must name things the profile
    and the policy have."""
    ts = Section(tval, f, f"targets.{tname}")
    kw = _target_figure(ts)
    kw["metric"] = ts.text("metric", "clients_served", choices=TARGET_METRICS)
    period, domain, group, product = _target_scope(ts, group_domain, policy)
    if kw["metric"] == "gross_eur" and period is not None and "H" in period:
        raise ts.error("period", f"{period!r}", "a budget year for gross_eur")
    fit = ts.boolean("fit", period is not None and kw["metric"] == "clients_served")
    if fit and period is None:
        raise ts.error("fit", "a target without period and domain cannot be fitted")
    for k in ("source", "unit", "how", "note", "line"):
        ts.raw(k, None)
    ts.done()
    return Target(
        tname,
        period=period,
        domain=domain,
        group=group,
        product=product,
        fit=fit,
        source=str(tval.get("source", "")),
        unit=str(tval.get("unit", "")),
        **kw,
    )


def _target_figure(ts: Section) -> dict:
    """value (with a tolerance), min and/or max, as Target's keywords; a tolerance without
    a value loosens the bounds, so that a bound is checked as leniently as a value."""
    kw = {}
    for key in ("value", "min", "max"):
        if ts.has(key):
            kw[key] = ts.number(key, lo=0.0)
    if not kw:
        raise ts.error(None, "no figure", "value (with tolerance), min or max")
    kw["tolerance"] = ts.number("tolerance", 0.05 if "value" in kw else 0.0, lo=0.0, hi=1.0)
    if "value" not in kw and kw["tolerance"]:
        # a tolerance on a bound loosens it
        kw["min"] = kw["min"] * (1 - kw["tolerance"]) if "min" in kw else None
        kw["max"] = kw["max"] * (1 + kw["tolerance"]) if "max" in kw else None
    return kw


def _target_scope(
    ts: Section, group_domain: dict[str, str], policy: Policy
) -> tuple[str | None, str | None, str | None, str | None]:
    """period and domain (both, or neither for a reference figure), and optionally one
    group or one product of that domain. Returns (period, domain, group, product)."""
    period = ts.raw("period", None)
    if period is not None and (not isinstance(period, str) or not _PERIOD_RE.match(period)):
        raise ts.error("period", f"{period!r}", "a year '2024' or a half-year '2024H1'")
    domain = ts.raw("domain", None)
    if domain is not None and domain not in DOMAINS:
        raise ts.error("domain", f"unknown value {domain!r}", "one of: " + ", ".join(DOMAINS))
    if (period is None) != (domain is None):
        raise ts.error(
            "period" if period is None else "domain",
            "missing",
            "both period and domain (or neither, for a reference figure)",
        )
    group = ts.raw("group", None)
    if group is not None and group_domain.get(group) != domain:
        raise ts.error(
            "group",
            f"{group!r}",
            f"a group of domain {domain}: "
            + ", ".join(c for c, d in group_domain.items() if d == domain),
        )
    product = ts.raw("product", None)
    if product is not None:
        if product not in policy.product_codes or policy.product(product).domain != domain:
            raise ts.error(
                "product",
                f"{product!r}",
                f"a product of domain {domain}: "
                + ", ".join(p.code for p in policy.products if p.domain == domain),
            )
        if group is not None:
            raise ts.error("product", "a target names a group or a product, not both")
    return period, domain, group, product
