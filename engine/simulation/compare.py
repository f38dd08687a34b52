"""Baseline versus measure: the difference a rule made, per domain, group, product, step and
budget year, plus the people it touched. Both runs must share population, seeds and horizon,
so the difference is the rule's effect, not noise (common random numbers)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from engine.core.errors import InputError
from engine.outputs.folder import atomic_folder, read_manifest, write_json, write_parquet

KEYS = ["budget_year", "domain", "group", "product", "step", "setting"]
VALUES = ["arrangement_months", "gross_cents", "own_contribution_cents", "net_cents"]


def resolve_run(ref: str, out_dir: Path) -> Path:
    p = Path(ref)
    if not p.exists():
        p = Path(out_dir) / ref
    if not p.is_dir():
        raise InputError(ref, "no such run folder", f"a run folder or a run id under {out_dir}")
    read_manifest(p)
    return p


def check_comparable(a: dict, b: dict) -> None:
    """Refuse runs that do not share population, seeds and horizon, saying why."""
    checks = [
        ("population", a["hashes"]["population"], b["hashes"]["population"]),
        ("simulation seed", a["seeds"]["simulation"], b["seeds"]["simulation"]),
        ("population seed", a["seeds"]["population"], b["seeds"]["population"]),
        ("start", a["scenario"]["start"], b["scenario"]["start"]),
        ("horizon (months)", a["scenario"]["months"], b["scenario"]["months"]),
        ("profile", a["scenario"]["profile"], b["scenario"]["profile"]),
        ("random streams", a.get("rng_mode"), b.get("rng_mode")),
    ]
    for what, x, y in checks:
        if x != y:
            raise InputError(
                "compare",
                f"the runs differ in {what}: {x} vs {y}",
                "a baseline and a measure run with the same population, seeds and horizon",
            )


def _read(run: Path, name: str) -> pl.DataFrame:
    path = run / f"{name}.parquet"
    if not path.exists():
        raise InputError(str(run), f"run folder is missing {name}.parquet")
    return pl.read_parquet(path)


def compare_runs(baseline: Path, measure: Path) -> dict[str, pl.DataFrame]:
    ma, mb = read_manifest(baseline), read_manifest(measure)
    check_comparable(ma, mb)
    a = _read(baseline, "arrangements_yearly").select(*KEYS, *VALUES)
    b = _read(measure, "arrangements_yearly").select(*KEYS, *VALUES)
    joined = a.join(b, on=KEYS, how="full", coalesce=True, suffix="_measure").fill_null(0)
    joined = joined.rename({v: f"{v}_baseline" for v in VALUES})
    joined = joined.with_columns(
        *[
            (pl.col(f"{v}_measure") - pl.col(f"{v}_baseline")).alias(f"{v}_difference")
            for v in VALUES
        ]
    )
    detail = joined.select(
        *KEYS, *[f"{v}_{k}" for v in VALUES for k in ("baseline", "measure", "difference")]
    ).sort(KEYS)
    yearly = (
        detail.group_by(["budget_year", "domain"])
        .agg(*[pl.col(c).sum() for c in detail.columns if c not in KEYS])
        .with_columns(
            (-pl.col("net_cents_difference")).alias("saving_net_cents"),
            (-pl.col("gross_cents_difference")).alias("saving_gross_cents"),
        )
        .sort(["domain", "budget_year"])
    )
    events = _read(measure, "events")
    affected = _read(measure, "affected").filter(pl.col("measure") == "all")
    lost = detail.group_by(["domain", "group"]).agg(
        (-pl.col("gross_cents_difference").sum()).alias("gross_cents_lost")
    )
    hours = events.group_by(["domain", "group"]).agg(
        (pl.col("weekly_minutes_changed").sum() / 60.0).alias("weekly_hours_lost")
    )
    people = (
        affected.pivot(on="kind", index=["domain", "group"], values="clients")
        if affected.height
        else pl.DataFrame(schema={"domain": pl.Utf8, "group": pl.Utf8})
    )
    for col in ("care_reduced", "care_ended"):
        if col not in people.columns:
            people = people.with_columns(pl.lit(0, dtype=pl.Int64).alias(col))
    by_group = (
        lost.join(hours, on=["domain", "group"], how="full", coalesce=True)
        .join(people, on=["domain", "group"], how="full", coalesce=True)
        .fill_null(0)
        .select(
            "domain", "group", "care_reduced", "care_ended", "gross_cents_lost", "weekly_hours_lost"
        )
        .sort(["domain", "group"])
    )
    return {
        "comparison": detail,
        "comparison_yearly": yearly,
        "affected_by_group": by_group,
        "_manifests": (ma, mb),
    }


def write_comparison(
    result: dict, baseline: Path, measure: Path, out_dir: Path, name: str | None = None
) -> Path:
    ma, mb = result["_manifests"]
    name = name or f"compare-{ma.get('run_id', baseline.name)}--{mb.get('run_id', measure.name)}"
    with atomic_folder(out_dir, name, "--name") as tmp:
        for key, frame in result.items():
            if not key.startswith("_"):
                write_parquet(frame, tmp / f"{key}.parquet")
        write_json(
            {
                "kind": "comparison",
                "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "baseline": {
                    "run_dir": str(baseline),
                    "run_id": ma.get("run_id"),
                    "scenario": ma["scenario"],
                },
                "measure": {
                    "run_dir": str(measure),
                    "run_id": mb.get("run_id"),
                    "scenario": mb["scenario"],
                },
                "seeds": ma["seeds"],
                "population": ma["hashes"]["population"],
            },
            tmp / "manifest.json",
        )
    return Path(out_dir) / name
