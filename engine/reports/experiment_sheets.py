"""The finance workbook's experiment sheets (engine.reports.workbook): savings per measure
and budget year (the saving alone, the Shapley share in the package, the interaction; with
the interval over seeds) and the clients affected by group, small counts suppressed."""

from __future__ import annotations

import polars as pl

from engine.outputs.folder import Folder
from engine.reports.package_view import driving_ranges, find_sensitivity, ordered
from engine.reports.sheet import INT, MONEY, SMALL_CELL, SUPPRESSED, TEXT, Sheet, suppress


# ----------------------------------------------------------------------------- experiment
def _measure_order(folder: Folder) -> list[str]:
    return [m["name"] for m in folder.manifest.get("measures", [])] + ["package"]


def _ranges(folder: Folder, wide: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """The driving assumption of each measure and its horizon saving at low and high, from a
    sensitivity folder beside the experiment (none: the sheet goes without)."""
    rng = driving_ranges(find_sensitivity(folder))
    if not rng:
        return wide, {}
    names = wide["Name"].to_list()
    wide = wide.with_columns(
        pl.Series("Driving assumption", [rng.get(n, ("", 0, 0))[0] for n in names]),
        pl.Series("Horizon saving at low EUR", [rng[n][1] if n in rng else None for n in names]),
        pl.Series("Horizon saving at high EUR", [rng[n][2] if n in rng else None for n in names]),
    )
    return wide, {
        "Driving assumption": TEXT,
        "Horizon saving at low EUR": MONEY,
        "Horizon saving at high EUR": MONEY,
    }


def savings_sheets(folder: Folder) -> list[Sheet]:
    sv = folder.table("savings")
    n_seeds = int(sv["n_seeds"].max()) if sv.height else 0
    measures = folder.manifest.get("measures", [])
    groups = ordered(sv, measures)
    order = {m: i for i, m in enumerate([n for _, names in groups for n in names] + ["package"])}
    domain = {m["name"]: label for label, names in groups for m in measures if m["name"] in names}
    sv = sv.with_columns(
        pl.col("measure").replace_strict(order, default=len(order)).alias("_o"),
        pl.col("measure").replace_strict(domain, default="").alias("_domain"),
    ).sort(["_o", "budget_year"])
    label = (
        pl.when(pl.col("measure") == "package")
        .then(pl.lit("Package (all measures)"))
        .otherwise(pl.col("title"))
        .alias("Measure")
    )
    years = sorted(sv["budget_year"].unique().to_list())
    wide = sv.pivot(
        on="budget_year",
        index=["_o", "_domain", "number", "measure", "title"],
        values="shapley_net_eur_mean",
        aggregate_function="first",
    ).sort("_o")
    wide = wide.with_columns(pl.sum_horizontal([str(y) for y in years]).alias("Total"))
    wide = wide.select(
        pl.col("_domain").alias("Domain"),
        pl.col("number").alias("Nr"),
        pl.col("measure").alias("Name"),
        label,
        *[pl.col(str(y)) for y in years],
        pl.col("Total"),
    )
    wide, range_fmts = _ranges(folder, wide)
    range_note = (
        " Driving assumption: the one whose low and high value move the measure's saving most"
        " (caseload sensitivity, the measure alone, first seed); beside it the saving over the"
        " horizon at each end."
        if range_fmts
        else ""
    )
    seeds_txt = (
        f"mean of {n_seeds} seeds; intervals on the next sheet"
        if n_seeds > 1
        else "one seed (no interval)"
    )
    attribution = folder.manifest.get("experiment", {}).get("attribution", "")
    overview = Sheet(
        "Savings",
        "Net saving per measure and budget year (EUR)",
        "Baseline net cost minus net cost with the measures; each measure's share of the package "
        f"saving ({attribution.replace('_', ' ')}), so the measures add up to the package. Nominal "
        f"EUR, {seeds_txt}. Grouped by domain, largest saving first." + range_note,
        wide,
        {"Domain": TEXT, **{str(y): MONEY for y in years}, "Total": MONEY, **range_fmts},
        freeze_cols=4,
    )
    cols = [
        pl.col("number").alias("Nr"),
        pl.col("measure").alias("Name"),
        label,
        pl.col("budget_year").alias("Budget year"),
        pl.col("n_seeds").alias("Seeds"),
        pl.col("shapley_net_eur_mean").alias("Saving EUR (share of package)"),
    ]
    fmts = {"Budget year": TEXT, "Seeds": INT, "Saving EUR (share of package)": MONEY}
    if n_seeds > 1:
        cols += [
            pl.col("shapley_net_eur_p5").alias("Saving 5% EUR"),
            pl.col("shapley_net_eur_p95").alias("Saving 95% EUR"),
            pl.col("shapley_net_eur_mcse").alias("Saving MC s.e. EUR"),
        ]
        fmts |= {"Saving 5% EUR": MONEY, "Saving 95% EUR": MONEY, "Saving MC s.e. EUR": MONEY}
    cols += [pl.col("standalone_net_eur_mean").alias("Saving alone EUR")]
    fmts["Saving alone EUR"] = MONEY
    if n_seeds > 1:
        cols += [
            pl.col("standalone_net_eur_p5").alias("Saving alone 5% EUR"),
            pl.col("standalone_net_eur_p95").alias("Saving alone 95% EUR"),
        ]
        fmts |= {"Saving alone 5% EUR": MONEY, "Saving alone 95% EUR": MONEY}
    cols += [pl.col("interaction_net_eur_mean").alias("Interaction EUR")]
    fmts["Interaction EUR"] = MONEY
    if "shapley_sampling_se_eur" in sv.columns and attribution != "shapley_exact":
        cols += [pl.col("shapley_sampling_se_eur").alias("Attribution sampling s.e. EUR")]
        fmts["Attribution sampling s.e. EUR"] = MONEY
    detail = Sheet(
        "Savings detail",
        "Net saving per measure and budget year, with intervals (EUR)",
        "Share of package: the measure's Shapley share of the package saving. Alone: baseline "
        "minus the measure on its own. "
        "Interaction: share minus alone (for the package: the package minus the sum of the "
        "measures alone). "
        + (
            "5% / 95%: percentiles over the seeds; MC s.e.: the Monte Carlo standard error of the "
            "mean."
            if n_seeds > 1
            else "One seed: no interval."
        ),
        sv.select(cols),
        fmts,
        freeze_cols=3,
    )
    return [overview, detail]


def affected_sheet(folder: Folder) -> Sheet:
    aff = folder.table("affected")
    n = max(aff["seed"].n_unique(), 1) if "seed" in aff.columns else 1
    keys = ["measure", "domain", "group", "kind"]
    mean = aff.group_by(keys).agg((pl.col("clients").sum() / n).alias("clients"))
    wide = mean.pivot(
        on="kind",
        index=["measure", "domain", "group"],
        values="clients",
        aggregate_function="first",
    )
    for k in ("care_reduced", "care_ended"):
        if k not in wide.columns:
            wide = wide.with_columns(pl.lit(0.0).alias(k))
    order = {m: i for i, m in enumerate(_measure_order(folder))}
    titles = {
        m["name"]: (m.get("number"), m.get("title")) for m in folder.manifest.get("measures", [])
    }
    wide = wide.with_columns(
        pl.col("measure").replace_strict(order, default=len(order)).alias("_o")
    ).sort(["_o", "domain", "group"])
    frame = pl.DataFrame(
        {
            "Nr": [titles.get(m, (None, None))[0] for m in wide["measure"]],
            "Measure": [
                "Package (all measures)" if m == "package" else (titles.get(m, (None, m))[1] or m)
                for m in wide["measure"]
            ],
            "Domain": wide["domain"],
            "Group": wide["group"],
            "Care reduced (clients)": [str(v) for v in suppress(wide["care_reduced"].to_list())],
            "Care ended (clients)": [str(v) for v in suppress(wide["care_ended"].to_list())],
        }
    )
    return Sheet(
        "Clients affected",
        "Clients whose care a measure reduced or ended, per client group",
        f"Distinct clients over the horizon, {f'the mean of {n} seeds, ' if n > 1 else ''}rounded; "
        f"cells under {SMALL_CELL} clients are suppressed ('{SUPPRESSED}'). Each measure on its "
        "own, and the package.",
        frame,
        {"Care reduced (clients)": INT, "Care ended (clients)": INT},
        freeze_cols=2,
    )
