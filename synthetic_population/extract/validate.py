"""Checking an extract: `validate_extract` reads a file, parses its columns and checks every
value against the others, the profile and the policy, and returns an `ExtractReport` with
every problem (row, column, value, what was expected) or, for a file without problems, its
start stock. `read_extract` raises `ExtractError` when there is any problem.

The checks run in a fixed order and problems are sorted by row and kind afterwards (a stable
sort), so a row's problems of one kind are reported in the order the checks find them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from engine.core.domain import HO_TASKS
from engine.core.errors import InputError
from engine.core.months import format_month
from rules.policy import Policy
from synthetic_population.extract.columns import (
    CLIENT_COLUMNS,
    COLUMNS_BY_NAME,
    EXTRACT_COLUMNS,
    PER_WEEK,
    id_keys,
)
from synthetic_population.extract.read import Checker, Columns, parse_columns, read_table
from synthetic_population.extract.report import (
    PROBLEM_KINDS,
    ExtractError,
    ExtractReport,
    Problem,
    counted,
)
from synthetic_population.extract.stock import (
    build_stock,
    household_help_minutes,
    household_help_step,
)
from synthetic_population.profile import Profile


def validate_extract(
    path: str | Path, profile: Profile, policy: Policy, start: int | None = None
) -> ExtractReport:
    """Read and check an extract against a profile and its policy. File-level problems
    (missing, unreadable, no rows) raise InputError; row problems are in the report."""
    path = Path(path)
    df, offset = read_table(path)
    ck = Checker(df, offset)
    notes = _check_header(ck)
    start = _run_start(ck, path, profile, start)
    cols = parse_columns(ck, profile, policy)
    _check_values(ck, cols, profile, policy, start, notes)
    ckeys, akeys = _check_id_keys(ck, cols)
    problems = sorted(ck.problems, key=lambda p: (p.row or 0, list(PROBLEM_KINDS).index(p.kind)))
    report = ExtractReport(path=path, rows=df.height, start=start, problems=problems, notes=notes)
    report.warnings = _old_dates(path, cols, start)
    if not report.ok:
        return report
    return build_stock(report, cols, ck.rows, ckeys, akeys, policy)


def read_extract(
    path: str | Path, profile: Profile, policy: Policy, start: int | None = None
) -> ExtractReport:
    """`validate_extract`, raising ExtractError when there is any problem."""
    report = validate_extract(path, profile, policy, start)
    if not report.ok:
        raise ExtractError(report)
    return report


OLD_YEARS = 50  # a date this many years before the extract month is legal but suspicious


def _old_dates(path: Path, cols: Columns, start: int) -> list[str]:
    """Warnings (not problems) for indication dates far before the extract month: legal, but
    usually a placeholder such as 1900-01 that would make every client a long-term one."""
    out = []
    for col, s in (("indication_start", cols.ind_start), ("support_since", cols.since)):
        old = s.filter(s < start - OLD_YEARS * 12)
        if old.len():
            out.append(
                f"{path}: column {col}: {old.len():,} rows begin more than {OLD_YEARS} years "
                f"before the extract month (earliest {format_month(int(old.min()))}; expected "
                "real dates, not placeholders)"
            )
    return out


# ------------------------------------------------------------------------------ the file
def _check_header(ck: Checker) -> list[str]:
    """Columns the schema requires and empty required values are problems; columns it does
    not know are only noted (a case system exports more than the engine reads). Returns the
    notes."""
    notes = []
    unknown_cols = [c for c in ck.df.columns if c not in COLUMNS_BY_NAME]
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
    return notes


def _run_start(ck: Checker, path: Path, profile: Profile, start: int | None) -> int:
    """The run starts in the extract month: one value for the whole file, which a `--start`
    must not contradict; without one, `--start` or the profile's start month."""
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
                "--start or scenario.start",
                f"{format_month(start)}, but {path} describes "
                f"{format_month(em.drop_nulls()[0])} (extract_month)",
                "no start, or the extract month",
            )
        start = int(em.drop_nulls()[0])
    if start is None:
        start = profile.start
    return start


# ------------------------------------------------------------------------------ the values
def _check_values(
    ck: Checker, cols: Columns, profile: Profile, policy: Policy, start: int, notes: list[str]
) -> None:
    """Every check of a row's values against each other, the profile and the policy, and of
    rows against each other; fills in what the stock needs (`cols.step`, `cols.amount`,
    `cols.domain`, `cols.minutes_w`)."""
    cols.step = _check_steps(ck, cols, policy)
    _check_dates(ck, cols, start)
    cols.amount = _check_amounts(ck, cols)
    cols.domain = _check_product_fit(ck, cols, profile, policy, start)
    imputed = _check_household_help(ck, cols, policy)
    if imputed:
        notes.append(
            f"{counted(imputed, 'household-help row')} without task minutes: cleaning minutes "
            "set inside the step's band"
        )
    _check_client_columns(ck)
    _check_duplicate_ids(ck, cols)
    _check_overlaps(ck, cols)


def _check_steps(ck: Checker, cols: Columns, policy: Policy) -> list[int | None]:
    """A step is a code of its own product's steps (case-insensitive). Returns each row's
    step index, None where product or step is missing or unknown."""
    n = ck.df.height
    step_l = ck.raw("step").to_list()
    prod_l = cols.product.to_list()
    step_idx = [None] * n
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
    return step_idx


def _check_dates(ck: Checker, cols: Columns, start: int) -> None:
    """An indication ends after it starts, support began no later than the indication, and
    the client was born before the extract month and less than 120 years before it."""
    ck.add(
        "end_before_start",
        cols.ind_end < cols.ind_start,
        "indication_end",
        "is before indication_start",
        "a last month at or after the indication's first month",
    )
    ck.add(
        "inconsistent",
        cols.since > cols.ind_start,
        "support_since",
        "is after indication_start",
        "the first month of continuous support, at or before the indication's start",
    )
    ck.add(
        "out_of_range",
        cols.birth > start,
        "birth_month",
        f"is after the extract month {format_month(start)}",
        "a birth month before the extract month",
    )
    ck.add(
        "out_of_range",
        cols.birth < start - 120 * 12,
        "birth_month",
        "makes the client older than 120",
        "a birth month within 120 years",
    )


def _check_amounts(ck: Checker, cols: Columns) -> pl.Series:
    """A weekly amount, or units with unit, period and price; both, then they agree (within
    half a percent or a cent). Returns the weekly amount in euros, given or from units."""
    has_units = cols.units.is_not_null()
    ck.add(
        "missing_value",
        cols.weekly.is_null()
        & ~has_units
        & ck.raw("weekly_amount_eur").is_null()
        & ck.raw("units").is_null(),
        "weekly_amount_eur",
        "is empty, and so is units",
        "a weekly amount, or units with unit, period and unit_price_eur",
    )
    for col in ("unit", "period"):
        ck.add(
            "missing_value",
            has_units & ck.raw(col).is_null(),
            col,
            "is empty while units is given",
            COLUMNS_BY_NAME[col].expected,
        )
    ck.add(
        "missing_value",
        has_units & ck.raw("unit_price_eur").is_null() & (cols.unit != "euro").fill_null(True),
        "unit_price_eur",
        "is empty while units is given",
        "a price per unit (not needed for unit euro)",
    )
    calc = _weekly_from_units(cols)
    from_units = calc["from_units"]
    ck.add(
        "inconsistent",
        calc["diff"] > (cols.weekly * 0.005).clip(lower_bound=0.01),
        "weekly_amount_eur",
        pl.Series(
            [
                f"differs from units x unit price x period ({v:.2f})" if v is not None else ""
                for v in from_units.to_list()
            ]
        ),
        "the weekly amount that units, unit price and period give",
    )
    return cols.weekly.fill_null(from_units)


def _weekly_from_units(cols: Columns) -> pl.DataFrame:
    """Units x unit price (1 for unit euro) x the period's share of a week (an indication's
    total over its months); and its difference from the weekly amount given."""
    return (
        pl.DataFrame(
            {
                "units": cols.units,
                "unit": cols.unit,
                "period": cols.period,
                "price": cols.unit_price,
                "weekly": cols.weekly,
                "s": cols.ind_start,
                "e": cols.ind_end,
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
                    pl.col("period").replace_strict(PER_WEEK, default=None, return_dtype=pl.Float64)
                )
            ).alias("from_units"),
            pl.col("weekly"),
        )
        .with_columns((pl.col("weekly") - pl.col("from_units")).abs().alias("diff"))
    )


def _check_product_fit(
    ck: Checker, cols: Columns, profile: Profile, policy: Policy, start: int
) -> pl.Series:
    """A row's setting is its product's; a Wmo client has no youth product; youth care ends
    at the last youth age band; a youth client with a Wmo product has a Wmo group unless the
    profile can draw one. Returns each row's client domain."""
    prod_domain = cols.product.replace_strict(
        {p.code: p.domain for p in policy.products}, default=None
    )
    prod_setting = cols.product.replace_strict(
        {p.code: p.setting for p in policy.products}, default=None
    )
    ck.add(
        "inconsistent",
        cols.setting.is_not_null() & prod_setting.is_not_null() & (cols.setting != prod_setting),
        "setting",
        "differs from the product's setting",
        pl.Series(
            [f"{s} (the setting of the product in the policy)" for s in prod_setting.to_list()]
        ),
    )
    cl_domain = cols.group.replace_strict({g.code: g.domain for g in profile.groups}, default=None)
    youth_end = int(round(profile.youth_age_bands[-1] * 12))
    age = start - cols.birth
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
    no_wmo_group = (cl_domain == "jeugd") & (prod_domain == "wmo") & cols.wmo18.is_null()
    if not profile.handover_groups:
        ck.add(
            "inconsistent",
            no_wmo_group,
            "wmo_group_at_18",
            "is empty for a youth client with a Wmo product",
            "the client's Wmo group (the profile has no youth.handover_groups to draw from)",
            values=ck.raw("wmo_group_at_18"),
        )
    return cl_domain


def _check_household_help(ck: Checker, cols: Columns, policy: Policy) -> int:
    """Household help's step follows from its task minutes; where a row has none, cleaning
    minutes inside the step's band stand in (`cols.minutes_w`). Returns how many rows got
    them."""
    n = ck.df.height
    ho_product = next((p for p in policy.products if p.ho_minutes), None)
    mins = np.zeros((n, len(HO_TASKS)), dtype=np.int64)
    mins_given = np.zeros(n, dtype=bool)
    for ti, t in enumerate(HO_TASKS):
        v = cols.minutes[t]
        mins_given |= v.is_not_null().to_numpy()
        mins[:, ti] = v.fill_null(0).clip(lower_bound=0).to_numpy()
    cols.minutes_w = mins
    if ho_product is None:
        return 0
    imputed = 0
    prod_l, freq_l = cols.product.to_list(), cols.frequency.to_list()
    bad_ho, exp_ho = [False] * n, [""] * n
    for i in range(n):
        if prod_l[i] != ho_product.code or cols.step[i] is None:
            continue
        bi = freq_l[i] == "biweekly"
        if mins_given[i]:
            s = household_help_step(ho_product, float(mins[i].sum()), bi)
            if s != cols.step[i]:
                bad_ho[i] = True
                exp_ho[i] = (
                    f"{ho_product.steps[s].code}, the step for {int(mins[i].sum())} minutes "
                    f"{'per two weeks' if bi else 'a week'}"
                )
        else:
            m = household_help_minutes(ho_product, cols.step[i], bi)
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
    return imputed


# ------------------------------------------------------------------------------ rows together
def _check_client_columns(ck: Checker) -> None:
    """A client's columns (birth month, group, flags, ...) are the same on each of its rows;
    a row that differs from the client's first row is a problem."""
    present = [c for c in CLIENT_COLUMNS if ck.has(c) and c not in ("client_id", "extract_month")]
    if not ck.has("client_id") or not present:
        return
    cmp = ck.df.select("client_id", *present).with_columns(pl.Series("_row", ck.rows))
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
                [f"{v!r}, as in the client's first row" for v in firsts[f"_first_{c}"].to_list()]
            ),
        )


def _check_duplicate_ids(ck: Checker, cols: Columns) -> None:
    """An arrangement id occurs once; a repeat names the row of its first occurrence."""
    if not ck.has("arrangement_id"):
        return
    k = ck.df.select(
        pl.int_range(pl.len()).over("arrangement_id").alias("k"), pl.col("arrangement_id")
    )
    first_row = (
        pl.DataFrame({"a": cols.arrangement_id, "r": ck.rows})
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


def _check_overlaps(ck: Checker, cols: Columns) -> None:
    """A client holds one indication of a product at a time: an indication that starts
    before an earlier one of the same product ends overlaps it."""
    ov = (
        pl.DataFrame(
            {
                "c": cols.client_id,
                "p": cols.product,
                "s": cols.ind_start,
                "e": cols.ind_end,
                "r": ck.rows,
            }
        )
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
                f"overlaps row {r['prev_r']} ({format_month(r['prev_s'])} to "
                f"{format_month(r['prev_e'])}) of the same client and product",
                "one indication of a product at a time per client",
            )
        )


def _check_id_keys(ck: Checker, cols: Columns) -> tuple[dict[str, int], dict[str, int]]:
    """uint64 keys of the client and arrangement id texts; two texts that hash to the same
    key are a problem. Returns the keys (no arrangement keys without the column)."""
    cid_raw, aid_raw = cols.client_id, cols.arrangement_id
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
    return ckeys, akeys
