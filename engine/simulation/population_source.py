"""The population a run steps: the synthetic population of a profile and seed (from the
population cache when it holds it), or a team's own client extract or a population file
(`--population FILE`). One rule for a single run and for an experiment's sub-runs: an
extract's month is the run's first month; a population file is stepped from the month it
was made for."""

from __future__ import annotations

from pathlib import Path

from synthetic_population.cache import generate_cached
from synthetic_population.generator import Population


def load_population(spec, profile, policy, start: int) -> Population:
    """The population a run or an experiment steps: the spec's population file or client
    extract, else the synthetic population of its seed, start and horizon (from the
    population cache when it holds it). `spec`: a RunSpec or an experiment's ContextSpec."""
    if not spec.population_file:
        return generate_cached(profile, policy, spec.population_seed, spec.months, start)
    from synthetic_population.extract.convert import load_population_file

    return load_population_file(
        Path(spec.population_file), profile, policy, spec.population_seed, spec.months, spec.start
    )


def population_manifest(population: Population, file: str | None) -> dict:
    """What a manifest says of the population stepped: synthetic or a client extract, the
    file it was read from (None: generated), its clients and arrangement slots."""
    return {
        "source": population.meta.get("source", "synthetic"),
        "file": file,
        "clients": population.n_clients,
        "arrangement_slots": population.n_arrangements,
    }


def start_of(population: Population, start: int) -> int:
    """The run's first month: a client extract's month (`extract_month`, or the `start` it
    was read for), else `start`; a population file made for another month is refused later
    (engine.simulation.simulate) with what it covers."""
    return population.start if population.meta.get("source") == "extract" else start
