"""The `caseload` command line. Every subcommand prints what it did; bad input gives a
one-line error naming what to fix and exit code 2, and leaves nothing half-written."""

from __future__ import annotations

import argparse
import os
import sys

from engine.core.errors import CaseloadError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caseload",
        description=(
            "Client caseload microsimulation for Dutch municipal social care (Wmo maatwerk and "
            "Jeugdwet)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `caseload COMMAND --help` for a command's options and examples.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    from engine.cli import data, experiments, explain, outputs, run

    pop_sub = run.register(sub)
    data.register(sub, pop_sub)
    experiments.register(sub)
    outputs.register(sub)
    explain.register(sub)
    return parser


_leave_at_once = False  # set by a command that holds nothing to clean up (`entry`)


def main(argv: list[str] | None = None) -> int:
    global _leave_at_once
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
        _leave_at_once = bool(getattr(args, "leave_at_once", False))
        return code
    except CaseloadError as exc:
        print(f"caseload: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("caseload: interrupted; nothing was registered as complete", file=sys.stderr)
        return 130


def entry() -> None:
    """The `caseload` console script. After a command that holds nothing to clean up (a run,
    a generated population: everything is written and flushed, no pool or service is left)
    the process leaves without tearing the interpreter down: freeing a national population's
    arrays and unloading the compiled kernel take most of a second and change nothing."""
    code = main()
    if _leave_at_once:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
