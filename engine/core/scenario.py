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

from dataclasses import dataclass, field
from pathlib import Path

from engine.core.domain import MODE_KEYED
from engine.core.errors import InputError
from engine.core.months import parse_month
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
    overrides: dict = field(default_factory=dict)
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
        if self.months < 1:
            raise InputError(
                "--months", f"{self.months} is not a horizon", "a whole number of months >= 1"
            )
        if self.months > 600:
            raise InputError("--months", f"{self.months} is too long", "at most 600 months")
        for name in ("seed", "population_seed"):
            v = getattr(self, name)
            if v < 0 or v >= 2**63:
                raise InputError(f"--{name.replace('_', '-')}", f"{v}", "a seed in [0, 2^63)")


def load_scenario(path: str | Path) -> RunSpec:
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "scenario file not found")
    raw = load_toml(path)
    f = str(path)
    top = Section(raw, f)
    sc = top.section("scenario")
    spec = RunSpec()
    spec.name = sc.text("name", path.stem)
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
    spec.seed = sc.number("seed", spec.seed, lo=0, integer=True)
    spec.population_seed = sc.number("population_seed", spec.population_seed, lo=0, integer=True)
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
    spec.overrides = dict(overrides)
    spec.measure_overrides = dict(measure_overrides)
    spec.base_dir = str(path.parent)
    spec.scenario_file = str(path)
    top.done()
    spec.validate()
    return spec
