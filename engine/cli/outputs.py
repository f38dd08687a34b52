"""Command-line subcommands for what the data team, finance and the council see:
`runs list|show|sql|rebuild` (the catalog), `export` (the finance workbook) and `report`
(the HTML report); `explain` (why costs move) is in engine.cli.explain. `engine.cli` calls
`register`; errors are `InputError`s (exit code 2)."""

from __future__ import annotations

import argparse
import contextlib
import csv
import sys
import time
from pathlib import Path

from engine.cli.common import print_json, rich_table
from engine.core.errors import InputError

FMT = argparse.RawDescriptionHelpFormatter

EPILOG_RUNS = """\
The catalog (runs/catalog.duckdb) lists every complete run, comparison, experiment and
sensitivity folder; `caseload run` and `caseload compare` register what they write. The folders
are the source of truth: `caseload runs rebuild` recreates the catalog from them.

examples:
  caseload runs list
  caseload runs list --kind experiment --json
  caseload runs show baseline
  caseload runs sql "SELECT run_id, budget_year, sum(net_cents)/100 AS net_eur \
FROM arrangements_yearly GROUP BY ALL ORDER BY ALL"
  caseload runs rebuild

Where the catalog is: --catalog FILE, else $CASELOAD_CATALOG, else catalog.duckdb beside the
folder that holds the run folders (runs/out -> runs/catalog.duckdb).
"""

EPILOG_SQL = """\
Tables: runs (one row per folder: run_id, kind, name, profile, policy, start, months,
seeds, population_seed, measures, created, path, manifest as JSON), files, measures.
Views (every registered folder's Parquet, run_id first): arrangements, arrangements_yearly,
clients, clients_yearly, served, summary, events, affected (runs); comparison,
comparison_yearly, affected_by_group (comparisons); savings, savings_by_seed,
baseline_yearly, package_yearly, experiment_affected, costs_monthly, assumptions
(experiments); sensitivity; decomposition (`caseload explain`). Money columns are int64 \
cents (*_cents) or EUR (*_eur).

examples:
  caseload runs sql "SELECT run_id, kind, name, start, months FROM runs ORDER BY created"
  caseload runs sql "SELECT r.name, a.budget_year, sum(a.net_cents)/100 AS net_eur
                     FROM arrangements_yearly a JOIN runs r USING (run_id) \
GROUP BY ALL ORDER BY ALL"
  caseload runs sql "SELECT run_id, measure, budget_year, shapley_net_eur_mean FROM savings \
WHERE measure = 'package'"
  caseload runs sql "SELECT * FROM summary" --csv > summary.csv

The query runs on a read-only connection; an SQL error exits with code 2.
"""

EPILOG_EXPORT = """examples:
  caseload export boz-2024-experiment --xlsx boz-2024.xlsx
  caseload export runs/out/boz-2024-experiment --csv exports/boz-2024/
  caseload export baseline --xlsx baseline.xlsx         a run folder: baseline sheets only

Sheets: About (what ran), Savings (net saving per measure and budget year, EUR), Savings
detail (with the 5-95% interval over seeds, the saving alone and the interaction), Baseline
by product and Baseline by IV3 (budget lines: gross cost, own contributions and net cost,
one column per budget year; IV3 task fields 6.6, 6.71, 6.72, 6.81, 6.82 from the policy
library), Clients affected
(cells under 10 clients shown as "<10"), Assumptions (the register with sources).
A decomposition folder (`caseload explain`): About and Cost drivers (volume, mix and price).
--csv writes one CSV per sheet.
"""

EPILOG_REPORT = """examples:
  caseload report runs/out/demo/compare-baseline--boz-2024 --out report.html
  caseload report boz-2024-experiment --out boz-2024.html      a sensitivity folder \
beside it is found
  caseload report boz-2024-experiment --sensitivity runs/out/boz-2024-sensitivity --out boz.html
  caseload report baseline --out baseline.html

One self-contained HTML file (inline CSS and SVG, nothing loaded from the network): key
figures, savings per measure and year with intervals, cost per product over time (baseline
against each measure), caseload per domain and group, people affected per measure, the
sensitivity tornado, the assumptions and what ran. Cells of fewer than 10 clients are
suppressed.
"""


def _catalog(args) -> Path:
    from engine.outputs.catalog_file import catalog_path

    cat = catalog_path(catalog=args.catalog, out_dir=Path(args.runs_dir))
    if cat is None:
        raise InputError(
            "--catalog",
            "the catalog is turned off (CASELOAD_CATALOG=off)",
            "a catalog file, --catalog FILE",
        )
    return cat


@contextlib.contextmanager
def _bar(quiet: bool, what: str):
    """A progress bar on stderr for a known number of items; yields update(done, total)."""
    if quiet or not sys.stderr.isatty():
        yield lambda i, n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from engine.reports.terminal import console

    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(what, total=None)
        yield lambda i, n: bar.update(task, completed=i, total=n)


# ----------------------------------------------------------------------------- runs
def _seeds(seeds: list) -> str:
    """1,2,3 or 1-20 for a long consecutive list."""
    if (
        len(seeds) > 3
        and all(isinstance(s, int) for s in seeds)
        and seeds == list(range(seeds[0], seeds[0] + len(seeds)))
    ):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def cmd_runs_list(args) -> int:
    from engine.outputs import catalog
    from engine.reports.terminal import out

    rows = catalog.list_runs(_catalog(args), args.kind)
    if args.json:
        print_json(rows)
        return 0
    if args.quiet:
        return 0
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"{len(rows)} folders in {_catalog(args)}", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for c, just in (
        ("run id", "left"),
        ("kind", "left"),
        ("name", "left"),
        ("horizon", "left"),
        ("seeds", "left"),
        ("created", "left"),
    ):
        table.add_column(c, justify=just, no_wrap=c != "name", overflow="ellipsis")
    for r in rows:
        table.add_row(
            r["run_id"],
            r["kind"] + ("" if r["complete"] else " (folder missing)"),
            str(r["name"]),
            f"{r['start']}+{r['months']}",
            _seeds(r["seeds"]),
            (r["created"] or "")[:16].replace("T", " "),
        )
    out.print(table)
    return 0


def cmd_runs_show(args) -> int:
    from engine.outputs import catalog
    from engine.reports.terminal import out

    entry = catalog.show_run(_catalog(args), args.run_id)
    if args.json:
        print_json(entry)
        return 0
    if args.quiet:
        return 0
    head = [
        ["run id", entry["run_id"]],
        ["kind", entry["kind"]],
        ["name", entry["name"]],
        [
            "folder",
            entry["path"]
            + ("" if entry["complete"] else "  (MISSING: run `caseload runs rebuild`)"),
        ],
        ["profile / policy", f"{entry['profile']} / {entry['policy']}"],
        ["horizon", f"{entry['start']} + {entry['months']} months"],
        ["seeds", ", ".join(map(str, entry["seeds"]))],
        ["population seed / hash", f"{entry['population_seed']} / {entry['population_hash']}"],
        ["created / registered", f"{entry['created']} / {entry['registered'][:19]}"],
        ["caseload version", entry["caseload_version"]],
    ]
    if entry["description"]:
        head.append(["description", entry["description"]])
    out.print(rich_table(None, ["", ""], head))
    if entry["measures"]:
        out.print(
            rich_table(
                "measures",
                ["nr", "name", "title", "source"],
                [[m["number"], m["name"], m["title"], m["source"]] for m in entry["measures"]],
            )
        )
    out.print(
        rich_table(
            "files (SQL view)",
            ["file", "view", "rows", "bytes"],
            [
                [f["name"] + ".parquet", f["view"], f"{f['rows']:,}", f"{f['bytes']:,}"]
                for f in entry["files"]
            ],
            {2, 3},
        )
    )
    return 0


def cmd_runs_sql(args) -> int:
    import itertools
    import json

    from engine.outputs import sql
    from engine.reports.terminal import out

    if args.max_rows < 0:
        raise InputError("--max-rows", f"{args.max_rows}", "a number of rows >= 0")
    with sql.query_rows(_catalog(args), args.query) as (cols, rows):
        if args.json:  # streamed: one row at a time
            sys.stdout.write("[")
            for i, r in enumerate(rows):
                obj = json.dumps(dict(zip(cols, r, strict=True)), default=str)
                sys.stdout.write(("," if i else "") + "\n  " + obj)
            sys.stdout.write("\n]\n")
            return 0
        if args.csv:
            w = csv.writer(sys.stdout)
            w.writerow(cols)
            w.writerows(rows)
            return 0
        if args.quiet:
            return 0
        shown = list(itertools.islice(rows, args.max_rows))
        more = next(rows, None) is not None
    _print_rows(out, cols, shown, more, args.max_rows)
    return 0


def _print_rows(out, cols: list, shown: list, more: bool, max_rows: int) -> None:
    numeric = {
        i
        for i, _ in enumerate(cols)
        if shown and all(isinstance(r[i], (int, float)) or r[i] is None for r in shown)
    }

    def cell(v):
        if isinstance(v, float):
            return f"{v:,.2f}"
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}" if abs(v) >= 10_000 else str(v)
        return v

    out.print(rich_table(None, cols, [[cell(v) for v in r] for r in shown], numeric))
    if more:
        out.print(f"first {max_rows:,} rows shown; more follow (--max-rows N, --csv or --json)")
    else:
        out.print(f"{len(shown):,} rows")


def cmd_runs_rebuild(args) -> int:
    from engine.outputs import catalog
    from engine.reports import terminal as report

    cat = _catalog(args)
    roots = [Path(p) for p in args.out] if args.out else None
    with _bar(args.quiet or args.json, "rebuilding the catalog: reading folders") as update:
        result = catalog.rebuild(cat, roots, progress=update)
    by_kind: dict[str, int] = {}
    for e in result.registered:
        by_kind[e.kind] = by_kind.get(e.kind, 0) + 1
    if args.json:
        print_json(
            {
                "catalog": str(result.catalog),
                "registered": len(result.registered),
                "by_kind": by_kind,
                "seconds": round(result.seconds, 3),
                "skipped": [{"folder": str(p), "why": why} for p, why in result.skipped],
            }
        )
        return 0
    if not args.quiet:
        report.out.print(
            rich_table(
                "catalog rebuilt",
                ["kind", "folders"],
                [[k, v] for k, v in sorted(by_kind.items())] + [["total", len(result.registered)]],
                {1},
            )
        )
        for p, why in result.skipped:
            report.console.print(f"skipped {p}: {why}")
        report.out.print(
            f"{result.catalog}: {len(result.registered)} folders in {result.seconds:.2f} s"
        )
    return 0


# ----------------------------------------------------------------------------- export / report
def cmd_export(args) -> int:
    from engine.outputs.folder import open_folder
    from engine.reports import terminal as report
    from engine.reports.workbook import build_sheets
    from engine.reports.xlsx import write_csv, write_xlsx

    if not args.xlsx and not args.csv:
        raise InputError("export", "nothing to write", "--xlsx FILE.xlsx and/or --csv DIR")
    if args.xlsx:
        from engine.outputs.folder import check_out_file

        check_out_file(args.xlsx, "--xlsx", (".xlsx",))
    if args.csv:
        from engine.outputs.folder import check_out_dir

        check_out_dir(args.csv)
    t0 = time.perf_counter()
    with report.progress(
        args.quiet or args.json,
        "export",
        [("read", "reading the folder"), ("sheets", "building the sheets"), ("write", "writing")],
    ) as prog:
        folder = open_folder(
            args.folder,
            Path(args.runs_dir),
            args.catalog,
            kinds=("experiment", "run", "decomposition"),
        )
        prog("read")
        sheets = build_sheets(folder)
        prog("sheets")
        written = []
        if args.xlsx:
            written.append(write_xlsx(sheets, Path(args.xlsx)))
        if args.csv:
            written += write_csv(sheets, Path(args.csv))
        prog("write")
    seconds = time.perf_counter() - t0
    if args.json:
        print_json(
            {
                "folder": str(folder.path),
                "kind": folder.kind,
                "xlsx": args.xlsx,
                "csv": [str(p) for p in written if p.suffix == ".csv"],
                "sheets": [
                    {"name": s.name, "rows": s.frame.height, "columns": s.frame.columns}
                    for s in sheets
                ],
                "seconds": round(seconds, 3),
            }
        )
        return 0
    if not args.quiet:
        report.out.print(
            rich_table(
                f"{folder.kind} {folder.run_id}: {len(sheets)} sheets",
                ["sheet", "rows", "what"],
                [[s.name, f"{s.frame.height:,}", s.title] for s in sheets],
                {1},
            )
        )
        if folder.kind == "experiment":
            sv = next(s for s in sheets if s.name == "Savings").frame
            years = [c for c in sv.columns if c.isdigit()]
            report.out.print(
                rich_table(
                    "net saving per measure (EUR)",
                    ["measure", *years, "total"],
                    [
                        [
                            f"{r['Nr'] or ''} {r['Name']}".strip(),
                            *[f"{r[y]:,.0f}" for y in years],
                            f"{r['Total']:,.0f}",
                        ]
                        for r in sv.iter_rows(named=True)
                    ],
                    set(range(1, len(years) + 2)),
                )
            )
        for p in written[:1] if args.xlsx else []:
            report.out.print(f"workbook: {p} ({p.stat().st_size:,} bytes)")
        if args.csv:
            report.out.print(
                f"csv: {args.csv} ({sum(1 for p in written if p.suffix == '.csv')} files)"
            )
    return 0


def cmd_report(args) -> int:
    from engine.outputs.folder import check_out_file, open_folder
    from engine.reports import terminal as report
    from engine.reports.html import build_report, write_report

    check_out_file(args.out, "--out", (".html", ".htm"))
    t0 = time.perf_counter()
    with report.progress(
        args.quiet or args.json,
        "report",
        [("read", "reading the folder"), ("charts", "drawing the charts"), ("write", "writing")],
    ) as prog:
        folder = open_folder(args.folder, Path(args.runs_dir), args.catalog)
        sens = (
            open_folder(args.sensitivity, Path(args.runs_dir), args.catalog, kinds=("sensitivity",))
            if args.sensitivity
            else None
        )
        prog("read")
        text = build_report(folder, sens)
        prog("charts")
        path = write_report(text, Path(args.out))
        prog("write")
    n_charts = text.count('<svg class="chart"')
    info = {
        "report": str(path),
        "folder": str(folder.path),
        "kind": folder.kind,
        "bytes": path.stat().st_size,
        "charts": n_charts,
        "sections": [s.split("</h2>")[0] for s in text.split("<h2>")[1:]],
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if args.json:
        print_json(info)
        return 0
    if not args.quiet:
        report.out.print(
            rich_table(
                f"report of {folder.kind} {folder.run_id}",
                ["section"],
                [[s] for s in info["sections"]],
            )
        )
        report.out.print(
            f"report: {path} ({info['bytes']:,} bytes, {n_charts} charts, self-contained)"
        )
    return 0


def _common(p: argparse.ArgumentParser, quiet: bool = True) -> None:
    p.add_argument(
        "--catalog",
        default=None,
        metavar="FILE",
        help="the catalog file (default: $CASELOAD_CATALOG, else runs/catalog.duckdb)",
    )
    p.add_argument(
        "--runs-dir",
        default="runs/out",
        metavar="DIR",
        help="where run ids are looked up (default runs/out)",
    )
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    if quiet:
        p.add_argument("--quiet", action="store_true", help="print nothing but errors")


def register(subparsers) -> None:
    """Add `runs`, `export` and `report`."""
    r = subparsers.add_parser(
        "runs",
        help=(
            "the run catalog: list, show and query every run, comparison and experiment; rebuild it"
        ),
        description="The run catalog (DuckDB).",
        epilog=EPILOG_RUNS,
        formatter_class=FMT,
    )
    rs = r.add_subparsers(dest="runs_command", metavar="SUBCOMMAND")
    rs.required = True
    p = rs.add_parser(
        "list",
        help="every registered folder",
        epilog="examples:\n  caseload runs list\n  caseload runs list --kind run --json",
        formatter_class=FMT,
    )
    p.add_argument(
        "--kind",
        choices=["run", "comparison", "experiment", "sensitivity", "decomposition"],
        default=None,
        help="only folders of this kind",
    )
    _common(p)
    p.set_defaults(func=cmd_runs_list)
    p = rs.add_parser(
        "show",
        help="one folder: manifest, measures, files",
        epilog="examples:\n  caseload runs show baseline\n  caseload runs show boz-2024 --json",
        formatter_class=FMT,
    )
    p.add_argument("run_id", help="a run id from `caseload runs list`")
    _common(p)
    p.set_defaults(func=cmd_runs_show)
    p = rs.add_parser(
        "sql",
        help="one read-only SQL query over the catalog and the views of every run's Parquet",
        epilog=EPILOG_SQL,
        formatter_class=FMT,
    )
    p.add_argument("query", help="a DuckDB SELECT (quote it)")
    p.add_argument("--csv", action="store_true", help="print the result as CSV")
    p.add_argument("--max-rows", type=int, default=50, help="rows shown in the table (default 50)")
    _common(p)
    p.set_defaults(func=cmd_runs_sql)
    p = rs.add_parser(
        "rebuild",
        help="recreate the catalog from the folders",
        formatter_class=FMT,
        epilog=(
            "examples:\n"
            "  caseload runs rebuild\n"
            "  caseload runs rebuild --out runs/out --out /data/caseload-runs\n\n"
            "Reads every complete folder under the catalog's folder (up to three levels: "
            "runs/out/<id>,\nruns/out/demo/<id> for runs/catalog.duckdb) and beside the folders "
            "the catalog already lists;\nwrites a new catalog and renames it over the old one."
        ),
    )
    p.add_argument(
        "--out",
        action="append",
        metavar="DIR",
        help="a folder holding run folders (repeatable; default: the catalog's folder)",
    )
    _common(p)
    p.set_defaults(func=cmd_runs_rebuild)

    e = subparsers.add_parser(
        "export",
        help="the finance workbook of an experiment (or a run): Excel or CSV",
        epilog=EPILOG_EXPORT,
        formatter_class=FMT,
    )
    e.add_argument(
        "folder", help="an experiment folder (or a run folder), or its id under --runs-dir"
    )
    e.add_argument("--xlsx", default=None, metavar="FILE", help="write an Excel workbook (.xlsx)")
    e.add_argument("--csv", default=None, metavar="DIR", help="write one CSV per sheet into DIR")
    _common(e)
    e.set_defaults(func=cmd_export)

    h = subparsers.add_parser(
        "report",
        help="a self-contained HTML report of a run, comparison or experiment",
        epilog=EPILOG_REPORT,
        formatter_class=FMT,
    )
    h.add_argument(
        "folder",
        help="a run, comparison, experiment or sensitivity folder, or its id under --runs-dir",
    )
    h.add_argument("--out", required=True, metavar="FILE.html", help="the report file")
    h.add_argument(
        "--sensitivity",
        default=None,
        metavar="FOLDER",
        help=(
            "a sensitivity folder for the tornado (default: one beside the experiment that varied "
            "it)"
        ),
    )
    _common(h)
    h.set_defaults(func=cmd_report)
