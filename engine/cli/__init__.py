"""The `caseload` command line. Every subcommand prints what it did; bad input gives a
one-line error naming what to fix and exit code 2, and leaves nothing half-written."""

from __future__ import annotations

import argparse
import os
import sys

from engine.core.errors import CaseloadError


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line and exit code 2, like every other error (the subcommands'
    parsers are of this class too)."""

    def error(self, message: str):
        self.exit(2, f"caseload: error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="caseload",
        description=(
            "Client caseload microsimulation for Dutch municipal social care (Wmo maatwerk and "
            "Jeugdwet)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `caseload COMMAND --help` for a command's options and examples.",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an unexpected error (to attach to a report)",
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


def _printable(text: str) -> str:
    """A message with every control character escaped (a file name or value may hold
    anything); line breaks are kept only where the message is a summary plus listed rows."""
    return "\n".join(
        "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in line)
        for line in str(text).split("\n")
    )


def _one_line(text: str) -> str:
    return _printable(" ".join(str(text).split()))


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
        print(f"caseload: error: {_printable(exc)}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("caseload: interrupted; nothing was registered as complete", file=sys.stderr)
        return 130
    except MemoryError:
        print(
            "caseload: error: out of memory (expected a smaller population or horizon)",
            file=sys.stderr,
        )
        return 2
    except OSError as exc:  # a file the system refused: name it, no traceback
        if args.debug:
            raise
        where = exc.filename or "a file"
        print(f"caseload: error: {_one_line(f'{where}: {exc.strerror or exc}')}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the edge of the program: one line, not a traceback
        if args.debug:
            raise
        print(
            f"caseload: internal error: {_one_line(f'{type(exc).__name__}: {exc}')[:300]}; "
            "please report it with the command line (`caseload --debug ...` shows the traceback)",
            file=sys.stderr,
        )
        return 1


def entry() -> None:
    """The `caseload` console script. After a command that holds nothing to clean up (a run,
    a generated population: everything is written and flushed, no pool or service is left)
    the process leaves without tearing the interpreter down: freeing a national population's
    arrays and unloading the compiled kernel take most of a second and change nothing.
    Polars' allocator is set up first, so a first run's freed frames go back to the system
    (synthetic_population.memory)."""
    from synthetic_population.memory import return_frames_memory_soon

    return_frames_memory_soon()
    code = main()
    if _leave_at_once:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
