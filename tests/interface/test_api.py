"""The Python API of the README's quickstart, end to end on the toy profile: run a baseline
and a measure run to folders, compare them, open a folder's tables, run in memory, run an
experiment; bad input raises engine.InputError."""

from __future__ import annotations

import polars as pl
import pytest

import engine
from tests.helpers import DATA, TOY_PROFILE


def _scenario(path, name, measures=()):
    path.write_text(
        f'[scenario]\nname = "{name}"\nprofile = "{TOY_PROFILE}"\nstart = "2024-01"\nmonths = 18\n'
        f"seed = 3\npopulation_seed = 5\nmeasures = {list(measures)!r}\n".replace("'", '"')
    )
    return path


def test_the_readme_quickstart_runs_from_python(tmp_path):
    out = tmp_path / "out"
    base_file = _scenario(tmp_path / "base.toml", "base")
    cap_file = _scenario(
        tmp_path / "cap.toml", "cap", [str(DATA / "toy" / "measures" / "t5_wmo_cap.toml")]
    )
    base = engine.run(base_file, out=out, run_id="base")
    cap = engine.run(cap_file, out=out, run_id="cap")
    assert base == out / "base"
    assert (cap / "manifest.json").exists()
    cmp = engine.compare(base, cap)
    yearly = cmp["comparison_yearly"]
    assert isinstance(yearly, pl.DataFrame)
    assert yearly.height > 0
    folder = engine.open_run("base", out=out)
    assert folder.kind == "run"
    summary = folder.table("summary")
    in_memory = engine.run(base_file)  # the same spec in memory: the same tables
    assert in_memory.tables["summary"].equals(summary)
    shorter = engine.run(base_file, months=6)
    assert shorter.manifest["scenario"]["months"] == 6


def test_an_experiment_runs_from_python(tmp_path):
    _scenario(tmp_path / "base.toml", "base")
    (tmp_path / "exp.toml").write_text(
        '[experiment]\nname = "api-exp"\nbaseline = "base.toml"\n'
        f'measures = ["{DATA / "toy" / "measures" / "t5_wmo_cap.toml"}"]\nseeds = [1, 2]\n'
    )
    path = engine.run_experiment(tmp_path / "exp.toml", out=tmp_path / "out", backend="inprocess")
    savings = engine.open_run(path).table("savings")
    assert {"measure", "budget_year"} <= set(savings.columns)
    # the same on the toy stock written as a client extract: the same savings
    from synthetic_population.extract.convert import stock_to_extract, write_extract
    from synthetic_population.generator import generate
    from synthetic_population.profile import load_profile

    profile, policy = load_profile(TOY_PROFILE)
    extract = write_extract(
        stock_to_extract(generate(profile, policy, 5, 18), policy), tmp_path / "stock.csv"
    )
    on_extract = engine.run_experiment(
        tmp_path / "exp.toml",
        out=tmp_path / "out",
        run_id="on-extract",
        backend="inprocess",
        population=extract,
    )
    folder = engine.open_run(on_extract)
    assert folder.manifest["population"]["source"] == "extract"
    assert folder.table("savings").equals(savings)


def test_bad_input_raises_the_engine_error(tmp_path):
    with pytest.raises(engine.InputError, match="not found"):
        engine.load_scenario(tmp_path / "missing.toml")
    with pytest.raises(engine.CaseloadError):
        engine.open_run("no-such-run", out=tmp_path)
