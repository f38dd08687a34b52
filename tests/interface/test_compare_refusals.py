"""`caseload compare` refuses two runs that do not share population, seeds, start, horizon,
profile and random-stream mode, naming the difference; each check on its own (the measure
run is a copy of the baseline with one manifest field changed)."""

from __future__ import annotations

import json
import shutil

import pytest

from engine.cli import main
from tests.interface.refusals import refuses, toy_args


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp") / "out"
    assert main([*toy_args(out, "--run-id", "base", "--quiet", "--catalog", "off")]) == 0
    return out / "base"


def _set(manifest: dict, path: str, value) -> None:
    keys = path.split(".")
    node = manifest
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value


@pytest.mark.parametrize(
    ("field", "value", "what"),
    [
        ("hashes.population", "0123456789abcdef", "population"),
        ("seeds.simulation", 99, "simulation seed"),
        ("seeds.population", 99, "population seed"),
        ("scenario.start", "2025-01", "start"),
        ("scenario.months", 4, "horizon (months)"),
        ("scenario.profile", "other", "profile"),
        ("rng_mode", "sequential", "random streams"),
    ],
)
def test_compare_refuses_runs_that_differ_in_one_respect(
    base, tmp_path, capsys, field, value, what
):
    other = tmp_path / "other"
    shutil.copytree(base, other)
    manifest = json.loads((other / "manifest.json").read_text())
    _set(manifest, field, value)
    (other / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "out"
    line = refuses(
        capsys,
        tmp_path,
        ["compare", base, other, "--out", out, "--catalog", "off"],
        "compare: the runs differ in " + what,
        "a baseline and a measure run with the same population, seeds and horizon",
    )
    assert f"{what}: " in line


def test_compare_accepts_the_same_run_twice(base, tmp_path, capsys):
    code = main(
        ["compare", str(base), str(base), "--out", str(tmp_path), "--catalog", "off", "--quiet"]
    )
    assert code == 0, capsys.readouterr().err
