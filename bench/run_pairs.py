"""Whole `caseload run` processes of two checkouts, paired: A B A B ..., national scale.

    python bench/run_pairs.py --vs /path/to/older/checkout --pairs 7
    python bench/run_pairs.py --vs DIR --first          # an empty population cache each run

Per pair, each checkout (with its own .venv) runs the baseline and then the BOZ package as a
user does, each its own process, with a warm Numba cache; by default the population cache is
warm (one unpaired warm-up run fills it), with --first it is emptied before every baseline
run (the run that generates the population and fills the cache). Per checkout the medians of
wall seconds, the run's own timings (manifest), "other" (wall minus population, prepare,
kernel and write: start-up, imports, loading the kernel, aggregation), peak RSS, and the two
runs together; then the paired ratios --vs / this checkout (above 1: this one is faster).
The machine is shared: read the ratios, and the load average printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("baseline", "boz-2024")
WORK = ("population_s", "prepare_s", "kernel_s", "write_s")


def run(checkout: Path, scenario: str, scale: float, cache: Path) -> dict:
    """One `caseload run` process: wall seconds, peak RSS (MiB) and the manifest's timings."""
    out = Path(tempfile.mkdtemp(prefix="run-pairs-"))
    env = {**os.environ, "CASELOAD_POPULATION_CACHE": str(cache), "PYTHONPATH": str(checkout)}
    cmd = [str(checkout / ".venv" / "bin" / "python"), "-m", "engine.cli", "run",
           f"runs/scenarios/{scenario}.toml", "--set", f"population.scale={scale}",
           "--out", str(out), "--run-id", "r", "--quiet", "--catalog", "off"]  # fmt: skip
    try:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=checkout, env=env, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        err = p.stderr.read()
        p.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {err.strip()[-2000:]}")
        timings = json.loads((out / "r" / "manifest.json").read_text())["timings"]
    finally:
        shutil.rmtree(out, ignore_errors=True)
    other = wall - sum(timings.get(k, 0.0) for k in WORK)
    return {"wall_s": wall, "other_s": other, "peak_mib": usage.ru_maxrss / 1024, **timings}


def pair_round(checkout: Path, scale: float, cache: Path, first: bool) -> dict:
    if first:
        shutil.rmtree(cache, ignore_errors=True)
    runs = {s: run(checkout, s, scale, cache) for s in SCENARIOS}
    runs["both_wall_s"] = sum(runs[s]["wall_s"] for s in SCENARIOS)
    return runs


def _figure(r: dict, scenario: str, x: str) -> float:
    return r["both_wall_s"] if scenario == "both" else r[scenario][x]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vs", required=True, metavar="DIR", help="the other checkout (with .venv)")
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--scale", type=float, default=14.0, help="population.scale (14: national)")
    ap.add_argument("--first", action="store_true", help="empty population cache every round")
    ap.add_argument("--out", help="JSON file to write")
    args = ap.parse_args(argv)
    checkouts = {"vs": Path(args.vs).resolve(), "this": ROOT}
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="run-pairs-cache-") as caches:
        cache = {k: Path(caches) / k for k in checkouts}
        if not args.first:  # fill the population caches (and the page cache), not counted
            for k, c in checkouts.items():
                pair_round(c, args.scale, cache[k], False)
        rounds = {k: [] for k in checkouts}
        for _ in range(args.pairs):
            for k, c in checkouts.items():
                rounds[k].append(pair_round(c, args.scale, cache[k], args.first))
    load_end = os.getloadavg()
    keys = ("wall_s", "other_s", "population_s", "prepare_s", "compile_s", "kernel_s",
            "aggregate_s", "write_s", "peak_mib")  # fmt: skip
    print(f"{len(rounds['this'])} pairs, scale {args.scale}, population cache "
          f"{'empty each round' if args.first else 'warm'}; medians")  # fmt: skip
    summary = {}
    for k, c in checkouts.items():
        summary[k] = {"checkout": str(c)}
        for s in SCENARIOS:
            med = {x: statistics.median(r[s].get(x, 0.0) for r in rounds[k]) for x in keys}
            summary[k][s] = med
            print(f"  {k:4s} {s:9s} " + "  ".join(f"{x} {v:.3f}" for x, v in med.items()))
        both = statistics.median(r["both_wall_s"] for r in rounds[k])
        summary[k]["both_wall_s"] = both
        print(f"  {k:4s} both      wall_s {both:.3f}")
    ratios = {}
    for s in (*SCENARIOS, "both"):
        for x in ("wall_s",) if s == "both" else ("wall_s", "other_s", "peak_mib"):
            rs = [_figure(a, s, x) / _figure(b, s, x)
                  for a, b in zip(rounds["vs"], rounds["this"], strict=True)]  # fmt: skip
            ratios[f"{s} {x}"] = statistics.median(rs)
    print("paired ratios vs / this (medians): "
          + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))  # fmt: skip
    print(f"load average {[round(x, 2) for x in load_start]} at the start, "
          f"{[round(x, 2) for x in load_end]} at the end")  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "ratios": ratios,
                                             "rounds": rounds, "load": [load_start, load_end]},
                                            indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
