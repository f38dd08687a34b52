"""Resource blowups are refused before any work: a population the machine cannot hold (the
message gives the estimated memory), inflow that grows without bound, endless files, absurd
replication counts; `runs sql` streams a huge result instead of fetching it whole."""

from __future__ import annotations

import contextlib
import os

import pytest

from engine.cli import main
from tests.helpers import ROOT
from tests.interface.refusals import TOY, refuses, scenario, toy_args

DATA_EXAMPLE = ROOT / "synthetic_population" / "examples" / "example_extract.csv"

MEMORY = "a smaller population.scale, group stock or inflow, or a shorter horizon"


@pytest.mark.parametrize(
    "item",
    [
        "population.scale=1000000",
        "groups.oud.stock=1000000000",
        "groups.oud.inflow_per_year=1000000000",
    ],
)
def test_a_population_the_machine_cannot_hold_is_refused_with_its_size(tmp_path, capsys, item):
    line = refuses(
        capsys,
        tmp_path,
        toy_args(tmp_path / "o", "--set", item),
        "profile.toml: population size",
        MEMORY,
    )
    assert "GiB of memory" in line
    assert "GiB is available" in line


def test_inflow_growing_without_bound_is_refused(tmp_path, capsys):
    args = toy_args(
        tmp_path / "o",
        "--set",
        "groups.oud.inflow_growth=1.0",
        "--set",
        "groups.oud.inflow_per_year=100000000",
    )
    args[args.index("--months") + 1] = "600"
    line = refuses(capsys, tmp_path, args, "profile.toml: population size", MEMORY)
    assert "GiB" in line or "without bound" in line


def test_population_generate_refuses_a_population_too_big_to_hold(tmp_path, capsys):
    args = [
        "population",
        "generate",
        "--profile",
        TOY / "profile.toml",
        "--set",
        "population.scale=10000000",
        "--out",
        tmp_path / "p.parquet",
    ]
    refuses(capsys, tmp_path, args, "profile.toml: population size", MEMORY)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_an_extract_that_is_a_link_to_a_device_is_refused_without_reading_it(
    tmp_path, capsys, device
):
    link = tmp_path / "extract.csv"
    os.symlink(device, link)
    line = refuses(
        capsys,
        tmp_path,
        ["population", "validate", link],
        str(link),
        "a client extract (.csv or .parquet)",
    )
    assert "is not a regular file" in line  # refused on what the file is, not read


def test_a_profile_that_is_a_link_to_an_endless_device_is_refused(tmp_path, capsys):
    link = tmp_path / "profile.toml"
    os.symlink("/dev/zero", link)
    refuses(
        capsys,
        tmp_path,
        toy_args(tmp_path / "o", "--profile", link),
        str(link),
        "a TOML file of at most 16,777,216 bytes",
    )


@pytest.mark.parametrize(
    ("keys", "key"),
    [
        ("replications = 1000000000", "experiment.replications"),
        ("seeds = [1, -2]", "experiment.seeds"),
        (f"first_seed = {2**63 - 1}\nreplications = 5", "experiment.first_seed"),
    ],
)
def test_an_experiment_with_absurd_replications_is_refused(tmp_path, capsys, keys, key):
    base = scenario(tmp_path, name="base")
    ex = tmp_path / "ex.toml"
    ex.write_text(
        f'[experiment]\nbaseline = "{base.name}"\n'
        f'measures = ["{TOY / "measures" / "t3_no_ironing.toml"}"]\n{keys}\n'
    )
    refuses(capsys, tmp_path, ["experiment", ex, "--out", tmp_path / "o"], f"{ex}: key {key}", "")


def test_experiment_workers_beyond_reason_are_refused(tmp_path, capsys):
    base = scenario(tmp_path, name="base")
    ex = tmp_path / "ex.toml"
    ex.write_text(
        f'[experiment]\nbaseline = "{base.name}"\n'
        f'measures = ["{TOY / "measures" / "t3_no_ironing.toml"}"]\n'
    )
    refuses(
        capsys,
        tmp_path,
        ["experiment", ex, "--workers", "100000", "--out", tmp_path / "o"],
        "--workers",
        "1..256 worker processes",
    )


ROWS = 2_000_000  # fetched whole: 2 million Python tuples, well over 100 MB


def test_runs_sql_streams_a_big_result_and_shows_the_first_rows(tmp_path, capsys, monkeypatch):
    """The command pulls only the rows it shows and one more (to say more follow), and
    holds at most a batch of rows at a time: Python's peak allocation while it runs stays a
    small fraction of what the whole result takes. Counted and measured, not timed."""
    import tracemalloc

    from engine.outputs import sql

    out = tmp_path / "out"
    cat = tmp_path / "catalog.duckdb"
    assert main([*toy_args(out, "--run-id", "r", "--quiet", "--catalog", str(cat))]) == 0
    capsys.readouterr()
    pulled = []
    real = sql.query_rows

    @contextlib.contextmanager
    def counting(*a, **k):
        with real(*a, **k) as (cols, rows):

            def counted():
                for r in rows:
                    pulled.append(1)
                    yield r

            yield cols, counted()

    monkeypatch.setattr(sql, "query_rows", counting)
    query = f"SELECT range AS i FROM range({ROWS})"
    tracemalloc.start()
    try:
        code = main(["runs", "sql", query, "--catalog", str(cat), "--max-rows", "5"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out_text, err = capsys.readouterr()
    assert code == 0, err
    assert "first 5 rows shown; more follow" in out_text
    assert len(pulled) == 6
    assert peak < 20 * 2**20, peak  # the whole result: > 100 MB of tuples


def test_an_extract_too_big_to_read_is_refused_with_the_memory_it_needs(
    tmp_path, capsys, monkeypatch
):
    from engine.core import limits
    from synthetic_population.extract import read

    monkeypatch.setattr(read, "available_memory", lambda: 1000)  # bytes: a tiny machine
    f = tmp_path / "extract.csv"
    f.write_text((DATA_EXAMPLE).read_text())
    line = refuses(capsys, tmp_path, ["population", "validate", f], str(f), "a smaller extract")
    assert "GiB of memory" in line
    assert limits.available_memory() > 1000  # only the reader's view was patched
