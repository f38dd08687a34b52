"""Shared fixtures: a toy run (engine tests) and the default profile's baseline."""

from __future__ import annotations

import os
import shutil
import tempfile

# Thread-count tests run 1 and 2 kernel threads: give Numba two even on a 1-CPU runner (before
# its thread pool starts; a plugin may have imported Numba already, so its settings are read
# again). Results never depend on the thread count.
if int(os.environ.get("NUMBA_NUM_THREADS") or os.cpu_count() or 1) < 2:
    os.environ["NUMBA_NUM_THREADS"] = "2"
    import numba
    import numba.np.ufunc.parallel as numba_parallel

    numba.config.reload_config()
    numba_parallel.NUM_THREADS = numba_parallel.get_thread_count()
    numba_parallel.snt_check = numba_parallel.gen_snt_check()

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
