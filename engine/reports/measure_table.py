"""Per measure of an experiment: target group, clients in scope at the start and their spend,
saving per budget year alone and its share of the package, and the assumption that drives it
most (from a sensitivity folder): the table in rules/README.md ("The 2024 package").

    python -m engine.reports.measure_table EXPERIMENT_FOLDER [SENSITIVITY_FOLDER]

Clients in scope at the start: stock clients holding an arrangement of a product, step,
group and district some rule of the measure names (flags and exceptions aside); their scope
spend: those arrangements' weekly amounts x 52.18 weeks (base-year EUR a year)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import polars as pl

from engine.core.domain import S_ACTIVE
from engine.core.months import parse_month


def scope_facts(ctx) -> dict[str, tuple[int, float]]:
    """Measure name -> (stock clients in scope at the start, their in-scope spend EUR/year).
    The state as built holds no amounts yet: the stock is priced here as a run prices it
    (the kernel's own `weekly_base_cents_all`, baseline parameters), on a copy."""
    from engine.model.kernel import weekly_base_cents_all
    from engine.model.params import compile_params
    from engine.model.state import copy_state

    policy, profile = ctx.policy, ctx.profile
    S = copy_state(ctx.state)
    pop = ctx.population
    P = compile_params(
        profile, policy, pop.pool_rate[:, : ctx.months], ctx.start, ctx.months, 1, events=False
    )
    weekly_base_cents_all(S, P)
    codes = policy.product_codes
    start = np.asarray(S.status) == S_ACTIVE
    owner = np.asarray(S.owner)
    out = {}
    for m in ctx.measures:
        hit = np.zeros(S.n_slots, bool)
        for r in m.rules:
            groups = [profile.group_codes.index(g) for g in r.groups]
            for prod, steps in r.steps.items():
                p = policy.product(prod)
                sel = (np.asarray(S.product) == codes.index(prod)) & np.isin(
                    np.asarray(S.step), [p.step_index(s) for s in steps]
                )
                if r.domain == "wmo":
                    sel &= np.isin(np.asarray(S.wmo_group)[owner], groups)
                if r.districts:
                    sel &= np.isin(np.asarray(S.district)[owner], r.districts)
                hit |= sel & start
        clients = int(np.unique(owner[hit]).size)
        spend = float(np.asarray(S.weekly_cents)[hit].astype(np.int64).sum()) / 100 * 52.18
        out[m.name] = (clients, spend)
    return out


def driving(sens: pl.DataFrame | None) -> dict[str, tuple[str, float, float]]:
    """Measure -> (assumption, saving over the horizon at low, at high) with the largest swing."""
    if sens is None:
        return {}
    tot = sens.group_by("measure", "parameter").agg(
        pl.col("saving_low_net_cents").sum(), pl.col("saving_high_net_cents").sum()
    )
    tot = tot.with_columns(
        (pl.col("saving_high_net_cents") - pl.col("saving_low_net_cents")).abs().alias("swing")
    ).sort("swing", descending=True)
    out = {}
    for row in tot.iter_rows(named=True):
        if row["measure"] not in out and row["swing"] > 0:
            out[row["measure"]] = (
                row["parameter"],
                row["saving_low_net_cents"] / 1e8,
                row["saving_high_net_cents"] / 1e8,
            )
    return out


def table(exp: Path, sens: Path | None = None) -> str:
    from engine.simulation.experiment import load_experiment
    from engine.simulation.subrun import Context

    manifest = json.loads((exp / "manifest.json").read_text())
    spec = load_experiment(manifest["experiment"]["file"])
    spec.on_stock(  # the stock and start the experiment ran on (`--population`, `--start`)
        manifest.get("population", {}).get("file"), parse_month(manifest["experiment"]["start"])
    )
    ctx = Context.build(spec.context_spec())
    facts = scope_facts(ctx)
    sav = pl.read_parquet(exp / "savings.parquet")
    sens_t = pl.read_parquet(sens / "sensitivity.parquet") if sens else None
    drive = driving(sens_t)
    years = sorted(sav["budget_year"].unique().to_list())
    pkg = sav.filter(pl.col("measure") == "package")
    pkg_total = float(pkg["shapley_net_eur_mean"].sum())
    head = (
        "| nr | measure | in scope at start: clients, spend EUR m/yr | saving alone EUR m "
        + " / ".join(str(y) for y in years)
        + " | Shapley share of the package"
        + " | driving assumption: horizon saving at low / high, EUR m |"
    )
    lines = [head, "|" + "---|" * 6]
    for m in ctx.measures:
        rows = sav.filter(pl.col("measure") == m.name).sort("budget_year")
        alone = " / ".join(f"{v / 1e6:.2f}" for v in rows["standalone_net_eur_mean"].to_list())
        share = float(rows["shapley_net_eur_mean"].sum()) / pkg_total if pkg_total else 0.0
        clients, spend = facts[m.name]
        d = drive.get(m.name)
        dtext = f"`{d[0]}`: {d[1]:.1f} / {d[2]:.1f}" if d else "(none varied)"
        lines.append(
            f"| {m.number} | {m.title} | {clients:,}, {spend / 1e6:.1f} | {alone} | "
            f"{share:.1%} | {dtext} |"
        )
    alone = " / ".join(f"{v / 1e6:.2f}" for v in pkg.sort("budget_year")["shapley_net_eur_mean"])
    lines.append(f"| | package | | {alone} | 100% | |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None))
