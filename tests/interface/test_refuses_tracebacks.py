"""Every error is one line and exit code 2, never a traceback, and is found before any long
work: undecodable files, months out of range, impossible options, foreign manifests and
extracts. An unexpected exception is one line, 'please report' and exit code 1 (the
traceback only under --debug)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.cli import main
from tests.interface.refusals import TOY, refuses, scenario, toy_args


def test_a_latin1_scenario_file_is_named(tmp_path, capsys):
    f = tmp_path / "latin1.toml"
    f.write_bytes('[scenario]\nname = "caf\xe9"\n'.encode("latin-1"))
    line = refuses(
        capsys, tmp_path, ["run", f, "--out", tmp_path / "o"], str(f), "a TOML file in UTF-8"
    )
    assert "is not UTF-8 text (byte 22)" in line


def test_a_binary_scenario_file_is_named(tmp_path, capsys):
    f = tmp_path / "binary.toml"
    f.write_bytes(bytes(range(256)) * 4)
    refuses(capsys, tmp_path, ["run", f, "--out", tmp_path / "o"], str(f), "a TOML file in UTF-8")


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("0000-01", "a month in 1900-01..2200-12"),
        ("9999-12", "a month in 1900-01..2200-12"),
        ("1950-01", "a start month in 1990-01..2100-12"),
        ("2150-06", "a start month in 1990-01"),
    ],
)
def test_a_start_month_out_of_range_is_refused(tmp_path, capsys, start, expected):
    refuses(capsys, tmp_path, toy_args(tmp_path / "o", "--start", start), "--start", expected)


def test_population_generate_with_an_absurd_horizon_is_refused(tmp_path, capsys):
    args = [
        "population",
        "generate",
        "--profile",
        TOY / "profile.toml",
        "--months",
        "100000",
        "--out",
        tmp_path / "p.parquet",
    ]
    refuses(capsys, tmp_path, args, "--months", "1..600 months")


def test_more_threads_than_numba_can_start_is_refused_before_the_population(tmp_path, capsys):
    refuses(capsys, tmp_path, toy_args(tmp_path / "o", "--threads", "4096"), "--threads", "1..")


def test_a_scale_that_leaves_no_client_is_refused(tmp_path, capsys):
    refuses(
        capsys,
        tmp_path,
        toy_args(tmp_path / "o", "--set", "population.scale=0.000001"),
        "profile.toml: population size",
        "a scale that leaves at least one client",
    )


@pytest.mark.parametrize("seed", ["-1", str(2**64), str(2**63)])
def test_a_seed_outside_the_keyed_range_is_refused(tmp_path, capsys, seed):
    refuses(
        capsys, tmp_path, toy_args(tmp_path / "o", "--seed", seed), "--seed", "a seed in [0, 2^63)"
    )


def test_a_nul_in_a_scenario_name_is_refused(tmp_path, capsys):
    sc = scenario(tmp_path, name="a\\u0000b")
    line = refuses(
        capsys,
        tmp_path,
        ["run", sc, "--out", tmp_path / "o"],
        f"{sc}: key scenario.name",
        "a scenario name",
    )
    assert "\\x00" in line  # shown escaped, the line stays one printable line


@pytest.mark.parametrize(
    "manifest", [[1, 2, 3], "text", {"kind": "run"}, {"kind": "nonsense"}, {"kind": "experiment"}]
)
@pytest.mark.parametrize("command", ["compare", "report", "export"])
def test_a_manifest_that_is_not_a_manifest_is_refused(tmp_path, capsys, command, manifest):
    folder = tmp_path / "fake"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    args = {
        "compare": ["compare", folder, folder, "--out", tmp_path / "o", "--catalog", "off"],
        "report": ["report", folder, "--out", tmp_path / "r.html"],
        "export": ["export", folder, "--xlsx", tmp_path / "w.xlsx"],
    }[command]
    refuses(capsys, tmp_path, args, f"{folder / 'manifest.json'}", "")


def test_a_parquet_extract_with_a_nested_column_is_refused(tmp_path, capsys):
    f = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"client_id": ["a"], "product": [[1, 2]]}), f)
    line = refuses(
        capsys,
        tmp_path,
        ["population", "validate", f],
        str(f),
        "flat columns of text, numbers or dates",
    )
    assert "'product' is nested" in line


def test_an_unexpected_error_is_one_line_asking_for_a_report(tmp_path, capsys, monkeypatch):
    import engine.simulation.run as run

    def boom(*a, **k):
        raise RuntimeError("something broke\nover two lines")

    monkeypatch.setattr(run, "simulate_scenario", boom)
    code = main(toy_args(tmp_path / "o", "--quiet"))
    out, err = capsys.readouterr()
    assert code == 1
    assert err.strip().splitlines() == [
        "caseload: internal error: RuntimeError: something broke over two lines; please report "
        "it with the command line (`caseload --debug ...` shows the traceback)"
    ]
    with pytest.raises(RuntimeError, match="something broke"):
        main(["--debug", *toy_args(tmp_path / "o", "--quiet")])


@pytest.mark.parametrize(
    ("args", "where", "expected"),
    [
        (["run", "--months", "abc"], "caseload run: argument --months", "caseload run --help"),
        (["nonsense"], "caseload: argument COMMAND: invalid choice", "caseload --help"),
        (
            ["population", "export-extract", "--seed", "-5", "--out", "x.csv"],
            "argument --seed: '-5' is not a seed",
            "0..2^63-1",
        ),
        (["calibrate", "rotterdam", "--iterations", "-1"], "argument --iterations", "0..100"),
        (
            ["calibrate", "rotterdam", "--population-seed", str(2**64)],
            "--population-seed",
            "0..2^63-1",
        ),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, args, where, expected):
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out, err = capsys.readouterr()
    assert exit_.value.code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("caseload: error: ")
    assert where in lines[0]
    assert expected in lines[0]
    assert sorted(tmp_path.rglob("*")) == before
