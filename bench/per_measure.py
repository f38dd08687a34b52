"""The package's kernel measure by measure: the baseline, each measure of the BOZ package
alone, the package, and the package with its rules loaded but never firing, alternated in
ROUNDS rounds (the kernel alone, as `bench/scaling.py` times it, one compiled kernel for
all). Where a measure run's extra time goes, per measure. Beside best and median, the
median of each round's own ratio to the baseline of that round (wall and CPU): on the shared
machine the best-over-best ratio of one measure moved by 0.1-0.15 between runs, the paired
one by a few hundredths.

    python bench/per_measure.py [SCALE [ROUNDS]]     # default 14 (national scale), 11
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(scale: float, rounds: int = 11) -> None:
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
    main(*(float(a) for a in sys.argv[1:2]), *(int(a) for a in sys.argv[2:3]))
