"""build_state: a population's text codes become the kernel's integer codes; bad codes are
input errors that name the column (the kernel indexes its bins with these codes unchecked)."""

from dataclasses import replace

import polars as pl
import pytest

from engine.core.errors import InputError
from engine.model.state import build_state
from synthetic_population.generator import Population, generate
from synthetic_population.profile import load_profile
from tests.helpers import TOY_PROFILE


@pytest.fixture(scope="module")
def toy():
    profile, policy = load_profile(TOY_PROFILE)
    return profile, policy, generate(profile, policy, 3, 12)


def _with(pop: Population, frame: str, col: str, row: int, value) -> Population:
    """`pop` with one value changed; a text column becomes plain text (as an extract gives
    it: the generator's dictionary-encoded text cannot hold a code it does not know)."""
    df = getattr(pop, frame)
    df = df.with_columns(pl.col(pl.Enum).cast(pl.Utf8))
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.lit(value, dtype=df[col].dtype))
        .otherwise(pl.col(col))
        .alias(col)
    )
    parts = {"clients": pop.clients, "arrangements": pop.arrangements, frame: df}
    return Population(
        parts["clients"],
        parts["arrangements"],
        pop.pool_rate,
        pop.group_codes,
        pop.start,
        pop.months,
    )


def test_codes_map_to_the_policy_catalogue(toy):
    profile, policy, pop = toy
    s = build_state(pop, policy, profile.group_codes)
    products = policy.product_codes
    got = [
        (products[p], policy.product(products[p]).steps[st].code)
        for p, st in zip(s.product.tolist(), s.step.tolist(), strict=True)
    ]
    assert got == list(
        zip(pop.arrangements["product"].to_list(), pop.arrangements["step"].to_list(), strict=True)
    )


@pytest.mark.parametrize(
    ("col", "value", "message"),
    [
        ("product", "nope", "arrangements.product: unknown code(s) ['nope']"),
        ("product", None, "arrangements.product: missing"),
        ("slot_kind", "weird", "arrangements.slot_kind: unknown code(s) ['weird']"),
        ("funding", "x", "arrangements.funding: unknown code(s) ['x']"),
    ],
)
def test_bad_arrangement_codes_are_input_errors(toy, col, value, message):
    profile, policy, pop = toy
    with pytest.raises(InputError) as err:
        build_state(_with(pop, "arrangements", col, 3, value), policy, profile.group_codes)
    assert message in str(err.value)


def test_dictionary_encoded_text_maps_as_plain_text_and_names_an_unknown_code(toy):
    """The generator's text columns are Enums: the state maps their dictionary, the same
    state as from plain text; a dictionary entry the policy does not know is an error only
    where a row uses it."""
    profile, policy, pop = toy
    assert isinstance(pop.arrangements["product"].dtype, pl.Enum)
    plain = {
        f: getattr(pop, f).with_columns(pl.col(pl.Enum).cast(pl.Utf8))
        for f in ("clients", "arrangements")
    }
    a = build_state(pop, policy, profile.group_codes)
    for kind in (pl.Utf8, pl.Categorical):  # Categorical: an Enum that lost its tag in a tool
        frames = {
            f: getattr(pop, f).with_columns(pl.col(pl.Enum).cast(kind))
            for f in ("clients", "arrangements")
        }
        b = build_state(replace(pop, **frames), policy, profile.group_codes)
        assert a.clients.tobytes() == b.clients.tobytes()
        assert a.slots.tobytes() == b.slots.tobytes()

    def funding(values: list[str], dictionary: list[str]) -> Population:
        column = pl.Series("funding", values, dtype=pl.Enum(dictionary))
        return replace(pop, arrangements=pop.arrangements.with_columns(column))

    as_drawn = plain["arrangements"]["funding"].to_list()
    unused = funding(as_drawn, ["zin", "pgb", "unused"])
    assert build_state(unused, policy, profile.group_codes).slots.tobytes() == a.slots.tobytes()
    with pytest.raises(InputError, match=r"arrangements.funding: unknown code\(s\) \['x'\]"):
        build_state(funding([*as_drawn[:3], "x", *as_drawn[4:]], ["x", "zin", "pgb"]), policy,
                    profile.group_codes)  # fmt: skip


def test_a_step_the_product_does_not_have_is_an_input_error(toy):
    profile, policy, pop = toy
    ar = pop.arrangements
    row = ar.with_row_index().filter(pl.col("product") == "beg")["index"][0]
    for value in ["zz", "ho1", None]:
        with pytest.raises(InputError, match=r"arrangements.step of beg: unknown code\(s\)"):
            build_state(_with(pop, "arrangements", "step", row, value), policy, profile.group_codes)


def test_a_missing_ho_step_is_taken_from_the_minutes(toy):
    """Blank the step of start-stock household-help rows in every band: the run prices each
    at the step the generator drew from the same minutes (the step column is only a label
    for household help; the kernel derives it from the minutes)."""
    from engine.simulation.simulate import simulate

    profile, policy, pop = toy
    ho = pop.arrangements.with_row_index().filter(
        (pl.col("product") == "ho") & (pl.col("start_month") <= profile.start)
    )
    rows = ho.unique("step", keep="first", maintain_order=True)["index"].to_list()
    assert len(rows) >= 2  # more than one band is exercised
    blanked = pop
    for row in rows:
        blanked = _with(blanked, "arrangements", "step", row, None)
    build_state(blanked, policy, profile.group_codes)  # accepted
    sim = simulate(profile, policy, blanked, profile.start, 1, 1, trace=True)
    steps = policy.product("ho").steps
    got = [steps[int(sim.trace_step[r, 0])].code for r in rows if sim.trace_step[r, 0] >= 0]
    want = [pop.arrangements["step"][r] for r in rows if sim.trace_step[r, 0] >= 0]
    assert len(got) >= 2
    assert got == want


def test_a_wmo_arrangement_needs_a_wmo_group(toy):
    profile, policy, pop = toy
    owner = pop.arrangements.filter(pl.col("product") == "ho")["client_id"][0]
    row = pop.clients.with_row_index().filter(pl.col("client_id") == owner)["index"][0]
    with pytest.raises(InputError, match="clients.wmo_group: missing for client"):
        build_state(_with(pop, "clients", "wmo_group", row, None), policy, profile.group_codes)
