"""`caseload explain`: why costs move. The net cost change between two budget years of one run,
or between a baseline and a measure run, split into volume, mix and price exact to the cent
(engine.simulation.decomposition), written as a folder and registered in the catalog."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.common import print_json, rich_table
from engine.core.errors import InputError

EPILOG_EXPLAIN = """examples:
  caseload explain baseline                          first and last complete budget year of the run
  caseload explain baseline --from 2024 --to 2027
  caseload explain baseline boz-2024 --year 2027     a measure run against its baseline

Splits the change of net cost (to minus from: the later year minus the earlier one, the
measure run minus the baseline; a saving is negative) per domain, product and client group
into volume (arrangement-months), mix (steps and products within the line and the amount per
arrangement-month at constant tariffs) and price (the step's tariff x the price index of the
policy the run used): the Shapley value over the three factors in exact arithmetic, rounded
so that the parts add up to the change to the cent \
(see engine/simulation/decomposition.py). Net cost =
gross cost - own contributions, each split the same way.

Writes a folder `explain-RUN-FROM-TO` (or `explain-BASELINE--MEASURE`) under --out with
decomposition.parquet (one row per line and level: total, domain, domain_product,
domain_group, domain_product_group) and registers it in the catalog (view `decomposition`);
`caseload export` and `caseload report` take the folder (sheet "Cost drivers", a waterfall
chart per domain).
"""


# ----------------------------------------------------------------------------- explain
def cmd_explain(args) -> int:
    import polars as pl

    from engine.cli.common import register_folder
    from engine.outputs.folder import open_folder
    from engine.reports import terminal as report
    from engine.simulation.decomposition import (
        default_name,
        explain_runs,
        explain_years,
        write_decomposition,
    )

    if len(args.runs) > 2:
        raise InputError(
            "explain",
            f"{len(args.runs)} runs given",
            "one run (two budget years) or two runs (a baseline and a measure run)",
        )
    if len(args.runs) == 2 and (args.year_from is not None or args.year_to is not None):
        raise InputError(
            "--from/--to",
            "compare two budget years of one run",
            "one run with --from and --to, or two runs with --year YEAR",
        )
    if len(args.runs) == 1 and args.year:
        raise InputError(
            "--year",
            "is for two runs in the same budget year",
            "two runs (BASELINE MEASURE), or --from and --to for one run",
        )
    from engine.outputs.folder import check_out_dir, folder_path

    out_dir = Path(args.out)
    if args.name:
        folder_path(out_dir, args.name, "--name")
    else:
        check_out_dir(out_dir)
    runs = [open_folder(r, out_dir, args.catalog, kinds=("run",)) for r in args.runs]
    if len(runs) == 1:
        frame, info = explain_years(runs[0], args.year_from, args.year_to)
    else:
        frame, info = explain_runs(runs[0], runs[1], args.year)
    name = args.name or default_name(info)
    path = write_decomposition(frame, info, out_dir, name)
    cat = register_folder(path, args)
    head = frame.filter(pl.col("level").is_in(["domain", "total"])).sort(
        ["to_year", pl.col("level") == "total", "domain"]
    )
    if args.json:
        print_json(
            {
                "folder": str(path),
                "catalog": cat,
                "rows": head.select(
                    "from_run",
                    "from_year",
                    "to_run",
                    "to_year",
                    "level",
                    "domain",
                    "net_cents_from",
                    "net_cents_to",
                    "net_cents_change",
                    "volume_cents",
                    "mix_cents",
                    "price_cents",
                    "residual_cents",
                ).to_dicts(),
            }
        )
        return 0
    if not args.quiet:

        def eur(c):
            return f"{c / 100:,.0f}"

        a, b = info["from"], info["to"]
        title = (
            f"{a['run_id']}: net cost {a['year']} -> {b['year']} (EUR)"
            if info["mode"] == "years"
            else f"{b['run_id']} minus {a['run_id']}: net cost (EUR; a saving is negative)"
        )
        rows = [
            [
                str(r["to_year"]) if info["mode"] == "runs" else f"{r['from_year']}-{r['to_year']}",
                r["domain"] or "all",
                eur(r["net_cents_from"]),
                eur(r["net_cents_to"]),
                eur(r["net_cents_change"]),
                eur(r["volume_cents"]),
                eur(r["mix_cents"]),
                eur(r["price_cents"]),
            ]
            for r in head.iter_rows(named=True)
        ]
        report.out.print(
            rich_table(
                title,
                ["year", "domain", "from", "to", "change", "volume", "mix", "price"],
                rows,
                set(range(2, 8)),
            )
        )
        report.out.print(
            f"decomposition: {path / 'decomposition.parquet'} ({frame.height:,} lines; volume + "
            "mix + price = change to the cent)"
        )
    return 0


def register(sub) -> None:
    """Add `explain`."""
    x = sub.add_parser(
        "explain",
        help=(
            "why costs move: the net cost change split into volume, mix and price, exact to the "
            "cent"
        ),
        epilog=EPILOG_EXPLAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    x.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="a run folder or id (two budget years), or BASELINE MEASURE (the same budget year)",
    )
    x.add_argument(
        "--from",
        dest="year_from",
        type=int,
        default=None,
        metavar="YEAR",
        help="one run: the earlier budget year (default: the first complete one)",
    )
    x.add_argument(
        "--to",
        dest="year_to",
        type=int,
        default=None,
        metavar="YEAR",
        help="one run: the later budget year (default: the last complete one)",
    )
    x.add_argument(
        "--year",
        type=int,
        action="append",
        default=None,
        metavar="YEAR",
        help="two runs: a budget year (repeatable; default: every budget year)",
    )
    x.add_argument(
        "--out",
        default="runs/out",
        metavar="DIR",
        help="where run ids are looked up and the folder is written (default runs/out)",
    )
    x.add_argument(
        "--name",
        default=None,
        help="folder name (default explain-RUN-FROM-TO or explain-BASELINE--MEASURE)",
    )
    x.add_argument(
        "--catalog",
        default=None,
        metavar="FILE",
        help=(
            "register the folder in this catalog (default: $CASELOAD_CATALOG, else catalog.duckdb "
            "beside --out; 'off': none)"
        ),
    )
    x.add_argument("--json", action="store_true", help="print a machine-readable summary")
    x.add_argument("--quiet", action="store_true", help="print nothing but errors")
    x.set_defaults(func=cmd_explain)
