"""No table of a scenario or experiment is dropped: `[overrides]` and `[measure_overrides]`
are applied, `--set` is layered on top, the manifest shows all three, and a table or key the
reader does not know (a typo) is refused, not ignored."""

from __future__ import annotations

import json

import polars as pl
import pytest

from engine.cli import main
from tests.interface.refusals import TOY, refuses, scenario


def run(tmp_path, capsys, sc, run_id, *more):
    out = tmp_path / "out"
    args = ["run", str(sc), "--out", str(out), "--run-id", run_id, "--quiet", "--catalog", "off"]
    code = main([*args, *more])
    assert code == 0, capsys.readouterr().err
    folder = out / run_id
    return json.loads((folder / "manifest.json").read_text()), pl.read_parquet(
        folder / "clients.parquet"
    )


def stock(clients: pl.DataFrame, group: str) -> int:
    first = clients.filter(pl.col("month") == clients["month"].min())
    return int(first.filter(pl.col("group") == group)["active_start"].sum())


def test_scenario_overrides_change_the_result_and_appear_in_the_manifest(tmp_path, capsys):
    plain = tmp_path / "plain"
    plain.mkdir()
    _, base = run(plain, capsys, scenario(plain, name="plain"), "plain")
    sc = scenario(tmp_path, '[overrides]\n"groups.oud.stock" = 40\n', name="over")
    manifest, over = run(tmp_path, capsys, sc, "over")
    # the toy profile's stock of `oud` is 300; the override draws 40 of them
    assert stock(base, "oud") > 200
    assert 0 < stock(over, "oud") <= 40
    assert stock(over, "jong") == stock(base, "jong")
    assert manifest["scenario"]["overrides"] == {"groups.oud.stock": 40}
    assert manifest["scenario"]["scenario_overrides"] == {"groups.oud.stock": 40}
    assert manifest["scenario"]["set_overrides"] == {}


def test_set_is_layered_on_top_of_the_scenario_overrides(tmp_path, capsys):
    body = '[overrides]\n"groups.oud.stock" = 40\n"groups.jong.stock" = 30\n'
    sc = scenario(tmp_path, body, name="layered")
    manifest, clients = run(tmp_path, capsys, sc, "layered", "--set", "groups.oud.stock=20")
    assert 0 < stock(clients, "oud") <= 20
    assert 0 < stock(clients, "jong") <= 30
    assert manifest["scenario"]["overrides"] == {"groups.oud.stock": 20, "groups.jong.stock": 30}
    assert manifest["scenario"]["scenario_overrides"] == {
        "groups.oud.stock": 40,
        "groups.jong.stock": 30,
    }
    assert manifest["scenario"]["set_overrides"] == {"groups.oud.stock": 20}


def test_measure_overrides_of_a_scenario_change_the_rule(tmp_path, capsys):
    cap = TOY / "measures" / "t5_wmo_cap.toml"
    body = '[measure_overrides]\n"t5_wmo_cap_500.params.cap_eur_w" = 50.0\n'
    sc = scenario(tmp_path, body, name="capped", months=12, measures=f'["{cap}"]')
    manifest, _ = run(tmp_path, capsys, sc, "capped")
    events = pl.read_parquet(tmp_path / "out" / "capped" / "events.parquet")
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    sc2 = scenario(plain_dir, name="cap500", months=12, measures=f'["{cap}"]')
    run(plain_dir, capsys, sc2, "cap500")
    events500 = pl.read_parquet(plain_dir / "out" / "cap500" / "events.parquet")
    capped = events.filter(pl.col("event") == "capped")["count"].sum()
    capped500 = events500.filter(pl.col("event") == "capped")["count"].sum()
    assert capped > capped500  # a EUR 50 cap clips more arrangements than EUR 500
    assert manifest["scenario"]["measure_overrides"] == {"t5_wmo_cap_500.params.cap_eur_w": 50.0}


@pytest.mark.parametrize(
    ("body", "key", "expected"),
    [
        ('[override]\n"groups.oud.stock" = 40\n', "key override", "one of: "),
        ('[overides]\n"groups.oud.stock" = 40\n', "key overides", "one of: "),
        ('[[overrides]]\n"groups.oud.stock" = 40\n', "key overrides", "a table of NAME = VALUE"),
        ('[measure_override]\n"x.params.y" = 1\n', "key measure_override", "one of: "),
    ],
)
def test_a_misspelt_or_malformed_table_is_refused_not_dropped(
    tmp_path, capsys, body, key, expected
):
    sc = scenario(tmp_path, body)
    refuses(capsys, tmp_path, ["run", sc, "--out", tmp_path / "out"], f"{sc}: {key}", expected)


def test_an_override_of_an_unknown_parameter_is_refused(tmp_path, capsys):
    sc = scenario(tmp_path, '[overrides]\n"groups.oud.stok" = 40\n')
    line = refuses(
        capsys,
        tmp_path,
        ["run", sc, "--out", tmp_path / "out"],
        "profile.toml (--set or [overrides])",
        "a dotted name from the parameter register",
    )
    assert "unknown parameter 'groups.oud.stok'" in line


def test_a_measure_override_of_an_unknown_rule_is_refused(tmp_path, capsys):
    cap = TOY / "measures" / "t5_wmo_cap.toml"
    sc = scenario(
        tmp_path, '[measure_overrides]\n"nope.params.cap_eur_w" = 1.0\n', measures=f'["{cap}"]'
    )
    refuses(
        capsys,
        tmp_path,
        ["run", sc, "--out", tmp_path / "out"],
        "measure_overrides",
        "<rule name>.<key>, rules: t5_wmo_cap_500",
    )


def test_an_experiment_with_a_misspelt_table_is_refused(tmp_path, capsys):
    base = scenario(tmp_path, name="base")
    ex = tmp_path / "ex.toml"
    ex.write_text(
        f'[experiment]\nbaseline = "{base.name}"\n'
        f'measures = ["{TOY / "measures" / "t3_no_ironing.toml"}"]\n'
        '[overides]\n"groups.oud.stock" = 40\n'
    )
    refuses(
        capsys,
        tmp_path,
        ["experiment", ex, "--out", tmp_path / "o"],
        f"{ex}: key overides",
        "one of: ",
    )
