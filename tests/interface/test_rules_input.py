"""Bad measure files and comparisons: a clear error naming the file, the key and the valid
choices, exit code 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from tests.helpers import GOOD_MEASURE as GOOD
from tests.helpers import TOY_PROFILE


def run(tmp_path, capsys, text: str, *extra):
    f = tmp_path / "measure.toml"
    f.write_text(text)
    out = tmp_path / "out"
    code = main(
        [
            "run",
            "--profile",
            TOY_PROFILE,
            "--months",
            "12",
            "--measure",
            str(f),
            "--out",
            str(out),
            "--quiet",
            *extra,
        ]
    )
    _, err = capsys.readouterr()
    return code, err, out


def test_a_good_measure_runs(tmp_path, capsys):
    code, err, out = run(tmp_path, capsys, GOOD)
    assert code == 0, err
    manifest = json.loads(next(out.glob("*/manifest.json")).read_text())
    assert manifest["scenario"]["measures"][0]["name"] == "test_measure"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'primitive = "weekly_cap"',
            'primitive = "weekly_limit"',
            "key rules[0].primitive: unknown value 'weekly_limit' (expected one of: hazard_factor, "
            "inflow_factor, max_duration, price_factor, reindication_policy, remove_task, review, "
            "set_frequency, shift_intake, substitute, transfer_out, weekly_cap)",
        ),
        (
            "params = { cap_eur_w = 250.0 }",
            "params = { cap_eur_w = 250.0, cap_per_week = 1 }",
            "key rules[0].params.cap_per_week: unknown key 'cap_per_week'",
        ),
        (
            'products = ["beg"]',
            'products = ["begeleiding"]',
            "key rules[0].scope.products: unknown name 'begeleiding' (expected one of: ho, beg, "
            "bw)",
        ),
        (
            'steps = ["beg2", "beg3"]',
            'steps = ["beg9"]',
            "key rules[0].scope.steps: unknown name 'beg9'",
        ),
        (
            'scope = { domain = "wmo",',
            'scope = { domain = "wmo", groups = ["kind"],',
            "key rules[0].scope.groups: unknown name 'kind' (expected one of: oud, jong)",
        ),
        (
            "approved_share = 0.1",
            "approved_share = 1.5",
            "key rules[0].exceptions.approved_share: 1.5 is out of range (expected a value in "
            "[0.0, 1.0])",
        ),
        (
            "cap_eur_w = 250.0",
            "cap_eur_w = -5.0",
            "key rules[0].params.cap_eur_w: -5.0 is out of range",
        ),
        (
            'effective_from = "2024-07"',
            'effective_from = "2024-07"\neffective_until = "2024-01"',
            "key rules[0].effective_until: ends before it starts",
        ),
        (
            'effective_from = "2024-07"',
            'effective_from = "july"',
            "is not a month (expected YYYY-MM",
        ),
        (
            'moments = ["intake", "reindication"]',
            'moments = ["monthly"]',
            "weekly_cap does not act at 'monthly'",
        ),
        (
            'moments = ["intake", "reindication"]',
            'moments = ["intake"]\nfoo = 1',
            "key rules[0].foo: unknown key 'foo'",
        ),
    ],
)
def test_bad_measure_is_named_exit_2_nothing_written(tmp_path, capsys, old, new, message):
    assert old in GOOD
    code, err, out = run(tmp_path, capsys, GOOD.replace(old, new))
    assert code == 2
    assert message in err, err
    assert "measure.toml" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_unknown_measure_name_lists_the_library(tmp_path, capsys):
    code = main(["run", "--measure", "m99_nothing", "--out", str(tmp_path), "--quiet"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "unknown measure 'm99_nothing'" in err
    assert "m17_wmo_weekly_cap_800" in err


def test_unknown_rule_in_measure_overrides(tmp_path, capsys):
    sc = tmp_path / "sc.toml"
    sc.write_text(
        '[scenario]\nname = "x"\nmeasures = ["m17_wmo_weekly_cap_800"]\nmonths = '
        '12\n[measure_overrides]\n"no_such_rule.params.cap_eur_w" = 900.0\n'
    )
    code = main(["run", str(sc), "--out", str(tmp_path / "out"), "--quiet"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "unknown rule 'no_such_rule'" in err
    assert "wmo_weekly_cap_800" in err


def test_compare_gives_savings_and_refuses_different_runs(tmp_path, capsys):
    out = tmp_path / "out"
    f = tmp_path / "measure.toml"
    f.write_text(GOOD)
    base = ["run", "--profile", TOY_PROFILE, "--months", "24", "--out", str(out), "--quiet"]
    assert main([*base, "--run-id", "base"]) == 0
    assert main([*base, "--measure", str(f), "--run-id", "cap"]) == 0
    assert main([*base, "--seed", "2", "--run-id", "other-seed"]) == 0
    capsys.readouterr()
    assert main(["compare", "base", "cap", "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    saving = sum(r["saving_gross_cents"] for r in result["yearly"])
    assert saving > 0
    folder = Path(result["comparison_dir"])
    for name in (
        "comparison.parquet",
        "comparison_yearly.parquet",
        "affected_by_group.parquet",
        "manifest.json",
    ):
        assert (folder / name).exists()
    code = main(["compare", "base", "other-seed", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2
    assert "the runs differ in simulation seed: 1 vs 2" in err
    code = main(["compare", "base", "nope", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2
    assert "no such run folder" in err


def _rule(primitive: str, moments: str, scope: str, params: str, extra: str = "") -> str:
    return f"""
[measure]
name = "test_measure"
source = "test"

[[rules]]
name = "r"
primitive = "{primitive}"
moments = {moments}
effective_from = "2024-07"
scope = {scope}
params = {params}
{extra}
source = "test"
"""


YOUTH = '{ domain = "jeugd", products = ["jamb"] }'
BEG = '{ domain = "wmo", products = ["beg"] }'


# per new primitive: a measure with one bad key, and the line that must name it
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _rule("shift_intake", '["intake"]', YOUTH, '{ share = 0.5, to = { jamb = "jamb9" } }'),
            "key rules[0].params.to.jamb.step: unknown step 'jamb9' (expected one of: jamb1, "
            "jamb2)",
        ),
        (
            _rule("shift_intake", '["intake"]', YOUTH, "{ share = 0.5, minutes_factor = 1.5 }"),
            "key rules[0].params.minutes_factor: 1.5 is out of range (expected a value in "
            "[0.0, 1.0])",
        ),
        (
            _rule(
                "substitute",
                '["reindication"]',
                BEG,
                '{ share = 0.2, to = { beg = { product = "jamb", step = "jamb1" } } }',
            ),
            "key rules[0].params.to.beg.product: unknown product 'jamb' in this domain",
        ),
        (
            _rule("substitute", '["reindication"]', BEG, "{ share = 0.2, to = {} }"),
            "key rules[0].params.to: no target for product 'beg' (expected a target for every "
            "product",
        ),
        (
            _rule("reindication_policy", '["reindication"]', YOUTH, "{ end_add = 1.2 }"),
            "key rules[0].params.end_add: 1.2 is out of range (expected a value in [0.0, 1.0])",
        ),
        (
            _rule(
                "reindication_policy",
                '["reindication"]',
                YOUTH,
                "{ outcomes = { continue = 0.5, end = 0.2, step_up = 0.1, step_down = 0.1 } }",
            ),
            "key rules[0].params.outcomes: shares add up to 0.9 (expected shares adding up to 1)",
        ),
        (
            _rule("hazard_factor", '["monthly"]', BEG, "{ factor = -1.0 }"),
            "key rules[0].params.factor: -1.0 is out of range (expected a value in [0.0, 20.0])",
        ),
        (
            _rule(
                "hazard_factor", '["monthly"]', BEG, "{ factor = 1.5, min_months_in_care = 2.5 }"
            ),
            "key rules[0].params.min_months_in_care: 2.5 is not a whole number",
        ),
        (
            _rule(
                "inflow_factor",
                '["intake"]',
                '{ domain = "wmo", products = ["ho"], districts = [99] }',
                "{ factor = 0.9 }",
            ),
            "key rules[0].scope.districts: [99] (expected a list of district numbers 0..63)",
        ),
        (
            _rule("inflow_factor", '["reindication"]', BEG, "{ factor = 0.9 }"),
            "inflow_factor does not act at 'reindication'",
        ),
        (
            _rule("price_factor", '["intake"]', YOUTH, '{ factor = 0.9, funding = "cash" }'),
            "key rules[0].params.funding: unknown value 'cash' (expected one of: any, zin, pgb)",
        ),
        (
            _rule(
                "price_factor",
                '["intake"]',
                YOUTH,
                "{ factor = 0.9 }",
                "exceptions = { leaves_share = 0.2 }",
            ),
            "key rules[0].exceptions.leaves_share: price_factor does not send clients to the Wlz",
        ),
        (
            _rule(
                "transfer_out",
                '["reindication"]',
                YOUTH,
                '{ share = 0.2, require_flags = ["rich"] }',
            ),
            "key rules[0].params.require_flags: unknown name 'rich'",
        ),
        (
            _rule(
                "transfer_out", '["reindication"]', YOUTH, "{ share = { value = 0.2, low = 0.1 } }"
            ),
            "key rules[0].params.share: an assumption without 'high'",
        ),
        (
            _rule(
                "transfer_out",
                '["reindication"]',
                YOUTH,
                '{ share = { value = 0.2, low = 0.1, high = 1.4, basis = "x" } }',
            ),
            "key rules[0].params.share.high: 1.4 is not a valid value",
        ),
    ],
)
def test_bad_input_to_each_package_primitive_is_one_line_exit_2(tmp_path, capsys, text, message):
    code, err, out = run(tmp_path, capsys, text)
    assert code == 2
    assert message in err, err
    assert "measure.toml" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())
