"""A profile's targets: figures a baseline must reproduce (clients served or gross cost in a
period, for a domain, a group or a product), read from the profile's [targets] and checked
and fitted by `caseload calibrate` (engine.simulation.calibration)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.core.domain import DOMAINS
from engine.core.errors import InputError
from engine.core.sourced import Section
from rules.policy import Policy

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
    # the products the figure counts (one `product`, a list `products`, or the products of an
    # IV3 task field `iv3`); None: every product of the domain
    products: tuple[str, ...] | None = None
    scope_label: str = ""  # how the report names a product scope: a product, "iv3 6.71", ...
    # a growth figure: the metric in `period` divided by the metric in `base_period`
    base_period: str | None = None
    how: str = ""  # the arithmetic of a derived figure

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
        """The target as people read it: '37,000 +/- 5%', '>= 40,000', '1.020 +/- 2%'."""
        parts = []
        if self.value is not None:
            parts.append(f"{number(self.value)} +/- {self.tolerance:.0%}")
        if self.min is not None:
            parts.append(f">= {number(self.min)}")
        if self.max is not None:
            parts.append(f"<= {number(self.max)}")
        return joiner.join(parts)

    def describe(self) -> str:
        scope = "/".join(x for x in (self.domain, self.group, self.scope_label) if x)
        per = f"{self.period}/{self.base_period}" if self.base_period else self.period
        return f"{self.metric} {scope} {per}: {self.figure()}"


def number(v: float) -> str:
    """A figure as the report prints it: whole numbers with thousands separators; a ratio
    (a growth figure, below 10) with three decimals."""
    return f"{v:,.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:.3f}"


def parse_targets(
    top: Section, f: str, group_domain: dict[str, str], policy: Policy
) -> dict[str, Target]:
    """The profile's [targets]: a plain number is a reference figure; a table is a target
    the calibration can check and fit. `group_domain`: each client group's domain, by code."""
    raw_targets = top.raw("targets", {})
    if not isinstance(raw_targets, dict):
        raise top.error("targets", f"is {type(raw_targets).__name__}", "a table of targets")
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
    products, label = _target_products(ts, domain, group, product, policy)
    if kw["metric"] == "gross_eur" and period is not None and "H" in period:
        raise ts.error("period", f"{period!r}", "a budget year for gross_eur")
    base = ts.raw("base_period", None)
    if base is not None and (
        period is None or not isinstance(base, str) or not _PERIOD_RE.match(base) or base == period
    ):
        raise ts.error(
            "base_period", f"{base!r}", "a year or half-year other than period (a growth figure)"
        )
    fit = ts.boolean(
        "fit", period is not None and kw["metric"] == "clients_served" and base is None
    )
    if fit and (period is None or base is not None):
        raise ts.error("fit", "only a level with period and domain can be fitted")
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
        products=products,
        scope_label=label,
        base_period=base,
        how=str(tval.get("how", "")),
        **kw,
    )


def _target_products(
    ts: Section, domain: str | None, group: str | None, product: str | None, policy: Policy
) -> tuple[tuple[str, ...] | None, str]:
    """The products a target counts: `product`, a list `products`, or `iv3` (every product
    of the domain booked under that task field); at most one of the three."""
    given = [k for k in ("product", "products", "iv3") if ts.has(k)]
    if len(given) > 1:
        raise ts.error(given[1], f"with {given[0]}", "one of product, products or iv3")
    if product is not None:
        return (product,), product
    own = [p for p in policy.products if p.domain == domain]
    if ts.has("products"):
        codes = ts.raw("products")
        names = [p.code for p in own]
        if not isinstance(codes, list) or not codes or any(c not in names for c in codes):
            expected = f"a list of products of domain {domain}: " + ", ".join(names)
            raise ts.error("products", f"{codes!r}", expected)
        label = "+".join(codes) if len(codes) <= 2 else f"{codes[0]} +{len(codes) - 1} products"
        return tuple(codes), label
    if ts.has("iv3"):
        field = ts.raw("iv3")
        codes = tuple(p.code for p in own if p.iv3 == field)
        if not codes:
            fields = sorted({p.iv3 for p in own})
            expected = f"a task field of domain {domain}: " + ", ".join(fields)
            raise ts.error("iv3", f"{field!r}", expected)
        return codes, f"iv3 {field}"
    return None, ""


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
    if product is not None and (
        product not in policy.product_codes or policy.product(product).domain != domain
    ):
        raise ts.error(
            "product",
            f"{product!r}",
            f"a product of domain {domain}: "
            + ", ".join(p.code for p in policy.products if p.domain == domain),
        )
    if group is not None and (product is not None or ts.has("products") or ts.has("iv3")):
        raise ts.error("group", "a target names a group or products, not both")
    return period, domain, group, product
