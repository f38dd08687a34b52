"""Run folders: written to a temporary name, renamed when complete (DESIGN section 6).

A run folder is the source of truth. Nothing half-written is ever left under its final
name: on any error the temporary folder is removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import polars as pl

from engine.errors import InputError

PARTIAL_PREFIX = ".partial-"


@contextlib.contextmanager
def atomic_folder(final: Path):
    """Yield a temporary folder beside `final`; rename it to `final` on success."""
    final = Path(final)
    if final.exists():
        raise InputError(str(final), "a run folder with this id exists already", "another --run-id, or remove the folder")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{PARTIAL_PREFIX}{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    frame.write_parquet(path, compression="zstd", statistics=True)


def write_json(obj, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=False, default=str)
        fh.write("\n")


def read_manifest(run_dir: Path) -> dict:
    path = Path(run_dir) / "manifest.json"
    if not path.exists():
        raise InputError(str(run_dir), "not a complete run folder: manifest.json is missing")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
