"""The default experiment end to end: 5 measures, exact Shapley (32 subsets), 20 seeds.

    python bench/experiment.py --out bench/out/experiment.json [--backend process] [--workers 2]

Runs `caseload experiment runs/scenarios/boz-2024-experiment.toml` as a user does, in a
subprocess with a warm Numba cache (one short warm-up run first), and records wall time,
peak RSS, the sub-run time from the manifest and the load average (the machine is shared).
Target (issue 4): under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENT = ROOT / "runs" / "scenarios" / "boz-2024-experiment.toml"


def run(args: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(p.stderr.read()[-2000:])
    return wall, usage.ru_maxrss


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", help="JSON file to write")
    ap.add_argument("--backend", default="process", choices=["process", "inprocess", "ray"])
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--replications", type=int, default=None, help="default: the file's 20")
    args = ap.parse_args()
    extra = ["--backend", args.backend] + (["--workers", str(args.workers)] if args.workers else [])
    with tempfile.TemporaryDirectory() as tmp:
        run(
            [
                "experiment",
                str(EXPERIMENT),
                "--replications",
                "1",
                "--out",
                tmp,
                "--run-id",
                "warm",
                "--quiet",
                *extra,
            ]
        )  # loads/compiles the cache
        load0 = os.getloadavg()
        reps = ["--replications", str(args.replications)] if args.replications else []
        wall, rss = run(
            [
                "experiment",
                str(EXPERIMENT),
                *reps,
                "--out",
                tmp,
                "--run-id",
                "bench",
                "--quiet",
                *extra,
            ]
        )
        manifest = json.loads((Path(tmp) / "bench" / "manifest.json").read_text())
    result = {
        "experiment": str(EXPERIMENT.relative_to(ROOT)),
        "backend": manifest["experiment"]["backend"],
        "workers": manifest["experiment"]["workers"],
        "seeds": len(manifest["experiment"]["seeds"]),
        "subruns": manifest["experiment"]["subruns"],
        "wall_s": round(wall, 2),
        "subruns_s": manifest["timings"].get("subruns_s"),
        "peak_rss_mib": round(rss / 1024, 1),
        "load_average_before": [round(x, 2) for x in load0],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
