"""The population cache: a generated population kept on disk, so a run whose inputs match
one generated before loads it (Arrow IPC, memory mapped) instead of drawing it again.

Common random numbers mean a baseline and every measure run of a scenario use the identical
population; with the cache only the first run draws it. `caseload population generate` (without
`--out`) fills the cache explicitly; `caseload run` fills it on a miss, and its manifest says
which (`population.cache`: `hit`, `miss` or `off`). A miss generates into the entry a frame at
a time and then uses the entry as a hit does (`_generate_into`), and a state is built from an
entry's files a column at a time (`columnwise`, entry_files): a first run's peak memory.

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
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import polars as pl

from synthetic_population.entry_files import FRAMES as _FRAMES
from synthetic_population.entry_files import EntryFrames, columnwise, open_ipcs, read_frame
from synthetic_population.generator import Population
from synthetic_population.memory import release_freed_memory

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
            # every value the generator can read, not where it came from: not the files' paths,
            # nor the register (the same values, with their sources: `--set` changes those)
            "profile": _content(
                profile, ("path", "fitted_path", "sources", "description", "register")
            ),
            "policy": _content(policy, ("path", "sources", "description", "register")),
            "seed": int(seed),
            "months": int(months),
            "start": int(start),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load(key: str, folder: Path | None = None) -> Population:
    """The cached population of `key`; None when not cached (or the entry is unreadable: it
    is then removed). Its frames are memory mapped when first used (`Population.mapped_later`):
    the files are opened here (a later removal of the entry does not take them away), and a
    run that finds the population's state beside it never maps them."""
    folder = cache_dir() if folder is None else folder
    if folder is None:
        return None
    entry = folder / key
    try:
        meta = json.loads((entry / "meta.json").read_text())
        if meta.get("key") != key or meta.get("format") != FORMAT:
            raise ValueError("key or format mismatch")
        files = open_ipcs(entry / "clients.arrow", entry / "arrangements.arrow")
    except FileNotFoundError:
        if entry.exists():  # an entry folder without its files: not one we wrote whole
            shutil.rmtree(entry, ignore_errors=True)
        return None
    except (OSError, ValueError, KeyError):
        shutil.rmtree(entry, ignore_errors=True)  # a broken entry: generate afresh
        return None
    with contextlib.suppress(OSError):
        os.utime(entry)  # least recently used goes first
    fields = {
        "pool_rate": np.asarray(meta["pool_rate"], dtype=np.float64),
        "group_codes": meta["group_codes"],
        "start": int(meta["start"]),
        "months": int(meta["months"]),
        "meta": {**meta["meta"], "population_cache": "hit"},
    }
    sizes = meta.get("sizes")  # entries written before the sizes were kept: mapped at once
    if sizes is None:
        import pyarrow as pa

        try:
            clients, arrangements = (read_frame(f) for f in files)
        except (OSError, ValueError, pa.ArrowException, pl.exceptions.PolarsError):
            shutil.rmtree(entry, ignore_errors=True)
            return None
        finally:
            for f in files:
                f.close()
        pop = Population(clients=clients, arrangements=arrangements, **fields)
    else:
        pop = Population.mapped_later(EntryFrames(files), *sizes, **fields)
        for f in files:  # closed with the population if it never maps them
            weakref.finalize(pop, f.close)
    pop.remember_fingerprint(meta["fingerprint"])
    pop.remember_cache_key(key)
    return pop


def _write_entry(pop: Population, key: str, tmp: Path) -> None:
    """The frames (Arrow IPC, uncompressed: memory mapped as they are) and meta.json."""
    for name, frame in zip(_FRAMES, (pop.clients, pop.arrangements), strict=True):
        _write_frame(frame, tmp / f"{name}.arrow")
    fields = {k: getattr(pop, k) for k in ("pool_rate", "group_codes", "start", "months", "meta")}
    _write_meta(tmp, key, pop.fingerprint(), [pop.n_clients, pop.n_arrangements], fields)


def _write_frame(frame: pl.DataFrame, path: Path) -> None:
    frame.write_ipc(path, compression="uncompressed", record_batch_size=max(frame.height, 1))


def _write_meta(tmp: Path, key: str, fingerprint: str, sizes: list[int], fields: dict) -> None:
    meta = {
        "key": key,
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "fingerprint": fingerprint,
        "sizes": sizes,
        "pool_rate": fields["pool_rate"].tolist(),
        "group_codes": fields["group_codes"],
        "start": fields["start"],
        "months": fields["months"],
        "meta": {k: v for k, v in fields["meta"].items() if k != "population_cache"},
    }
    (tmp / "meta.json").write_text(json.dumps(meta))


class _Keeper:
    """A population on its way into the cache: written to a temporary folder (in a thread of
    its own when `background`, while the run goes on), anything kept beside it (the state)
    added there, and the folder renamed into place by `settle`: a reader sees a whole entry
    or none."""

    def __init__(self, pop: Population, key: str, folder: Path, background: bool):
        self.entry = folder / key
        self.tmp = folder / f".{key}.{os.getpid()}.partial"
        self.failed = False
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.thread = None
        if background:
            self.thread = threading.Thread(target=self._write, args=(pop, key), daemon=True)
            self.thread.start()
        else:
            self._write(pop, key)

    def _write(self, pop: Population, key: str) -> None:
        try:
            _write_entry(pop, key, self.tmp)
        except (OSError, pl.exceptions.PolarsError):
            self.failed = True

    def settle(self) -> Path | None:
        if self.thread is not None:
            self.thread.join()
        return _into_place(self.tmp, self.entry, written=not self.failed)


def _into_place(tmp: Path, entry: Path, written: bool = True) -> Path | None:
    """A temporary entry folder renamed into place when `written` (the rename fails when
    another process saved the entry first, or the folder went away), what is left of it
    removed, the cache pruned: the entry, or None when there is none."""
    if written:
        with contextlib.suppress(OSError):
            tmp.rename(entry)
    shutil.rmtree(tmp, ignore_errors=True)
    if not (entry / "meta.json").exists():
        return None
    prune(entry.parent)
    return entry


_pending: dict[str, _Keeper] = {}  # key -> a population being written (`settle`)


def save(
    pop: Population, key: str, folder: Path | None = None, *, background: bool = False
) -> Path | None:
    """Keep `pop` under `key`. Returns the entry's folder (with `background`, the folder it
    will have once `settle(pop)` has run), or None when the cache is off or not writable."""
    folder = cache_dir() if folder is None else folder
    if folder is None:
        return None
    entry = folder / key
    if (entry / "meta.json").exists() or key in _pending:
        return entry
    try:
        keeper = _Keeper(pop, key, folder, background)
    except OSError:
        return None
    pop.remember_cache_key(key)
    if background:
        _pending[key] = keeper
        return entry
    return _settled(pop, keeper)


def _settled(pop: Population, keeper: _Keeper) -> Path | None:
    entry = keeper.settle()
    if entry is None:
        pop.forget_cache_key()
    return entry


def settle(pop: Population) -> None:
    """Wait until a population being written in the background is in the cache (a no-op for
    any other population)."""
    keeper = _pending.pop(pop.cache_key, None) if pop.cache_key else None
    if keeper is not None:
        _settled(pop, keeper)


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
    profile,
    policy,
    seed: int,
    months: int,
    start: int,
    *,
    fill: bool = True,
    background: bool = False,
) -> Population:
    """`generate(...)`, from the cache when it holds this population; on a miss the
    population is drawn and (with `fill`) kept, written while the caller goes on with
    `background` (the caller then calls `settle(pop)` before it is done).
    `meta["population_cache"]` says which: `hit`, `miss` or `off`."""
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
    if fill and not background:
        pop = _generate_into(profile, policy, seed, months, start, key, folder)
        if pop is not None:
            pop.meta["population_cache"] = "miss"
            return pop
    pop = generate(profile, policy, seed, months, start)
    release_freed_memory()  # the draws' temporaries, before the state is built beside it
    if fill:
        save(pop, key, folder, background=background)
    pop.meta["population_cache"] = "miss"
    return pop


def _generate_into(profile, policy, seed, months, start, key, folder) -> Population | None:
    """A miss: generate the population straight into the cache, a frame at a time (each
    written, then let go of, before the next is made), and return the entry as a hit returns
    it (its frames mapped when first used; `state_of` builds its state a column at a time).
    A first run never holds both frames, nor the frames beside the state it builds from
    them: its peak memory. None when the entry cannot be written (the caller generates in
    memory)."""
    from synthetic_population.generator import fingerprint_of, frame_digest, generate_parts

    parts = generate_parts(profile, policy, seed, months, start, release_memory=True)
    fields = next(parts)  # the inputs checked (before any folder is made)
    tmp = folder / f".{key}.{os.getpid()}.{threading.get_ident()}.partial"
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        digests, sizes = [], []
        for name in _FRAMES:
            frame = next(parts)
            digests.append(frame_digest(frame))
            sizes.append(frame.height)
            _write_frame(frame, tmp / f"{name}.arrow")
            del frame  # before the next frame is made
        parts.close()
        release_freed_memory()  # the last frame's temporaries, before the state is built
        fingerprint = fingerprint_of(
            digests, fields["pool_rate"], fields["group_codes"], fields["start"], fields["months"]
        )
        _write_meta(tmp, key, fingerprint, sizes, fields)
    except (OSError, pl.exceptions.PolarsError):
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if _into_place(tmp, folder / key) is None:
        return None
    return load(key, folder)


# ------------------------------------------------------------------------- the state beside it
def _state_name(policy, group_codes: list[str]) -> str:
    """The folder of a cached population's state arrays: a hash of the state builder's code
    (engine.model.state and what it imports: the record layouts) and of what it reads from the
    policy and profile besides the population (product and step codes, group codes)."""
    from engine.model.jit import source_stamp

    reads = [
        list(group_codes),
        [[p.code, p.domain, p.ho_minutes, [st.code for st in p.steps]] for p in policy.products],
    ]
    h = hashlib.sha256(source_stamp(ROOT / "engine" / "model" / "state.py").encode())
    h.update(json.dumps(reads).encode())
    return "state-" + h.hexdigest()[:16]


def state_of(pop: Population, policy, group_codes: list[str]):
    """`engine.model.state.build_state(pop, policy, group_codes)`, from the population cache
    when `pop` is a cached population whose state was built before (mapped copy-on-write:
    the kernel's to change, the file untouched), else built and, for a cached population,
    kept beside it."""
    from engine.model.state import build_state

    key, folder = pop.cache_key, cache_dir()
    if key is None or folder is None:
        return build_state(pop, policy, group_codes)
    keeper = _pending.get(key)
    where = (keeper.tmp if keeper else folder / key) / _state_name(policy, group_codes)
    state = _load_state(where, pop)
    if state is None:
        state = build_state(columnwise(pop), policy, group_codes)
        _save_state(state, where)
    return state


def capacity_state_of(pop: Population, policy, group_codes: list[str], make):
    """The state of a run with capacity: `make(state_of(...))` (engine.model.capacity
    .with_interim_slots, the interim slots reserved), kept beside the population's state in
    the cache under a hash of that builder's code and of the policy's capacity-bound products
    and interim arrangements, so that a run finding it loads it as it loads the state."""
    from engine.model.jit import source_stamp

    key, folder = pop.cache_key, cache_dir()
    if key is None or folder is None:
        return make(state_of(pop, policy, group_codes))
    reads = [[c, v.interim_product, v.interim_step] for c, v in sorted(policy.capacity.items())]
    h = hashlib.sha256(source_stamp(ROOT / "engine" / "model" / "capacity.py").encode())
    h.update(json.dumps(reads).encode())
    keeper = _pending.get(key)
    where = (keeper.tmp if keeper else folder / key) / (
        f"{_state_name(policy, group_codes)}-capacity-{h.hexdigest()[:16]}"
    )
    state = _load_state(where, pop, sized=False)
    if state is None:
        state = make(state_of(pop, policy, group_codes))
        _save_state(state, where)
    return state


MADV_POPULATE_WRITE = 23  # Linux 5.14


def _writable(mapped: np.memmap) -> np.ndarray:
    """The mapped state, its pages made the process's own in one pass, before the kernel's
    threads run: faulted in one by one as the kernel first writes them, each copy-on-write
    fault sent the other core a TLB shoot-down (perf of a warm national run: a third of its
    samples in the copy, page-table locks and inter-processor calls). A base ndarray, not
    np.memmap, for the compiled code. Where the advice is unknown (older Linux), the pages
    are left to fault as before."""
    mm = getattr(mapped, "_mmap", None)
    if mm is not None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            mm.madvise(MADV_POPULATE_WRITE)
    return np.asarray(mapped)


def _load_state(where: Path, pop: Population, sized: bool = True):
    from engine.model.layout import CLIENT, SLOT
    from engine.model.state import State

    try:
        # mapped copy-on-write, not read, and made the run's own in one pass (`_writable`):
        # the file is never changed
        clients = _writable(np.load(where / "clients.npy", mmap_mode="c"))
        slots = _writable(np.load(where / "slots.npy", mmap_mode="c"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        shutil.rmtree(where, ignore_errors=True)
        return None
    if (
        clients.dtype != CLIENT
        or slots.dtype != SLOT
        or clients.shape != (pop.n_clients,)
        or (sized and slots.shape != (pop.n_arrangements,))
        or (not sized and int(clients["arr_hi"].max(initial=0)) != slots.shape[0])
    ):
        shutil.rmtree(where, ignore_errors=True)
        return None
    return State(
        clients,
        slots,
        np.zeros((clients.shape[0], 0), dtype=np.int8),
        np.zeros((slots.shape[0], 0), dtype=np.int8),
    )


def _save_state(state, where: Path) -> None:
    tmp = where.with_name(f".{where.name}.{os.getpid()}.partial")
    try:
        tmp.mkdir()  # in an entry (or a keeper's folder) that exists: never makes an entry
        np.save(tmp / "clients.npy", state.clients)
        np.save(tmp / "slots.npy", state.slots)
        tmp.rename(where)
    except OSError:  # another process saved it first, or the cache is not writable
        shutil.rmtree(tmp, ignore_errors=True)
