"""Month arithmetic. A month is an int: (year - 2000) * 12 + (month - 1).

Everything in the kernel counts in these month indices (int16 in state arrays), so the
kernel never parses a date. `parse_month` is the one place a "YYYY-MM" string becomes a month.
"""

from __future__ import annotations

import calendar
import re
from typing import TYPE_CHECKING

from engine.core.errors import InputError

if TYPE_CHECKING:
    import numpy as np

EPOCH_YEAR = 2000
# Months anything may name (birth months included); int16 month indices hold 2000 +- 2,700
# years. A run's start is held to RUN_YEARS.
FIRST_YEAR, LAST_YEAR = 1900, 2200
RUN_YEARS = (1990, 2100)
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def month_index(year: int, month: int) -> int:
    return (year - EPOCH_YEAR) * 12 + (month - 1)


def parse_month(text: str, where: str = "month") -> int:
    """'2024-07' -> month index; a clear InputError otherwise."""
    m = _MONTH_RE.match(str(text).strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise InputError(where, f"{text!r} is not a month", "YYYY-MM, e.g. 2024-01")
    if not FIRST_YEAR <= int(m.group(1)) <= LAST_YEAR:
        raise InputError(
            where, f"{text!r} is out of range", f"a month in {FIRST_YEAR}-01..{LAST_YEAR}-12"
        )
    return month_index(int(m.group(1)), int(m.group(2)))


def check_run_start(m: int, where: str) -> None:
    """A run starts within RUN_YEARS (prices, growth and ages are extrapolated from there)."""
    lo, hi = RUN_YEARS
    if not month_index(lo, 1) <= m <= month_index(hi, 12):
        raise InputError(
            where, f"{format_month(m)} is out of range", f"a start month in {lo}-01..{hi}-12"
        )


def year_of(m: int) -> int:
    return EPOCH_YEAR + m // 12


def month_of(m: int) -> int:
    return m % 12 + 1


def format_month(m: int) -> str:
    return f"{year_of(m):04d}-{month_of(m):02d}"


def days_in_month(m: int) -> int:
    return calendar.monthrange(year_of(m), month_of(m))[1]


def days_array(start: int, n: int) -> np.ndarray:
    """Days in each month of a horizon, int64, for cost accrual."""
    import numpy as np  # here, not at the top: the command line's start-up does not need it

    return np.array([days_in_month(start + t) for t in range(n)], dtype=np.int64)
