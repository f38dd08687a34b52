"""Expected results as data: every shipped measure file has its savings per budget year
beside it (`<measure>.expected.csv`), the default profile with fixed seeds, each measure
alone; the package scenarios `runs/scenarios/boz-2024.toml` (five measures) and
`boz-2024-full.toml` (every modelled measure) have theirs (`boz-2024.expected.csv`, ...).
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
PACKAGES = [ROOT / "runs" / "scenarios" / f for f in ("boz-2024.toml", "boz-2024-full.toml")]
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
    packages = [load_scenario(p) for p in PACKAGES]
    for package in packages:
        assert (package.seed, package.population_seed, package.months) == (
            SEED,
            POPULATION_SEED,
            MONTHS,
        )
    names = [f.stem for f in files]
    ctx = Context.build(ContextSpec(months=MONTHS, population_seed=POPULATION_SEED, measures=names))
    package_masks = [sum(1 << names.index(m) for m in p.measures) for p in packages]
    masks = [0, *(1 << i for i in range(len(files))), *package_masks]
    base, *results = ctx.run_many(SEED, masks)
    alone, packs = results[: len(files)], results[len(files) :]
    out = {expected_path(f): _rows(ctx, base, r) for f, r in zip(files, alone, strict=True)}
    for path, r in zip(PACKAGES, packs, strict=True):
        out[expected_path(path)] = _rows(ctx, base, r)
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
    assert len(computed) == len(list(MEASURES.glob("*.toml"))) + len(PACKAGES)
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
