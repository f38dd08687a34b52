"""Start-up: a command imports only what it needs. `caseload --help` loads no numerical
library; `caseload run` loads neither the catalog's (DuckDB), the terminal's (Rich) nor the
workbook's libraries when it registers nothing and shows nothing, no Parquet reader for a
population file it does not read (nor PyArrow when the population cache holds the population's
state: it maps the frames only when they are used; a first run reads the entry it has just
written column by column through PyArrow), nothing of capacity when the run has none, and one
compiled specialisation of the kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import ROOT, TOY_PROFILE

_PROBE = """
import json, sys
from engine.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # --help
    code = exc.code
loaded = set(sys.modules)
out = {"code": code, "modules": sorted(loaded)}
if "engine.model.kernel" in loaded:
    from engine.model import kernel
    out["keyed"] = len(kernel.run_chunk_keyed.overloads)
    out["sequential"] = len(kernel.run_chunk_sequential.overloads)
print(json.dumps(out))
"""


def _probe(*args: str, env: dict | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env=None if env is None else {**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_imports_no_numerical_library():
    out = _probe("--help")
    assert out["code"] == 0
    loaded = set(out["modules"])
    for heavy in ("numpy", "polars", "numba", "pyarrow", "duckdb", "rich"):
        assert heavy not in loaded, heavy


def test_a_quiet_run_loads_neither_catalog_report_nor_workbook_libraries(tmp_path):
    env = {"CASELOAD_POPULATION_CACHE": str(tmp_path / "cache")}
    args = ["run", "--profile", TOY_PROFILE, "--months", "12", "--out", str(tmp_path)]
    args += ["--quiet", "--catalog", "off"]
    first = _probe(*args, "--run-id", "first", env=env)  # generates; reads the entry's columns
    assert first["code"] == 0
    for unneeded in ("duckdb", "rich", "xlsxwriter", "openpyxl", "ray"):
        assert unneeded not in first["modules"], unneeded
    out = _probe(*args, "--run-id", "r", env=env)  # finds the population and its state
    assert out["code"] == 0
    assert (tmp_path / "r" / "manifest.json").exists()
    loaded = set(out["modules"])
    for unneeded in ("duckdb", "rich", "xlsxwriter", "openpyxl", "pyarrow", "ray"):
        assert unneeded not in loaded, unneeded
    assert "engine.reports.html" not in loaded
    # a run without capacity: neither the month-outer driver nor the waiting-list tables
    for unneeded in ("engine.model.capacity", "engine.model.month_outer", "engine.outputs.waiting"):
        assert unneeded not in loaded, unneeded
    assert (out["keyed"], out["sequential"]) == (1, 0)  # the one specialisation the run uses


def test_a_run_that_registers_in_the_catalog_reads_row_counts_without_pyarrow(tmp_path):
    """Registering a run (the default) needs DuckDB, and Polars (which the run has loaded)
    for the files' row counts: not PyArrow's Parquet module."""
    env = {"CASELOAD_POPULATION_CACHE": str(tmp_path / "cache")}
    args = ["run", "--profile", TOY_PROFILE, "--months", "12", "--out", str(tmp_path / "out")]
    args += ["--quiet", "--catalog", str(tmp_path / "catalog.duckdb")]
    assert _probe(*args, "--run-id", "first", env=env)["code"] == 0  # generates the population
    out = _probe(*args, "--run-id", "r", env=env)
    assert out["code"] == 0
    loaded = set(out["modules"])
    assert "duckdb" in loaded  # it did register
    assert "pyarrow" not in loaded
