"""Where sub-runs run (DESIGN section 8): in this process, on a local process pool (the
default for experiments) or on Ray (`--backend ray [--address HOST:PORT]`).

Sub-runs are independent and deterministic: a sub-run's bins are exact int64 sums that do
not depend on threads, workers or machine, so every backend gives identical results. Work
goes out in batches of sub-runs (a worker builds its context, population included, once);
results come back as small NumPy arrays and are put back in unit order. The sub-runs of one
context and seed that need only yearly totals and clients affected go out as one task: one
multi-combination kernel pass (`Context.run_units`, engine.model.combinations), identical to
running each.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import socket

from engine.core.errors import InputError
from engine.simulation.subrun import Context, ContextSpec, SubResult, Unit, multi_unit

BACKENDS = ("inprocess", "process", "ray")
BATCHES_PER_WORKER = 4  # small enough to balance, large enough to amortise a task's overhead

_worker_ctx: dict[str, Context] = {}  # per worker process: its contexts, built once


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def _threads_per_worker(workers: int) -> int:
    return max(1, default_workers() // workers)


def _context(cspec: ContextSpec, population=None) -> Context:
    key = cspec.key()
    if key not in _worker_ctx:
        _worker_ctx[key] = Context.build(cspec, population=population)
    return _worker_ctx[key]


def _set_threads(threads: int) -> None:
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def _batch(cspec: ContextSpec, population, units: list[Unit], threads: int) -> list[SubResult]:
    """A worker's task: sub-runs of one context (built once per worker and kept)."""
    _set_threads(threads)
    ctx = _context(cspec, population)
    return ctx.run_units(units, threads=threads)


def _tasks(jobs: list[tuple[ContextSpec, list[Unit]]], workers: int) -> list[tuple[int, list[int]]]:
    """(job index, unit indices) per task: the multi-combination units of one job and seed
    together (one kernel pass), the other units batched over all jobs together; the batches
    first (the larger tasks)."""
    groups, rest = [], [[] for _ in jobs]
    for j, (_, units) in enumerate(jobs):
        by_seed: dict[int, list[int]] = {}
        for i, u in enumerate(units):
            (by_seed.setdefault(u.seed, []) if multi_unit(u) else rest[j]).append(i)
        for idx in by_seed.values():
            if len(idx) > 1:
                groups.append((j, idx))
            else:
                rest[j].extend(idx)
    size = max(1, math.ceil(sum(map(len, rest)) / (workers * BATCHES_PER_WORKER)))
    tasks = []
    for j, idx in enumerate(rest):
        idx.sort()
        for i in range(0, len(idx), size):
            tasks.append((j, idx[i : i + size]))
    return tasks + groups


# ------------------------------------------------------------------------------ process pool
# per worker process: the populations shipped by the parent, each distinct one once (a
# sensitivity's rule-key variants share one population: shipped and unpickled once, not once
# per variant), and which context uses which
_worker_pops: dict[str, int] = {}
_worker_blobs: list[bytes] = []
_worker_loaded: dict[int, object] = {}


def distinct_populations(populations: dict) -> tuple[dict[str, int], list]:
    """Context key -> index into the list of distinct population objects."""
    index: dict[int, int] = {}
    objs: list = []
    keys = {}
    for k, p in populations.items():
        if id(p) not in index:
            index[id(p)] = len(objs)
            objs.append(p)
        keys[k] = index[id(p)]
    return keys, objs


def _pool_init(keys: dict[str, int], blobs: list[bytes], threads: int) -> None:
    _set_threads(threads)
    _worker_pops.update(keys)
    _worker_blobs[:] = blobs


def _worker_population(key: str):
    i = _worker_pops.get(key)
    if i is None:
        return None
    if i not in _worker_loaded:
        _worker_loaded[i] = pickle.loads(_worker_blobs[i])
    return _worker_loaded[i]


def _pool_batch(cspec: ContextSpec, units: list[Unit], threads: int) -> list[SubResult]:
    key = cspec.key()
    return _batch(
        cspec, _worker_population(key) if key not in _worker_ctx else None, units, threads
    )


def _run_pool(jobs, populations, workers, progress) -> list[list[SubResult]]:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = _threads_per_worker(workers)
    keys, objs = distinct_populations(populations)
    blobs = [pickle.dumps(p, protocol=pickle.HIGHEST_PROTOCOL) for p in objs]
    out = [[None] * len(units) for _, units in jobs]
    # spawn, not fork: the parent may hold threads (Numba, Polars), which fork does not copy
    mp = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=mp, initializer=_pool_init, initargs=(keys, blobs, threads)
    ) as pool:
        futures = {}
        for j, idx in _tasks(jobs, workers):
            cspec, units = jobs[j]
            futures[pool.submit(_pool_batch, cspec, [units[i] for i in idx], threads)] = (j, idx)
        for fut in as_completed(futures):
            j, idx = futures[fut]
            for i, r in zip(idx, fut.result(), strict=True):
                out[j][i] = r
            progress(len(idx))
    return out


# ------------------------------------------------------------------------------ ray
def check_address(address: str, timeout: float = 5.0) -> None:
    """A Ray address must answer before we hand it to Ray (which would retry for minutes)."""
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(
            "--address", f"{address!r}", "HOST:PORT of a running Ray head, e.g. 127.0.0.1:6379"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise InputError(
            "--address",
            f"nothing answers at {address} ({exc.strerror or exc})",
            "the address of a running Ray head (`ray start --head --port PORT`)",
        ) from None


def _run_ray(jobs, populations, workers, address, progress) -> tuple[list[list[SubResult]], int]:
    try:
        import ray
    except ImportError:
        raise InputError(
            "--backend ray",
            "Ray is not installed",
            "pip install 'ray>=2.9' in the project's environment",
        ) from None
    started = False
    if address:
        check_address(address)
        ray.init(address=address, log_to_driver=False, ignore_reinit_error=True)
    elif not ray.is_initialized():
        ray.init(
            num_cpus=workers,
            include_dashboard=False,
            log_to_driver=False,
            _node_ip_address="127.0.0.1",
        )
        started = True
    try:
        n_workers = max(1, int(ray.cluster_resources().get("CPU", workers)))
        if not address:
            n_workers = min(workers, n_workers)
        remote = ray.remote(num_cpus=1)(_batch)
        keys, objs = distinct_populations(populations)
        refs = [ray.put(p) for p in objs]
        pop_refs = {k: refs[i] for k, i in keys.items()}
        pending = {}
        for j, idx in _tasks(jobs, n_workers):
            cspec, units = jobs[j]
            ref = remote.remote(cspec, pop_refs.get(cspec.key()), [units[i] for i in idx], 1)
            pending[ref] = (j, idx)
        out = [[None] * len(units) for _, units in jobs]
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                j, idx = pending.pop(ref)
                for i, r in zip(idx, ray.get(ref), strict=True):
                    out[j][i] = r
                progress(len(idx))
        return out, n_workers
    finally:
        if started:
            ray.shutdown()


# ------------------------------------------------------------------------------ entry
def run_jobs(
    jobs: list[tuple[ContextSpec, list[Unit]]],
    backend: str = "process",
    workers: int | None = None,
    address: str | None = None,
    progress=None,
    contexts: dict[str, Context] | None = None,
) -> tuple[list[list[SubResult]], dict]:
    """Run every unit of every job (a context and its sub-runs); results per job in unit
    order. `contexts`: contexts already built here (their populations are shipped to the
    workers, not generated again). `progress(n)` is called as sub-runs end."""
    progress = progress or (lambda n: None)
    contexts = contexts or {}
    if backend not in BACKENDS:
        raise InputError("--backend", f"{backend!r}", "one of " + ", ".join(BACKENDS))
    if workers is not None and workers < 1:
        raise InputError("--workers", f"{workers}", "at least 1")
    if address and backend != "ray":
        raise InputError("--address", "is for the Ray backend", "--backend ray --address HOST:PORT")
    workers = workers or default_workers()
    populations = {k: c.population for k, c in contexts.items()}
    if backend == "inprocess":
        out = [[None] * len(units) for _, units in jobs]
        built = {}
        for j, idx in _tasks(jobs, 1):
            cspec, units = jobs[j]
            key = cspec.key()
            if key not in built:
                built[key] = contexts.get(key) or Context.build(cspec)
            for i, r in zip(idx, built[key].run_units([units[i] for i in idx]), strict=True):
                out[j][i] = r
            progress(len(idx))
        return out, {"backend": "inprocess", "workers": 1}
    if backend == "process":
        return _run_pool(jobs, populations, workers, progress), {
            "backend": "process",
            "workers": workers,
        }
    out, n = _run_ray(jobs, populations, workers, address, progress)
    return out, {"backend": "ray", "workers": n}
