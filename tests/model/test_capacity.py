"""Capacity and waiting lists (rules.capacity, engine.model.capacity, engine.model.month_outer).

What is proved here, each by a route other than the queue's own counters where there is one:
- capacity that never binds gives the engine without capacity, bit for bit;
- conservation: admitted <= free places, places held <= capacity (from the arrangements
  table), and the queue identity month by month, rebuilt from the final state of every
  request (when it joined, when and why it left);
- first come, first served within an urgency class (from the final state);
- fewer places lengthen waits and raise interim cost, shorter stays shorten waits, both
  monotone in the parameter.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.domain import (
    R_ADMITTED,
    R_GAVE_UP,
    S_ACTIVE,
    S_ENDED,
    S_WAITING,
    SLOT_INTERIM,
)
from engine.core.errors import InputError
from engine.model.layout import Q_ADMITTED
from engine.model.state import NO_MONTH
from engine.simulation.run import simulate_scenario
from tests.helpers import DATA, toy_spec

MONTHS = 48
SCALE = {"population.scale": 3.0}  # the toy population x 3: enough requests for a queue
START = 24 * 12  # 2024-01


def _measure(tmp, name: str, body: str) -> str:
    path = tmp / f"{name}.toml"
    path.write_text(f'[measure]\nname = "{name}"\nnumber = 90\nsource = "test"\n\n{body}')
    return str(path)


def _capacity_measure(tmp, name: str, **kw) -> str:
    """A measure changing the toy's protected-living places (bw) from 2025-01."""
    kw.setdefault("effective_from", "2025-01")
    keys = "\n".join(f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in kw.items())
    body = f'[[capacity]]\nname = "{name}_bw"\nproduct = "bw"\n{keys}\nsource = "test"\n'
    return _measure(tmp, name, body.replace("'", '"'))


def _stay_measure(tmp, name: str, factor: float) -> str:
    """A measure that shortens protected-living stays: the goal hazard times `factor`."""
    body = f"""[[rules]]
name = "{name}_bw_outflow"
primitive = "hazard_factor"
moments = ["monthly"]
effective_from = "2025-01"
scope = {{ domain = "wmo", products = ["bw"] }}
params = {{ factor = {factor}, min_months_in_care = 0 }}
source = "test"
"""
    return _measure(tmp, name, body)


def _run(capacity=True, measures=(), seed=1, overrides=None, months=MONTHS):
    spec = toy_spec(
        months=months,
        capacity=capacity,
        measures=list(measures),
        seed=seed,
        overrides={**SCALE, **(overrides or {})},
    )
    return simulate_scenario(spec)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("capacity")


@pytest.fixture(scope="module")
def base():
    return _run()


# --------------------------------------------------------------------- infinite capacity


@pytest.mark.parametrize("places", ['"unlimited"', "100000"])
def test_capacity_that_never_binds_gives_the_engine_without_capacity_bit_for_bit(tmp, places):
    off = _run(capacity=False)
    unl = _measure(
        tmp,
        "never_binds",
        f'[[capacity]]\nname = "bw_all"\nproduct = "bw"\nplaces = {places}\n'
        'effective_from = "2020-01"\nsource = "test"\n',
    )
    on = _run(capacity=True, measures=[unl])
    w = on.tables["waiting"]
    assert on.sim.queue.coupled > 50  # the month-outer driver stepped clients ...
    assert w["joined"].sum() > 20  # ... who asked for places, all given at once
    assert w["admitted_at_once"].sum() == w["joined"].sum() - w["left"].sum()
    assert w["waiting_end"].sum() == 0
    for name, frame in off.tables.items():
        if name == "affected":  # the run with the measure has its row, all zero
            assert on.tables[name].select(pl.col(pl.Int64).sum()).sum_horizontal().item() == 0
            continue
        assert frame.equals(on.tables[name]), name


@pytest.mark.parametrize(
    ("measures", "months"),
    [((), MONTHS), (("t4_review",), 12)],
    ids=["baseline", "review-ending-in-its-window"],
)
def test_the_month_outer_driver_stepping_every_client_gives_the_client_outer_kernel(
    tmp, monkeypatch, measures, months
):
    """Every client through the month-outer driver (not only those who may need a place):
    the same outputs bit for bit as the client-outer kernel, with places that never bind.
    With the review (t4) and a run that ends in its window, the driver closes the clients'
    cost segments at the run's end, where a review that dropped nothing books its event."""
    import engine.model.capacity as cap_mod

    real = cap_mod.compile_capacity

    def every_client(*args, **kw):
        cr = real(*args, **kw)
        cr.cap_params.coupled[:] = 1
        return cr

    toy = [str(DATA / "toy" / "measures" / f"{m}.toml") for m in measures]
    off = _run(capacity=False, measures=toy, months=months)
    unl = _measure(
        tmp,
        "never_binds_all",
        '[[capacity]]\nname = "bw_all"\nproduct = "bw"\nplaces = "unlimited"\n'
        'effective_from = "2020-01"\nsource = "test"\n',
    )
    monkeypatch.setattr(cap_mod, "compile_capacity", every_client)
    on = _run(capacity=True, measures=[*toy, unl], months=months)
    assert on.sim.queue.coupled == on.sim.state.n_clients
    if measures:
        assert off.tables["events"].filter(pl.col("event") == "reviewed")["count"].sum() > 0
    for name, frame in off.tables.items():
        if name != "affected":
            assert frame.equals(on.tables[name]), name


def test_without_capacity_the_library_capacity_is_not_used(base):
    off = _run(capacity=False)
    assert off.sim.queue is None
    assert "waiting" not in off.tables
    assert not off.tables["arrangements"].equals(base.tables["arrangements"])  # it binds


# --------------------------------------------------------------------- conservation


def _requests(res) -> pl.DataFrame:
    """Every request for a place, from the final state alone: the bound slot, its interim
    slot (the slot after it), when it joined, when it left the queue and how."""
    S = res.sim.state
    slots = S.slots
    interim = np.nonzero(slots["kind"] == SLOT_INTERIM)[0]
    bound = interim - 1
    b, i = slots[bound], slots[interim]
    asked = (b["start"] != NO_MONTH) | (i["start"] != NO_MONTH)
    b, i, bound = b[asked], i[asked], bound[asked]
    waited = i["since"] != NO_MONTH
    # joined: the interim's first month when it waited, else the place's first month
    join = np.where(waited, i["since"], b["since"]).astype(np.int64) - START
    never = 10**6
    admitted = np.where(
        ~waited,
        join,
        np.where(i["end_reason"] == R_ADMITTED, i["end_month"].astype(np.int64) - START, never),
    )
    gave_up = (b["status"] == S_ENDED) & (b["end_reason"] == R_GAVE_UP)
    left_other = waited & (b["status"] == S_ENDED) & ~gave_up & (i["end_reason"] != R_ADMITTED)
    left = np.where(gave_up | left_other, b["end_month"].astype(np.int64) - START, never)
    still = b["status"] == S_WAITING
    urgent = (S.clients["flags"][b["owner"]] & 1) != 0  # toy: urgent_flags = ["homeless"]
    return pl.DataFrame(
        {
            "slot": bound,
            "join": join,
            "admitted": admitted,
            "left": left,
            "still": still,
            "urgent": urgent,
            "waited": waited,
        }
    )


def _check_conservation(res) -> None:
    w = res.tables["waiting"].sort("month")
    # admitted <= free places, every month
    assert (w["admitted"] <= w["free"]).all()
    # nobody is moved out when places are cut: a month that admits ends within the capacity
    adm = w.filter(pl.col("admitted") > 0)
    assert (adm["occupied_end"] <= adm["capacity"]).all()
    # the queue identity and its continuity
    ident = w["waiting_start"] + w["joined"] - w["admitted"] - w["left"]
    assert (ident == w["waiting_end"]).all()
    assert (w["waiting_start"][1:] == w["waiting_end"][:-1]).all()
    # places held, counted by the accrual bins: never above the capacity
    arr = res.tables["arrangements"].filter(pl.col("product") == "bw")
    held = arr.group_by("month").agg(pl.col("arrangements").sum()).sort("month")
    cap = w.select("month", "capacity", "admitted").join(held, on="month", how="left")
    cap = cap.fill_null(0).filter(pl.col("admitted") > 0)
    assert (cap["arrangements"] <= cap["capacity"]).all()
    # the waiting list month by month, rebuilt from each request's final state
    rq = _requests(res)
    t = np.arange(w.height)[:, None]
    join = rq["join"].to_numpy()[None, :]
    out = np.minimum(rq["admitted"].to_numpy(), rq["left"].to_numpy())[None, :]
    waiting = ((join <= t) & (t < out)).sum(axis=1)
    assert np.array_equal(waiting, w["waiting_end"].to_numpy())
    joined = np.bincount(rq["join"].to_numpy(), minlength=w.height)[: w.height]
    assert np.array_equal(joined, w["joined"].to_numpy())
    adm = rq["admitted"].to_numpy()
    admitted = np.bincount(adm[adm < w.height], minlength=w.height)
    assert np.array_equal(admitted, w["admitted"].to_numpy())
    assert rq["still"].sum() == w["waiting_end"][-1]


def test_conservation_and_queue_identity_in_the_default_toy_run(base):
    w = base.tables["waiting"]
    assert w["waiting_end"].max() > 0
    assert w["admitted"].sum() > w["admitted_at_once"].sum()
    _check_conservation(base)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(factor=st.sampled_from([0.5, 0.7, 0.85, 1.0, 1.3]), seed=st.integers(1, 50))
def test_conservation_and_queue_identity_hold_for_any_places_and_seed(tmp, factor, seed):
    m = _capacity_measure(tmp, f"f{int(factor * 100)}", factor=factor)
    _check_conservation(_run(measures=[m], seed=seed))


def test_first_come_first_served_within_an_urgency_class(tmp):
    m = _capacity_measure(tmp, "tight", factor=0.6)
    res = _run(
        measures=[m], overrides={"groups.jong.flags": {"homeless": 0.3, "domestic_violence": 0.05}}
    )
    rq = _requests(res).filter(pl.col("waited"))
    assert rq.height > 20
    assert rq["urgent"].sum() > 3
    out = np.minimum(rq["admitted"].to_numpy(), rq["left"].to_numpy())
    join, adm, urg = rq["join"].to_numpy(), rq["admitted"].to_numpy(), rq["urgent"].to_numpy()
    n_checked = 0
    for j in np.nonzero(adm < 10**6)[0]:
        # nobody of the same class who joined earlier still waits when j gets its place
        same = (urg == urg[j]) & (join < join[j])
        assert not (same & (out > adm[j])).any(), (j, join[j], adm[j])
        # and within the month j joined, no waiting urgent request is passed by a regular one
        if not urg[j]:
            assert not ((urg & (join == join[j])) & (out > adm[j])).any()
        n_checked += int(same.sum())
    assert n_checked > 50


# --------------------------------------------------------------------- monotone effects


def _totals(res) -> tuple[int, int, int]:
    w = res.tables["waiting"]
    return (
        int(w["waiting_end"].sum()),  # client-months on the waiting list
        int(w["interim_gross_cents"].sum()),
        int(w["admitted_over_norm"].sum()),
    )


def test_fewer_places_lengthen_waits_and_raise_interim_cost_monotonically(tmp):
    factors = [1.0, 0.9, 0.8, 0.7]
    totals = [
        _totals(_run(measures=[_capacity_measure(tmp, f"cut{int(f * 100)}", factor=f)]))
        for f in factors
    ]
    waits = [t[0] for t in totals]
    cost = [t[1] for t in totals]
    assert waits == sorted(waits), waits
    assert waits[-1] > 2 * waits[0], waits
    assert cost == sorted(cost), cost
    assert cost[-1] > cost[0], cost


def test_shorter_stays_shorten_waits_monotonically(tmp):
    factors = [1.0, 2.0, 4.0, 8.0]
    totals = [_totals(_run(measures=[_stay_measure(tmp, f"stay{int(f)}", f)])) for f in factors]
    waits = [t[0] for t in totals]
    cost = [t[1] for t in totals]
    assert waits == sorted(waits, reverse=True), waits
    assert waits[-1] < waits[0], waits
    assert cost == sorted(cost, reverse=True), cost


def test_a_measure_that_frees_places_moves_the_same_clients_forward(tmp):
    """Common random numbers: with more places, every request waits no longer than in the
    base run, and no client asks in another month."""
    more = _run(measures=[_capacity_measure(tmp, "more", change=10)])
    base = _run()
    a = _requests(base).select("slot", "join", "admitted")
    b = _requests(more).select("slot", "join", "admitted")
    both = a.join(b, on="slot", suffix="_more")
    assert both.height == a.height == b.height
    assert (both["join"] == both["join_more"]).all()
    assert (both["admitted_more"] <= both["admitted"]).all()
    assert (both["admitted_more"] < both["admitted"]).sum() > 20


# --------------------------------------------------------------------- bad input


def test_a_capacity_measure_without_capacity_is_a_one_line_error(tmp):
    m = _capacity_measure(tmp, "nocap", factor=0.5)
    with pytest.raises(InputError, match=r"nocap\.toml: key capacity\[0\].*run has none") as e:
        _run(capacity=False, measures=[m])
    assert "\n" not in str(e.value)


def test_a_capacity_change_of_an_unbound_product_names_the_key(tmp):
    m = _measure(
        tmp,
        "badprod",
        '[[capacity]]\nname = "x"\nproduct = "beg"\nplaces = 3\n'
        'effective_from = "2025-01"\nsource = "test"\n',
    )
    with pytest.raises(InputError, match=r"capacity\[0\]\.product"):
        _run(measures=[m])


# --------------------------------------------------------------------- the README example


def test_the_readme_example_fewer_protected_living_places_from_2025():
    from engine.core.scenario import load_scenario
    from tests.helpers import ROOT

    scen = ROOT / "runs" / "scenarios"
    base = simulate_scenario(load_scenario(scen / "capacity-baseline.toml"))
    few = simulate_scenario(load_scenario(scen / "capacity-bw-fewer-places.toml"))

    def year(res, table, product, col):
        t = res.tables[table].filter(pl.col("product") == product)
        return dict(zip(t["budget_year"].to_list(), t[col].to_list(), strict=False))

    def cost(res, product):
        t = res.tables["arrangements_yearly"].filter(pl.col("product") == product)
        t = t.group_by("budget_year").agg(pl.col("gross_cents").sum())
        return dict(zip(t["budget_year"].to_list(), t["gross_cents"].to_list(), strict=True))

    wb = year(base, "waiting_yearly", "beschermd_wonen", "waiting_mean")
    wf = year(few, "waiting_yearly", "beschermd_wonen", "waiting_mean")
    assert wb[2024] == wf[2024]  # nothing changes before the cut
    for y in (2025, 2026, 2027):
        assert wb[y] < 5  # the baseline's queue is small
        assert wf[y] > 20  # the cut's is not
        bw_saved = cost(base, "beschermd_wonen")[y] - cost(few, "beschermd_wonen")[y]
        interim = cost(few, "begeleiding")[y] - cost(base, "begeleiding")[y]
        assert bw_saved > 0
        assert 0 < interim < bw_saved  # interim care eats part of the saving


# --------------------------------------------------------------------- weekly hours


def test_a_pool_of_weekly_hours_admits_by_minutes_within_its_hours(tmp):
    """Household help bound by staff hours (unit hours_w: a request needs its weekly
    minutes); interim: light begeleiding. Queue identity, and a month that admits ends
    within the hours."""
    from tests.helpers import DATA

    toy = (DATA / "toy" / "baseline.toml").read_text()
    head = toy.partition("[capacity.bw]")[0]
    (tmp / "hours_policy.toml").write_text(
        head
        + """[capacity.ho]
unit = "hours_w"
hours_w = { value = { "2024-01" = 650, "2025-01" = 560 }, source = "test" }
interim = { value = { product = "beg", step = "beg1" }, source = "test" }
"""
    )
    prof = (DATA / "toy" / "profile.toml").read_text()
    prof = prof.replace('policy = "baseline.toml"', f'policy = "{tmp / "hours_policy.toml"}"')
    (tmp / "hours_profile.toml").write_text(prof)
    res = simulate_scenario(
        toy_spec(profile=str(tmp / "hours_profile.toml"), months=MONTHS, capacity=True)
    )
    w = res.tables["waiting"].sort("month")
    assert set(w["unit"]) == {"hours_w"}
    assert w["waiting_end"].max() > 5
    assert w["admitted"].sum() > 20
    ident = w["waiting_start"] + w["joined"] - w["admitted"] - w["left"]
    assert (ident == w["waiting_end"]).all()
    adm = w.filter(pl.col("admitted") > 0)
    assert (adm["occupied_end"] <= adm["capacity"] + 1e-9).all()
    assert (w["occupied_end"] > 0.8 * w["capacity"]).all()  # the hours are used


def test_a_capacity_run_is_the_same_whatever_the_thread_count_and_event_stepping():
    from engine.model.rng import MODE_SEQUENTIAL

    one = simulate_scenario(toy_spec(months=MONTHS, capacity=True, overrides=SCALE, threads=1))
    two = simulate_scenario(toy_spec(months=MONTHS, capacity=True, overrides=SCALE, threads=2))
    for name, frame in one.tables.items():
        assert frame.equals(two.tables[name]), name
    seq = simulate_scenario(
        toy_spec(months=MONTHS, capacity=True, overrides=SCALE, rng_mode=MODE_SEQUENTIAL)
    )
    w = seq.tables["waiting"]
    assert w["joined"].sum() > 20
    assert (w["waiting_start"] + w["joined"] - w["admitted"] - w["left"] == w["waiting_end"]).all()


def test_clients_a_rule_moves_off_a_bound_product_neither_wait_nor_hold_a_place(tmp):
    """Measure 8 at a share of 1: from 2025 every protected-living intake and reindication of
    the GGZ groups (all protected-living clients of the default) becomes protected living at
    home. With places cut at the same time, nobody joins the queue from 2025, and the places
    held fall as the reindications move clients off."""
    from engine.core.scenario import load_scenario
    from tests.helpers import ROOT

    cut = tmp / "bw_cut.toml"
    cut.write_text(
        '[measure]\nname = "bw_cut"\nnumber = 91\nsource = "test"\n\n[[capacity]]\n'
        'name = "bw_half"\nproduct = "beschermd_wonen"\nfactor = 0.5\n'
        'effective_from = "2025-01"\nsource = "test"\n'
    )
    spec = load_scenario(ROOT / "runs" / "scenarios" / "capacity-baseline.toml")
    spec.measures = ["m08_protected_living_at_home_ggz", str(cut)]
    spec.measure_overrides = {"bw_to_semimural_ggz.params.share": 1.0}
    res = simulate_scenario(spec)
    w = res.tables["waiting"].filter(pl.col("product") == "beschermd_wonen").sort("month")
    later = w.filter(pl.col("month").dt.year() >= 2025)
    assert later["joined"].sum() == 0
    assert later["waiting_end"].sum() == 0
    held = later["occupied_end"].to_list()
    assert held[-1] < 0.5 * held[0]
    bw = res.tables["arrangements"].filter(pl.col("product") == "beschermd_wonen")
    last = bw.filter(pl.col("month") == bw["month"].max())["arrangements"].sum()
    assert last == held[-1]  # places held are the protected-living arrangements


def test_places_can_be_set_by_a_scenario_override():
    res = _run(overrides={"policy.capacity.bw.places": 80})
    w = res.tables["waiting"]
    assert set(w["capacity"].to_list()) == {80.0}
    assert (w.filter(pl.col("admitted") > 0)["occupied_end"] <= 80).all()


def test_district_pools_each_keep_their_own_queue(tmp):
    from tests.helpers import DATA

    toy = (DATA / "toy" / "baseline.toml").read_text()
    head = toy.partition("[capacity.bw]")[0]
    (tmp / "district_policy.toml").write_text(
        head
        + """[capacity.bw]
unit = "places"
districts = { "1" = 36, "2" = 36, "3" = 36 }
interim = { value = { product = "beg", step = "beg3" }, source = "test" }
"""
    )
    prof = (DATA / "toy" / "profile.toml").read_text()
    prof = prof.replace('policy = "baseline.toml"', f'policy = "{tmp / "district_policy.toml"}"')
    (tmp / "district_profile.toml").write_text(prof)
    res = simulate_scenario(
        toy_spec(
            profile=str(tmp / "district_profile.toml"),
            months=MONTHS,
            capacity=True,
            overrides=SCALE,
        )
    )
    w = res.tables["waiting"]
    assert sorted(set(w["district"].to_list())) == [1, 2, 3]
    for _, sub in w.group_by("district"):
        sub = sub.sort("month")
        assert (sub["admitted"] <= sub["free"]).all()
        ident = sub["waiting_start"] + sub["joined"] - sub["admitted"] - sub["left"]
        assert (ident == sub["waiting_end"]).all()
    assert w["joined"].sum() > 20
    assert w["waiting_end"].max() > 0
    # each pool holds its own district's clients: places held per district from the state
    S = res.sim.state
    bw = int(res.sim.capacity.pool_product[0])
    held = S.slots[(S.slots["product"] == bw) & (S.slots["status"] == S_ACTIVE)]
    by_d = np.bincount(S.clients["district"][held["owner"]], minlength=4)[1:]
    end = w.filter(pl.col("month") == w["month"].max()).sort("district")["occupied_end"]
    assert by_d.tolist() == [int(v) for v in end.to_list()]


def test_capacity_on_with_a_library_without_capacity_is_a_one_line_error(tmp):
    from tests.helpers import DATA

    toy = (DATA / "toy" / "baseline.toml").read_text()
    (tmp / "nocap_policy.toml").write_text(toy.partition("# capacity (rules.capacity)")[0])
    prof = (DATA / "toy" / "profile.toml").read_text()
    prof = prof.replace('policy = "baseline.toml"', f'policy = "{tmp / "nocap_policy.toml"}"')
    (tmp / "nocap_profile.toml").write_text(prof)
    with pytest.raises(InputError, match=r"nocap_policy\.toml: key capacity.*no capacity-bound"):
        simulate_scenario(toy_spec(profile=str(tmp / "nocap_profile.toml"), capacity=True))


def test_stepping_every_month_gives_the_event_stepped_capacity_run_bit_for_bit():
    from engine.simulation.run import load_measures
    from engine.simulation.simulate import simulate
    from synthetic_population.generator import generate
    from synthetic_population.profile import load_profile

    spec = toy_spec(months=MONTHS, capacity=True, overrides=SCALE)
    profile, policy = load_profile(spec.profile, spec.overrides)
    pop = generate(profile, policy, 1, MONTHS)
    ms = load_measures(spec, profile, policy)
    runs = [
        simulate(
            profile,
            policy,
            pop,
            profile.start,
            MONTHS,
            1,
            measures=ms,
            capacity=True,
            every_month=every,
        )  # fmt: skip
        for every in (False, True)
    ]
    a, b = (r.queue for r in runs)
    assert a.stats[..., Q_ADMITTED].sum() > 20
    assert np.array_equal(a.stats, b.stats)
    assert np.array_equal(a.wait_adm, b.wait_adm)
    assert np.array_equal(runs[0].arr, runs[1].arr)
    assert np.array_equal(runs[0].cli, runs[1].cli)


def test_the_state_with_interim_slots_is_kept_in_the_population_cache_and_gives_the_same_run():
    import os
    from pathlib import Path

    cache = Path(os.environ["CASELOAD_POPULATION_CACHE"])
    first = _run(seed=3)
    kept = sorted(cache.glob("*/state-*-capacity-*"))
    assert kept  # kept beside the population's own state
    for f in kept:  # a run that finds it loads it: the same outputs bit for bit
        assert (f / "slots.npy").exists()
    again = _run(seed=3)
    for name, frame in first.tables.items():
        assert frame.equals(again.tables[name]), name
    n = again.sim.state.n_slots
    assert n == again.sim.state.clients["arr_hi"].max()
