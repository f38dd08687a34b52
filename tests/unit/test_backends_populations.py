"""A process pool ships each distinct population once: a sensitivity's rule-key variants share
one population object, and shipping it once per variant held 40 pickled copies in the parent
(4.2 GB peak for `caseload sensitivity ... --from-measures` on the whole package; 1.1 GB after)."""

from __future__ import annotations

import pickle

from engine.simulation import backends


def test_contexts_sharing_a_population_ship_it_once():
    shared, other = {"pop": 1}, {"pop": 2}
    keys, objs = backends.distinct_populations({"a": shared, "b": other, "c": shared})
    assert len(objs) == 2
    assert objs[keys["a"]] is shared
    assert objs[keys["c"]] is shared
    assert objs[keys["b"]] is other


def test_a_worker_unpickles_a_shared_population_once():
    shared = {"pop": [1, 2, 3]}
    keys, objs = backends.distinct_populations({"a": shared, "c": shared})
    backends._pool_init(keys, [pickle.dumps(p) for p in objs], 1)
    try:
        first, second = backends._worker_population("a"), backends._worker_population("c")
        assert first == shared
        assert first is second
        assert backends._worker_population("unknown") is None
    finally:
        backends._worker_pops.clear()
        backends._worker_blobs.clear()
        backends._worker_loaded.clear()
