"""Command-line subcommands for real data: `population validate`, `population export-extract`
and `calibrate`. `engine.cli` calls `register`; errors are `InputError`s (exit code 2)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.cli.common import count_arg, seed_arg
from engine.core.errors import InputError
from engine.core.months import format_month, parse_month

EPILOG_VALIDATE = """examples:
  caseload population validate synthetic_population/examples/example_extract.csv
  caseload population validate extract.parquet --profile rotterdam --start 2024-01
  caseload population validate extract.csv --json > report.json

A valid extract prints what the run would take as its start stock (exit code 0); any
problem prints a one-line summary and one line per problem (row, column, value, what was
expected; the first 20, with a count per kind) and exits with code 2. Nothing is written.
Run it with `caseload run --population FILE`.
"""

EPILOG_EXPORT = """examples:
  caseload population export-extract --profile rotterdam --out runs/out/rotterdam-stock.csv
  caseload population export-extract --profile rotterdam --seed 7 --out stock.parquet --fake-ids

Writes the synthetic start stock in the extract format (one row per arrangement): the
format's reference, and a round trip: running it with `--population` and the same seeds
gives the synthetic run's aggregates bit for bit, youth turning 18 included.
"""

EPILOG_CALIBRATE = """examples:
  caseload calibrate rotterdam                      fit, write profiles/rotterdam.fitted.toml \
and a report
  caseload calibrate gooi_vechtstreek --iterations 4
  caseload calibrate rotterdam --report-only        report the current fit, change nothing
  caseload calibrate rotterdam --report-only --population extract.csv   how well an extract's \
run meets the targets

Fits a multiplier per client group on inflow (admission from the inflow pool, at most the
pool's oversample factor) and on exit hazards (moving away, Wlz) so that the baseline meets
the profile's [targets]. The multipliers go to <profile>.fitted.toml beside the profile;
every later run of the profile (baseline and measures) applies them and never refits.
The report (target, simulated before and after, difference, within tolerance) is written as
Parquet, CSV and a self-contained HTML chart to runs/out/calibration-<profile>-<time>/.
"""


def cmd_validate(args) -> int:
    from synthetic_population.extract.report import ExtractError
    from synthetic_population.extract.validate import validate_extract
    from synthetic_population.profile import load_profile

    profile, policy = load_profile(args.profile)
    start = parse_month(args.start, "--start") if args.start else None
    report = validate_extract(Path(args.file), profile, policy, start)
    if args.json:
        print(json.dumps(report.to_json(), indent=2, default=str))
        return 0 if report.ok else 2
    if not report.ok:
        raise ExtractError(report)
    by_domain = report.clients.group_by("domain").len().sort("domain")
    doms = ", ".join(f"{d} {n:,}" for d, n in by_domain.iter_rows())
    print(
        f"{args.file}: a valid extract for profile {profile.name}, extract month "
        f"{format_month(report.start)}"
    )
    print(
        f"  {report.rows:,} rows; start stock: {report.clients.height:,} clients ({doms}), "
        f"{report.arrangements.height:,} arrangements"
    )
    for note in report.notes:
        print(f"  note: {note}")
    for warning in report.warnings:
        print(f"caseload: warning: {warning}", file=sys.stderr)
    print(
        "  nothing written; run it with: caseload run --population "
        + str(args.file)
        + (f" --profile {args.profile}" if args.profile != "rotterdam" else "")
    )
    return 0


def cmd_export_extract(args) -> int:
    from synthetic_population.extract.convert import stock_to_extract, write_extract
    from synthetic_population.generator import generate
    from synthetic_population.profile import load_profile

    profile, policy = load_profile(args.profile)
    start = parse_month(args.start, "--start") if args.start else profile.start
    from engine.outputs.folder import check_out_file

    out = check_out_file(args.out, "--out", (".csv", ".parquet"))
    pop = generate(profile, policy, args.seed, 1, start)
    frame = stock_to_extract(pop, policy, "FAKE-{:06d}" if args.fake_ids else None)
    write_extract(frame, out)
    if not args.quiet:
        print(
            f"wrote {out}: {frame.height:,} arrangements of {frame['client_id'].n_unique():,} "
            f"clients (synthetic start stock {format_month(start)})"
        )
    return 0


def cmd_calibrate(args) -> int:
    from engine.outputs.folder import check_out_dir
    from engine.simulation.calibration import calibrate, report_only

    check_out_dir(args.out)  # before the fit, which can take minutes
    start = parse_month(args.start, "--start") if args.start else None
    if args.iterations < 0:
        raise InputError("--iterations", f"{args.iterations}", "a whole number >= 0")
    common = dict(
        seed=args.seed,
        population_seed=args.population_seed,
        months=args.months,
        start=start,
        out_dir=Path(args.out),
    )
    if args.report_only:
        result = report_only(args.profile, population_file=args.population, **common)
    else:
        if args.population:
            raise InputError(
                "--population",
                "is only for --report-only",
                "fit on the profile's synthetic population, then check an extract with "
                "--report-only",
            )
        result = calibrate(args.profile, iterations=args.iterations, **common)
    if args.json:
        print(json.dumps(result.summary(), indent=2, default=str))
        return 0
    print(result.text())
    return 0


def register(subparsers, population_subparsers) -> None:
    """Add `population validate`, `population export-extract` and `calibrate`."""
    fmt = argparse.RawDescriptionHelpFormatter
    v = population_subparsers.add_parser(
        "validate",
        help="check a client extract (CSV/Parquet) against a profile; writes nothing",
        epilog=EPILOG_VALIDATE,
        formatter_class=fmt,
    )
    v.add_argument(
        "file",
        help=(
            "the extract: .csv or .parquet, one row per arrangement (schema: README, 'Client "
            "extracts')"
        ),
    )
    v.add_argument(
        "--profile",
        default="rotterdam",
        help=(
            "profile name or path whose groups and policy the codes must match (default rotterdam)"
        ),
    )
    v.add_argument(
        "--start",
        default=None,
        help=(
            "extract month YYYY-MM when the file has no extract_month column (default: the "
            "profile's start)"
        ),
    )
    v.add_argument(
        "--json", action="store_true", help="print the full report (every problem) as JSON"
    )
    v.set_defaults(func=cmd_validate)

    e = population_subparsers.add_parser(
        "export-extract",
        help="write a synthetic start stock in the extract format",
        epilog=EPILOG_EXPORT,
        formatter_class=fmt,
    )
    e.add_argument(
        "--profile", default="rotterdam", help="profile name or path (default rotterdam)"
    )
    e.add_argument("--out", required=True, help="output file, .csv or .parquet")
    e.add_argument("--seed", type=seed_arg, default=1, help="population seed (default 1)")
    e.add_argument("--start", default=None, help="stock month YYYY-MM (default: the profile's)")
    e.add_argument(
        "--fake-ids",
        action="store_true",
        help="write ids as FAKE-000001 text (hashed on reading) instead of numbers",
    )
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_export_extract)

    c = subparsers.add_parser(
        "calibrate",
        help=(
            "fit inflow and exit multipliers to a profile's targets; write the fitted parameters "
            "and a report"
        ),
        epilog=EPILOG_CALIBRATE,
        formatter_class=fmt,
    )
    c.add_argument("profile", help="profile name (synthetic_population/profiles/NAME.toml) or path")
    c.add_argument(
        "--iterations",
        type=count_arg(0, 100, "fitting steps"),
        default=8,
        help="at most this many fitting steps (default 8)",
    )
    c.add_argument(
        "--months",
        type=count_arg(1, 600, "months"),
        default=None,
        help="horizon (default: through the last target period)",
    )
    c.add_argument("--start", default=None, help="first month YYYY-MM (default: the profile's)")
    c.add_argument("--seed", type=seed_arg, default=1, help="simulation seed (default 1)")
    c.add_argument(
        "--population-seed", type=seed_arg, default=1, help="population seed (default 1)"
    )
    c.add_argument(
        "--report-only",
        action="store_true",
        help=(
            "report the targets under the current (fitted) parameters; fit nothing, change nothing "
            "beside the report"
        ),
    )
    c.add_argument(
        "--population",
        default=None,
        metavar="FILE",
        help=(
            "with --report-only: a client extract or population file instead of the synthetic stock"
        ),
    )
    c.add_argument(
        "--out", default="runs/out", help="folder for the report folder (default runs/out)"
    )
    c.add_argument("--json", action="store_true", help="print a machine-readable summary")
    c.set_defaults(func=cmd_calibrate)
