import numpy as np

from engine.model.rng import (
    DECISIONS,
    POPULATION_DECISIONS,
    RETIRED_DECISIONS,
    decision_keys,
    keyed_bits_np,
    keyed_uniform_np,
)


def test_decision_ids_are_unique_and_explicit():
    assert len(set(DECISIONS.values())) == len(DECISIONS)
    assert all(isinstance(v, int) and v > 0 for v in DECISIONS.values())


def test_population_decision_ids_are_unique_and_apart_from_the_simulations():
    ids = list(POPULATION_DECISIONS.values())
    assert len(set(ids)) == len(ids)
    assert all(isinstance(v, int) and v > 0 for v in ids)
    assert not set(ids) & set(DECISIONS.values())
    assert not set(ids) & RETIRED_DECISIONS
    assert not RETIRED_DECISIONS & set(DECISIONS.values())


def test_keyed_bits_are_the_hashes_behind_keyed_uniforms():
    ids = np.arange(1, 1001, dtype=np.uint64)
    bits = keyed_bits_np(7, 106, ids, 2)
    assert np.array_equal(
        (bits >> np.uint64(11)).astype(np.float64) / 2.0**53, keyed_uniform_np(7, 106, ids, 2)
    )


def test_keyed_draws_depend_only_on_their_keys():
    ids = np.arange(1, 1001, dtype=np.uint64)
    a = keyed_uniform_np(7, 2, ids, 300)
    b = keyed_uniform_np(7, 2, ids[::-1], 300)[::-1]
    assert np.array_equal(a, b)  # order of evaluation does not matter
    assert not np.array_equal(a, keyed_uniform_np(8, 2, ids, 300))  # seed
    assert not np.array_equal(a, keyed_uniform_np(7, 3, ids, 300))  # decision
    assert not np.array_equal(a, keyed_uniform_np(7, 2, ids, 301))  # counter


def test_keyed_draws_are_uniform_enough():
    u = keyed_uniform_np(1, 5, np.arange(200_000, dtype=np.uint64), 0)
    assert u.min() >= 0.0
    assert u.max() < 1.0
    hist, _ = np.histogram(u, bins=20, range=(0, 1))
    assert np.abs(hist / len(u) - 0.05).max() < 0.003
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01


def test_decision_keys_cover_every_decision():
    keys = decision_keys(3)
    assert keys.shape[0] == max(DECISIONS.values()) + 1
    assert len(set(keys.tolist())) == keys.shape[0]
