"""What an arrangement is worth and which group its client counts in: the small scalar
functions the kernel and the rule primitives share."""

import numpy as np

from engine.core.domain import JEUGD, S_ENDED
from engine.model.jit import jit
from engine.model.layout import A_ENDS, W_REASON

U = np.uint64  # unsigned index: Numba emits no negative-index wrap-around code for it


@jit
def bit(mask, k):
    """Is bit k of `mask` set?"""
    return (np.uint64(mask) >> np.uint64(k)) & np.uint64(1) != 0


@jit
def youth_band(P, age_m, b):
    """The youth age band of a client aged `age_m` months, searching up from band b."""
    R = P.run[0]
    while b + 1 < R.n_youth and age_m >= R.youth_bands_m[b + 1]:
        b += 1
    return b


@jit
def youth_group(P, age_m):
    """The youth group (age band) of a client aged `age_m` months."""
    return P.run[0].youth_groups[youth_band(P, age_m, 0)]


@jit
def domain_group(S, P, c, d, m):
    """The client's group in domain d at month m: the Wmo group, or the youth age band."""
    g = np.int64(S.clients[c].wmo_group)
    if d == JEUGD:
        g = youth_group(P, m - np.int64(S.clients[c].birth))
    return g


@jit
def weekly_base_cents(S, P, a):
    """Weekly amount in base-year cents. HO: minutes decide the step, the step the price;
    otherwise the step price times the client's factor (youth heavy tail). A biweekly HO
    arrangement is priced at the catalogue's biweekly step."""
    s = S.slots[a]
    pr = P.products[s.product]
    R = P.run[0]
    if pr.ho:
        total = 0.0
        for k in range(s.minutes.shape[0]):
            total += s.minutes[k]
        if s.frequency == 1:
            total = total / 2.0
        if s.frequency == 1 and R.ho_biweekly_step >= 0:
            s.step = R.ho_biweekly_step
        else:
            k = 0
            while k + 1 < R.n_ho_bands and total >= R.ho_bounds[k]:
                k += 1
            s.step = R.ho_band_steps[k]
    return np.int32(np.floor(pr.price_cents[s.step] * np.float64(s.factor) + 0.5))


@jit
def end_arrangement(S, P, B, ch, c, a, m, t, reason, w):
    s = S.slots[a]
    s.status = S_ENDED
    s.end_month = m
    s.end_reason = reason
    d = P.products[s.product].domain
    w[W_REASON + d] = reason
    g = domain_group(S, P, c, d, m - 1)
    B.arr[ch, g, s.product, s.step, A_ENDS, t] += 1
