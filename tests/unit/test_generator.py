"""The synthetic population: stock and pool are told apart by who they are, not by the sign
of a month (month indices before 2000 are negative); its draws and placement give what
NumPy's own routines give."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.months import month_index
from synthetic_population.draws import _choice
from synthetic_population.generator import generate
from synthetic_population.placement import Placed, runs_of
from synthetic_population.profile import load_profile
from tests.helpers import TOY_PROFILE


def test_a_start_before_2000_keeps_pool_arrivals_and_support_months():
    profile, policy = load_profile(TOY_PROFILE)
    start = month_index(1999, 7)
    pop = generate(profile, policy, 5, 12, start)
    clients = pop.clients
    n_stock = sum(int(round(g.stock * profile.scale)) for g in profile.groups)
    assert clients["arrival_month"].null_count() == n_stock
    arrivals = clients["arrival_month"].drop_nulls()
    assert arrivals.min() == start
    assert (arrivals < 0).sum() > 0
    held = pop.arrangements.join(
        clients.select("client_id", "arrival_month"), on="client_id"
    ).filter(pl.col("arrival_month").is_null() & (pl.col("slot_kind") == "initial"))
    for col in ["start_month", "planned_end_month", "support_since_month"]:
        assert held[col].null_count() == 0, col
    assert (held["support_since_month"] < 0).sum() > 0
    assert np.all(held["start_month"].to_numpy() <= start)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(1, 120), min_size=1, max_size=20),
    st.integers(1, 5),
    st.integers(0, 2**32 - 1),
)
def test_placing_parts_by_runs_puts_every_value_at_its_row(block_lengths, n_parts, seed):
    """`Placed` copies a part's values as slices where its rows form few runs (a stock, a
    pool's months) and one by one otherwise, the parts put from two threads in any order:
    each value lands at its row, checked against NumPy's own put-at-index. The rows: blocks
    of consecutive rows in a shuffled order, cut into parts."""
    rng = np.random.default_rng(seed)
    starts = np.cumsum([0, *block_lengths[:-1]])
    blocks = [np.arange(a, a + k) for a, k in zip(starts, block_lengths, strict=True)]
    order = np.concatenate([blocks[i] for i in rng.permutation(len(blocks))])
    n = order.size
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(n_parts - 1, n - 1), replace=False))
    parts = np.split(order, cuts)
    values = [rng.integers(-(2**40), 2**40, (rows.size, 2)) for rows in parts]
    placed = Placed(n)
    with ThreadPoolExecutor(2) as pool:
        jobs = [
            pool.submit(placed.put, {"x": values[i].copy()}, parts[i], ["x"])
            for i in rng.permutation(len(parts))
        ]
        for job in jobs:
            job.result()
    expected = np.empty((n, 2), dtype=np.int64)
    for v, rows in zip(values, parts, strict=True):
        expected[rows] = v
    assert np.array_equal(placed.arrays["x"], expected)


def test_parts_of_another_dtype_are_refused():
    """Whichever part comes first makes an array: a part of another type is an error, not a
    silent cast whose result would depend on the threads' order."""
    placed = Placed(4)
    placed.put({"x": np.zeros(2, dtype=np.int16)}, np.arange(2), ["x"])
    with pytest.raises(TypeError, match="x: a part of int32"):
        placed.put({"x": np.zeros(2, dtype=np.int32)}, np.arange(2, 4), ["x"])


def test_a_part_of_few_runs_is_copied_as_slices_and_a_scattered_one_is_not():
    assert runs_of(np.arange(5, 5 + 100)) == [(5, 0, 100)]
    two = np.concatenate([np.arange(0, 64), np.arange(200, 264)])
    assert runs_of(two) == [(0, 0, 64), (200, 64, 64)]
    assert runs_of(np.arange(0, 200, 2)) is None  # every row a run of its own


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.just(0.0), st.floats(0.001, 50.0), st.integers(1, 9).map(float)),
             min_size=1, max_size=12).filter(lambda w: sum(w) > 0),
    st.integers(0, 3000),
    st.integers(0, 2**63 - 1),
)  # fmt: skip
def test_a_weighted_choice_is_numpys_choice_index_for_index(weights, n, seed):
    """The generator's weighted choice (counting the distribution's entries below each
    uniform) draws what `Generator.choice(k, n, p=w / w.sum())` draws from the same stream,
    and leaves the stream where NumPy leaves it; weights of zero and ties included."""
    w = np.array(weights)
    ours, numpys = (np.random.Generator(np.random.Philox(seed)) for _ in range(2))
    drawn = _choice(ours, weights, n)
    assert np.array_equal(drawn, numpys.choice(len(w), size=n, p=w / w.sum()))
    assert ours.random() == numpys.random()
    assert not n or w[drawn].min() > 0  # never an index of weight zero


def test_text_columns_are_dictionary_encoded_and_sort_as_their_text():
    """The generator's text columns are Enums (one byte a row) that sort, compare and read
    as the same column of plain text does."""
    profile, policy = load_profile(TOY_PROFILE)
    pop = generate(profile, policy, 3, 12)
    for frame in (pop.clients, pop.arrangements):
        text = [c for c, t in frame.schema.items() if isinstance(t, pl.Enum)]
        assert {"group", "product", "step", "slot_kind"} & set(text)
        for col in text:
            encoded, plain = frame[col], frame[col].cast(pl.Utf8)
            assert encoded.sort().cast(pl.Utf8).to_list() == plain.sort().to_list(), col
            first = plain.drop_nulls()[0]
            assert (encoded == first).to_list() == (plain == first).to_list(), col


def test_the_population_does_not_depend_on_the_number_of_draw_threads(monkeypatch):
    """Parts are drawn, and their clients and slots placed, on as many threads as there are:
    the same frames on one thread as on two."""
    from synthetic_population import generator

    profile, policy = load_profile(TOY_PROFILE)
    frames = {}
    for threads in (1, 2):
        monkeypatch.setattr(generator, "DRAW_THREADS", threads)
        pop = generate(profile, policy, 3, 12)
        frames[threads] = (pop.clients, pop.arrangements)
    for one, two in zip(frames[1], frames[2], strict=True):
        assert one.equals(two)


def test_the_client_arrays_are_let_go_of_before_the_arrangements_frame(monkeypatch):
    """A first run writes the clients frame, lets go of it and only then asks for the
    arrangements frame: by then nothing holds the arrays the clients frame was made from
    (the population cache's miss path: its peak memory)."""
    import gc
    import weakref

    from synthetic_population import generator

    held = []
    make = generator._client_frame

    def client_frame(cl, client_id, codes):
        held.extend(weakref.ref(v) for v in cl.values())
        return make(cl, client_id, codes)

    monkeypatch.setattr(generator, "_client_frame", client_frame)
    profile, policy = load_profile(TOY_PROFILE)
    parts = generator.generate_parts(profile, policy, 3, 12, release_memory=True)
    next(parts)
    next(parts)  # the clients frame, let go of at once
    arrangements = next(parts)
    gc.collect()
    assert held
    assert all(ref() is None for ref in held)
    assert arrangements.height > 0
    parts.close()
