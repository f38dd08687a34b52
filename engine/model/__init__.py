"""The compiled model: every piece of Numba code, and the arrays it reads and writes.

What a month does to a client, in this order (the one place it is written as code is
`engine.model.kernel.step_month`):

0. arrival: a pool client is admitted in its arrival month (keyed draw against the admission
   rate); its first indications start and pass the rules of the moment `intake`;
1. client-level exits: death, moving away, transfer to the Wlz (all arrangements end);
2. per arrangement: youth turning 18 (end, verlengde jeugdhulp, or a hand-over to a Wmo
   follow-up slot), youth care ending at its last age bound, goal reached;
3. at the planned end of an indication, reindication (continue, step down, step up, end),
   then the rules of the moment `reindication`;
4. rules of the moment `date` (a transition period ending), then `monthly`;
5. cost accrual (weekly amount x price index x days / 7, rounded once to cents), then the
   client's flows and clients served.

Glossary of the short names the kernel uses everywhere:

    S   the state (`state.State`): `S.clients` and `S.slots`, record arrays with one row
        per client and per arrangement slot (`layout.CLIENT`, `layout.SLOT`); `S.rule_c`
        and `S.rule_a`, per client / slot and rule
    P   the parameters (`params.Params`): `P.run[0]` (scalars and small tables),
        `P.products`, `P.groups`, `P.months`, `P.rules`, `P.rule_prod`, `P.gates`
        (record arrays), `P.admit_p`
    B   the bins (`kernel.Bins`): int64 counters per chunk of clients, summed afterwards
    ch  the chunk of clients being stepped (its own bins: no locks, exact sums)
    c   a client row; a an arrangement slot row; r a rule row
    m   a month index ((year - 2000) * 12 + month - 1); t = m - start, the run month
    w   the chunk's int64 work array (`layout.W_*`): the client's running state
    hk  the chunk's uint64 key array (`layout.H_*`): hoisted draw keys, goal months and
        open cost segments
    seq the sequential-draw stream (used only with `--rng sequential`)

Modules: `layout` (record types and index constants), `jit` (the decorators and the
compile cache), `rng` (keyed draws), `portable_math`, `arrangement` (what a slot is worth),
`kernel` (the month step and its driver), `exits` (step 1), `slots` (steps 0, 2, 3: intake,
goal, reindication, turning 18), `accrual` (step 5: costs, flows, clients served), `hooks`
(where rules act), `primitives/` (one module per rule primitive and their registry),
`combinations` (several measure subsets in one pass), `state` and `params` (building the arrays
from a population, profile and policy), `fill` (writing the state's records in one compiled pass).

Capacity (a run with capacity on; rules.capacity): `capacity` (the pools, places per month,
interim slots reserved, which clients are coupled), `month_outer` (the coupled clients
stepped month by month by the same `step_month`, each month's queue resolved between two
passes), `places` (where `slots.activate` turns a capacity-bound start into a request),
`queue` (step 0b: a waiting slot given a place starts, a client who gives up withdraws).
Without capacity no client is coupled and none of it runs.
"""
