"""The `caseload` command line. Every subcommand prints what it did; bad input gives a
one-line error naming what to fix and exit code 2, and leaves nothing half-written."""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CaseloadError as exc:
        print(f"caseload: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("caseload: interrupted; nothing was registered as complete", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
