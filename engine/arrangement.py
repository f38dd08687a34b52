"""What an arrangement is worth and which group its client counts in: the small scalar
functions that the kernel and the rule primitives share.

All are compiled inline without reference counting (`hot`): see engine.kernel.
"""

import numpy as np
from numba import njit

from engine.domain import JEUGD, S_ENDED

hot = njit(cache=True, inline="always", _nrt=False)
cold = njit(cache=True, _nrt=False)  # rare paths: compiled once and called, not inlined

# arrangement bins: [chunk, group, product, step, field, month] (the month innermost: the
# kernel books an arrangement's months as one run, engine.kernel.flush_segments)
A_ACTIVE, A_GROSS, A_OC, A_REIND, A_STARTS, A_ENDS = range(6)
ARR_FIELDS = ["arrangements", "gross_cents", "own_contribution_cents", "reindications", "starts", "ends"]
# client bins: [chunk, domain, group, month, field]; outflow by reason r at C_OUT0 + r
C_START, C_END, C_IN_NEW, C_IN_TRANSFER = range(4)
C_OUT0 = 3
CLI_FIELDS_BASE = ["active_start", "active_end", "inflow_new", "inflow_transfer"]
# per-chunk work array: previous group per domain, this month's end reason per domain,
# last half-year and year counted as served per domain, active per domain at the end of the
# last month stepped, the client's mortality and youth age band, and the age (months) at
# which either changes next. A multi-combination pass (engine.multi) adds: the rules on in
# this trajectory (bit r: rule r; every bit otherwise), the rules off that would have acted
# along it, whether to sum costs per budget year, and from W_YEAR_TOT per budget year y the
# gross cost (W_YEAR_TOT + 2y) and own contributions (+ 1) in cents. Kept here rather than in
# Params or Bins: every cold call passes those tuples whole, and a larger tuple costs every call.
W_PREV, W_REASON, W_HALF, W_YEAR, W_ACTIVE, W_MORT, W_YOUTH, W_BANDS_AT = 0, 2, 4, 6, 8, 10, 11, 12
W_RULES, W_TOUCHED, W_YEARS = 13, 14, 15
# keyed draws (engine.kernel, waiting times): the month (run index) of each client exit's
# event, and the hazard spell they were drawn for (mortality band, hazard group); the open
# cost segments (engine.kernel.open_segments): where they sit in the key array, whether the
# client's segments must be closed and reopened this month, and the slot (offset from the
# client's first) that pays the own contribution while they are open; the next month in which
# anything can happen to the client, and the first month in which one of its slots has an
# event (goal, planned end, youth end age), and the last month stepped
W_EXIT_T, W_HKEY, W_S0, W_DIRTY, W_OCSLOT, W_NEXT, W_SLOT_NEXT, W_LAST = 16, 19, 20, 21, 22, 23, 24, 25
W_YEAR_TOT = 26
WORK_SIZE = 26  # the fixed part; with the budget years, padded to separate cache lines between chunks


def work_size(n_years: int) -> int:
    return (WORK_SIZE + 2 * n_years + 7) // 8 * 8


@hot
def youth_band(P, age_m, b):
    """The youth age band of a client aged `age_m` months, searching up from band b."""
    nb = P.youth_groups.shape[0]
    while b + 1 < nb and age_m >= P.youth_bands_m[b + 1]:
        b += 1
    return b


@hot
def youth_group(P, age_m):
    """The youth group (age band) of a client aged `age_m` months."""
    return P.youth_groups[youth_band(P, age_m, 0)]


@hot
def domain_group(S, P, c, d, m):
    """The client's group in domain d at month m: the Wmo group, or the youth age band."""
    g = np.int64(S.wmo_group[c])
    if d == JEUGD:
        g = youth_group(P, m - np.int64(S.birth[c]))
    return g


@hot
def weekly_base_cents(S, P, a):
    """Weekly amount in base-year cents. HO: minutes decide the step, the step the price;
    otherwise the step price times the client's factor (youth heavy tail). A biweekly HO
    arrangement is priced at the catalogue's biweekly step."""
    p = S.product[a]
    if P.p_ho[p]:
        total = 0.0
        for k in range(S.minutes.shape[1]):
            total += S.minutes[a, k]
        if S.frequency[a] == 1:
            total = total / 2.0
        if S.frequency[a] == 1 and P.ho_biweekly_step >= 0:
            S.step[a] = P.ho_biweekly_step
        else:
            k = 0
            while k + 1 < P.ho_band_steps.shape[0] and total >= P.ho_bounds[k]:
                k += 1
            S.step[a] = P.ho_band_steps[k]
    return np.int32(np.floor(P.price_cents[p, S.step[a]] * np.float64(S.factor[a]) + 0.5))


@hot
def end_arrangement(S, P, B, ch, c, a, m, t, reason, w):
    S.status[a] = S_ENDED
    S.end_month[a] = m
    S.end_reason[a] = reason
    d = P.p_domain[S.product[a]]
    w[W_REASON + d] = reason
    g = domain_group(S, P, c, d, m - 1)
    B.arr[ch, g, S.product[a], S.step[a], A_ENDS, t] += 1
