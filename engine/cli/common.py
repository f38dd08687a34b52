"""What the commands share: run options, scenario specs from arguments, `--set` values, and
registering a finished folder in the run catalog."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.core.errors import InputError
from engine.core.months import parse_month


def parse_set(values: list[str] | None) -> dict:
    """`--set NAME=VALUE` items: the value read as JSON (a number, list, table, true/false),
    else as text; NaN and infinity are refused."""
    from engine.core.scenario import check_finite_tree

    out = {}
    for item in values or []:
        if "=" not in item:
            raise InputError(
                "--set", f"{item!r} has no '='", "NAME=VALUE, e.g. groups.ouderen.stock=17000"
            )
        name, raw = item.split("=", 1)
        if raw.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise InputError(f"--set {name.strip()}", f"{raw!r} is not a finite number", "a number")
        try:
            value = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            value = raw
        check_finite_tree(value, f"--set {name.strip()}")
        out[name.strip()] = value
    return out


def seed_arg(text: str) -> int:
    """An option's seed: a whole number in [0, 2^63) (keyed draws take 63 bits)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed (expected 0..2^63-1)")
    return value


def count_arg(lo: int, hi: int, what: str):
    """An option's whole number in [lo, hi]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = lo - 1
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text!r} (expected {what}: {lo}..{hi})")
        return value

    return parse


def add_start_option(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--start", default=None, help=f"first month, YYYY-MM (default: {default})")


def add_population_option(p: argparse.ArgumentParser, whose: str) -> None:
    p.add_argument(
        "--population",
        default=None,
        metavar="FILE",
        help=(
            f"{whose} start stock: a client extract (.csv/.parquet; see `caseload population "
            "validate`) or a population file from `caseload population generate --out`"
        ),
    )


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        default=None,
        help="profile name (synthetic_population/profiles/NAME.toml) or path; default: rotterdam",
    )
    add_start_option(p, "the profile's stock month, 2024-01; a client extract's month")
    p.add_argument("--months", type=int, default=None, help="horizon in months (default 48)")
    p.add_argument(
        "--seed", type=int, default=None, help="simulation seed: what happens to people (default 1)"
    )
    p.add_argument(
        "--population-seed",
        type=int,
        default=None,
        help="population seed: who exists, incl. the inflow pool (default 1)",
    )
    add_population_option(p, "the run's")
    p.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="override a parameter by its dotted name (see `caseload params`); repeatable",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="kernel threads (default: all cores); results do not depend on it",
    )
    p.add_argument(
        "--capacity",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=(
            "the policy library's capacity holds: waiting lists for capacity-bound products "
            "(default: the scenario's `capacity`, else off)"
        ),
    )
    p.add_argument(
        "--rng",
        choices=["keyed", "sequential"],
        default="keyed",
        help="keyed common random numbers (default) or one sequential stream per client",
    )


def spec_from_args(args):
    from engine.core.scenario import RunSpec, load_scenario
    from engine.model.rng import MODE_KEYED, MODE_SEQUENTIAL

    spec = load_scenario(args.scenario) if getattr(args, "scenario", None) else RunSpec()
    if getattr(args, "measure", None):
        spec.measures = [*spec.measures, *args.measure]
        if spec.name == "baseline":
            spec.name = "measures"
    if args.profile:
        spec.profile = args.profile
    if args.start is not None:
        spec.start = parse_month(args.start, "--start")
    if args.months is not None:
        spec.months = args.months
    if args.seed is not None:
        spec.seed = args.seed
    if args.population_seed is not None:
        spec.population_seed = args.population_seed
    if args.population:
        spec.population_file = args.population
    spec.layer_overrides(parse_set(args.set))
    if getattr(args, "capacity", None) is not None:
        spec.capacity = args.capacity
    spec.threads = args.threads
    spec.rng_mode = MODE_SEQUENTIAL if args.rng == "sequential" else MODE_KEYED
    if args.threads is not None and args.threads < 1:
        raise InputError("--threads", f"{args.threads}", "at least 1")
    spec.validate()
    return spec


def register_folder(path: Path, args, prog=None) -> str | None:
    """Register a complete folder in the run catalog; a failure is a warning (the folder is
    the source of truth and `caseload runs rebuild` picks it up)."""
    from engine.outputs.catalog_file import registration_off

    if registration_off(getattr(args, "catalog", None)):
        if prog:
            prog("catalog")
        return None
    from engine.outputs.catalog import try_register

    cat, why = try_register(path, getattr(args, "catalog", None))
    if prog:
        prog("catalog")
    if why and not args.quiet:
        print(
            f"caseload: warning: {path} is complete but not in the catalog {cat}: {why}; `caseload "
            "runs rebuild` adds it",
            file=sys.stderr,
        )
    return None if cat is None or why else str(cat)


def print_json(obj) -> None:
    """A command's --json output: indented, anything else as its text."""
    print(json.dumps(obj, indent=2, default=str))


def rich_table(
    title: str | None, columns: list[str], rows: list[list], right: set[int] = frozenset()
):
    """A Rich table of text cells (None as empty), the columns in `right` right-aligned."""
    from rich.table import Table

    t = Table(title=title)
    for i, c in enumerate(columns):
        t.add_column(c, justify="right" if i in right else "left", overflow="fold")
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    return t
