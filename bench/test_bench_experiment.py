"""Experiment sub-runs on the default profile: the 32 subsets of the five measures for one
seed, in this process (what one replication of the default experiment costs)."""

from tests.test_experiment import ROOT

from engine.simulation.attribution import exact_masks
from engine.simulation.experiment import load_experiment
from engine.simulation.subrun import Context, Unit


def test_bench_one_seed_all_subsets(benchmark):
    spec = load_experiment(ROOT / "runs" / "scenarios" / "boz-2024-experiment.toml")
    ctx = Context.build(spec.context_spec())
    units = [Unit(seed=1, mask=m) for m in exact_masks(len(ctx.measures))]
    ctx.run(units[-1])  # load the cache outside the measurement

    def all_subsets():
        return [ctx.run(u) for u in units]

    benchmark.pedantic(all_subsets, rounds=3, iterations=1)
    benchmark.extra_info["subruns"] = len(units)
