import pytest

from engine.core.errors import InputError
from engine.core.months import days_in_month, format_month, parse_month
from engine.core.sourced import Section, apply_overrides, unwrap


def test_month_roundtrip_and_days():
    m = parse_month("2024-02")
    assert format_month(m) == "2024-02"
    assert days_in_month(m) == 29
    assert parse_month("2000-01") == 0


@pytest.mark.parametrize("bad", ["2024-13", "2024-1", "24-01", "2024/01", "", "2024-00"])
def test_bad_month_is_a_clear_error(bad):
    with pytest.raises(InputError, match="YYYY-MM"):
        parse_month(bad)


def test_sourced_parameters_unwrap_into_a_register():
    tree, register = unwrap(
        {"a": {"value": 3, "source": "doc:x", "unit": "clients"}, "b": {"c": 1}}
    )
    assert tree == {"a": 3, "b": {"c": 1}}
    assert register[0].name == "a"
    assert register[0].source == "doc:x"


def test_override_by_dotted_name_marks_the_source():
    raw = {"groups": {"x": {"stock": {"value": 10, "source": "assumption"}}}}
    out = apply_overrides(raw, {"groups.x.stock": 20}, "test")
    assert out["groups"]["x"]["stock"]["value"] == 20
    assert out["groups"]["x"]["stock"]["source"].startswith("override")
    with pytest.raises(InputError, match="unknown parameter 'groups.y.stock'"):
        apply_overrides(raw, {"groups.y.stock": 1}, "test")


def test_unknown_key_names_file_and_key():
    s = Section({"stock": 1, "stokc": 2}, "profile.toml", "groups.x")
    s.number("stock")
    with pytest.raises(InputError, match=r"profile.toml: key groups.x.stokc: unknown key 'stokc'"):
        s.done()


def test_share_out_of_range_is_refused():
    with pytest.raises(InputError, match=r"in \[0.0, 1.0\]"):
        Section({"p": 1.5}, "f.toml").share("p")
