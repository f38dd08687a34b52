"""Scaling figures: the default profile, 10x and national scale for 48 months, the baseline
and the BOZ measure package, optionally beside another checkout (before and after a change,
in one run, on the same machine).

    python bench/scaling.py --out bench/out/scaling.json
    python bench/scaling.py --vs /path/to/older/checkout --sizes national --no-compile

Per size and checkout, each measurement in its own subprocess (so peak RSS is its own):
  kernel     `run_kernel` of the baseline and of the package, alternated, --repeats each
             (warm); best and median wall seconds, CPU seconds of all threads, active
             arrangement-months per second; the package's kernel over the baseline's;
  generation `generate` and `build_state` in one process, best of 3 (wall and CPU), in
             --gen-processes processes: the median of their bests;
  end to end `caseload run` of the baseline and the package as a user runs them (population,
             state, kernel, aggregate, write the folder) with a warm Numba cache: first with
             an empty population cache (the baseline generates, the package finds what the
             baseline kept), then --e2e-repeats more of each (cache hits; best wall); per
             run the manifest's timings, what is left ("other": start-up, imports, loading
             the kernel, measures, aggregation) and the peak RSS; `caseload --help`;
  compile    the package run with an empty Numba cache (a temporary NUMBA_CACHE_DIR):
             its whole-process wall time and the compile seconds its manifest reports.
`--vs DIR` measures DIR the same way, with DIR's own virtual environment (DIR/.venv), and
prints the two side by side: run it on an idle machine, and read the ratios.
Then the common-random-numbers figure: the spread across simulation seeds of (measure -
baseline) total gross cost, with keyed and with sequential draws, and for reference with
independent seeds for the two runs. The "measure" is a parameter override that changes
nothing for most clients (--crn-set): by default `products.begeleiding.goal_hazard_m` 0.014
-> 0.012.

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
SIZES = {"default": 1.0, "10x": 10.0, "national": 14.0}  # scale 14: about 2.5 million slots
MONTHS = 48
PACKAGE = [
    "m04_youth_weekly_cap_4000",
    "m12_max_three_years",
    "m15_no_ironing",
    "m16_biweekly_household_help",
    "m17_wmo_weekly_cap_800",
]
CRN_OVERRIDE = {"products.begeleiding.goal_hazard_m": 0.012}  # baseline 0.014


# ----------------------------------------------------------------------------- child: kernel
def _kernel_api():
    """run_kernel and friends of the checkout on sys.path: this layout, or the flat one the
    engine had before (for before-and-after runs against an older checkout)."""
    try:
        from engine.model.kernel import run_kernel, weekly_base_cents_all
        from engine.model.params import compile_params
        from engine.model.state import build_state, with_rule_state
        from engine.simulation.simulate import CHUNKS_PER_THREAD, allocate_bins

        def params(profile, policy, pop, rules, names):
            return compile_params(
                profile,
                policy,
                pop.pool_rate,
                profile.start,
                MONTHS,
                1,
                rules=rules,
                measure_names=names,
            )

        def bins(P, profile, policy, n_chunks, S, n_measures):
            return allocate_bins(
                P, len(profile.groups), len(policy.products), n_chunks, S.n_slots, n_measures
            )

    except ImportError:
        from engine.compile import compile_params
        from engine.kernel import run_kernel, weekly_base_cents_all
        from engine.simulate import CHUNKS_PER_THREAD, allocate_bins
        from engine.state import build_state, with_rule_state
        from rules.compile import compile_rules

        def params(profile, policy, pop, rules, names):
            arrays = compile_rules(rules, policy, profile.group_codes, names, profile.start, MONTHS)
            return compile_params(
                profile, policy, pop.pool_rate, profile.start, MONTHS, 1, rules=arrays
            )

        def bins(P, profile, policy, n_chunks, S, n_measures):
            steps = P.price_cents.shape[1]
            return allocate_bins(
                P,
                len(profile.groups),
                len(policy.products),
                steps,
                n_chunks,
                S.aid.shape[0],
                n_measures,
            )

    return (
        run_kernel,
        weekly_base_cents_all,
        build_state,
        with_rule_state,
        CHUNKS_PER_THREAD,
        params,
        bins,
    )


def child_kernel(scale: float, repeats: int) -> dict:
    import numba

    from rules.schema import load_measure
    from synthetic_population.generator import generate
    from synthetic_population.profile import load_profile

    run_kernel, base_cents, build_state, with_rule_state, per_thread, params, bins = _kernel_api()
    profile, policy = load_profile("rotterdam", {"population.scale": scale})
    pop = generate(profile, policy, 1, MONTHS)
    state = build_state(pop, policy, profile.group_codes)
    groups = {g.code: g.domain for g in profile.groups}
    n_chunks = numba.get_num_threads() * per_thread
    setups = {}
    for label, refs in (("baseline", []), ("package", PACKAGE)):
        measures = [load_measure(r, policy, groups) for r in refs]
        rules = [r for m in measures for r in m.rules]
        setups[label] = (
            params(profile, policy, pop, rules, [m.name for m in measures]),
            len(rules),
            len(measures),
        )
    times = {k: [] for k in setups}
    cpus = {k: [] for k in setups}
    am = {}
    for i in range(repeats + 1):
        for label, (P, n_rules, n_measures) in setups.items():
            s = with_rule_state(state, n_rules)
            base_cents(s, P)
            b = bins(P, profile, policy, n_chunks, s, n_measures)
            c0, t0 = time.process_time(), time.perf_counter()
            run_kernel(s, P, b, n_chunks)
            if i:  # the first call compiles or loads the cache
                times[label].append(time.perf_counter() - t0)
                cpus[label].append(time.process_time() - c0)
            am[label] = int(b.arr[..., 0, :].sum())
    out = {
        "clients": pop.n_clients,
        "arrangement_slots": pop.n_arrangements,
        "threads": numba.get_num_threads(),
    }
    for label in setups:
        best = min(times[label])
        out[label] = {
            "active_arrangement_months": am[label],
            "kernel_s_best": round(best, 4),
            "kernel_s_median": round(statistics.median(times[label]), 4),
            "kernel_cpu_s_best": round(min(cpus[label]), 4),
            "arrangement_months_per_s": round(am[label] / best),
        }
    out["package_over_baseline_best"] = round(
        out["package"]["kernel_s_best"] / out["baseline"]["kernel_s_best"], 2
    )
    out["package_over_baseline_paired"] = round(
        statistics.median(
            pk / bl for bl, pk in zip(times["baseline"], times["package"], strict=True)
        ),
        2,
    )  # each repeat runs the baseline, then the package: a drift in the machine's speed
    # moves both of a pair
    out["package_over_baseline_median"] = round(
        out["package"]["kernel_s_median"] / out["baseline"]["kernel_s_median"], 2
    )
    return out


# ----------------------------------------------------------------------------- parent
def _run(cmd: list[str], env: dict | None = None, cwd: Path = ROOT) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) and stdout of one subprocess."""
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env, cwd=cwd, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        err = p.stderr.read()
        p.stderr.close()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {code}: {err.strip()[-2000:]}")
        out.seek(0)
        return wall, usage.ru_maxrss, out.read()


def _python(checkout: Path) -> str:
    return str(checkout / ".venv" / "bin" / "python") if checkout != ROOT else sys.executable


def _cli_run(
    checkout: Path, scenario: str, scale: float, out_dir: str, run_id: str, env: dict | None = None
):
    cmd = [
        _python(checkout),
        "-m",
        "engine.cli",  # as the console script runs it
        "run",
        scenario,
        "--set",
        f"population.scale={scale}",
        "--out",
        out_dir,
        "--run-id",
        run_id,
        "--json",
        "--catalog",
        "off",
    ]
    env = {**(env or os.environ), "PYTHONPATH": str(checkout)}
    wall, rss, stdout = _run(cmd, env, cwd=checkout)
    summary = json.loads(stdout)
    manifest = json.loads((Path(summary["run_dir"]) / "manifest.json").read_text())
    return wall, rss, manifest


def child_generate(scale: float, repeats: int) -> dict:
    """Generation and the state build alone, in this process: best of `repeats` (the first
    call also loads what generation compiles)."""
    from synthetic_population.generator import generate
    from synthetic_population.profile import load_profile

    try:
        from engine.model.state import build_state
    except ImportError:
        from engine.state import build_state
    profile, policy = load_profile("rotterdam", {"population.scale": scale})
    generate(profile, policy, 1, 2)
    gen, state = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        pop = generate(profile, policy, 1, MONTHS)
        c1, t1 = time.process_time(), time.perf_counter()
        build_state(pop, policy, profile.group_codes)
        gen.append((t1 - t0, c1 - c0))
        state.append((time.perf_counter() - t1, time.process_time() - c1))
        del pop
    g, st = min(gen), min(state)
    return {"generate_s": round(g[0], 3), "generate_cpu_s": round(g[1], 3),
            "state_s": round(st[0], 3), "state_cpu_s": round(st[1], 3)}  # fmt: skip


def _help_s(checkout: Path, repeats: int = 5) -> float:
    """`caseload --help` as a user types it (the checkout's console script), best wall s."""
    cmd = [str(checkout / ".venv" / "bin" / "caseload"), "--help"]
    return round(min(_run(cmd, cwd=checkout)[0] for _ in range(repeats)), 3)


def _e2e(wall: float, rss: int, manifest: dict) -> dict:
    t = manifest["timings"]
    work = sum(t.get(k, 0.0) for k in ("population_s", "prepare_s", "kernel_s", "write_s"))
    return {
        "wall_s": round(wall, 3),
        "peak_rss_mib": round(rss / 1024),
        "population_cache": manifest["population"].get("cache"),
        # start-up, imports, loading the kernel from the Numba cache, measures, aggregation
        "overhead_s": round(wall - work, 3),
        "timings": t,
    }


def measure_e2e(checkout: Path, scale: float, repeats: int) -> dict:
    """`caseload run` of the baseline and the package as a user runs them, each its own
    process: first with an empty population cache (the baseline generates; the package
    finds what the baseline kept), then --e2e-repeats more of each (best wall)."""
    out = {"help_s": _help_s(checkout)}
    with tempfile.TemporaryDirectory() as out_dir, tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "CASELOAD_POPULATION_CACHE": cache}
        for label, scenario in (
            ("baseline", "runs/scenarios/baseline.toml"),
            ("package", "runs/scenarios/boz-2024.toml"),
        ):
            first = _cli_run(checkout, scenario, scale, out_dir, f"first-{label}", env)
            out[f"{label}_first"] = _e2e(*first)
        for label, scenario in (
            ("baseline", "runs/scenarios/baseline.toml"),
            ("package", "runs/scenarios/boz-2024.toml"),
        ):
            runs = [
                _e2e(*_cli_run(checkout, scenario, scale, out_dir, f"{label}{i}", env))
                for i in range(repeats)
            ]
            best = min(runs, key=lambda r: r["wall_s"])
            best["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
            out[f"{label}_hit"] = best
    two = out["baseline_hit"]["wall_s"] + out["package_hit"]["wall_s"]
    out["two_processes_hit_s"] = round(two, 3)
    return out


def measure_generation(
    child: list, scale: float, env: dict, checkout: Path, processes: int
) -> dict:
    """`child_generate` in `processes` processes of their own: per figure the median of the
    processes' bests (one process's best of 3 moved by 0.1 s between runs of this script on
    the shared machine), the lowest, and the highest peak RSS."""
    runs = []
    for _ in range(processes):
        _, rss, stdout = _run([*child, "--child-generate", str(scale)], env, cwd=checkout)
        runs.append({**json.loads(stdout.strip().splitlines()[-1]), "peak_rss_mib": rss // 1024})
    out = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "peak_rss_mib"}
    out["generate_s_min"] = min(r["generate_s"] for r in runs)
    out["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    return {**out, "processes": processes}


def measure_size(
    checkout: Path,
    name: str,
    scale: float,
    repeats: int,
    e2e_repeats: int,
    compile_time: bool,
    gen_processes: int,
) -> dict:
    tag = "this checkout" if checkout == ROOT else str(checkout)
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    child = [_python(checkout), str(Path(__file__).resolve()), "--repeats", str(repeats)]
    print(f"[{name} | {tag}] scale {scale}: kernel ...", flush=True)
    _, _, stdout = _run([*child, "--child-kernel", str(scale)], env, cwd=checkout)
    row = {
        "size": name,
        "scale": scale,
        "checkout": tag,
        **json.loads(stdout.strip().splitlines()[-1]),
    }
    print(f"[{name} | {tag}] generation and state ...", flush=True)
    row["generation"] = measure_generation(child, scale, env, checkout, gen_processes)
    print(f"[{name} | {tag}] end to end ...", flush=True)
    row["e2e"] = measure_e2e(checkout, scale, e2e_repeats)
    if compile_time:
        print(f"[{name} | {tag}] cold cache ...", flush=True)
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out_dir:
            cold, _, manifest = _cli_run(
                checkout,
                "runs/scenarios/boz-2024.toml",
                scale,
                out_dir,
                "cold",
                {**os.environ, "NUMBA_CACHE_DIR": cache},
            )
        row["cold_package_run_s"] = round(cold, 1)
        row["compile_s_reported"] = manifest["timings"].get("compile_s")
    return row


def crn_spread(seeds: int, override: dict = CRN_OVERRIDE) -> dict:
    """Spread across simulation seeds of (measure - baseline) total gross cost, 48 months,
    same population: keyed draws, sequential draws, and independent seeds (keyed, the
    measure run on seed + 10,000)."""
    from engine.model.layout import A_GROSS
    from engine.model.rng import MODE_KEYED, MODE_SEQUENTIAL
    from engine.model.state import build_state
    from engine.simulation.simulate import simulate
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
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as fh:
        model = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
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


def _print(table: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for i, row in enumerate(table):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def print_table(result: dict) -> None:
    kernel = [["size", "checkout", "arr-months", "base s", "base M/s", "pkg s", "pkg/base",
               "med", "paired", "gen s", "gen cpu", "state s", "cold pkg s"]]  # fmt: skip
    e2e = [["size", "checkout", "help s", "run", "cache", "wall s", "pop s", "prep s",
            "kernel s", "write s", "other s", "peak MiB"]]  # fmt: skip
    for r in result["sizes"]:
        b, p, g = r["baseline"], r["package"], r["generation"]
        kernel.append(
            [
                r["size"],
                r["checkout"][-24:],
                f"{b['active_arrangement_months']:,}",
                f"{b['kernel_s_best']:.3f}",
                f"{b['arrangement_months_per_s'] / 1e6:.1f}",
                f"{p['kernel_s_best']:.3f}",
                f"{r['package_over_baseline_best']:.2f}",
                f"{r.get('package_over_baseline_median', float('nan')):.2f}",
                f"{r.get('package_over_baseline_paired', float('nan')):.2f}",
                f"{g['generate_s']:.2f}",
                f"{g['generate_cpu_s']:.2f}",
                f"{g['state_s']:.2f}",
                f"{r['cold_package_run_s']:.0f}" if "cold_package_run_s" in r else "-",
            ]
        )
        for key in ("baseline_first", "package_first", "baseline_hit", "package_hit"):
            x = r["e2e"][key]
            t = x["timings"]
            e2e.append(
                [r["size"], r["checkout"][-24:], f"{r['e2e']['help_s']:.2f}", key,
                 str(x["population_cache"]), f"{x['wall_s']:.2f}", f"{t['population_s']:.2f}",
                 f"{t['prepare_s']:.2f}", f"{t['kernel_s']:.2f}", f"{t.get('write_s', 0):.2f}",
                 f"{x['overhead_s']:.2f}", f"{x['peak_rss_mib']:,}"]
            )  # fmt: skip
        e2e.append([""] * 5 + [f"{r['e2e']['two_processes_hit_s']:.2f}"] + [""] * 6)
    _print(kernel)
    print()
    _print(e2e)
    crn = result.get("crn")
    if crn:
        print(f"\nCRN: measure {crn['measure']} (baseline {crn['baseline_values']}),")
        print(f"     {crn['seeds']} seeds, (measure - baseline) total gross EUR over 48 months:")
        for label in ("keyed", "sequential", "independent"):
            r = crn[label]
            print(f"  {label:12s} mean {r['diff_mean_eur']:>12,}  sd {r['diff_sd_eur']:>11,}")
        print(f"  sd sequential / keyed {crn['sd_ratio_sequential_over_keyed']};")
        print(f"  sd independent / keyed {crn['sd_ratio_independent_over_keyed']}")
    print("\nkernel s: wall, best of the repeats (baseline and package alternated);")
    print("pkg/base: the package's kernel over the baseline's, best over best; med: median")
    print("over median; paired: the median of each repeat's own ratio (the package run right")
    print("after the baseline: the least moved by the machine's load); gen s / state s: generate()")
    print("and build_state() in one process, best of 3, median over --gen-processes processes;")
    print("cold pkg s: the package run with an empty Numba cache. End to end: each `caseload")
    print("run` its own process (warm Numba cache); *_first with an empty population cache,")
    print("*_hit best of --e2e-repeats after;")
    print("the line under each checkout: baseline_hit + package_hit; other s: wall minus")
    print("population, prepare (state and parameters), kernel and write: start-up, imports,")
    print("loading the kernel, measures, aggregation")
    m = result["machine"]
    print(
        f"\n{m['cores']} cores, {m['cpu']}; load average {m['load_average']} at the start,"
        f" {result['load_average_end']} at the end"
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
    ap.add_argument(
        "--gen-processes", type=int, default=5, help="generation processes per size (median)"
    )
    ap.add_argument("--no-compile", action="store_true", help="skip the cold-cache runs")
    ap.add_argument(
        "--vs", metavar="DIR", help="another checkout (with its .venv) to measure beside this one"
    )
    ap.add_argument("--crn-seeds", type=int, default=30, help="seeds for the CRN figure (0: skip)")
    ap.add_argument(
        "--crn-set",
        action="append",
        metavar="NAME=VALUE",
        help=f"the CRN measure (default {CRN_OVERRIDE})",
    )
    ap.add_argument("--child-kernel", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--child-generate", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_kernel is not None:
        print(json.dumps(child_kernel(args.child_kernel, args.repeats)))
        return 0
    if args.child_generate is not None:
        print(json.dumps(child_generate(args.child_generate, min(args.repeats, 3))))
        return 0
    sys.path.insert(0, str(ROOT))
    result = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "months": MONTHS,
        "machine": machine(),
        "sizes": [],
    }
    checkouts = [Path(args.vs).resolve(), ROOT] if args.vs else [ROOT]
    for name in args.sizes.split(","):
        for checkout in checkouts:
            result["sizes"].append(
                measure_size(
                    checkout,
                    name,
                    SIZES[name],
                    args.repeats,
                    args.e2e_repeats,
                    not args.no_compile,
                    args.gen_processes,
                )
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
