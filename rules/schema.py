"""Measures as data: a measure file names rules; each rule names a primitive and its
parameters. This module reads and validates them against the policy catalogue, the profile's
groups and the primitive's declared parameters (engine.model.primitives: the registry);
`engine.model.params` turns them into kernel arrays.

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

A figure the source does not give is an **assumption**, written where the figure goes as a
table with its range and basis (unwrapped here: the rule sees `value`; `Measure.assumptions`
keeps the rest, which `caseload sensitivity --from-measures` varies):

    params = { end_share = { value = 0.35, low = 0.2, high = 0.5, source = "assumption",
               basis = "expert range, no source" } }
    exceptions = { leaves_share = { value = 0.3, low = 0.15, high = 0.5, basis = "..." } }

`low` and `high` are the weaker and the stronger effect of the measure (not the smaller and
larger number); both are checked like the value itself.

`[[capacity]]` tables change the places of a capacity-bound product (rules.capacity); a
measure may hold them beside or instead of `[[rules]]`.

Unknown keys, names and out-of-range values are errors naming the file, the key and what
was expected.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.domain import DOMAINS, FLAGS, SETTINGS
from engine.core.errors import InputError
from engine.core.months import parse_month
from engine.core.sourced import Section, load_toml
from engine.model.primitives import BY_NAME
from engine.model.primitives.spec import RuleContext
from rules.capacity import CapacityChange, read_capacity_change
from rules.policy import Policy

MOMENTS = ["intake", "reindication", "date", "monthly"]
ASSUMPTION_KEYS = {"value", "low", "high", "basis", "source", "unit", "note"}
MAX_DISTRICT = 63  # a rule's districts are a 64-bit mask


@dataclass(frozen=True)
class Assumption:
    """A figure of a measure file that its source does not give: its value, the range
    (low: the weaker effect, high: the stronger) and one line of basis."""

    name: str  # "<rule>.params.<key>" or "<rule>.exceptions.<key>": a measure override key
    value: Any
    low: Any
    high: Any
    basis: str
    source: str = "assumption"
    unit: str = ""
    measure: str = ""


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
    districts: list[int] = field(default_factory=list)  # empty: every district

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
    capacity: list[CapacityChange] = field(default_factory=list)  # rules.capacity
    assumptions: list[Assumption] = field(default_factory=list)


def measure_path(ref: str | Path, library_dir: Path, base: Path | None = None) -> Path:
    """A measure reference: a path (absolute, or relative to `base`), or a measure name
    in the policy library's measures folder."""
    p = Path(ref)
    candidates = (
        [p]
        if p.is_absolute()
        else ([base / p] if base else [])
        + [p, library_dir / "measures" / p, library_dir / "measures" / f"{ref}.toml"]
    )
    for c in candidates:
        if c.is_file():
            return c
    for f in (
        sorted((library_dir / "measures").glob("*.toml"))
        if (library_dir / "measures").exists()
        else []
    ):
        if load_toml(f).get("measure", {}).get("name") == str(ref):
            return f
    known = (
        sorted(f.stem for f in (library_dir / "measures").glob("*.toml"))
        if (library_dir / "measures").exists()
        else []
    )
    raise InputError(
        "measures",
        f"unknown measure {str(ref)!r}",
        "one of: " + ", ".join(known) + ", or a path to a measure .toml",
    )


def _list(
    sec: Section,
    key: str,
    choices: list[str] | None,
    default: Any = ...,
    nonempty: bool = False,
) -> list[str]:
    value = sec.raw(key, default)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
        raise sec.error(key, f"{value!r}", "a list of names")
    if nonempty and not value:
        raise sec.error(
            key, "is an empty list: the rule could act on nobody", "at least one name (or no key)"
        )
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
    rules = {
        r.get("name"): r
        for r in [*raw.get("rules", []), *raw.get("capacity", [])]
        if isinstance(r, dict)
    }
    for name, value in overrides.items():
        parts = name.split(".")
        if parts[0] not in rules:
            raise InputError(
                where,
                f"unknown rule {parts[0]!r} in override {name!r}",
                "one of: " + ", ".join(map(str, rules)),
            )
        node = rules[parts[0]]
        for part in parts[1:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InputError(where, f"override {name!r}: {part} is not a table")
        node[parts[-1]] = value
    return raw


def load_measure(
    ref: str | Path,
    policy: Policy,
    group_domains: dict[str, str],
    overrides: dict | None = None,
    base: Path | None = None,
) -> Measure:
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
    rules_raw = top.raw("rules", [])
    capacity_raw = top.raw("capacity", [])
    if not isinstance(rules_raw, list) or not isinstance(capacity_raw, list):
        raise top.error("rules", "not a list of tables", "[[rules]] (and [[capacity]]) tables")
    if not rules_raw and not capacity_raw:
        raise top.error("rules", "no rules", "one or more [[rules]] (or [[capacity]]) tables")
    for i, rr in enumerate(rules_raw):
        where = f"rules[{i}]"
        plain, found = unwrap_assumptions(rr, f, where, measure.name)
        measure.rules.append(
            _load_rule(Section(plain, f, where), policy, group_domains, measure.name)
        )
        for a in found:  # the range is checked like the value: each end read as the value
            for end in ("low", "high"):
                try:
                    _load_rule(
                        Section(_with_value(plain, a.name, getattr(a, end)), f, where),
                        policy,
                        group_domains,
                        measure.name,
                    )
                except InputError as exc:
                    raise InputError(
                        f"{f}: key {where}.{a.name.split('.', 1)[1]}.{end}",
                        f"{getattr(a, end)!r} is not a valid value ({exc})",
                        "a value the key accepts",
                    ) from None
        measure.assumptions.extend(found)
    for i, cr in enumerate(capacity_raw):
        measure.capacity.append(
            read_capacity_change(Section(cr, f, f"capacity[{i}]"), policy.capacity, measure.name)
        )
    top.done()
    names = [r.name for r in [*measure.rules, *measure.capacity]]
    if len(set(names)) != len(names):
        raise top.error("rules", "rule names must be unique within a measure")
    return measure


def _is_assumption(node: Any) -> bool:
    return isinstance(node, dict) and "value" in node and set(node) <= ASSUMPTION_KEYS


def unwrap_assumptions(rule: Any, file: str, where: str, measure: str) -> tuple[Any, list]:
    """A rule table with every assumption under `params` and `exceptions` replaced by its
    value, and the assumptions (named `<rule>.<table>.<key>`, as a measure override)."""
    if not isinstance(rule, dict):
        return rule, []
    out = dict(rule)
    found: list[Assumption] = []
    for table in ("params", "exceptions"):
        node = rule.get(table)
        if not isinstance(node, dict):
            continue
        plain = dict(node)
        for key, v in node.items():
            if not _is_assumption(v):
                continue
            at = f"{file}: key {where}.{table}.{key}"
            for end in ("low", "high", "basis"):
                if end not in v:
                    raise InputError(
                        at,
                        f"an assumption without {end!r}",
                        "{ value, low, high, basis } (low: the weaker effect, high: the stronger)",
                    )
            if not isinstance(v["basis"], str) or not v["basis"].strip():
                raise InputError(at + ".basis", f"{v['basis']!r}", "one line of basis (text)")
            plain[key] = v["value"]
            found.append(
                Assumption(
                    name=f"{rule.get('name')}.{table}.{key}",
                    value=v["value"],
                    low=v["low"],
                    high=v["high"],
                    basis=v["basis"],
                    source=str(v.get("source", "assumption")),
                    unit=str(v.get("unit", "")),
                    measure=measure,
                )
            )
        out[table] = plain
    return out, found


def _with_value(rule: dict, name: str, value: Any) -> dict:
    _, table, key = name.split(".", 2)
    out = dict(rule)
    out[table] = {**rule[table], key: value}
    return out


def _districts(scope: Section) -> list[int]:
    value = scope.raw("districts", [])
    if (
        not isinstance(value, list)
        or any(isinstance(d, bool) or not isinstance(d, int) for d in value)
        or any(not 0 <= d <= MAX_DISTRICT for d in value)
    ):
        raise scope.error(
            "districts", f"{value!r}", f"a list of district numbers 0..{MAX_DISTRICT}"
        )
    return sorted(set(value))


def _load_rule(sec: Section, policy: Policy, group_domains: dict[str, str], measure: str) -> Rule:
    name = sec.text("name")
    primitive = sec.text("primitive", choices=sorted(BY_NAME))
    spec = BY_NAME[primitive].SPEC
    scope = sec.section("scope")
    domain = scope.text("domain", choices=DOMAINS)
    groups_in = [g for g, d in group_domains.items() if d == domain]
    groups = _list(scope, "groups", groups_in, groups_in, nonempty=True)
    products_in = [p.code for p in policy.products if p.domain == domain]
    settings = _list(scope, "settings", SETTINGS, SETTINGS, nonempty=True)
    products = _list(
        scope,
        "products",
        products_in,
        [p for p in products_in if policy.product(p).setting in settings],
        nonempty=True,
    )
    products = [p for p in products if policy.product(p).setting in settings]
    if not products:
        raise scope.error("products", "no product of the domain and settings is in scope")
    all_steps = sorted({s.code for p in products for s in policy.product(p).steps})
    step_list = (
        _list(scope, "steps", all_steps, None, nonempty=True) if scope.has("steps") else None
    )
    steps = {
        p: [s.code for s in policy.product(p).steps if step_list is None or s.code in step_list]
        for p in products
    }
    districts = _districts(scope)
    scope.done()
    moments = _list(sec, "moments", MOMENTS, nonempty=True)
    bad = [m for m in moments if m not in spec.moments]
    if bad:
        raise sec.error(
            "moments",
            f"{primitive} does not act at {bad[0]!r}",
            "some of: " + ", ".join(sorted(spec.moments)),
        )
    eff_from = _month(sec, "effective_from")
    eff_until = _month(sec, "effective_until", None)
    if eff_until is not None and eff_until <= eff_from:
        raise sec.error("effective_until", "ends before it starts", "a month after effective_from")
    transition = sec.number("transition_months", 0, lo=0, hi=600, integer=True)
    if "date" in moments and not sec.has("transition_months"):
        raise sec.error(
            "transition_months",
            "missing",
            "the months existing indications keep until the `date` moment",
        )
    exc = sec.section("exceptions", {})
    exempt = _list(exc, "flags", FLAGS, [])
    approved = exc.share("approved_share", 0.0)
    leaves = exc.share("leaves_share", 0.0)
    if leaves > 0 and not spec.leaves:
        raise exc.error(
            "leaves_share",
            f"{primitive} does not send clients to the Wlz",
            "0 (use the primitive transfer_out for a share that leaves)",
        )
    exc.text("leaves_to", "wlz", choices=["wlz"])
    exc.done()
    params = spec.read_params(
        sec.section("params", {}), RuleContext(policy, products, eff_from, list(group_domains))
    )
    source = sec.text("source")
    sec.done()
    return Rule(
        name,
        primitive,
        domain,
        groups,
        products,
        settings,
        steps,
        moments,
        eff_from,
        eff_until,
        transition,
        exempt,
        approved,
        leaves,
        params,
        source,
        measure,
        districts,
    )
