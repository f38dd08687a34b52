"""Calibration: fit a profile's inflow and exit hazards to its `[targets]`, and report how
well any population (synthetic, or a real extract) meets them.

A target (`synthetic_population.targets.Target`) names a metric (`clients_served`, as the
municipality counts them, or `gross_eur`), a period (`2024H1` or `2024`), a domain and
optionally one group or one product, with a value and tolerance and/or a min or max.

The levers are two multipliers per client group: on inflow (admission from the inflow pool,
so the pool and every arrival's identity stay the same; at most the pool's oversample
factor) and on the group's exit hazards (moving away, Wlz). Groups a fitted target covers
in the same way share their multipliers. The fit is a damped Gauss-Newton (Levenberg-
Marquardt) on log multipliers with finite differences, every simulation on the same
population and seeds (common random numbers make the response smooth enough), residuals
in units of each target's tolerance and a small ridge towards 1 that picks the smallest
change when targets leave freedom.

`calibrate` writes `<profile>.fitted.toml` beside the profile (applied by `load_profile`
to every later run: baselines and measures reuse it, nothing refits) and a report folder:
`calibration.parquet`, `calibration.csv`, `calibration.html` (inline SVG) and `fitted.toml`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from engine.core.domain import S_PENDING
from engine.core.errors import InputError
from engine.core.months import format_month, month_index
from engine.model.layout import A_GROSS
from engine.model.rng import MODE_KEYED
from engine.model.state import NO_MONTH, build_state
from engine.outputs import tables as aggregate
from engine.simulation.calibration_report import (
    _fitted_toml,
    _table,
    _write_report,
    out_of_sample,
)
from engine.simulation.simulate import SimResult, simulate
from rules.policy import Policy
from synthetic_population.generator import Population, generate
from synthetic_population.profile import (
    Profile,
    apply_multipliers,
    fitted_path_for,
    load_profile,
)
from synthetic_population.targets import Target, number

INFLOW_BOUNDS = (0.2, None)  # upper bound: the profile's pool oversample factor
EXIT_BOUNDS = (0.25, 4.0)
RIDGE = 0.02  # weight of (log inflow multiplier)^2 against residuals in tolerance units
RIDGE_EXIT = 0.5  # exit hazards move only where inflow cannot do the work
FD_STEP = 0.05  # finite-difference step in log multiplier
BOUND_MARGIN = 0.01  # aim 1% inside a min or max


def period_months(period: str) -> tuple[int, int]:
    """First and last month index of '2024' or '2024H1'."""
    year = int(period[:4])
    if len(period) == 4:
        return month_index(year, 1), month_index(year, 12)
    first = month_index(year, 1 if period.endswith("H1") else 7)
    return first, first + 5


def horizon_for(targets: list[Target], start: int) -> int:
    """Months from `start` through the end of the last target period (at least 12)."""
    ends = [period_months(t.period)[1] for t in targets if t.declarative]
    ends += [period_months(t.base_period)[1] for t in targets if t.base_period]
    return max(12, max(ends, default=start) - start + 1)


def scope_groups(t: Target, profile: Profile) -> list[str]:
    """The groups a target's figure is made of: its group, the groups that hold one of its
    products, or every group of its domain."""
    if t.group:
        return [t.group]
    gs = [g for g in profile.groups if g.domain == t.domain]
    if t.products:
        return [g.code for g in gs if any(p in g.primary or p in g.extra for p in t.products)]
    return [g.code for g in gs]


# --------------------------------------------------------------------------- measuring
def _active_in(sim: SimResult, start: int, first: int, last: int) -> np.ndarray:
    """Per slot: active in some month of first..last, from the final state: a slot is
    active from its activation (its first month of continuous support, or the run's start
    for the stock) until it ended (or the horizon's end)."""
    S = sim.state
    T = sim.arr.shape[0]
    used = S.status != S_PENDING
    since = S.since.astype(np.int64)
    a0 = np.where(since == NO_MONTH, start, np.maximum(since, start))
    a1 = np.where(S.end_month.astype(np.int64) == NO_MONTH, start + T, S.end_month.astype(np.int64))
    return used & (a0 < a1) & (a0 <= last) & (a1 > first)


def product_served(
    sim: SimResult, policy: Policy, start: int, first: int, last: int
) -> dict[str, int]:
    """Clients with an active arrangement of each product in months first..last."""
    S = sim.state
    hit = _active_in(sim, start, first, last)
    out = {}
    for pi, p in enumerate(policy.products):
        sel = hit & (S.product == pi)
        out[p.code] = int(np.unique(S.owner[sel]).size)
    return out


def products_served(
    sim: SimResult, policy: Policy, start: int, first: int, last: int, codes: tuple[str, ...]
) -> int:
    """Clients with an active arrangement of at least one of the products in months
    first..last, each client once (as CBS counts a category of several provisions)."""
    S = sim.state
    idx = [policy.product_codes.index(c) for c in codes]
    sel = _active_in(sim, start, first, last) & np.isin(S.product, idx)
    return int(np.unique(S.owner[sel]).size)


def measure(
    t: Target, sim: SimResult, served: pl.DataFrame, profile: Profile, policy: Policy, start: int
) -> float | None:
    """The simulated figure for a target (for a growth figure, the ratio of its period to
    its base period); None when the horizon does not cover its periods."""
    level = _measure_level(t, t.period, sim, served, profile, policy, start)
    if t.base_period is None or level is None:
        return level
    base = _measure_level(t, t.base_period, sim, served, profile, policy, start)
    return None if not base else level / base


def _measure_level(
    t: Target,
    period: str,
    sim: SimResult,
    served: pl.DataFrame,
    profile: Profile,
    policy: Policy,
    start: int,
) -> float | None:
    T = sim.arr.shape[0]
    first, last = period_months(period)
    if first < start or last > start + T - 1:
        return None
    if t.metric == "clients_served":
        if t.products:
            return float(products_served(sim, policy, start, first, last, t.products))
        s = served.filter((pl.col("period") == period) & (pl.col("domain") == t.domain))
        if t.group:
            s = s.filter(pl.col("group") == t.group)
        return float(s["clients_served"].sum())
    # gross_eur: the budget year's gross cost in scope (bins: month, group, product, step, field)
    prods = [
        i
        for i, p in enumerate(policy.products)
        if p.domain == t.domain and (t.products is None or p.code in t.products)
    ]
    groups = [profile.group_codes.index(t.group)] if t.group else list(range(len(profile.groups)))
    cube = sim.arr[first - start : last - start + 1][:, groups][:, :, prods][..., A_GROSS]
    return float(cube.sum()) / 100.0


@dataclass
class Evaluator:
    """Runs the baseline on one fixed population with given multipliers and measures the
    targets. The population and the state are built once."""

    profile: Profile  # unfitted (multipliers 1)
    policy: Policy
    population: Population
    start: int
    months: int
    seed: int
    targets: list[Target]
    runs: int = 0

    def __post_init__(self):
        self.state = build_state(self.population, self.policy, self.profile.group_codes)

    def profile_with(self, mult: dict[str, tuple[float, float]]) -> Profile:
        from dataclasses import replace

        return replace(self.profile, groups=apply_multipliers(self.profile.groups, mult))

    def __call__(self, mult: dict[str, tuple[float, float]]) -> dict[str, float | None]:
        prof = self.profile_with(mult)
        sim = simulate(
            prof,
            self.policy,
            self.population,
            self.start,
            self.months,
            self.seed,
            rng_mode=MODE_KEYED,
            base_state=self.state,
        )
        self.runs += 1
        served = aggregate.served_frame(
            sim.served_half, sim.served_year, self.start, self.months, prof.group_codes
        )
        return {
            t.name: measure(t, sim, served, prof, self.policy, self.start) for t in self.targets
        }


# --------------------------------------------------------------------------- fitting
def _residuals(values: dict[str, float | None], targets: list[Target]) -> np.ndarray:
    r = []
    for t in targets:
        v = values[t.name]
        v = max(v, 1e-9) if v is not None else 1e-9
        if t.value is not None:
            r.append(math.log(v / t.value) / max(t.tolerance, 0.01))
        lo, hi = t.bounds
        if t.min is not None:
            r.append(min(0.0, math.log(v / (t.min * (1 + BOUND_MARGIN)))) / 0.05)
        if t.max is not None:
            r.append(max(0.0, math.log(v / (t.max * (1 - BOUND_MARGIN)))) / 0.05)
    return np.array(r, dtype=np.float64)


def _done(values: dict[str, float | None], targets: list[Target]) -> bool:
    for t in targets:
        v = values[t.name]
        if v is None or not t.passes(v):
            return False
        if t.value is not None and abs(v / t.value - 1) > t.tolerance / 2:
            return False
    return True


@dataclass
class Fit:
    blocks: list[list[str]]
    theta: np.ndarray  # [log inflow per block..., log exit per block...]
    values: dict
    iterations: int
    runs: int

    def multipliers(self) -> dict[str, tuple[float, float]]:
        return _mult(self.blocks, self.theta)


def _mult(blocks: list[list[str]], theta: np.ndarray) -> dict[str, tuple[float, float]]:
    nb = len(blocks)
    out = {}
    for b, codes in enumerate(blocks):
        for c in codes:
            out[c] = (float(np.exp(theta[b])), float(np.exp(theta[nb + b])))
    return out


def fit(
    ev: Evaluator, fit_targets: list[Target], iterations: int, initial: dict | None = None
) -> Fit:
    """Levenberg-Marquardt on the log multipliers of the target blocks."""
    profile = ev.profile
    member = {
        g.code: tuple(g.code in scope_groups(t, profile) for t in fit_targets)
        for g in profile.groups
    }
    blocks: dict[tuple, list[str]] = {}
    for code, sig in member.items():
        if any(sig):
            blocks.setdefault(sig, []).append(code)
    blocks_l = list(blocks.values())
    nb = len(blocks_l)
    lo = np.array([math.log(INFLOW_BOUNDS[0])] * nb + [math.log(EXIT_BOUNDS[0])] * nb)
    hi = np.array([math.log(profile.pool_oversample)] * nb + [math.log(EXIT_BOUNDS[1])] * nb)
    theta = np.zeros(2 * nb)
    ridge = np.array([RIDGE] * nb + [RIDGE_EXIT] * nb)

    def cost(vals, th):
        r = _residuals(vals, fit_targets)
        return float(r @ r + th @ (ridge * th)), r

    values = initial if initial is not None else ev(_mult(blocks_l, theta))
    c0, r0 = cost(values, theta)
    mu = 1.0
    it = 0
    while it < iterations and nb and not _done(values, fit_targets):
        it += 1
        J = np.zeros((r0.size, theta.size))
        for i in range(theta.size):
            th = theta.copy()
            step = FD_STEP if th[i] + FD_STEP <= hi[i] else -FD_STEP
            th[i] += step
            _, ri = cost(ev(_mult(blocks_l, th)), th)
            J[:, i] = (ri - r0) / step
        while True:
            A = J.T @ J + np.diag(ridge)
            A += mu * np.diag(np.diag(A))
            delta = np.linalg.solve(A, -(J.T @ r0 + ridge * theta))
            cand = np.clip(theta + delta, lo, hi)
            cvals = ev(_mult(blocks_l, cand))
            c1, r1 = cost(cvals, cand)
            if c1 < c0 or mu > 1e3:
                break
            mu *= 4.0
        if c1 < c0:
            theta, values, c0, r0 = cand, cvals, c1, r1
            mu = max(mu / 3.0, 1e-3)
        else:
            break  # no step improves: the targets cannot be met closer with these levers
    return Fit(blocks=blocks_l, theta=theta, values=values, iterations=it, runs=ev.runs)


# --------------------------------------------------------------------------- results
@dataclass
class CalibrationResult:
    profile: str
    mode: str  # fit | report
    table: pl.DataFrame
    multipliers: dict[str, tuple[float, float]]
    report_dir: Path
    fitted_file: Path | None
    iterations: int = 0
    runs: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "profile": self.profile,
            "mode": self.mode,
            "report_dir": str(self.report_dir),
            "fitted_file": str(self.fitted_file) if self.fitted_file else None,
            "iterations": self.iterations,
            "simulations": self.runs,
            "multipliers": {k: {"inflow": v[0], "exit": v[1]} for k, v in self.multipliers.items()},
            "targets": self.table.to_dicts(),
            "notes": self.notes,
        }

    def text(self) -> str:
        lines = []
        if self.mode == "fit":
            lines.append(
                f"calibrated {self.profile}: {self.iterations} iterations, {self.runs} simulations"
            )
        else:
            lines.append(f"calibration report for {self.profile} (nothing fitted)")
        fitting = self.mode == "fit"
        lines.append(
            f"{'target':34s} {'figure':>22s} "
            + (f"{'before':>12s} {'after':>12s}" if fitting else f"{'simulated':>12s}")
            + f" {'diff':>8s}  ok"
        )
        for r in self.table.iter_rows(named=True):
            b = "" if r["before"] is None else number(r["before"])
            a = "" if r["simulated"] is None else number(r["simulated"])
            d = "" if r["difference_pct"] is None else f"{r['difference_pct']:+.1f}%"
            ok = {True: "yes", False: "NO", None: "-"}[r["within_tolerance"]]
            figures = f"{b:>12s} {a:>12s}" if fitting else f"{a:>12s}"
            lines.append(f"{r['target']:34s} {r['figure']:>22s} {figures} {d:>8s}  {ok}")
        oos = out_of_sample(self.table)
        if oos:
            lines.append("out of sample (figures no fit used): error = simulated / figure - 1")
            lines += [
                f"  {r['target']:32s} {number(r['value']):>14s} {number(r['simulated']):>14s} "
                f"{r['difference_pct']:+7.1f}%"
                for r in oos
            ]
        if self.multipliers and self.mode == "fit":
            lines.append(
                "multipliers (inflow, exit): "
                + ", ".join(f"{k} {v[0]:.3f}/{v[1]:.3f}" for k, v in self.multipliers.items())
            )
        if self.fitted_file:
            lines.append(f"fitted parameters: {self.fitted_file}")
        lines.append(f"report: {self.report_dir}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".partial-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _setup(
    profile: Profile, months: int | None, start: int | None
) -> tuple[list[Target], int, int]:
    targets = [t for t in profile.targets.values() if t.declarative]
    if not targets:
        raise InputError(
            f"{profile.path}: key targets",
            "no target with period and domain",
            "[targets] entries { period, domain, value | min | max }",
        )
    start = profile.start if start is None else start
    months = horizon_for(targets, start) if months is None else months
    if months < 1:
        raise InputError("--months", f"{months}", "a whole number of months >= 1")
    return targets, start, months


def calibrate(
    profile_name: str | Path,
    *,
    iterations: int = 8,
    seed: int = 1,
    population_seed: int = 1,
    months: int | None = None,
    start: int | None = None,
    out_dir: Path = Path("runs/out"),
    write_fitted: bool = True,
) -> CalibrationResult:
    """Fit the profile's multipliers to its targets; write the fitted file and the report."""
    profile, policy = load_profile(profile_name, fitted=False)
    targets, start, months = _setup(profile, months, start)
    fit_targets = [t for t in targets if t.fit]
    pop = generate(profile, policy, population_seed, months, start)
    ev = Evaluator(profile, policy, pop, start, months, seed, targets)
    before = ev({})
    notes = [
        f"{t.name}: period {t.period} outside the horizon {format_month(start)} + {months} months"
        for t in targets
        if before[t.name] is None
    ]
    if not fit_targets:
        notes.append("no target has fit = true: nothing to fit")
    result = (
        fit(ev, fit_targets, iterations, initial=before)
        if fit_targets
        else Fit([], np.zeros(0), before, 0, ev.runs)
    )
    # round as written, then measure exactly what later runs will see
    mult = {k: (round(a, 4), round(h, 4)) for k, (a, h) in result.multipliers().items()}
    after = ev(mult)
    fitted_file = fitted_path_for(profile.path)
    meta = {
        "profile": profile.name,
        "profile_sha256": hashlib.sha256(Path(profile.path).read_bytes()).hexdigest()[:16],
        "fitted": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "start": format_month(start),
        "months": months,
        "seeds": {"simulation": seed, "population": population_seed},
        "iterations": result.iterations,
        "simulations": ev.runs,
        "targets_met": all(t.passes(after[t.name]) for t in targets if after[t.name] is not None),
    }
    text = _fitted_toml(profile, mult, meta)
    table = _table(targets, before, after)
    misses = [
        t.name for t in fit_targets if after[t.name] is not None and not t.passes(after[t.name])
    ]
    if misses:
        notes.append(
            "not met after fitting (the levers cannot reach them; check stock, products or "
            "prices): " + ", ".join(misses)
        )
    report_dir = _write_report(
        out_dir, profile.name, table, f"Calibration of {profile.name}", mult, meta, text
    )
    if write_fitted:
        _write_atomic(fitted_file, text)
    return CalibrationResult(
        profile.name,
        "fit",
        table,
        mult,
        report_dir,
        fitted_file if write_fitted else None,
        result.iterations,
        ev.runs,
        notes,
    )


def report_only(
    profile_name: str | Path,
    *,
    seed: int = 1,
    population_seed: int = 1,
    months: int | None = None,
    start: int | None = None,
    out_dir: Path = Path("runs/out"),
    population_file: str | None = None,
) -> CalibrationResult:
    """Measure the targets under the current parameters (fitted file applied), on the
    synthetic population or on a population file / client extract. Fits nothing."""
    profile, policy = load_profile(profile_name)
    targets, start, months = _setup(profile, months, start)
    if population_file:
        from synthetic_population.extract.convert import load_population_file

        pop = load_population_file(
            Path(population_file), profile, policy, population_seed, months, start
        )
        start = pop.start
    else:
        pop = generate(profile, policy, population_seed, months, start)
    ev = Evaluator(profile, policy, pop, start, months, seed, targets)
    values = ev({})  # the profile already carries its fitted multipliers
    notes = [
        f"{t.name}: period {t.period} outside the horizon {format_month(start)} + {months} months"
        for t in targets
        if values[t.name] is None
    ]
    fitted_to = profile.fitted_meta.get("profile_sha256")
    if fitted_to and fitted_to != hashlib.sha256(Path(profile.path).read_bytes()).hexdigest()[:16]:
        notes.append(
            f"{profile.path.name} changed since {profile.fitted_path.name} was fitted: run "
            f"`caseload calibrate {profile.name}` again"
        )
    table = _table(targets, {}, values)
    mult = {
        g.code: (g.inflow_multiplier, g.exit_multiplier)
        for g in profile.groups
        if (g.inflow_multiplier, g.exit_multiplier) != (1.0, 1.0)
    }
    meta = {
        "profile": profile.name,
        "start": format_month(start),
        "months": months,
        "seeds": {"simulation": seed, "population": population_seed},
        "population": population_file or "synthetic",
        "fitted_file": str(profile.fitted_path) if profile.fitted_path else None,
    }
    report_dir = _write_report(
        out_dir,
        profile.name,
        table,
        f"Targets of {profile.name}"
        + (f" on {Path(population_file).name}" if population_file else ""),
        mult,
        meta,
        None,
    )
    return CalibrationResult(
        profile.name, "report", table, mult, report_dir, None, 0, ev.runs, notes
    )
