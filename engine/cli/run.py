"""`caseload run`, `compare`, `population generate` and `params`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.cli.common import (
    add_run_options,
    parse_set,
    register_folder,
    seed_arg,
    spec_from_args,
)
from engine.core.errors import InputError
from engine.core.months import check_run_start, parse_month

EPILOG_RUN = """examples:
  caseload run                                  baseline, default profile, 2024-01 + 48 months
  caseload run runs/scenarios/boz-2024.toml     the BOZ measure package 2024
  caseload run runs/scenarios/baseline.toml --run-id base
  caseload run --months 24 --seed 7             another horizon and simulation seed
  caseload run --set groups.ouderen.inflow_per_year=5000 --run-id more-elderly
  caseload run --profile path/to/my_profile.toml --out /data/caseload-runs
  caseload run --population extract.csv --months 24   a client extract as the start stock
"""


def cmd_run(args) -> int:
    from engine.outputs.folder import check_out_dir, folder_path
    from engine.reports import terminal as report
    from engine.simulation.run import execute

    spec = spec_from_args(args)
    # the output folder is checked before any work (a run can take minutes)
    if args.run_id:
        folder_path(Path(args.out), args.run_id, "--run-id")
    else:
        check_out_dir(Path(args.out))
    with report.progress(args.quiet, "run", RUN_STAGES) as prog:
        result, path = execute(spec, Path(args.out), args.run_id, progress=prog)
        prog("run")
        for warning in result.manifest.get("warnings", []):
            print(f"caseload: warning: {warning}", file=sys.stderr)
        cat = register_folder(path, args, prog)
    if args.json:
        print(
            json.dumps(
                {"run_dir": str(path), "catalog": cat, **report.summary_json(result)}, indent=2
            )
        )
    elif not args.quiet:
        report.print_run_summary(result, path)
    return 0


RUN_STAGES = [
    ("population", "generating the population"),
    ("run", "simulating and writing the run folder"),
    ("catalog", "registering in the catalog"),
]


def cmd_compare(args) -> int:
    from engine.outputs.folder import check_out_dir, folder_path
    from engine.reports import terminal as report
    from engine.simulation.compare import compare_runs, resolve_run, write_comparison

    if args.name:
        folder_path(Path(args.out), args.name, "--name")
    else:
        check_out_dir(Path(args.out))
    base = resolve_run(args.baseline, Path(args.out))
    meas = resolve_run(args.measure, Path(args.out))
    result = compare_runs(base, meas)
    path = write_comparison(result, base, meas, Path(args.out), args.name)
    cat = register_folder(path, args)
    if args.json:
        print(
            json.dumps(
                {
                    "comparison_dir": str(path),
                    "catalog": cat,
                    "yearly": result["comparison_yearly"].to_dicts(),
                    "by_group": result["affected_by_group"].to_dicts(),
                },
                indent=2,
                default=str,
            )
        )
    elif not args.quiet:
        report.print_comparison(result, path)
    return 0


def cmd_population_generate(args) -> int:
    from engine.reports import terminal as report
    from synthetic_population import cache
    from synthetic_population.generator import write_population
    from synthetic_population.profile import load_profile

    profile, policy = load_profile(args.profile, parse_set(args.set))
    start = parse_month(args.start, "--start") if args.start else profile.start
    check_run_start(start, "--start")
    if not 1 <= args.months <= 600:
        raise InputError("--months", f"{args.months} is not a horizon", "1..600 months")
    if not 0 <= args.seed < 2**63:
        raise InputError("--seed", f"{args.seed}", "a seed in [0, 2^63)")
    out = None
    if args.out is not None:
        from engine.outputs.folder import check_out_file

        out = check_out_file(args.out, "--out", (".parquet",))
    folder = cache.cache_dir()
    if out is None and folder is None:
        raise InputError(
            "--out",
            f"missing, and the population cache is off (${cache.ENV}=off)",
            "a file name ending in .parquet, or the cache on",
        )
    with report.progress(args.quiet, "generating population"):
        pop = cache.generate_cached(profile, policy, args.seed, args.months, start)
        if out is not None:
            write_population(pop, out)
    if not args.quiet:
        what = f"{pop.n_clients:,} clients (start stock and inflow pool), "
        what += f"{pop.n_arrangements:,} arrangement slots"
        if out is not None:
            print(f"wrote {out}: {what}")
        if folder is not None:
            key = cache.population_key(profile, policy, args.seed, args.months, start)
            state = "was already" if pop.meta["population_cache"] == "hit" else "is now"
            print(f"population cache: {what} {state} in {folder / key}")
    return 0


def cmd_params(args) -> int:
    from synthetic_population.profile import load_profile

    profile, policy = load_profile(args.profile)
    rows = [*profile.register, *policy.register]
    if args.grep:
        rows = [r for r in rows if args.grep in r.name]
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], indent=2, default=str))
        return 0
    for r in rows:
        value = json.dumps(r.value, default=str)
        if len(value) > 60:
            value = value[:57] + "..."
        print(f"{r.name:70s} {value:62s} {r.source}")
    return 0


def register(sub) -> argparse._SubParsersAction:
    """The commands of this module; returns the `population` subcommands for others to add to."""
    p = sub.add_parser(
        "run",
        help="run a scenario (default: the baseline of the default profile)",
        epilog=EPILOG_RUN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "scenario",
        nargs="?",
        default=None,
        help="a scenario file (runs/scenarios/*.toml); options below override it",
    )
    p.add_argument(
        "--measure",
        action="append",
        metavar="NAME|PATH",
        help="add a measure (policy library name or file); repeatable",
    )
    add_run_options(p)
    p.add_argument("--out", default="runs/out", help="folder for run folders (default runs/out)")
    p.add_argument(
        "--run-id", default=None, help="name of the run folder (default: NAME-DATE-TIME-HASH)"
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.add_argument(
        "--catalog",
        default=None,
        metavar="FILE",
        help=(
            "register the run in this catalog (default: $CASELOAD_CATALOG, else catalog.duckdb "
            "beside --out; 'off': none)"
        ),
    )
    p.set_defaults(func=cmd_run, leave_at_once=True)

    pop = sub.add_parser("population", help="synthetic populations and client extracts")
    pop_sub = pop.add_subparsers(dest="population_command", metavar="SUBCOMMAND")
    pop_sub.required = True
    g = pop_sub.add_parser(
        "generate",
        help="draw a synthetic population into the population cache, or to Parquet",
        epilog=(
            "examples:\n"
            "  caseload population generate                 fill the population cache: later "
            "runs with\n"
            "                                               the same profile, seed, start and "
            "horizon load it\n"
            "  caseload population generate --set population.scale=14 --seed 2\n"
            "  caseload population generate --profile rotterdam --out "
            "runs/out/rotterdam-pop.parquet\n\n"
            "The cache is .population-cache/ in the project ($CASELOAD_POPULATION_CACHE: "
            "another folder,\nor 'off'); a changed profile, policy or generator is never "
            "a stale hit."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument(
        "--profile", default="rotterdam", help="profile name or path (default rotterdam)"
    )
    g.add_argument("--out", default=None, help="also write the population to this file, .parquet")
    g.add_argument("--seed", type=seed_arg, default=1, help="population seed (default 1)")
    g.add_argument(
        "--months", type=int, default=48, help="horizon the inflow pool covers (default 48)"
    )
    g.add_argument(
        "--start", default=None, help="first month, YYYY-MM (default: the profile's stock month)"
    )
    g.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="override a profile parameter"
    )
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(func=cmd_population_generate, leave_at_once=True)

    c = sub.add_parser(
        "compare",
        help=(
            "baseline versus measure run: differences per domain, group, product, step and budget "
            "year"
        ),
        epilog=(
            "example:\n  caseload run runs/scenarios/baseline.toml --run-id base\n  caseload run "
            "runs/scenarios/m17-wmo-cap-800.toml --run-id cap800\n  caseload compare base cap800"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("baseline", help="baseline run folder or run id (under --out)")
    c.add_argument("measure", help="measure run folder or run id")
    c.add_argument(
        "--out",
        default="runs/out",
        help="where run ids are looked up and the comparison folder is written",
    )
    c.add_argument(
        "--name", default=None, help="comparison folder name (default compare-BASE--MEASURE)"
    )
    c.add_argument("--quiet", action="store_true")
    c.add_argument("--json", action="store_true")
    c.add_argument(
        "--catalog",
        default=None,
        metavar="FILE",
        help=(
            "register the comparison in this catalog (default: $CASELOAD_CATALOG, else "
            "catalog.duckdb beside --out; 'off': none)"
        ),
    )
    c.set_defaults(func=cmd_compare)

    pr = sub.add_parser(
        "params",
        help="list every named parameter (assumption register) of a profile and its policy",
    )
    pr.add_argument("--profile", default="rotterdam")
    pr.add_argument("--grep", default=None, help="only names containing this text")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=cmd_params)
    return pop_sub
