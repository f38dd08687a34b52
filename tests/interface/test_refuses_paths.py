"""Nothing is written outside the output folder: folder names from a scenario, an experiment,
`--run-id` or `--name` are plain names (checked in one place, engine.outputs.folder), `--out`
is a folder, and `runs sql` can neither write a file nor reach one outside the catalog."""

from __future__ import annotations

import pytest

from engine.cli import main
from tests.interface.refusals import TOY, refuses, scenario, toy_args


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two toy runs and a catalog that registers them, shared by the comparison cases."""
    root = tmp_path_factory.mktemp("paths")
    out = root / "out"
    cat = root / "catalog.duckdb"
    for rid in ("base", "other"):
        assert main([*toy_args(out, "--run-id", rid, "--quiet", "--catalog", str(cat))]) == 0
    return out, cat


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../../escaped", "holds a path separator"),
        ("/tmp/escaped-absolute", "holds a path separator"),
        ("..", "starts with a dot"),
        ("a\\u0000b", "holds a control character"),
        ("x" * 81, "is 81 characters long"),
    ],
)
def test_a_scenario_name_that_is_no_plain_name_is_refused_before_the_run(
    tmp_path, capsys, name, problem
):
    sc = scenario(tmp_path, name=name)
    line = refuses(
        capsys,
        tmp_path,
        ["run", sc, "--out", tmp_path / "out"],
        f"{sc}: key scenario.name",
        "a scenario name: 1-80 characters",
    )
    assert problem in line


@pytest.mark.parametrize(
    ("run_id", "problem"),
    [
        ("../x", "holds a path separator"),
        ("/tmp/abs", "holds a path separator"),
        (".hidden", "starts with a dot"),
        ("a\tb", "holds a control character"),
        ("r" * 300, "is 300 characters long"),
    ],
)
def test_a_run_id_that_is_no_plain_name_is_refused(tmp_path, capsys, run_id, problem):
    line = refuses(
        capsys,
        tmp_path,
        toy_args(tmp_path / "out", "--run-id", run_id),
        "--run-id",
        "a folder name: 1-120 characters",
    )
    assert problem in line


def test_an_out_that_is_a_file_is_refused_before_the_run(tmp_path, capsys):
    f = tmp_path / "not-a-folder"
    f.write_text("x")
    refuses(capsys, tmp_path, toy_args(f), f"--out {f}", "a folder for output folders")
    assert f.read_text() == "x"


def test_an_experiment_name_with_a_path_is_refused(tmp_path, capsys):
    base = scenario(tmp_path, name="base")
    ex = tmp_path / "ex.toml"
    ex.write_text(
        f'[experiment]\nname = "../../ex"\nbaseline = "{base.name}"\n'
        f'measures = ["{TOY / "measures" / "t3_no_ironing.toml"}"]\n'
    )
    refuses(
        capsys,
        tmp_path,
        ["experiment", ex, "--out", tmp_path / "out"],
        f"{ex}: key experiment.name",
        "an experiment name",
    )


@pytest.mark.parametrize("name", ["../../compared", "/tmp/compared-abs", "a/b"])
def test_compare_name_outside_out_is_refused(runs, capsys, name):
    out, cat = runs
    refuses(
        capsys,
        out.parent,
        ["compare", "base", "other", "--out", out, "--name", name, "--catalog", cat],
        "--name",
        "a folder name",
    )


def test_explain_name_outside_out_is_refused(runs, capsys):
    out, cat = runs
    refuses(
        capsys,
        out.parent,
        ["explain", "base", "other", "--out", out, "--name", "../why", "--catalog", cat],
        "--name",
        "a folder name",
    )


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("COPY (SELECT 1 AS a) TO '{root}/copied.csv'", "a COPY statement is refused"),
        ("EXPORT DATABASE '{root}/exported'", "a EXPORT statement is refused"),
        ("INSTALL httpfs", "statement is refused"),
        ("ATTACH '{root}/attached.duckdb' AS other", "a ATTACH statement is refused"),
        ("INSERT INTO summary VALUES ('x')", "a INSERT statement is refused"),
        ("CREATE TABLE t AS SELECT 1", "a CREATE statement is refused"),
        ("SELECT 1; COPY (SELECT 1) TO '{root}/two.csv'", "2 statements"),
        ("SELECT * FROM read_csv('/etc/passwd')", "disabled by configuration"),
        ("SELECT * FROM read_text('{root}/catalog.duckdb')", "read_text"),
        ("SELECT * FROM read_parquet('/tmp/*/*.parquet')", "disabled by configuration"),
    ],
)
def test_runs_sql_writes_no_file_and_reads_only_registered_ones(runs, capsys, sql, why):
    out, cat = runs
    line = refuses(
        capsys,
        out.parent,
        ["runs", "sql", sql.format(root=out.parent), "--catalog", cat],
        "runs sql",
        "",
    )
    assert why in line


def test_runs_sql_cannot_turn_the_sandbox_off(runs, capsys):
    out, cat = runs
    line = refuses(
        capsys,
        out.parent,
        ["runs", "sql", "SET enable_external_access = true", "--catalog", cat],
        "runs sql",
        "a read-only query",
    )
    assert "SET" in line or "VARIABLE_SET" in line
    code = main(
        ["runs", "sql", "SELECT count(*) AS n FROM summary", "--catalog", str(cat), "--json"]
    )
    assert code == 0
    assert '"n":' in capsys.readouterr().out
