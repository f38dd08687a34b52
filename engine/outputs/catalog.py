"""The run catalog: one embedded DuckDB file that lists every complete run, comparison,
experiment, sensitivity and decomposition (`caseload explain`) folder, with views over their
Parquet files so that one query can compare any runs (DESIGN section 6).

The folders are the source of truth; the catalog is an index that can always be rebuilt from
them (`rebuild`). A folder is registered once it is complete (after `atomic_folder` renamed
it): `register(folder)` is idempotent (registering twice replaces the entry) and runs in one
transaction, so a process killed while registering leaves the catalog as it was. Writers
take an exclusive `fcntl.flock` on a sidecar lock file (`catalog.duckdb.lock`) and open the
database only for the few milliseconds they write; DuckDB allows one writing process at a
time, so every open retries with backoff while another process holds the file.

Where the catalog lives: `--catalog FILE`, else `$CASELOAD_CATALOG`, else `catalog.duckdb`
beside the folder that holds the run folders (`runs/out/<id>` -> `runs/catalog.duckdb`).
`CASELOAD_CATALOG=off` turns registration off (engine.outputs.catalog_file, with the lock and
the connections).

Tables: `runs` (one row per folder, the manifest's headline fields and the whole manifest as
JSON), `files` (every Parquet file with its row count; `file_columns`, a digest of each
file's columns), `measures` (the measures of each run or experiment). Views: one per kind of
Parquet file (`arrangements`, `clients`, `served`, `events`, `arrangements_yearly`,
`summary`, `savings`, `savings_by_seed`, ...), the union over every registered folder with
`run_id` as the first column. A file name used by runs and by another kind gets the kind as
prefix for the other kind (`experiment_affected`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from engine.core.errors import InputError
from engine.outputs.catalog_entry import RUN_TABLES, Entry, read_folder
from engine.outputs.catalog_file import catalog_path, connect, file_lock, reading
from engine.outputs.sql import query_rows

SCHEMA_VERSION = 1
# Views that exist (empty) even before any folder provides them, so queries do not fail.
KNOWN_VIEWS = (
    *RUN_TABLES,
    "comparison",
    "comparison_yearly",
    "affected_by_group",
    "savings",
    "savings_by_seed",
    "baseline_yearly",
    "package_yearly",
    "experiment_affected",
    "costs_monthly",
    "assumptions",
    "sensitivity",
    "decomposition",
)


_DDL = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, path VARCHAR NOT NULL, name VARCHAR,
    created VARCHAR, registered TIMESTAMP, caseload_version VARCHAR,
    profile VARCHAR, policy VARCHAR, start VARCHAR, months INTEGER,
    seeds VARCHAR, population_seed BIGINT, population_hash VARCHAR,
    measures VARCHAR, n_measures INTEGER, description VARCHAR, manifest VARCHAR
);
CREATE TABLE IF NOT EXISTS files (run_id VARCHAR NOT NULL, name VARCHAR NOT NULL, \
view VARCHAR NOT NULL, path VARCHAR NOT NULL, rows BIGINT, bytes BIGINT);
CREATE TABLE IF NOT EXISTS file_columns (path VARCHAR NOT NULL, schema_digest VARCHAR);
CREATE TABLE IF NOT EXISTS measures (run_id VARCHAR NOT NULL, position INTEGER, name VARCHAR, \
number VARCHAR, title VARCHAR, source VARCHAR);
"""

# Test hook: called inside the registration transaction, before the commit (a test kills
# the process here to show a half-done registration is never seen).
_before_commit: Callable[[], None] = lambda: None  # noqa: E731


# ----------------------------------------------------------------------------- writing
def _ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_DDL)
    have = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if have is None:
        con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])


def _insert(con: duckdb.DuckDBPyConnection, entry: Entry, now: dt.datetime) -> None:
    for table in ("runs", "files", "measures"):
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", [entry.run_id])
    row = entry.row()
    row["registered"] = now
    cols = list(row)
    con.execute(
        f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
        [row[c] for c in cols],
    )
    if entry.files:
        # columns named: a catalog shared with another caseload version may have more
        con.executemany(
            "INSERT INTO files (run_id, name, view, path, rows, bytes) VALUES (?, ?, ?, ?, ?, ?)",
            [(entry.run_id, n, v, str(p), r, b) for n, v, p, r, b, _ in entry.files],
        )
        # the files' column digests in a table of their own, so that `files` keeps the
        # columns an older caseload inserts by position
        paths = [(str(p),) for _, _, p, _, _, _ in entry.files]
        con.executemany("DELETE FROM file_columns WHERE path = ?", paths)
        con.executemany(
            "INSERT INTO file_columns (path, schema_digest) VALUES (?, ?)",
            [(str(p), cols) for _, _, p, _, _, cols in entry.files],
        )
    if entry.measures:
        con.executemany(
            "INSERT INTO measures VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    entry.run_id,
                    i,
                    m.get("name"),
                    None if m.get("number") is None else str(m.get("number")),
                    m.get("title"),
                    m.get("source"),
                )
                for i, m in enumerate(entry.measures)
            ],
        )


def _sql_text(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _refresh_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create one view per kind of file over every registered folder's Parquet files."""
    for (name,) in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main' AND NOT "
        "temporary"
    ).fetchall():
        con.execute(f'DROP VIEW IF EXISTS "{name}"')
    by_view: dict[str, list[str]] = {}
    digests: dict[str, set] = {}
    for view, path, digest in con.execute(
        "SELECT f.view, f.path, c.schema_digest FROM files AS f "
        "LEFT JOIN file_columns AS c ON c.path = f.path ORDER BY f.view, f.run_id, f.path"
    ).fetchall():
        if Path(path).exists():
            by_view.setdefault(view, []).append(path)
            digests.setdefault(view, set()).add(digest)
    for view in KNOWN_VIEWS:
        by_view.setdefault(view, [])
    for view, paths in sorted(by_view.items()):
        if not paths:
            con.execute(f'CREATE VIEW "{view}" AS SELECT NULL::VARCHAR AS run_id WHERE false')
            continue
        listing = ", ".join(_sql_text(p) for p in paths)
        # files with the same columns (names and types, in order) take the first file's
        # columns: binding the view reads one footer; files that differ (or whose digest is
        # not known: registered by an older caseload) are unioned by name, which reads every
        # footer (0.05 s a view at 300 runs)
        by_name = "true" if len(digests[view]) > 1 or None in digests[view] else "false"
        con.execute(
            f'CREATE VIEW "{view}" AS SELECT f.run_id, p.* EXCLUDE (filename) '
            f"FROM read_parquet([{listing}], filename = true, union_by_name = {by_name}) AS p "
            f"JOIN files AS f ON f.path = p.filename"
        )


def register(folder: Path, catalog: Path | str | None = None) -> Path | None:
    """Register a complete folder (idempotent). Returns the catalog's path (None when
    registration is turned off). Raises InputError for a folder that is not complete."""
    cat = catalog_path(folder, catalog)
    if cat is None:
        return None
    entry = read_folder(folder)
    with file_lock(cat):
        con = connect(cat)
        try:
            con.execute("BEGIN TRANSACTION")
            _ensure_schema(con)
            _insert(con, entry, dt.datetime.now())
            _refresh_views(con)
            _before_commit()
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()
    return cat


def try_register(folder: Path, catalog: Path | str | None = None) -> tuple[Path | None, str | None]:
    """Register without failing the command that wrote the folder: (catalog, None) or
    (catalog, why not). The folder stays the source of truth; `caseload runs rebuild` adds
    anything that was missed."""
    try:
        return register(folder, catalog), None
    except InputError as exc:
        return catalog_path(folder, catalog), str(exc)
    except duckdb.Error as exc:
        return catalog_path(folder, catalog), f"catalog error: {str(exc).splitlines()[0]}"


SCAN_DEPTH = 3


def _candidates(root: Path, depth: int, seen: set, out: list) -> None:
    """Folders with a manifest under `root`, at most `depth` levels down; a folder with a
    manifest is not looked into. Hidden and unfinished (`.partial-*`) folders are skipped."""
    try:
        children = sorted(root.iterdir())
    except OSError:
        return
    for child in children:
        if not child.is_dir() or child.name.startswith("."):
            continue
        if (child / "manifest.json").exists():
            if child.resolve() not in seen:
                seen.add(child.resolve())
                out.append(child)
        elif depth > 1:
            _candidates(child, depth - 1, seen, out)


def scan(
    roots: list[Path], progress: Callable[[int, int], None] | None = None, depth: int = SCAN_DEPTH
) -> tuple[list[Entry], list[tuple[Path, str]]]:
    """Complete output folders under each root (at most `depth` levels down, sorted) and the
    folders skipped with the reason."""
    candidates: list[Path] = []
    seen: set = set()
    for root in roots:
        if Path(root).is_dir():
            _candidates(Path(root), depth, seen, candidates)
    found, skipped = [], []
    for i, child in enumerate(candidates):
        try:
            found.append(read_folder(child))
        except InputError as exc:
            skipped.append((child, str(exc)))
        if progress:
            progress(i + 1, len(candidates))
    return found, skipped


def default_roots(catalog: Path) -> list[Path]:
    """Where `rebuild` looks: the folder of the catalog (so runs/out/* and runs/out/demo/*
    for runs/catalog.duckdb) and the folders holding the folders the catalog already lists."""
    roots = [Path(catalog).resolve().parent]
    if Path(catalog).exists():
        try:
            with reading(catalog) as con:
                roots += [
                    Path(p).parent
                    for (p,) in con.execute("SELECT DISTINCT path FROM runs").fetchall()
                ]
        except (InputError, duckdb.Error):
            pass
    out, seen = [], set()
    for r in roots:
        if r.is_dir() and r.resolve() not in seen:
            seen.add(r.resolve())
            out.append(r)
    return out


@dataclass
class RebuildResult:
    catalog: Path
    registered: list[Entry]
    skipped: list[tuple[Path, str]]
    seconds: float


def rebuild(
    catalog: Path,
    roots: list[Path] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RebuildResult:
    """Recreate the catalog from the folders: a new file written beside it and renamed over
    it, so readers see the old catalog or the new one, never half of one."""
    t0 = time.perf_counter()
    catalog = Path(catalog)
    roots = default_roots(catalog) if roots is None else [Path(r) for r in roots]
    entries, skipped = scan(roots, progress)
    ids: dict[str, Path] = {}
    for e in entries:
        if e.run_id in ids and ids[e.run_id] != e.path:
            skipped.append(
                (e.path, f"run id {e.run_id!r} is also {ids[e.run_id]}; the first one is kept")
            )
        ids.setdefault(e.run_id, e.path)
    entries = [e for e in entries if ids[e.run_id] == e.path]
    with file_lock(catalog):
        tmp = catalog.with_name(f".{catalog.name}.rebuild-{os.getpid()}")
        for p in (tmp, Path(str(tmp) + ".wal")):
            p.unlink(missing_ok=True)
        con = duckdb.connect(str(tmp))
        try:
            con.execute("BEGIN TRANSACTION")
            _ensure_schema(con)
            now = dt.datetime.now()
            for e in entries:
                _insert(con, e, now)
            _refresh_views(con)
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        Path(str(catalog) + ".wal").unlink(missing_ok=True)
        os.replace(tmp, catalog)
    return RebuildResult(catalog, entries, skipped, time.perf_counter() - t0)


# ----------------------------------------------------------------------------- reading
LIST_COLUMNS = [
    "run_id",
    "kind",
    "name",
    "profile",
    "start",
    "months",
    "seeds",
    "n_measures",
    "created",
    "path",
]


def list_runs(catalog: Path, kind: str | None = None) -> list[dict]:
    with reading(catalog) as con:
        sql = f"SELECT {', '.join(LIST_COLUMNS)} FROM runs"
        params = []
        if kind:
            sql += " WHERE kind = ?"
            params.append(kind)
        sql += " ORDER BY created, run_id"
        cur = con.execute(sql, params)
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    for r in rows:
        r["seeds"] = json.loads(r["seeds"]) if r["seeds"] else []
        r["complete"] = (Path(r["path"]) / "manifest.json").exists()
    return rows


def show_run(catalog: Path, run_id: str) -> dict:
    with reading(catalog) as con:
        cur = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        cols = [d[0] for d in cur.description]
        row = cur.fetchone()
        if row is None:
            near = [
                r
                for (r,) in con.execute(
                    "SELECT run_id FROM runs WHERE run_id ILIKE ? ORDER BY run_id LIMIT 5",
                    [f"%{run_id}%"],
                ).fetchall()
            ]
            raise InputError(
                "runs show",
                f"unknown run id {run_id!r}",
                ("one of: " + ", ".join(near)) if near else "an id from `caseload runs list`",
            )
        entry = dict(zip(cols, row, strict=True))
        files = [
            dict(name=n, view=v, path=p, rows=r, bytes=b)
            for n, v, p, r, b in con.execute(
                "SELECT name, view, path, rows, bytes FROM files WHERE run_id = ? ORDER BY name",
                [run_id],
            ).fetchall()
        ]
        measures = [
            dict(name=n, number=nr, title=t, source=s)
            for n, nr, t, s in con.execute(
                "SELECT name, number, title, source FROM measures WHERE run_id = ? ORDER BY "
                "position",
                [run_id],
            ).fetchall()
        ]
    entry["manifest"] = json.loads(entry["manifest"])
    entry["seeds"] = json.loads(entry["seeds"]) if entry["seeds"] else []
    entry["registered"] = str(entry["registered"])
    entry["files"] = files
    entry["measures"] = measures
    entry["complete"] = (Path(entry["path"]) / "manifest.json").exists() and all(
        Path(f["path"]).exists() for f in files
    )
    return entry


def query(catalog: Path, sql: str) -> tuple[list[str], list[tuple]]:
    """Run one read-only query against the catalog and its views (every row, for tests and
    small results; `caseload runs sql` streams with `engine.outputs.sql.query_rows`)."""
    with query_rows(catalog, sql) as (cols, rows):
        return cols, list(rows)


def views(catalog: Path) -> list[str]:
    with reading(catalog) as con:
        return [
            n
            for (n,) in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main' "
                "ORDER BY view_name"
            ).fetchall()
        ]
