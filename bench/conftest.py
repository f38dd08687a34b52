"""Benchmarks (`make bench`; never CI: `make test` collects only tests/). Every suite is
marked `benchmark` and measured with pytest-benchmark; figures on a shared 2-core machine
are noisy, so compare the minimum over rounds."""

from __future__ import annotations

import numba
import pytest

from engine.simulation.simulate import CHUNKS_PER_THREAD, allocate_bins, build_state, compile_params
from synthetic_population.generator import generate
from synthetic_population.profile import load_profile

MONTHS = 48


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.benchmark)


@pytest.fixture(scope="session")
def default_profile():
    return load_profile("rotterdam")


@pytest.fixture(scope="session")
def default_population(default_profile):
    profile, policy = default_profile
    return generate(profile, policy, 1, MONTHS)


@pytest.fixture(scope="session")
def kernel_inputs(default_profile, default_population):
    """State, compiled parameters and a bin factory for the default profile's baseline."""
    profile, policy = default_profile
    pop = default_population
    state = build_state(pop, policy, profile.group_codes)
    params = compile_params(profile, policy, pop.pool_rate, profile.start, MONTHS, 1)
    n_chunks = numba.get_num_threads() * CHUNKS_PER_THREAD

    def bins():
        return allocate_bins(
            params, len(profile.groups), len(policy.products), n_chunks, state.n_slots
        )

    return state, params, bins, n_chunks
