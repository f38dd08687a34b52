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
               'table:arrangements': 'c4af2d11999bda1f',
               'table:arrangements_yearly': 'f30bfeedb2d83dda',
               'table:clients': '0329604fbdbba93b',
               'table:clients_yearly': '90c75de83a8866c9',
               'table:events': 'eba560b69e9cd60b',
               'table:served': '573224c226608be5',
               'table:summary': '80a6a85e82c8c393',
               'bins': '6433d574252e8596',
               'state': '492f0585a1bfaa89',
               'population:clients': 'e2d1afe51dcacea6',
               'population:arrangements': '6e0b550e84af9039',
               'population:pool_rate': '976d4d133acb9178',
               'population:fingerprint': '0d08cb67c0b7f3a9',
               'active_arrangement_months': '22842'},
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
              'table:arrangements': '5b028d127b7e7e66',
              'table:arrangements_yearly': 'aeb96b27141a6f9b',
              'table:clients': '56466a740365728d',
              'table:clients_yearly': '0c8a3ceb3d34e2bc',
              'table:events': 'eba560b69e9cd60b',
              'table:served': '5f0d819b718f1d2f',
              'table:summary': 'd3d548d5eaa0e604',
              'bins': '1ef68d4b56578c59',
              'state': 'ec6e1c808feaec7d',
              'population:clients': 'f9f4e103ca506760',
              'population:arrangements': '6cf333143b062bed',
              'population:pool_rate': 'fe781d1271d185c3',
              'population:fingerprint': '2188de280dcde9b8',
              'active_arrangement_months': '40276'},
 'default_24m': {'table:affected': '472a933623089a5d',
                 'table:arrangements': 'a9529eb80441688a',
                 'table:arrangements_yearly': '87adda343225ef05',
                 'table:clients': '3bd1110bea399161',
                 'table:clients_yearly': '01cad918f9a0de98',
                 'table:events': 'eba560b69e9cd60b',
                 'table:served': 'c633b282a8ccd4cc',
                 'table:summary': '4d75acdb6a1538ad',
                 'bins': '95a1f469784d99b2',
                 'state': '40e71c82b500c00f',
                 'population:clients': 'b3eb09a86f31e226',
                 'population:arrangements': 'dc4ac72493c1d8f8',
                 'population:pool_rate': '7f463f2d56575cf3',
                 'population:fingerprint': '59f19593f7d46ccf',
                 'active_arrangement_months': '1249520'},
 'toy_before_2000': {'table:affected': '472a933623089a5d',
                     'table:arrangements': 'c6c3a09767d825e9',
                     'table:arrangements_yearly': '4e6106e99cfb28a9',
                     'table:clients': '17e845ee01422fde',
                     'table:clients_yearly': 'fd656375d7f98734',
                     'table:events': 'eba560b69e9cd60b',
                     'table:served': '16c8f7d5e7ba1304',
                     'table:summary': 'f8917e268538f923',
                     'bins': '4ddb4766d63b891e',
                     'state': '9a004c078489e0f4',
                     'population:clients': 'a64c1289a03030a7',
                     'population:arrangements': '4e94a0fd0882dc39',
                     'population:pool_rate': 'eb35d1f16a7d8b1c',
                     'population:fingerprint': 'ffcd4f235cd11f20',
                     'active_arrangement_months': '16587'},
 'default_24m_boz': {'table:affected': '55782e335b19ad3d',
                     'table:arrangements': 'd727e6bd36d208fa',
                     'table:arrangements_yearly': '5d4bc00636fe10b4',
                     'table:clients': '996b7d333badb02e',
                     'table:clients_yearly': '6847c1bacefd752a',
                     'table:events': '8e968d388d9fff51',
                     'table:served': '856ce563d73258ae',
                     'table:summary': 'af51ac1c6d5d779c',
                     'bins': '912b728e3c20a85f',
                     'state': '1ed140584f2d27a4',
                     'population:clients': 'b3eb09a86f31e226',
                     'population:arrangements': 'dc4ac72493c1d8f8',
                     'population:pool_rate': '7f463f2d56575cf3',
                     'population:fingerprint': '59f19593f7d46ccf',
                     'active_arrangement_months': '1247750'}}


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
