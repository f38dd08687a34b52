"""Capacity on versus off, end to end: `caseload run` of the default baseline at a given
population scale (national: 14), once without capacity and once with the library's capacity
on (places scaled with the population by a `[[capacity]] factor` measure, so the queue stays
the baseline's small one), each its own process, as a user runs them (warm Numba cache, a
population cache of its own, warmed first). Best wall of --repeats each, the manifest's
timings (the month-outer driver's `capacity_s`), peak RSS, and the ratio on / off.

    python bench/capacity.py --scale 14 --repeats 3 --out bench/out/capacity.json

The machine is shared: figures are noisy; the load average is recorded beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from scaling import _cli_run  # noqa: E402 - one way to time a `caseload run` for both scripts

MEASURE = """[measure]
name = "places_scaled"
number = 0
source = "bench: the library's places times the population scale"

[[capacity]]
name = "bw_scaled"
product = "beschermd_wonen"
factor = {scale}
effective_from = "2000-01"
source = "bench"

[[capacity]]
name = "jvb_scaled"
product = "jeugd_verblijf"
factor = {scale}
effective_from = "2000-01"
source = "bench"
"""

SCENARIO = """[scenario]
name = "capacity-bench"
profile = "rotterdam"
start = "2024-01"
months = 48
seed = 1
population_seed = 1
measures = ["places_scaled.toml"]
capacity = true
"""


def _run(scenario: str, scale: float, out_dir: str, run_id: str, env: dict) -> dict:
    """One `caseload run` in its own process (`scaling._cli_run`): wall, peak RSS, timings."""
    wall, rss, manifest = _cli_run(ROOT, scenario, scale, out_dir, run_id, env)
    out = {
        "wall_s": round(wall, 3),
        "peak_rss_mib": round(rss / 1024),
        "timings": manifest["timings"],
        "population_cache": manifest["population"].get("cache"),
    }
    cap = manifest.get("capacity")
    if cap:
        out["coupled_clients"] = cap["coupled_clients"]
        import polars as pl

        w = pl.read_parquet(Path(out_dir) / run_id / "waiting.parquet")
        out["waiting_client_months"] = int(w["waiting_end"].sum())
        out["joined"] = int(w["joined"].sum())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=14.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    res = {"scale": args.scale, "load_before": os.getloadavg(), "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "CASELOAD_POPULATION_CACHE": cache, "PYTHONPATH": str(ROOT)}
        Path(tmp, "places_scaled.toml").write_text(MEASURE.format(scale=args.scale))
        on_sc = str(Path(tmp, "capacity-bench.toml"))
        Path(on_sc).write_text(SCENARIO)
        off_sc = str(ROOT / "runs" / "scenarios" / "baseline.toml")
        out_dir = str(Path(tmp, "out"))
        # warm: the population cache and the compiled code of both paths
        res["first_off"] = _run(off_sc, args.scale, out_dir, "warm-off", env)
        res["first_on"] = _run(on_sc, args.scale, out_dir, "warm-on", env)
        runs = {"off": [], "on": []}
        for i in range(args.repeats):  # alternated, so load drifts hit both
            runs["off"].append(_run(off_sc, args.scale, out_dir, f"off{i}", env))
            runs["on"].append(_run(on_sc, args.scale, out_dir, f"on{i}", env))
    for k, v in runs.items():
        res[k] = min(v, key=lambda r: r["wall_s"])
        res[f"{k}_walls_s"] = [r["wall_s"] for r in v]
    res["ratio_on_off"] = round(res["on"]["wall_s"] / res["off"]["wall_s"], 3)
    res["load_after"] = os.getloadavg()
    text = json.dumps(res, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    print(
        f"scale {args.scale:g}: off {res['off']['wall_s']:.2f} s, on {res['on']['wall_s']:.2f} s "
        f"(capacity_s {res['on']['timings'].get('capacity_s', 0):.2f}, "
        f"{res['on'].get('coupled_clients', 0):,} coupled clients): on/off "
        f"{res['ratio_on_off']:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
