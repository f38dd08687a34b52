"""One full run end to end, as `caseload run` does it: generate, build the state, kernel,
aggregate, write the run folder (default profile, 2024-01 + 48 months, warm Numba cache)."""

import itertools

from engine.simulation.run import RunSpec, execute, simulate_scenario

_ids = itertools.count()


def test_full_run_default_profile(benchmark, tmp_path):
    simulate_scenario(RunSpec(months=12))  # compile (or load the cache) outside the measurement

    def run():
        return execute(RunSpec(months=48), tmp_path, f"bench-{next(_ids)}")

    result, _ = benchmark.pedantic(run, rounds=5, iterations=1)
    benchmark.extra_info["active_arrangement_months"] = result.sim.active_arrangement_months
