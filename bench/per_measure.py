"""The package's kernel measure by measure: the baseline, each measure of the BOZ package
alone, the package, and the package with its rules loaded but never firing, alternated in
ROUNDS rounds (the kernel alone, as `bench/scaling.py` times it, one compiled kernel for
all). Where a measure run's extra time goes, per measure. Beside best and median, the
median of each round's own ratio to the baseline of that round (wall and CPU): on the shared
machine the best-over-best ratio of one measure moved by 0.1-0.15 between runs, the paired
one by a few hundredths.

    python bench/per_measure.py [SCALE [ROUNDS]]     # default 14 (national scale), 11
    python bench/per_measure.py 14 7 --scenario runs/scenarios/boz-2024-full.toml
    python bench/per_measure.py 14 7 --threads 1

`--threads 1`: the kernel on one thread. Its package ratio held within about 0.015 from run to
run on the shared machine (the two-thread paired ratio of the package moved between 1.29 and
1.34 in one hour); the figure the issue's target names is the two-thread one.

`--scenario`: the measures of that scenario file instead of the BOZ package (the whole 2024
package: each of its measures alone, then all of them).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(
    scale: float, rounds: int = 11, scenario: str | None = None, threads: int | None = None
) -> None:
    sys.path[:0] = [str(HERE), str(HERE.parent)]
    import numba

    if threads is not None:
        numba.set_num_threads(threads)
    from scaling import PACKAGE, _kernel_api

    from rules.schema import load_measure
    from synthetic_population.generator import generate
    from synthetic_population.profile import load_profile

    run_kernel, base_cents, build_state, with_rule_state, per_thread, params, bins = _kernel_api()
    profile, policy = load_profile("rotterdam", {"population.scale": scale})
    pop = generate(profile, policy, 1, 48)
    state = build_state(pop, policy, profile.group_codes)
    groups = {g.code: g.domain for g in profile.groups}
    n_chunks = numba.get_num_threads() * per_thread
    if scenario is None:
        package = PACKAGE
    else:
        with open(scenario, "rb") as fh:
            package = tomllib.load(fh)["scenario"]["measures"]
    setups = {"baseline": [], **{m: [m] for m in package}, "package": package}
    prep = {}
    for label, refs in setups.items():
        ms = [load_measure(r, policy, groups) for r in refs]
        rules = [r for m in ms for r in m.rules]
        prep[label] = (params(profile, policy, pop, rules, [m.name for m in ms]), len(rules), ms)
    # the package with its rules loaded but never firing (every gate cleared, no rule at the
    # goal, admission or segment-event hooks): what having rules costs apart from what they do
    P, n_rules, ms = prep["package"]
    gates, months = P.gates.copy(), P.months.copy()
    run, products = P.run.copy(), P.products.copy()
    for field in ("intake", "reind", "pre", "dm", "seg"):
        gates[field] = 0
    gates["next_dm"] = gates["next_seg"] = 1 << 40
    months["dm_on"] = 0
    for field in ("goal_rules", "admit_rules", "segment_rules"):
        run[field] = 0
    products["goal_rules"] = 0
    never = P._replace(gates=gates, months=months, run=run, products=products)
    prep["package, rules never fire"] = (never, n_rules, ms)
    times = {k: [] for k in prep}  # (wall, CPU of all threads) per round
    for i in range(rounds + 1):  # the first round compiles or loads the cache
        for label, (P, n_rules, ms) in prep.items():
            s = with_rule_state(state, n_rules)
            base_cents(s, P)
            b = bins(P, profile, policy, n_chunks, s, len(ms))
            c0, t0 = time.process_time(), time.perf_counter()
            run_kernel(s, P, b, n_chunks)
            if i:
                times[label].append((time.perf_counter() - t0, time.process_time() - c0))
    base = times["baseline"]
    print(f"scale {scale}, {numba.get_num_threads()} threads, {rounds} rounds; kernel wall s")
    print(f"{'':32s}   best median  best/best  paired wall  paired cpu")
    for k, v in times.items():
        wall = [w for w, _ in v]
        paired = [
            statistics.median(x[j] / y[j] for x, y in zip(v, base, strict=True)) for j in (0, 1)
        ]
        print(f"{k:32s} {min(wall):.4f} {statistics.median(wall):.4f}"
              f"  x{min(wall) / min(w for w, _ in base):.2f}"
              f"        {paired[0]:.3f}       {paired[1]:.3f}")  # fmt: skip


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scale", nargs="?", type=float, default=14.0, help="population.scale")
    ap.add_argument("rounds", nargs="?", type=int, default=11, help="rounds, alternated")
    ap.add_argument("--scenario", help="a scenario file whose measures to time (default: BOZ)")
    ap.add_argument("--threads", type=int, help="kernel threads (default: Numba's, all cores)")
    args = ap.parse_args()
    main(args.scale, args.rounds, args.scenario, args.threads)
