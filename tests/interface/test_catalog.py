"""The run catalog: registered once complete, idempotent, one query over every run, rebuilt
from the folders; it survives a killed run or registration, a deleted catalog file and two
runs started at once; bad input is one clear line and exit code 2."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from engine.cli import main
from engine.core.errors import InputError
from engine.outputs import catalog, catalog_file
from engine.simulation.run import write_run
from tests.helpers import TOY_PROFILE, catalog_folders

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def out(tmp_path, toy_run):
    return catalog_folders(tmp_path, toy_run)


def rows(cat: Path, sql: str) -> list[tuple]:
    return catalog.query(cat, sql)[1]


def stable_rows(cat: Path) -> dict:
    """Everything the catalog holds, without the registration time."""
    return {
        "runs": rows(cat, "SELECT * EXCLUDE (registered) FROM runs ORDER BY run_id"),
        "files": rows(cat, "SELECT * FROM files ORDER BY run_id, name"),
        "measures": rows(cat, "SELECT * FROM measures ORDER BY run_id, position"),
        "net": rows(
            cat,
            "SELECT run_id, budget_year, sum(net_cents) FROM arrangements_yearly GROUP BY ALL "
            "ORDER BY ALL",
        ),
        "savings": rows(cat, "SELECT * FROM savings ORDER BY ALL"),
    }


def test_default_catalog_is_beside_the_out_dir(tmp_path, monkeypatch):
    monkeypatch.delenv(catalog_file.ENV, raising=False)
    assert (
        catalog_file.catalog_path(tmp_path / "runs" / "out" / "r1")
        == (tmp_path / "runs" / "catalog.duckdb").resolve()
    )
    monkeypatch.setenv(catalog_file.ENV, str(tmp_path / "elsewhere.duckdb"))
    assert (
        catalog_file.catalog_path(tmp_path / "runs" / "out" / "r1") == tmp_path / "elsewhere.duckdb"
    )
    assert catalog_file.catalog_path(tmp_path / "x", catalog="given.duckdb") == Path("given.duckdb")
    monkeypatch.setenv(catalog_file.ENV, "off")
    assert catalog_file.catalog_path(tmp_path / "runs" / "out" / "r1") is None


def test_register_every_kind_once_and_query_across_runs(out, toy_run):
    cat = out.parent / "catalog.duckdb"
    for name in ("base-a", "base-b", "exp", "sens"):
        assert catalog.register(out / name) == cat.resolve()
    catalog.register(out / "base-a")  # twice: replaced, not duplicated
    listed = catalog.list_runs(cat)
    assert [(r["run_id"], r["kind"]) for r in sorted(listed, key=lambda r: r["run_id"])] == [
        ("base-a", "run"),
        ("base-b", "run"),
        ("exp", "experiment"),
        ("sens", "sensitivity"),
    ]
    assert rows(cat, "SELECT count(*) FROM files WHERE run_id = 'base-a'")[0][0] == len(
        list((out / "base-a").glob("*.parquet"))
    )
    # one query compares runs: the views carry run_id and equal the files
    net = dict(
        ((r, y), n)
        for r, y, n in rows(
            cat, "SELECT run_id, budget_year, sum(net_cents) FROM arrangements_yearly GROUP BY ALL"
        )
    )
    expect = (
        toy_run.tables["arrangements_yearly"].group_by("budget_year").agg(pl.col("net_cents").sum())
    )
    for y, n in expect.iter_rows():
        assert net[("base-a", y)] == net[("base-b", y)] == n
    sv = pl.read_parquet(out / "exp" / "savings.parquet")
    got = rows(
        cat,
        "SELECT measure, budget_year, shapley_net_eur_mean FROM savings WHERE run_id = 'exp' ORDER "
        "BY ALL",
    )
    assert got == sorted(sv.select("measure", "budget_year", "shapley_net_eur_mean").rows())
    assert rows(cat, "SELECT count(DISTINCT seed) FROM savings_by_seed")[0][0] == 2
    assert (
        rows(cat, "SELECT count(*) FROM experiment_affected")[0][0]
        == pl.read_parquet(out / "exp" / "affected.parquet").height
    )
    assert (
        rows(cat, "SELECT count(*) FROM affected WHERE run_id = 'exp'")[0][0] == 0
    )  # a run's affected and an experiment's stay apart
    assert (
        rows(cat, "SELECT count(*) FROM sensitivity")[0][0]
        == pl.read_parquet(out / "sens" / "sensitivity.parquet").height
    )
    assert (
        rows(cat, "SELECT count(*) FROM comparison")[0][0] == 0
    )  # known views exist before any folder provides them
    shown = catalog.show_run(cat, "exp")
    assert shown["kind"] == "experiment"
    assert shown["seeds"] == [1, 2]
    assert [m["name"] for m in shown["measures"]] == ["youth_cap", "no_ironing", "max_three_years"]


def test_rebuild_after_deleting_the_catalog_gives_the_same_rows(out):
    cat = out.parent / "catalog.duckdb"
    for name in ("base-a", "base-b", "exp", "sens"):
        catalog.register(out / name)
    before = stable_rows(cat)
    cat.unlink()
    result = catalog.rebuild(cat)
    assert len(result.registered) == 4
    assert not result.skipped
    assert stable_rows(cat) == before
    # and rebuilding over an existing catalog drops a folder that is gone
    shutil.rmtree(out / "base-b")
    catalog.rebuild(cat)
    assert [r["run_id"] for r in catalog.list_runs(cat, "run")] == ["base-a"]


def test_rebuild_finds_folders_in_nested_out_dirs(out, toy_run):
    """`make demo` writes runs/out/demo/<id> and registers in runs/catalog.duckdb."""
    cat = out.parent / "catalog.duckdb"
    write_run(toy_run, out / "demo", "nested")
    catalog.register(out / "demo" / "nested", cat)
    catalog.register(out / "base-a", cat)
    before = stable_rows(cat)
    cat.unlink()
    catalog.rebuild(cat)
    assert {r["run_id"] for r in catalog.list_runs(cat)} == {
        "base-a",
        "base-b",
        "exp",
        "sens",
        "nested",
    }
    assert [r for r in stable_rows(cat)["runs"] if r[0] in ("base-a", "nested")] == before["runs"]


def test_an_unfinished_folder_is_never_registered(out):
    cat = out.parent / "catalog.duckdb"
    partial = out / ".partial-killed-12345"
    shutil.copytree(out / "base-a", partial)  # what a run killed before its rename leaves
    with pytest.raises(InputError, match="unfinished"):
        catalog.register(partial)
    catalog.rebuild(cat)
    ids = {r["run_id"] for r in catalog.list_runs(cat)}
    assert ids == {"base-a", "base-b", "exp", "sens"}
    assert not any("partial" in p for (p,) in rows(cat, "SELECT path FROM files"))


KILL_SCRIPT = """
import os, signal, sys
from pathlib import Path
from engine.outputs import catalog
def die():
    print("ready", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
catalog._before_commit = die
catalog.register(Path(sys.argv[1]), Path(sys.argv[2]))
"""


def test_a_registration_killed_before_its_commit_leaves_the_catalog_as_it_was(out):
    cat = out.parent / "catalog.duckdb"
    catalog.register(out / "base-a")
    before = stable_rows(cat)
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(out / "exp"), str(cat)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "ready" in proc.stdout, proc.stderr
    assert stable_rows(cat) == before  # nothing of "exp": not half-registered
    catalog.register(out / "exp")  # the lock died with the process; the catalog works
    assert {r["run_id"] for r in catalog.list_runs(cat)} == {"base-a", "exp"}


def _caseload(*args) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; from engine.cli import main; sys.exit(main(sys.argv[1:]))",
        *args,
    ]


def test_a_killed_run_never_appears(tmp_path):
    o = tmp_path / "runs" / "out"
    cat = tmp_path / "runs" / "catalog.duckdb"
    env = {k: v for k, v in os.environ.items() if k != catalog_file.ENV}
    proc = subprocess.Popen(
        _caseload(
            "run",
            "--profile",
            TOY_PROFILE,
            "--months",
            "12",
            "--out",
            str(o),
            "--run-id",
            "killed",
            "--quiet",
        ),
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 900  # a cold Numba cache compiles the kernel first
    while (
        time.monotonic() < deadline
        and proc.poll() is None
        and not (o.exists() and any(o.iterdir()))
    ):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert o.exists(), "the run wrote nothing before it was killed"
    # the kill lands while the folder is written (a .partial-* folder is left) or, rarely, just
    # after the rename; whatever the moment: never a registered partial folder
    assert list(o.glob(".partial-killed-*")) or (o / "killed" / "manifest.json").exists()
    if cat.exists():
        assert all(
            (Path(p) / "manifest.json").exists() for (p,) in rows(cat, "SELECT path FROM runs")
        )
    catalog.rebuild(cat, [o])
    ids = [r["run_id"] for r in catalog.list_runs(cat)]
    assert ids in ([], ["killed"])
    assert ids == (["killed"] if (o / "killed" / "manifest.json").exists() else [])


def test_two_runs_started_at_once_both_land(tmp_path):
    o = tmp_path / "runs" / "out"
    env = {k: v for k, v in os.environ.items() if k != catalog_file.ENV}
    procs = [
        subprocess.Popen(
            _caseload(
                "run",
                "--profile",
                TOY_PROFILE,
                "--months",
                "12",
                "--seed",
                str(s),
                "--out",
                str(o),
                "--run-id",
                f"r{s}",
                "--quiet",
            ),
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in (1, 2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert "warning" not in err, err
    cat = tmp_path / "runs" / "catalog.duckdb"
    assert sorted(r["run_id"] for r in catalog.list_runs(cat)) == ["r1", "r2"]
    assert rows(cat, "SELECT count(DISTINCT run_id) FROM summary")[0][0] == 2


def _register_worker(args):
    folder, cat = args
    catalog.register(Path(folder), Path(cat))
    return folder


def test_many_registrations_at_once_all_land(tmp_path, toy_run):
    o = tmp_path / "out"
    for i in range(6):
        write_run(toy_run, o, f"r{i}")
    cat = tmp_path / "catalog.duckdb"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        done = pool.map(_register_worker, [(str(o / f"r{i}"), str(cat)) for i in range(6)] * 2)
    assert len(done) == 12
    assert sorted(r["run_id"] for r in catalog.list_runs(cat)) == [f"r{i}" for i in range(6)]
    assert rows(cat, "SELECT count(*) FROM runs")[0][0] == 6


def test_a_reader_holding_the_catalog_only_delays_a_writer(out):
    cat = out.parent / "catalog.duckdb"
    catalog.register(out / "base-a")
    """No timing assumed: the reader holds the catalog until told to let go; while it holds,
    the writer cannot have finished; once it lets go, the writer lands."""
    import threading

    cat = out.parent / "catalog.duckdb"
    catalog.register(out / "base-a")
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(cat)!r}, read_only=True); print('open', "
            "flush=True); sys.stdin.readline(); c.close(); print('closed', flush=True)",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout.readline().strip() == "open"
    errors = []

    def write():
        try:
            catalog.register(out / "base-b")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(timeout=1.0)
    assert writer.is_alive()  # blocked while the reader holds the file
    assert {r["run_id"] for r in catalog.list_runs(cat)} == {"base-a"}
    reader.stdin.write("\n")
    reader.stdin.close()
    assert reader.stdout.readline().strip() == "closed"
    writer.join(timeout=120)
    assert not writer.is_alive()
    assert errors == []
    reader.wait(timeout=30)
    reader.stdout.close()
    assert {r["run_id"] for r in catalog.list_runs(cat)} == {"base-a", "base-b"}


# ----------------------------------------------------------------------------- CLI
def cli(capsys, *args):
    code = main(list(args))
    o, e = capsys.readouterr()
    return code, o, e


def test_run_and_compare_register_themselves(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(catalog_file.ENV, raising=False)
    o = tmp_path / "runs" / "out"
    measure = tmp_path / "measure.toml"
    from tests.helpers import GOOD_MEASURE as GOOD

    measure.write_text(GOOD)
    code, stdout, err = cli(
        capsys,
        "run",
        "--profile",
        TOY_PROFILE,
        "--months",
        "12",
        "--out",
        str(o),
        "--run-id",
        "base",
        "--json",
    )
    assert code == 0, err
    assert json.loads(stdout)["catalog"] == str((tmp_path / "runs" / "catalog.duckdb").resolve())
    assert (
        cli(
            capsys,
            "run",
            "--profile",
            TOY_PROFILE,
            "--months",
            "12",
            "--out",
            str(o),
            "--run-id",
            "cap",
            "--measure",
            str(measure),
            "--quiet",
        )[0]
        == 0
    )
    assert cli(capsys, "compare", "base", "cap", "--out", str(o), "--quiet")[0] == 0
    cat = tmp_path / "runs" / "catalog.duckdb"
    kinds = {r["run_id"]: r["kind"] for r in catalog.list_runs(cat)}
    assert kinds == {"base": "run", "cap": "run", "compare-base--cap": "comparison"}
    code, stdout, _ = cli(
        capsys,
        "runs",
        "sql",
        "SELECT run_id, measure FROM affected WHERE clients > 0 GROUP BY ALL ORDER BY ALL",
        "--catalog",
        str(cat),
        "--json",
    )
    assert code == 0
    assert {"run_id": "cap", "measure": "all"} in json.loads(stdout)
    code, stdout, _ = cli(capsys, "runs", "show", "cap", "--catalog", str(cat), "--json")
    assert code == 0
    assert json.loads(stdout)["measures"][0]["name"] == "test_measure"
    code, stdout, _ = cli(capsys, "runs", "list", "--catalog", str(cat))
    assert code == 0
    assert "compare-base--cap" in stdout
    code, stdout, _ = cli(
        capsys,
        "runs",
        "sql",
        "SELECT run_id, sum(saving_net_cents) AS s FROM comparison_yearly GROUP BY ALL",
        "--catalog",
        str(cat),
        "--csv",
    )
    assert code == 0
    assert stdout.splitlines()[0] == "run_id,s"
    # --catalog off: no catalog
    assert (
        cli(
            capsys,
            "run",
            "--profile",
            TOY_PROFILE,
            "--months",
            "12",
            "--out",
            str(tmp_path / "o2"),
            "--catalog",
            "off",
            "--quiet",
        )[0]
        == 0
    )
    assert not (tmp_path / "catalog.duckdb").exists()


def test_cli_rebuild_and_list_json(out, capsys):
    cat = out.parent / "catalog.duckdb"
    code, stdout, err = cli(capsys, "runs", "rebuild", "--catalog", str(cat), "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["registered"] == 4
    assert summary["by_kind"] == {
        "run": 2,
        "experiment": 1,
        "sensitivity": 1,
    }
    code, stdout, _ = cli(capsys, "runs", "list", "--catalog", str(cat), "--kind", "run", "--json")
    assert [r["run_id"] for r in json.loads(stdout)] == ["base-a", "base-b"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["runs", "show", "no-such-run"], "unknown run id 'no-such-run'"),
        (["runs", "sql", "SELEKT 1"], "runs sql: Parser Error"),
        (["runs", "sql", "SELECT nope FROM runs"], "runs sql: Binder Error"),
        (["runs", "sql", "DELETE FROM runs"], "read-only"),
        (["runs", "sql", "  "], "an empty query"),
    ],
)
def test_bad_catalog_input_is_one_line_and_exit_2(out, capsys, args, message):
    cat = out.parent / "catalog.duckdb"
    catalog.rebuild(cat)
    code, _, err = cli(capsys, *args, "--catalog", str(cat))
    assert code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_a_missing_catalog_and_a_deleted_folder_are_clear(out, capsys):
    cat = out.parent / "catalog.duckdb"
    code, _, err = cli(capsys, "runs", "list", "--catalog", str(out.parent / "none.duckdb"))
    assert code == 2
    assert "no run catalog here" in err
    catalog.rebuild(cat)
    shutil.rmtree(out / "base-b")
    code, _, err = cli(
        capsys, "runs", "sql", "SELECT count(*) FROM arrangements", "--catalog", str(cat)
    )
    assert code == 2
    assert "caseload runs rebuild" in err
    assert len(err.strip().splitlines()) == 1
    code, stdout, _ = cli(capsys, "runs", "list", "--catalog", str(cat), "--json")
    assert {r["run_id"]: r["complete"] for r in json.loads(stdout)}["base-b"] is False


def test_a_folder_missing_a_file_is_refused(out, capsys):
    (out / "base-a" / "summary.parquet").unlink()
    with pytest.raises(InputError, match="missing summary.parquet"):
        catalog.register(out / "base-a")
    result = catalog.rebuild(out.parent / "catalog.duckdb")
    assert [p.name for p, _ in result.skipped] == ["base-a"]
    code, _, err = cli(capsys, "runs", "rebuild", "--catalog", str(out.parent / "catalog.duckdb"))
    assert code == 0
    assert "skipped" in err
    assert "missing summary.parquet" in err


def test_a_corrupt_catalog_file_is_named(tmp_path, capsys):
    cat = tmp_path / "catalog.duckdb"
    cat.write_bytes(b"not a database")
    code, _, err = cli(capsys, "runs", "list", "--catalog", str(cat))
    assert code == 2
    assert "cannot open the catalog" in err


def test_a_read_only_connection_in_this_process_delays_a_writer_in_it(tmp_path):
    # DuckDB refuses a second connection to a file open in the other mode in the same process
    # (a notebook reading the catalog while a run in it registers); the writer waits for it
    cat = tmp_path / "c.duckdb"
    duckdb.connect(str(cat)).close()
    reader = duckdb.connect(str(cat), read_only=True)
    threading.Timer(0.3, reader.close).start()
    con = catalog_file.connect(cat, timeout=30)
    con.execute("CREATE TABLE t AS SELECT 1 AS x")
    con.close()
