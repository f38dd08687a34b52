"""Where the run catalog lives and how a process opens it: its path (`--catalog FILE`, else
$CASELOAD_CATALOG, else `catalog.duckdb` beside the folder that holds the run folders; `off`
turns registration off), the sidecar lock writers hold, and connections that wait while
another process holds the file. DuckDB is imported only to connect: a run that registers
nothing, or resolves a folder by its path, never imports it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.errors import InputError

if TYPE_CHECKING:
    import duckdb

ENV = "CASELOAD_CATALOG"  # the catalog file, or one of OFF
OFF = {"off", "none", "0", "no", "false"}
CATALOG_NAME = "catalog.duckdb"
LOCK_TIMEOUT_S = 120.0


def registration_off(catalog: str | None) -> bool:
    """Is registering turned off (`--catalog off`, else $CASELOAD_CATALOG=off)?"""
    if catalog is None:
        catalog = os.environ.get(ENV) or None
    return catalog is not None and str(catalog).strip().lower() in OFF


def catalog_path(
    folder: Path | None = None, catalog: Path | str | None = None, out_dir: Path | None = None
) -> Path | None:
    """The catalog for a folder (or an out dir): explicit, else $CASELOAD_CATALOG, else
    `<out_dir>/../catalog.duckdb`. None when registration is turned off."""
    if catalog is None:
        catalog = os.environ.get(ENV) or None
    if registration_off(catalog):
        return None
    if catalog is not None:
        return Path(catalog)
    if folder is not None:
        out_dir = Path(folder).resolve().parent
    if out_dir is None:
        out_dir = Path("runs/out")
    return Path(out_dir).resolve().parent / CATALOG_NAME


def lock_path(catalog: Path) -> Path:
    return Path(str(catalog) + ".lock")


@contextlib.contextmanager
def file_lock(catalog: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """An exclusive flock on the catalog's sidecar lock file (released when the process dies)."""
    catalog.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(catalog), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InputError(
                        str(lock_path(catalog)),
                        f"the catalog is locked by another process for more than {timeout:.0f} s",
                        "try again later",
                    ) from None
                time.sleep(0.02 + random.random() * 0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _is_lock_error(exc: Exception) -> bool:
    """Busy, not broken: another process holds DuckDB's lock, or another connection of this
    process holds the file open in the other mode (read-only against read-write; DuckDB
    refuses the second rather than waiting): both pass when the other connection closes."""
    import duckdb

    text = str(exc).lower()
    if "different configuration than existing connections" in text:
        return True
    return isinstance(exc, duckdb.IOException) and (
        "lock" in text or "resource temporarily unavailable" in text
    )


def connect(
    catalog: Path, read_only: bool = False, timeout: float = LOCK_TIMEOUT_S, config=None
) -> duckdb.DuckDBPyConnection:
    """Open the catalog, retrying with backoff while another process (or another connection of
    this one, in the other mode) holds it."""
    import duckdb

    delay = 0.02
    deadline = time.monotonic() + timeout
    while True:
        try:
            return duckdb.connect(str(catalog), read_only=read_only, config=config or {})
        except duckdb.Error as exc:
            if not _is_lock_error(exc):
                raise InputError(
                    str(catalog),
                    f"cannot open the catalog: {str(exc).splitlines()[0]}",
                    "a DuckDB file written by `caseload runs rebuild`",
                ) from None
            if time.monotonic() > deadline:
                raise InputError(
                    str(catalog),
                    f"the catalog is in use by another process for more than {timeout:.0f} s",
                    "try again later",
                ) from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)


@contextlib.contextmanager
def reading(catalog: Path, config=None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short read-only connection to an existing catalog (`config`: DuckDB settings, e.g.
    the `runs sql` sandbox)."""
    catalog = Path(catalog)
    if not catalog.exists():
        raise InputError(
            str(catalog),
            "no run catalog here",
            "a catalog written by `caseload run` or `caseload runs rebuild` (or --catalog FILE)",
        )
    con = connect(catalog, read_only=True, config=config)
    try:
        yield con
    finally:
        con.close()
