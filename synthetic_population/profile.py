"""A municipality profile: the population and its behaviour (group mix, needs, inflow, exit
hazards) and the policy library it runs under. Every figure is a sourced parameter.

`load_profile(name_or_path)` reads `synthetic_population/profiles/<name>.toml`, checks it
against its policy library and returns a `Profile`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.core.domain import DOMAINS, FLAGS, JEUGD
from engine.core.errors import InputError
from engine.core.limits import nonneg_numbers
from engine.core.months import parse_month
from engine.core.sourced import Param, Section, apply_overrides, load_toml, unwrap
from rules.policy import Policy, load_policy
from synthetic_population.targets import Target, parse_targets

PROFILES = Path(__file__).parent / "profiles"


@dataclass(frozen=True)
class Group:
    code: str
    domain: str
    stock: float
    inflow_per_year: float
    inflow_growth: float
    age_min: float
    age_max: float
    age_mode: float
    support_months_mean: float
    moved_hazard_m: float
    wlz_hazard_m: float
    household: dict[int, float]
    flags: dict[str, float]
    primary: dict[str, float]
    extra: dict[str, float]
    # fitted by `caseload calibrate` (profiles/<name>.fitted.toml); 1 without a fitted file.
    # The inflow multiplier scales admission from the pool (never the pool itself); the exit
    # multiplier is already applied to moved_hazard_m and wlz_hazard_m and kept for the record.
    inflow_multiplier: float = 1.0
    exit_multiplier: float = 1.0


@dataclass(frozen=True)
class ProductBehaviour:
    goal_hazard_m: float
    step_weights: tuple[float, ...] | None
    amount_sigma: float
    # a capacity-bound product (rules.capacity): the monthly hazard that a client waiting
    # for a place gives up (keeps the interim arrangement, leaves the queue)
    give_up_hazard_m: float = 0.0


@dataclass
class Profile:
    name: str
    path: Path
    description: str
    policy_name: str
    start: int  # month index the stock describes
    scale: float
    pool_oversample: float
    districts: int
    pgb_share: float
    subcontracted_share: float
    wlz_candidate_multiplier: float
    targets: dict[str, Target]
    mortality_age_from: list[float]
    mortality_hazard_m: list[float]
    youth_age_bands: list[float]
    age18: dict[str, float]
    handover_groups: dict[str, float]
    handover_product: str
    handover_step_weights: list[float]
    verlengd_product: str
    verlengd_step_weights: list[float]
    ho_tasks: dict[str, object]
    products: dict[str, ProductBehaviour]
    groups: list[Group]
    sources: dict[str, str]
    register: list[Param] = field(default_factory=list)
    fitted_path: Path | None = None  # the fitted parameters applied (see load_profile)
    fitted_meta: dict = field(default_factory=dict)

    @property
    def group_codes(self) -> list[str]:
        return [g.code for g in self.groups]

    def group(self, code: str) -> Group:
        return self.groups[self.group_codes.index(code)]

    def youth_groups(self) -> list[Group]:
        return [g for g in self.groups if g.domain == DOMAINS[JEUGD]]


def profile_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.exists():
            raise InputError(str(p), "profile file not found")
        return p
    candidate = PROFILES / f"{name_or_path}.toml"
    if not candidate.exists():
        choices = sorted(f.stem for f in PROFILES.glob("*.toml") if not f.stem.endswith(".fitted"))
        raise InputError(
            "--profile",
            f"unknown profile {str(name_or_path)!r}",
            "one of: " + ", ".join(choices) + ", or a path to a profile .toml",
        )
    return candidate


def fitted_path_for(profile_file: Path) -> Path:
    """Where `caseload calibrate` stores a profile's fitted parameters: beside it."""
    return Path(profile_file).with_name(Path(profile_file).stem + ".fitted.toml")


def _split_overrides(overrides: dict | None) -> tuple[dict, dict, dict]:
    prof, pol, fit = {}, {}, {}
    for k, v in (overrides or {}).items():
        if k.startswith("policy."):
            pol[k[len("policy.") :]] = v
        elif k.startswith("fitted."):
            fit[k[len("fitted.") :]] = v
        else:
            prof[k[len("profile.") :] if k.startswith("profile.") else k] = v
    return prof, pol, fit


def _apply_fitted(
    path: Path, groups: list[Group], overrides: dict
) -> tuple[list[Group], list[Param], dict]:
    """Read `<profile>.fitted.toml` and apply its multipliers per group."""
    raw = load_toml(path)
    if overrides:
        raw = apply_overrides(raw, overrides, f"{path} (--set fitted.*)")
    tree, register = unwrap(raw)
    top = Section(tree, str(path))
    meta = top.raw("meta", {})
    gsec = top.section("groups", {})
    codes = [g.code for g in groups]
    unknown = sorted(set(gsec.data) - set(codes))
    if unknown:
        raise gsec.error(
            unknown[0],
            f"unknown group {unknown[0]!r}",
            "a group of the profile: " + ", ".join(codes),
        )
    mult = {}
    for code in gsec.data:
        s = gsec.section(code)
        mult[code] = (
            s.number("inflow_multiplier", 1.0, lo=0.0, hi=20.0),
            s.number("exit_multiplier", 1.0, lo=0.0, hi=20.0),
        )
        s.done()
    top.done()
    return (
        apply_multipliers(groups, mult),
        [Param("fitted." + p.name, p.value, p.source, p.unit, p.note) for p in register],
        meta if isinstance(meta, dict) else {},
    )


def apply_multipliers(groups: list[Group], mult: dict[str, tuple[float, float]]) -> list[Group]:
    """Groups with (inflow, exit) multipliers applied: the inflow multiplier scales
    admission from the pool; the exit multiplier scales the moved and Wlz hazards."""
    out = []
    for g in groups:
        if g.code not in mult:
            out.append(g)
            continue
        a, h = mult[g.code]
        out.append(
            replace(
                g,
                inflow_multiplier=a,
                exit_multiplier=h,
                moved_hazard_m=min(1.0, g.moved_hazard_m * h),
                wlz_hazard_m=min(1.0, g.wlz_hazard_m * h),
            )
        )
    return out


def load_profile(
    name_or_path: str | Path, overrides: dict | None = None, fitted: bool = True
) -> tuple[Profile, Policy]:
    """Read a profile and the policy library it names. Overrides: `name=value` by dotted
    name; names starting with `policy.` go to the policy library, `fitted.` to the fitted
    parameters. The fitted parameters beside the profile (`<name>.fitted.toml`, written by
    `caseload calibrate`) are applied unless `fitted=False`."""
    prof_over, pol_over, fit_over = _split_overrides(overrides)
    path = profile_path(name_or_path)
    raw = load_toml(path)
    if prof_over:
        raw = apply_overrides(raw, prof_over, f"{path} (--set or [overrides])")
    tree, register = unwrap(raw)
    f = str(path)
    # sections in file order, so that of several mistakes the first is reported
    top = Section(tree, f)
    meta = _read_meta(top, f)
    policy = _profile_policy(meta["policy_name"], path, pol_over)
    population = _read_population(top)
    age_from, hazard = _read_mortality(top)
    groups = _read_groups(top, policy)
    youth = _read_youth(top, groups, policy)
    ho_tasks = top.raw("ho_tasks", {})
    behaviour = _read_product_behaviour(top, policy)
    _check_followup_step_weights(f, youth, policy)
    targets = parse_targets(top, f, {g.code: g.domain for g in groups}, policy)
    top.done()
    fit_file = fitted_path_for(path)
    fit_register, fit_meta = [], {}
    if fitted and fit_file.exists():
        groups, fit_register, fit_meta = _apply_fitted(fit_file, groups, fit_over)
    elif fit_over:
        raise InputError(
            f"{f} (--set)",
            f"unknown parameter {next(iter(fit_over))!r}",
            f"a fitted parameter, but {fit_file.name} does not exist (run `caseload calibrate`)",
        )
    profile = Profile(
        path=path,
        **meta,
        **population,
        targets=targets,
        mortality_age_from=[float(a) for a in age_from],
        mortality_hazard_m=[float(h) for h in hazard],
        youth_age_bands=[float(b) for b in youth["bands"]],
        age18=youth["age18"],
        handover_groups=youth["handover_groups"],
        handover_product=youth["handover_product"],
        handover_step_weights=list(youth["handover_steps"]),
        verlengd_product=youth["verlengd_product"],
        verlengd_step_weights=list(youth["verlengd_steps"]),
        ho_tasks=ho_tasks,
        products=behaviour,
        groups=groups,
        register=[Param("profile." + p.name, p.value, p.source, p.unit, p.note) for p in register]
        + fit_register,
        fitted_path=fit_file if fitted and fit_file.exists() else None,
        fitted_meta=fit_meta,
    )
    return profile, policy


def _read_meta(top: Section, f: str) -> dict:
    """[meta]: name, description, the policy library, the month the stock describes and the
    sources (as Profile's keywords)."""
    meta = top.section("meta")
    out = {
        "name": meta.text("name"),
        "description": meta.text("description", ""),
        "policy_name": meta.text("policy"),
        "start": parse_month(meta.text("start"), f"{f}: key meta.start"),
        "sources": meta.raw("sources", {}),
    }
    meta.done()
    return out


def _profile_policy(policy_name: str, path: Path, overrides: dict) -> Policy:
    """The policy library the profile names: one of the library's, else a file beside the
    profile. An unknown name is reported against the profile's key meta.policy."""
    policy_ref = policy_name
    if (
        not (Path(__file__).parent.parent / "rules" / "library" / policy_name).exists()
        and (path.parent / policy_name).exists()
    ):
        policy_ref = path.parent / policy_name
    try:
        return load_policy(policy_ref, overrides)
    except InputError as exc:
        if "unknown policy library" in str(exc):
            raise InputError(f"{path}: key meta.policy", str(exc).split(": ", 1)[1]) from None
        raise


def _read_population(top: Section) -> dict:
    """[population]: scale, pool oversampling, districts and the shares drawn for every
    client (as Profile's keywords)."""
    pop = top.section("population")
    out = {
        "scale": pop.number("scale", 1.0, lo=1e-6),
        "pool_oversample": pop.number("pool_oversample", 1.6, lo=1.0, hi=20.0),
        "districts": pop.number("districts", 1, lo=1, hi=255, integer=True),
        "pgb_share": pop.share("pgb_share", 0.0),
        "subcontracted_share": pop.share("subcontracted_share", 0.0),
        "wlz_candidate_multiplier": pop.number("wlz_candidate_multiplier", 1.0, lo=0.0),
    }
    pop.done()
    return out


def _read_mortality(top: Section) -> tuple[list, list]:
    """[mortality]: monthly hazards by age band, bands from age 0 upwards."""
    mort = top.section("mortality")
    age_from = mort.raw("age_from")
    hazard = mort.raw("hazard_m")
    if (
        not isinstance(age_from, list)
        or not isinstance(hazard, list)
        or len(age_from) != len(hazard)
        or not age_from
    ):
        raise mort.error("hazard_m", "age_from and hazard_m must be lists of equal length")
    if not nonneg_numbers(age_from) or age_from[0] != 0 or age_from != sorted(age_from):
        raise mort.error("age_from", f"{age_from!r}", "increasing ages starting at 0")
    for i, h in enumerate(hazard):
        if not isinstance(h, (int, float)) or not 0 <= h <= 1:
            raise mort.error(
                f"hazard_m[{i}]", f"{h!r} is out of range", "a monthly hazard in [0, 1]"
            )
    mort.done()
    return age_from, hazard


def _read_groups(top: Section, policy: Policy) -> list[Group]:
    """[groups.<code>]: at least one client group."""
    groups_sec = top.section("groups")
    groups = [_read_group(groups_sec.section(code), code, policy) for code in groups_sec.data]
    if not groups:
        raise groups_sec.error(None, "no groups", "at least one [groups.<code>] table")
    return groups


def _read_group(gs: Section, code: str, policy: Policy) -> Group:
    """One client group: size, inflow, ages, exits, households, flags and the products it
    holds, which must be of its own domain."""
    products = policy.product_codes
    domain = gs.text("domain", choices=DOMAINS)
    hh = gs.weights("household", [str(i) for i in range(1, 10)])
    if not hh or sum(hh.values()) <= 0:
        raise gs.error("household", "no household sizes", "a table size = share")
    g = Group(
        code=code,
        domain=domain,
        stock=gs.number("stock", lo=0),
        inflow_per_year=gs.number("inflow_per_year", lo=0),
        inflow_growth=gs.number("inflow_growth", 0.0, lo=-0.5, hi=1.0),
        age_min=gs.number("age_min", lo=0, hi=110),
        age_max=gs.number("age_max", lo=0, hi=110),
        age_mode=gs.number("age_mode", lo=0, hi=110),
        support_months_mean=gs.number("support_months_mean", lo=0.0),
        moved_hazard_m=gs.share("moved_hazard_m"),
        wlz_hazard_m=gs.share("wlz_hazard_m"),
        household={int(k): v for k, v in hh.items()},
        flags=gs.weights("flags", FLAGS, {}),
        primary=gs.weights("primary", products),
        extra=gs.weights("extra", products, {}),
    )
    _check_group(gs, g, policy)
    gs.done()
    return g


def _check_group(gs: Section, g: Group, policy: Policy) -> None:
    """What the group's values must satisfy together: ages in order, shares and chances at
    most 1, a primary product, every product of the group's domain."""
    if not g.age_min <= g.age_mode <= g.age_max or g.age_min >= g.age_max:
        raise gs.error(
            "age_mode",
            f"ages {g.age_min}/{g.age_mode}/{g.age_max}",
            "age_min <= age_mode <= age_max and age_min < age_max",
        )
    for k, v in g.flags.items():
        if v > 1:
            raise gs.error(f"flags.{k}", f"{v!r} is out of range", "a share in [0, 1]")
    for k, v in g.extra.items():
        if v > 1:
            raise gs.error(f"extra.{k}", f"{v!r} is out of range", "a chance in [0, 1]")
    if not g.primary or sum(g.primary.values()) <= 0:
        raise gs.error("primary", "no primary product", "a table product = weight")
    for p in list(g.primary) + list(g.extra):
        if policy.product(p).domain != g.domain:
            raise gs.error(
                "primary",
                f"product {p!r} is of domain {policy.product(p).domain}",
                f"products of domain {g.domain}",
            )


def _read_youth(top: Section, groups: list[Group], policy: Policy) -> dict:
    """[youth]: one age band per youth group, and what happens at 18 (end, verlengde
    jeugdhulp, hand-over to the Wmo) with the products and groups that takes."""
    products = policy.product_codes
    youth = top.section("youth", {})
    youth_codes = [g.code for g in groups if g.domain == "jeugd"]
    wmo_codes = [g.code for g in groups if g.domain == "wmo"]
    bands = youth.raw("age_bands", [0, 18])
    if (
        not nonneg_numbers(bands)
        or bands != sorted(bands)
        or len(bands) != len(youth_codes) + 1
        or bands[-1] > 130
    ):
        raise youth.error(
            "age_bands",
            f"{bands!r}",
            f"{len(youth_codes) + 1} increasing ages, one band per youth group "
            f"({', '.join(youth_codes)})",
        )
    age18 = youth.weights("age18", ["end", "verlengd", "handover"], {"end": 1.0}, must_sum=True)
    handover_groups = youth.weights("handover_groups", wmo_codes, {})
    if handover_groups and sum(handover_groups.values()) <= 0:  # drawn for every youth client
        raise youth.error("handover_groups", "weights summing to 0", "a Wmo group's weight above 0")
    handover_product = youth.text("handover_product", "", choices=None)
    if age18.get("handover", 0) > 0:
        if handover_product not in products or policy.product(handover_product).domain != "wmo":
            raise youth.error(
                "handover_product",
                f"{handover_product!r}",
                "a Wmo product of the policy: "
                + ", ".join(p.code for p in policy.products if p.domain == "wmo"),
            )
        if not handover_groups:
            raise youth.error("handover_groups", "empty", "Wmo groups with weights")
    verlengd_product = youth.text("verlengd_product", "jeugd_verlengd")
    if age18.get("verlengd", 0) > 0 and (
        verlengd_product not in products or policy.product(verlengd_product).domain != "jeugd"
    ):
        raise youth.error(
            "verlengd_product",
            f"{verlengd_product!r}",
            "a youth product of the policy: "
            + ", ".join(p.code for p in policy.products if p.domain == "jeugd"),
        )
    out = {
        "bands": bands,
        "age18": age18,
        "handover_groups": handover_groups,
        "handover_product": handover_product,
        "handover_steps": youth.raw("handover_step_weights", [1.0]),
        "verlengd_product": verlengd_product,
        "verlengd_steps": youth.raw("verlengd_step_weights", [1.0]),
    }
    youth.done()
    return out


def _read_product_behaviour(top: Section, policy: Policy) -> dict[str, ProductBehaviour]:
    """[products.<code>]: per product of the policy, goal hazard, step weights and amount
    spread; a product the policy does not have is a mistake."""
    products = policy.product_codes
    prod_sec = top.section("products", {})
    behaviour = {}
    for code in products:
        pb = prod_sec.section(code, {})
        p = policy.product(code)
        sw = pb.raw("step_weights", None)
        if sw is not None and (not nonneg_numbers(sw) or len(sw) != len(p.steps) or sum(sw) <= 0):
            raise pb.error(
                "step_weights",
                f"{sw!r}",
                f"{len(p.steps)} non-negative weights, one per step of {code}",
            )
        if sw is None and not p.ho_minutes:
            sw = [1.0] + [0.0] * (len(p.steps) - 1)
        behaviour[code] = ProductBehaviour(
            goal_hazard_m=pb.share("goal_hazard_m", 0.0),
            step_weights=tuple(sw) if sw is not None else None,
            amount_sigma=pb.number("amount_sigma", 0.0, lo=0.0, hi=3.0),
            give_up_hazard_m=pb.share("give_up_hazard_m", 0.0),
        )
        pb.done()
    unknown = sorted(set(prod_sec.data) - set(products))
    if unknown:
        raise prod_sec.error(
            unknown[0], f"unknown product {unknown[0]!r}", "one of: " + ", ".join(products)
        )
    return behaviour


def _check_followup_step_weights(f: str, youth: dict, policy: Policy) -> None:
    """The step weights of the hand-over and verlengd products: one per step of the product
    (checked once the products are known)."""
    products = policy.product_codes
    for name_, w in (
        ("youth.handover_step_weights", youth["handover_steps"]),
        ("youth.verlengd_step_weights", youth["verlengd_steps"]),
    ):
        target = youth["handover_product"] if "handover" in name_ else youth["verlengd_product"]
        if target in products and (
            not nonneg_numbers(w) or len(w) != len(policy.product(target).steps) or sum(w) <= 0
        ):
            raise InputError(
                f"{f}: key {name_}",
                f"{w!r}",
                f"{len(policy.product(target).steps)} weights >= 0, one per step of {target}",
            )
