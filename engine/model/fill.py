"""Filling the state's record arrays (engine.model.state.build_state) in one pass over the
rows: assigned field by field, a record array is walked once per field (twenty times for a
slot); here each row is written once. The column arrays come in the record's field types,
so each function has one compiled specialisation."""

from __future__ import annotations

from engine.model.jit import jit_entry

NO_MONTH = -32768  # int16 sentinel: no month (engine.model.state.NO_MONTH)


@jit_entry
def fill_clients(
    clients, cid, arr_lo, arr_hi, birth, arrival, wmo_group, pool_group, flags, household, district
):
    """Every field of every client row; `admitted` is 1 for the stock (no arrival month)
    and -1 (undecided) for the inflow pool; `affected` 0."""
    for c in range(clients.shape[0]):
        clients[c].cid = cid[c]
        clients[c].affected = 0
        clients[c].arr_lo = arr_lo[c]
        clients[c].arr_hi = arr_hi[c]
        clients[c].birth = birth[c]
        clients[c].arrival = arrival[c]
        clients[c].wmo_group = wmo_group[c]
        clients[c].pool_group = pool_group[c]
        clients[c].flags = flags[c]
        clients[c].household = household[c]
        clients[c].district = district[c]
        clients[c].admitted = 1 if arrival[c] == NO_MONTH else -1


@jit_entry
def fill_slots(
    slots,
    aid,
    owner,
    factor,
    product,
    start,
    planned_end,
    ind_no,
    since,
    minutes,
    step,
    status,
    kind,
    funding,
    subcontracted,
    frequency,
):
    """Every field of every slot row; `weekly_cents` and `end_reason` 0, `end_month` none."""
    n_tasks = minutes.shape[1]
    for a in range(slots.shape[0]):
        slots[a].aid = aid[a]
        slots[a].owner = owner[a]
        slots[a].weekly_cents = 0
        slots[a].factor = factor[a]
        slots[a].product = product[a]
        slots[a].start = start[a]
        slots[a].planned_end = planned_end[a]
        slots[a].ind_no = ind_no[a]
        slots[a].since = since[a]
        slots[a].end_month = NO_MONTH
        for t in range(n_tasks):
            slots[a].minutes[t] = minutes[a, t]
        slots[a].step = step[a]
        slots[a].status = status[a]
        slots[a].kind = kind[a]
        slots[a].funding = funding[a]
        slots[a].subcontracted = subcontracted[a]
        slots[a].frequency = frequency[a]
        slots[a].end_reason = 0
