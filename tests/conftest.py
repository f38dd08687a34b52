"""Shared fixtures: the toy profile (engine tests) and the default profile (calibration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.run import RunSpec, simulate_scenario

DATA = Path(__file__).parent / "data"
TOY_PROFILE = str(DATA / "toy" / "profile.toml")


def toy_spec(**kw) -> RunSpec:
    kw.setdefault("profile", TOY_PROFILE)
    kw.setdefault("months", 36)
    return RunSpec(**kw)


@pytest.fixture(scope="session")
def toy_run():
    return simulate_scenario(toy_spec(seed=11, population_seed=5))


@pytest.fixture(scope="session")
def default_run():
    """The default profile's baseline, 2024-01 + 48 months (about a second, warm)."""
    return simulate_scenario(RunSpec(months=48))
