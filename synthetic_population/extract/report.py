"""What is wrong with an extract: each problem (kind, row, column, value, what was expected),
the report of a whole file (its problems, notes and, when valid, its start stock) and the
error raised for a file with problems."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from engine.core.errors import InputError
from engine.core.months import format_month

MAX_SHOWN = 20  # problems printed; the JSON report lists every one

# Problem kinds, in reporting order.
PROBLEM_KINDS = {
    "missing_column": "a required column is not in the file",
    "missing_value": "a required value is empty",
    "wrong_type": "a value is not of the column's type",
    "unknown_code": (
        "a code the profile or policy does not know (group, product, step, funding, frequency, "
        "setting, unit, period)"
    ),
    "out_of_range": "a value outside its range (household, district, age, indication number)",
    "negative_amount": "a negative amount, volume, price or number of minutes",
    "end_before_start": "an indication that ends before it starts",
    "overlap": "two indications of one product for one client that overlap",
    "duplicate_id": "an arrangement id that occurs more than once",
    "id_collision": "two different ids that hash to the same uint64",
    "inconsistent": (
        "values that contradict each other or the policy (client columns that differ between rows, "
        "step vs minutes, amounts, setting, domain, dates)"
    ),
}


def counted(count: int, noun: str) -> str:
    """A count with its noun: 1 row, 2,345 rows."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class Problem:
    kind: str
    # CSV: line number (header = 1); Parquet: record number (1-based); None: the file
    row: int | None
    column: str
    value: str | None
    what: str
    expected: str

    def line(self) -> str:
        where = "header" if self.row is None else f"row {self.row}"
        value = "" if self.value is None else f"{self.value!r} "
        return (
            f"{where}, column {self.column}: {value}{self.what} (expected {self.expected}) "
            f"[{self.kind}]"
        )


@dataclass
class ExtractReport:
    path: Path
    rows: int
    start: int
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # legal but suspicious (printed, kept)
    clients: pl.DataFrame | None = None  # stock clients (CLIENT_SCHEMA), when valid
    arrangements: pl.DataFrame | None = None  # stock arrangements (ARRANGEMENT_SCHEMA)
    numeric_max: dict = field(default_factory=dict)  # largest numeric client / arrangement id

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        c = Counter(p.kind for p in self.problems)
        return {k: c[k] for k in PROBLEM_KINDS if c[k]}

    def summary_line(self) -> str:
        n_rows = len({p.row for p in self.problems if p.row is not None})
        counts = ", ".join(f"{k} {v}" for k, v in self.counts().items())
        header = " and the header" if any(p.row is None for p in self.problems) else ""
        return (
            f"{counted(len(self.problems), 'problem')} in {counted(n_rows, 'row')}{header} "
            f"({counts}); nothing written"
        )

    def shown(self) -> list[Problem]:
        """The first MAX_SHOWN problems in row order, with at least the first of each kind."""
        order = sorted(range(len(self.problems)), key=lambda i: (self.problems[i].row or 0, i))
        chosen, seen = [], set()
        for i in order:
            if self.problems[i].kind not in seen:
                seen.add(self.problems[i].kind)
                chosen.append(i)
        for i in order:
            if len(chosen) >= MAX_SHOWN:
                break
            if i not in chosen:
                chosen.append(i)
        return [
            self.problems[i] for i in sorted(chosen, key=lambda i: (self.problems[i].row or 0, i))
        ]

    def render(self) -> str:
        lines = [f"{self.path}: {self.summary_line()}"]
        lines += [f"  {p.line()}" for p in self.shown()]
        if len(self.problems) > MAX_SHOWN:
            lines.append(
                f"  ... {len(self.problems) - len(self.shown())} more; counts per kind are in the "
                "first line"
            )
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "file": str(self.path),
            "rows": self.rows,
            "start": format_month(self.start),
            "ok": self.ok,
            "counts": self.counts(),
            "problems": [p.__dict__ for p in self.problems],
            "notes": self.notes,
            "clients": 0 if self.clients is None else self.clients.height,
            "arrangements": 0 if self.arrangements is None else self.arrangements.height,
        }


class ExtractError(InputError):
    """An extract with problems: a one-line summary, then one line per problem shown."""

    def __init__(self, report: ExtractReport):
        self.report = report
        super().__init__(str(report.path), report.summary_line())

    def __str__(self) -> str:
        return self.report.render()
