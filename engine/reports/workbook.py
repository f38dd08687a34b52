"""The finance workbook: an experiment (or a run) in finance's own lines, as an Excel file
(`--xlsx`) or one CSV per sheet (`--csv DIR`).

Sheets (one table each; amounts in nominal EUR, the mean over the experiment's seeds):
- About: what ran (experiment, profile, policy, horizon, seeds, attribution, versions, hashes)
- Savings: net saving per measure and budget year (the measure's Shapley share of the
  package saving) and the package
- Savings detail: the same per measure and year with the 5-95% interval over seeds, the
  saving of the measure alone (standalone), the interaction and Monte Carlo standard errors
- Baseline by product / Baseline by IV3: budget lines (gross cost, own contributions, net
  cost; for an experiment also the net cost with all measures and the saving) per product and
  per IV3 task field, one column per budget year (the mapping is the policy library's `iv3`)
- Clients affected: clients whose care a measure reduced or ended, per domain and group;
  cells under 10 clients are shown as "<10"
- Waiting lists (a run with capacity on): per capacity-bound product and budget year, places,
  the queue's flows, waits and the interim care's cost (engine.reports.waiting_report)
- Assumptions: the register of assumptions (every named parameter and its source)
- Cost drivers (a `caseload explain` folder): the net cost change per line split into
  volume, mix and price (engine.simulation.decomposition)
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from engine.core.errors import InputError
from engine.outputs.folder import Folder
from engine.reports.experiment_sheets import affected_sheet, savings_sheets
from engine.reports.sheet import INT, MONEY, SMALL_CELL, SUPPRESSED, Sheet
from rules.policy import IV3_TASK_FIELDS, default_iv3, load_policy
from synthetic_population.profile import load_profile


# ----------------------------------------------------------------------------- product info
def policy_for(folder: Folder):
    """The policy library a folder ran under (for the IV3 mapping and product areas), loaded
    from the profile the manifest names; None when it cannot be found any more."""
    m = folder.manifest
    if folder.kind == "run":
        refs = [m.get("spec", {}).get("profile"), m.get("scenario", {}).get("profile")]
        pol = [m.get("scenario", {}).get("policy")]
    elif folder.kind == "comparison":
        refs = [m.get("baseline", {}).get("scenario", {}).get("profile")]
        base = Path(m.get("baseline", {}).get("run_dir", ""))
        if (base / "manifest.json").exists():
            refs.insert(
                0, json.loads((base / "manifest.json").read_text()).get("spec", {}).get("profile")
            )
        pol = [m.get("baseline", {}).get("scenario", {}).get("policy")]
    else:
        refs = [m.get("experiment", {}).get("profile")]
        pol = [m.get("experiment", {}).get("policy")]
    for ref in refs:
        if ref:
            try:
                return load_profile(ref)[1]
            except Exception:  # noqa: BLE001
                continue
    for ref in pol:
        if ref:
            try:
                return load_policy(ref)
            except Exception:  # noqa: BLE001
                continue
    return None


def product_info(
    folder: Folder, products: list[str], domains: dict[str, str] | None = None
) -> pl.DataFrame:
    """product -> area, IV3 task field (from the policy library the folder ran under)."""
    policy = policy_for(folder)
    rows = []
    for code in products:
        area, iv3, src = "", None, "policy library"
        if policy is not None:
            try:
                p = policy.product(code)
                area, iv3 = p.area, p.iv3
            except KeyError:
                pass
        if iv3 is None:
            dom = (domains or {}).get(code, "wmo")
            iv3, src = (
                default_iv3(dom, "extramural"),
                "not in the policy library: derived from the domain",
            )
        rows.append((code, area, iv3, IV3_TASK_FIELDS[iv3], src))
    return pl.DataFrame(
        rows,
        orient="row",
        schema={
            "product": pl.Utf8,
            "area": pl.Utf8,
            "iv3": pl.Utf8,
            "iv3_name": pl.Utf8,
            "iv3_from": pl.Utf8,
        },
    )


def _mean_over_seeds(frame: pl.DataFrame, keys: list[str], values: list[str]) -> pl.DataFrame:
    """Sum cents per (seed, keys), then the mean over seeds in EUR."""
    if "seed" not in frame.columns:
        frame = frame.with_columns(pl.lit(0).alias("seed"))
    n = frame["seed"].n_unique()
    if "budget_year" in frame.columns:
        frame = frame.with_columns(pl.col("budget_year").cast(pl.Int32))
    per_seed = frame.group_by(["seed", *keys]).agg(*[pl.col(v).sum() for v in values])
    return (
        per_seed.group_by(keys)
        .agg(
            *[
                (pl.col(v).sum() / n / (100.0 if v.endswith("_cents") else 1.0)).alias(v)
                for v in values
            ]
        )
        .sort(keys)
    )


LINES = {
    "gross_cents": "Gross cost",
    "own_contribution_cents": "Own contributions",
    "net_cents": "Net cost",
    "package_net": "Net cost with all measures",
    "saving": "Saving (net)",
}


def _by_year(
    frame: pl.DataFrame, keys: list[str], values: list[str], years: list[int]
) -> pl.DataFrame:
    """Budget lines: one row per key and line (gross, own contributions, net, ...), one
    column per budget year and a total."""
    long = frame.unpivot(
        index=[*keys, "budget_year"], on=values, variable_name="_v", value_name="_eur"
    )
    order = {v: i for i, v in enumerate(values)}
    wide = long.pivot(
        on="budget_year", index=[*keys, "_v"], values="_eur", aggregate_function="sum"
    )
    for y in years:
        if str(y) not in wide.columns:
            wide = wide.with_columns(pl.lit(0.0).alias(str(y)))
    wide = wide.with_columns(*[pl.col(str(y)).fill_null(0.0) for y in years])
    wide = wide.with_columns(
        pl.sum_horizontal([str(y) for y in years]).alias("Total"),
        pl.col("_v").replace_strict(order).alias("_o"),
    )
    return (
        wide.sort(
            [(pl.col(k) != "wmo") if k == "domain" else pl.col(k) for k in keys] + [pl.col("_o")]
        )
        .with_columns(pl.col("_v").replace_strict(LINES).alias("Line"))
        .select(*keys, "Line", *[str(y) for y in years], "Total")
    )


def baseline_sheets(
    folder: Folder, yearly: pl.DataFrame, package: pl.DataFrame | None, n_seeds: int
) -> list[Sheet]:
    """Finance's budget lines: gross cost, own contributions and net cost per budget year,
    by product and by IV3 task field (rows: key x line; columns: the budget years)."""
    info = product_info(
        folder,
        sorted(yearly["product"].unique().to_list()),
        dict(yearly.select("product", "domain").unique().iter_rows()),
    )
    years = sorted(int(y) for y in yearly["budget_year"].unique().to_list())
    money = ["gross_cents", "own_contribution_cents", "net_cents"]
    by_p = _mean_over_seeds(yearly, ["domain", "product", "budget_year"], money).join(
        info, on="product", how="left"
    )
    seeds_txt = f"the mean of {n_seeds} seeds" if n_seeds > 1 else "one seed"
    wide_p = _by_year(by_p, ["domain", "iv3", "product", "area"], money, years).rename(
        {"domain": "Domain", "iv3": "IV3", "product": "Product", "area": "Area"}
    )
    product_sheet = Sheet(
        "Baseline by product",
        "Baseline cost per product and budget year (EUR)",
        f"Nominal EUR, {seeds_txt}. Net cost = gross cost - own contributions (Wmo "
        "abonnementstarief). IV3 task field from the policy library.",
        wide_p,
        {**{str(y): MONEY for y in years}, "Total": MONEY},
        freeze_cols=4,
    )
    by_iv3 = by_p.group_by(["iv3", "budget_year"]).agg(*[pl.col(c).sum() for c in money])
    grid = pl.DataFrame(
        [(k, y) for k in IV3_TASK_FIELDS for y in years],
        orient="row",
        schema={"iv3": pl.Utf8, "budget_year": pl.Int32},
    )
    by_iv3 = grid.join(by_iv3, on=["iv3", "budget_year"], how="left").with_columns(
        pl.col(money).fill_null(0.0)
    )
    lines = list(money)
    note = (
        f"Nominal EUR, {seeds_txt}. All five task fields of social care are listed; a field no "
        "product books under shows 0."
    )
    if package is not None:
        pk = _mean_over_seeds(package, ["product", "budget_year"], ["net_cents"]).join(
            info.select("product", "iv3"), on="product", how="left"
        )
        pk = pk.group_by(["iv3", "budget_year"]).agg(pl.col("net_cents").sum().alias("package_net"))
        by_iv3 = by_iv3.join(pk, on=["iv3", "budget_year"], how="left").with_columns(
            pl.col("package_net").fill_null(0.0)
        )
        by_iv3 = by_iv3.with_columns((pl.col("net_cents") - pl.col("package_net")).alias("saving"))
        lines += ["package_net", "saving"]
        note += (
            " 'Net cost with all measures' is the package run; the saving is the baseline's net "
            "cost minus it."
        )
    wide_i = _by_year(by_iv3, ["iv3"], lines, years)
    wide_i = (
        wide_i.with_columns(pl.col("iv3").replace_strict(IV3_TASK_FIELDS).alias("Task field"))
        .rename({"iv3": "IV3"})
        .select("IV3", "Task field", pl.exclude("IV3", "Task field"))
    )
    iv3_sheet = Sheet(
        "Baseline by IV3",
        "Baseline cost per IV3 task field and budget year (EUR)",
        note,
        wide_i,
        {**{str(y): MONEY for y in years}, "Total": MONEY},
        freeze_cols=3,
    )
    return [product_sheet, iv3_sheet]


def assumptions_sheet(frame: pl.DataFrame) -> Sheet:
    return Sheet(
        "Assumptions",
        "Register of assumptions: every named parameter of the profile and the policy",
        "Source 'assumption' marks a reasoned default where the documents are silent; each can be "
        "replaced by name (caseload run --set NAME=VALUE).",
        frame.select(
            pl.col("name").alias("Parameter"),
            pl.col("value").alias("Value"),
            pl.col("unit").alias("Unit"),
            pl.col("source").alias("Source"),
            pl.col("note").alias("Note"),
        ),
        {},
        freeze_cols=1,
    )


LEVEL_NAMES = {
    "total": "All",
    "domain": "Domain",
    "domain_product": "Product",
    "domain_group": "Client group",
    "domain_product_group": "Product x group",
}


def decomposition_sheet(frame: pl.DataFrame) -> Sheet:
    """Cost drivers: the net cost change per line split into volume, mix and price (EUR)."""
    order = {k: i for i, k in enumerate(LEVEL_NAMES)}
    f = frame.with_columns(
        pl.col("level").replace_strict(order, default=len(order)).alias("_o")
    ).sort(["from_year", "to_year", "_o", pl.col("domain") != "wmo", "domain", "product", "group"])
    eur = {
        "net_cents_from": "Net from EUR",
        "net_cents_to": "Net to EUR",
        "net_cents_change": "Change EUR",
        "volume_cents": "Volume EUR",
        "mix_cents": "Mix EUR",
        "price_cents": "Price EUR",
    }
    out = f.select(
        pl.col("from_run").alias("From run"),
        pl.col("from_year").cast(pl.Utf8).alias("From year"),
        pl.col("to_run").alias("To run"),
        pl.col("to_year").cast(pl.Utf8).alias("To year"),
        pl.col("level").replace_strict(LEVEL_NAMES, default=pl.col("level")).alias("Level"),
        pl.col("domain").fill_null("all").alias("Domain"),
        pl.col("product").fill_null("all").alias("Product"),
        pl.col("group").fill_null("all").alias("Group"),
        pl.col("arrangement_months_from").alias("Arrangement-months from"),
        pl.col("arrangement_months_to").alias("Arrangement-months to"),
        *[(pl.col(c) / 100.0).alias(n) for c, n in eur.items()],
    )
    return Sheet(
        "Cost drivers",
        "Why net cost moves: volume, mix and price per line (EUR)",
        "Change = to minus from (a saving is negative) = volume + mix + price, exact to the cent. "
        "Volume: arrangement-months. Mix: steps and products within the line "
        "and the amount per arrangement-month at constant tariffs. Price: the step tariff x the "
        "price index. Shapley value over the three factors; each line on its own cells.",
        out,
        {
            "Arrangement-months from": INT,
            "Arrangement-months to": INT,
            **{n: MONEY for n in eur.values()},
        },
        freeze_cols=8,
    )


def _register_of(folder: Folder) -> pl.DataFrame | None:
    """A run's assumption register, from its profile (with the run's overrides)."""
    from synthetic_population.profile import load_profile

    spec = folder.manifest.get("spec", {})
    try:
        profile, policy = load_profile(
            spec.get("profile") or folder.manifest["scenario"]["profile"],
            spec.get("overrides") or {},
        )
    except Exception:  # noqa: BLE001 - the sheet is left out when the profile is gone
        return None
    reg = [*profile.register, *policy.register]
    return pl.DataFrame(
        {
            "name": [r.name for r in reg],
            "value": [json.dumps(r.value, default=str) for r in reg],
            "unit": [r.unit for r in reg],
            "source": [r.source for r in reg],
            "note": [r.note for r in reg],
        }
    )


def _population_text(m: dict) -> str:
    """The manifest's population in words: synthetic, or the extract (or file) it read."""
    p = m.get("population") or {}
    text = p.get("source", "synthetic")
    if p.get("file"):
        text += f" from {p['file']}"
    if p.get("clients") is not None:
        text += f", {p['clients']:,} clients"
    return text


def about_sheet(folder: Folder, extra: list[tuple[str, str]] = ()) -> Sheet:
    m = folder.manifest
    rows: list[tuple[str, str]] = [
        ("Folder", str(folder.path)),
        ("Kind", folder.kind),
        ("Run id", folder.run_id),
    ]
    if folder.kind == "decomposition":
        a, b = m.get("from", {}), m.get("to", {})
        span = (
            f"{a.get('run_id')} {a.get('year')} -> {b.get('year')}"
            if m.get("mode") == "years"
            else (
                f"{a.get('run_id')} -> {b.get('run_id')}, budget years "
                f"{', '.join(str(y) for y in a.get('years', []))}"
            )
        )
        rows += [
            ("Decomposition", span),
            ("From run", f"{a.get('run_id')} ({a.get('run_dir')})"),
            ("To run", f"{b.get('run_id')} ({b.get('run_dir')})"),
            ("Profile", str(m.get("profile", ""))),
            ("Policy", str(m.get("policy", ""))),
            ("Start", str(m.get("start", ""))),
            ("Months", str(m.get("months", ""))),
            ("Method", m.get("method", "")),
            (
                "Sign",
                "Change = to minus from (later year minus earlier; measure run minus baseline): a "
                "saving is negative",
            ),
        ]
    elif folder.kind in ("experiment", "sensitivity"):
        ex = m.get("experiment", {})
        rows += [
            ("Experiment", ex.get("name", "")),
            ("Description", ex.get("description", "")),
            ("Experiment file", ex.get("file", "")),
            ("Profile", str(ex.get("profile", ""))),
            ("Policy", str(ex.get("policy", ""))),
            ("Start", ex.get("start", "")),
            ("Months", str(ex.get("months", ""))),
            ("Budget years", ", ".join(str(y) for y in m.get("budget_years", []))),
            ("Simulation seeds", ", ".join(str(s) for s in ex.get("seeds", []))),
            ("Population seed", str(ex.get("population_seed", ""))),
            ("Population", _population_text(m)),
            (
                "Attribution",
                str(ex.get("attribution", ""))
                + (f" ({ex['permutations']} permutations)" if ex.get("permutations") else ""),
            ),
            ("Backend", f"{ex.get('backend', '')}, {ex.get('workers', '')} workers"),
        ]
        for ms in m.get("measures", []):
            rows.append(
                (
                    f"Measure {ms.get('number') or ''}".strip(),
                    f"{ms.get('title', '')} [{ms.get('name')}] source: {ms.get('source', '')}",
                )
            )
    else:
        sc = m.get("scenario", {})
        rows += [
            ("Scenario", sc.get("name", "")),
            ("Description", sc.get("description", "")),
            ("Scenario file", str(sc.get("file") or "")),
            ("Profile", sc.get("profile", "")),
            ("Policy", sc.get("policy", "")),
            ("Start", sc.get("start", "")),
            ("Months", str(sc.get("months", ""))),
            ("Simulation seed", str(m.get("seeds", {}).get("simulation", ""))),
            ("Population seed", str(m.get("seeds", {}).get("population", ""))),
            ("Population", _population_text(m)),
            ("Random streams", m.get("rng_mode", "")),
        ]
        for ms in sc.get("measures", []):
            rows.append(
                (
                    f"Measure {ms.get('number') or ''}".strip(),
                    f"{ms.get('title', '')} [{ms.get('name')}] source: {ms.get('source', '')}",
                )
            )
    rows += [("Created", m.get("created", "")), ("caseload version", m.get("caseload_version", ""))]
    for k, v in (m.get("hashes") or {}).items():
        if v:
            rows.append((f"Hash: {k}", str(v)))
    rows += list(extra)
    rows += [
        (
            "Amounts",
            "Nominal euros (base-year prices x the policy's yearly index); whole cents summed "
            "exactly, shown rounded to euros",
        ),
        ("Small cells", f"Client counts under {SMALL_CELL} are suppressed ('{SUPPRESSED}')"),
        (
            "IV3 task fields",
            "; ".join(f"{k} {v}" for k, v in IV3_TASK_FIELDS.items())
            + " (mapping per product: policy library, key products.<code>.iv3)",
        ),
    ]
    frame = pl.DataFrame(rows, orient="row", schema={"Item": pl.Utf8, "Value": pl.Utf8})
    return Sheet(
        "About",
        "About this workbook",
        "What ran, with which inputs; the run folder is the source of truth.",
        frame,
        {},
        freeze_cols=1,
    )


def build_sheets(folder: Folder) -> list[Sheet]:
    """The workbook's sheets for an experiment or a run folder; money rounded to cents."""
    sheets = _build_sheets(folder)
    for sh in sheets:
        money = [
            c
            for c, k in sh.formats.items()
            if k == MONEY and c in sh.frame.columns and sh.frame.schema[c].is_float()
        ]
        if money:
            sh.frame = sh.frame.with_columns(pl.col(money).round(2))
    return sheets


def _build_sheets(folder: Folder) -> list[Sheet]:
    if folder.kind == "experiment":
        n_seeds = (
            len(folder.manifest.get("experiment", {}).get("seeds", []))
            or folder.table("baseline_yearly")["seed"].n_unique()
        )
        package = folder.table("package_yearly") if folder.has("package_yearly") else None
        sheets = [
            about_sheet(folder, [("Seeds in the means", str(n_seeds))]),
            *savings_sheets(folder),
            *baseline_sheets(folder, folder.table("baseline_yearly"), package, n_seeds),
        ]
        if folder.has("affected"):
            sheets.append(affected_sheet(folder))
        if folder.has("waiting_yearly"):  # capacity on
            from engine.reports.waiting_report import waiting_sheet

            sheets.append(waiting_sheet(folder))
        if folder.has("assumptions"):
            sheets.append(assumptions_sheet(folder.table("assumptions")))
        return sheets
    if folder.kind == "run":
        sheets = [
            about_sheet(folder),
            *baseline_sheets(folder, folder.table("arrangements_yearly"), None, 1),
        ]
        if folder.has("waiting_yearly"):  # a run with capacity on
            from engine.reports.waiting_report import waiting_sheet

            sheets.append(waiting_sheet(folder))
        reg = _register_of(folder)
        if reg is not None:
            sheets.append(assumptions_sheet(reg))
        return sheets
    if folder.kind == "decomposition":
        return [about_sheet(folder), decomposition_sheet(folder.table("decomposition"))]
    raise InputError(
        str(folder.path),
        f"a {folder.kind} folder",
        "an experiment folder (or a run folder: baseline sheets only, a decomposition folder: cost "
        "drivers)",
    )
