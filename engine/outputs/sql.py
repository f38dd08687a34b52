"""`caseload runs sql`: one read-only query over the run catalog, on a locked-down DuckDB
connection, its rows streamed.

Exactly one SELECT (or EXPLAIN) statement runs; anything else is refused before it runs. The
connection is read-only, and before the user's statement: external access is off with only
the registered Parquet files allowed (no COPY TO, EXPORT, ATTACH or read of another file), no
extension is installed or loaded, and the configuration is locked so the query cannot turn
any of it back on. Rows are fetched in batches as the caller consumes them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb

from engine.core.errors import InputError
from engine.outputs.catalog_file import reading

# `runs sql` runs exactly one statement of these kinds (a query; EXPLAIN of one)
QUERY_STATEMENTS = ("SELECT", "EXPLAIN")
# DuckDB settings of the `runs sql` connection, locked before the user's statement runs: no file
# but the registered Parquet files is reachable (no COPY TO, EXPORT, ATTACH, read_csv of other
# files), no extension is installed or loaded, and nothing can change the settings back.
SANDBOX = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def _sandbox(con: duckdb.DuckDBPyConnection) -> None:
    paths = [p for (p,) in con.execute("SELECT path FROM files").fetchall()]
    con.execute("SET allowed_paths = ?", [paths])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _statement_kind(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Exactly one statement, a query: anything else is refused before it runs."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise InputError("runs sql", str(exc).strip().splitlines()[0], _HINT) from None
    if len(statements) != 1:
        raise InputError("runs sql", f"{len(statements)} statements", "one SELECT query")
    kind = statements[0].type.name
    if kind not in QUERY_STATEMENTS:
        raise InputError(
            "runs sql",
            f"a {kind} statement is refused",
            "a read-only query (SELECT): the catalog is rebuilt from the folders, never edited, "
            "and writes no file",
        )


_HINT = (
    "a valid DuckDB SELECT over the tables runs, files, measures and the views (see "
    "`caseload runs sql --help`)"
)


def _sql_error(exc: duckdb.Error) -> InputError:
    first = str(exc).strip().splitlines()[0]
    hint = _HINT
    if isinstance(exc, duckdb.IOException) and (
        "no files found" in first.lower() or "no such file" in first.lower()
    ):
        hint = "a registered folder was moved or deleted: run `caseload runs rebuild`"
    elif isinstance(exc, duckdb.PermissionException):
        named = re.search(r'"([^"]+)"', first)
        if named and named.group(1).endswith(".parquet") and not Path(named.group(1)).exists():
            hint = "a registered folder was moved or deleted: run `caseload runs rebuild`"
        else:
            hint = "a query over the catalog's tables and views: no other file is read or written"
    elif "read-only" in first.lower():
        hint = "a read-only query: the catalog is rebuilt from the folders, never edited"
    return InputError("runs sql", first, hint)


@contextlib.contextmanager
def query_rows(catalog: Path, sql: str, batch: int = 10_000) -> Iterator[tuple[list, Iterator]]:
    """Run one read-only query on a locked-down connection; yields the column names and an
    iterator over the rows, fetched in batches (a huge result is never held whole)."""
    if not sql.strip():
        raise InputError(
            "runs sql", "an empty query", 'a query, e.g. "SELECT run_id, kind FROM runs"'
        )
    with reading(catalog, config=SANDBOX) as con:
        _sandbox(con)
        _statement_kind(con, sql)
        try:
            cur = con.execute(sql)
        except duckdb.Error as exc:
            raise _sql_error(exc) from None
        cols = [d[0] for d in cur.description] if cur.description else []

        def rows():
            while True:
                try:
                    chunk = cur.fetchmany(batch)
                except duckdb.Error as exc:
                    raise _sql_error(exc) from None
                if not chunk:
                    return
                yield from chunk

        yield cols, rows()
