"""The start stock's and the inflow pool's draws, per group and part (`draw_part`): clients
(age, household, flags, district, Wmo group after 18), then their arrangements (products,
steps and amount factors, household-help task minutes, indication timing, funding), all from
the part's own NumPy stream in a fixed order, so the same seed gives the same population.
`generator.generate` numbers them and makes the frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.core.domain import FLAGS, HO_TASKS
from engine.model.portable_math import exp_array
from rules.policy import Policy
from synthetic_population.household_help import ho_params, ho_step_from_minutes
from synthetic_population.profile import Group, Profile

# the arrays `generate` collects per group and part before they become frames
CLIENT_ARRAYS = (
    "gidx",
    "domain",
    "birth",
    "household",
    "district",
    "wmo",
    "arrival",
    "stock",
    "holds_youth",
    *FLAGS,
)
ARRANGEMENT_ARRAYS = (
    "gidx",
    "local",
    "kind",
    "prod",
    "step",
    "factor",
    "start",
    "planned_end",
    "ind_no",
    "since",
    "held",
    "funding",
    "sub",
    "minutes",
)


@dataclass(frozen=True)
class Codes:
    """The integer codes `generate` draws in, and the vocabularies that turn them into text
    once at the end; household help's task-minute parameters and step bands."""

    products: list[str]
    group_codes: list[str]
    domains: list[str]
    wmo_vocab: list  # group codes, then hand-over names that are not one, then None
    ho_names: list[str]
    ho_weights: list[float]
    ind_months: np.ndarray  # per product
    step_offset: np.ndarray  # per product: its first step in step_vocab
    step_vocab: list[str]
    youth_product: np.ndarray  # per product: youth care other than verlengde jeugdhulp
    ho: dict
    ho_bounds: np.ndarray | None
    ho_band_steps: np.ndarray | None

    @classmethod
    def of(cls, profile: Profile, policy: Policy) -> Codes:
        ho = ho_params(profile)
        products = policy.product_codes
        ho_product = next((p for p in policy.products if p.ho_minutes), None)
        group_codes = profile.group_codes
        ho_names = list(profile.handover_groups)
        # step text per (product, step): one vocabulary with an offset per product
        step_lists = [[s.code for s in policy.product(p).steps] for p in products]
        return cls(
            products=products,
            group_codes=group_codes,
            domains=sorted({g.domain for g in profile.groups}),
            wmo_vocab=[*group_codes, *[h for h in ho_names if h not in group_codes], None],
            ho_names=ho_names,
            ho_weights=list(profile.handover_groups.values()),
            ind_months=np.array([policy.product(p).indication_months for p in products]),
            step_offset=np.cumsum([0] + [len(x) for x in step_lists])[:-1],
            step_vocab=[c for x in step_lists for c in x],
            youth_product=np.array(
                [
                    policy.product(p).domain == "jeugd" and p != profile.verlengd_product
                    for p in products
                ]
            ),
            ho=ho,
            ho_bounds=(
                np.array([ho_product.steps[i].minutes_max for i in ho_product.band_steps])
                if ho_product
                else None
            ),
            ho_band_steps=np.array(ho_product.band_steps) if ho_product else None,
        )


def draw_part(
    cl: dict,
    ar: dict,
    rng: np.random.Generator,
    gi: int,
    g: Group,
    arrival: np.ndarray,
    in_stock: bool,
    local0: int,
    start: int,
    profile: Profile,
    policy: Policy,
    codes: Codes,
) -> None:
    """One part of a group (its start stock, or its inflow pool): the clients, then their
    arrangements, all from the part's stream in a fixed order, appended to `cl` and `ar`."""
    n = arrival.size
    stock = np.full(n, in_stock)  # not `arrival < 0`: months before 2000 are < 0
    ref = np.where(stock, start, arrival)
    birth, household, flags, district, wmo = _draw_clients(rng, g, n, ref, profile, codes)
    # compact dtypes: these arrays are placed at their rows once (generator, `Placed`)
    cl["gidx"].append(np.full(n, gi, dtype=np.int16))
    cl["domain"].append(np.full(n, codes.domains.index(g.domain), dtype=np.int8))
    cl["birth"].append(birth.astype(np.int16))
    cl["household"].append(household.astype(np.uint8))
    cl["district"].append(district.astype(np.uint8))
    cl["wmo"].append(wmo.astype(np.int16))
    cl["arrival"].append(arrival.astype(np.int16))
    cl["stock"].append(stock)
    for f in FLAGS:
        cl[f].append(flags[f])
    owner, prod = _draw_products(rng, g, n, codes)
    # who holds a youth arrangement other than verlengde jeugdhulp (the follow-up condition)
    holds_youth = np.zeros(n, dtype=bool)
    holds_youth[owner[codes.youth_product[prod]]] = True
    cl["holds_youth"].append(holds_youth)
    step, factor, minutes = _draw_steps(rng, owner, prod, household, profile, policy, codes)
    _draw_indications(ar, rng, g, owner, prod, stock, birth, start, profile, codes)
    ar["gidx"].append(np.full(owner.size, gi, dtype=np.int16))
    ar["local"].append(local0 + owner.astype(np.int32))
    ar["kind"].append(np.zeros(owner.size, dtype=np.int8))
    ar["prod"].append(prod.astype(np.int16))
    ar["step"].append((codes.step_offset[prod] + step).astype(np.int16))
    ar["factor"].append(factor)
    ar["minutes"].append(minutes)


def _draw_clients(
    rng: np.random.Generator, g: Group, n: int, ref: np.ndarray, profile: Profile, codes: Codes
) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray, np.ndarray]:
    """A group's clients: age at the reference month (triangular; youth below the band's
    upper age), household size, flags, district and the Wmo group after 18. Returns birth
    month, household, flags, district and Wmo group code."""
    age_hi = g.age_max - (1 / 12 if g.domain == "jeugd" else 0)
    mode = min(max(g.age_mode, g.age_min), age_hi)
    age_m = (
        np.floor(rng.triangular(g.age_min, mode, age_hi, n) * 12).astype(np.int32)
        if age_hi > g.age_min
        else np.full(n, int(g.age_min * 12))
    )
    birth = ref - age_m
    sizes = np.array(list(g.household))
    household = sizes[_choice(rng, list(g.household.values()), n)]
    flags = {f: rng.random(n) < g.flags.get(f, 0.0) for f in FLAGS}
    flags["small_tidy_household"] &= household <= 2
    district = rng.integers(1, profile.districts + 1, n)
    if g.domain == "wmo":
        wmo = np.full(n, codes.wmo_vocab.index(g.code))
    elif codes.ho_names:
        wmo = np.array([codes.wmo_vocab.index(h) for h in codes.ho_names])[
            _choice(rng, codes.ho_weights, n)
        ]
    else:
        wmo = np.full(n, len(codes.wmo_vocab) - 1)
    return birth, household, flags, district, wmo


def _draw_products(
    rng: np.random.Generator, g: Group, n: int, codes: Codes
) -> tuple[np.ndarray, np.ndarray]:
    """One primary product per client, extra products by chance (never the primary one
    twice). Returns owner (position among the part's clients) and product code, ordered by
    owner, the primary product first."""
    products = codes.products
    prim = np.array([products.index(p) for p in g.primary])[
        _choice(rng, list(g.primary.values()), n)
    ]
    owners = [np.arange(n)]
    prods = [prim]
    order = [np.zeros(n, dtype=np.int32)]
    for k, (pname, q) in enumerate(g.extra.items()):
        pi = products.index(pname)
        has = (rng.random(n) < q) & (prim != pi)
        owners.append(np.nonzero(has)[0])
        prods.append(np.full(has.sum(), pi))
        order.append(np.full(has.sum(), k + 1, dtype=np.int32))
    owner = np.concatenate(owners)
    prod = np.concatenate(prods)
    ordk = np.concatenate(order)
    srt = np.lexsort((ordk, owner))
    return owner[srt], prod[srt]


def _draw_steps(
    rng: np.random.Generator,
    owner: np.ndarray,
    prod: np.ndarray,
    household: np.ndarray,
    profile: Profile,
    policy: Policy,
    codes: Codes,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per product, in product order: the step (household help: the band of its drawn task
    minutes; else the profile's step weights) and the amount factor (lognormal, mean 1).
    Returns step (index within the product), factor and task minutes per arrangement."""
    m = owner.size
    step = np.zeros(m, dtype=np.int32)
    factor = np.ones(m, dtype=np.float32)
    minutes = np.zeros((m, len(HO_TASKS)), dtype=np.int16)
    for pi, pcode in enumerate(codes.products):
        sel = np.nonzero(prod == pi)[0]
        if sel.size == 0:
            continue
        beh = profile.products[pcode]
        if policy.product(pcode).ho_minutes:
            minutes[sel] = _draw_task_minutes(rng, household[owner[sel]], codes.ho)
            step[sel] = codes.ho_band_steps[
                ho_step_from_minutes(minutes[sel].sum(axis=1), codes.ho_bounds)
            ]
        else:
            step[sel] = _choice(rng, beh.step_weights, sel.size)
        if beh.amount_sigma > 0:
            s = beh.amount_sigma
            factor[sel] = exp_array(s * rng.standard_normal(sel.size) - s * s / 2).astype(
                np.float32
            )
    return step, factor, minutes


def _draw_task_minutes(rng: np.random.Generator, hh: np.ndarray, ho: dict) -> np.ndarray:
    """Household help's weekly minutes per task: cleaning lognormal around its median
    (15 to 600), each further task with its share (ironing by household size)."""
    minutes = np.zeros((hh.size, len(HO_TASKS)), dtype=np.int16)
    minutes[:, 0] = np.clip(
        np.round(
            ho["cleaning_median_w"] * exp_array(ho["cleaning_sigma"] * rng.standard_normal(hh.size))
        ),
        15,
        600,
    )
    for ti, t in enumerate(HO_TASKS[1:], start=1):
        has = rng.random(hh.size) < ho[f"{t}_share"]
        if t == "ironing":
            iw = np.asarray(ho["ironing_w_by_household"], dtype=np.float64)
            val = iw[np.minimum(hh, len(iw)) - 1]
        else:
            val = np.full(hh.size, ho[f"{t}_w"])
        minutes[:, ti] = np.where(has, val, 0)
    return minutes


def _draw_indications(
    ar: dict,
    rng: np.random.Generator,
    g: Group,
    owner: np.ndarray,
    prod: np.ndarray,
    stock: np.ndarray,
    birth: np.ndarray,
    start: int,
    profile: Profile,
    codes: Codes,
) -> None:
    """Indication timing, funding and subcontracting, appended to `ar`: a stock
    arrangement is part-way through its support (exponential, at most the client's age),
    hence through its current indication; a pool arrangement holds no indication yet."""
    m = owner.size
    is_stock = stock[owner]
    ind = codes.ind_months[prod]
    supp = np.floor(rng.exponential(max(g.support_months_mean, 1e-9), m)).astype(np.int32)
    supp = np.minimum(supp, np.maximum(start - birth[owner], 0))
    supp = np.where(is_stock, supp, 0)
    into = supp % ind
    ind_no = 1 + supp // ind
    ind_start = np.where(is_stock, start - into, -1)
    funding = (rng.random(m) < profile.pgb_share).astype(np.int32)
    sub = (rng.random(m) < profile.subcontracted_share) & (funding == 0)
    ar["start"].append(ind_start.astype(np.int16))
    ar["planned_end"].append(np.where(is_stock, ind_start + ind, -1).astype(np.int16))
    ar["ind_no"].append(ind_no.astype(np.int16))
    ar["since"].append(np.where(is_stock, start - supp, -1).astype(np.int16))
    ar["held"].append(is_stock)  # only the stock holds an indication yet
    ar["funding"].append(funding.astype(np.int8))
    ar["sub"].append(sub)


def _choice(rng: np.random.Generator, weights, n: int) -> np.ndarray:
    """`n` indices drawn with the given weights: the draw of NumPy's `rng.choice(len(w), n,
    p=w / w.sum())` (the same uniforms, the same index for each), about 2.5 times faster: an
    index is the number of the cumulative distribution's entries at or below its uniform,
    counted by one comparison per entry instead of a binary search per draw."""
    w = np.asarray(weights, dtype=np.float64)
    if not w.sum() > 0:  # NumPy's choice refuses these too (the profile is checked first)
        raise ValueError(f"weights {list(weights)} do not sum above 0")
    cdf = (w / w.sum()).cumsum()
    cdf /= cdf[-1]
    u = rng.random(n)
    index = np.zeros(n, dtype=np.int64)
    for c in cdf[:-1]:  # u < 1 = cdf[-1]
        index += u >= c
    return index
