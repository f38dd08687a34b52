"""`caseload experiment` and `caseload sensitivity`: savings per measure per budget year,
with replications, attribution and one-at-a-time sensitivity (engine.simulation.experiment,
engine.simulation.sensitivity)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from engine.cli.common import add_population_option, add_start_option
from engine.core.errors import InputError
from engine.core.months import check_run_start, parse_month

EPILOG_EXPERIMENT = """examples:
  caseload experiment runs/scenarios/boz-2024-experiment.toml
        5 measures, exact Shapley (32 combinations), 20 replications, local process pool
  caseload experiment runs/scenarios/boz-2024-experiment.toml --replications 3 --run-id quick
  caseload experiment FILE --backend inprocess            one process, all cores
  caseload experiment FILE --backend ray                  a local Ray instance
  caseload experiment FILE --backend ray --address 10.0.0.5:6379   an existing Ray cluster
  caseload experiment FILE --population extract.csv --start 2024-06
        the team's own client extract as every sub-run's start stock; --start: its extract
        month, where the baseline scenario names another start
"""

EPILOG_SENSITIVITY = """examples:
  caseload sensitivity runs/scenarios/boz-2024-experiment.toml \\
      --vary ho_provider_review.params.share=0.1:0.5 \\
      --vary groups.ouderen.inflow_per_year=4000:5600
  caseload sensitivity runs/scenarios/boz-2024-experiment.toml --file VARY.toml
      VARY.toml: [[vary]] tables of name, low, high
  caseload sensitivity runs/scenarios/boz-2024-full-experiment.toml --from-measures
      every assumption with a range in the measure files, at its low and high value
  caseload sensitivity FILE --from-measures --population extract.csv --start 2024-06
      on the team's own client extract (its clients' stock sizes are the file's: the groups'
      `stock` assumptions cannot be varied there)
Names: `caseload params` lists every profile and policy parameter; a measure's rule keys
are <rule>.<key>, e.g. wmo_weekly_cap_800.params.cap_eur_w.
"""


def _backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=["process", "inprocess", "ray"],
        default="process",
        help=(
            "where sub-runs run: a local process pool (default), this process, or Ray; results are "
            "identical"
        ),
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: one per core); results do not depend on it",
    )
    p.add_argument(
        "--address",
        default=None,
        metavar="HOST:PORT",
        help=(
            "a running Ray cluster's head (with --backend ray); default: start a local Ray instance"
        ),
    )
    p.add_argument(
        "--out", default="runs/out", help="folder for the result folder (default runs/out)"
    )
    p.add_argument(
        "--run-id", default=None, help="name of the result folder (default NAME-DATE-TIME)"
    )
    p.add_argument(
        "--catalog",
        default=None,
        metavar="FILE",
        help=(
            "register the result in this catalog (default: $CASELOAD_CATALOG, else catalog.duckdb "
            "beside --out; 'off': none)"
        ),
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")


def _stock_options(p: argparse.ArgumentParser) -> None:
    add_population_option(p, "every sub-run's")
    add_start_option(p, "the baseline scenario's; a client extract's month")


def _start(args) -> int | None:
    if args.start is None:
        return None
    start = parse_month(args.start, "--start")
    check_run_start(start, "--start")
    return start


def _on_stock(spec, args) -> None:
    """`--population FILE`, `--start`: the experiment's baseline, and so every sub-run."""
    spec.on_stock(args.population, _start(args))


def _result_id(args, default: str) -> str:
    """The result folder's name; refused before any work if it is not a plain name or exists."""
    from engine.core.limits import MAX_THREADS
    from engine.outputs.folder import folder_path

    if args.workers is not None and not 1 <= args.workers <= MAX_THREADS:
        raise InputError("--workers", f"{args.workers}", f"1..{MAX_THREADS} worker processes")
    run_id = args.run_id or default
    folder_path(Path(args.out), run_id, "--run-id" if args.run_id else "experiment name")
    return run_id


def _finish(args, tables: dict, manifest: dict, kind: str, table: str, printer) -> int:
    """Write the folder atomically, register it, print the summary (or JSON)."""
    from engine.cli.common import register_folder
    from engine.simulation.experiment import write_experiment

    path = write_experiment(tables, manifest, Path(args.out), manifest["run_id"])
    register_folder(path, args)  # a catalog failure is a warning: the folder is the source of truth
    if args.json:
        print(
            json.dumps(
                {f"{kind}_dir": str(path), "manifest": manifest, table: tables[table].to_dicts()},
                indent=2,
                default=str,
            )
        )
    elif not args.quiet:
        printer(tables[table], manifest, path)
    return 0


def cmd_experiment(args) -> int:
    from engine.reports import terminal as report
    from engine.simulation.experiment import (
        experiment_id,
        load_experiment,
        manifest_for,
        run_experiment,
    )

    spec = load_experiment(args.file)
    _on_stock(spec, args)
    if args.replications is not None:
        from engine.core.limits import MAX_SEED
        from engine.simulation.experiment import MAX_REPLICATIONS

        if not 1 <= args.replications <= MAX_REPLICATIONS:
            raise InputError("--replications", f"{args.replications}", f"1..{MAX_REPLICATIONS}")
        if spec.seeds[0] + args.replications > MAX_SEED:
            raise InputError("--replications", f"{args.replications}", "seeds below 2^63")
        spec.seeds = list(range(spec.seeds[0], spec.seeds[0] + args.replications))
    run_id = _result_id(args, experiment_id(spec))
    with report.Bar(args.quiet, f"{spec.name}: sub-runs") as bar:
        tables, info, ctx = run_experiment(
            spec,
            backend=args.backend,
            workers=args.workers,
            address=args.address,
            progress=bar.advance,
            on_plan=bar.total,
        )
    manifest = manifest_for(
        spec, ctx, run_id, info["backend"], info["workers"], info["timings"], info["subruns"]
    )
    return _finish(args, tables, manifest, "experiment", "savings", report.print_experiment)


def cmd_sensitivity(args) -> int:
    from engine.reports import terminal as report
    from engine.simulation.experiment import load_experiment
    from engine.simulation.sensitivity import load_vary_file, parse_vary, run_sensitivity

    spec = load_experiment(args.file)
    _on_stock(spec, args)
    varies = parse_vary(args.vary) + (load_vary_file(args.vary_file) if args.vary_file else [])
    if not varies and not args.from_measures:
        raise InputError(
            "--vary",
            "nothing to vary",
            "one or more --vary NAME=LOW:HIGH, --file, or --from-measures",
        )
    seeds = None
    if args.seeds:
        try:
            seeds = [int(s) for s in args.seeds.split(",")]
            if not seeds or any(not 0 <= s < 2**63 for s in seeds) or len(seeds) > 10_000:
                raise ValueError
        except ValueError:
            raise InputError(
                "--seeds", f"{args.seeds!r}", "comma-separated whole numbers, e.g. 1,2,3"
            ) from None
    run_id = _result_id(
        args, f"{spec.name}-sensitivity-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    )
    with report.Bar(args.quiet, f"{spec.name}: sensitivity sub-runs") as bar:
        tables, manifest = run_sensitivity(
            spec,
            varies,
            seeds,
            measure_assumptions=args.from_measures,
            backend=args.backend,
            workers=args.workers,
            address=args.address,
            progress=bar.advance,
            on_plan=bar.total,
        )
    manifest["run_id"] = run_id
    return _finish(args, tables, manifest, "sensitivity", "sensitivity", report.print_sensitivity)


EPILOG_CROSSCHECK = """examples:
  caseload crosscheck runs/scenarios/boz-2024.toml
  caseload crosscheck runs/scenarios/boz-2024-experiment.toml --markdown   the rules README table
  caseload crosscheck runs/scenarios/boz-2024.toml --csv crosscheck.csv
  caseload crosscheck runs/scenarios/boz-2024.toml --population extract.csv   the team's stock

Per measure of the file: the spreadsheet estimate from the start stock (clients and weekly
amount in scope, share affected, months in force per budget year, saving) beside the
simulated gross saving of the measure alone (first seed). Rows differing by more than a
factor 2 are marked; rules/README.md ("Spreadsheet cross-check") explains them.
"""


def cmd_crosscheck(args) -> int:
    from engine.simulation.crosscheck import crosscheck

    path = Path(args.file)
    if not path.is_file():
        raise InputError(
            str(path), "file not found", "a scenario or experiment file (runs/scenarios/*.toml)"
        )
    cc = crosscheck(path, seed=args.seed, population=args.population, start=_start(args))
    if args.csv:
        out = Path(args.csv)
        tmp = out.with_name(out.name + ".partial")
        cc.table.write_csv(tmp)
        tmp.replace(out)
    if args.json:
        print(json.dumps(cc.table.to_dicts(), indent=2, default=str))
    else:
        print(cc.text(markdown=args.markdown))
    return 0


def register(sub) -> None:
    c = sub.add_parser(
        "crosscheck",
        help="spreadsheet estimate of each measure's saving beside the simulated saving",
        epilog=EPILOG_CROSSCHECK,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("file", help="a scenario or experiment file naming measures")
    c.add_argument("--seed", type=int, default=None, help="simulation seed (default: the file's)")
    _stock_options(c)
    c.add_argument("--markdown", action="store_true", help="print the rules README's table")
    c.add_argument("--csv", default=None, metavar="FILE", help="also write the long table as CSV")
    c.add_argument("--json", action="store_true", help="print the long table as JSON")
    c.set_defaults(func=cmd_crosscheck)

    e = sub.add_parser(
        "experiment",
        help=(
            "savings per measure per budget year: standalone, Shapley share in the package, "
            "interaction; with replications"
        ),
        epilog=EPILOG_EXPERIMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("file", help="an experiment file (runs/scenarios/*-experiment.toml)")
    e.add_argument(
        "--replications",
        type=int,
        default=None,
        help="override the file's number of simulation seeds (from its first seed)",
    )
    _stock_options(e)
    _backend_options(e)
    e.set_defaults(func=cmd_experiment)

    s = sub.add_parser(
        "sensitivity",
        help=(
            "one-at-a-time changes of named assumptions: the swing of each measure's saving "
            "(tornado data)"
        ),
        epilog=EPILOG_SENSITIVITY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("file", help="an experiment file: its baseline, measures and first seed")
    s.add_argument(
        "--vary",
        action="append",
        metavar="NAME=LOW:HIGH",
        help="an assumption and its low and high value; repeatable",
    )
    s.add_argument(
        "--file",
        dest="vary_file",
        default=None,
        metavar="VARY.toml",
        help="a file of [[vary]] tables (name, low, high)",
    )
    s.add_argument(
        "--from-measures",
        action="store_true",
        help=(
            "vary every assumption the measure files give a range ({ value, low, high, basis }),"
            " each measure alone and the package"
        ),
    )
    s.add_argument(
        "--seeds",
        default=None,
        help=(
            "simulation seeds to average over, comma-separated (default: the experiment's first "
            "seed)"
        ),
    )
    _stock_options(s)
    _backend_options(s)
    s.set_defaults(func=cmd_sensitivity)
