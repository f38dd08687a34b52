"""What the catalog keeps of each registered file: its row count, read from the file's footer
with the folder's path taken literally, and a digest of its columns, with which a view over
files that share their columns binds by reading one footer."""

from __future__ import annotations

import shutil

import duckdb
import polars as pl
import pytest

from engine.core.errors import InputError
from engine.outputs import catalog
from tests.helpers import catalog_folders


@pytest.fixture
def out(tmp_path, toy_run):
    return catalog_folders(tmp_path, toy_run)


def rows(cat, sql: str) -> list[tuple]:
    return catalog.query(cat, sql)[1]


def test_a_folder_with_a_broken_parquet_file_is_refused_and_the_file_named(out):
    broken = out / "base-b" / "summary.parquet"
    broken.write_bytes(b"not a parquet file")
    with pytest.raises(InputError, match="not a readable Parquet file") as err:
        catalog.register(out / "base-b")
    assert "summary.parquet" in str(err.value)


def test_the_catalog_keeps_each_file_s_row_count_as_read_back_from_the_file(out):
    cat = out.parent / "catalog.duckdb"
    catalog.register(out / "base-a")
    for name, path, n in rows(cat, "SELECT name, path, rows FROM files WHERE run_id = 'base-a'"):
        assert n == pl.read_parquet(path).height, name


def test_row_counts_take_a_folder_name_with_glob_characters_literally(out):
    """`[`, `*`, `?` in a folder's name are characters, not a pattern: `run[1]` is read
    (a pattern matching nothing would fail it), `run*` counts its own rows (a pattern would
    add its siblings')."""
    from engine.outputs.catalog_entry import read_folder

    for name in ("base[1]", "base*"):
        shutil.copytree(out / "base-a", out / name)
    own = {f[0]: f[3] for f in read_folder(out / "base-a").files}
    for name in ("base[1]", "base*"):
        assert {f[0]: f[3] for f in read_folder(out / name).files} == own, name


def test_a_view_over_files_whose_columns_differ_matches_them_by_name(out):
    """Files of one view with the same columns take the first file's columns (binding the
    view reads one footer); where a file's columns differ (a run written before a column was
    added) the view matches columns by name: the old run's rows are there, the new column
    null."""
    cat = out.parent / "catalog.duckdb"
    old = out / "base-b" / "summary.parquet"
    frame = pl.read_parquet(old)
    dropped = frame.columns[-1]
    frame.drop(dropped).write_parquet(old)
    for run in ("base-a", "base-b"):
        catalog.register(out / run)
    got = rows(cat, f'SELECT run_id, count(*), count("{dropped}") FROM summary GROUP BY ALL')
    n = pl.read_parquet(out / "base-a" / "summary.parquet").height
    assert sorted(got) == [("base-a", n, n), ("base-b", n, 0)]


def test_a_catalog_shared_with_an_older_caseload_stays_writable_and_readable_by_both(out):
    """The column digests live in a table of their own: an older caseload, which inserts a
    file's six fields by position, still registers into the catalog; the files it adds have
    no digest, and the views union them by name."""
    from engine.outputs.catalog_entry import read_folder

    cat = out.parent / "catalog.duckdb"
    catalog.register(out / "base-a")
    con = duckdb.connect(str(cat))  # base-b, as an older caseload registers it
    for name, view, path, n, size, _ in read_folder(out / "base-b").files:
        row = ["base-b", name, view, str(path), n, size]
        con.execute("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)", row)
    con.close()
    catalog.register(out / "base-a")  # the views recreated over both
    n = pl.read_parquet(out / "base-a" / "summary.parquet").height
    assert sorted(rows(cat, "SELECT run_id, count(*) FROM summary GROUP BY ALL")) == [
        ("base-a", n),
        ("base-b", n),
    ]
