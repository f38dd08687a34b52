"""The command line: a run writes a complete folder; bad input gives one clear line,
exit code 2 and no run folder."""

import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from engine.cli import main
from tests.helpers import TOY_PROFILE

ROOT = Path(__file__).resolve().parents[2]


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_run_writes_a_complete_run_folder(tmp_path, capsys):
    code, out, err = run_cli(
        [
            "run",
            "--profile",
            TOY_PROFILE,
            "--months",
            "12",
            "--out",
            str(tmp_path),
            "--run-id",
            "r1",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    folder = tmp_path / "r1"
    for name in [
        "manifest.json",
        "clients.parquet",
        "arrangements.parquet",
        "served.parquet",
        "clients_yearly.parquet",
        "arrangements_yearly.parquet",
    ]:
        assert (folder / name).exists(), name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["seeds"] == {"simulation": 1, "population": 1}
    assert manifest["scenario"]["months"] == 12
    summary = json.loads(out)
    assert summary["run_dir"] == str(folder)
    arr = pl.read_parquet(folder / "arrangements.parquet")
    assert arr["month"].dtype == pl.Date
    assert arr["gross_cents"].dtype == pl.Int64
    assert not list(tmp_path.glob(".partial-*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "no_such_profile"], "unknown profile 'no_such_profile'"),
        (["--months", "0"], "--months: 0 is not a horizon"),
        (["--start", "2024-7"], "--start: '2024-7' is not a month (expected YYYY-MM"),
        (["--start", "july"], "is not a month"),
        (
            ["--set", "groups.nope.stock=1", "--profile", TOY_PROFILE],
            "unknown parameter 'groups.nope.stock'",
        ),
        (["--set", "population.scale", "--profile", TOY_PROFILE], "NAME=VALUE"),
    ],
)
def test_bad_run_input_is_one_line_exit_2_and_no_folder(tmp_path, capsys, args, message):
    code, out, err = run_cli(["run", "--out", str(tmp_path), *args], capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_malformed_profile_file_is_named(tmp_path, capsys):
    bad = _write(
        tmp_path / "bad.toml",
        (ROOT / TOY_PROFILE).read_text().replace("[groups.oud]", "[groups.oud\n"),
    )
    code, _, err = run_cli(["run", "--profile", bad, "--out", str(tmp_path / "out")], capsys)
    assert code == 2
    assert "bad.toml: not valid TOML" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_profile_with_a_wrong_value_names_the_key(tmp_path, capsys):
    text = (
        (ROOT / TOY_PROFILE)
        .read_text()
        .replace(
            'moved_hazard_m = { value = 0.001, source = "test" }',
            'moved_hazard_m = { value = 1.5, source = "test" }',
        )
    )
    bad = _write(tmp_path / "profile.toml", text)
    (tmp_path / "baseline.toml").write_text((ROOT / "tests/data/toy/baseline.toml").read_text())
    code, _, err = run_cli(["run", "--profile", bad, "--out", str(tmp_path / "out")], capsys)
    assert code == 2
    assert "key groups.oud.moved_hazard_m" in err
    assert "[0.0, 1.0]" in err


def test_malformed_policy_file_is_named(tmp_path, capsys):
    (tmp_path / "profile.toml").write_text((ROOT / TOY_PROFILE).read_text())
    policy = (
        (ROOT / "tests/data/toy/baseline.toml")
        .read_text()
        .replace('setting = "intramural"', 'setting = "indoors"')
    )
    (tmp_path / "baseline.toml").write_text(policy)
    code, _, err = run_cli(
        ["run", "--profile", str(tmp_path / "profile.toml"), "--out", str(tmp_path / "out")], capsys
    )
    assert code == 2
    assert "baseline.toml: key products.bw.setting: unknown value 'indoors'" in err
    assert "extramural, semimural, intramural" in err


def test_policy_with_an_unknown_key_is_refused(tmp_path, capsys):
    (tmp_path / "profile.toml").write_text((ROOT / TOY_PROFILE).read_text())
    policy = (
        (ROOT / "tests/data/toy/baseline.toml")
        .read_text()
        .replace("[products.bw]\n", "[products.bw]\nindicaton_months = 3\n")
    )
    (tmp_path / "baseline.toml").write_text(policy)
    code, _, err = run_cli(
        ["run", "--profile", str(tmp_path / "profile.toml"), "--out", str(tmp_path / "out")], capsys
    )
    assert code == 2
    assert "unknown key 'indicaton_months'" in err


def test_population_generate_and_run_from_the_file(tmp_path, capsys):
    pop_file = tmp_path / "pop.parquet"
    code, out, err = run_cli(
        [
            "population",
            "generate",
            "--profile",
            TOY_PROFILE,
            "--months",
            "12",
            "--seed",
            "5",
            "--out",
            str(pop_file),
        ],
        capsys,
    )
    assert code == 0, err
    flat = pl.read_parquet(pop_file)
    assert {"client_id", "arrangement_id", "product", "step", "cleaning_w"} <= set(flat.columns)
    for args, rid in (([], "gen"), (["--population", str(pop_file)], "file")):
        code, _, err = run_cli(
            [
                "run",
                "--profile",
                TOY_PROFILE,
                "--months",
                "12",
                "--population-seed",
                "5",
                "--out",
                str(tmp_path / "runs"),
                "--run-id",
                rid,
                "--quiet",
                *args,
            ],
            capsys,
        )
        assert code == 0, err
    a = pl.read_parquet(tmp_path / "runs/gen/arrangements.parquet")
    b = pl.read_parquet(tmp_path / "runs/file/arrangements.parquet")
    assert a.equals(b)


def test_console_script_help_lists_the_commands():
    out = subprocess.run(
        [sys.executable, "-m", "engine.cli", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0
    from engine.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    listed = re.findall(r"^    ([a-z]+)\b", out.stdout, re.M)
    assert listed == list(sub.choices)  # every command, listed once, in order
    assert len(listed) >= 11
    out = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert "examples:" in out.stdout
    assert "--population-seed" in out.stdout
