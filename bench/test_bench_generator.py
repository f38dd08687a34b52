"""Population generation and the state built from it, default profile, 48 months."""

from engine.model.state import build_state
from synthetic_population.generator import generate


def test_generate_default_profile(benchmark, default_profile):
    profile, policy = default_profile
    pop = benchmark.pedantic(generate, args=(profile, policy, 1, 48), rounds=5, iterations=1)
    benchmark.extra_info["arrangement_slots"] = pop.n_arrangements


def test_build_state_default_profile(benchmark, default_profile, default_population):
    profile, policy = default_profile
    benchmark.pedantic(
        build_state, args=(default_population, policy, profile.group_codes), rounds=5, iterations=1
    )
