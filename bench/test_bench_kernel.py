"""The monthly kernel alone on the default profile (about 2.5 million active
arrangement-months over 48 months): `run_kernel` on a fresh copy of the state."""

from engine.model.kernel import run_kernel, weekly_base_cents_all
from engine.model.state import copy_state


def test_kernel_default_profile(benchmark, kernel_inputs):
    state, params, bins, n_chunks = kernel_inputs

    def setup():
        s = copy_state(state)
        weekly_base_cents_all(s, params)
        return (s, params, bins(), n_chunks), {}

    run_kernel(*setup()[0])  # compile (or load the cache) outside the measurement
    benchmark.pedantic(run_kernel, setup=setup, rounds=15, iterations=1)
    s, p, b, n = setup()[0]
    run_kernel(s, p, b, n)
    benchmark.extra_info["active_arrangement_months"] = int(b.arr[..., 0, :].sum())
