"""Shared fixtures: a toy run (engine tests) and the default profile's baseline."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from engine.core.scenario import RunSpec
from engine.simulation.run import simulate_scenario
from tests.helpers import toy_spec

# CI runs the property tests on a fixed sequence of examples (no run-to-run luck); a developer's
# run explores new ones. `.ci/run` sets CI.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def toy_run():
    return simulate_scenario(toy_spec(seed=11, population_seed=5))


@pytest.fixture(scope="session")
def default_run():
    """The default profile's baseline, 2024-01 + 48 months (about a second, warm)."""
    return simulate_scenario(RunSpec(months=48))
