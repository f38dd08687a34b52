"""Where a cold compile goes: one `caseload run` in this process with an empty Numba cache,
Numba's own compile events recorded (`numba.core.event`), then the time per compiled
function (exclusive of the functions it compiled on the way) and how long LLVM held its lock.

    python bench/compile_events.py [runs/scenarios/boz-2024.toml] [--top 30]

The population cache is turned off, so the run compiles what a new user's first run does.
Compare two trees one after the other, or alternate them: the machine's speed drifts.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", nargs="?", default="runs/scenarios/boz-2024.toml")
    ap.add_argument("--top", type=int, default=30, help="functions listed")
    args = ap.parse_args()
    scratch = tempfile.mkdtemp(prefix="caseload-compile-")
    os.environ["NUMBA_CACHE_DIR"] = str(Path(scratch) / "numba")  # before Numba is imported
    os.environ["CASELOAD_POPULATION_CACHE"] = "off"
    sys.path.insert(0, str(ROOT))
    from numba.core import event

    compiles, llvm = event.RecordingListener(), event.RecordingListener()
    event.register("numba:compile", compiles)
    event.register("numba:llvm_lock", llvm)
    from engine.cli import main as caseload

    t0 = time.perf_counter()
    try:
        caseload(["run", args.scenario, "--out", str(Path(scratch) / "out"), "--quiet"])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # the compiled code and the run: scratch
    total = time.perf_counter() - t0

    exclusive: collections.Counter = collections.Counter()
    copies: collections.Counter = collections.Counter()
    stack: list[list] = []
    for ts, ev in compiles.buffer:
        f = ev.data["dispatcher"].py_func
        name = f"{f.__module__.removeprefix('engine.model.')}.{f.__qualname__}"
        if ev.is_start:
            stack.append([name, ts, 0.0])
            continue
        name, start, inner = stack.pop()
        exclusive[name] += ts - start - inner
        copies[name] += 1
        if stack:
            stack[-1][2] += ts - start
    held, since = 0.0, 0.0
    for ts, ev in llvm.buffer:
        if ev.is_start:
            since = ts
        else:
            held += ts - since
    print(f"{args.scenario}: {total:.1f} s in all, LLVM held its lock {held:.1f} s")
    print(f"{sum(copies.values())} compilations of {len(copies)} functions; by exclusive time:")
    for name, s in exclusive.most_common(args.top):
        print(f"  {s:6.2f} s  {copies[name]:3d}x  {name}")


if __name__ == "__main__":
    main()
