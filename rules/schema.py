"""Measures as data: a measure file names rules; each rule names a primitive and its
parameters (DESIGN section 4). This module reads and validates them against the policy
catalogue and the profile's groups; `rules.compile` turns them into kernel arrays.

A measure file:

    [measure]
    name = "no_ironing"                 # how scenarios and reports call it
    number = 15                          # measure number in its source document
    title = "No more ironing in household help"
    source = "doc:maatregelen-2024, measure 15"

    [[rules]]
    name = "no_ironing"
    primitive = "remove_task"
    moments = ["intake", "reindication", "date"]
    effective_from = "2024-07"
    transition_months = 12              # existing indications keep the task until 2025-07
    scope = { domain = "wmo", products = ["huishouden"] }
    params = { tasks = ["ironing"] }
    source = "doc:maatregelen-2024, measure 15"

Unknown keys, names and out-of-range values are errors naming the file, the key and what
was expected.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.domain import DOMAINS, FLAGS, FREQUENCIES, HO_TASKS, SETTINGS
from engine.errors import InputError
from engine.months import parse_month
from engine.params import Section, load_toml
from rules.policy import Policy

MOMENTS = ["intake", "reindication", "date", "monthly"]

# primitive -> (allowed moments, parameter validator name)
PRIMITIVES = {
    "weekly_cap": {"intake", "reindication"},
    "max_duration": {"intake", "reindication"},
    "remove_task": {"intake", "reindication", "date"},
    "set_frequency": {"intake", "reindication"},
    "review": {"monthly"},
}


@dataclass
class Rule:
    name: str
    primitive: str
    domain: str
    groups: list[str]
    products: list[str]
    settings: list[str]
    steps: dict[str, list[str]]  # product -> step codes in scope
    moments: list[str]
    effective_from: int
    effective_until: int | None
    transition_months: int
    exempt_flags: list[str]
    approved_share: float
    leaves_share: float
    params: dict[str, Any]
    source: str
    measure: str = ""

    @property
    def key(self) -> int:
        """A stable number for the rule's draws: its name, hashed. The same rule meets the
        same luck alone and in a package, whatever its position."""
        return int.from_bytes(hashlib.sha256(self.name.encode()).digest()[:7], "little")


@dataclass
class Measure:
    name: str
    number: int | None
    title: str
    source: str
    path: Path
    rules: list[Rule] = field(default_factory=list)


def measure_path(ref: str | Path, library_dir: Path, base: Path | None = None) -> Path:
    """A measure reference: a path (absolute, or relative to `base`), or a measure name
    in the policy library's measures folder."""
    p = Path(ref)
    candidates = [p] if p.is_absolute() else ([base / p] if base else []) + [p, library_dir / "measures" / p, library_dir / "measures" / f"{ref}.toml"]
    for c in candidates:
        if c.is_file():
            return c
    for f in sorted((library_dir / "measures").glob("*.toml")) if (library_dir / "measures").exists() else []:
        if load_toml(f).get("measure", {}).get("name") == str(ref):
            return f
    known = sorted(f.stem for f in (library_dir / "measures").glob("*.toml")) if (library_dir / "measures").exists() else []
    raise InputError("measures", f"unknown measure {str(ref)!r}", "one of: " + ", ".join(known) + ", or a path to a measure .toml")


def _list(sec: Section, key: str, choices: list[str] | None, default: Any = ...) -> list[str]:
    value = sec.raw(key, default)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
        raise sec.error(key, f"{value!r}", "a list of names")
    if choices is not None:
        for v in value:
            if v not in choices:
                raise sec.error(key, f"unknown name {v!r}", "one of: " + ", ".join(choices))
    return value


def _month(sec: Section, key: str, default: Any = ...) -> int | None:
    value = sec.raw(key, default)
    if value is None:
        return None
    return parse_month(value, f"{sec.file}: key {sec.key(key)}")


def apply_rule_overrides(raw: dict, overrides: dict[str, Any], where: str) -> dict:
    """Override rule keys by `<rule name>.<key>[.<key>]`, e.g. `cap_800.params.cap_eur_w`."""
    raw = copy.deepcopy(raw)
    rules = {r.get("name"): r for r in raw.get("rules", []) if isinstance(r, dict)}
    for name, value in overrides.items():
        parts = name.split(".")
        if parts[0] not in rules:
            raise InputError(where, f"unknown rule {parts[0]!r} in override {name!r}", "one of: " + ", ".join(map(str, rules)))
        node = rules[parts[0]]
        for part in parts[1:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InputError(where, f"override {name!r}: {part} is not a table")
        node[parts[-1]] = value
    return raw


def load_measure(ref: str | Path, policy: Policy, group_domains: dict[str, str], overrides: dict | None = None, base: Path | None = None) -> Measure:
    path = measure_path(ref, policy.path.parent, base)
    raw = load_toml(path)
    if overrides:
        raw = apply_rule_overrides(raw, overrides, f"{path} (override)")
    f = str(path)
    top = Section(raw, f)
    meta = top.section("measure")
    measure = Measure(
        name=meta.text("name"),
        number=meta.number("number", None, lo=0, integer=True),
        title=meta.text("title", ""),
        source=meta.text("source"),
        path=path,
    )
    meta.done()
    rules_raw = top.raw("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise top.error("rules", "no rules", "one or more [[rules]] tables")
    for i, rr in enumerate(rules_raw):
        measure.rules.append(_load_rule(Section(rr, f, f"rules[{i}]"), policy, group_domains, measure.name))
    top.done()
    names = [r.name for r in measure.rules]
    if len(set(names)) != len(names):
        raise top.error("rules", "rule names must be unique within a measure")
    return measure


def _load_rule(sec: Section, policy: Policy, group_domains: dict[str, str], measure: str) -> Rule:
    name = sec.text("name")
    primitive = sec.text("primitive", choices=sorted(PRIMITIVES))
    scope = sec.section("scope")
    domain = scope.text("domain", choices=DOMAINS)
    groups_in = [g for g, d in group_domains.items() if d == domain]
    groups = _list(scope, "groups", groups_in, groups_in)
    products_in = [p.code for p in policy.products if p.domain == domain]
    settings = _list(scope, "settings", SETTINGS, SETTINGS)
    products = _list(scope, "products", products_in, [p for p in products_in if policy.product(p).setting in settings])
    products = [p for p in products if policy.product(p).setting in settings]
    if not products:
        raise scope.error("products", "no product of the domain and settings is in scope")
    all_steps = sorted({s.code for p in products for s in policy.product(p).steps})
    step_list = _list(scope, "steps", all_steps, None) if scope.has("steps") else None
    steps = {p: [s.code for s in policy.product(p).steps if step_list is None or s.code in step_list] for p in products}
    scope.done()
    moments = _list(sec, "moments", MOMENTS)
    bad = [m for m in moments if m not in PRIMITIVES[primitive]]
    if bad:
        raise sec.error("moments", f"{primitive} does not act at {bad[0]!r}", "some of: " + ", ".join(sorted(PRIMITIVES[primitive])))
    eff_from = _month(sec, "effective_from")
    eff_until = _month(sec, "effective_until", None)
    if eff_until is not None and eff_until <= eff_from:
        raise sec.error("effective_until", "ends before it starts", "a month after effective_from")
    transition = sec.number("transition_months", 0, lo=0, hi=600, integer=True)
    if "date" in moments and not sec.has("transition_months"):
        raise sec.error("transition_months", "missing", "the months existing indications keep until the `date` moment")
    exc = sec.section("exceptions", {})
    exempt = _list(exc, "flags", FLAGS, [])
    approved = exc.share("approved_share", 0.0)
    leaves = exc.share("leaves_share", 0.0)
    exc.text("leaves_to", "wlz", choices=["wlz"])
    exc.done()
    params = _load_params(sec.section("params", {}), primitive, policy, products, eff_from)
    source = sec.text("source")
    sec.done()
    return Rule(name, primitive, domain, groups, products, settings, steps, moments, eff_from, eff_until, transition, exempt, approved, leaves, params, source, measure)


def _load_params(ps: Section, primitive: str, policy: Policy, products: list[str], eff_from: int) -> dict:
    out: dict[str, Any] = {}
    ho = [p for p in products if policy.product(p).ho_minutes]
    if primitive == "weekly_cap":
        out["cap_eur_w"] = ps.number("cap_eur_w", lo=0.0)
        out["per"] = ps.text("per", "client", choices=["client"])
        out["indexed"] = ps.boolean("indexed", False)
    elif primitive == "max_duration":
        out["max_months"] = ps.number("max_months", lo=1, hi=600, integer=True)
        out["phase_out_months"] = ps.number("phase_out_months", 12, lo=0, hi=600, integer=True)
        out["end_share"] = ps.share("end_share")
        step_to = ps.raw("step_down_to")
        if not isinstance(step_to, dict):
            raise ps.error("step_down_to", f"{step_to!r}", "a table product = step code")
        out["step_down_to"] = {}
        for prod in products:
            if prod not in step_to:
                raise ps.error("step_down_to", f"no step for product {prod!r}", "a step for every product in scope")
        for prod, code in step_to.items():
            if prod not in products:
                raise ps.error(f"step_down_to.{prod}", f"product {prod!r} is not in the rule's scope", "one of: " + ", ".join(products))
            codes = [s.code for s in policy.product(prod).steps]
            if code not in codes:
                raise ps.error(f"step_down_to.{prod}", f"unknown step {code!r}", "one of: " + ", ".join(codes))
            out["step_down_to"][prod] = code
    elif primitive in ("remove_task", "review"):
        if not ho:
            raise ps.error(None, f"{primitive} needs a household-help product in scope")
        out["tasks"] = _list(ps, "tasks", HO_TASKS)
        if primitive == "review":
            out["window_months"] = ps.number("window_months", lo=1, hi=600, integer=True)
            out["share"] = ps.share("share")
    elif primitive == "set_frequency":
        if not ho:
            raise ps.error(None, "set_frequency needs a household-help product in scope")
        out["frequency"] = ps.text("frequency", choices=FREQUENCIES)
        out["cleaning_minutes"] = ps.number("cleaning_minutes", lo=0, hi=10000, integer=True)
        out["max_cleaning_minutes_w"] = ps.number("max_cleaning_minutes_w", lo=0.0)
        out["require_flags"] = _list(ps, "require_flags", FLAGS, [])
        if out["frequency"] == "biweekly":
            prod = policy.product(ho[0])
            if prod.biweekly_step < 0:
                raise ps.error("frequency", f"product {prod.code} has no biweekly step", "a step with biweekly = true in the policy catalogue")
            vf = prod.steps[prod.biweekly_step].valid_from
            if vf is not None and eff_from < vf:
                raise ps.error("frequency", f"the biweekly step of {prod.code} is valid only from month {vf}", "effective_from on or after the step's valid_from")
    ps.done()
    return out
