"""caseload: a client caseload microsimulation of Dutch municipal social care.

The Python API, for notebooks and scripts (the CLI `caseload` does the same from a shell):

    import engine

    base = engine.run("runs/scenarios/baseline.toml", out="runs/out", run_id="base")
    boz = engine.run("runs/scenarios/boz-2024.toml", out="runs/out", run_id="boz")
    savings = engine.compare(base, boz)["comparison_yearly"]      # Polars frames
    exp = engine.run_experiment("runs/scenarios/boz-2024-experiment.toml", out="runs/out")
    engine.open_run(exp).table("savings")

Every function raises `engine.InputError` (a `CaseloadError`) for input to fix, with the
file, key or option named. Importing `engine` loads nothing heavy and changes nothing: the
functions import what they need when called.
"""

from __future__ import annotations

from pathlib import Path

from engine.core.errors import CaseloadError, InputError
from engine.core.version import __version__

__all__ = [
    "CaseloadError",
    "InputError",
    "compare",
    "load_scenario",
    "open_run",
    "run",
    "run_experiment",
    "__version__",
]


def load_scenario(path: str | Path):
    """A scenario file (profile, policy, measures, horizon, seeds) as a `RunSpec` whose
    fields may be changed before `run` (e.g. `spec.seed = 7`)."""
    from engine.core.scenario import load_scenario as _load

    return _load(path)


def run(scenario=None, *, out: str | Path | None = None, run_id: str | None = None, **fields):
    """Run a scenario: a path, a `RunSpec`, or None (the default profile's baseline);
    keyword fields override the spec (`months=24`, `seed=7`, `measures=[...]`). With `out`,
    the run folder is written there and its path returned; without, the result stays in
    memory (`result.tables` are Polars frames, `result.manifest` a dict)."""
    from dataclasses import replace

    from engine.core.scenario import RunSpec
    from engine.simulation.run import execute, simulate_scenario

    spec = (
        scenario
        if isinstance(scenario, RunSpec)
        else (load_scenario(scenario) if scenario is not None else RunSpec())
    )
    spec = replace(spec, **fields) if fields else spec
    if out is None:
        return simulate_scenario(spec)
    return execute(spec, Path(out), run_id)[1]


def compare(
    baseline: str | Path,
    measure: str | Path,
    *,
    out: str | Path | None = None,
    name: str | None = None,
) -> dict:
    """Baseline versus measure run (folders or ids under `out`, default runs/out): Polars
    frames by name (`comparison`, `comparison_yearly`, `affected_by_group`). With `out`,
    the comparison folder is written there too (its path under the key `path`)."""
    from engine.simulation.compare import compare_runs, resolve_run, write_comparison

    where = Path(out) if out is not None else Path("runs/out")
    base, meas = resolve_run(str(baseline), where), resolve_run(str(measure), where)
    result = compare_runs(base, meas)
    if out is not None:
        result["path"] = write_comparison(result, base, meas, where, name)
    return result


def run_experiment(
    path: str | Path,
    *,
    out: str | Path = "runs/out",
    run_id: str | None = None,
    backend: str = "process",
    workers: int | None = None,
    population: str | Path | None = None,
) -> Path:
    """Run an experiment file (measures x seeds: savings per measure and budget year,
    Shapley shares, percentiles) and write its folder under `out`; returns its path.
    `population`: a client extract or population file as every sub-run's start stock."""
    from engine.simulation.experiment import (
        experiment_id,
        load_experiment,
        manifest_for,
        write_experiment,
    )
    from engine.simulation.experiment import run_experiment as _run

    spec = load_experiment(path)
    spec.on_stock(population)
    run_id = run_id or experiment_id(spec)
    tables, info, ctx = _run(spec, backend=backend, workers=workers)
    manifest = manifest_for(
        spec, ctx, run_id, info["backend"], info["workers"], info["timings"], info["subruns"]
    )
    return write_experiment(tables, manifest, Path(out), run_id)


def open_run(ref: str | Path, out: str | Path = "runs/out"):
    """An output folder (run, comparison, experiment, sensitivity; a path or an id under
    `out`): `.kind`, `.manifest`, and `.table(name)` as a Polars frame."""
    from engine.outputs.folder import open_folder

    return open_folder(str(ref), Path(out))
