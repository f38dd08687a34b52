"""Why costs move: the net cost change split into volume, mix and price.

Toy frames where the answer is known (only prices indexed -> price; more arrangements at the
same mix and prices -> volume; a shift between steps -> mix; a worked example by hand), the
parts checked against a Shapley value computed here from its definition (a weighted sum over
coalitions of the four factors Q, shares, intensity and tariff, not the module's four corner
values) and sums exact to the cent on random frames. Toy runs through the command line are
in test_explain.py.

Sign convention under test: change = to minus from; a saving is negative.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction
from itertools import combinations

import polars as pl
import pytest

from engine.simulation.decomposition import LEVELS, Period, decompose
from tests.helpers import TOY_PROFILE
from tests.helpers import decomposition_row as row

PARTS = ("volume_cents", "mix_cents", "price_cents")
SCHEMA = {
    "domain": pl.Utf8,
    "group": pl.Utf8,
    "product": pl.Utf8,
    "step": pl.Utf8,
    "arrangement_months": pl.Int64,
    "gross_cents": pl.Int64,
    "own_contribution_cents": pl.Int64,
}


def period(
    cells: list[tuple],
    prices: dict[tuple[str, str], int],
    scale=Fraction(1),
    own=Fraction(2000),
    year=2024,
    run="a",
) -> Period:
    """cells: (domain, group, product, step, arrangement-months, gross cents, own contribution
    cents)."""
    frame = pl.DataFrame(cells, schema=SCHEMA, orient="row")
    tariffs = pl.DataFrame(
        [(p, s, c) for (p, s), c in prices.items()],
        schema={"product": pl.Utf8, "step": pl.Utf8, "price_cents_w": pl.Int64},
        orient="row",
    )
    return Period(run, year, frame, tariffs, Fraction(scale), Fraction(own))


PRICES = {("ho", "hh1"): 1000, ("ho", "hh2"): 2000, ("beg", "beg1"): 500, ("jamb", "j1"): 3000}
A = [
    ("wmo", "oud", "ho", "hh1", 100, 100_000, 20_000),
    ("wmo", "oud", "ho", "hh2", 50, 100_000, 10_000),
    ("wmo", "jong", "beg", "beg1", 40, 20_000, 0),
    ("jeugd", "j12", "jamb", "j1", 30, 90_000, 0),
]


# ----------------------------------------------------------------------------- known answers
def test_only_prices_indexed_is_all_price():
    # every cost and the own contribution x 1.05, the tariffs indexed by 1.05: same quantities
    b_cells = [
        (d, g, p, s, q, gross * 105 // 100, own * 105 // 100) for d, g, p, s, q, gross, own in A
    ]
    out = decompose(
        period(A, PRICES), period(b_cells, PRICES, scale=Fraction("1.05"), own=2100, year=2025)
    )
    assert out.height > 0
    for r in out.iter_rows(named=True):
        assert r["volume_cents"] == 0, r
        assert r["mix_cents"] == 0, r
        assert r["price_cents"] == r["net_cents_change"] == (r["net_cents_from"] * 5) // 100, r
    assert row(out, "total")["price_cents"] == (310_000 - 30_000) * 5 // 100  # 14,000 cents by hand


def test_more_arrangements_at_the_same_mix_and_prices_is_all_volume():
    b_cells = [
        (d, g, p, s, q * 3 // 2, gross * 3 // 2, own * 3 // 2) for d, g, p, s, q, gross, own in A
    ]
    out = decompose(period(A, PRICES), period(b_cells, PRICES, year=2025))
    for r in out.iter_rows(named=True):
        assert r["mix_cents"] == 0, r
        assert r["price_cents"] == 0, r
        assert r["volume_cents"] == r["net_cents_change"] == r["net_cents_from"] // 2, r
    assert row(out, "total")["volume_cents"] == 140_000


def test_a_shift_between_steps_at_constant_arrangements_is_mix():
    # 50 arrangement-months move from hh1 (10.00 a month) to hh2 (20.00): +500.00, all mix
    b_cells = [
        ("wmo", "oud", "ho", "hh1", 50, 50_000, 10_000),
        ("wmo", "oud", "ho", "hh2", 100, 200_000, 20_000),
        *A[2:],
    ]
    out = decompose(period(A, PRICES), period(b_cells, PRICES, year=2025))
    r = row(out, "domain_product_group", domain="wmo", product="ho", group="oud")
    assert (r["net_cents_change"], r["volume_cents"], r["mix_cents"], r["price_cents"]) == (
        50_000,
        0,
        50_000,
        0,
    )
    assert row(out, "total")["mix_cents"] == 50_000
    assert row(out, "total")["volume_cents"] == 0
    assert row(out, "domain", domain="jeugd")["net_cents_change"] == 0


def test_a_cap_within_a_step_is_mix_not_price():
    # same arrangement-months and tariffs, hh2 capped from 20.00 to 15.00 a month
    b_cells = [A[0], ("wmo", "oud", "ho", "hh2", 50, 75_000, 10_000), *A[2:]]
    r = row(
        decompose(period(A, PRICES), period(b_cells, PRICES, year=2025)), "domain", domain="wmo"
    )
    assert (r["net_cents_change"], r["volume_cents"], r["mix_cents"], r["price_cents"]) == (
        -25_000,
        0,
        -25_000,
        0,
    )


def test_worked_example_by_hand():
    # one cell: 10 months at 100 cents -> 20 months at 110 cents (tariff x 1.1, no mix change).
    # Two factors then, Shapley by hand: volume = dQ x (P0 + P1) / 2 = 10 x 105 = 1,050;
    # price = dP x (Q0 + Q1) / 2 = 10 x 15 = 150; together 1,200 = 2,200 - 1,000.
    prices = {("ho", "hh1"): 100}
    a = period([("wmo", "oud", "ho", "hh1", 10, 1_000, 0)], prices)
    b = period(
        [("wmo", "oud", "ho", "hh1", 20, 2_200, 0)], prices, scale=Fraction(11, 10), year=2025
    )
    r = row(decompose(a, b), "total")
    assert (
        r["net_cents_change"],
        r["volume_cents"],
        r["mix_cents"],
        r["price_cents"],
        r["residual_cents"],
    ) == (1_200, 1_050, 0, 150, 0)


def test_a_line_that_enters_is_all_volume_and_a_cell_that_enters_needs_no_imputed_price():
    # jeugd appears only in b; within ho/oud, hh2 is new in b while the tariffs rise 10%
    a_cells = [("wmo", "oud", "ho", "hh1", 100, 100_000, 0)]
    b_cells = [
        ("wmo", "oud", "ho", "hh1", 100, 110_000, 0),
        ("wmo", "oud", "ho", "hh2", 10, 22_000, 0),
        ("jeugd", "j12", "jamb", "j1", 30, 90_000, 0),
    ]
    out = decompose(
        period(a_cells, PRICES, own=0),
        period(b_cells, PRICES, scale=Fraction("1.1"), own=0, year=2025),
    )
    j = row(out, "domain", domain="jeugd")
    assert (j["net_cents_change"], j["volume_cents"], j["mix_cents"], j["price_cents"]) == (
        90_000,
        90_000,
        0,
        0,
    )
    w = row(out, "domain", domain="wmo")
    exact = shapley_by_definition(
        [(100, 100, 100_000, 110_000, Fraction(11, 10)), (0, 10, 0, 22_000, Fraction(11, 10))]
    )
    assert all(abs(w[p] - x) < 1 for p, x in zip(PARTS, exact, strict=True))
    # by hand: Q 100 -> 110 (lambda 1.1); Q0 x sum m P at the corners: 100,000 (m0 P0),
    # 110,000 (m0 P1), 120,000 / 1.1 (m1 P0), 120,000 (m1 P1); price = 1/3 x 10,000 +
    # 1/6 x 11,000 + 1/6 x (120,000 - 109,090.9) + 1/3 x 12,000 = 10,984.85
    assert w["price_cents"] == 10_985
    assert w["net_cents_change"] == 32_000


def test_net_is_gross_minus_own_contributions_part_by_part():
    b_cells = [
        ("wmo", "oud", "ho", "hh1", 120, 126_000, 25_200),
        ("wmo", "oud", "ho", "hh2", 40, 84_000, 8_400),
        *A[2:],
    ]
    out = decompose(
        period(A, PRICES), period(b_cells, PRICES, scale=Fraction("1.05"), own=2100, year=2025)
    )
    for r in out.iter_rows(named=True):
        assert r["net_cents_change"] == (r["gross_cents_to"] - r["own_contribution_cents_to"]) - (
            r["gross_cents_from"] - r["own_contribution_cents_from"]
        )
        for part in ("volume", "mix", "price"):
            assert r[f"{part}_cents"] == r[f"gross_{part}_cents"] - r[f"own_{part}_cents"], (
                part,
                r,
            )
    # own contributions: 30,000 -> 33,600; the monthly amount x 1.05 is their price part
    own = row(out, "domain_product", domain="wmo", product="ho")
    assert own["own_volume_cents"] + own["own_mix_cents"] + own["own_price_cents"] == 3_600
    # by hand: 150 -> 160 arrangement-months, each paying a tenth of the monthly amount 2,000 ->
    # 2,100, so no mix; volume = 10 x 0.1 x (2,000 + 2,100) / 2 = 2,050, price = 100 x 0.1 x
    # (150 + 160) / 2 = 1,550
    assert (own["own_volume_cents"], own["own_mix_cents"], own["own_price_cents"]) == (
        2_050,
        0,
        1_550,
    )


def test_a_saving_is_negative():
    b_cells = [(d, g, p, s, q // 2, gross // 2, own // 2) for d, g, p, s, q, gross, own in A]
    r = row(decompose(period(A, PRICES), period(b_cells, PRICES, run="measure")), "total")
    assert r["net_cents_change"] == -140_000
    assert r["volume_cents"] == -140_000
    assert r["from_run"] == "a"
    assert r["to_run"] == "measure"


def test_the_tariff_is_the_step_price_times_the_index_and_the_days_of_the_year():
    from engine.simulation.decomposition import months_of_year, period_of
    from synthetic_population.profile import load_profile

    policy = load_profile(TOY_PROFILE)[1]
    cells = pl.DataFrame(schema=SCHEMA)
    p24 = period_of("x", 2024, cells, policy, months_of_year("2024-01", 36, 2024))
    p26 = period_of("x", 2026, cells, policy, months_of_year("2024-01", 36, 2026))
    # toy policy: index 1.00 in 2024 and 1.04 in 2026; own contribution EUR 20.00 a month
    assert p24.scale == Fraction(366, 12 * 7)
    assert p26.scale == Fraction(104, 100) * Fraction(365, 12 * 7)
    assert (p24.own_cents, p26.own_cents) == (2_000, 2_080)
    tariff = {
        (r["product"], r["step"]): r["price_cents_w"] for r in p26.tariffs.iter_rows(named=True)
    }
    assert tariff[("ho", "ho2")] == 6_000
    assert tariff[("jamb", "jamb2")] == 250_000
    # a run from 2024-07: budget year 2024 is July to December (184 days in 6 months)
    assert months_of_year("2024-07", 12, 2024) == [(2024, m) for m in range(7, 13)]
    assert period_of(
        "x", 2024, cells, policy, months_of_year("2024-07", 12, 2024)
    ).scale == Fraction(184, 6 * 7)


# ----------------------------------------------------------------------------- exact to the cent
def shapley_by_definition(
    cells: list[tuple[int, int, int, int, Fraction]],
) -> tuple[Fraction, Fraction, Fraction]:
    """(volume, mix, price) from the definition: cost = Q x sum_c s_c x k_c x P_c with shares
    s = q / Q, intensity k = K / (q P) and tariff P (P0 = 1, P1 = r); mix is the coalition
    of (s, k) together. Shapley weight of a coalition S of the other two players:
    |S|! (3 - |S| - 1)! / 3!. A line absent in one period moves by volume only."""
    q0, q1 = sum(c[0] for c in cells), sum(c[1] for c in cells)
    k0, k1 = sum(c[2] for c in cells), sum(c[3] for c in cells)
    if q0 == 0 or q1 == 0:
        return Fraction(k1 - k0), Fraction(0), Fraction(0)
    state = []
    for qa, qb, ka, kb, r in cells:
        sa, sb = Fraction(qa, q0), Fraction(qb, q1)
        pa, pb = Fraction(1), Fraction(r)
        ia = Fraction(ka) / (qa * pa) if qa else Fraction(0)
        ib = Fraction(kb) / (qb * pb) if qb else Fraction(0)
        state.append(((sa, ia), (sb, ib), (pa, pb)))

    def cost(vol: bool, mix: bool, price: bool) -> Fraction:
        total = Fraction(0)
        for m0, m1, (pa, pb) in state:
            s, k = m1 if mix else m0
            total += s * k * (pb if price else pa)
        return (q1 if vol else q0) * total

    players = ("vol", "mix", "price")
    out = []
    for who in players:
        others = [p for p in players if p != who]
        phi = Fraction(0)
        for size in range(3):
            w = Fraction(math.factorial(size) * math.factorial(2 - size), 6)
            for coal in combinations(others, size):
                with_i = {p: (p in coal or p == who) for p in players}
                without = {p: (p in coal) for p in players}
                phi += w * (
                    cost(with_i["vol"], with_i["mix"], with_i["price"])
                    - cost(without["vol"], without["mix"], without["price"])
                )
        out.append(phi)
    return tuple(out)


def random_periods(rng: random.Random) -> tuple[Period, Period, list]:
    cells = [
        ("wmo", g, p, s)
        for g in ("oud", "jong")
        for p, s in (("ho", "hh1"), ("ho", "hh2"), ("beg", "beg1"))
    ] + [("jeugd", "j12", "jamb", "j1")]
    prices = {k: rng.choice([0, 1, 997, 2500, 40_000]) for k in PRICES}
    a, b = [], []
    for d, g, p, s in cells:
        for side in (a, b):
            if rng.random() < 0.2:
                continue  # the cell is absent in this period
            q = rng.randint(1, 5_000)
            gross = q * rng.randint(0, 300_000)
            own = min(gross, q * rng.choice([0, 0, 2_060])) if d == "wmo" else 0
            side.append((d, g, p, s, q, gross, own))
    sa = Fraction(rng.randint(90, 130), 100) * Fraction(rng.choice([365, 366]), 12 * 7)
    sb = Fraction(rng.randint(90, 130), 100) * Fraction(rng.choice([365, 366]), 12 * 7)
    pa = period(a, prices, scale=sa, own=rng.choice([0, 2060, 2100]))
    pb = period(b, prices, scale=sb, own=rng.choice([0, 2060, 2287]), year=2027)
    return pa, pb, cells


@pytest.mark.parametrize("seed", range(12))
def test_parts_add_up_to_the_change_to_the_cent_and_match_the_definition(seed):
    rng = random.Random(seed)
    pa, pb, _ = random_periods(rng)
    out = decompose(pa, pb)
    a, b = pa.cells, pb.cells
    for r in out.iter_rows(named=True):
        keys = {k: r[k] for k in ("domain", "product", "group") if r[k] is not None}
        assert set(keys) == set(LEVELS[r["level"]])
        fa, fb = a, b
        for k, v in keys.items():
            fa, fb = fa.filter(pl.col(k) == v), fb.filter(pl.col(k) == v)
        # the totals are the cells' sums, the change is to minus from, exact
        net_a = int(fa["gross_cents"].sum() - fa["own_contribution_cents"].sum())
        net_b = int(fb["gross_cents"].sum() - fb["own_contribution_cents"].sum())
        assert (r["net_cents_from"], r["net_cents_to"], r["net_cents_change"]) == (
            net_a,
            net_b,
            net_b - net_a,
        )
        assert r["volume_cents"] + r["mix_cents"] + r["price_cents"] == r["net_cents_change"]
        assert r["residual_cents"] == 0
        # every part within a cent of the Shapley value from its definition (gross, own
        # contributions), the net part within two cents
        price_a = dict(
            zip(
                zip(pa.tariffs["product"], pa.tariffs["step"], strict=True),
                pa.tariffs["price_cents_w"],
                strict=True,
            )
        )
        price_b = dict(
            zip(
                zip(pb.tariffs["product"], pb.tariffs["step"], strict=True),
                pb.tariffs["price_cents_w"],
                strict=True,
            )
        )
        exact = {
            "gross": shapley_by_definition(
                line_cells(
                    fa,
                    fb,
                    "gross_cents",
                    lambda k, ta=price_a, tb=price_b: relative(tb[k] * pb.scale, ta[k] * pa.scale),
                )
            ),
            "own": shapley_by_definition(
                line_cells(
                    fa, fb, "own_contribution_cents", lambda k: relative(pb.own_cents, pa.own_cents)
                )
            ),
        }
        for i, part in enumerate(("volume", "mix", "price")):
            assert abs(r[f"gross_{part}_cents"] - exact["gross"][i]) < 1, (
                part,
                r,
                float(exact["gross"][i]),
            )
            assert abs(r[f"own_{part}_cents"] - exact["own"][i]) < 1, (
                part,
                r,
                float(exact["own"][i]),
            )
            assert abs(r[f"{part}_cents"] - (exact["gross"][i] - exact["own"][i])) < 2
        assert (
            r["gross_volume_cents"] + r["gross_mix_cents"] + r["gross_price_cents"]
            == r["gross_cents_to"] - r["gross_cents_from"]
        )


def relative(new, old) -> Fraction:
    return Fraction(new) / Fraction(old) if new and old else Fraction(1)


def line_cells(fa: pl.DataFrame, fb: pl.DataFrame, money: str, r_of) -> list:
    """(q0, q1, K0, K1, r) per cell of a line; r_of((product, step)) the price relative."""
    ka = {
        (r["domain"], r["group"], r["product"], r["step"]): (r["arrangement_months"], r[money])
        for r in fa.iter_rows(named=True)
    }
    kb = {
        (r["domain"], r["group"], r["product"], r["step"]): (r["arrangement_months"], r[money])
        for r in fb.iter_rows(named=True)
    }
    out = []
    for key in sorted(set(ka) | set(kb)):
        (q0, k0), (q1, k1) = ka.get(key, (0, 0)), kb.get(key, (0, 0))
        out.append((q0, q1, k0, k1, r_of(key[2:])))
    return out
