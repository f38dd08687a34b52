"""Calibration: the default profile meets its targets (clients served as the Raadsmonitor
counts them; targets and tolerances come from the profile itself); `calibrate` fits inflow
and exit multipliers so a profile meets its targets, writes the fitted parameters beside
the profile and a report, and every later run reuses the fit."""

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.core.errors import InputError
from engine.simulation.calibration import calibrate, measure, report_only
from engine.simulation.run import RunSpec, simulate_scenario
from synthetic_population.generator import generate
from synthetic_population.profile import load_profile
from synthetic_population.targets import Target
from tests.helpers import DATA

# Targets for the toy profile's fitting mechanics, set away from what it does unfitted
# (Wmo 2025H1 518, oud 2025 411, youth 2025 253), in opposite directions for overlapping
# scopes (oud is part of Wmo), and within reach of the fit (Wmo 2025H1 up to ~565 with the
# inflow multiplier at the pool's 1.5; 2024H1 is mostly the start stock, out of its reach).
# Fitted: Wmo 541, oud 392, youth 290, each within half its tolerance.
TOY_TARGETS = """
[targets]
wmo_served_2025h1 = { value = 545, tolerance = 0.03, period = "2025H1", domain = "wmo", \
source = "test" }
oud_served_2025 = { value = 395, tolerance = 0.03, period = "2025", domain = "wmo", group = "oud", \
source = "test" }
jeugd_served_2025 = { value = 290, period = "2025", domain = "jeugd", source = "test" }
ho_gross_2024 = { min = 1, metric = "gross_eur", period = "2024", domain = "wmo", product = "ho", \
source = "test" }
"""


# Spend checks whose gap the README explains ("Spend checks"): the rest must be within
# their tolerance on the default run.
EXPLAINED_GAPS = {"youth_gross_2024"}


def test_default_profile_meets_its_targets(default_run):
    profile, policy = load_profile("rotterdam")
    targets = [t for t in profile.targets.values() if t.declarative]
    assert {t.name for t in targets if t.fit} == {
        "wmo_served_2024h1",
        "wmo_served_2026h1_min",
        "jeugd_served_2024",
        "ouderen_served_2024h1_min",
    }
    spend = {t.name for t in targets if t.metric == "gross_eur"}
    assert spend == {
        "home_support_gross_2024",
        "household_help_gross_2024",
        "protected_living_gross_2024",
        "youth_gross_2024",
    }
    assert all(not profile.targets[n].fit for n in spend)
    for t in targets:
        value = measure(
            t, default_run.sim, default_run.tables["served"], profile, policy, profile.start
        )
        if t.name in EXPLAINED_GAPS:
            assert not t.passes(value), f"{t.name} now passes: drop it from EXPLAINED_GAPS"
            continue
        assert t.passes(value), (t.describe(), value)


def test_youth_costs_are_concentrated(default_run):
    """A small share of children carries most of the youth cost (heavy tail)."""
    from engine.simulation.simulate import simulate

    profile, policy = load_profile("rotterdam")
    pop = generate(profile, policy, 1, 12)
    sim = simulate(profile, policy, pop, profile.start, 12, 1, trace=True)
    youth_products = [i for i, p in enumerate(policy.products) if p.domain == "jeugd"]
    is_youth = np.isin(sim.state.product, youth_products)
    per_client = np.bincount(
        sim.state.owner[is_youth],
        weights=sim.trace_cost[is_youth].sum(axis=1),
        minlength=sim.state.cid.shape[0],
    )
    costs = np.sort(per_client[per_client > 0])[::-1]
    top20 = costs[: len(costs) // 5].sum() / costs.sum()
    assert top20 > 0.6


@pytest.fixture(scope="module")
def toy_fit(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    shutil.copy(DATA / "toy" / "baseline.toml", folder / "baseline.toml")
    (folder / "profile.toml").write_text((DATA / "toy" / "profile.toml").read_text() + TOY_TARGETS)
    result = calibrate(folder / "profile.toml", iterations=4, out_dir=folder / "out")
    return folder, result


def test_calibrate_brings_every_target_within_its_tolerance(toy_fit):
    _, result = toy_fit
    fitted = result.table.filter(pl.col("fitted"))
    assert fitted["target"].to_list() == [
        "wmo_served_2025h1",
        "oud_served_2025",
        "jeugd_served_2025",
    ]
    targets = _toy_targets(toy_fit[0])
    before = fitted["before"].to_list()
    after = fitted["simulated"].to_list()
    # each target is missed before the fit (so the fit had work to do) ...
    assert [t.passes(v) for t, v in zip(targets, before, strict=True)] == [False, False, False]
    # ... and met within half its tolerance after it (where the fit stops)
    for t, v in zip(targets, after, strict=True):
        assert abs(v - t.value) <= 0.5 * t.tolerance * t.value, (t.name, v, t.value)
    assert fitted["within_tolerance"].to_list() == [True, True, True]
    assert result.multipliers["oud"][0] < 1 < result.multipliers["jong"][0]


def _toy_targets(folder: Path) -> list[Target]:
    """The fitted targets as the profile file states them (one copy: the file)."""
    profile, _ = load_profile(folder / "profile.toml", fitted=False)
    names = ["wmo_served_2025h1", "oud_served_2025", "jeugd_served_2025"]
    return [profile.targets[n] for n in names]


def test_calibrate_writes_the_fitted_file_and_a_report(toy_fit):
    folder, result = toy_fit
    assert result.fitted_file == folder / "profile.fitted.toml"
    assert result.fitted_file.exists()
    for name in (
        "calibration.parquet",
        "calibration.csv",
        "calibration.html",
        "fitted.toml",
        "meta.json",
    ):
        assert (result.report_dir / name).exists(), name
    table = pl.read_parquet(result.report_dir / "calibration.parquet")
    assert {
        "target",
        "value",
        "before",
        "simulated",
        "difference",
        "difference_pct",
        "within_tolerance",
    } <= set(table.columns)
    html = (result.report_dir / "calibration.html").read_text()
    assert "<svg" in html
    assert "wmo_served_2025h1" in html
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert not list(folder.glob("*.partial*"))
    assert not list((folder / "out").glob(".partial-*"))


def test_later_runs_reuse_the_fit_and_reproduce_the_report(toy_fit):
    folder, result = toy_fit
    profile, _ = load_profile(folder / "profile.toml")
    assert profile.fitted_path == folder / "profile.fitted.toml"
    assert profile.group("jong").inflow_multiplier == pytest.approx(result.multipliers["jong"][0])
    run = simulate_scenario(RunSpec(profile=str(folder / "profile.toml"), months=24))
    served = run.tables["served"]
    got = served.filter((pl.col("period") == "2025H1") & (pl.col("domain") == "wmo"))[
        "clients_served"
    ].sum()
    assert got == result.table.filter(pl.col("target") == "wmo_served_2025h1")["simulated"][0]
    assert run.manifest["hashes"]["fitted_file"] is not None


def test_a_fit_moves_admission_never_the_pool(toy_fit):
    folder, _ = toy_fit
    fitted, policy = load_profile(folder / "profile.toml")
    plain, _ = load_profile(folder / "profile.toml", fitted=False)
    assert (
        generate(fitted, policy, 1, 24).fingerprint()
        == generate(plain, policy, 1, 24).fingerprint()
    )


def test_report_only_measures_without_fitting(toy_fit):
    folder, _ = toy_fit
    before = (folder / "profile.fitted.toml").read_text()
    result = report_only(folder / "profile.toml", out_dir=folder / "out")
    assert result.fitted_file is None
    assert (folder / "profile.fitted.toml").read_text() == before
    assert result.table["within_tolerance"].to_list() == [True, True, True, True]
    assert not any("changed since" in n for n in result.notes)


def test_report_only_says_when_the_profile_changed_since_the_fit(toy_fit, tmp_path):
    folder, _ = toy_fit
    for name in ("profile.toml", "profile.fitted.toml", "baseline.toml"):
        shutil.copy(folder / name, tmp_path / name)
    with open(tmp_path / "profile.toml", "a") as fh:
        fh.write("\n# edited after the fit\n")
    result = report_only(tmp_path / "profile.toml", out_dir=tmp_path / "out")
    assert any("changed since profile.fitted.toml was fitted" in n for n in result.notes)


def test_fitted_parameters_are_listed_and_can_be_overridden(toy_fit):
    folder, _ = toy_fit
    profile, _ = load_profile(
        folder / "profile.toml", {"fitted.groups.jong.inflow_multiplier": 1.0}
    )
    assert profile.group("jong").inflow_multiplier == 1.0
    assert any(p.name == "fitted.groups.oud.exit_multiplier" for p in profile.register)


def _profile_with_targets(tmp_path: Path, targets: str) -> Path:
    shutil.copy(DATA / "toy" / "baseline.toml", tmp_path / "baseline.toml")
    path = tmp_path / "profile.toml"
    path.write_text((DATA / "toy" / "profile.toml").read_text() + targets)
    return path


def test_old_style_targets_still_load_as_reference_figures(tmp_path):
    path = _profile_with_targets(
        tmp_path,
        '\n[targets]\nclients = 500\nserved = { value = 37_000, tolerance = 0.05, source = "x" }\n',
    )
    profile, _ = load_profile(path)
    assert profile.targets["clients"].value == 500
    assert not profile.targets["clients"].declarative
    assert profile.targets["served"].tolerance == 0.05
    assert not profile.targets["served"].fit


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ('{ value = 1, period = "2024Q1", domain = "wmo" }', "key targets.t.period: '2024Q1'"),
        (
            '{ value = 1, period = "2024", domain = "zorg" }',
            "key targets.t.domain: unknown value 'zorg'",
        ),
        (
            '{ value = 1, period = "2024", domain = "wmo", group = "kind" }',
            "key targets.t.group: 'kind'",
        ),
        (
            '{ value = 1, period = "2024", domain = "wmo", tolerence = 0.1 }',
            "unknown key 'tolerence'",
        ),
        ('{ period = "2024", domain = "wmo" }', "no figure"),
    ],
)
def test_a_malformed_target_names_its_key(tmp_path, target, message):
    path = _profile_with_targets(tmp_path, f"\n[targets]\nt = {target}\n")
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_profile(path)


def test_calibrate_command_fits_and_refuses_a_profile_without_targets(tmp_path, capsys):
    from engine.cli import main
    from tests.helpers import TOY_PROFILE

    assert main(["calibrate", TOY_PROFILE, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "key targets: no target with period and domain" in err
    assert len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())
    assert not (DATA / "toy" / "profile.fitted.toml").exists()
    path = _profile_with_targets(tmp_path, TOY_TARGETS)
    assert (
        main(
            ["calibrate", str(path), "--iterations", "0", "--out", str(tmp_path / "out"), "--json"]
        )
        == 0
    )
    assert '"mode": "fit"' in capsys.readouterr().out
    assert (tmp_path / "profile.fitted.toml").exists()
    assert len(list((tmp_path / "out").iterdir())) == 1
