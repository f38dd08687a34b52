"""Sensitivity: one-at-a-time changes of named assumptions, and how much each moves every
measure's saving (the data for a tornado chart).

    caseload sensitivity runs/scenarios/boz-2024-experiment.toml \\
        --vary policy.products.huishouden.steps.hh2.price_w=30:40 \\
        --vary ho_provider_review.params.share=0.1:0.5

An assumption is addressed by its name: a profile or policy parameter as `caseload params`
lists it (with or without the leading `profile.`), or a rule key of one of the measures as
`<rule>.<key>[.<key>]`. For the base and for each assumption at its low and at its high
value, every measure runs alone and the package runs (on the first seed of the experiment,
or `--seeds`); the population is regenerated under each variant, so assumptions about the
population (stock, inflow, hazards) are varied too. On a client extract or population file
(`--population`) the file's clients are fixed: a group's `stock` cannot be varied, and the
assumptions that shape generated clients act only on the inflow pool an extract is run
with (a population file holds its pool too). A vary file (`--file`) holds

    [[vary]]
    name = "groups.ouderen.inflow_per_year"
    low = 4000
    high = 5600

`--from-measures` varies every assumption the experiment's measure files mark with a range
(`{ value, low, high, basis }`, rules.schema): low is the weaker effect, high the stronger.
A rule key changes one measure only: its variants run that measure alone and the package
(the other measures' savings are the base's, the same population and draws).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from engine.core.errors import InputError
from engine.core.months import format_month
from engine.core.sourced import Section, load_toml
from engine.core.version import __version__
from engine.simulation import attribution
from engine.simulation.experiment import ExperimentSpec
from engine.simulation.population_source import population_manifest
from engine.simulation.subrun import Context, Unit


@dataclass
class Vary:
    name: str
    low: Any
    high: Any
    kind: str = ""  # "rule" | "parameter", set when resolved
    base: Any = None


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def parse_vary(items: list[str]) -> list[Vary]:
    out = []
    for item in items or []:
        name, eq, rng = item.partition("=")
        low, colon, high = rng.partition(":")
        if not eq or not colon or not name.strip() or not low or not high:
            raise InputError(
                "--vary", f"{item!r}", "NAME=LOW:HIGH, e.g. ho_provider_review.params.share=0.1:0.5"
            )
        out.append(Vary(name.strip(), _value(low), _value(high)))
    return out


def load_vary_file(path: str | Path) -> list[Vary]:
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "vary file not found")
    top = Section(load_toml(path), str(path))
    items = top.raw("vary")
    if not isinstance(items, list) or not items:
        raise top.error(
            "vary", "no [[vary]] tables", "one or more [[vary]] tables with name, low, high"
        )
    out = []
    for i, it in enumerate(items):
        sec = Section(it, str(path), f"vary[{i}]")
        out.append(Vary(sec.text("name"), sec.raw("low"), sec.raw("high")))
        sec.done()
    top.done()
    return out


def _lookup(tree: Any, parts: list[str]) -> Any:
    for p in parts:
        if isinstance(tree, dict) and p in tree:
            tree = tree[p]
        else:
            return None
    return tree


def resolve(varies: list[Vary], ctx: Context) -> list[Vary]:
    """Tell rule keys from parameters and find each assumption's base value; unknown names
    are errors naming the assumption."""
    rules = {r.name: r for m in ctx.measures for r in m.rules}
    register = {p.name: p.value for p in [*ctx.profile.register, *ctx.policy.register]}
    names = [v.name for v in varies]
    if len(set(names)) != len(names):
        raise InputError("--vary", "an assumption is varied twice", "each name once")
    for v in varies:
        if v.name.startswith("profile."):
            v.name = v.name[len("profile.") :]
        head, _, rest = v.name.partition(".")
        if head in rules:
            v.kind = "rule"
            r = rules[head]
            parts = rest.split(".")
            exceptions = {
                "approved_share": r.approved_share,
                "leaves_share": r.leaves_share,
                "flags": r.exempt_flags,
            }
            if parts[0] == "params":
                v.base = _lookup(r.params, parts[1:])
            elif parts[0] == "exceptions":
                v.base = exceptions.get(parts[1]) if len(parts) == 2 else None
            else:
                v.base = getattr(r, parts[0], None)
        else:
            v.kind = "parameter"
            key = v.name if v.name.startswith("policy.") else "profile." + v.name
            if key not in register:
                raise InputError(
                    "--vary",
                    f"unknown assumption {v.name!r}",
                    "a name from `caseload params` or <rule>.<key> of one of the measures (rules: "
                    + ", ".join(rules)
                    + ")",
                )
            v.base = register[key]
            if ctx.spec.population_file and _stock_size(v.name):
                raise InputError(
                    "--vary",
                    f"{v.name}: the start stock is {ctx.spec.population_file}'s, not drawn, so "
                    "its size cannot vary",
                    "another assumption, or no --population",
                )
    return varies


def _stock_size(name: str) -> bool:
    """A group's start stock size (`groups.<group>.stock`): the generator's alone."""
    parts = name.split(".")
    return len(parts) == 3 and parts[0] == "groups" and parts[2] == "stock"


def from_measures(measures: list) -> list[Vary]:
    """Every assumption with a range in the measure files, in measure and rule order."""
    return [Vary(a.name, a.low, a.high) for m in measures for a in m.assumptions]


def _owner(name: str, measures: list) -> int:
    """The index of the measure holding the rule of a rule key."""
    rule = name.split(".", 1)[0]
    return next(i for i, m in enumerate(measures) if any(r.name == rule for r in m.rules))


def _rows(varies, names, years, seeds, per_variant) -> list[dict]:
    base_sav = per_variant[0]
    rows = []
    for vi, v in enumerate(varies):
        lo, hi = per_variant[1 + 2 * vi], per_variant[2 + 2 * vi]
        for name in [*names, "package"]:
            for yi, year in enumerate(years):
                b = sum(base_sav[(name, s, yi)] for s in seeds) // len(seeds)
                low = sum(lo[(name, s, yi)] for s in seeds) // len(seeds)
                high = sum(hi[(name, s, yi)] for s in seeds) // len(seeds)
                rows.append(
                    {
                        "parameter": v.name,
                        "value_base": json.dumps(v.base, default=str),
                        "value_low": json.dumps(v.low),
                        "value_high": json.dumps(v.high),
                        "measure": name,
                        "budget_year": year,
                        "saving_base_net_cents": b,
                        "saving_low_net_cents": low,
                        "saving_high_net_cents": high,
                        "swing_net_cents": abs(high - low),
                    }
                )
    return rows


def _variants(spec: ExperimentSpec, varies: list[Vary], base_cspec, base_ctx) -> tuple:
    """(name, side, context spec) of the base and each assumption's low and high value, and
    the contexts built here (rule keys: the same population)."""
    from synthetic_population.profile import load_profile

    variants = [("base", None, base_cspec)]
    contexts = {base_cspec.key(): base_ctx}
    for v in varies:
        for side in ("low", "high"):
            value = getattr(v, side)
            if (
                v.kind == "parameter"
            ):  # the population is drawn again under the variant (in the worker)
                cs = spec.context_spec(overrides={v.name: value})
                load_profile(
                    cs.profile, cs.overrides
                )  # bad values are errors here, not in a worker
            else:  # a rule key: same population; building the context validates the key and value
                cs = spec.context_spec(measure_overrides={v.name: value})
                contexts[cs.key()] = Context.build(cs, population=base_ctx.population)
            variants.append((v.name, side, cs))

    return variants, contexts


def run_sensitivity(
    spec: ExperimentSpec,
    varies: list[Vary],
    seeds: list[int] | None = None,
    measure_assumptions: bool = False,
    backend: str = "process",
    workers: int | None = None,
    address: str | None = None,
    progress=None,
    on_plan=None,
) -> tuple[dict, dict]:
    """Standalone savings of every measure and the package's, at the base and at each
    assumption's low and high value; the table and the manifest."""
    import time

    from engine.simulation.backends import run_jobs

    t0 = time.perf_counter()
    seeds = seeds or spec.seeds[:1]
    base_cspec = spec.context_spec()
    base_ctx = Context.build(base_cspec)
    if measure_assumptions:
        known = {v.name for v in varies}
        varies = varies + [v for v in from_measures(base_ctx.measures) if v.name not in known]
    if not varies:
        raise InputError(
            "--vary",
            "nothing to vary",
            "one or more --vary NAME=LOW:HIGH, --file, or --from-measures with assumptions",
        )
    resolve(varies, base_ctx)
    n = len(base_ctx.measures)
    masks = attribution.standalone_masks(n)
    full = attribution.full_mask(n)
    variants, contexts = _variants(spec, varies, base_cspec, base_ctx)

    kinds = {v.name: v.kind for v in varies}

    def masks_of(name: str) -> list[int]:
        if kinds.get(name) != "rule":  # the base, or a parameter (another population)
            return masks
        return sorted({0, 1 << _owner(name, base_ctx.measures), full})

    jobs = [
        (cs, [Unit(seed=s, mask=m) for s in seeds for m in masks_of(name)])
        for name, _, cs in variants
    ]
    if on_plan:
        on_plan(sum(len(u) for _, u in jobs))
    results, used = run_jobs(
        jobs,
        backend=backend,
        workers=workers,
        address=address,
        progress=progress,
        contexts=contexts,
    )
    names = [m.name for m in base_ctx.measures]
    label = {full: "package", **{1 << i: names[i] for i in range(n)}}

    def savings(k: int) -> dict:
        """(measure, seed, year index) -> saving cents for variant k (the base's where the
        variant did not run the measure: a rule key of another measure)."""
        units = jobs[k][1]
        res = {(u.seed, u.mask): r for u, r in zip(units, results[k], strict=True)}
        out = {}
        for s in seeds:
            base = res[(s, 0)]
            for mask, name in label.items():
                for yi in range(len(base_ctx.years)):
                    if (s, mask) in res:
                        out[(name, s, yi)] = int(base.net_y[yi] - res[(s, mask)].net_y[yi])
                    else:
                        out[(name, s, yi)] = per_variant[0][(name, s, yi)]
        return out

    per_variant: list[dict] = []

    for k in range(len(variants)):
        per_variant.append(savings(k))
    rows = _rows(varies, names, base_ctx.years, seeds, per_variant)
    schema = {
        "parameter": pl.Utf8,
        "value_base": pl.Utf8,
        "value_low": pl.Utf8,
        "value_high": pl.Utf8,
        "measure": pl.Utf8,
        "budget_year": pl.Int32,
        "saving_base_net_cents": pl.Int64,
        "saving_low_net_cents": pl.Int64,
        "saving_high_net_cents": pl.Int64,
        "swing_net_cents": pl.Int64,
    }
    table = pl.DataFrame(rows, schema=schema, orient="row")
    manifest = {
        "kind": "sensitivity",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "caseload_version": __version__,
        "experiment": {
            "name": spec.name,
            "file": spec.file,
            "description": spec.description,
            "profile": base_ctx.profile.name,
            "policy": base_ctx.policy.name,
            "start": format_month(base_ctx.start),
            "months": base_ctx.months,
            "population_seed": spec.baseline.population_seed,
            "seeds": seeds,
            "attribution": "standalone",
            "backend": used["backend"],
            "workers": used["workers"],
            "subruns": sum(len(u) for _, u in jobs),
        },
        "varied": [
            {"name": v.name, "kind": v.kind, "base": v.base, "low": v.low, "high": v.high}
            for v in varies
        ],
        "measures": [
            {
                "name": m.name,
                "number": m.number,
                "title": m.title,
                "source": m.source,
                "file": str(m.path),
            }
            for m in base_ctx.measures
        ],
        "population": population_manifest(base_ctx.population, spec.baseline.population_file),
        "budget_years": base_ctx.years,
        "hashes": base_ctx.hashes(),
        "timings": {"total_s": round(time.perf_counter() - t0, 3)},
    }
    return {"sensitivity": table}, manifest
