"""Client-level exits: death, moving away, transfer to the Wlz (step 1 of the month).

With keyed draws each exit is a waiting time: one keyed uniform at the start of a spell of
constant hazard (mortality band, hazard group) gives the month of the event
(engine.model.rng.months_from_log), drawn again when the spell changes (exact: waiting times
are memoryless). With sequential draws, one Bernoulli draw per exit and client-month.
"""

from __future__ import annotations

import numpy as np

from engine.core.domain import (
    F_WLZ_CANDIDATE,
    R_DEATH,
    R_MOVED,
    R_WLZ,
    S_ACTIVE,
)
from engine.model.arrangement import (
    end_arrangement,
    youth_band,
)
from engine.model.frame import unframe
from engine.model.jit import jit, jit_call
from engine.model.layout import (
    H_DEATH,
    H_MOVED,
    H_WLZ,
    W_BANDS_AT,
    W_EXIT_T,
    W_HKEY,
    W_MORT,
    W_YOUTH,
)
from engine.model.rng import (
    MODE_KEYED,
    draw_ek,
    months_from_log,
    uniform_from_entity_key,
)


@jit
def update_bands(P, age_m, w):
    """The client's mortality and youth age bands at age `age_m` months (ages only grow:
    search up from the current bands), and the age at which either changes next."""
    R = P.run[0]
    k = w[W_MORT]
    while k + 1 < R.n_mort and age_m >= R.mort_from_m[k + 1]:
        k += 1
    w[W_MORT] = k
    b = youth_band(P, age_m, w[W_YOUTH])
    w[W_YOUTH] = b
    at = 1 << 62
    if k + 1 < R.n_mort:
        at = min(at, np.int64(np.ceil(R.mort_from_m[k + 1])))
    if b + 1 < R.n_youth:
        at = min(at, R.youth_bands_m[b + 1])
    w[W_BANDS_AT] = at


@jit
def exit_hazards(S, P, c, hg, w):
    """This month's hazards of death, moving away and transfer to the Wlz: mortality by age
    band, the others by the hazard group (Wmo group, or the youth band outside the Wmo)."""
    grp = P.groups[hg]
    R = P.run[0]
    wlz_h = grp.wlz
    if S.clients[c].flags & F_WLZ_CANDIDATE:
        wlz_h *= R.wlz_candidate_mult
    return R.mort_h[w[W_MORT]], grp.moved, wlz_h


@jit
def plan_exits(S, P, c, t, m, hg, w, hk):
    """Keyed draws: a new hazard spell starts in month t; each exit's month is drawn afresh
    from its waiting time, counter m (exact: waiting times are memoryless). The hazards'
    logs are precomputed (`*_lh`): the same hazards as `exit_hazards`."""
    grp = P.groups[hg]
    lh_wlz = grp.wlz_cand_lh if S.clients[c].flags & F_WLZ_CANDIDATE else grp.wlz_lh
    w[W_EXIT_T] = (
        t
        - 1
        + months_from_log(uniform_from_entity_key(hk[H_DEATH], m), P.run[0].mort_lh[w[W_MORT]])
    )
    w[W_EXIT_T + 1] = t - 1 + months_from_log(uniform_from_entity_key(hk[H_MOVED], m), grp.moved_lh)
    w[W_EXIT_T + 2] = t - 1 + months_from_log(uniform_from_entity_key(hk[H_WLZ], m), lh_wlz)


@jit
def hazard_key(S, P, c, in_wmo, g_youth, w):
    """What the exit hazards depend on: the mortality band and the hazard group."""
    hg = np.int64(S.clients[c].wmo_group) if in_wmo else np.int64(g_youth)
    return w[W_MORT] * 65536 + hg, hg


@jit
def client_exit(S, P, c, t, m, in_wmo, g_youth, w, seq, hk, mode):
    """1. Death, moving away, transfer to the Wlz, checked in that order (exempt or not).
    Returns the end reason or 0. Keyed draws: the exit months drawn for the hazard spell
    (`plan_exits`), drawn again when the spell changes; sequential draws: one draw each per
    client-month."""
    key, hg = hazard_key(S, P, c, in_wmo, g_youth, w)
    reason = 0
    if mode == MODE_KEYED:
        if key != w[W_HKEY]:
            plan_exits(S, P, c, t, m, hg, w, hk)
            w[W_HKEY] = key
        if t >= w[W_EXIT_T]:
            reason = R_DEATH
        elif t >= w[W_EXIT_T + 1]:
            reason = R_MOVED
        elif t >= w[W_EXIT_T + 2]:
            reason = R_WLZ
    else:
        h_death, h_moved, h_wlz = exit_hazards(S, P, c, hg, w)
        keys = P.run[0].keys
        u_death = draw_ek(mode, seq, keys, hk[H_DEATH], m)
        u_moved = draw_ek(mode, seq, keys, hk[H_MOVED], m)
        u_wlz = draw_ek(mode, seq, keys, hk[H_WLZ], m)
        if u_death < h_death:
            reason = R_DEATH
        elif u_moved < h_moved:
            reason = R_MOVED
        elif u_wlz < h_wlz:
            reason = R_WLZ
    return reason


@jit_call
def end_all(F, ch, c, m, t, reason):
    """All of the client's arrangements end (a client-level exit)."""
    S, P, w, _, B = unframe(F)
    cl = S.clients[c]
    for a in range(cl.arr_lo, cl.arr_hi):
        if S.slots[a].status == S_ACTIVE:
            end_arrangement(S, P, B, ch, c, a, m, t, reason, w)
