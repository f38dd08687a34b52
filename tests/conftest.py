"""Shared fixtures: a toy run (engine tests) and the default profile's baseline."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from engine.core.scenario import RunSpec
from engine.simulation.run import simulate_scenario
from tests.helpers import toy_spec

# The population cache of the whole session (and of the commands it runs) is a folder of its
# own, not the project's .population-cache: the first run of a population fills it, later
# runs of the same population load it (so the golden runs check the cache's round trip too).
_POPULATION_CACHE = tempfile.mkdtemp(prefix="caseload-population-cache-")
os.environ.setdefault("CASELOAD_POPULATION_CACHE", _POPULATION_CACHE)


def pytest_unconfigure(config):
    shutil.rmtree(_POPULATION_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def toy_run():
    return simulate_scenario(toy_spec(seed=11, population_seed=5))


@pytest.fixture(scope="session")
def default_run():
    """The default profile's baseline, 2024-01 + 48 months (about a second, warm)."""
    return simulate_scenario(RunSpec(months=48))
