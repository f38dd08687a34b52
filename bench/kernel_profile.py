"""Where the kernel's time goes, per compiled function, baseline beside the BOZ package:
Linux `perf` samples (software clock) of a process that runs the national kernel N times,
with the addresses of every loaded model function written to perf's map for that process.

    python bench/kernel_profile.py [--scale 14] [--runs 10] [--lines]

Functions compiled into the kernel's entry point are inlined there unless they are
`jit_call` (the rule hooks, exits, turning 18), so the table splits the entry point from the
hooks. `--lines` compiles a scratch copy of the kernel with line tables (Numba's debuginfo;
an empty cache of its own, a cold compile: about two minutes) and also counts samples per
source function on the inlined chain: which part of the month step holds them. The debug
build runs slower and not evenly so (the package more than the baseline): read its counts
as where, not as how much. Needs `perf` (linux-tools) and, for --lines, `nm` and `addr2line`
(binutils).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ENTRY = "run_chunk_keyed"


def _short(symbol: str) -> str:
    """`engine.model.hooks.rules_at` from Numba's mangled name."""
    m = re.match(r"_ZN(?:7cpython)?((?:\d+[A-Za-z_]\w*?)+)B\d", symbol)
    if not m:
        return symbol[:80]
    parts, rest = [], m.group(1)
    while rest:
        k = re.match(r"\d+", rest)
        if not k:
            break
        n, rest = int(k.group()), rest[len(k.group()) :]
        parts.append(rest[:n])
        rest = rest[n:]
    return ".".join(parts)


def _stash_objects() -> None:
    """Keep each cached library's object code as it is loaded (Numba hands it to LLVM and
    drops it): the symbols' offsets come from it."""
    from numba.core import codegen

    original = codegen.CPUCodeLibrary._set_compiled_object

    def keep(self, value):
        self._kept_object = value
        return original(self, value)

    codegen.CPUCodeLibrary._set_compiled_object = keep


def _symbols(obj: bytes) -> list[tuple[int, int, str, str]]:
    with tempfile.NamedTemporaryFile(suffix=".o") as f:
        f.write(obj)
        f.flush()
        out = subprocess.run(
            ["nm", "-S", "--defined-only", f.name], capture_output=True, text=True
        ).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTW":
            rows.append((int(parts[0], 16), int(parts[1], 16), parts[2], parts[3]))
    return rows


def _write_perf_map(scratch: Path) -> None:
    """/tmp/perf-<pid>.map for every loaded model library; the entry point's object and its
    load address kept in `scratch` for --lines."""
    import gc

    from numba.core.dispatcher import Dispatcher

    lines, seen = [], set()
    for d in [o for o in gc.get_objects() if isinstance(o, Dispatcher)]:
        for cres in d.overloads.values():
            lib = cres.library
            obj = getattr(lib, "_kept_object", None)
            if id(lib) in seen or obj is None:
                continue
            seen.add(id(lib))
            syms = _symbols(obj)
            base = None
            for off, _, kind, name in syms:
                if kind == "T":
                    addr = lib.get_pointer_to_function(name)
                    if addr:
                        base = addr - off
                        break
            if base is None:
                continue
            if ENTRY in lib.name and "cpython" not in lib.name:
                (scratch / "entry.o").write_bytes(obj)
                size = max(off + n for off, n, _, _ in syms)
                (scratch / "entry.json").write_text(json.dumps({"base": base, "size": size}))
            lines += [f"{base + off:x} {size:x} {_short(name)}" for off, size, _, name in syms]
    Path(f"/tmp/perf-{os.getpid()}.map").write_text("\n".join(lines) + "\n")


def child(label: str, scale: float, runs: int, scratch: Path) -> None:
    """Runs inside perf: set up, run once (load or compile), map, then `runs` timed runs."""
    sys.path[:0] = [str(HERE), str(ROOT)]
    _stash_objects()
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
    ms = [load_measure(r, policy, groups) for r in (PACKAGE if label == "package" else [])]
    rules = [r for m in ms for r in m.rules]
    P = params(profile, policy, pop, rules, [m.name for m in ms])
    n_chunks = numba.get_num_threads() * per_thread

    def once() -> float:
        s = with_rule_state(state, len(rules))
        base_cents(s, P)
        b = bins(P, profile, policy, n_chunks, s, len(ms))
        t0 = time.perf_counter()
        run_kernel(s, P, b, n_chunks)
        return time.perf_counter() - t0

    once()
    _write_perf_map(scratch)
    if runs:
        best = min(once() for _ in range(runs))
        print(f"{label}: kernel best {best:.3f} s of {runs}", file=sys.stderr)


def _record(label: str, args, scratch: Path, env: dict) -> Path:
    data = scratch / f"{label}.data"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", label]
    cmd += ["--scale", str(args.scale), "--runs", str(args.runs), "--scratch", str(scratch)]
    perf = ["perf", "record", "-q", "-e", "cpu-clock", "-F", "1000", "-o", str(data)]
    subprocess.run([*perf, *cmd], check=True, env=env, cwd=ROOT)
    return data


def _per_function(data: Path) -> collections.Counter:
    out = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "--sort", "sym", "-F", "sample,sym"],
        capture_output=True,
        text=True,
    ).stdout
    counts: collections.Counter = collections.Counter()
    for line in out.splitlines():
        m = re.match(r"\s*(\d+)\s+\[\.\]\s+(engine\.model\.\S+)", line)
        if m:
            counts[m.group(2).removeprefix("engine.model.")] += int(m.group(1))
    return counts


def _inline_chain(data: Path, scratch: Path) -> collections.Counter:
    """Samples in the entry point's object per source function on the inlined chain
    (inclusive: a sample counts once for every distinct function it is inside)."""
    entry = json.loads((scratch / "entry.json").read_text())
    ips = subprocess.run(
        ["perf", "script", "-i", str(data), "-F", "ip"], capture_output=True, text=True
    ).stdout.split()
    offs: collections.Counter = collections.Counter()
    for ip in ips:
        off = int(ip, 16) - entry["base"]
        if 0 <= off < entry["size"]:
            offs[off] += 1
    keys = sorted(offs)
    res = subprocess.run(
        ["addr2line", "-j", ".ltext", "-e", str(scratch / "entry.o"), "-i", "-f", "-a"]
        + [hex(k) for k in keys],
        capture_output=True,
        text=True,
    ).stdout
    counts: collections.Counter = collections.Counter()
    (scratch / "entry.json").unlink()  # the next setup's own
    for k, block in zip(keys, re.split(r"^0x[0-9a-f]+$", res, flags=re.M)[1:], strict=False):
        names = block.strip().splitlines()[0::2]
        for name in {_short(n) for n in names}:
            counts[name.removeprefix("engine.model.")] += offs[k]
    return counts


def _table(title: str, base: collections.Counter, pkg: collections.Counter, top: int) -> None:
    extra = sum(pkg.values()) - sum(base.values())
    print(f"\n{title}")
    print(f"{'function':44s} {'baseline':>9s} {'package':>9s} {'extra':>7s} {'of extra':>8s}")
    names = sorted(set(base) | set(pkg), key=lambda n: -(pkg[n] - base[n]))
    for n in names[:top]:
        d = pkg[n] - base[n]
        share = f"{100 * d / extra:.0f}%" if extra > 0 else "-"
        print(f"{n[:44]:44s} {base[n]:9d} {pkg[n]:9d} {d:7d} {share:>8s}")
    print(f"{'all model functions':44s} {sum(base.values()):9d} {sum(pkg.values()):9d} {extra:7d}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=14.0)
    ap.add_argument("--runs", type=int, default=10, help="kernel runs sampled per setup")
    ap.add_argument("--lines", action="store_true", help="also per inlined source function")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--scratch", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.scale, args.runs, Path(args.scratch))
        return
    if shutil.which("perf") is None:
        raise SystemExit("kernel_profile: needs Linux `perf` (linux-tools) on PATH")
    scratch = Path(tempfile.mkdtemp(prefix="caseload-profile-"))
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        data = {label: _record(label, args, scratch, env) for label in ("baseline", "package")}
        _table(
            "CPU samples (1 kHz, both threads) per compiled function",
            *(_per_function(data[k]) for k in ("baseline", "package")),
            args.top,
        )
        if args.lines:
            env |= {"NUMBA_DEBUGINFO": "1", "NUMBA_CACHE_DIR": str(ROOT / ".numba-cache-debug")}
            # compiled (or found) first, outside perf: a function compiled in the process
            # has no object code to read symbols from, one loaded from the cache has
            warm = [sys.executable, str(Path(__file__).resolve()), "--child", "package"]
            warm += ["--scale", "0.2", "--runs", "0", "--scratch", str(scratch)]
            subprocess.run(warm, check=True, env=env, cwd=ROOT)
            chains = {}
            for label in ("baseline", "package"):
                d = _record(label, args, scratch, env)
                chains[label] = _inline_chain(d, scratch)
            _table(
                "debug build: samples per source function on the inlined chain (inclusive)",
                chains["baseline"],
                chains["package"],
                args.top,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
