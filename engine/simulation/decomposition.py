"""Why costs move: the net cost change between two periods split into volume, mix and price,
exact to the cent.

Two periods are compared: two budget years of one run (`caseload explain RUN --from 2024 --to
2027`), or a baseline and a measure run in the same budget year (`caseload explain BASELINE
MEASURE`). The change is always *to minus from* (the later year minus the earlier one, the
measure run minus the baseline): a positive part raises cost, a negative part lowers it, so
a measure's saving is minus the change and the saving's parts are minus the parts.

Cells and lines
---------------
A cell is domain x client group x product x step (the setting follows from the product). A
line is a set of cells: every cell (`total`), a domain, a domain x product, a domain x group,
or a domain x product x group; each line is decomposed on its own cells, so the mix of a
domain includes shifts between its products and groups, and the mix of a domain x product x
group line only the shifts between steps and within a step. The parts of a line are not the
sums of the parts of its sub-lines (volume at the domain level measures the domain's
arrangement-months, not those of each product).

The three factors
-----------------
For a line with cells c, arrangement-months q_c, cost K_c (cents) and tariff P_c (cents per
arrangement-month):

    K = sum_c K_c = Q * sum_c m_c * P_c,   Q = sum_c q_c,   m_c = K_c / (Q * P_c)

- volume  Q: arrangement-months of the line (care-months bought; a client with two products
  counts twice);
- mix     m: care per arrangement-month at constant tariffs: the share of each step and
  product in the line (q_c / Q) times the amount per arrangement-month relative to the
  step's tariff (K_c / (q_c P_c): the client's amount factor, caps and cuts by measures,
  how the months fall in the year). "Heavier or other care per client";
- price   P: the tariff of the cell's step in the policy library the run used, times the
  year's price index, per arrangement-month: weekly price (base-year cents, as the kernel
  takes it) x index x the mean days per month of the year's months in the run / 7. Tariffs
  and index are exactly what the policy says, so a run and a measure run on the same policy
  have no price part at all, and an index that moves changes only the price part.

K is a product of three factors (trilinear in Q, m and P), and the change from (Q0, m0, P0)
to (Q1, m1, P1) is split with the **Shapley value** over the three factors: each factor gets
its change averaged over the six orders in which the factors can change (for a trilinear
function: its own first-order term, half of each two-factor interaction term it takes part
in and a third of the three-factor term). Why Shapley rather than a chained index such as
Montgomery-Vartia / LMDI: the parts add up to the change exactly by construction (no
residual to hide), it is symmetric in the factors (no order to choose), and it is defined
when cells appear or vanish, where the logarithmic mean of LMDI is not (log 0): cells come
and go all the time (a step indicated for the first time, a product a group no longer gets).

Only the price relatives r_c = P1_c / P0_c are needed, and a tariff exists for every step
of the catalogue whether or not the cell has arrangements, so cells that enter or leave need
no imputed price: a cell with no arrangement-months in one period has m_c = 0 there and is
treated like any other cell. Its cost moves by mix (the share it gains or loses) and by
volume, and by price only through the interaction of that share with the tariff change
(half of the mix x price term, a third of the three-factor term), as for a cell that grows.
A step whose tariff is 0 in either period gets r_c = 1 (no price change). A line that has no
arrangement-months at all in one period (it enters or leaves as a whole) moves by volume
only: there is no mix to compare with.

Net cost = gross cost - own contributions
-----------------------------------------
Gross cost and own contributions are each decomposed as above; own contributions (the Wmo
abonnementstarief, once per client-month on the client's first contributing arrangement) have
as tariff the monthly amount of the year (EUR x 100 x index, rounded to cents as the kernel
books it), the same for every cell, and their mix is the share of arrangement-months that pay
it. The net parts are the gross parts minus the own-contribution parts.

Exact in cents
--------------
The Shapley parts are computed in exact rational arithmetic (`fractions.Fraction`) from the
integer cents and arrangement-months, with tariffs and index as the decimal numbers the
policy file gives, so volume + mix + price equals the change exactly before rounding. Each
part is then rounded to whole cents by the largest remainder (floor every part, give the
cents left over to the parts with the largest fractions, ties in the order volume, mix,
price), so every rounded part lies within a cent of the exact one and the three add up to
the change of the totals to the cent. This is done for gross cost and own contributions; the
net parts are their differences, so they add up to the net change exactly and each lies
within two cents of the exact net part. `residual_cents` = change - volume - mix - price is
written out as a check: it is zero by construction.

This module holds pure functions over Polars frames (`decompose`, `Period`), plus the
reading of run folders (`period_of_run`, `explain_years`, `explain_runs`) and the writing of
the output folder (`write_decomposition`); the command line is in `engine.cli.explain`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from dataclasses import dataclass
from fractions import Fraction
from itertools import permutations
from pathlib import Path

import polars as pl

from engine.core.errors import InputError

CELL_KEYS = ["domain", "group", "product", "step"]
QUANTITIES = ["arrangement_months", "gross_cents", "own_contribution_cents"]
# level -> the keys that make a line at that level
LEVELS = {
    "total": (),
    "domain": ("domain",),
    "domain_product": ("domain", "product"),
    "domain_group": ("domain", "group"),
    "domain_product_group": ("domain", "product", "group"),
}
PARTS = ("volume", "mix", "price")
COLUMNS = [
    "from_run",
    "from_year",
    "to_run",
    "to_year",
    "level",
    "domain",
    "product",
    "group",
    "arrangement_months_from",
    "arrangement_months_to",
    "net_cents_from",
    "net_cents_to",
    "net_cents_change",
    "volume_cents",
    "mix_cents",
    "price_cents",
    "residual_cents",
    "gross_cents_from",
    "gross_cents_to",
    "gross_volume_cents",
    "gross_mix_cents",
    "gross_price_cents",
    "own_contribution_cents_from",
    "own_contribution_cents_to",
    "own_volume_cents",
    "own_mix_cents",
    "own_price_cents",
]


@dataclass(frozen=True)
class Period:
    """One side of a decomposition: a run's cells in one budget year and the tariffs of the
    policy it ran under.

    cells:   domain, group, product, step, arrangement_months, gross_cents,
             own_contribution_cents (other columns are ignored; rows of a cell are summed)
    tariffs: product, step, price_cents_w (the catalogue's weekly price in base-year cents)
    scale:   price index x mean days per month of the period's months / 7 (exact)
    own_cents: the own contribution per client-month in the period (cents, exact)
    """

    run: str
    year: int
    cells: pl.DataFrame
    tariffs: pl.DataFrame
    scale: Fraction
    own_cents: Fraction


# ----------------------------------------------------------------------------- the arithmetic
def shapley3(f) -> tuple[Fraction, Fraction, Fraction]:
    """Shapley value of three factors for f(v, m, p) with each argument 0 (from) or 1 (to):
    every factor's change averaged over the six orders in which the factors can change."""
    phi = [Fraction(0)] * 3
    for order in permutations(range(3)):
        state = [0, 0, 0]
        for i in order:
            before = f(*state)
            state[i] = 1
            phi[i] += f(*state) - before
    return tuple(x / 6 for x in phi)


def line_parts(
    cells: list[tuple[int, int, int, int, Fraction]],
) -> tuple[Fraction, Fraction, Fraction]:
    """Exact (volume, mix, price) of one line. cells: (q0, q1, K0, K1, r) per cell:
    arrangement-months and cost (cents) in each period and the price relative r = P1 / P0.

    With lambda = Q1 / Q0 and m, P as in the module docstring, Q0 * sum_c m_c P_c takes the
    four values K0 (m0, P0), sum K0_c r_c (m0, P1), sum K1_c / r_c / lambda (m1, P0) and
    K1 / lambda (m1, P1); volume multiplies them by lambda."""
    q0 = sum(c[0] for c in cells)
    q1 = sum(c[1] for c in cells)
    k0 = sum(c[2] for c in cells)
    k1 = sum(c[3] for c in cells)
    if q0 == 0 or q1 == 0:
        return Fraction(k1 - k0), Fraction(0), Fraction(0)
    lam = Fraction(q1, q0)
    x = {
        (0, 0): Fraction(k0),
        (0, 1): sum((c[2] * c[4] for c in cells if c[2]), Fraction(0)),
        (1, 0): sum((c[3] / c[4] for c in cells if c[3]), Fraction(0)) / lam,
        (1, 1): k1 / lam,
    }
    return shapley3(lambda v, m, p: (lam if v else 1) * x[(m, p)])


def round_parts(parts: tuple[Fraction, ...], total: int) -> list[int]:
    """Whole cents that add up to `total` exactly, each within a cent of its exact part:
    floor every part, then the cents left over to the largest fractions (ties: first part)."""
    if sum(parts) != total:
        raise ValueError(f"parts {parts} do not add up to {total}")
    floors = [math.floor(x) for x in parts]
    left = total - sum(floors)
    order = sorted(range(len(parts)), key=lambda i: (-(parts[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return floors


# ----------------------------------------------------------------------------- frames
def _cells(p: Period) -> pl.DataFrame:
    missing = [c for c in CELL_KEYS + QUANTITIES if c not in p.cells.columns]
    if missing:
        raise ValueError(f"period {p.run} {p.year}: cells lack {missing}")
    return p.cells.group_by(CELL_KEYS).agg(*[pl.col(c).sum().cast(pl.Int64) for c in QUANTITIES])


def _tariff(p: Period) -> dict[tuple[str, str], Fraction]:
    """(product, step) -> gross tariff per arrangement-month, cents (exact)."""
    return {
        (prod, step): int(w) * p.scale
        for prod, step, w in p.tariffs.select("product", "step", "price_cents_w").iter_rows()
    }


def _relative(new: Fraction | None, old: Fraction | None) -> Fraction:
    if not new or not old:
        return Fraction(1)
    return Fraction(new) / Fraction(old)


def decompose(a: Period, b: Period, levels: dict[str, tuple[str, ...]] = LEVELS) -> pl.DataFrame:
    """The change from period `a` to period `b` per line at every level, split into volume,
    mix and price (cents; see the module docstring). One row per line, columns `COLUMNS`;
    the product / group / domain of a line that spans several is null."""
    joined = (
        _cells(a)
        .join(_cells(b), on=CELL_KEYS, how="full", coalesce=True, suffix="_to")
        .fill_null(0)
    )
    ta, tb = _tariff(a), _tariff(b)
    r_own = _relative(b.own_cents, a.own_cents)
    rows = []  # (keys dict, (q0, q1, g0, g1, r), (o0, o1, r_own))
    for rec in joined.iter_rows(named=True):
        key = (rec["product"], rec["step"])
        r = _relative(tb.get(key), ta.get(key))
        rows.append(
            (
                rec,
                (
                    rec["arrangement_months"],
                    rec["arrangement_months_to"],
                    rec["gross_cents"],
                    rec["gross_cents_to"],
                    r,
                ),
                (
                    rec["arrangement_months"],
                    rec["arrangement_months_to"],
                    rec["own_contribution_cents"],
                    rec["own_contribution_cents_to"],
                    r_own,
                ),
            )
        )
    out = []
    for level, keys in levels.items():
        lines: dict[tuple, list] = {}
        for rec, g, o in rows:
            lines.setdefault(tuple(rec[k] for k in keys), []).append((g, o))
        for line_key, members in sorted(lines.items()):
            gross = [g for g, _ in members]
            own = [o for _, o in members]
            g0, g1 = sum(c[2] for c in gross), sum(c[3] for c in gross)
            o0, o1 = sum(c[2] for c in own), sum(c[3] for c in own)
            gp = round_parts(line_parts(gross), g1 - g0)
            op = round_parts(line_parts(own), o1 - o0)
            net = [x - y for x, y in zip(gp, op, strict=True)]
            change = (g1 - o1) - (g0 - o0)
            named = dict(zip(keys, line_key, strict=True))
            out.append(
                {
                    "from_run": a.run,
                    "from_year": a.year,
                    "to_run": b.run,
                    "to_year": b.year,
                    "level": level,
                    "domain": named.get("domain"),
                    "product": named.get("product"),
                    "group": named.get("group"),
                    "arrangement_months_from": sum(c[0] for c in gross),
                    "arrangement_months_to": sum(c[1] for c in gross),
                    "net_cents_from": g0 - o0,
                    "net_cents_to": g1 - o1,
                    "net_cents_change": change,
                    "volume_cents": net[0],
                    "mix_cents": net[1],
                    "price_cents": net[2],
                    "residual_cents": change - sum(net),
                    "gross_cents_from": g0,
                    "gross_cents_to": g1,
                    "gross_volume_cents": gp[0],
                    "gross_mix_cents": gp[1],
                    "gross_price_cents": gp[2],
                    "own_contribution_cents_from": o0,
                    "own_contribution_cents_to": o1,
                    "own_volume_cents": op[0],
                    "own_mix_cents": op[1],
                    "own_price_cents": op[2],
                }
            )
    schema = {
        c: (
            pl.Utf8
            if c in ("from_run", "to_run", "level", "domain", "product", "group")
            else pl.Int16
            if c.endswith("_year")
            else pl.Int64
        )
        for c in COLUMNS
    }
    return pl.DataFrame(out, schema=schema, orient="row") if out else pl.DataFrame(schema=schema)


# ----------------------------------------------------------------------------- run folders
def months_of_year(start: str, months: int, year: int) -> list[tuple[int, int]]:
    """(year, month) of the run's months that fall in budget year `year`."""
    y0, m0 = (int(x) for x in start.split("-"))
    first = y0 * 12 + m0 - 1
    return [(k // 12, k % 12 + 1) for k in range(first, first + months) if k // 12 == year]


def tariffs_of(policy) -> pl.DataFrame:
    """product, step, price_cents_w of a policy library (`rules.policy.Policy`), rounded to
    cents as the kernel takes them."""
    rows = [(p.code, s.code, int(round(s.price_w * 100))) for p in policy.products for s in p.steps]
    return pl.DataFrame(
        rows, schema={"product": pl.Utf8, "step": pl.Utf8, "price_cents_w": pl.Int64}, orient="row"
    )


def period_of(
    run: str, year: int, cells: pl.DataFrame, policy, months: list[tuple[int, int]]
) -> Period:
    """A Period from a run's yearly cells and its policy: the index as the decimal number the
    policy gives, the mean days of the year's months in the run, the own contribution as the
    kernel books it (EUR x 100 x index rounded to cents)."""
    if not months:
        raise ValueError(f"no months of {year}")
    index = policy.index_for_year(year)
    days = sum(calendar.monthrange(y, m)[1] for y, m in months)
    scale = Fraction(str(index)) * Fraction(days, 7 * len(months))
    own = Fraction(int(round(policy.own_contribution_monthly_eur * 100 * index)))
    return Period(run, year, cells, tariffs_of(policy), scale, own)


def _policy_of(folder, where: str):
    from synthetic_population.profile import load_profile

    m = folder.manifest
    spec = m.get("spec", {})
    overrides = spec.get("overrides") or m.get("scenario", {}).get("overrides") or {}
    refs = [r for r in (spec.get("profile"), m.get("scenario", {}).get("profile")) if r]
    why = "the manifest names no profile"
    for ref in refs:
        try:
            return load_profile(ref, overrides)[1]
        except InputError as exc:
            why = str(exc)
    raise InputError(
        where,
        f"cannot read the policy the run used ({why})",
        "the run's profile and policy files where they were when it ran",
    )


def _years(folder) -> dict[int, list[tuple[int, int]]]:
    sc = folder.manifest.get("scenario", {})
    start, months = sc.get("start"), sc.get("months")
    if not start or not months:
        raise InputError(
            str(folder.path),
            "the manifest has no scenario start and months",
            "a run folder written by `caseload run`",
        )
    y0 = int(start.split("-")[0])
    out = {}
    for y in range(y0, y0 + months // 12 + 2):
        mm = months_of_year(start, months, y)
        if mm:
            out[y] = mm
    return out


def _yearly(folder) -> pl.DataFrame:
    return folder.table("arrangements_yearly")


def period_of_run(folder, year: int, policy=None) -> Period:
    """The Period of an opened run folder (`engine.outputs.folder.Folder`) in a budget year."""
    policy = policy if policy is not None else _policy_of(folder, str(folder.path))
    cells = _yearly(folder).filter(pl.col("budget_year") == year)
    return period_of(folder.run_id, year, cells, policy, _years(folder)[year])


def _year_list(years: dict) -> str:
    ys = sorted(years)
    return f"{ys[0]}-{ys[-1]}" if len(ys) > 1 else str(ys[0])


def _about(manifest: dict) -> dict:
    """What the decomposition manifest keeps of the (first) run: profile, policy, horizon, seeds."""
    sc = manifest.get("scenario", {})
    return {
        "profile": sc.get("profile"),
        "policy": sc.get("policy"),
        "start": sc.get("start"),
        "months": sc.get("months"),
        "seeds": manifest.get("seeds", {}),
        "population": manifest.get("hashes", {}).get("population"),
    }


def explain_years(
    folder, year_from: int | None = None, year_to: int | None = None
) -> tuple[pl.DataFrame, dict]:
    """Two budget years of one run (default: its first and last complete budget years).
    Only complete budget years (12 months in the run) are compared."""
    years = _years(folder)
    complete = {y: mm for y, mm in years.items() if len(mm) == 12}
    where = f"explain {folder.run_id}"
    if year_from is None or year_to is None:
        if len(complete) < 2:
            raise InputError(
                where,
                f"the run has {len(complete)} complete budget year(s)",
                "a run covering at least two complete budget years, or --from and --to",
            )
        year_from = min(complete) if year_from is None else year_from
        year_to = max(complete) if year_to is None else year_to
    for opt, y in (("--from", year_from), ("--to", year_to)):
        if y not in years:
            raise InputError(
                opt,
                f"{y} is not a budget year of run {folder.run_id}",
                f"a budget year in {_year_list(years)}",
            )
        if y not in complete:
            raise InputError(
                opt,
                f"budget year {y} is only partly in run {folder.run_id} ({len(years[y])} of 12 "
                "months)",
                f"a complete budget year: {_year_list(complete)}"
                if complete
                else "a run covering whole budget years",
            )
    if year_from == year_to:
        raise InputError(
            "--to", f"--from and --to are both {year_from}", "two different budget years"
        )
    policy = _policy_of(folder, where)
    frame = decompose(
        period_of_run(folder, year_from, policy), period_of_run(folder, year_to, policy)
    )
    info = {
        "mode": "years",
        "from": {"run_id": folder.run_id, "run_dir": str(folder.path), "year": year_from},
        "to": {"run_id": folder.run_id, "run_dir": str(folder.path), "year": year_to},
        **_about(folder.manifest),
    }
    return frame, info


def explain_runs(baseline, measure, years: list[int] | None = None) -> tuple[pl.DataFrame, dict]:
    """A baseline and a measure run in the same budget year(s) (default: every budget year of
    the runs). The runs must be comparable: same population, seeds, start, horizon, profile."""
    from engine.simulation.compare import check_comparable

    try:
        check_comparable(baseline.manifest, measure.manifest)
    except InputError as exc:
        raise InputError(
            f"explain {baseline.run_id} {measure.run_id}", exc.what, exc.expected
        ) from None
    have = _years(baseline)
    years = sorted(set(years)) if years else sorted(have)
    for y in years:
        if y not in have:
            raise InputError(
                "--year",
                f"{y} is not a budget year of runs {baseline.run_id} and {measure.run_id}",
                f"a budget year in {_year_list(have)}",
            )
    pa, pb = (
        _policy_of(baseline, f"explain {baseline.run_id}"),
        _policy_of(measure, f"explain {measure.run_id}"),
    )
    frame = pl.concat(
        [decompose(period_of_run(baseline, y, pa), period_of_run(measure, y, pb)) for y in years],
        how="vertical",
    )
    info = {
        "mode": "runs",
        "from": {"run_id": baseline.run_id, "run_dir": str(baseline.path), "years": years},
        "to": {"run_id": measure.run_id, "run_dir": str(measure.path), "years": years},
        **_about(baseline.manifest),
    }
    return frame, info


def write_decomposition(frame: pl.DataFrame, info: dict, out_dir: Path, name: str) -> Path:
    """A `decomposition` folder: decomposition.parquet and manifest.json, written under a
    temporary name and renamed when complete."""
    from engine.outputs.folder import atomic_folder, write_json, write_parquet

    final = Path(out_dir) / name
    with atomic_folder(out_dir, name, "--name") as tmp:
        write_parquet(frame, tmp / "decomposition.parquet")
        write_json(
            {
                "kind": "decomposition",
                "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "method": "Shapley value over volume (arrangement-months), mix (care per "
                "arrangement-month at constant tariffs) and "
                "price (step tariff x price index), exact rational arithmetic, parts rounded to "
                "cents by the largest remainder; "
                "net = gross - own contributions; change = to - from",
                **info,
            },
            tmp / "manifest.json",
        )
    return final


def default_name(info: dict) -> str:
    a, b = info["from"], info["to"]
    if info["mode"] == "years":
        return f"explain-{a['run_id']}-{a['year']}-{b['year']}"
    ys = a["years"]
    return f"explain-{a['run_id']}--{b['run_id']}" + (f"-{ys[0]}" if len(ys) == 1 else "")
