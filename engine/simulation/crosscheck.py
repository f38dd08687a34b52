"""A spreadsheet cross-check per measure: the saving a municipal analyst would estimate by
hand, from the model's own start stock, beside the saving the simulation gives.

The arithmetic, per rule of a measure (`spreadsheet`):

1. **in scope**: the start stock's arrangements in the rule's scope (domain, groups,
   products, settings, steps), their clients and their weekly amount (base-year EUR);
2. **affected**: the arrangements the rule changes and the weekly amount it takes off each,
   by a rule of thumb per primitive (`ESTIMATORS`), exceptions included as shares
   (`approved_share` keeps the amount, `leaves_share` leaves the domain with all of it, a
   flag exempts the client);
3. **months in force**: from the month the change reaches the arrangement (its first
   reindication on or after `effective_from` for the moments intake and reindication, the
   end of the transition for `date`, `effective_from` for `monthly`, plus what the primitive
   adds: a phase-out, a review window's midpoint) to the year's end, for each budget year;
4. **saving** per budget year = weekly saving x 365.25 / 7 / 12 x months in force x the
   policy's price index of that year, summed over the affected arrangements.

It ignores what a spreadsheet ignores: exits, goals, reindication outcomes, newcomers who
meet the rule at intake, and the interaction of rules. A primitive without a rule of thumb
(a new one) gets the convention: share affected = its `share` parameter (1 without one),
weekly saving = (1 - `factor`) x the weekly amount where it has a `factor`; with neither,
the row shows scope and months in force and leaves the saving blank. Add a function to
`ESTIMATORS` to give it a rule of thumb.

`crosscheck(spec_path)` runs it for every measure of a scenario or experiment file and puts
the simulated gross saving of each measure alone (first seed, one multi-combination pass)
beside it; `caseload crosscheck FILE` prints it (`--markdown` for the rules README).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl

from engine.core.errors import InputError
from engine.core.months import format_month, month_index, year_of

WEEKS_PER_MONTH = 365.25 / 7 / 12
FLAG_COLUMNS = ["homeless", "domestic_violence", "small_tidy_household", "wlz_candidate"]
MINUTE_COLUMNS = [
    "cleaning_w",
    "laundry_w",
    "ironing_w",
    "shopping_meals_w",
    "dishes_w",
    "bed_linen_w",
]
RATIO_FLAG = 2.0  # the README explains every measure whose two estimates differ by more


# --------------------------------------------------------------------------- the stock
def stock_frame(population, policy) -> pl.DataFrame:
    """The start stock, one row per arrangement: client attributes, product, step, weekly
    amount in base-year EUR (step price x the arrangement's factor), planned end and
    months of continuous support. Arrivals from the inflow pool and reserved follow-up
    slots are not in it."""
    clients = population.clients.filter(pl.col("arrival_month").is_null())
    arr = population.arrangements.filter(pl.col("slot_kind") == "initial").join(
        clients.select(["client_id", "group", "domain", *FLAG_COLUMNS]), on="client_id"
    )
    price = {(p.code, s.code): s.price_w for p in policy.products for s in p.steps}
    weekly = [
        price[(p, s)] * float(f)
        for p, s, f in zip(arr["product"], arr["step"], arr["amount_factor"], strict=True)
    ]
    return arr.with_columns(
        pl.col(pl.Enum).cast(pl.Utf8),  # plain text: joined with the rules' tables
        pl.Series("weekly_eur", weekly, dtype=pl.Float64),
        pl.col("planned_end_month").cast(pl.Int32),
        pl.col("support_since_month").cast(pl.Int32),
    )


def in_scope(stock: pl.DataFrame, rule, policy) -> pl.DataFrame:
    """The stock's arrangements in a rule's scope (the rule's lists are already resolved
    against the policy: products within its settings, steps per product)."""
    steps = [(p, s) for p, codes in rule.steps.items() for s in codes]
    keys = pl.DataFrame({"product": [p for p, _ in steps], "step": [s for _, s in steps]})
    return stock.filter(
        (pl.col("domain") == rule.domain) & pl.col("group").is_in(rule.groups)
    ).join(keys, on=["product", "step"])


# --------------------------------------------------------------------------- rules of thumb
@dataclass
class Effect:
    """What a rule does to each in-scope arrangement, as a spreadsheet sees it: the weekly
    amount it takes off once in force (0 = not affected) and the month that starts."""

    saving_w: np.ndarray  # base-year EUR a week, per in-scope arrangement
    starts: np.ndarray  # first month of the saving, per in-scope arrangement
    note: str = ""
    estimated: bool = True


def reached_month(scope: pl.DataFrame, rule, policy) -> np.ndarray:
    """The month a rule first reaches each in-scope arrangement: its first reindication
    (planned end + 1, then every indication length) on or after `effective_from` for the
    moments intake and reindication; the end of the transition for `date`; `effective_from`
    for `monthly`."""
    frm = rule.effective_from
    lengths = np.array([policy.product(p).indication_months for p in scope["product"]])
    nxt = scope["planned_end_month"].to_numpy().astype(np.int64) + 1
    behind = np.maximum(0, frm - nxt)
    nxt = nxt + np.ceil(behind / np.maximum(lengths, 1)).astype(np.int64) * lengths
    out = np.full(scope.height, np.iinfo(np.int64).max, dtype=np.int64)
    if "intake" in rule.moments or "reindication" in rule.moments:
        out = np.minimum(out, nxt)
    if "date" in rule.moments:
        out = np.minimum(out, frm + rule.transition_months)
    if "monthly" in rule.moments:
        out = np.minimum(out, frm)
    return out


def _exempt(scope: pl.DataFrame, rule) -> np.ndarray:
    ex = np.zeros(scope.height, dtype=bool)
    for flag in rule.exempt_flags:
        ex |= scope[flag].to_numpy()
    return ex


def _ho_price(policy, product: str, minutes: float, factor: float) -> float:
    """Household help: the band step the weekly minutes fall in, and its price x factor (as
    the kernel prices it: the first band whose upper bound exceeds the minutes)."""
    p = policy.product(product)
    band = p.band_steps
    k = 0
    while k + 1 < len(band) and minutes >= (p.steps[band[k]].minutes_max or 0):
        k += 1
    return p.steps[band[k]].price_w * factor


def _task_saving(scope: pl.DataFrame, policy, tasks: list[str]) -> np.ndarray:
    """Household help without the named tasks: old price minus the price of the step the
    remaining minutes fall in."""
    out = np.zeros(scope.height)
    cols = [f"{t}_w" for t in tasks]
    for i, r in enumerate(scope.iter_rows(named=True)):
        if not policy.product(r["product"]).ho_minutes or not any(r[c] for c in cols):
            continue
        total = sum(float(r[c]) for c in MINUTE_COLUMNS)
        left = total - sum(float(r[c]) for c in cols)
        out[i] = r["weekly_eur"] - _ho_price(policy, r["product"], left, float(r["amount_factor"]))
    return np.maximum(out, 0.0)


def _weekly_cap(scope, rule, policy, starts) -> Effect:
    """The client's in-scope weekly sum above the cap is cut (highest-priced first, so the
    cut falls on the client's arrangements in proportion to nothing a spreadsheet tracks:
    spread over them pro rata); approved cases keep it; a share leaves with all of it."""
    cap = float(rule.params["cap_eur_w"])
    if not rule.params.get("indexed", False):
        cap = cap / policy.index_for_year(year_of(rule.effective_from))
    total = scope.group_by("client_id").agg(pl.col("weekly_eur").sum().alias("client_w"))
    s = scope.join(total, on="client_id", how="left")
    w = s["weekly_eur"].to_numpy()
    client_w = s["client_w"].to_numpy()
    over = np.where(client_w > cap, (client_w - cap) / np.maximum(client_w, 1e-9), 0.0)
    kept = 1.0 - rule.approved_share
    saving = kept * ((1.0 - rule.leaves_share) * over * w + rule.leaves_share * (over > 0) * w)
    saving[_exempt(s, rule)] = 0.0
    return Effect(saving, starts, f"clients above EUR {rule.params['cap_eur_w']:,.0f}/week")


def _max_duration(scope, rule, policy, starts) -> Effect:
    """Arrangements past `max_months` of continuous support get a phase-out indication at
    their first reindication under the rule (existing clients) or stop at `max_months`
    (the rest, when that falls within the horizon of a spreadsheet: any time); after it a
    share ends, the rest steps down to the named step."""
    mx = int(rule.params["max_months"])
    phase = int(rule.params.get("phase_out_months", 0))
    end_share = float(rule.params.get("end_share", 1.0))
    down = rule.params.get("step_down_to", {}) or {}
    since = scope["support_since_month"].to_numpy().astype(np.int64)
    reach = since + mx
    past = reach <= starts
    begin = np.where(past, starts + phase, np.maximum(reach, rule.effective_from))
    w = scope["weekly_eur"].to_numpy()
    lower = np.array(
        [
            policy.product(p).steps[policy.product(p).step_index(down[p])].price_w * float(f)
            if p in down
            else 0.0
            for p, f in zip(scope["product"], scope["amount_factor"], strict=True)
        ]
    )
    saving = end_share * w + (1.0 - end_share) * np.maximum(w - lower, 0.0)
    saving[_exempt(scope, rule)] = 0.0
    return Effect(saving, begin, f"support reaching {mx} months; phase-out {phase} months")


def _remove_task(scope, rule, policy, starts) -> Effect:
    saving = _task_saving(scope, policy, list(rule.params["tasks"]))
    saving[_exempt(scope, rule)] = 0.0
    return Effect(saving, starts, "household help with " + ", ".join(rule.params["tasks"]))


def _set_frequency(scope, rule, policy, starts) -> Effect:
    """Eligible household help (flags required, cleaning at or below the maximum) is priced
    at the catalogue's biweekly step instead."""
    ok = np.ones(scope.height, dtype=bool)
    for flag in rule.params.get("require_flags", []):
        ok &= scope[flag].to_numpy()
    mx = rule.params.get("max_cleaning_minutes_w")
    if mx is not None:
        ok &= scope["cleaning_w"].to_numpy() <= float(mx)
    new = np.zeros(scope.height)
    for i, (p, f) in enumerate(zip(scope["product"], scope["amount_factor"], strict=True)):
        b = policy.product(p).biweekly_step
        new[i] = policy.product(p).steps[b].price_w * float(f) if b >= 0 else np.inf
    saving = np.where(ok, np.maximum(scope["weekly_eur"].to_numpy() - new, 0.0), 0.0)
    saving[_exempt(scope, rule)] = 0.0
    return Effect(saving, starts, "eligible household help priced at the biweekly step")


def _review(scope, rule, policy, starts) -> Effect:
    """A share of the reviewed household help loses the named tasks, reviewed on average
    halfway through the window."""
    window = int(rule.params.get("window_months", 1))
    saving = float(rule.params.get("share", 1.0)) * _task_saving(
        scope, policy, rule.params["tasks"]
    )
    saving[_exempt(scope, rule)] = 0.0
    return Effect(saving, starts + window // 2, f"review within {window} months")


def _convention(scope, rule, policy, starts) -> Effect:
    """A primitive without a rule of thumb: `share` affected, (1 - `factor`) saved."""
    p = rule.params
    share = float(p["share"]) if isinstance(p.get("share"), (int, float)) else 1.0
    if not isinstance(p.get("factor"), (int, float)):
        return Effect(
            np.zeros(scope.height),
            starts,
            f"no rule of thumb for {rule.primitive}: scope only",
            estimated=False,
        )
    saving = share * (1.0 - float(p["factor"])) * scope["weekly_eur"].to_numpy()
    saving[_exempt(scope, rule)] = 0.0
    return Effect(saving, starts, f"convention: share {share:g}, factor {p['factor']:g}")


ESTIMATORS: dict[str, Callable] = {
    "weekly_cap": _weekly_cap,
    "max_duration": _max_duration,
    "remove_task": _remove_task,
    "set_frequency": _set_frequency,
    "review": _review,
}


# --------------------------------------------------------------------------- the arithmetic
@dataclass
class Estimate:
    """One rule (or a measure: its rules added up) as a spreadsheet sees it."""

    measure: str
    rules: list[str]
    primitives: list[str]
    clients_in_scope: int
    weekly_in_scope_eur: float
    clients_affected: int
    weekly_saving_eur: float  # once fully in force, base-year EUR a week
    months_in_force: dict[int, float]  # per budget year, weighted by weekly saving
    saving_eur: dict[int, float]  # per budget year
    estimated: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def share_affected(self) -> float:
        return self.clients_affected / self.clients_in_scope if self.clients_in_scope else 0.0


def months_in_year(starts: np.ndarray, year: int, until: int | None = None) -> np.ndarray:
    """Months of a budget year from each start month to the year's end (0..12), ending
    before `until` when the rule ends."""
    first, last = month_index(year, 1), month_index(year, 12)
    end = last if until is None else min(last, until - 1)
    return np.clip(end - np.maximum(starts, first) + 1, 0, 12).astype(np.float64)


def spreadsheet(rule, stock: pl.DataFrame, policy, years: list[int], measure: str = "") -> Estimate:
    """The spreadsheet estimate of one rule on a start stock (see the module docstring)."""
    scope = in_scope(stock, rule, policy)
    starts = reached_month(scope, rule, policy)
    effect = ESTIMATORS.get(rule.primitive, _convention)(scope, rule, policy, starts)
    # affected: a saving that starts within the budget years (later ones count nowhere)
    hit = (effect.saving_w > 0) & (effect.starts <= month_index(years[-1], 12))
    w = np.where(hit, effect.saving_w, 0.0)
    months, saving = {}, {}
    for y in years:
        m = months_in_year(effect.starts, y, rule.effective_until)
        per = w * m
        saving[y] = float(per.sum() * WEEKS_PER_MONTH * policy.index_for_year(y))
        months[y] = float(per.sum() / w.sum()) if w.sum() > 0 else 0.0
    return Estimate(
        measure=measure or rule.measure,
        rules=[rule.name],
        primitives=[rule.primitive],
        clients_in_scope=int(scope["client_id"].n_unique()),
        weekly_in_scope_eur=float(scope["weekly_eur"].sum()),
        clients_affected=int(scope.filter(pl.Series(hit))["client_id"].n_unique()),
        weekly_saving_eur=float(w.sum()),
        months_in_force=months,
        saving_eur=saving,
        estimated=effect.estimated,
        notes=[f"{rule.name}: {effect.note}"],
    )


def measure_estimate(measure, stock: pl.DataFrame, policy, years: list[int]) -> Estimate:
    """A measure's rules added up (clients counted once per rule: an upper bound where
    rules of one measure reach the same clients)."""
    parts = [spreadsheet(r, stock, policy, years, measure.name) for r in measure.rules]
    total_w = sum(p.weekly_saving_eur for p in parts)
    months = {
        y: (
            sum(p.months_in_force[y] * p.weekly_saving_eur for p in parts) / total_w
            if total_w
            else 0.0
        )
        for y in years
    }
    return Estimate(
        measure=measure.name,
        rules=[r for p in parts for r in p.rules],
        primitives=[r for p in parts for r in p.primitives],
        clients_in_scope=max(p.clients_in_scope for p in parts),
        weekly_in_scope_eur=max(p.weekly_in_scope_eur for p in parts),
        clients_affected=sum(p.clients_affected for p in parts),
        weekly_saving_eur=total_w,
        months_in_force=months,
        saving_eur={y: sum(p.saving_eur[y] for p in parts) for y in years},
        estimated=all(p.estimated for p in parts),
        notes=[n for p in parts for n in p.notes],
    )


# --------------------------------------------------------------------------- against the model
@dataclass
class CrossCheck:
    source: str
    start: int
    seed: int
    population_seed: int
    years: list[int]
    table: pl.DataFrame  # one row per measure and budget year
    population_file: str | None = None  # the stock's file, if not the synthetic population

    def text(self, markdown: bool = False) -> str:
        return to_markdown(self) if markdown else to_text(self)


def crosscheck(
    path: str | Path,
    seed: int | None = None,
    population: str | Path | None = None,
    start: int | None = None,
) -> CrossCheck:
    """The spreadsheet estimate and the simulated gross saving (each measure alone against
    the baseline, first seed) for every measure of a scenario or experiment file;
    `population`: a client extract or population file as the start stock; `start`: another
    first month."""
    from engine.simulation.subrun import Context

    spec, first_seed = _read_spec(Path(path))
    if population is not None:
        spec = replace(spec, population_file=str(population))
    if start is not None:
        spec = replace(spec, start=start)
    if not spec.measures:
        raise InputError(
            f"{path}: key measures", "names no measure", "a scenario or experiment with measures"
        )
    seed = first_seed if seed is None else seed
    ctx = Context.build(spec)
    stock = stock_frame(ctx.population, ctx.policy)
    masks = [0, *(1 << i for i in range(len(ctx.measures)))]
    base, *alone = ctx.run_many(seed, masks)
    rows = []
    for ms, res in zip(ctx.measures, alone, strict=True):
        est = measure_estimate(ms, stock, ctx.policy, ctx.years)
        for i, y in enumerate(ctx.years):
            sim = float(base.gross_y[i] - res.gross_y[i]) / 100.0
            sheet = est.saving_eur[y] if est.estimated else None
            rows.append(
                {
                    "measure": ms.name,
                    "number": ms.number,
                    "primitives": ",".join(dict.fromkeys(est.primitives)),
                    "budget_year": y,
                    "clients_in_scope": est.clients_in_scope,
                    "weekly_in_scope_eur": est.weekly_in_scope_eur,
                    "clients_affected": est.clients_affected,
                    "share_affected": est.share_affected,
                    "weekly_saving_eur": est.weekly_saving_eur if est.estimated else None,
                    "months_in_force": est.months_in_force[y],
                    "spreadsheet_eur": sheet,
                    "simulated_eur": sim,
                    "ratio": sim / sheet if sheet else None,
                    "notes": "; ".join(est.notes),
                }
            )
    return CrossCheck(
        str(path),
        ctx.start,
        seed,
        spec.population_seed,
        ctx.years,
        pl.DataFrame(rows),
        spec.population_file,
    )


def _read_spec(path: Path):
    """A scenario or an experiment file as the sub-run context it describes, and its
    first seed."""
    from engine.core.scenario import load_scenario
    from engine.core.sourced import load_toml
    from engine.simulation.experiment import load_experiment
    from engine.simulation.subrun import ContextSpec

    if "experiment" in load_toml(path):
        exp = load_experiment(path)
        return exp.context_spec(), exp.seeds[0]
    sc = load_scenario(path)
    spec = ContextSpec(
        profile=sc.profile,
        overrides=dict(sc.overrides),
        start=sc.start,
        months=sc.months,
        population_seed=sc.population_seed,
        population_file=sc.population_file,
        measures=list(sc.measures),
        measure_overrides=dict(sc.measure_overrides),
        base_dir=sc.base_dir,
        rng_mode=sc.rng_mode,
    )
    return spec, sc.seed


# --------------------------------------------------------------------------- tables
def _m(v: float | None) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v / 1e6:,.2f}"


def _wide(cc: CrossCheck) -> list[dict]:
    out: dict[str, dict] = {}
    for r in cc.table.iter_rows(named=True):
        o = out.setdefault(r["measure"], {**r, "years": {}})
        o["years"][r["budget_year"]] = (
            r["months_in_force"],
            r["spreadsheet_eur"],
            r["simulated_eur"],
        )
    return list(out.values())


def flagged(r: dict, year: int) -> bool:
    """Do the spreadsheet and the simulation differ by more than a factor 2 in a year
    (both non-trivial)?"""
    _, sheet, sim = r["years"][year]
    if sheet is None or max(abs(sheet), abs(sim)) < 1e5:
        return False
    if sheet <= 0 or sim <= 0:
        return True
    return not 1 / RATIO_FLAG <= sim / sheet <= RATIO_FLAG


def to_text(cc: CrossCheck) -> str:
    lines = [
        f"spreadsheet cross-check: {cc.source}, stock {format_month(cc.start)}, seed {cc.seed}, "
        + (
            f"stock of {cc.population_file}"
            if cc.population_file
            else f"population seed {cc.population_seed}"
        )
        + "; EUR million gross, each measure alone",
    ]
    for r in _wide(cc):
        lines.append(
            f"{r['measure']} ({r['primitives']}): {r['clients_in_scope']:,} clients in scope, "
            f"EUR {r['weekly_in_scope_eur']:,.0f}/week; affected {r['clients_affected']:,} "
            f"({r['share_affected']:.0%}), saving EUR "
            + (f"{r['weekly_saving_eur']:,.0f}/week" if r["weekly_saving_eur"] is not None else "-")
        )
        for y in cc.years:
            mo, sheet, sim = r["years"][y]
            mark = "  > x2" if flagged(r, y) else ""
            lines.append(
                f"  {y}: months in force {mo:4.1f}  spreadsheet {_m(sheet):>7s}  "
                f"simulated {_m(sim):>7s}{mark}"
            )
    return "\n".join(lines)


def to_markdown(cc: CrossCheck) -> str:
    """The rules README's table: one row per measure, spreadsheet / simulated per year."""
    head = (
        "| measure | clients in scope | EUR/week in scope | affected | EUR/week saved | "
        + " | ".join(f"{y}: months, sheet / sim" for y in cc.years)
        + " |"
    )
    sep = "|---" * (5 + len(cc.years)) + "|"
    rows = []
    for r in _wide(cc):
        cells = [
            f"{r['number'] or ''} {r['measure']}".strip(),
            f"{r['clients_in_scope']:,}",
            f"{r['weekly_in_scope_eur']:,.0f}",
            f"{r['clients_affected']:,} ({r['share_affected']:.0%})",
            f"{r['weekly_saving_eur']:,.0f}" if r["weekly_saving_eur"] is not None else "-",
        ]
        for y in cc.years:
            mo, sheet, sim = r["years"][y]
            mark = " **x2**" if flagged(r, y) else ""
            cells.append(f"{mo:.1f}: {_m(sheet) or '-'} / {_m(sim)}{mark}")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join([head, sep, *rows])
