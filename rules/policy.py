"""The policy library: product catalogue with steps and weekly prices, indication lengths,
reindication policy, price index and own contribution (DESIGN sections 2 and 4), and the
capacity of capacity-bound products (rules.capacity).

`load_policy(name_or_path)` reads `rules/library/<name>/baseline.toml`, validates every key
and returns a `Policy`; the kernel sees it only as arrays (engine.model.params).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.core.domain import DOMAINS, REIND_OUTCOMES, SETTINGS
from engine.core.errors import InputError
from engine.core.limits import MAX_WEEKLY_EUR, finite_number
from engine.core.months import parse_month
from engine.core.sourced import Param, Section, apply_overrides, load_toml, unwrap
from rules.capacity import NORM_WEEKS, Capacity, read_capacity

LIBRARY = Path(__file__).parent / "library"

# IV3 task fields (Regeling taakvelden, BBV) that municipal social-care budgets book under:
# finance's budget lines. Each product names one (`iv3`); Wmo products book under 6.6, 6.71 or
# 6.81, youth products under 6.72 or 6.82.
IV3_TASK_FIELDS = {
    "6.6": "Maatwerkvoorzieningen (Wmo)",
    "6.71": "Maatwerkdienstverlening 18+",
    "6.72": "Maatwerkdienstverlening 18-",
    "6.81": "Ge\u00ebscaleerde zorg 18+",
    "6.82": "Ge\u00ebscaleerde zorg 18-",
}
IV3_BY_DOMAIN = {"wmo": ("6.6", "6.71", "6.81"), "jeugd": ("6.72", "6.82")}


def default_iv3(domain: str, setting: str) -> str:
    """The task field a product without `iv3` books under: intramural care is escalated care
    (6.81 / 6.82), the rest customised services (6.71 / 6.72)."""
    if domain == "wmo":
        return "6.81" if setting == "intramural" else "6.71"
    return "6.82" if setting == "intramural" else "6.72"


# Bounds of the policy's figures (README "Validation"): EUR a month of own contribution, EUR an
# hour of household help, a week's minutes, and the price index as a factor on base-year prices.
MAX_MONTHLY_EUR = 10_000.0
MAX_HOURLY_EUR = 1_000.0
MINUTES_PER_WEEK = 7 * 24 * 60
MIN_INDEX, MAX_INDEX = 0.01, 100.0


@dataclass(frozen=True)
class Step:
    code: str
    price_w: float  # EUR per week, base-year prices
    minutes_max: float | None = None  # HO: upper bound of the weekly-minutes band
    biweekly: bool = False  # HO: the step for help once per two weeks (no minutes band)
    valid_from: int | None = None  # month from which the step may be indicated


@dataclass(frozen=True)
class Product:
    code: str
    domain: str
    area: str
    setting: str
    iv3: str
    own_contribution: bool
    ho_minutes: bool
    indication_months: int
    reindication: tuple[float, float, float, float]  # continue, step_down, step_up, end
    steps: tuple[Step, ...]

    @property
    def band_steps(self) -> list[int]:
        """HO: the steps chosen by weekly minutes, in band order (biweekly steps excluded)."""
        return [i for i, s in enumerate(self.steps) if not s.biweekly]

    @property
    def biweekly_step(self) -> int:
        return next((i for i, s in enumerate(self.steps) if s.biweekly), -1)

    def step_index(self, code: str) -> int:
        for i, s in enumerate(self.steps):
            if s.code == code:
                return i
        raise KeyError(code)


@dataclass
class Policy:
    name: str
    path: Path
    base_year: int
    description: str
    products: list[Product]
    price_index: dict[int, float]
    own_contribution_monthly_eur: float
    ho_hourly_price_eur: float
    ho_norm_minutes_w: float
    ho_step_change_minutes: int
    sources: dict[str, str]
    register: list[Param] = field(default_factory=list)
    # capacity-bound products (rules.capacity) and the waiting-time norm in weeks
    capacity: dict[str, Capacity] = field(default_factory=dict)
    norm_weeks: float = NORM_WEEKS

    @property
    def product_codes(self) -> list[str]:
        return [p.code for p in self.products]

    def product(self, code: str) -> Product:
        for p in self.products:
            if p.code == code:
                return p
        raise KeyError(code)

    def index_for_year(self, year: int) -> float:
        """Price index for a year; past the last given year the last factor holds."""
        years = sorted(self.price_index)
        if year <= years[0]:
            return self.price_index[years[0]]
        if year >= years[-1]:
            return self.price_index[years[-1]]
        return self.price_index[year]


def policy_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.is_dir():
        p = p / "baseline.toml"
    if p.suffix == ".toml" or p.exists():
        if not p.exists():
            raise InputError(str(p), "policy file not found")
        return p
    candidate = LIBRARY / str(name_or_path) / "baseline.toml"
    if not candidate.exists():
        choices = sorted(d.name for d in LIBRARY.iterdir() if (d / "baseline.toml").exists())
        raise InputError(
            "policy",
            f"unknown policy library {str(name_or_path)!r}",
            "one of: " + ", ".join(choices) + ", or a path to a baseline.toml",
        )
    return candidate


def load_policy(name_or_path: str | Path, overrides: dict | None = None) -> Policy:
    """Read a policy library's baseline.toml (with `name=value` overrides by dotted name):
    products and their steps, prices, own contributions, household-help norms."""
    path = policy_path(name_or_path)
    raw = load_toml(path)
    if overrides:
        raw = apply_overrides(raw, overrides, f"{path} (--set or [overrides])")
    tree, register = unwrap(raw)
    top = Section(tree, str(path))
    meta = top.section("meta")
    name = meta.text("name")
    base_year = meta.number("base_year", integer=True, lo=2000, hi=2100)
    description = meta.text("description", "")
    sources = meta.raw("sources", {})
    meta.done()

    price_index = _read_price_index(top)

    oc = top.section("own_contribution")
    oc_monthly = oc.number("monthly_eur", lo=0.0, hi=MAX_MONTHLY_EUR)
    oc.done()

    ho = top.section("ho")
    ho_hourly = ho.number("hourly_price_eur", lo=0.0, hi=MAX_HOURLY_EUR)
    ho_norm = ho.number("norm_minutes_w", lo=0.0, hi=MINUTES_PER_WEEK)
    ho_change = ho.number("step_change_minutes", lo=0, hi=MINUTES_PER_WEEK, integer=True)
    ho.done()

    products = _read_products(top, path)
    capacity, norm_weeks = read_capacity(top, {p.code: p for p in products})
    top.done()
    return Policy(
        name=name,
        path=path,
        base_year=base_year,
        description=description,
        products=products,
        price_index=price_index,
        own_contribution_monthly_eur=oc_monthly,
        ho_hourly_price_eur=ho_hourly,
        ho_norm_minutes_w=ho_norm,
        ho_step_change_minutes=ho_change,
        sources=sources,
        register=[Param("policy." + p.name, p.value, p.source, p.unit, p.note) for p in register],
        capacity=capacity,
        norm_weeks=norm_weeks,
    )


def _read_price_index(top: Section) -> dict[int, float]:
    """[prices]: the yearly price index, year = a positive factor on base-year prices."""
    prices = top.section("prices")
    index_raw = prices.raw("index")
    if not isinstance(index_raw, dict) or not index_raw:
        raise prices.error("index", "must be a table year = factor")
    price_index = {}
    for y, f in index_raw.items():
        if not str(y).isdigit() or not 1900 <= int(y) <= 2200:
            raise prices.error(
                f"index.{y}", f"{y} = {f!r}", "a year 1900..2200 = a positive factor"
            )
        price_index[int(y)] = finite_number(
            f, prices.where(f"index.{y}"), MIN_INDEX, MAX_INDEX, unit="factor on base-year prices"
        )
    prices.number("index_2019_2024", 1.0, lo=0.0, hi=MAX_INDEX)
    prices.done()
    return price_index


def _read_products(top: Section, path: Path) -> list[Product]:
    """[products.<code>]: at least one product, at most one of them household help (the
    kernel keeps one set of task minutes per client)."""
    products_sec = top.section("products")
    products = [_read_product(products_sec.section(code), code, path) for code in products_sec.data]
    if not products:
        raise products_sec.error(None, "no products", "at least one [products.<code>] table")
    if sum(p.ho_minutes for p in products) > 1:
        raise products_sec.error(
            None, "more than one product has ho_minutes = true", "one household-help product"
        )
    return products


def _read_product(ps: Section, code: str, path: Path) -> Product:
    """One product: domain, area, setting and its IV3 task field, own contribution,
    indication length, reindication outcomes and steps."""
    domain = ps.text("domain", choices=DOMAINS)
    area = ps.text("area")
    setting = ps.text("setting", choices=SETTINGS)
    iv3 = ps.text("iv3") if ps.has("iv3") else default_iv3(domain, setting)
    if iv3 not in IV3_BY_DOMAIN[domain]:
        raise ps.error(
            "iv3",
            f"{iv3!r} is not an IV3 task field for a {domain} product",
            "one of: "
            + ", ".join(IV3_BY_DOMAIN[domain])
            + f" ({', '.join(f'{k} {v}' for k, v in IV3_TASK_FIELDS.items())})",
        )
    own = ps.boolean("own_contribution", False)
    ho_min = ps.boolean("ho_minutes", False)
    ind = ps.number("indication_months", lo=1, hi=600, integer=True)
    reind_raw = ps.weights("reindication", REIND_OUTCOMES, must_sum=True)
    missing = [o for o in REIND_OUTCOMES if o not in reind_raw]
    if missing:
        raise ps.error(
            "reindication",
            f"missing outcome {missing[0]!r}",
            "continue, step_down, step_up, end",
        )
    steps = _read_steps(ps, code, path, ho_min)
    ps.done()
    return Product(
        code,
        domain,
        area,
        setting,
        iv3,
        own,
        ho_min,
        ind,
        tuple(reind_raw[o] for o in REIND_OUTCOMES),
        tuple(steps),
    )


def _read_steps(ps: Section, code: str, path: Path, ho_min: bool) -> list[Step]:
    """A product's steps: unique codes, at most one biweekly step, and for household help
    minutes bands that increase step by step."""
    steps_raw = ps.raw("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise ps.error("steps", "must be a non-empty list of {code, price_w}")
    steps = [_read_step(st, code, i, path, ho_min) for i, st in enumerate(steps_raw)]
    if len({s.code for s in steps}) != len(steps):
        raise ps.error("steps", "step codes must be unique")
    if sum(s.biweekly for s in steps) > 1:
        raise ps.error("steps", "more than one biweekly step")
    if ho_min:
        bounds = [s.minutes_max for s in steps if not s.biweekly]
        if bounds != sorted(bounds):
            raise ps.error("steps", "minutes_max must increase step by step")
    return steps


def _read_step(st: dict, code: str, i: int, path: Path, ho_min: bool) -> Step:
    """One step: code, weekly price, whether it is household help's biweekly step, and for
    household help the upper end of its weekly-minutes band (required but on the biweekly
    step); a valid_from month for a step that opens later."""
    ss = Section(st, str(path), f"products.{code}.steps[{i}]")
    scode = ss.text("code")
    price = ss.number("price_w", lo=0.0, hi=MAX_WEEKLY_EUR)
    biweekly = ss.boolean("biweekly", False)
    if biweekly and not ho_min:
        raise ss.error("biweekly", "only household help (ho_minutes = true) has a biweekly step")
    mmax = (
        ss.number(
            "minutes_max", None if (not ho_min or biweekly) else ..., lo=0.0, hi=1e6
        )  # the top step's open end is written as a large number (100000)
        if (ho_min or ss.has("minutes_max"))
        else None
    )
    vf = ss.raw("valid_from", None)
    valid_from = (
        parse_month(vf, f"{path}: key products.{code}.steps[{i}].valid_from")
        if vf is not None
        else None
    )
    ss.done()
    return Step(scode, price, mmax, biweekly, valid_from)
