"""Who saved what: standalone savings, Shapley shares and the interaction of measures.

A saving is baseline cost minus scenario cost (int64 cents; positive means cheaper). For n
measures, `saving[mask]` is the saving of the subset of measures whose bits are set in
`mask` (rules of one moment apply in the experiment's order, whatever the subset).

- standalone saving of measure i: saving[1 << i];
- Shapley share of i: its marginal saving averaged over all orderings of the measures,
  exact over all 2^n subsets (weights k!(n-k-1)!/n!) or estimated from sampled orderings;
- interaction: package saving minus the sum of the standalone savings.

Shares are exact rationals before rounding; they are rounded to whole cents by the largest
remainder method, so that per seed and budget year they add up to the package saving
exactly, whatever the rounding of each.
"""

from __future__ import annotations

from math import factorial

import numpy as np


def full_mask(n: int) -> int:
    return (1 << n) - 1


def exact_masks(n: int) -> list[int]:
    """Every subset: what exact Shapley needs."""
    return list(range(1 << n))


def standalone_masks(n: int) -> list[int]:
    """The baseline, each measure alone and the package."""
    return sorted({0, full_mask(n), *(1 << i for i in range(n))})


def sample_orderings(n: int, k: int, seed: int) -> np.ndarray:
    """k random orderings of n measures [k, n], from their own seeded stream (the same
    orderings for every simulation seed, so replications stay paired)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    return np.array([rng.permutation(n) for _ in range(k)], dtype=np.int64).reshape(k, n)


def ordering_masks(orderings: np.ndarray) -> list[int]:
    """The subsets the sampled orderings pass through (their prefixes)."""
    masks = {0}
    for perm in orderings:
        m = 0
        for i in perm:
            m |= 1 << int(i)
            masks.add(m)
    return sorted(masks)


def apportion(numerators: list[int], denominator: int, total: int) -> list[int]:
    """Whole cents for exact shares numerator / denominator that must add up to `total`
    (sum(numerators) == total * denominator): floors, then the remaining cents to the largest
    fractional parts (ties to the first measure)."""
    if sum(numerators) != total * denominator:
        raise ValueError("shares do not add up to the total")
    floors = [num // denominator for num in numerators]
    rest = total - sum(floors)
    order = sorted(
        range(len(numerators)), key=lambda i: (-(numerators[i] - floors[i] * denominator), i)
    )
    for i in order[:rest]:
        floors[i] += 1
    return floors


def shapley_exact(saving: dict[int, int], n: int) -> list[int]:
    """Exact Shapley shares of one quantity (one seed, one budget year), in cents."""
    denom = factorial(n)
    weights = [factorial(k) * factorial(n - k - 1) for k in range(n)]
    nums = []
    for i in range(n):
        bit = 1 << i
        num = 0
        for mask in range(1 << n):
            if mask & bit:
                continue
            num += weights[bin(mask).count("1")] * (saving[mask | bit] - saving[mask])
        nums.append(num)
    return apportion(nums, denom, saving[full_mask(n)])


def shapley_sampled(saving: dict[int, int], orderings: np.ndarray) -> tuple[list[int], list[float]]:
    """Shapley shares estimated from sampled orderings, in cents (adding up to the package
    saving exactly: each ordering's marginal savings telescope to it), and the sampling
    standard error of each share (sd of the marginal savings / sqrt(orderings))."""
    k, n = orderings.shape
    marg = np.zeros((k, n), dtype=np.float64)
    nums = [0] * n
    for j, perm in enumerate(orderings):
        m = 0
        for i in perm:
            i = int(i)
            d = saving[m | (1 << i)] - saving[m]
            nums[i] += d
            marg[j, i] = d
            m |= 1 << i
    shares = apportion(nums, k, saving[full_mask(n)])
    se = (marg.std(axis=0, ddof=1) / np.sqrt(k)).tolist() if k > 1 else [float("nan")] * n
    return shares, se
