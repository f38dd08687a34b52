"""Scenario files: profile + baseline policy + zero or more measures + horizon + seeds.

[scenario]
name = "boz-2024"
profile = "rotterdam"
start = "2024-01"
months = 48
seed = 1
population_seed = 1
measures = ["m15_no_ironing", "m17_wmo_weekly_cap_800"]   # policy library measures, or paths
capacity = false        # true: the library's capacity holds (waiting lists, rules.capacity)

[overrides]             # any profile parameter by dotted name; policy ones start with policy.
"groups.ouderen.inflow_per_year" = 4800

[measure_overrides]     # any rule key: "<rule name>.<key>[.<key>]"
"wmo_weekly_cap_800.params.cap_eur_w" = 900
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.domain import MODE_KEYED
from engine.core.errors import InputError
from engine.core.limits import MAX_SCENARIO_NAME, MAX_SEED, check_name, max_threads
from engine.core.months import check_run_start, parse_month
from engine.core.sourced import Section, load_toml


@dataclass
class RunSpec:
    """What a run is: profile (+ its policy), horizon, seeds, parameter overrides."""

    name: str = "baseline"
    profile: str = "rotterdam"
    start: int | None = None  # month index; None: the profile's stock month
    months: int = 48
    seed: int = 1
    population_seed: int = 1
    overrides: dict = field(default_factory=dict)  # applied: the scenario's, then --set on top
    scenario_overrides: dict = field(default_factory=dict)  # the scenario file's [overrides]
    set_overrides: dict = field(default_factory=dict)  # --set NAME=VALUE
    population_file: str | None = None
    rng_mode: int = MODE_KEYED
    threads: int | None = None
    measures: list = field(default_factory=list)  # measure names (policy library) or paths
    measure_overrides: dict = field(default_factory=dict)  # "<rule>.<key path>" -> value
    description: str = ""
    base_dir: str | None = None  # where relative measure paths are resolved (the scenario's folder)
    scenario_file: str | None = None
    # the policy library's capacity holds: queues for capacity-bound products (rules.capacity)
    capacity: bool = False

    def validate(self) -> None:
        check_name(self.name, "scenario name", "a scenario name", MAX_SCENARIO_NAME)
        if self.months < 1:
            raise InputError(
                "--months", f"{self.months} is not a horizon", "a whole number of months >= 1"
            )
        if self.months > 600:
            raise InputError("--months", f"{self.months} is too long", "at most 600 months")
        for name in ("seed", "population_seed"):
            v = getattr(self, name)
            if v < 0 or v > MAX_SEED:
                raise InputError(f"--{name.replace('_', '-')}", f"{v}", "a seed in [0, 2^63)")
        if self.start is not None:
            check_run_start(self.start, "--start")
        if self.threads is not None and not 1 <= self.threads <= max_threads():
            raise InputError(
                "--threads",
                f"{self.threads}",
                f"1..{max_threads()} (the cores Numba can use here; NUMBA_NUM_THREADS)",
            )

    def layer_overrides(self, sets: dict) -> None:
        """`--set` values on top of the scenario's `[overrides]` (both kept for the manifest)."""
        self.set_overrides = dict(sets)
        self.overrides = {**self.scenario_overrides, **self.set_overrides}


def check_finite_tree(value, where: str) -> None:
    """Refuse NaN and infinity anywhere in an override value (lists and tables included)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(where, f"{value!r} is not a finite number", "a finite number")
    if isinstance(value, list):
        for i, v in enumerate(value):
            check_finite_tree(v, f"{where}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_finite_tree(v, f"{where}.{k}")


def load_scenario(path: str | Path) -> RunSpec:
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "scenario file not found")
    raw = load_toml(path)
    f = str(path)
    top = Section(raw, f)
    sc = top.section("scenario")
    spec = RunSpec()
    spec.name = check_name(
        sc.text("name", path.stem), sc.where("name"), "a scenario name", MAX_SCENARIO_NAME
    )
    spec.description = sc.text("description", "")
    profile = sc.text("profile", spec.profile)
    # a profile given as a relative path is relative to the scenario file
    spec.profile = (
        str(path.parent / profile)
        if profile.endswith(".toml") and not Path(profile).is_absolute()
        else profile
    )
    start = sc.raw("start", None)
    spec.start = parse_month(start, f"{f}: key scenario.start") if start is not None else None
    spec.months = sc.number("months", spec.months, lo=1, hi=600, integer=True)
    spec.seed = sc.number("seed", spec.seed, lo=0, hi=MAX_SEED, integer=True)
    spec.population_seed = sc.number(
        "population_seed", spec.population_seed, lo=0, hi=MAX_SEED, integer=True
    )
    measures = sc.raw("measures", [])
    if not isinstance(measures, list) or any(not isinstance(m, str) for m in measures):
        raise sc.error("measures", f"{measures!r}", "a list of measure names or paths")
    spec.measures = list(measures)
    spec.capacity = sc.boolean("capacity", False)
    sc.done()
    overrides = top.raw("overrides", {})
    measure_overrides = top.raw("measure_overrides", {})
    for key, value in (("overrides", overrides), ("measure_overrides", measure_overrides)):
        if not isinstance(value, dict):
            raise top.error(key, f"{value!r}", "a table of NAME = VALUE")
    for key, table in (("overrides", overrides), ("measure_overrides", measure_overrides)):
        for name, value in table.items():
            check_finite_tree(value, f"{f}: key {key}.{name}")
    spec.scenario_overrides = dict(overrides)
    spec.overrides = dict(overrides)
    spec.measure_overrides = dict(measure_overrides)
    spec.base_dir = str(path.parent)
    spec.scenario_file = str(path)
    top.done()
    spec.validate()
    return spec
