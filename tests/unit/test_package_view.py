"""Many measures in a report or workbook: grouped by domain (youth, Wmo, both), largest
saving first within each; each beside the range of the assumption that moves it most."""

from __future__ import annotations

import polars as pl

from engine.reports.package_view import driving_ranges, ordered


def _savings(totals: dict[str, float]) -> pl.DataFrame:
    rows = [(m, y, v / 2) for m, v in totals.items() for y in (2024, 2025)]
    return pl.DataFrame(
        rows, schema=["measure", "budget_year", "shapley_net_eur_mean"], orient="row"
    )


def test_measures_are_grouped_by_domain_and_sorted_by_saving():
    sv = _savings({"a": 1.0, "b": 5.0, "c": 3.0, "d": 2.0, "e": 9.0, "package": 20.0})
    measures = [
        {"name": "a", "domains": ["wmo"]},
        {"name": "b", "domains": ["jeugd", "wmo"]},
        {"name": "c", "domains": ["jeugd"]},
        {"name": "d", "domains": ["jeugd"]},
        {"name": "e", "domains": ["wmo"]},
    ]
    assert ordered(sv, measures) == [
        ("Youth care", ["c", "d"]),
        ("Wmo", ["e", "a"]),
        ("Wmo and youth care", ["b"]),
    ]


class _Folder:
    def __init__(self, t):
        self.t = t

    def table(self, name):
        return self.t


def test_the_driving_assumption_is_the_one_with_the_largest_swing():
    rows = [
        # parameter, measure, year, low, high (cents)
        ("p1", "a", 2024, 100, 300),
        ("p1", "a", 2025, 100, 300),  # swing 400
        ("p2", "a", 2024, 0, 1000),  # swing 1000
        ("p2", "b", 2024, 500, 500),  # no swing: b has no driving assumption
    ]
    t = pl.DataFrame(
        rows,
        schema=[
            "parameter",
            "measure",
            "budget_year",
            "saving_low_net_cents",
            "saving_high_net_cents",
        ],
        orient="row",
    )
    assert driving_ranges(_Folder(t)) == {"a": ("p2", 0.0, 10.0)}
    assert driving_ranges(None) == {}
