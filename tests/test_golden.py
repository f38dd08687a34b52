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
               'table:arrangements': 'd6ce1be4299c64ab',
               'table:arrangements_yearly': '09a5c7d12c8f74db',
               'table:clients': '00d67c2f5a5a182e',
               'table:clients_yearly': 'c813d6a187c67099',
               'table:events': 'eba560b69e9cd60b',
               'table:served': '897080a728eaf659',
               'table:summary': '32da5b443970f8cf',
               'bins': '4ac3266a642fb837',
               'state': '95c584f1719f9636',
               'population:clients': '0865d7cb87d61e61',
               'population:arrangements': '1e83cfb9145fe26c',
               'population:pool_rate': '976d4d133acb9178',
               'population:fingerprint': '442105b83a1640c6',
               'active_arrangement_months': '22890'},
 'toy_sequential': {'table:affected': '472a933623089a5d',
                    'table:arrangements': '793fb7615a29efe2',
                    'table:arrangements_yearly': '18bcd95ed6bde7f7',
                    'table:clients': 'e4b125f02e3ee8b3',
                    'table:clients_yearly': '0e4d44f42557834e',
                    'table:events': 'eba560b69e9cd60b',
                    'table:served': '706e9732aac00137',
                    'table:summary': '33cc2164f7c5ca78',
                    'bins': 'b38a66b6c8920bd5',
                    'state': 'b063b78c58086526',
                    'population:clients': 'd6ec1fd027743e9b',
                    'population:arrangements': '8635e1f3b7a9b6af',
                    'population:pool_rate': '976d4d133acb9178',
                    'population:fingerprint': '55acfdb6a418beea',
                    'active_arrangement_months': '23834'},
 'toy_long': {'table:affected': '472a933623089a5d',
              'table:arrangements': 'b4c7371a86b7f055',
              'table:arrangements_yearly': '86b5295bd44c2308',
              'table:clients': 'f7ba6ff0c986dc3f',
              'table:clients_yearly': '18bc5401e372d09b',
              'table:events': 'eba560b69e9cd60b',
              'table:served': '80ae98383cae3a46',
              'table:summary': '18300d09349cb34f',
              'bins': '3991345535565c78',
              'state': '1a278fd02886bc2a',
              'population:clients': 'ea82088be2dfe2e9',
              'population:arrangements': 'c47dd97628a2a41d',
              'population:pool_rate': 'fe781d1271d185c3',
              'population:fingerprint': '80865811d49f9971',
              'active_arrangement_months': '38302'},
 'default_24m': {'table:affected': '472a933623089a5d',
                 'table:arrangements': '730ccc04f533aaf2',
                 'table:arrangements_yearly': '1bea3e66b9e06076',
                 'table:clients': 'fbe421a14e37542d',
                 'table:clients_yearly': 'fa11d95479f11f88',
                 'table:events': 'eba560b69e9cd60b',
                 'table:served': 'ae0c3fb03f7d3aea',
                 'table:summary': '62893e4a485359f4',
                 'bins': '18940b174943d57f',
                 'state': '42610681ba098735',
                 'population:clients': 'b6d5f8bf33b3c7ed',
                 'population:arrangements': '30ea4fc350a3a6d1',
                 'population:pool_rate': '7f463f2d56575cf3',
                 'population:fingerprint': '00a3eb353cd36c58',
                 'active_arrangement_months': '1245145'},
 'toy_before_2000': {'table:affected': '472a933623089a5d',
                     'table:arrangements': '2234f6788e48274a',
                     'table:arrangements_yearly': 'f8ad78671d15e4bd',
                     'table:clients': '45428648d3e8ba0a',
                     'table:clients_yearly': 'c44d128726d3c0b2',
                     'table:events': 'eba560b69e9cd60b',
                     'table:served': 'b7968749de2da2a4',
                     'table:summary': '50ae2429142903db',
                     'bins': '0c0d2d1d11f1df61',
                     'state': '5e5eaeda8d20a424',
                     'population:clients': '7031f202924e04b2',
                     'population:arrangements': '7b37f682c67dec45',
                     'population:pool_rate': 'eb35d1f16a7d8b1c',
                     'population:fingerprint': '08b6e29b7583c4bb',
                     'active_arrangement_months': '16934'},
 'default_24m_boz': {'table:affected': '23a2af9db83d1ef2',
                     'table:arrangements': '5c0c88584723160b',
                     'table:arrangements_yearly': '1591503a202db286',
                     'table:clients': 'db1bcf057ec1176f',
                     'table:clients_yearly': '8791a083ad70e1eb',
                     'table:events': '530a4c88e11b31c6',
                     'table:served': '01ed463192199abe',
                     'table:summary': 'b48ec4c49da168d8',
                     'bins': 'f30da5905939d1f1',
                     'state': 'b64d0fd04b298d80',
                     'population:clients': 'b6d5f8bf33b3c7ed',
                     'population:arrangements': '30ea4fc350a3a6d1',
                     'population:pool_rate': '7f463f2d56575cf3',
                     'population:fingerprint': '00a3eb353cd36c58',
                     'active_arrangement_months': '1243271'}}


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
