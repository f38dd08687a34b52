"""How a report and a workbook show many measures: grouped by domain, sorted by saving within
each group (the package last), each beside the range of its driving assumption (the
assumption whose low and high value move its saving most, from a sensitivity folder)."""

from __future__ import annotations

import json

import polars as pl

from engine.outputs.folder import Folder, open_folder

DOMAIN_LABELS = {"jeugd": "Youth care", "wmo": "Wmo", "jeugd+wmo": "Wmo and youth care"}
SHOW_IN_CHART = 8  # measures drawn one by one in a chart; the rest as one bar


def find_sensitivity(folder: Folder) -> Folder | None:
    """A sensitivity folder beside an experiment that varied the same experiment (latest)."""
    ex = folder.manifest.get("experiment", {})
    best = None
    for child in sorted(folder.path.parent.iterdir()):
        if (
            child.name.startswith(".")
            or not (child / "manifest.json").exists()
            or not (child / "sensitivity.parquet").exists()
        ):
            continue
        try:
            man = json.loads((child / "manifest.json").read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        if not isinstance(man, dict) or not isinstance(man.get("experiment", {}), dict):
            continue
        other = man.get("experiment", {})
        if (
            man.get("kind") == "sensitivity"
            and other.get("name") == ex.get("name")
            and other.get("file") == ex.get("file")
        ) and (best is None or str(man.get("created", "")) >= str(best[0])):
            best = (man.get("created", ""), child)
    return open_folder(str(best[1]), kinds=("sensitivity",)) if best else None


def domain_of(m: dict) -> str:
    return "+".join(m.get("domains") or [])


def ordered(sv: pl.DataFrame, measures: list[dict]) -> list[tuple[str, list[str]]]:
    """(domain label, measure names) groups: domains in the order youth, Wmo, both, then by
    the measures' total Shapley saving, largest first."""
    total = {
        m: float(v)
        for m, v in sv.group_by("measure").agg(pl.col("shapley_net_eur_mean").sum()).iter_rows()
    }
    present = [m for m in measures if m["name"] in total]
    doms = sorted(
        {domain_of(m) for m in present}, key=lambda d: (list(DOMAIN_LABELS) + [d]).index(d)
    )
    out = []
    for d in doms:
        names = sorted((m["name"] for m in present if domain_of(m) == d), key=lambda n: -total[n])
        out.append((DOMAIN_LABELS.get(d, d), names))
    return out


def driving_ranges(sens: Folder | None) -> dict[str, tuple[str, float, float]]:
    """Measure (and "package") -> (assumption, saving over the horizon at its low and at its
    high value, EUR) for the assumption with the largest swing."""
    if sens is None:
        return {}
    t = sens.table("sensitivity")
    tot = (
        t.group_by("measure", "parameter")
        .agg(pl.col("saving_low_net_cents").sum(), pl.col("saving_high_net_cents").sum())
        .with_columns(
            (pl.col("saving_high_net_cents") - pl.col("saving_low_net_cents")).abs().alias("swing")
        )
        .sort(["swing", "parameter"], descending=[True, False])
    )
    out: dict[str, tuple[str, float, float]] = {}
    for row in tot.iter_rows(named=True):
        if row["measure"] not in out and row["swing"] > 0:
            out[row["measure"]] = (
                row["parameter"],
                row["saving_low_net_cents"] / 100,
                row["saving_high_net_cents"] / 100,
            )
    return out
