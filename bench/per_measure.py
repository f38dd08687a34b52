"""The package's kernel measure by measure: the baseline, each measure of the BOZ package
alone, the package, and the package with its rules loaded but never firing, alternated, best
of 5 (the kernel alone, as `bench/scaling.py` times it). Where a measure run's extra time
goes, per measure.

    python bench/per_measure.py [SCALE]      # default 14: national scale
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPEATS = 5


def main(scale: float) -> None:
    sys.path[:0] = [str(HERE), str(HERE.parent)]
    import numba
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
    setups = {"baseline": [], **{m: [m] for m in PACKAGE}, "package": PACKAGE}
    prep = {}
    for label, refs in setups.items():
        ms = [load_measure(r, policy, groups) for r in refs]
        rules = [r for m in ms for r in m.rules]
        prep[label] = (params(profile, policy, pop, rules, [m.name for m in ms]), len(rules), ms)
    # the package with its rules loaded but never firing (every gate cleared): what having
    # rules costs apart from what they do
    P, n_rules, ms = prep["package"]
    gates, months = P.gates.copy(), P.months.copy()
    for field in ("intake", "reind", "pre", "dm"):
        gates[field] = 0
    gates["next_dm"] = 1 << 40
    months["dm_on"] = 0
    prep["package, rules never fire"] = (P._replace(gates=gates, months=months), n_rules, ms)
    times = {k: [] for k in prep}
    for i in range(REPEATS + 1):  # the first round compiles or loads the cache
        for label, (P, n_rules, ms) in prep.items():
            s = with_rule_state(state, n_rules)
            base_cents(s, P)
            b = bins(P, profile, policy, n_chunks, s, len(ms))
            t0 = time.perf_counter()
            run_kernel(s, P, b, n_chunks)
            if i:
                times[label].append(time.perf_counter() - t0)
    base = min(times["baseline"])
    print(f"scale {scale}, {numba.get_num_threads()} threads; kernel s, best and median")
    for k, v in times.items():
        print(f"{k:32s} {min(v):.4f} {statistics.median(v):.4f}  x{min(v) / base:.2f}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 14.0)
