"""Capacity as data (rules.capacity): a library's [capacity.<product>] tables and a measure's
[[capacity]] changes read into places per pool and month; bad input is one error naming the
file, the key and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core.errors import InputError
from engine.core.months import parse_month
from rules.policy import load_policy
from rules.schema import load_measure
from tests.helpers import DATA

TOY = (DATA / "toy" / "baseline.toml").read_text()
HEAD, _, _ = TOY.partition("[capacity.bw]")

BW = """[capacity.bw]
unit = "places"
{places}
interim = {{ value = {{ product = "beg", step = "beg3" }}, source = "test" }}
urgent_flags = {{ value = ["homeless"], source = "test" }}
"""


def _policy(tmp_path, places: str, extra: str = ""):
    (tmp_path / "baseline.toml").write_text(HEAD + BW.format(places=places) + extra)
    return load_policy(tmp_path / "baseline.toml")


def _measure(tmp_path, policy, body: str):
    path = tmp_path / "m.toml"
    path.write_text(f'[measure]\nname = "m"\nnumber = 1\nsource = "test"\n\n{body}')
    return load_measure(path, policy, {"oud": "wmo", "jong": "wmo", "kind": "jeugd"})


def test_places_per_month_follow_the_table_of_months(tmp_path):
    pol = _policy(
        tmp_path, 'places = { value = { "2024-01" = 30, "2025-07" = 20 }, source = "test" }'
    )
    cap = pol.capacity["bw"]
    assert cap.at(0, parse_month("2023-01", "")) == 30  # before the first: the first
    assert cap.at(0, parse_month("2025-06", "")) == 30
    assert cap.at(0, parse_month("2025-07", "")) == 20
    assert pol.norm_weeks == 8


def test_districts_get_pools_of_their_own_and_a_measure_can_change_one(tmp_path):
    pol = _policy(tmp_path, 'districts = { "1" = 10, "2" = { "2024-01" = 5, "2026-01" = 8 } }')
    cap = pol.capacity["bw"]
    assert sorted(cap.schedule) == [1, 2]
    assert cap.at(2, parse_month("2026-03", "")) == 8
    ms = _measure(
        tmp_path,
        pol,
        '[[capacity]]\nname = "d2"\nproduct = "bw"\nfactor = 0.5\ndistrict = 2\n'
        'effective_from = "2025-01"\neffective_until = "2026-01"\nsource = "test"\n',
    )
    ch = ms.capacity[0]
    assert ch.apply(8.0, parse_month("2024-12", "")) == 8.0
    assert ch.apply(8.0, parse_month("2025-01", "")) == 4.0
    assert ch.apply(8.0, parse_month("2026-01", "")) == 8.0  # until is exclusive


def test_a_change_never_makes_places_negative_and_unlimited_stays_unlimited(tmp_path):
    pol = _policy(tmp_path, 'places = { value = "unlimited", source = "test" }')
    assert np.isinf(pol.capacity["bw"].at(0, 0))
    ms = _measure(
        tmp_path,
        pol,
        '[[capacity]]\nname = "c"\nproduct = "bw"\nchange = -50\n'
        'effective_from = "2025-01"\nsource = "test"\n',
    )
    assert ms.capacity[0].apply(30.0, parse_month("2025-01", "")) == 0.0


BAD_LIBRARY = [
    ('places = { value = -3, source = "test" }', "capacity.bw.places", ">= 0"),
    ('places = { value = {}, source = "test" }', "capacity.bw.places", "YYYY-MM"),
    ('districts = { "x" = 3 }', "capacity.bw.districts.x", "1..255"),
]


@pytest.mark.parametrize(("places", "key", "expected"), BAD_LIBRARY)
def test_bad_library_capacity_is_one_error_naming_the_key(tmp_path, places, key, expected):
    with pytest.raises(InputError) as e:
        _policy(tmp_path, places)
    msg = str(e.value)
    assert "\n" not in msg
    assert "baseline.toml" in msg
    assert key in msg
    assert expected in msg


def test_an_interim_product_that_is_capacity_bound_itself_is_an_error(tmp_path):
    extra = BW.replace("[capacity.bw]", "[capacity.beg]").format(
        places='places = { value = 3, source = "test" }'
    )
    extra = extra.replace('product = "beg", step = "beg3"', 'product = "bw", step = "bw1"')
    with pytest.raises(InputError, match="is capacity-bound itself"):
        _policy(tmp_path, 'places = { value = 3, source = "test" }', "\n" + extra)


BAD_MEASURE = [
    ('product = "beg"\nplaces = 3', "capacity[0].product", "one of: bw"),
    ('product = "bw"\nplaces = 3\nfactor = 2.0', "capacity[0].places", "exactly one"),
    ('product = "bw"\nfactor = 0.5\ndistrict = 4', "capacity[0].district", "pool of its own"),
]


@pytest.mark.parametrize(("body", "key", "expected"), BAD_MEASURE)
def test_bad_measure_capacity_is_one_error_naming_the_key(tmp_path, body, key, expected):
    pol = _policy(tmp_path, 'places = { value = 3, source = "test" }')
    with pytest.raises(InputError) as e:
        _measure(
            tmp_path,
            pol,
            f'[[capacity]]\nname = "x"\n{body}\neffective_from = "2025-01"\nsource = "t"\n',
        )
    msg = str(e.value)
    assert "\n" not in msg
    assert "m.toml" in msg
    assert key in msg
    assert expected in msg


def test_interim_slot_ids_are_the_keyed_hash_with_the_top_bit_set():
    from engine.model.capacity import interim_ids
    from engine.model.rng import P_INTERIM_SLOT_ID, keyed_bits_np

    aids = np.array([0, 1, 7, 2**40 + 3, 2**63 + 5, 2**64 - 1], dtype=np.uint64)
    expect = keyed_bits_np(0, P_INTERIM_SLOT_ID, aids, 0) | np.uint64(1 << 63)
    assert np.array_equal(interim_ids(aids), expect)
