"""The 32 measure subsets of the default experiment (boz-2024-experiment, five measures,
exact Shapley) for one seed on the default profile, 48 months: one kernel pass per subset
(`Context.run`) against one multi-combination pass (`Context.run_many`, engine.model.combinations).
Warm Numba cache; the trajectories stepped are recorded beside the figures."""

import pytest

from engine.simulation.experiment import load_experiment
from engine.simulation.subrun import D_AFFECTED, Context, Unit

MASKS = list(range(32))


@pytest.fixture(scope="module")
def experiment_ctx():
    spec = load_experiment("runs/scenarios/boz-2024-experiment.toml")
    ctx = Context.build(spec.context_spec())
    ctx.run(Unit(1, 31, D_AFFECTED))  # compile (or load the cache) outside the measurement
    ctx.run_many(1, [0, 31])
    return ctx


def test_32_subsets_one_pass_each(benchmark, experiment_ctx):
    benchmark.pedantic(
        lambda: [experiment_ctx.run(Unit(1, m, D_AFFECTED)) for m in MASKS], rounds=3, iterations=1
    )


def test_32_subsets_run_many(benchmark, experiment_ctx):
    benchmark.pedantic(lambda: experiment_ctx.run_many(1, MASKS), rounds=5, iterations=1)
    st = experiment_ctx.last_multi_stats
    benchmark.extra_info.update(
        trajectories=st["trajectories"], clients=st["clients"], combinations=st["combinations"]
    )
