"""How big a population a profile asks for, checked before anything is drawn.

`check_population_size` refuses a population with no client at all (a `population.scale` so
small every group rounds to nothing) and one the machine cannot hold (a huge `stock`, `scale`,
inflow or growth over a long horizon), with the estimated memory in the message, so a bad
parameter costs a line, not minutes of work or a crash.
"""

from __future__ import annotations

import math

import numpy as np

from engine.core.errors import InputError
from engine.core.limits import check_memory
from engine.model.inflow import expected_inflow

# Arrangement slots per client a population holds (initial slots, extra products, reserved
# follow-ups); the default profile has 1.3 (179,701 for 136,316 clients).
SLOTS_PER_CLIENT = 1.5


def expected_clients(profile, start: int, months: int) -> tuple[float, float]:
    """(start stock, inflow pool) the generator will draw, in expectation."""
    stock = float(sum(round(g.stock * profile.scale) for g in profile.groups))
    with np.errstate(over="ignore", invalid="ignore"):
        pool = float(expected_inflow(profile, start, months).sum() * profile.pool_oversample)
    return stock, pool


def check_population_size(profile, start: int, months: int) -> None:
    stock, pool = expected_clients(profile, start, months)
    where = f"{profile.path}: population size"
    hint = "a smaller population.scale, group stock or inflow, or a shorter horizon"
    if not math.isfinite(pool) or pool > 1e12:
        raise InputError(where, "the inflow grows without bound over the horizon", hint)
    clients = stock + pool
    if clients < 1:
        raise InputError(
            where,
            f"population.scale {profile.scale:g} leaves no client "
            f"({stock:.0f} in the stock, {pool:.2f} expected to arrive)",
            "a scale that leaves at least one client",
        )
    check_memory(clients, clients * SLOTS_PER_CLIENT, where, hint)
