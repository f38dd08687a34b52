"""Attribution arithmetic (engine.simulation.attribution): Shapley shares in whole cents that
add up to the package saving exactly, for any savings."""

from __future__ import annotations

from itertools import permutations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.simulation.attribution import (
    apportion,
    full_mask,
    ordering_masks,
    sample_orderings,
    shapley_exact,
    shapley_sampled,
    standalone_masks,
)


def additive(values):
    n = len(values)
    return {m: sum(v for i, v in enumerate(values) if m >> i & 1) for m in range(1 << n)}


def test_additive_savings_give_each_measure_its_standalone_saving():
    assert shapley_exact(additive([100, -7, 5_000_000]), 3) == [100, -7, 5_000_000]


def test_a_pure_interaction_is_shared_equally_with_the_cents_left_over_to_the_first():
    # only the two together save: 1001 cents shared 501 / 500
    saving = {0: 0, 1: 0, 2: 0, 3: 1001}
    assert shapley_exact(saving, 2) == [501, 500]


def test_all_orderings_sampled_give_the_exact_shares():
    rng = np.random.default_rng(3)
    saving = {m: int(rng.integers(-(10**9), 10**9)) if m else 0 for m in range(8)}
    orderings = np.array(list(permutations(range(3))))
    shares, se = shapley_sampled(saving, orderings)
    assert shares == shapley_exact(saving, 3)
    assert len(se) == 3
    assert all(s >= 0 for s in se)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_exact_shapley_shares_always_add_up_to_the_package_saving(n, seed):
    rng = np.random.default_rng(seed)
    saving = {m: int(rng.integers(-(10**11), 10**11)) if m else 0 for m in range(1 << n)}
    shares = shapley_exact(saving, n)
    assert sum(shares) == saving[full_mask(n)]


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 9), st.integers(2, 40), st.integers(0, 2**32 - 1))
def test_sampled_shapley_shares_always_add_up_to_the_package_saving(n, k, seed):
    rng = np.random.default_rng(seed)
    orderings = sample_orderings(n, k, seed)
    saving = {
        m: int(rng.integers(-(10**11), 10**11)) if m else 0 for m in ordering_masks(orderings)
    }
    shares, _ = shapley_sampled(saving, orderings)
    assert sum(shares) == saving[full_mask(n)]


@given(st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=8), st.integers(1, 720))
def test_apportion_rounds_each_share_by_less_than_a_cent(nums, denom):
    total_num = sum(nums)
    # make the numerators add up to a whole total
    nums[-1] -= total_num % denom
    total = sum(nums) // denom
    shares = apportion(nums, denom, total)
    assert sum(shares) == total
    assert all(abs(s * denom - x) < denom for s, x in zip(shares, nums, strict=True))


def test_standalone_needs_only_the_baseline_the_singles_and_the_package():
    assert standalone_masks(3) == [0, 1, 2, 4, 7]
