"""Expected results as data: every shipped measure file has its savings per budget year
beside it (`<measure>.expected.csv`), the default profile with fixed seeds, each measure
alone; the package scenario `runs/scenarios/boz-2024.toml` has `boz-2024.expected.csv`.
One test checks them all. A deliberate change re-records every file:

    python -m tests.regression.test_expected_results

Sums are exact int64 cents, so the comparison is exact.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from engine.core.scenario import load_scenario
from engine.simulation.subrun import Context, ContextSpec
from tests.helpers import ROOT

MEASURES = ROOT / "rules" / "library" / "rotterdam" / "measures"
PACKAGE = ROOT / "runs" / "scenarios" / "boz-2024.toml"
SEED, POPULATION_SEED, MONTHS = 1, 1, 48
COLUMNS = [
    "budget_year",
    "baseline_net_cents",
    "with_measure_net_cents",
    "saving_net_cents",
    "saving_gross_cents",
]


def expected_path(source: Path) -> Path:
    return source.with_suffix(".expected.csv")


def _rows(ctx: Context, base, res) -> list[dict]:
    return [
        {
            "budget_year": year,
            "baseline_net_cents": int(base.net_y[i]),
            "with_measure_net_cents": int(res.net_y[i]),
            "saving_net_cents": int(base.net_y[i] - res.net_y[i]),
            "saving_gross_cents": int(base.gross_y[i] - res.gross_y[i]),
        }
        for i, year in enumerate(ctx.years)
    ]


def compute() -> dict[Path, list[dict]]:
    """Each shipped measure alone, and the package scenario, against the baseline: one
    population, one multi-combination pass."""
    files = sorted(MEASURES.glob("*.toml"))
    package = load_scenario(PACKAGE)
    assert (package.seed, package.population_seed, package.months) == (
        SEED,
        POPULATION_SEED,
        MONTHS,
    )
    names = [f.stem for f in files]
    ctx = Context.build(ContextSpec(months=MONTHS, population_seed=POPULATION_SEED, measures=names))
    package_mask = sum(1 << names.index(m) for m in package.measures)
    masks = [0, *(1 << i for i in range(len(files))), package_mask]
    base, *alone, pack = ctx.run_many(SEED, masks)
    out = {expected_path(f): _rows(ctx, base, r) for f, r in zip(files, alone, strict=True)}
    out[expected_path(PACKAGE)] = _rows(ctx, base, pack)
    return out


def read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: int(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


@pytest.fixture(scope="module")
def computed():
    return compute()


def test_every_measure_file_and_the_package_have_expected_results(computed):
    assert len(computed) == len(list(MEASURES.glob("*.toml"))) + 1
    for path in computed:
        assert path.exists(), (
            f"{path.name} is missing: python -m tests.regression.test_expected_results"
        )


def test_savings_match_the_expected_results_files(computed):
    for path, rows in computed.items():
        assert read(path) == rows, f"{path.name} differs (a deliberate change: re-record)"


if __name__ == "__main__":
    for path, rows in compute().items():
        write(path, rows)
        print(f"recorded {path.relative_to(ROOT)}")
