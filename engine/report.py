"""What people see on the terminal: progress while working, a summary table at the end."""

from __future__ import annotations

import contextlib
import sys

import polars as pl
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
out = Console()


@contextlib.contextmanager
def progress(quiet: bool, what: str, stages: list[tuple[str, str]] | None = None):
    """Progress on stderr (only on a terminal, never with --quiet). Yields a callback
    `prog(stage, obj)` that long steps call. With `stages` ([(key, label)], in order) it is a
    bar that moves one step each time a stage reports that it is done; without, a spinner."""
    if quiet or not sys.stderr.isatty():
        yield lambda *a, **k: None
        return
    if not stages:
        with console.status(f"[bold]{what}[/]") as status:
            def update(stage, obj=None):
                if stage == "population" and obj is not None:
                    status.update(f"[bold]{what}[/]: {obj.n_clients:,} clients, {obj.n_arrangements:,} arrangement slots")
                else:
                    status.update(f"[bold]{what}[/]: {stage}")
            yield update
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    keys = [k for k, _ in stages]
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(f"{what}: {stages[0][1]}", total=len(stages))

        def step(stage, obj=None):
            if stage not in keys:
                bar.update(task, description=f"{what}: {stage}")
                return
            i = keys.index(stage) + 1
            text = f"{what}: {stages[i][1]}" if i < len(stages) else f"{what}: done"
            if stage == "population" and obj is not None:
                text += f" ({obj.n_clients:,} clients, {obj.n_arrangements:,} arrangement slots)"
            bar.update(task, completed=i, description=text)
        yield step


def summary_json(result) -> dict:
    m = result.manifest
    rows = result.tables["summary"].to_dicts()
    return {"scenario": m["scenario"], "seeds": m["seeds"], "timings": m["timings"], "active_arrangement_months": m["active_arrangement_months"], "summary": rows}


def print_run_summary(result, path) -> None:
    m = result.manifest
    summary: pl.DataFrame = result.tables["summary"]
    t = Table(title=f"{m['scenario']['name']}: {m['scenario']['profile']} {m['scenario']['start']} + {m['scenario']['months']} months, seed {m['seeds']['simulation']}")
    for col, just in (("domain", "left"), ("budget year", "right"), ("clients served", "right"), ("gross EUR m", "right"), ("own contr. EUR m", "right"), ("net EUR m", "right")):
        t.add_column(col, justify=just)
    for r in summary.iter_rows(named=True):
        mark = "" if r["complete"] else " (part)"
        t.add_row(r["domain"], f"{r['budget_year']}{mark}", f"{r['clients_served']:,}", f"{r['gross_eur'] / 1e6:,.1f}", f"{r['own_contribution_eur'] / 1e6:,.1f}", f"{r['net_eur'] / 1e6:,.1f}")
    out.print(t)
    tm = m["timings"]
    out.print(
        f"run folder: {path}\n"
        f"{m['population']['clients']:,} clients, {m['active_arrangement_months']:,} active arrangement-months; "
        f"kernel {tm.get('kernel_s', 0):.3f} s, total {sum(v for k, v in tm.items() if k.endswith('_s')):.2f} s"
    )


def print_comparison(result: dict, path) -> None:
    ma, mb = result["_manifests"]
    t = Table(title=f"{mb['scenario']['name']} versus {ma['scenario']['name']}: saving (baseline minus measure)")
    for col in ("domain", "budget year", "baseline net EUR m", "measure net EUR m", "saving net EUR m", "saving gross EUR m"):
        t.add_column(col, justify="left" if col == "domain" else "right")
    for r in result["comparison_yearly"].iter_rows(named=True):
        t.add_row(r["domain"], str(r["budget_year"]), f"{r['net_cents_baseline'] / 1e8:,.2f}", f"{r['net_cents_measure'] / 1e8:,.2f}", f"{r['saving_net_cents'] / 1e8:,.2f}", f"{r['saving_gross_cents'] / 1e8:,.2f}")
    out.print(t)
    g = Table(title="people affected and care lost, per client group (whole horizon)")
    for col in ("domain", "group", "care reduced", "care ended", "EUR lost (gross)", "weekly hours lost"):
        g.add_column(col, justify="left" if col in ("domain", "group") else "right")
    for r in result["affected_by_group"].iter_rows(named=True):
        g.add_row(r["domain"], r["group"], f"{r['care_reduced']:,}", f"{r['care_ended']:,}", f"{r['gross_cents_lost'] / 100:,.0f}", f"{r['weekly_hours_lost']:,.0f}")
    out.print(g)
    out.print(f"comparison folder: {path}")
