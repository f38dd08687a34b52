"""The population cache: a generated population kept on disk, so a run whose inputs match
one generated before loads it (Arrow IPC, memory mapped) instead of drawing it again.

Common random numbers mean a baseline and every measure run of a scenario use the identical
population; with the cache only the first run draws it. `caseload population generate` (without
`--out`) fills the cache explicitly; `caseload run` fills it on a miss, and its manifest says
which (`population.cache`: `hit`, `miss` or `off`).

The key (`population_key`) is a SHA-256 of everything the generator reads: the profile's
content and its policy's (every value after overrides and the fitted file; not their paths),
the population seed, start month and horizon, the generator's code (`generator_stamp`: its
sources and every first-party module they import, as the compile cache stamps compiled code,
engine.model.jit) and NumPy's version (its random streams). A changed profile, policy,
generator or NumPy is a miss, never a stale hit.

Where it lives: `$CASELOAD_POPULATION_CACHE` when set (`off` turns the cache off), else
`.population-cache/` in the project when the project folder is writable, else the user's
cache folder; folders are made on the first save, never on import. An entry is a folder
`<key>/` holding `clients.arrow`, `arrangements.arrow` and `meta.json`, written under a
temporary name and renamed when complete. At most `KEEP` entries are kept (the least
recently used go first).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import polars as pl

from synthetic_population.generator import Population

ENV = "CASELOAD_POPULATION_CACHE"
FORMAT = 1  # bump when the entry layout changes
KEEP = 8  # entries kept (national scale: about 150 MB each)
ROOT = Path(__file__).resolve().parents[1]  # the folder holding synthetic_population/


def cache_dir() -> Path | None:
    """The cache folder (None: the cache is off)."""
    env = os.environ.get(ENV, "").strip()
    if env:
        return None if env.lower() == "off" else Path(env)
    if os.access(ROOT, os.W_OK):
        return ROOT / ".population-cache"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "caseload" / "population"


@functools.cache
def generator_stamp() -> str:
    """Hash of the generator's code: its module and every first-party module it imports."""
    from engine.model.jit import source_stamp

    return source_stamp(Path(__file__).resolve().parent / "generator.py")


def canonical(obj):
    """Plain JSON values of a profile or policy (dataclasses, dicts, lists, numbers, text),
    in one order whatever the process: sets sorted, paths and unknown types refused."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: canonical(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        items = sorted(obj.items(), key=lambda kv: str(kv[0]))
        return [[canonical(k), canonical(v)] for k, v in items]
    if isinstance(obj, list | tuple):
        return [canonical(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return sorted((canonical(v) for v in obj), key=json.dumps)
    if isinstance(obj, np.ndarray):
        return [obj.dtype.str, list(obj.shape), canonical(obj.tolist())]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int | float):  # 14 and 14.0 (`--set population.scale=14`) alike
        return repr(float(obj)) if abs(obj) < 2**53 else str(obj)  # every bit of it
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"population cache key: cannot hash a {type(obj).__name__}")


def _content(obj, leave_out: tuple[str, ...]) -> dict:
    fields = canonical(obj)
    return {k: v for k, v in fields.items() if k not in leave_out}


def population_key(profile, policy, seed: int, months: int, start: int) -> str:
    """The cache key of `generate(profile, policy, seed, months, start)`."""
    text = json.dumps(
        {
            "format": FORMAT,
            "generator": generator_stamp(),
            "numpy": np.__version__,
            # content, not location: the same profile copied elsewhere is the same population
            "profile": _content(profile, ("path", "fitted_path", "sources", "description")),
            "policy": _content(policy, ("path", "sources", "description")),
            "seed": int(seed),
            "months": int(months),
            "start": int(start),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load(key: str, folder: Path | None = None) -> Population | None:
    """The cached population of `key`, its frames memory mapped; None when not cached (or the
    entry is unreadable: it is then removed)."""
    folder = cache_dir() if folder is None else folder
    if folder is None:
        return None
    entry = folder / key
    try:
        meta = json.loads((entry / "meta.json").read_text())
        if meta.get("key") != key or meta.get("format") != FORMAT:
            raise ValueError("key or format mismatch")
        clients = pl.read_ipc(entry / "clients.arrow")
        arrangements = pl.read_ipc(entry / "arrangements.arrow")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, pl.exceptions.PolarsError):
        shutil.rmtree(entry, ignore_errors=True)  # a broken entry: generate afresh
        return None
    with contextlib.suppress(OSError):
        os.utime(entry)  # least recently used goes first
    pop = Population(
        clients=clients,
        arrangements=arrangements,
        pool_rate=np.asarray(meta["pool_rate"], dtype=np.float64),
        group_codes=meta["group_codes"],
        start=int(meta["start"]),
        months=int(meta["months"]),
        meta={**meta["meta"], "population_cache": "hit"},
    )
    pop.remember_fingerprint(meta["fingerprint"])
    return pop


def save(pop: Population, key: str, folder: Path | None = None) -> Path | None:
    """Keep `pop` under `key` (atomically: a reader sees a whole entry or none). Returns the
    entry's folder, or None when the cache is off or not writable."""
    folder = cache_dir() if folder is None else folder
    if folder is None:
        return None
    entry = folder / key
    if (entry / "meta.json").exists():
        return entry
    tmp = folder / f".{key}.{os.getpid()}.partial"
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        pop.clients.write_ipc(tmp / "clients.arrow", compression="uncompressed")
        pop.arrangements.write_ipc(tmp / "arrangements.arrow", compression="uncompressed")
        meta = {
            "key": key,
            "format": FORMAT,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "fingerprint": pop.fingerprint(),
            "pool_rate": pop.pool_rate.tolist(),
            "group_codes": pop.group_codes,
            "start": pop.start,
            "months": pop.months,
            "meta": {k: v for k, v in pop.meta.items() if k != "population_cache"},
        }
        (tmp / "meta.json").write_text(json.dumps(meta))
        try:
            tmp.rename(entry)
        except OSError:  # another process saved it first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    prune(folder)
    return entry


def prune(folder: Path, keep: int = KEEP) -> None:
    """Remove all but the `keep` most recently used entries (and partial ones over an hour old)."""
    entries = []
    now = time.time()
    for p in folder.iterdir():
        try:
            mtime = p.stat().st_mtime
        except OSError:
            continue
        if p.name.endswith(".partial"):
            if now - mtime > 3600:
                shutil.rmtree(p, ignore_errors=True)
        elif p.is_dir():
            entries.append((mtime, p))
    for _, p in sorted(entries, reverse=True)[keep:]:
        shutil.rmtree(p, ignore_errors=True)


def generate_cached(
    profile, policy, seed: int, months: int, start: int, *, fill: bool = True
) -> Population:
    """`generate(...)`, from the cache when it holds this population; on a miss the
    population is drawn and (with `fill`) kept. `meta["population_cache"]` says which:
    `hit`, `miss` or `off`."""
    from synthetic_population.generator import generate

    folder = cache_dir()
    if folder is None:
        pop = generate(profile, policy, seed, months, start)
        pop.meta["population_cache"] = "off"
        return pop
    key = population_key(profile, policy, seed, months, start)
    pop = load(key, folder)
    if pop is not None:
        return pop
    pop = generate(profile, policy, seed, months, start)
    if fill:
        save(pop, key, folder)
    pop.meta["population_cache"] = "miss"
    return pop
