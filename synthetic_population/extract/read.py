"""Reading an extract: the file as text columns (CSV or Parquet), then each column parsed to
its type by a `Checker` that records a `Problem` for every value it cannot read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from engine.core.domain import FLAGS, FUNDING, HO_TASKS, SETTINGS
from engine.core.errors import InputError
from engine.core.limits import MAX_WEEKLY_EUR, available_memory
from rules.policy import Policy
from synthetic_population.extract.columns import (
    COLUMNS_BY_NAME,
    FALSE_TEXTS,
    FREQUENCY_CODES,
    PERIODS,
    TRUE_TEXTS,
    UNITS,
)
from synthetic_population.extract.report import Problem
from synthetic_population.profile import Profile

MAX_EXTRACT_BYTES = 4 * 2**30  # a CSV or Parquet extract (a city's caseload is ~100 MB)
# Bounds of amounts in an extract (README "Validation"): a weekly amount or unit price in EUR,
# and a volume of units in its period.
MAX_UNITS = 1e7
# Memory a read takes per byte of file: every column as text in Polars plus the parsed copy.
READ_FACTOR = 6


def _check_file(path: Path) -> None:
    """A regular file of bounded size: no folder, device or pipe (an endless `/dev/zero`
    link would otherwise be read whole)."""
    if not path.exists():
        raise InputError(str(path), "file not found")
    if not path.is_file():
        raise InputError(str(path), "is not a regular file", "a client extract (.csv or .parquet)")
    size = path.stat().st_size
    if size > MAX_EXTRACT_BYTES:
        raise InputError(
            str(path), f"is {size:,} bytes", f"an extract of at most {MAX_EXTRACT_BYTES:,} bytes"
        )
    need, have = READ_FACTOR * size, available_memory()
    if need > 0.8 * have:
        raise InputError(
            str(path),
            f"reading its {size / 2**30:,.1f} GiB would need about {need / 2**30:,.1f} GiB of "
            f"memory, {have / 2**30:,.1f} GiB is available",
            "a smaller extract (only the columns of the schema, only current indications)",
        )


def _check_utf8(path: Path) -> None:
    """The whole CSV must be UTF-8: a lossy read would merge ids that differ in one byte."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    line, done = 1, 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad_line = line + chunk[: exc.start].count(b"\n")
                raise InputError(
                    str(path),
                    f"line {bad_line} is not UTF-8 text (byte {done + exc.start})",
                    "a CSV file in UTF-8 (save it as 'CSV UTF-8')",
                ) from None
            line += text.count("\n")
            done += len(chunk)


def _check_names(path: Path, names: list[str]) -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise InputError(str(path), f"column {n!r} occurs twice", "one column per name")
        seen.add(n)


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(str(path), f"not a readable Parquet file: {exc}") from None
    _check_names(path, [f.name.strip().lower() for f in schema])
    for f in schema:
        if pa.types.is_nested(f.type):
            raise InputError(
                str(path),
                f"column {f.name!r} is nested ({f.type})",
                "flat columns of text, numbers or dates",
            )
    try:
        return pl.from_arrow(pq.read_table(path))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise InputError(str(path), f"not a readable Parquet file: {exc}") from None


def read_table(path: Path) -> tuple[pl.DataFrame, int]:
    """Every column as text (stripped, empty -> null), names lower-case. Returns the frame
    and the offset from a 0-based record index to the row number users see."""
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        df = _read_parquet(path)
        offset = 1
    elif suffix in (".csv", ".txt"):
        try:
            with open(path, "rb") as fh:
                first = fh.read(4096)
        except OSError as exc:
            raise InputError(str(path), f"cannot read: {exc}") from None
        head = first.decode("utf-8-sig", errors="replace").splitlines()
        if not head:
            raise InputError(
                str(path), "the file is empty", "a header line and one row per arrangement"
            )
        _check_utf8(path)
        sep = ";" if head[0].count(";") > head[0].count(",") else ","
        _check_names(path, [c.strip().strip('"').lower() for c in head[0].split(sep)])
        try:
            df = pl.read_csv(
                path,
                separator=sep,
                infer_schema=False,
                encoding="utf8",
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
    _check_names(path, names)
    df = df.rename(dict(zip(df.columns, names, strict=True)))
    df = df.select(
        [pl.col(c).cast(pl.Utf8).str.strip_chars().replace("", None).alias(c) for c in df.columns]
    )
    if df.height == 0:
        raise InputError(str(path), "no rows", "one row per arrangement")
    return df, offset


class Checker:
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

    def number(self, col: str, hi: float) -> pl.Series:
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
        self.add("out_of_range", v > hi, col, "is too large", f"at most {hi:,.0f}")
        return v.alias(col)

    def boolean(self, col: str) -> pl.Series:
        s = self.raw(col).str.to_lowercase()
        t = s.is_in(list(TRUE_TEXTS))
        f = s.is_in(list(FALSE_TEXTS))
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


@dataclass
class Columns:
    """The extract's columns parsed to their types (null where empty or not readable), and
    what the checks derive from them for the stock."""

    client_id: pl.Series  # the id texts as given
    arrangement_id: pl.Series
    birth: pl.Series
    household: pl.Series
    district: pl.Series
    group: pl.Series
    wmo18: pl.Series
    flags: dict[str, pl.Series]
    product: pl.Series
    ind_start: pl.Series
    ind_end: pl.Series
    since: pl.Series
    ind_no: pl.Series
    weekly: pl.Series
    units: pl.Series
    unit: pl.Series
    period: pl.Series
    unit_price: pl.Series
    setting: pl.Series
    funding: pl.Series
    subcontracted: pl.Series
    minutes: dict[str, pl.Series]
    frequency: pl.Series
    # derived by the checks (synthetic_population.extract.validate)
    step: list = field(default_factory=list)  # step index in its product, or None
    amount: pl.Series | None = None  # weekly amount in euros, given or from units
    domain: pl.Series | None = None  # the client group's domain
    minutes_w: np.ndarray | None = None  # [row, task] household-help minutes, imputed where none


def _codes(items: dict[str, str]) -> dict[str, str]:
    """A code list read case-insensitively."""
    return {k.lower(): v for k, v in items.items()}


def parse_columns(ck: Checker, profile: Profile, policy: Policy) -> Columns:
    """Every column of the schema parsed; a value that cannot be read is a problem. Parsed in
    this order, so that a row's problems of one kind are reported in column order."""
    groups = {g.code: g.code for g in profile.groups}
    wmo_groups = {g.code: g.code for g in profile.groups if g.domain == "wmo"}
    products = {p.code: p.code for p in policy.products}
    return Columns(
        client_id=ck.raw("client_id"),
        arrangement_id=ck.raw("arrangement_id"),
        birth=ck.month("birth_month"),
        household=ck.integer("household", 1, 20),
        district=ck.integer("district", 0, 255),
        group=ck.code("client_group", _codes(groups), "one of: " + ", ".join(groups)),
        wmo18=ck.code(
            "wmo_group_at_18", _codes(wmo_groups), "a Wmo group: " + ", ".join(wmo_groups)
        ),
        flags={f: ck.boolean(f) for f in FLAGS},
        product=ck.code("product", _codes(products), "one of: " + ", ".join(products)),
        ind_start=ck.month("indication_start"),
        ind_end=ck.month("indication_end"),
        since=ck.month("support_since"),
        ind_no=ck.integer("indication_no", 1, 10_000),
        weekly=ck.number("weekly_amount_eur", MAX_WEEKLY_EUR),
        units=ck.number("units", MAX_UNITS),
        unit=ck.code("unit", UNITS, COLUMNS_BY_NAME["unit"].expected),
        period=ck.code("period", PERIODS, COLUMNS_BY_NAME["period"].expected),
        unit_price=ck.number("unit_price_eur", MAX_WEEKLY_EUR),
        setting=ck.code("setting", {s: s for s in SETTINGS}, COLUMNS_BY_NAME["setting"].expected),
        funding=ck.code("funding", {f: f for f in FUNDING}, COLUMNS_BY_NAME["funding"].expected),
        subcontracted=ck.boolean("subcontracted"),
        minutes={t: ck.integer(f"{t}_w") for t in HO_TASKS},
        frequency=ck.code(
            "frequency", FREQUENCY_CODES, COLUMNS_BY_NAME["frequency"].expected
        ).fill_null("weekly"),
    )
