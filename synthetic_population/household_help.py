"""Household help's task minutes: the profile's parameters for drawing them, and the step
whose minutes band holds a client's weekly total (shared by the generator's stock and pool
and by the follow-up slots)."""

from __future__ import annotations

import numpy as np

from engine.core.domain import HO_TASKS
from engine.core.limits import nonneg_numbers
from engine.core.sourced import Section
from synthetic_population.profile import Profile


def ho_params(profile: Profile) -> dict:
    """The profile's [ho_tasks]: how household help's task minutes are drawn (cleaning
    lognormal around a median, each further task with a share and its minutes)."""
    s = Section(profile.ho_tasks, str(profile.path), "ho_tasks")
    out = {
        "cleaning_median_w": s.number("cleaning_median_w", 85, lo=0),
        "cleaning_sigma": s.number("cleaning_sigma", 0.4, lo=0),
        "ironing_w_by_household": s.raw("ironing_w_by_household", [10, 15, 20, 25]),
    }
    for t in HO_TASKS[1:]:
        if t == "ironing":
            out["ironing_share"] = s.share("ironing_share", 0.0)
            continue
        out[f"{t}_share"] = s.share(f"{t}_share", 0.0)
        out[f"{t}_w"] = s.number(f"{t}_w", 0, lo=0)
    iw = out["ironing_w_by_household"]
    if not nonneg_numbers(iw) or max(iw) > 7 * 24 * 60:
        raise s.error("ironing_w_by_household", f"{iw!r}", "minutes per household size 1, 2, 3, 4+")
    s.done()
    return out


def ho_step_from_minutes(total_w: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The HO step whose band holds the weekly minutes (band upper bounds exclusive)."""
    return np.minimum(np.searchsorted(bounds, total_w, side="right"), len(bounds) - 1)
