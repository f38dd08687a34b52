"""What people see on the terminal: progress while working, a summary table at the end."""

from __future__ import annotations

import contextlib
import functools
import sys

import polars as pl

# what a user sees while Numba compiles the kernel (once per machine and engine version)
COMPILING = "compiling the simulation kernel for this machine: first run only, about a minute"


# Rich is imported when something is first shown, not with this module: `caseload run
# --quiet` or `--json` and a run into a log never need it.
@functools.cache
def _consoles() -> dict:
    from rich.console import Console

    return {
        "console": Console(stderr=True),
        # piped or logged: wide enough for a year table
        "out": Console() if sys.stdout.isatty() else Console(width=120),
    }


def __getattr__(name: str):
    """`console` (stderr) and `out` (stdout), made on first use."""
    if name in ("console", "out"):
        return _consoles()[name]
    raise AttributeError(name)


def _table(*args, **kwargs):
    from rich.table import Table

    return Table(*args, **kwargs)


@contextlib.contextmanager
def progress(quiet: bool, what: str, stages: list[tuple[str, str]] | None = None):
    """Progress on stderr (only on a terminal, never with --quiet). Yields a callback
    `prog(stage, obj)` that long steps call. With `stages` ([(key, label)], in order) it is a
    bar that moves one step each time a stage reports that it is done; without, a spinner."""
    if quiet:
        yield lambda *a, **k: None
        return
    if not sys.stderr.isatty():  # a log: only the one thing worth a line, the first run's compile

        def log(stage, obj=None):
            if stage == "compiling":
                print(f"caseload: {COMPILING}", file=sys.stderr, flush=True)

        yield log
        return
    if not stages:
        with _consoles()["console"].status(f"[bold]{what}[/]") as status:

            def update(stage, obj=None):
                if stage == "population" and obj is not None:
                    status.update(
                        f"[bold]{what}[/]: {obj.n_clients:,} clients, {obj.n_arrangements:,} "
                        "arrangement slots"
                    )
                elif stage == "compiling":
                    status.update(f"[bold]{what}[/]: {COMPILING}")
                else:
                    status.update(f"[bold]{what}[/]: {stage}")

            yield update
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    keys = [k for k, _ in stages]
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_consoles()["console"],
    ) as bar:
        task = bar.add_task(f"{what}: {stages[0][1]}", total=len(stages))

        def step(stage, obj=None):
            if stage == "compiling":
                bar.update(task, description=f"{what}: {COMPILING}")
                return
            if stage not in keys:
                bar.update(task, description=f"{what}: {stage}")
                return
            i = keys.index(stage) + 1
            text = f"{what}: {stages[i][1]}" if i < len(stages) else f"{what}: done"
            if stage == "population" and obj is not None:
                text += f" ({obj.n_clients:,} clients, {obj.n_arrangements:,} arrangement slots)"
            bar.update(task, completed=i, description=text)

        yield step


class Bar:
    """A progress bar over work units on stderr (only on a terminal, never with --quiet):
    `bar.total(n)` once the work is known, `bar.advance(k)` as units end."""

    def __init__(self, quiet: bool, what: str):
        self.live = not quiet and sys.stderr.isatty()
        self.what = what
        self._p = None
        self._task = None

    def __enter__(self):
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._p = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=_consoles()["console"],
                transient=True,
            )
            self._p.__enter__()
            self._task = self._p.add_task(self.what, total=None)
        return self

    def total(self, n: int) -> None:
        if self._p:
            self._p.update(self._task, total=n)

    def advance(self, k: int = 1) -> None:
        if self._p:
            self._p.advance(self._task, k)

    def __exit__(self, *exc):
        if self._p:
            self._p.__exit__(*exc)
        return False


def summary_json(result) -> dict:
    m = result.manifest
    rows = result.tables["summary"].to_dicts()
    return {
        "scenario": m["scenario"],
        "seeds": m["seeds"],
        "timings": m["timings"],
        "active_arrangement_months": m["active_arrangement_months"],
        "summary": rows,
    }


def _waiting_table(y: pl.DataFrame):
    """Waiting lists per capacity-bound product and budget year (a run with capacity on)."""
    t = _table(
        title="waiting lists: joined, placed, waiting at the end of the year, median wait of "
        "those placed (months) and share over the norm"
    )
    for col, just in (
        ("product", "left"),
        ("year", "right"),
        ("places", "right"),
        ("joined", "right"),
        ("placed", "right"),
        ("waiting", "right"),
        ("wait mo", "right"),
        ("> norm", "right"),
        ("interim EUR m", "right"),
    ):
        t.add_column(col, justify=just, no_wrap=True)
    for r in y.sort(["product", "district", "budget_year"]).iter_rows(named=True):
        name = r["product"] if not r["district"] else f"{r['product']} ({r['district']})"
        places = r["capacity_mean"]
        share = r["share_over_norm"]
        med = r["wait_median_months"]
        t.add_row(
            name,
            str(r["budget_year"]),
            "unlimited" if places is None else f"{places:,.0f}",
            f"{r['joined']:,}",
            f"{r['admitted']:,}",
            f"{r['waiting_end']:,}",
            "" if med is None else f"{med:.0f}",
            "" if share is None else f"{share:.0%}",
            f"{r['interim_gross_cents'] / 1e8:,.2f}",
        )
    return t


def print_run_summary(result, path) -> None:
    m = result.manifest
    summary: pl.DataFrame = result.tables["summary"]
    t = _table(
        title=(
            f"{m['scenario']['name']}: {m['scenario']['profile']} {m['scenario']['start']} + "
            f"{m['scenario']['months']} months, seed {m['seeds']['simulation']}"
        )
    )
    for col, just in (
        ("domain", "left"),
        ("budget year", "right"),
        ("clients served", "right"),
        ("gross EUR m", "right"),
        ("own contr. EUR m", "right"),
        ("net EUR m", "right"),
    ):
        t.add_column(col, justify=just)
    for r in summary.iter_rows(named=True):
        mark = "" if r["complete"] else " (part)"
        t.add_row(
            r["domain"],
            f"{r['budget_year']}{mark}",
            f"{r['clients_served'] or 0:,}",
            f"{r['gross_eur'] / 1e6:,.1f}",
            f"{r['own_contribution_eur'] / 1e6:,.1f}",
            f"{r['net_eur'] / 1e6:,.1f}",
        )
    _consoles()["out"].print(t)
    if "waiting_yearly" in result.tables:  # a run with capacity on
        _consoles()["out"].print(_waiting_table(result.tables["waiting_yearly"]))
    tm = m["timings"]
    _consoles()["out"].print(
        f"run folder: {path}\n"
        f"{m['population']['clients']:,} clients, {m['active_arrangement_months']:,} active "
        "arrangement-months; "
        f"kernel {tm.get('kernel_s', 0):.3f} s"
        + (
            f", compile {tm['compile_s']:.1f} s (once per machine and engine version)"
            if tm.get("compile_s", 0) >= 1.0
            else ""
        )
        + f", total {sum(v for k, v in tm.items() if k.endswith('_s')):.2f} s"
    )


def print_comparison(result: dict, path) -> None:
    ma, mb = result["_manifests"]
    t = _table(
        title=(
            f"{mb['scenario']['name']} versus {ma['scenario']['name']}: saving (baseline minus "
            "measure)"
        )
    )
    for col in (
        "domain",
        "budget year",
        "baseline net EUR m",
        "measure net EUR m",
        "saving net EUR m",
        "saving gross EUR m",
    ):
        t.add_column(col, justify="left" if col == "domain" else "right")
    for r in result["comparison_yearly"].iter_rows(named=True):
        t.add_row(
            r["domain"],
            str(r["budget_year"]),
            f"{r['net_cents_baseline'] / 1e8:,.2f}",
            f"{r['net_cents_measure'] / 1e8:,.2f}",
            f"{r['saving_net_cents'] / 1e8:,.2f}",
            f"{r['saving_gross_cents'] / 1e8:,.2f}",
        )
    _consoles()["out"].print(t)
    g = _table(title="people affected and care lost, per client group (whole horizon)")
    for col in (
        "domain",
        "group",
        "care reduced",
        "care ended",
        "EUR lost (gross)",
        "weekly hours lost",
    ):
        g.add_column(col, justify="left" if col in ("domain", "group") else "right")
    for r in result["affected_by_group"].iter_rows(named=True):
        g.add_row(
            r["domain"],
            r["group"],
            f"{r['care_reduced']:,}",
            f"{r['care_ended']:,}",
            f"{r['gross_cents_lost'] / 100:,.0f}",
            f"{r['weekly_hours_lost']:,.0f}",
        )
    _consoles()["out"].print(g)
    _consoles()["out"].print(f"comparison folder: {path}")


def _eur_m(cents_or_eur: float | None, eur: bool = True) -> str:
    if cents_or_eur is None:
        return "-"
    text = f"{cents_or_eur / 1e6 if eur else cents_or_eur / 1e8:,.2f}"
    return "0.00" if text == "-0.00" else text


def print_experiment(savings: pl.DataFrame, manifest: dict, path) -> None:
    """The finance table: measures as rows, budget years as columns, EUR million net
    (Shapley share in the package, or the standalone saving), the package and the
    interaction; with replications a second table with the P5-P95 interval."""
    ex = manifest["experiment"]
    years = manifest["budget_years"]
    n_seeds = len(ex["seeds"])
    shapley = ex["attribution"] != "standalone"
    col = "shapley_net_eur" if shapley else "standalone_net_eur"
    what = "Shapley share in the package" if shapley else "standalone saving"
    by = {(r["measure"], r["budget_year"]): r for r in savings.iter_rows(named=True)}
    order = list(dict.fromkeys(savings["measure"].to_list()))

    def label(name):
        r = by[(name, years[0])]
        return name if r["number"] is None else f"{r['number']}. {name}"

    seeds = f"mean of {n_seeds} seeds" if n_seeds > 1 else "1 seed"
    stock = manifest.get("population") or {}
    on = f", on {stock['file']}" if stock.get("file") else ""
    t = _table(
        title=f"{ex['name']}: saving per measure and budget year, EUR million net ({what}, "
        f"{seeds}{on})"
    )
    t.add_column("measure", justify="left")
    for y in years:
        t.add_column(str(y), justify="right")
    t.add_column("total", justify="right")
    for name in order:
        vals = [by[(name, y)][f"{col}_mean"] or 0.0 for y in years]
        t.add_row(
            label(name),
            *[_eur_m(v) for v in vals],
            _eur_m(sum(vals)),
            style="bold" if name == "package" else None,
        )
    if shapley:
        alone = [
            sum(by[(n, y)]["standalone_net_eur_mean"] for n in order if n != "package")
            for y in years
        ]
        t.add_row(
            "sum of standalone savings",
            *[_eur_m(v) for v in alone],
            _eur_m(sum(alone)),
            style="dim",
        )
        inter = [by[("package", y)]["interaction_net_eur_mean"] for y in years]
        t.add_row(
            "interaction (package - sum)",
            *[_eur_m(v) for v in inter],
            _eur_m(sum(inter)),
            style="dim",
        )
    _consoles()["out"].print(t)
    if n_seeds > 1:
        t = _table(
            title=f"P5 - P95 across {n_seeds} seeds (paired with the baseline), EUR million net"
        )
        t.add_column("measure", justify="left")
        for y in years:
            t.add_column(str(y), justify="right")
        for name in order:
            t.add_row(
                label(name),
                *[
                    f"{_eur_m(by[(name, y)][f'{col}_p5'])} - {_eur_m(by[(name, y)][f'{col}_p95'])}"
                    for y in years
                ],
            )
        _consoles()["out"].print(t)
    tm = manifest["timings"]
    _consoles()["out"].print(
        f"experiment folder: {path}\n{ex['subruns']} sub-runs on {ex['backend']} ({ex['workers']} "
        f"worker{'s' if ex['workers'] > 1 else ''}) in {tm.get('subruns_s', 0):.1f} s"
    )


def print_sensitivity(table: pl.DataFrame, manifest: dict, path) -> None:
    """Per measure and assumption: the saving over the horizon at the low and high value."""
    t = _table(
        title=(
            f"{manifest['experiment']['name']}: saving over the horizon, EUR million net, per "
            "assumption (low / base / high)"
        )
    )
    for c in ("measure", "assumption", "low", "base", "high", "swing"):
        t.add_column(c, justify="left" if c in ("measure", "assumption") else "right")
    tot = (
        table.group_by(["measure", "parameter"], maintain_order=True)
        .agg(
            pl.col("saving_low_net_cents").sum(),
            pl.col("saving_base_net_cents").sum(),
            pl.col("saving_high_net_cents").sum(),
            pl.col("swing_net_cents").sum(),
        )
        .sort(["measure", "swing_net_cents"], descending=[False, True])
    )
    for r in tot.iter_rows(named=True):
        t.add_row(
            r["measure"],
            r["parameter"],
            _eur_m(r["saving_low_net_cents"], False),
            _eur_m(r["saving_base_net_cents"], False),
            _eur_m(r["saving_high_net_cents"], False),
            _eur_m(r["swing_net_cents"], False),
        )
    _consoles()["out"].print(t)
    _consoles()["out"].print(f"sensitivity folder: {path}")
