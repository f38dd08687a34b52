"""Golden outputs: the aggregates, final state and population of a few fixed runs hash to
values recorded from the reference implementation. Performance work must keep every
output bit for bit; a deliberate change of semantics re-records these (run this file as a
script to print the current digests).
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
import pytest

from engine.months import month_index
from engine.rng import MODE_SEQUENTIAL
from engine.run import RunSpec, simulate_scenario
from tests.conftest import toy_spec

# name -> (spec factory, {part: sha256[:16]})
CASES = {
    "toy_keyed": lambda: toy_spec(seed=11, population_seed=5),
    "toy_sequential": lambda: toy_spec(seed=12, population_seed=6, rng_mode=MODE_SEQUENTIAL),
    "toy_long": lambda: toy_spec(seed=3, population_seed=7, months=60),
    "default_24m": lambda: RunSpec(months=24, seed=5, population_seed=2),
    "toy_before_2000": lambda: toy_spec(seed=4, population_seed=2, start=month_index(1999, 7), months=30),  # month indices < 0
    "default_24m_boz": lambda: RunSpec(
        months=24, seed=5, population_seed=2,
        measures=["m04_youth_weekly_cap_4000", "m12_max_three_years", "m15_no_ironing", "m16_biweekly_household_help", "m17_wmo_weekly_cap_800"],
    ),
}

GOLDEN = {'toy_keyed': {'table:affected': '472a933623089a5d',
               'table:arrangements': 'c2c5ea3850e325ab',
               'table:arrangements_yearly': 'a3370e63ef40fd7c',
               'table:clients': '4d562af9bef8a4d2',
               'table:clients_yearly': 'b90ce6120dbb9512',
               'table:events': 'eba560b69e9cd60b',
               'table:served': '3f3669eaf8860958',
               'table:summary': '2473493ddb5f60e0',
               'bins': '240b0faf48f32b62',
               'state': '1c493e55c6187803',
               'population:clients': 'e2d1afe51dcacea6',
               'population:arrangements': '6e0b550e84af9039',
               'population:pool_rate': '976d4d133acb9178',
               'population:fingerprint': '0d08cb67c0b7f3a9',
               'active_arrangement_months': '23330'},
 'toy_sequential': {'table:affected': '472a933623089a5d',
                    'table:arrangements': '4ed2f3e593e8e648',
                    'table:arrangements_yearly': '179626b5f14795f1',
                    'table:clients': '62f070089690bfa8',
                    'table:clients_yearly': '52460e2cffefe3d1',
                    'table:events': 'eba560b69e9cd60b',
                    'table:served': 'd6fa528e5ed44bd7',
                    'table:summary': 'd6a74725bb4dc028',
                    'bins': 'bfe2702599b1ad72',
                    'state': 'd819b5ce0561846a',
                    'population:clients': '82d606f54029215f',
                    'population:arrangements': 'd13dd02947f79bb0',
                    'population:pool_rate': '976d4d133acb9178',
                    'population:fingerprint': 'ae1184e141be3780',
                    'active_arrangement_months': '23279'},
 'toy_long': {'table:affected': '472a933623089a5d',
              'table:arrangements': '6510fc1d64cf1049',
              'table:arrangements_yearly': '3d3f90374d3b72ea',
              'table:clients': '42fe950084eddcbc',
              'table:clients_yearly': '2c4365357c045ea9',
              'table:events': 'eba560b69e9cd60b',
              'table:served': '41a192b3a5e89983',
              'table:summary': 'ab4394c322ee2d0d',
              'bins': '4c4c1a5579b25ee4',
              'state': '14eabc0f8ed1e3d4',
              'population:clients': 'f9f4e103ca506760',
              'population:arrangements': '6cf333143b062bed',
              'population:pool_rate': 'fe781d1271d185c3',
              'population:fingerprint': '2188de280dcde9b8',
              'active_arrangement_months': '41022'},
 'default_24m': {'table:affected': '472a933623089a5d',
                 'table:arrangements': '34de9fb9b986c8c4',
                 'table:arrangements_yearly': '0d28adb63385d6cf',
                 'table:clients': 'e533124b25ad43fa',
                 'table:clients_yearly': '0a8825d2f9a146f6',
                 'table:events': 'eba560b69e9cd60b',
                 'table:served': '25436f80f70acb67',
                 'table:summary': 'eb3c9c9ce0c2784e',
                 'bins': '32f1099b4f1e1950',
                 'state': 'cbac2e4b671906cf',
                 'population:clients': 'b3eb09a86f31e226',
                 'population:arrangements': 'dc4ac72493c1d8f8',
                 'population:pool_rate': '7f463f2d56575cf3',
                 'population:fingerprint': '59f19593f7d46ccf',
                 'active_arrangement_months': '1247779'},
 'toy_before_2000': {'table:affected': '472a933623089a5d',
                     'table:arrangements': '0c253a5fbb0152f5',
                     'table:arrangements_yearly': 'bf5b871ef095fe20',
                     'table:clients': 'ffe1a03b9d30a6d2',
                     'table:clients_yearly': '71242b3b4f017f63',
                     'table:events': 'eba560b69e9cd60b',
                     'table:served': '9d9017ce168c53aa',
                     'table:summary': '8e3d25db329dea54',
                     'bins': '4e50353a2729f840',
                     'state': '1a3acddaecfab4f5',
                     'population:clients': 'a64c1289a03030a7',
                     'population:arrangements': '4e94a0fd0882dc39',
                     'population:pool_rate': 'eb35d1f16a7d8b1c',
                     'population:fingerprint': 'ffcd4f235cd11f20',
                     'active_arrangement_months': '17239'},
 'default_24m_boz': {'table:affected': '32d948b7672e4806',
                     'table:arrangements': '872fdab7cd251d03',
                     'table:arrangements_yearly': 'de17fd2b909ee6a9',
                     'table:clients': 'bcbc250da994f0a3',
                     'table:clients_yearly': 'b3e42166af2fb4a3',
                     'table:events': '2d59445c2ce5673a',
                     'table:served': 'de6a161140b9c389',
                     'table:summary': '1427a81137cf1192',
                     'bins': 'e4b08ee2aa285d23',
                     'state': 'f75961cc4ec72cca',
                     'population:clients': 'b3eb09a86f31e226',
                     'population:arrangements': 'dc4ac72493c1d8f8',
                     'population:pool_rate': '7f463f2d56575cf3',
                     'population:fingerprint': '59f19593f7d46ccf',
                     'active_arrangement_months': '1246094'}}


def _frame_digest(frame: pl.DataFrame) -> str:
    """Schema and values, independent of Polars' internal row hash."""
    h = hashlib.sha256(repr(frame.schema).encode())
    h.update(frame.write_csv().encode())
    return h.hexdigest()[:16]


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
        [s.admitted, s.status, s.step, s.start, s.planned_end, s.ind_no, s.minutes, s.weekly_cents, s.end_month, s.end_reason]
    )
    out["population:clients"] = _frame_digest(r.population.clients)
    out["population:arrangements"] = _frame_digest(r.population.arrangements)
    out["population:pool_rate"] = _arrays_digest([r.population.pool_rate])
    out["population:fingerprint"] = r.population.fingerprint()
    out["active_arrangement_months"] = str(r.sim.active_arrangement_months)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_outputs_match_the_recorded_digests(name):
    got = digests(CASES[name]())
    assert got == GOLDEN[name]


if __name__ == "__main__":  # print the digests of the current code, to re-record GOLDEN
    import pprint

    pprint.pprint({name: digests(make()) for name, make in CASES.items()}, width=140, sort_dicts=False)
