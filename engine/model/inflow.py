"""The inflow a profile expects: new clients per group and horizon month, growth
compounding yearly. The inflow pool is drawn from it (synthetic_population.generator), the
population's size is checked against it before anything is drawn (synthetic_population.size),
and admission aims at it times the fitted multipliers (engine.model.params). `profile`: a
synthetic_population.profile.Profile, read as the parameters are."""

from __future__ import annotations

import numpy as np

from engine.model.portable_math import pow_array


def expected_inflow(profile, start: int, months: int) -> np.ndarray:
    """Expected new clients per group and horizon month (scaled), growth compounding yearly."""
    out = np.zeros((len(profile.groups), months))
    t = np.arange(months)
    offset = (start - profile.start) / 12.0
    for gi, g in enumerate(profile.groups):
        out[gi] = (
            g.inflow_per_year
            / 12.0
            * pow_array(1.0 + g.inflow_growth, offset + t / 12.0)
            * profile.scale
        )
    return out


def admitted_inflow(profile, start: int, months: int) -> np.ndarray:
    """Expected admitted new clients per group and horizon month: the profile's inflow times
    the fitted inflow multipliers. The pool is drawn from `expected_inflow` alone, so a fit
    moves admission at the margin and never changes who is in the pool (at most the pool
    oversample factor: admission cannot exceed the whole pool)."""
    mult = np.array([g.inflow_multiplier for g in profile.groups], dtype=np.float64)
    return expected_inflow(profile, start, months) * mult[:, None]
