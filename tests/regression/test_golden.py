"""Golden outputs: the aggregates, final state and population of a few fixed runs hash to
values recorded in tests/data/golden.json. Performance work must keep every output bit for
bit; a deliberate change of semantics re-records them: `python -m tests.regression.test_golden`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.core.months import month_index
from engine.model.rng import MODE_SEQUENTIAL
from engine.simulation.run import RunSpec, simulate_scenario
from synthetic_population.generator import frame_digest
from tests.helpers import toy_spec

# name -> (spec factory, {part: sha256[:16]})
CASES = {
    "toy_keyed": lambda: toy_spec(seed=11, population_seed=5),
    "toy_sequential": lambda: toy_spec(seed=12, population_seed=6, rng_mode=MODE_SEQUENTIAL),
    "toy_sequential_scoped_review": lambda: toy_spec(
        seed=12, population_seed=6, rng_mode=MODE_SEQUENTIAL, measures=["t13_review_scoped"]
    ),  # a drawing `due` asked of slots outside the rest of the scope
    "toy_long": lambda: toy_spec(seed=3, population_seed=7, months=60),
    "default_24m": lambda: RunSpec(months=24, seed=5, population_seed=2),
    "toy_before_2000": lambda: toy_spec(
        seed=4, population_seed=2, start=month_index(1999, 7), months=30
    ),  # month indices < 0
    "default_24m_boz": lambda: RunSpec(
        months=24,
        seed=5,
        population_seed=2,
        measures=[
            "m04_youth_weekly_cap_4000",
            "m12_max_three_years",
            "m15_no_ironing",
            "m16_biweekly_household_help",
            "m17_wmo_weekly_cap_800",
        ],
    ),
}

GOLDEN_FILE = Path(__file__).resolve().parents[1] / "data" / "golden.json"


def _frame_digest(frame: pl.DataFrame) -> str:
    """Column names and values, hashed from the values alone (stable across Polars versions)."""
    return frame_digest(frame)[:16]


def _arrays_digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def digests(spec: RunSpec) -> dict[str, str]:
    r = simulate_scenario(spec)
    out = {f"table:{name}": _frame_digest(frame) for name, frame in sorted(r.tables.items())}
    out["bins"] = _arrays_digest([r.sim.arr, r.sim.cli, r.sim.served_half, r.sim.served_year])
    s = r.sim.state
    out["state"] = _arrays_digest(
        [
            s.admitted,
            s.status,
            s.step,
            s.start,
            s.planned_end,
            s.ind_no,
            s.minutes,
            s.weekly_cents,
            s.end_month,
            s.end_reason,
        ]
    )
    out["population:clients"] = _frame_digest(r.population.clients)
    out["population:arrangements"] = _frame_digest(r.population.arrangements)
    out["population:pool_rate"] = _arrays_digest([r.population.pool_rate])
    out["population:fingerprint"] = r.population.fingerprint()
    out["active_arrangement_months"] = str(r.sim.active_arrangement_months)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_outputs_match_the_recorded_digests(name):
    golden = json.loads(GOLDEN_FILE.read_text())
    got = digests(CASES[name]())
    assert got == golden[name]


if __name__ == "__main__":  # python -m tests.test_golden: re-record the digests of the current code
    GOLDEN_FILE.write_text(
        json.dumps({name: digests(make()) for name, make in CASES.items()}, indent=1) + "\n"
    )
    print(f"recorded {GOLDEN_FILE}")
