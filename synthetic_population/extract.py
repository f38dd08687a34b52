"""Client extracts: a municipality's own caseload, as its case system exports it, in place
of the synthetic start stock (DESIGN sections 2, 5 and 9).

An extract is one flat file, CSV or Parquet, with **one row per arrangement (indication)**
and the client's columns repeated on each of the client's rows. `EXTRACT_COLUMNS` is the
schema: name, type, whether it is required, what it means. The stock of the run is every
indication active in the extract month (`extract_month`, or `--start`, or the profile's
start month); rows that ended before it or start after it are left out and counted.

`validate_extract` reads and checks a file and returns an `ExtractReport`: every problem
with its row, column, value and what was expected. `read_extract` raises `ExtractError`
(exit code 2 on the command line) when there is any problem, and nothing is written.
`population_from_extract` turns a valid extract into the `Population` the kernel reads:

- client and arrangement ids: a plain positive number (`12345`, at most 2^63 - 1) is kept
  as it is; any other id (`C-00123`, `00123`) is hashed to a uint64 with the top bit set
  (blake2b), so hashed ids never meet numeric ones, and a collision of two different ids
  is refused. Without an `arrangement_id` column the id is the hash of client and product.
- the weekly amount (given, or units x unit price x the period's weeks) becomes the
  arrangement's `amount_factor` on its step price, so that the kernel's weekly amount
  (`engine.model.arrangement.weekly_base_cents` x the year's price index) reproduces it to the cent;
- household help without task minutes gets cleaning minutes inside its step's band;
- youth clients turning 18 within the horizon who hold a youth arrangement get the
  reserved follow-up slots (verlengde jeugdhulp, the Wmo hand-over) from the generator's
  own function, `generator.followup_slots`: every attribute (step, amount factor, funding,
  subcontracted, household-help minutes) is a keyed draw on (population seed, decision,
  client id, slot kind), and the slot id a hash of (client id, slot kind), so a synthetic
  stock written as an extract gets back exactly the generator's follow-up slots;
- a client's slots are contiguous: its extract rows in arrangement-id order, then its
  follow-up slots, verlengd before handover (the generator's order);
- inflow comes from the profile's own inflow pool (`generator.inflow_pool`, the same
  potential arrivals as a synthetic run with that population seed): its clients and
  initial slots numbered after the extract's largest numeric ids (unchanged when the
  extract is a synthetic stock), its follow-up slots re-keyed on the renumbered client ids.

A synthetic start stock written by `stock_to_extract` and run with the same profile and
seeds therefore gives the synthetic run's aggregates bit for bit, youth turning 18 included
(tests/test_extract.py).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from engine.core.domain import FLAGS, FREQUENCIES, FUNDING, HO_TASKS, SETTINGS, SLOT_KINDS
from engine.core.errors import InputError
from engine.core.months import format_month, year_of
from engine.model.rng import P_WMO_GROUP_AT_18, keyed_uniform_np
from rules.policy import Policy, Product
from synthetic_population.generator import (
    ARRANGEMENT_SCHEMA,
    CLIENT_SCHEMA,
    Population,
    followup_slot_ids,
    followup_slots,
    inflow_pool,
)
from synthetic_population.profile import Profile


# ------------------------------------------------------------------------------ schema
@dataclass(frozen=True)
class ExtractColumn:
    name: str
    kind: str  # id | month | integer | number | boolean | code
    level: str  # client | arrangement
    required: bool
    meaning: str
    expected: str


_MONTH_EXPECTED = "a month YYYY-MM (a date YYYY-MM-DD or DD-MM-YYYY is read as its month)"
_BOOL_EXPECTED = "true/false (also 1/0, yes/no, ja/nee); empty = false"

EXTRACT_COLUMNS: list[ExtractColumn] = [
    ExtractColumn(
        "client_id",
        "id",
        "client",
        True,
        "the case system's client number or code",
        "a non-empty id",
    ),
    ExtractColumn("birth_month", "month", "client", True, "month of birth", _MONTH_EXPECTED),
    ExtractColumn(
        "household", "integer", "client", True, "household size (persons)", "a whole number 1..20"
    ),
    ExtractColumn(
        "client_group",
        "code",
        "client",
        True,
        "client group at the extract month (youth: any youth group; the engine counts youth by age band)",
        "a group code of the profile",
    ),
    ExtractColumn(
        "wmo_group_at_18",
        "code",
        "client",
        False,
        "youth clients: the Wmo group after a hand-over at 18 (empty: drawn from the profile's youth.handover_groups)",
        "a Wmo group code of the profile",
    ),
    ExtractColumn(
        "district",
        "integer",
        "client",
        False,
        "district number (empty = 0, unknown)",
        "a whole number 0..255",
    ),
    *[
        ExtractColumn(f, "boolean", "client", False, f"flag read by rules: {f}", _BOOL_EXPECTED)
        for f in FLAGS
    ],
    ExtractColumn(
        "extract_month",
        "month",
        "client",
        False,
        "the month the extract describes (peildatum); the run starts here. One value for the whole file",
        _MONTH_EXPECTED,
    ),
    ExtractColumn(
        "arrangement_id",
        "id",
        "arrangement",
        False,
        "the case system's indication or allocation number (empty column: hash of client and product)",
        "a non-empty id, unique in the file",
    ),
    ExtractColumn(
        "product",
        "code",
        "arrangement",
        True,
        "product code of the policy library",
        "a product code of the policy",
    ),
    ExtractColumn(
        "step",
        "code",
        "arrangement",
        True,
        "step (intensity) code of the product",
        "a step code of the product",
    ),
    ExtractColumn(
        "indication_start",
        "month",
        "arrangement",
        True,
        "first month of the current indication",
        _MONTH_EXPECTED,
    ),
    ExtractColumn(
        "indication_end",
        "month",
        "arrangement",
        True,
        "last month the current indication covers (its end date's month); the engine reindicates the month after",
        _MONTH_EXPECTED,
    ),
    ExtractColumn(
        "support_since",
        "month",
        "arrangement",
        False,
        "first month of continuous support with this product (empty = indication_start)",
        _MONTH_EXPECTED,
    ),
    ExtractColumn(
        "indication_no",
        "integer",
        "arrangement",
        False,
        "number of the current indication, 1 = first (empty: derived from support_since and the product's indication length)",
        "a whole number >= 1",
    ),
    ExtractColumn(
        "weekly_amount_eur",
        "number",
        "arrangement",
        False,
        "weekly amount in euros of the extract year (either this, or units with unit, period and unit price)",
        "a number >= 0",
    ),
    ExtractColumn(
        "units",
        "number",
        "arrangement",
        False,
        "volume of the indication per period (iWmo/iJw 'volume')",
        "a number >= 0",
    ),
    ExtractColumn(
        "unit",
        "code",
        "arrangement",
        False,
        "unit of the volume (iWmo/iJw 'eenheid')",
        "minute, hour, day_part, day, etmaal, piece or euro",
    ),
    ExtractColumn(
        "period",
        "code",
        "arrangement",
        False,
        "period the volume is per (iWmo/iJw 'frequentie')",
        "day, week, four_weeks, month, year or indication (total within the indication)",
    ),
    ExtractColumn(
        "unit_price_eur",
        "number",
        "arrangement",
        False,
        "price per unit in euros of the extract year (empty for unit euro)",
        "a number >= 0",
    ),
    ExtractColumn(
        "setting",
        "code",
        "arrangement",
        False,
        "extramural, semimural or intramural (checked against the product)",
        "one of: " + ", ".join(SETTINGS),
    ),
    ExtractColumn(
        "funding", "code", "arrangement", True, "zorg in natura or personal budget", "zin or pgb"
    ),
    ExtractColumn(
        "subcontracted",
        "boolean",
        "arrangement",
        False,
        "the provider subcontracts",
        _BOOL_EXPECTED,
    ),
    *[
        ExtractColumn(
            f"{t}_w",
            "integer",
            "arrangement",
            False,
            f"household help: minutes per week (per two weeks when biweekly) for {t.replace('_', ' ')}, where known",
            "a whole number >= 0",
        )
        for t in HO_TASKS
    ],
    ExtractColumn(
        "frequency",
        "code",
        "arrangement",
        False,
        "household help: weekly or biweekly (empty = weekly)",
        "weekly or biweekly",
    ),
]
COLUMNS_BY_NAME = {c.name: c for c in EXTRACT_COLUMNS}
CLIENT_COLUMNS = [c.name for c in EXTRACT_COLUMNS if c.level == "client"]

# Problem kinds, in reporting order.
PROBLEM_KINDS = {
    "missing_column": "a required column is not in the file",
    "missing_value": "a required value is empty",
    "wrong_type": "a value is not of the column's type",
    "unknown_code": "a code the profile or policy does not know (group, product, step, funding, frequency, setting, unit, period)",
    "out_of_range": "a value outside its range (household, district, age, indication number)",
    "negative_amount": "a negative amount, volume, price or number of minutes",
    "end_before_start": "an indication that ends before it starts",
    "overlap": "two indications of one product for one client that overlap",
    "duplicate_id": "an arrangement id that occurs more than once",
    "id_collision": "two different ids that hash to the same uint64",
    "inconsistent": "values that contradict each other or the policy (client columns that differ between rows, step vs minutes, amounts, setting, domain, dates)",
}

_UNITS = {
    "minute": "minute",
    "minuut": "minute",
    "minuten": "minute",
    "hour": "hour",
    "uur": "hour",
    "day_part": "day_part",
    "dagdeel": "day_part",
    "day": "day",
    "dag": "day",
    "etmaal": "etmaal",
    "piece": "piece",
    "stuk": "piece",
    "stuks": "piece",
    "euro": "euro",
}
_PERIODS = {
    "day": "day",
    "dag": "day",
    "week": "week",
    "four_weeks": "four_weeks",
    "4_weeks": "four_weeks",
    "vier_weken": "four_weeks",
    "month": "month",
    "maand": "month",
    "year": "year",
    "jaar": "year",
    "indication": "indication",
    "total": "indication",
    "totaal": "indication",
}
_PER_WEEK = {
    "day": 7.0,
    "week": 1.0,
    "four_weeks": 0.25,
    "month": 7.0 * 12 / 365.25,
    "year": 7.0 / 365.25,
}
_FREQ = {
    "weekly": "weekly",
    "wekelijks": "weekly",
    "biweekly": "biweekly",
    "tweewekelijks": "biweekly",
}
_TRUE = {"true", "1", "yes", "y", "ja", "j", "t", "waar"}
_FALSE = {"false", "0", "no", "n", "nee", "f", "onwaar"}

MAX_SHOWN = 20
_TOP = np.uint64(1 << 63)
_NUMERIC_ID = re.compile(r"^[1-9][0-9]{0,18}$")


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


# ------------------------------------------------------------------------------ report
@dataclass(frozen=True)
class Problem:
    kind: str
    row: (
        int | None
    )  # CSV: line number (header = 1); Parquet: record number (1-based); None: the file
    column: str
    value: str | None
    what: str
    expected: str

    def line(self) -> str:
        where = "header" if self.row is None else f"row {self.row}"
        value = "" if self.value is None else f"{self.value!r} "
        return f"{where}, column {self.column}: {value}{self.what} (expected {self.expected}) [{self.kind}]"


@dataclass
class ExtractReport:
    path: Path
    rows: int
    start: int
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
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
        return f"{_n(len(self.problems), 'problem')} in {_n(n_rows, 'row')}{header} ({counts}); nothing written"

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
                f"  ... {len(self.problems) - len(self.shown())} more; counts per kind are in the first line"
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


# ------------------------------------------------------------------------------ ids
def hash_id(text: str, namespace: str) -> int:
    """A string id as a uint64 with the top bit set (numeric ids stay below 2^63)."""
    digest = hashlib.blake2b(f"caseload:{namespace}:{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") | (1 << 63)


def id_keys(
    texts: list[str], namespace: str, hasher=None
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """uint64 keys for distinct id texts: numeric ids kept, others hashed. Returns the keys
    and the pairs of different texts that collide."""
    hasher = hasher or hash_id
    keys, seen, collisions = {}, {}, []
    for t in texts:
        if t in keys:
            continue
        k = int(t) if _NUMERIC_ID.match(t) and int(t) < (1 << 63) else hasher(t, namespace)
        if k in seen and seen[k] != t:
            collisions.append((seen[k], t))
        seen.setdefault(k, t)
        keys[t] = k
    return keys, collisions


# ------------------------------------------------------------------------------ reading
def _read_table(path: Path) -> tuple[pl.DataFrame, int]:
    """Every column as text (stripped, empty -> null), names lower-case. Returns the frame
    and the offset from a 0-based record index to the row number users see."""
    if not path.exists():
        raise InputError(str(path), "file not found")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            df = pl.from_arrow(pq.read_table(path))
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(str(path), f"not a readable Parquet file: {exc}") from None
        offset = 1
    elif suffix in (".csv", ".txt"):
        try:
            head = path.read_bytes()[:4096].decode("utf-8-sig", errors="replace").splitlines()
        except OSError as exc:
            raise InputError(str(path), f"cannot read: {exc}") from None
        if not head:
            raise InputError(
                str(path), "the file is empty", "a header line and one row per arrangement"
            )
        sep = ";" if head[0].count(";") > head[0].count(",") else ","
        try:
            df = pl.read_csv(
                path,
                separator=sep,
                infer_schema=False,
                encoding="utf8-lossy",
                truncate_ragged_lines=False,
            )
        except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, OSError) as exc:
            raise InputError(
                str(path), f"not a readable CSV file: {str(exc).splitlines()[0]}"
            ) from None
        offset = 2
    else:
        raise InputError(
            str(path), f"unknown file type {suffix!r}", "a client extract as .csv or .parquet"
        )
    names = [str(c).strip().lower().lstrip("\ufeff") for c in df.columns]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError(str(path), f"column {dup!r} occurs twice", "one column per name")
    df = df.rename(dict(zip(df.columns, names, strict=True)))
    df = df.select(
        [pl.col(c).cast(pl.Utf8).str.strip_chars().replace("", None).alias(c) for c in df.columns]
    )
    if df.height == 0:
        raise InputError(str(path), "no rows", "one row per arrangement")
    return df, offset


class _Checker:
    """Parses text columns into typed ones and records problems per row."""

    def __init__(self, df: pl.DataFrame, offset: int):
        self.df = df
        self.rows = pl.Series("row", np.arange(df.height, dtype=np.int64) + offset)
        self.problems: list[Problem] = []

    def has(self, col: str) -> bool:
        return col in self.df.columns

    def raw(self, col: str) -> pl.Series:
        return (
            self.df[col]
            if col in self.df.columns
            else pl.Series(col, [None] * self.df.height, dtype=pl.Utf8)
        )

    def add(
        self, kind: str, mask, col: str, what: str, expected: str, values: pl.Series | None = None
    ) -> None:
        mask = pl.Series(mask).fill_null(False)
        if not mask.any():
            return
        vals = (values if values is not None else self.raw(col)).filter(mask)
        whats = what.filter(mask).to_list() if isinstance(what, pl.Series) else [what] * len(vals)
        if isinstance(expected, pl.Series):
            exps = expected.filter(mask).to_list()
        else:
            exps = [expected] * len(vals)
        for r, v, w, e in zip(
            self.rows.filter(mask).to_list(), vals.to_list(), whats, exps, strict=True
        ):
            self.problems.append(Problem(kind, r, col, None if v is None else str(v), w, e))

    def required(self, col: str) -> None:
        if self.has(col):
            self.add(
                "missing_value",
                self.raw(col).is_null(),
                col,
                "is empty",
                COLUMNS_BY_NAME[col].expected,
            )

    # -- typed parsers: return the parsed series (null where empty or invalid) -----------
    def month(self, col: str) -> pl.Series:
        s = self.raw(col)
        iso = s.str.extract_groups(r"^(\d{4})-(\d{1,2})(?:-\d{1,2})?(?:[ T].*)?$")
        nl = s.str.extract_groups(r"^\d{1,2}-(\d{1,2})-(\d{4})$")
        year = iso.struct.field("1").fill_null(nl.struct.field("2")).cast(pl.Int32, strict=False)
        month = iso.struct.field("2").fill_null(nl.struct.field("1")).cast(pl.Int32, strict=False)
        ok = year.is_not_null() & month.is_between(1, 12) & year.is_between(1900, 2199)
        self.add(
            "wrong_type",
            s.is_not_null() & ~ok.fill_null(False),
            col,
            "is not a month",
            COLUMNS_BY_NAME[col].expected,
        )
        return (
            ((year - 2000) * 12 + month - 1)
            .zip_with(ok.fill_null(False), pl.Series([None] * len(s), dtype=pl.Int32))
            .alias(col)
        )

    def integer(self, col: str, lo: int | None = None, hi: int | None = None) -> pl.Series:
        s = self.raw(col)
        ok = s.str.contains(r"^[+-]?\d{1,12}(\.0*)?$")
        v = (
            s.str.replace(r"\.0*$", "")
            .cast(pl.Int64, strict=False)
            .zip_with(ok.fill_null(False), pl.Series([None] * len(s), dtype=pl.Int64))
        )
        self.add(
            "wrong_type",
            s.is_not_null() & ~ok.fill_null(False),
            col,
            "is not a whole number",
            COLUMNS_BY_NAME[col].expected,
        )
        if col.endswith("_w"):
            self.add("negative_amount", v < 0, col, "is negative", "minutes >= 0")
        elif lo is not None and hi is not None:
            self.add(
                "out_of_range",
                (v < lo) | (v > hi),
                col,
                "is out of range",
                COLUMNS_BY_NAME[col].expected,
            )
        return v.alias(col)

    def number(self, col: str) -> pl.Series:
        s = self.raw(col)
        ok = s.str.contains(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")
        v = (
            s.str.replace(",", ".", literal=True)
            .cast(pl.Float64, strict=False)
            .zip_with(ok.fill_null(False), pl.Series([None] * len(s), dtype=pl.Float64))
        )
        self.add(
            "wrong_type",
            s.is_not_null() & ~ok.fill_null(False),
            col,
            "is not a number",
            COLUMNS_BY_NAME[col].expected,
        )
        self.add("negative_amount", v < 0, col, "is negative", "an amount >= 0")
        return v.alias(col)

    def boolean(self, col: str) -> pl.Series:
        s = self.raw(col).str.to_lowercase()
        t = s.is_in(list(_TRUE))
        f = s.is_in(list(_FALSE))
        self.add(
            "wrong_type",
            s.is_not_null() & ~t & ~f,
            col,
            "is not true/false",
            COLUMNS_BY_NAME[col].expected,
        )
        return t.fill_null(False).alias(col)

    def code(self, col: str, mapping: dict[str, str], expected: str) -> pl.Series:
        s = self.raw(col)
        v = s.str.to_lowercase().replace_strict(mapping, default=None)
        self.add("unknown_code", s.is_not_null() & v.is_null(), col, "is an unknown code", expected)
        return v.alias(col)


def _ho_step(product: Product, total_w: float, biweekly: bool) -> int:
    """The step household help gets for these minutes (as engine.model.arrangement.weekly_base_cents)."""
    band = list(getattr(product, "band_steps", range(len(product.steps))))
    bi = getattr(product, "biweekly_step", -1)
    if biweekly and bi >= 0:
        return bi
    total = total_w / 2.0 if biweekly else total_w
    k = 0
    while k + 1 < len(band) and total >= product.steps[band[k]].minutes_max:
        k += 1
    return band[k]


def _ho_minutes_for_step(product: Product, step: int, biweekly: bool) -> int | None:
    """Cleaning minutes inside the band of a household-help step (for extracts without
    task minutes); None when the step has no band."""
    band = list(getattr(product, "band_steps", range(len(product.steps))))
    if step not in band:
        return 150 if biweekly else None
    k = band.index(step)
    lo = product.steps[band[k - 1]].minutes_max if k > 0 else 0.0
    hi = product.steps[step].minutes_max
    mid = lo + 60 if hi >= 10_000 else (lo + hi) / 2
    return int(round(mid * (2 if biweekly else 1)))


def validate_extract(
    path: str | Path, profile: Profile, policy: Policy, start: int | None = None
) -> ExtractReport:
    """Read and check an extract against a profile and its policy. File-level problems
    (missing, unreadable, no rows) raise InputError; row problems are in the report."""
    path = Path(path)
    df, offset = _read_table(path)
    ck = _Checker(df, offset)
    notes = []
    unknown_cols = [c for c in df.columns if c not in COLUMNS_BY_NAME]
    if unknown_cols:
        notes.append(f"columns not in the extract schema, ignored: {', '.join(unknown_cols)}")
    for c in EXTRACT_COLUMNS:
        if c.required and not ck.has(c.name):
            ck.problems.append(
                Problem(
                    "missing_column",
                    None,
                    c.name,
                    None,
                    "is missing",
                    f"a column {c.name!r}: {c.meaning}",
                )
            )
    if not ck.has("weekly_amount_eur") and not ck.has("units"):
        ck.problems.append(
            Problem(
                "missing_column",
                None,
                "weekly_amount_eur",
                None,
                "is missing, and so is units",
                "a column weekly_amount_eur, or units with unit, period and unit_price_eur",
            )
        )
    for c in EXTRACT_COLUMNS:
        if c.required:
            ck.required(c.name)

    # --- the extract month: one value; the run's start -----------------------------------
    em = ck.month("extract_month")
    em_values = em.drop_nulls().unique().sort().to_list()
    if len(em_values) > 1:
        first = em.drop_nulls()[0]
        ck.add(
            "inconsistent",
            em.is_not_null() & (em != first),
            "extract_month",
            f"differs from the first row's {format_month(first)}",
            "one extract month for the whole file",
        )
    if em_values:
        if start is not None and start != em.drop_nulls()[0]:
            raise InputError(
                "--start",
                f"{format_month(start)}, but {path} describes {format_month(em.drop_nulls()[0])} (extract_month)",
                "no --start, or the extract month",
            )
        start = int(em.drop_nulls()[0])
    if start is None:
        start = profile.start
    n = df.height

    # --- typed columns ----------------------------------------------------------------------
    groups = {g.code: g.code for g in profile.groups}
    group_domain = {g.code: g.domain for g in profile.groups}
    wmo_groups = {g.code: g.code for g in profile.groups if g.domain == "wmo"}
    products = {p.code: p.code for p in policy.products}
    cid_raw = ck.raw("client_id")
    aid_raw = ck.raw("arrangement_id")
    birth = ck.month("birth_month")
    household = ck.integer("household", 1, 20)
    district = ck.integer("district", 0, 255)
    group = ck.code(
        "client_group", {k.lower(): v for k, v in groups.items()}, "one of: " + ", ".join(groups)
    )
    wmo18 = ck.code(
        "wmo_group_at_18",
        {k.lower(): v for k, v in wmo_groups.items()},
        "a Wmo group: " + ", ".join(wmo_groups),
    )
    flags = {f: ck.boolean(f) for f in FLAGS}
    product = ck.code(
        "product", {k.lower(): v for k, v in products.items()}, "one of: " + ", ".join(products)
    )
    ind_start = ck.month("indication_start")
    ind_end = ck.month("indication_end")
    since = ck.month("support_since")
    ind_no = ck.integer("indication_no", 1, 10_000)
    weekly = ck.number("weekly_amount_eur")
    units = ck.number("units")
    unit = ck.code("unit", _UNITS, COLUMNS_BY_NAME["unit"].expected)
    period = ck.code("period", _PERIODS, COLUMNS_BY_NAME["period"].expected)
    unit_price = ck.number("unit_price_eur")
    setting = ck.code("setting", {s: s for s in SETTINGS}, COLUMNS_BY_NAME["setting"].expected)
    funding = ck.code("funding", {f: f for f in FUNDING}, COLUMNS_BY_NAME["funding"].expected)
    subcontracted = ck.boolean("subcontracted")
    minutes = {t: ck.integer(f"{t}_w") for t in HO_TASKS}
    frequency = ck.code("frequency", _FREQ, COLUMNS_BY_NAME["frequency"].expected).fill_null(
        "weekly"
    )

    # --- steps of their product -------------------------------------------------------------
    step_raw = ck.raw("step")
    step_idx = [None] * n
    prod_l, step_l = product.to_list(), step_raw.to_list()
    bad_step, exp_step = [False] * n, [""] * n
    for i in range(n):
        p, s = prod_l[i], step_l[i]
        if p is None or s is None:
            continue
        codes = [st.code for st in policy.product(p).steps]
        low = [c.lower() for c in codes]
        if s.lower() in low:
            step_idx[i] = low.index(s.lower())
        else:
            bad_step[i] = True
            exp_step[i] = f"a step of {p}: " + ", ".join(codes)
    ck.add("unknown_code", bad_step, "step", "is not a step of the product", pl.Series(exp_step))
    step_s = pl.Series("step", step_idx, dtype=pl.Int32)

    # --- dates ---------------------------------------------------------------------------------
    ck.add(
        "end_before_start",
        ind_end < ind_start,
        "indication_end",
        "is before indication_start",
        "a last month at or after the indication's first month",
    )
    ck.add(
        "inconsistent",
        since > ind_start,
        "support_since",
        "is after indication_start",
        "the first month of continuous support, at or before the indication's start",
    )
    ck.add(
        "out_of_range",
        birth > start,
        "birth_month",
        f"is after the extract month {format_month(start)}",
        "a birth month before the extract month",
    )
    ck.add(
        "out_of_range",
        birth < start - 120 * 12,
        "birth_month",
        "makes the client older than 120",
        "a birth month within 120 years",
    )

    # --- amounts ------------------------------------------------------------------------------
    has_units = units.is_not_null()
    ck.add(
        "missing_value",
        weekly.is_null()
        & ~has_units
        & ck.raw("weekly_amount_eur").is_null()
        & ck.raw("units").is_null(),
        "weekly_amount_eur",
        "is empty, and so is units",
        "a weekly amount, or units with unit, period and unit_price_eur",
    )
    ck.add(
        "missing_value",
        has_units & ck.raw("unit").is_null(),
        "unit",
        "is empty while units is given",
        COLUMNS_BY_NAME["unit"].expected,
    )
    ck.add(
        "missing_value",
        has_units & ck.raw("period").is_null(),
        "period",
        "is empty while units is given",
        COLUMNS_BY_NAME["period"].expected,
    )
    ck.add(
        "missing_value",
        has_units & ck.raw("unit_price_eur").is_null() & (unit != "euro").fill_null(True),
        "unit_price_eur",
        "is empty while units is given",
        "a price per unit (not needed for unit euro)",
    )
    calc = (
        pl.DataFrame(
            {
                "units": units,
                "unit": unit,
                "period": period,
                "price": unit_price,
                "weekly": weekly,
                "s": ind_start,
                "e": ind_end,
            }
        )
        .select(
            (
                pl.col("units")
                * pl.when(pl.col("unit") == "euro")
                .then(pl.col("price").fill_null(1.0))
                .otherwise(pl.col("price"))
                * pl.when(pl.col("period") == "indication")
                .then(7.0 / ((pl.col("e") - pl.col("s") + 1).cast(pl.Float64) * 365.25 / 12))
                .otherwise(
                    pl.col("period").replace_strict(
                        _PER_WEEK, default=None, return_dtype=pl.Float64
                    )
                )
            ).alias("from_units"),
            pl.col("weekly"),
        )
        .with_columns((pl.col("weekly") - pl.col("from_units")).abs().alias("diff"))
    )
    from_units = calc["from_units"]
    ck.add(
        "inconsistent",
        calc["diff"] > (weekly * 0.005).clip(lower_bound=0.01),
        "weekly_amount_eur",
        pl.Series(
            [
                f"differs from units x unit price x period ({v:.2f})" if v is not None else ""
                for v in from_units.to_list()
            ]
        ),
        "the weekly amount that units, unit price and period give",
    )
    amount = weekly.fill_null(from_units)

    # --- per product: setting, domain, household-help minutes and step ------------------------
    prod_domain = product.replace_strict({p.code: p.domain for p in policy.products}, default=None)
    prod_setting = product.replace_strict(
        {p.code: p.setting for p in policy.products}, default=None
    )
    ck.add(
        "inconsistent",
        setting.is_not_null() & prod_setting.is_not_null() & (setting != prod_setting),
        "setting",
        "differs from the product's setting",
        pl.Series(
            [f"{s} (the setting of the product in the policy)" for s in prod_setting.to_list()]
        ),
    )
    cl_domain = group.replace_strict(group_domain, default=None)
    youth_end = int(round(profile.youth_age_bands[-1] * 12))
    age = start - birth
    ck.add(
        "inconsistent",
        (cl_domain == "wmo") & (prod_domain == "jeugd"),
        "product",
        "is a youth product for a Wmo client",
        "a Wmo product, or a youth client group",
    )
    ck.add(
        "inconsistent",
        (prod_domain == "jeugd") & (age >= youth_end),
        "birth_month",
        f"makes a youth-care client {profile.youth_age_bands[-1]:g} or older",
        "youth care ends at the last youth age band",
    )
    no_wmo_group = (cl_domain == "jeugd") & (prod_domain == "wmo") & wmo18.is_null()
    if not profile.handover_groups:
        ck.add(
            "inconsistent",
            no_wmo_group,
            "wmo_group_at_18",
            "is empty for a youth client with a Wmo product",
            "the client's Wmo group (the profile has no youth.handover_groups to draw from)",
            values=ck.raw("wmo_group_at_18"),
        )

    ho_product = next((p for p in policy.products if p.ho_minutes), None)
    mins = np.zeros((n, len(HO_TASKS)), dtype=np.int64)
    mins_given = np.zeros(n, dtype=bool)
    for ti, t in enumerate(HO_TASKS):
        v = minutes[t]
        mins_given |= v.is_not_null().to_numpy()
        mins[:, ti] = v.fill_null(0).clip(lower_bound=0).to_numpy()
    imputed = 0
    step_final = step_s.to_list()
    bad_ho, exp_ho = [False] * n, [""] * n
    freq_l = frequency.to_list()
    for i in range(n):
        if ho_product is None or prod_l[i] != ho_product.code or step_idx[i] is None:
            continue
        bi = freq_l[i] == "biweekly"
        if mins_given[i]:
            s = _ho_step(ho_product, float(mins[i].sum()), bi)
            if s != step_idx[i]:
                bad_ho[i] = True
                exp_ho[i] = (
                    f"{ho_product.steps[s].code}, the step for {int(mins[i].sum())} minutes {'per two weeks' if bi else 'a week'}"
                )
        else:
            m = _ho_minutes_for_step(ho_product, step_idx[i], bi)
            if m is None:
                bad_ho[i] = True
                exp_ho[i] = "task minutes, or a step with a minutes band"
            else:
                mins[i, 0] = m
                imputed += 1
    ck.add(
        "inconsistent",
        bad_ho,
        "step",
        "does not match the household-help minutes",
        pl.Series(exp_ho),
    )
    if imputed:
        notes.append(
            f"{_n(imputed, 'household-help row')} without task minutes: cleaning minutes set inside the step's band"
        )

    # --- client columns agree between a client's rows ---------------------------------------
    present = [c for c in CLIENT_COLUMNS if ck.has(c) and c not in ("client_id", "extract_month")]
    if ck.has("client_id") and present:
        cmp = df.select("client_id", *present).with_columns(pl.Series("_row", ck.rows))
        firsts = cmp.with_columns(
            [pl.col(c).first().over("client_id").alias(f"_first_{c}") for c in present]
        )
        for c in present:
            mask = firsts["client_id"].is_not_null() & firsts[c].ne_missing(firsts[f"_first_{c}"])
            ck.add(
                "inconsistent",
                mask,
                c,
                "differs between rows of one client",
                pl.Series(
                    [
                        f"{v!r}, as in the client's first row"
                        for v in firsts[f"_first_{c}"].to_list()
                    ]
                ),
            )

    # --- duplicate arrangement ids, overlapping indications ----------------------------------
    if ck.has("arrangement_id"):
        k = df.select(
            pl.int_range(pl.len()).over("arrangement_id").alias("k"), pl.col("arrangement_id")
        )
        first_row = (
            pl.DataFrame({"a": aid_raw, "r": ck.rows})
            .select(pl.col("r").first().over("a"))
            .to_series()
        )
        ck.add(
            "duplicate_id",
            (k["k"] > 0) & k["arrangement_id"].is_not_null(),
            "arrangement_id",
            "occurs more than once",
            pl.Series([f"a unique id (first at row {r})" for r in first_row.to_list()]),
        )
    ov = (
        pl.DataFrame({"c": cid_raw, "p": product, "s": ind_start, "e": ind_end, "r": ck.rows})
        .filter(
            pl.col("c").is_not_null()
            & pl.col("p").is_not_null()
            & pl.col("s").is_not_null()
            & pl.col("e").is_not_null()
            & (pl.col("e") >= pl.col("s"))
        )
        .sort(["c", "p", "s", "r"])
        .with_columns(
            pl.col("e").cum_max().shift(1).over(["c", "p"]).alias("prev_e"),
            pl.col("r").shift(1).over(["c", "p"]).alias("prev_r"),
            pl.col("s").shift(1).over(["c", "p"]).alias("prev_s"),
        )
        .filter(pl.col("prev_e").is_not_null() & (pl.col("s") <= pl.col("prev_e")))
    )
    for r in ov.iter_rows(named=True):
        ck.problems.append(
            Problem(
                "overlap",
                r["r"],
                "indication_start",
                format_month(r["s"]),
                f"overlaps row {r['prev_r']} ({format_month(r['prev_s'])} to {format_month(r['prev_e'])}) of the same client and product",
                "one indication of a product at a time per client",
            )
        )

    # --- ids: keys and collisions --------------------------------------------------------------
    ctexts = cid_raw.drop_nulls().unique(maintain_order=True).to_list()
    ckeys, ccoll = id_keys(ctexts, "client")
    for a, b in ccoll:
        ck.add(
            "id_collision",
            cid_raw == b,
            "client_id",
            f"hashes to the same uint64 as client id {a!r}",
            "client ids that hash apart (rename one)",
        )
    akeys = {}
    if ck.has("arrangement_id"):
        atexts = aid_raw.drop_nulls().unique(maintain_order=True).to_list()
        akeys, acoll = id_keys(atexts, "arrangement")
        for a, b in acoll:
            ck.add(
                "id_collision",
                aid_raw == b,
                "arrangement_id",
                f"hashes to the same uint64 as arrangement id {a!r}",
                "arrangement ids that hash apart (rename one)",
            )

    problems = sorted(ck.problems, key=lambda p: (p.row or 0, list(PROBLEM_KINDS).index(p.kind)))
    report = ExtractReport(path=path, rows=n, start=start, problems=problems, notes=notes)
    if not report.ok:
        return report

    # --- the stock: indications active in the extract month -----------------------------------
    active = ((ind_start <= start) & (ind_end >= start)).to_numpy()
    ended = (ind_end < start).to_numpy()
    future = (ind_start > start).to_numpy()
    if ended.any():
        notes.append(
            f"{_n(int(ended.sum()), 'row')} ended before {format_month(start)}: not part of the stock"
        )
    if future.any():
        notes.append(
            f"{_n(int(future.sum()), 'row')} start after {format_month(start)}: not part of the stock"
        )
    cid_l = cid_raw.to_list()
    ckey = np.array([ckeys[c] for c in cid_l], dtype=np.uint64)
    if akeys:
        akey = np.array([akeys[a] for a in aid_raw.to_list()], dtype=np.uint64)
    else:
        akey = np.array(
            [hash_id(f"{c}|{p}", "arrangement-of") for c, p in zip(cid_l, prod_l, strict=True)],
            dtype=np.uint64,
        )
        coll = len(set(akey[active].tolist())) != int(active.sum())
        if coll:  # only when ids of different client-product pairs collide
            raise InputError(
                str(path), "two derived arrangement ids collide", "an arrangement_id column"
            )
    all_clients = set(cid_l)
    kept_clients = {c for c, a in zip(cid_l, active, strict=True) if a}
    if len(kept_clients) < len(all_clients):
        notes.append(
            f"{_n(len(all_clients) - len(kept_clients), 'client')} without an indication active in {format_month(start)}: not part of the stock"
        )

    idx = np.nonzero(active)[0]
    sel = pl.Series(active)
    prod_codes = product.filter(sel).to_list()
    steps_i = [step_final[i] for i in idx]
    ind_months = np.array([policy.product(p).indication_months for p in prod_codes], dtype=np.int64)
    st = ind_start.filter(sel).to_numpy().astype(np.int64)
    sn = since.filter(sel).fill_null(ind_start.filter(sel)).to_numpy().astype(np.int64)
    ino = ind_no.filter(sel)
    ino = np.where(
        ino.is_null().to_numpy(),
        1 + (st - sn) // np.maximum(ind_months, 1),
        ino.fill_null(0).to_numpy(),
    )
    index = policy.index_for_year(year_of(start))
    amt = amount.filter(sel).to_numpy()
    factor = np.ones(idx.size, dtype=np.float64)
    for j, (p, s) in enumerate(zip(prod_codes, steps_i, strict=True)):
        pr = policy.product(p)
        if pr.ho_minutes:
            s = _ho_step(pr, float(mins[idx[j]].sum()), freq_l[idx[j]] == "biweekly")
        price_cents = int(round(pr.steps[s].price_w * 100))
        want = amt[j] * 100.0 / index
        if price_cents > 0:
            factor[j] = want / price_cents
        elif want > 0:
            report.problems.append(
                Problem(
                    "inconsistent",
                    int(ck.rows[int(idx[j])]),
                    "weekly_amount_eur",
                    f"{amt[j]:.2f}",
                    f"is not 0 while step {pr.steps[s].code} is priced 0 in the policy",
                    "0, or another step",
                )
            )
    if not report.ok:
        return report
    arr = pl.DataFrame(
        {
            "arrangement_id": pl.Series(akey[idx], dtype=pl.UInt64),
            "client_id": pl.Series(ckey[idx], dtype=pl.UInt64),
            "slot_kind": ["initial"] * idx.size,
            "product": prod_codes,
            "step": [
                policy.product(p).steps[s].code for p, s in zip(prod_codes, steps_i, strict=True)
            ],
            "amount_factor": pl.Series(factor, dtype=pl.Float32),
            "start_month": pl.Series(st, dtype=pl.Int16),
            "planned_end_month": pl.Series(ind_end.filter(sel).to_numpy() + 1, dtype=pl.Int16),
            "indication_no": pl.Series(ino, dtype=pl.Int16),
            "support_since_month": pl.Series(sn, dtype=pl.Int16),
            "funding": funding.filter(sel),
            "subcontracted": subcontracted.filter(sel),
            **{f"{t}_w": pl.Series(mins[idx, ti], dtype=pl.Int16) for ti, t in enumerate(HO_TASKS)},
            "frequency": frequency.filter(sel),
        }
    )
    cl = pl.DataFrame(
        {
            "client_id": pl.Series(ckey[idx], dtype=pl.UInt64),
            "group": group.filter(sel),
            "domain": cl_domain.filter(sel),
            "birth_month": birth.filter(sel).cast(pl.Int16),
            "household": household.filter(sel).cast(pl.UInt8),
            "district": district.filter(sel).fill_null(0).cast(pl.UInt8),
            "wmo_group": pl.DataFrame(
                {"d": cl_domain.filter(sel), "g": group.filter(sel), "w": wmo18.filter(sel)}
            )
            .select(pl.when(pl.col("d") == "wmo").then(pl.col("g")).otherwise(pl.col("w")))
            .to_series(),
            **{f: flags[f].filter(sel) for f in FLAGS},
            "arrival_month": pl.Series([None] * idx.size, dtype=pl.Int16),
        }
    ).unique("client_id", keep="first", maintain_order=True)
    order = np.lexsort((arr["arrangement_id"].to_numpy(), arr["client_id"].to_numpy()))
    report.arrangements = arr[order].select(list(ARRANGEMENT_SCHEMA))
    report.clients = cl.sort("client_id").select(list(CLIENT_SCHEMA))
    numeric = [k for k in ckeys.values() if k < (1 << 63)]
    report.numeric_max = {
        "client": max(numeric, default=0),
        "arrangement": max((k for k in akeys.values() if k < (1 << 63)), default=0),
    }
    return report


def read_extract(
    path: str | Path, profile: Profile, policy: Policy, start: int | None = None
) -> ExtractReport:
    """`validate_extract`, raising ExtractError when there is any problem."""
    report = validate_extract(path, profile, policy, start)
    if not report.ok:
        raise ExtractError(report)
    return report


# ------------------------------------------------------------------------------ population
def _followups(
    report: ExtractReport, profile: Profile, policy: Policy, seed: int, months: int
) -> pl.DataFrame:
    """Reserved follow-up slots for the stock's youth clients who turn 18 in the horizon:
    `generator.followup_slots`, the generator's own function, on the extract's clients."""
    cl = report.clients
    start = report.start
    youth_products = [
        p.code
        for p in policy.products
        if p.domain == "jeugd" and p.code != profile.verlengd_product
    ]
    holders = report.arrangements.filter(pl.col("product").is_in(youth_products))["client_id"]
    eligible = ((cl["domain"] == "jeugd") & cl["client_id"].is_in(holders.implode())).to_numpy()
    ids = cl["client_id"].to_numpy()
    fu = followup_slots(
        profile,
        policy,
        seed,
        ids,
        cl["birth_month"].to_numpy(),
        np.full(cl.height, start),
        cl["household"].to_numpy(),
        eligible,
        start,
        months,
    )
    products = policy.product_codes
    k = fu["owner"].size
    return pl.DataFrame(
        {
            "arrangement_id": pl.Series(fu["arrangement_id"], dtype=pl.UInt64),
            "client_id": pl.Series(ids[fu["owner"]], dtype=pl.UInt64),
            "slot_kind": pl.Series([SLOT_KINDS[x] for x in fu["kind"]], dtype=pl.Utf8),
            "product": pl.Series([products[x] for x in fu["prod"]], dtype=pl.Utf8),
            "step": pl.Series(
                [
                    policy.product(products[p]).steps[x].code
                    for p, x in zip(fu["prod"], fu["step"], strict=True)
                ],
                dtype=pl.Utf8,
            ),
            "amount_factor": pl.Series(fu["factor"], dtype=pl.Float32),
            "start_month": pl.Series([None] * k, dtype=pl.Int16),
            "planned_end_month": pl.Series([None] * k, dtype=pl.Int16),
            "indication_no": pl.Series(np.zeros(k, dtype=np.int16), dtype=pl.Int16),
            "support_since_month": pl.Series([None] * k, dtype=pl.Int16),
            "funding": pl.Series([FUNDING[x] for x in fu["funding"]], dtype=pl.Utf8),
            "subcontracted": pl.Series(fu["subcontracted"], dtype=pl.Boolean),
            **{
                f"{t}_w": pl.Series(fu["minutes"][:, ti], dtype=pl.Int16)
                for ti, t in enumerate(HO_TASKS)
            },
            "frequency": pl.Series([FREQUENCIES[0]] * k, dtype=pl.Utf8),
        }
    )


def population_from_extract(
    path: str | Path,
    profile: Profile,
    policy: Policy,
    seed: int,
    months: int,
    start: int | None = None,
) -> Population:
    """A valid extract's stock in front of the profile's inflow pool (population seed
    `seed`), for a run of `months` from the extract month."""
    report = read_extract(path, profile, policy, start)
    start = report.start
    clients = report.clients
    # youth clients without a Wmo group after 18: a keyed draw from the profile's weights
    missing = clients.filter((pl.col("domain") == "jeugd") & pl.col("wmo_group").is_null())
    if missing.height and profile.handover_groups:
        names = list(profile.handover_groups)
        cum = np.cumsum(list(profile.handover_groups.values()))
        u = keyed_uniform_np(seed, P_WMO_GROUP_AT_18, missing["client_id"].to_numpy(), 0)
        drawn = np.minimum(np.searchsorted(cum / cum[-1], u, side="right"), len(names) - 1)
        fill = pl.DataFrame({"client_id": missing["client_id"], "_wg": [names[i] for i in drawn]})
        clients = (
            clients.join(fill, on="client_id", how="left", maintain_order="left")
            .with_columns(pl.col("wmo_group").fill_null(pl.col("_wg")))
            .drop("_wg")
        )
    follow = _followups(report, profile, policy, seed, months)
    stock_arr = pl.concat([report.arrangements, follow]).with_columns(
        pl.col("slot_kind")
        .replace_strict({k: i for i, k in enumerate(SLOT_KINDS)}, return_dtype=pl.Int8)
        .alias("_k")
    )
    # clients in id order; a client's slots contiguous: its extract rows by id, then follow-ups
    stock_arr = stock_arr.sort(["client_id", "_k", "arrangement_id"]).drop("_k")
    pool = inflow_pool(profile, policy, seed, months, start)
    c_off = int(report.numeric_max["client"]) - int(pool.meta["stock_clients"])
    a_off = int(report.numeric_max["arrangement"]) - int(pool.meta["stock_slots"])
    top = int(pool.clients["client_id"].max() or 0) + c_off
    top_a = (
        int(pool.arrangements.filter(pl.col("slot_kind") == "initial")["arrangement_id"].max() or 0)
        + a_off
    )
    if top >= (1 << 63) or top_a >= (1 << 63):
        raise InputError(
            str(path),
            "numeric ids too large to number the inflow pool after them",
            "numeric ids below 2^63 minus the pool size",
        )
    pool_clients = pool.clients.with_columns(
        (pl.col("client_id").cast(pl.Int64) + c_off).cast(pl.UInt64)
    )
    # pool clients and their initial slots keep their order and are shifted past the
    # extract's ids; a follow-up slot's id is a function of its client's id, so it follows
    pool_arr = pool.arrangements.with_columns(
        (pl.col("client_id").cast(pl.Int64) + c_off).cast(pl.UInt64)
    )
    kind = (
        pool_arr["slot_kind"]
        .replace_strict({k: i for i, k in enumerate(SLOT_KINDS)}, return_dtype=pl.Int64)
        .to_numpy()
    )
    new_aid = pool_arr["arrangement_id"].to_numpy().astype(np.uint64)
    init = kind == 0
    new_aid[init] = (new_aid[init].astype(np.int64) + a_off).astype(np.uint64)
    new_aid[~init] = followup_slot_ids(pool_arr["client_id"].to_numpy()[~init], kind[~init])
    pool_arr = pool_arr.with_columns(pl.Series("arrangement_id", new_aid, dtype=pl.UInt64))
    all_clients = pl.concat(
        [clients.select(list(CLIENT_SCHEMA)), pool_clients.select(list(CLIENT_SCHEMA))]
    )
    all_arr = pl.concat(
        [stock_arr.select(list(ARRANGEMENT_SCHEMA)), pool_arr.select(list(ARRANGEMENT_SCHEMA))]
    )
    for what, ids in (
        ("client", all_clients["client_id"]),
        ("arrangement", all_arr["arrangement_id"]),
    ):
        if ids.n_unique() != ids.len():
            raise InputError(
                str(path),
                f"{what} ids of the extract collide with the inflow pool or its follow-up slots",
                "other ids",
            )
    return Population(
        clients=all_clients,
        arrangements=all_arr,
        pool_rate=pool.pool_rate,
        group_codes=profile.group_codes,
        start=start,
        months=months,
        meta={
            "profile": profile.name,
            "population_seed": seed,
            "scale": profile.scale,
            "source": "extract",
            "extract_file": str(path),
            "extract_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16],
            "stock_clients": clients.height,
            "stock_arrangements": report.arrangements.height,
            "followup_slots": follow.height,
            "notes": report.notes,
        },
    )


def is_population_file(path: Path) -> bool:
    """A Parquet file written by `caseload population generate` (not an extract)."""
    if Path(path).suffix.lower() != ".parquet" or not Path(path).exists():
        return False
    try:
        meta = pq.read_schema(path).metadata or {}
    except (pa.ArrowInvalid, OSError):
        return False
    return b"caseload.population" in meta


def load_population_file(
    path: str | Path,
    profile: Profile,
    policy: Policy,
    seed: int,
    months: int,
    start: int | None = None,
) -> Population:
    """`run --population FILE`: a population file, or a client extract (CSV or Parquet)."""
    from synthetic_population.generator import read_population

    path = Path(path)
    if is_population_file(path):
        return read_population(path)
    return population_from_extract(path, profile, policy, seed, months, start)


# ------------------------------------------------------------------------------ writing
def stock_to_extract(
    pop: Population, policy: Policy, client_id_format: str | None = None
) -> pl.DataFrame:
    """A population's start stock as an extract (one row per active arrangement, client
    columns repeated; reserved follow-up slots left out). `client_id_format` (e.g.
    "FAKE-{:05d}") writes text ids instead of the numbers."""
    start = pop.start
    stock = pop.clients.filter(pl.col("arrival_month").is_null())
    arr = pop.arrangements.filter(
        (pl.col("slot_kind") == "initial") & pl.col("start_month").is_not_null()
    )
    arr = arr.join(stock, on="client_id", how="inner", maintain_order="left")
    index = policy.index_for_year(year_of(start))
    price = {
        (p.code, s.code): int(round(s.price_w * 100)) for p in policy.products for s in p.steps
    }
    # the step price times the client's factor, unrounded (9 decimals): a real extract has
    # cents; the extra decimals carry the factor, so the stock reads back exactly
    weekly = [
        round(price[(p, s)] * float(f) * index / 100.0, 9)
        for p, s, f in zip(
            arr["product"].to_list(),
            arr["step"].to_list(),
            arr["amount_factor"].to_list(),
            strict=True,
        )
    ]
    cid = arr["client_id"]
    aid = arr["arrangement_id"]
    if client_id_format:
        cid = pl.Series([client_id_format.format(i) for i in cid.to_list()])
        aid = pl.Series([f"A-{i:06d}" for i in aid.to_list()])
    fmt = lambda col: pl.Series([format_month(m) if m is not None else None for m in col.to_list()])  # noqa: E731
    return pl.DataFrame(
        {
            "extract_month": [format_month(start)] * arr.height,
            "client_id": cid.cast(pl.Utf8),
            "birth_month": fmt(arr["birth_month"]),
            "household": arr["household"].cast(pl.Int64),
            "client_group": arr["group"],
            "wmo_group_at_18": pl.select(
                pl.when(arr["domain"] == "jeugd").then(arr["wmo_group"])
            ).to_series(),
            "district": arr["district"].cast(pl.Int64),
            **{f: arr[f] for f in FLAGS},
            "arrangement_id": aid.cast(pl.Utf8),
            "product": arr["product"],
            "step": arr["step"],
            "indication_start": fmt(arr["start_month"]),
            "indication_end": fmt(arr["planned_end_month"] - 1),
            "support_since": fmt(arr["support_since_month"]),
            "indication_no": arr["indication_no"].cast(pl.Int64),
            "weekly_amount_eur": pl.Series(weekly, dtype=pl.Float64),
            "setting": arr["product"].replace_strict({p.code: p.setting for p in policy.products}),
            "funding": arr["funding"],
            "subcontracted": arr["subcontracted"],
            **{
                f"{t}_w": pl.select(
                    pl.when(
                        arr["product"].is_in([p.code for p in policy.products if p.ho_minutes])
                    ).then(arr[f"{t}_w"].cast(pl.Int64))
                )
                .to_series()
                .alias(f"{t}_w")
                for t in HO_TASKS
            },
            "frequency": pl.select(
                pl.when(
                    arr["product"].is_in([p.code for p in policy.products if p.ho_minutes])
                ).then(arr["frequency"])
            )
            .to_series()
            .alias("frequency"),
        }
    )


def write_extract(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write an extract as CSV or Parquet, atomically (temporary name, then rename)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(
            str(path), f"unknown file type {suffix!r}", "a file name ending in .csv or .parquet"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    try:
        if suffix == ".csv":
            frame.write_csv(tmp)
        else:
            frame.write_parquet(tmp, compression="zstd")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
