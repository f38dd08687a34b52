"""A sheet of the finance workbook and the HTML report's tables: a titled frame with a
format per column, and the suppression of small client counts both apply."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

SMALL_CELL = 10


SUPPRESSED = "<10"


MONEY = "money"


INT = "int"


TEXT = "text"


FLOAT = "float"


@dataclass
class Sheet:
    name: str  # sheet name (at most 31 characters)
    title: str
    note: str
    frame: pl.DataFrame
    formats: dict[str, str] = field(default_factory=dict)  # column -> MONEY | INT | FLOAT | TEXT
    freeze_cols: int = 0

    @property
    def slug(self) -> str:
        return self.name.lower().replace(" ", "_")


def suppress(values: list[float | int | None]) -> list:
    """Client counts under 10 become "<10"; the rest whole numbers."""
    out = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        n = int(round(v))
        out.append(SUPPRESSED if n < SMALL_CELL else n)
    return out
