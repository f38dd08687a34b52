"""The kernel of this checkout beside another's, pair by pair: one long-lived worker per
checkout (its own Python and virtual environment, its own Numba cache) holds the population,
state and parameters; the driver asks them in turn to run the kernel of the baseline or the
BOZ package, so both meet the same machine load, round after round. The shared machine is
noisy: read the medians and the paired ratios, of wall and of CPU seconds (a busy neighbour
stretches wall time more than CPU time).

    python bench/kernel_vs.py --vs /work/old-main [--scale 14] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# runs inside a worker, with the checkout's own Python: setup, then one kernel run per line
WORKER = r"""
import sys, time
root, scale = sys.argv[1], float(sys.argv[2])
sys.path[:0] = [root + "/bench", root]
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
setups = {}
for label, refs in (("baseline", []), ("package", PACKAGE)):
    ms = [load_measure(r, policy, groups) for r in refs]
    rules = [r for m in ms for r in m.rules]
    setups[label] = (params(profile, policy, pop, rules, [m.name for m in ms]), len(rules), len(ms))


def once(label):
    P, n_rules, n_measures = setups[label]
    s = with_rule_state(state, n_rules)
    base_cents(s, P)
    b = bins(P, profile, policy, n_chunks, s, n_measures)
    c0, t0 = time.process_time(), time.perf_counter()
    run_kernel(s, P, b, n_chunks)
    return time.perf_counter() - t0, time.process_time() - c0


for label in setups:
    once(label)  # compile, or load from the cache
print("ready", flush=True)
for line in sys.stdin:
    print("%.6f %.6f" % once(line.strip()), flush=True)
"""


def _worker(root: Path, scale: float) -> subprocess.Popen:
    py = root / ".venv" / "bin" / "python"
    proc = subprocess.Popen(
        [str(py if py.exists() else sys.executable), "-c", WORKER, str(root), str(scale)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": ""},
    )
    line = proc.stdout.readline().strip()
    if line != "ready":
        raise SystemExit(f"worker for {root} did not start (said {line!r})")
    return proc


def _ask(proc: subprocess.Popen, label: str) -> tuple[float, float]:
    """Wall and CPU seconds (both threads) of one kernel run."""
    proc.stdin.write(label + "\n")
    proc.stdin.flush()
    wall, cpu = proc.stdout.readline().split()
    return float(wall), float(cpu)


def _report(times: dict, col: int, what: str, a) -> None:
    """Medians, bests and paired ratios of one column of the timings (wall or CPU)."""
    t = {k: [x[col] for x in v] for k, v in times.items()}
    print(f"scale {a.scale}, {a.rounds} rounds; kernel {what} seconds, median (best)")
    print(f"{'checkout':10s} {'baseline':>16s} {'package':>16s} {'package/baseline':>17s}")
    for k in ("before", "after"):
        b, p = t[k, "baseline"], t[k, "package"]
        ratio = statistics.median(x / y for x, y in zip(p, b, strict=True))
        print(
            f"{k:10s} {statistics.median(b):8.3f} ({min(b):.3f}) "
            f"{statistics.median(p):8.3f} ({min(p):.3f}) {ratio:17.2f}"
        )
    for setup in ("baseline", "package"):
        pairs = zip(t["after", setup], t["before", setup], strict=True)
        r = statistics.median(x / y for x, y in pairs)
        print(f"after / before, {setup}: {r:.2f} (median of paired ratios)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vs", type=Path, required=True, help="the other checkout (with .venv)")
    ap.add_argument("--scale", type=float, default=14.0, help="population.scale (14: national)")
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    print(f"load average at the start: {os.getloadavg()[0]:.2f}")
    workers = {"before": _worker(a.vs.resolve(), a.scale), "after": _worker(ROOT, a.scale)}
    times = {(k, s): [] for k in workers for s in ("baseline", "package")}
    for i in range(a.rounds):
        order = list(workers) if i % 2 == 0 else list(reversed(workers))
        for setup in ("baseline", "package"):
            for k in order:
                times[k, setup].append(_ask(workers[k], setup))
    for proc in workers.values():
        proc.stdin.close()
        proc.wait()
    for col, what in ((0, "wall"), (1, "CPU (both threads)")):
        _report(times, col, what, a)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
