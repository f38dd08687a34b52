"""The validation rules of engine/core/limits.py, case by case (README: Validation)."""

from __future__ import annotations

import math

import pytest

from engine.core import limits
from engine.core.errors import InputError


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, True, "1", None, [1], 1e9 + 1, -1e9 - 1]
)
def test_a_non_finite_or_unbounded_value_is_refused(value):
    with pytest.raises(InputError, match=r"^f: key k: .* \(expected a"):
        limits.finite_number(value, "f: key k")


@pytest.mark.parametrize(
    ("value", "lo", "hi", "integer", "want"),
    [
        (0, 0, 1, False, 0.0),
        (1, 0, 1, False, 1.0),
        (3.0, 0, 5, True, 3),
        (1e9, None, None, False, 1e9),
    ],
)
def test_a_value_within_its_range_is_returned(value, lo, hi, integer, want):
    got = limits.finite_number(value, "w", lo, hi, integer)
    assert got == want
    assert type(got) is type(want)


def test_a_fraction_for_a_whole_number_is_refused():
    with pytest.raises(InputError, match="is not a whole number"):
        limits.finite_number(2.5, "w", 0, 10, integer=True)


@pytest.mark.parametrize(
    "name", ["", " ", "a/b", "a\\b", "..", ".x", "a\x00b", "a\nb", "a\u202eb", " x", "x" * 121]
)
def test_a_name_that_cannot_be_a_plain_folder_name_is_refused(name):
    with pytest.raises(InputError, match=r"^--run-id: "):
        limits.check_name(name, "--run-id")


@pytest.mark.parametrize("name", ["base", "boz-2024", "a.b", "x" * 120, "café", "run 1"])
def test_a_plain_name_is_accepted(name):
    assert limits.check_name(name, "--run-id") == name


@pytest.mark.parametrize(
    ("values", "ok"),
    [
        ([1, 2.5], True),
        ([0], True),
        ([], False),
        ([-1], False),
        ([math.nan], False),
        ([True], False),
        (["1"], False),
        (5, False),
        ([1e10], False),
    ],
)
def test_weights_are_finite_and_non_negative(values, ok):
    assert limits.nonneg_numbers(values) is ok


def test_a_population_too_big_for_the_memory_names_its_size(monkeypatch):
    monkeypatch.setattr(limits, "available_memory", lambda: 10 * 2**30)
    limits.check_memory(1_000_000, 1_500_000, "p", "smaller")  # 1.6 GB of 10 GiB: fine
    with pytest.raises(InputError) as err:
        limits.check_memory(10_000_000, 15_000_000, "p", "smaller")
    msg = str(err.value)
    assert msg.startswith("p: about 10,000,000 clients and 15,000,000 arrangement slots")
    # 10^7 x 1,000 + 1.5 x 10^7 x 400 bytes = 1.6 x 10^10 = 14.9 GiB
    assert "14.9 GiB of memory, 10.0 GiB is available (expected smaller)" in msg
