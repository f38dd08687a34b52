"""Scaling figures: the default profile, 10x and national scale for 48 months.

    python bench/scaling.py --out bench/out/scaling.json

Per size, each measurement in its own subprocess (so peak RSS is that size's alone):
  kernel     best and median of --repeats calls of `run_kernel` (warm), active
             arrangement-months and arrangement-months per second; also the CPU seconds
             of those calls (all threads): on a machine shared with other jobs, active
             arrangement-months per (CPU seconds / threads) is what the cores would do
             undisturbed;
  end to end `caseload run` as a user runs it (generate, build state, kernel, aggregate,
             write the run folder), wall time of the whole process with a warm Numba cache,
             best of --e2e-repeats, and its peak RSS;
  compile    the same command with an empty Numba cache (a temporary NUMBA_CACHE_DIR):
             cold minus warm wall time.
Then the common-random-numbers figure (DESIGN section 5): the spread across simulation
seeds of (measure - baseline) total gross cost, with keyed and with sequential draws, and
for reference with independent seeds for the two runs (no common random numbers at all).
The "measure" is a parameter override that changes nothing for most clients (--crn-set):
by default `products.begeleiding.goal_hazard_m` 0.014 -> 0.012 (fewer begeleiding clients
reach their goal each month).

The machine is shared: figures are noisy; the load average is recorded beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {
    "default": 1.0,
    "10x": 10.0,
    "national": 14.0,
}  # scale 14: about 2.5 million arrangement slots
MONTHS = 48
CRN_OVERRIDE = {"products.begeleiding.goal_hazard_m": 0.012}  # baseline 0.014


# ----------------------------------------------------------------------------- child: kernel
def child_kernel(scale: float, repeats: int) -> dict:
    import numba

    from engine.model.kernel import run_kernel, weekly_base_cents_all
    from engine.model.state import copy_state
    from engine.simulation.simulate import (
        CHUNKS_PER_THREAD,
        allocate_bins,
        build_state,
        compile_params,
    )
    from synthetic_population.generator import generate
    from synthetic_population.profile import load_profile

    profile, policy = load_profile("rotterdam", {"population.scale": scale})
    pop = generate(profile, policy, 1, MONTHS)
    state = build_state(pop, policy, profile.group_codes)
    params = compile_params(profile, policy, pop.pool_rate, profile.start, MONTHS, 1)
    n_chunks = numba.get_num_threads() * CHUNKS_PER_THREAD
    times, cpus = [], []
    for i in range(repeats + 1):
        s = copy_state(state)
        weekly_base_cents_all(s, params)
        b = allocate_bins(params, len(profile.groups), len(policy.products), n_chunks, s.n_slots)
        c0, t0 = time.process_time(), time.perf_counter()
        run_kernel(s, params, b, n_chunks)
        if i:  # the first call loads the cache
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    am = int(b.arr[..., 0, :].sum())
    best = min(times)
    return {
        "clients": pop.n_clients,
        "arrangement_slots": pop.n_arrangements,
        "active_arrangement_months": am,
        "kernel_s_best": round(best, 4),
        "kernel_s_median": round(statistics.median(times), 4),
        "kernel_s_all": [round(x, 4) for x in times],
        "arrangement_months_per_s": round(am / best),
        "kernel_cpu_s_best": round(min(cpus), 4),
        "arrangement_months_per_cpu_s_per_thread": round(
            am / (min(cpus) / numba.get_num_threads())
        ),
        "threads": numba.get_num_threads(),
    }


# ----------------------------------------------------------------------------- parent
def _run(cmd: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) and stdout of one subprocess."""
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env, cwd=ROOT, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        err = p.stderr.read()
        p.stderr.close()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {code}: {err.strip()[-2000:]}")
        out.seek(0)
        return wall, usage.ru_maxrss, out.read()


def _cli_run(
    scale: float, out_dir: str, run_id: str, env: dict | None = None
) -> tuple[float, int, dict]:
    cmd = [
        sys.executable,
        "-m",
        "engine.cli",
        "run",
        "--months",
        str(MONTHS),
        "--set",
        f"population.scale={scale}",
        "--out",
        out_dir,
        "--run-id",
        run_id,
        "--json",
    ]
    wall, rss, stdout = _run(cmd, env)
    summary = json.loads(stdout)
    manifest = json.loads((Path(summary["run_dir"]) / "manifest.json").read_text())
    return wall, rss, manifest


def measure_size(
    name: str, scale: float, repeats: int, e2e_repeats: int, compile_time: bool
) -> dict:
    print(f"[{name}] scale {scale}: kernel ...", flush=True)
    _, _, stdout = _run(
        [sys.executable, __file__, "--child-kernel", str(scale), "--repeats", str(repeats)]
    )
    row = {"size": name, "scale": scale, **json.loads(stdout)}
    print(f"[{name}] end to end ...", flush=True)
    with tempfile.TemporaryDirectory() as out_dir:
        runs = [_cli_run(scale, out_dir, f"warm{i}") for i in range(e2e_repeats + 1)][
            1:
        ]  # the first warms the cache
        walls = [w for w, _, _ in runs]
        best = min(range(len(runs)), key=lambda i: walls[i])
        row["e2e_s_best"] = round(walls[best], 3)
        row["e2e_s_all"] = [round(w, 3) for w in walls]
        row["e2e_timings"] = runs[best][2]["timings"]
        row["peak_rss_mib"] = round(max(r for _, r, _ in runs) / 1024)
        if compile_time:
            print(f"[{name}] cold cache ...", flush=True)
            with tempfile.TemporaryDirectory() as cache:
                cold, _, _ = _cli_run(
                    scale, out_dir, "cold", env={**os.environ, "NUMBA_CACHE_DIR": cache}
                )
            row["e2e_cold_s"] = round(cold, 3)
            row["compile_s"] = round(cold - walls[best], 3)
    return row


def crn_spread(seeds: int, override: dict = CRN_OVERRIDE) -> dict:
    """Spread across simulation seeds of (measure - baseline) total gross cost, 48 months,
    same population: keyed draws, sequential draws, and independent seeds (keyed, the
    measure run on seed + 10,000)."""
    from engine.model.layout import A_GROSS
    from engine.model.rng import MODE_KEYED, MODE_SEQUENTIAL
    from engine.simulation.simulate import build_state, simulate
    from synthetic_population.generator import generate
    from synthetic_population.profile import load_profile

    base, policy = load_profile("rotterdam")
    measure, policy_m = load_profile("rotterdam", override)
    pop = generate(base, policy, 1, MONTHS)
    state = build_state(pop, policy, base.group_codes)
    baseline_values = {
        k: next(r.value for r in base.register if r.name in (k, f"profile.{k}")) for k in override
    }
    out = {
        "measure": override,
        "baseline_values": baseline_values,
        "seeds": seeds,
        "cost": "total gross EUR over 48 months, default profile",
    }
    for label, mode, other in (
        ("keyed", MODE_KEYED, 0),
        ("sequential", MODE_SEQUENTIAL, 0),
        ("independent", MODE_KEYED, 10_000),
    ):
        diffs, totals = [], []
        for seed in range(1, seeds + 1):
            a = simulate(
                base, policy, pop, base.start, MONTHS, seed, rng_mode=mode, base_state=state
            )
            b = simulate(
                measure,
                policy_m,
                pop,
                measure.start,
                MONTHS,
                seed + other,
                rng_mode=mode,
                base_state=state,
            )
            ta, tb = int(a.arr[..., A_GROSS].sum()), int(b.arr[..., A_GROSS].sum())
            totals.append(ta / 100)
            diffs.append((tb - ta) / 100)
        out[label] = {
            "diff_mean_eur": round(statistics.mean(diffs)),
            "diff_sd_eur": round(statistics.stdev(diffs)),
            "baseline_total_mean_eur": round(statistics.mean(totals)),
            "baseline_total_sd_eur": round(statistics.stdev(totals)),
            "diffs_eur": [round(d) for d in diffs],
        }
    k, s = out["keyed"]["diff_sd_eur"], out["sequential"]["diff_sd_eur"]
    out["sd_ratio_sequential_over_keyed"] = round(s / k, 2) if k else None
    out["seeds_for_equal_precision"] = round((s / k) ** 2, 1) if k else None
    out["sd_ratio_independent_over_keyed"] = (
        round(out["independent"]["diff_sd_eur"] / k, 1) if k else None
    )
    return out


def machine() -> dict:
    model = ""
    with contextlib.suppress(OSError, StopIteration):
        model = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        )
    import numba
    import numpy
    import polars

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": numpy.__version__,
        "polars": polars.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def print_table(result: dict) -> None:
    rows = result["sizes"]
    head = [
        "size",
        "scale",
        "clients",
        "slots",
        "arr-months",
        "kernel s",
        "M arr-m/s",
        "cpu s",
        "M/s by cpu",
        "e2e s",
        "compile s",
        "peak MiB",
    ]
    table = [head]
    for r in rows:
        table.append(
            [
                r["size"],
                f"{r['scale']:g}",
                f"{r['clients']:,}",
                f"{r['arrangement_slots']:,}",
                f"{r['active_arrangement_months']:,}",
                f"{r['kernel_s_best']:.3f}",
                f"{r['arrangement_months_per_s'] / 1e6:.1f}",
                f"{r['kernel_cpu_s_best']:.3f}",
                f"{r['arrangement_months_per_cpu_s_per_thread'] / 1e6:.1f}",
                f"{r['e2e_s_best']:.2f}",
                f"{r['compile_s']:.1f}" if "compile_s" in r else "-",
                f"{r['peak_rss_mib']:,}",
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for i, row in enumerate(table):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    crn = result.get("crn")
    if crn:
        print(
            f"\nCRN: measure {crn['measure']} (baseline {crn['baseline_values']}) over {crn['seeds']} seeds,"
        )
        print("     (measure - baseline) total gross EUR over 48 months:")
        for label in ("keyed", "sequential", "independent"):
            r = crn[label]
            print(f"  {label:12s} mean {r['diff_mean_eur']:>12,}  sd {r['diff_sd_eur']:>11,}")
        print(
            f"  sd sequential / keyed {crn['sd_ratio_sequential_over_keyed']} (about {crn['seeds_for_equal_precision']}x the seeds for the same precision);"
        )
        print(f"  sd independent / keyed {crn['sd_ratio_independent_over_keyed']}")
    print(
        "\nkernel s: wall, best of the repeats; cpu s: CPU seconds of all threads; M/s by cpu: active"
    )
    print("arrangement-months per (CPU seconds / threads), what the cores do when not shared")
    m = result["machine"]
    print(
        f"\n{m['cores']} cores, {m['cpu']}; load average {m['load_average']} at the start, {result['load_average_end']} at the end"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="JSON file to write")
    ap.add_argument(
        "--sizes", default=",".join(SIZES), help="comma-separated, of: " + ", ".join(SIZES)
    )
    ap.add_argument(
        "--repeats", type=int, default=7, help="kernel calls per size (best is reported)"
    )
    ap.add_argument("--e2e-repeats", type=int, default=3, help="warm end-to-end runs per size")
    ap.add_argument("--no-compile", action="store_true", help="skip the cold-cache runs")
    ap.add_argument("--crn-seeds", type=int, default=30, help="seeds for the CRN figure (0: skip)")
    ap.add_argument(
        "--crn-set",
        action="append",
        metavar="NAME=VALUE",
        help=f"the CRN measure (default {CRN_OVERRIDE})",
    )
    ap.add_argument("--child-kernel", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.child_kernel is not None:
        print(json.dumps(child_kernel(args.child_kernel, args.repeats)))
        return 0
    result = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "months": MONTHS,
        "machine": machine(),
        "sizes": [],
    }
    for name in args.sizes.split(","):
        result["sizes"].append(
            measure_size(name, SIZES[name], args.repeats, args.e2e_repeats, not args.no_compile)
        )
    if args.crn_seeds:
        print(f"[crn] {args.crn_seeds} seeds x keyed/sequential x baseline/measure ...", flush=True)
        override = (
            {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.crn_set)}
            if args.crn_set
            else CRN_OVERRIDE
        )
        result["crn"] = crn_spread(args.crn_seeds, override)
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print()
    print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
