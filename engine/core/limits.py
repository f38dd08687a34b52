"""The validation rules every number and name from outside passes, in one place.

Every number read from a file, a scenario's `[overrides]`, `--set` or an option is finite and
within a range (its key's own, else +-MAX_MAGNITUDE); a name that becomes a file or folder name
is a plain name (no path separator, no control character, not hidden, at most MAX_NAME
characters); a population must fit in memory (estimated before it is drawn). Failures are
`InputError`s: one line naming the file, key or option and what was expected (exit code 2).
The table in README.md ("Validation") summarises these rules.

Why not pydantic: every figure in a profile, policy or measure is read by one hand-written
reader (`engine.core.sourced.Section`), whose keys are data (groups, products and steps are
named by the files themselves) and whose messages already name file, key and expectation.
Finite and bounded checks here, called from `Section.number`, `Section.weights` and the
extract reader, fix every one of those inputs at once; pydantic models would need a dynamic
model per profile and a translation of its messages, for two more compiled dependencies.
"""

from __future__ import annotations

import math
import os
import unicodedata
from typing import Any

from engine.core.errors import InputError

# A number with no bound of its own (counts, euros, minutes) is at most this in magnitude:
# sums of 10^9 euro amounts over every arrangement-month stay far inside int64 cents.
MAX_MAGNITUDE = 1e9
# Weekly amounts and prices in euros: a week of the costliest care (secure residential youth
# care, about EUR 10,000) with room to spare; with it a run's cents fit int64 by 10^4.
MAX_WEEKLY_EUR = 100_000.0
MAX_SEED = 2**63 - 1
MAX_THREADS = 256  # --workers (processes); kernel threads are bounded by max_threads()
# Folder and file names: the final name plus `.partial-` and `-<pid>` stay under 255 bytes;
# a scenario or experiment name leaves room for the date, time and hash of a default run id.
MAX_NAME = 120
MAX_SCENARIO_NAME = 80
# Bytes per client and per arrangement slot a run holds at its peak (population frames, state,
# per-run copies). Measured: the default profile's 48-month run, 136,316 clients and 179,701
# slots, peaks at 409 MB resident, about 250 MB of it the interpreter and libraries; these
# give 218 MB for it (estimated with SLOTS_PER_CLIENT slots a client).
BYTES_PER_CLIENT = 1000
BYTES_PER_SLOT = 400


def finite_number(
    value: Any,
    where: str,
    lo: float | None = None,
    hi: float | None = None,
    integer: bool = False,
    unit: str = "",
) -> float | int:
    """`value` as a float (or int), refused unless a finite number within [lo, hi]; a bound
    left out is +-MAX_MAGNITUDE. Booleans and text are not numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(where, f"{value!r} is not a number", "a number" + _unit(unit))
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(where, f"{value!r} is not a finite number", _range(lo, hi, unit))
    if integer and int(value) != value:
        raise InputError(where, f"{value!r} is not a whole number", "an integer" + _unit(unit))
    low = -MAX_MAGNITUDE if lo is None else lo
    high = MAX_MAGNITUDE if hi is None else hi
    if value < low or value > high:
        raise InputError(where, f"{value!r} is out of range", _range(lo, hi, unit))
    return int(value) if integer else float(value)


def nonneg_numbers(values: Any) -> bool:
    """A non-empty list of finite numbers in [0, MAX_MAGNITUDE] (weights, minutes, hazards)."""
    return (
        isinstance(values, list)
        and bool(values)
        and all(
            not isinstance(x, bool)
            and isinstance(x, (int, float))
            and math.isfinite(x)
            and 0 <= x <= MAX_MAGNITUDE
            for x in values
        )
    )


def _unit(unit: str) -> str:
    return f" ({unit})" if unit else ""


def _range(lo: float | None, hi: float | None, unit: str = "") -> str:
    low = f"{-MAX_MAGNITUDE:g}" if lo is None else str(lo)
    high = f"{MAX_MAGNITUDE:g}" if hi is None else str(hi)
    return f"a value in [{low}, {high}]" + _unit(unit)


def check_name(name: Any, where: str, what: str = "a plain name", max_len: int = MAX_NAME) -> str:
    """A name that becomes a file or folder name: text, 1..MAX_NAME characters, no path
    separator, no control character, not starting with a dot (no `..`, no hidden folder)."""
    if not isinstance(name, str):
        raise InputError(where, f"{name!r} is not text", what)
    problem = None
    if not name.strip():
        problem = "is empty"
    elif len(name) > max_len:
        problem = f"is {len(name)} characters long"
    elif "/" in name or "\\" in name:
        problem = f"{name!r} holds a path separator"
    elif any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        problem = f"{name!r} holds a control character"
    elif name.startswith(".") or name != name.strip():
        problem = f"{name!r} starts with a dot or a space"
    if problem:
        raise InputError(
            where,
            problem,
            f"{what}: 1-{max_len} characters, no '/', '\\', control characters or leading dot",
        )
    return name


def max_threads() -> int:
    """Kernel threads Numba can start here: NUMBA_NUM_THREADS, else the number of cores."""
    try:
        n = int(os.environ.get("NUMBA_NUM_THREADS", "0"))
    except ValueError:
        n = 0
    return n if n > 0 else max(1, os.cpu_count() or 1)


def available_memory() -> int:
    """Bytes this machine can give a run: MemAvailable, else the physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def check_memory(clients: float, slots: float, where: str, hint: str) -> None:
    """Refuse a population the machine cannot hold, saying the estimated size."""
    need = clients * BYTES_PER_CLIENT + slots * BYTES_PER_SLOT
    have = available_memory()
    if need > 0.8 * have:
        raise InputError(
            where,
            f"about {clients:,.0f} clients and {slots:,.0f} arrangement slots would need "
            f"{need / 2**30:,.1f} GiB of memory, {have / 2**30:,.1f} GiB is available",
            hint,
        )
