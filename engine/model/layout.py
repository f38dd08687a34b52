"""The shapes the compiled model works on: record types and index constants.

State and parameters are record arrays (NumPy structured arrays): one row per client, slot,
product, group, month or rule, the fields of a row side by side in memory. The kernel reads
`S.slots[a].status`; a call passes one pointer per array. Field types are compact (the state
of a national population is a few hundred MB). Every state field, its unit and meaning is in
`engine.model.state.COLUMNS`; the parameter records are built in `engine.model.params`.

Fixed maxima (`MAX_*`) size the small tables inside records; the readers check them with
an error that names the limit.
"""

from __future__ import annotations

import numpy as np

from engine.core.domain import HO_TASKS

MAX_STEPS = 16  # steps per product (a product's in-scope steps are a 16-bit mask)
MAX_GROUPS = 64  # client groups (a rule's groups are a 64-bit mask)
MAX_BANDS = 16  # mortality bands; youth age bands; household-help minute bands
MAX_DECISIONS = 32  # decision ids of the simulation's keyed draws
MAX_RULE_PARAMS = 8  # float and integer parameter slots per rule (primitives name them)
MAX_MEASURES = 31  # measures in one scenario: two `affected` bits each, plus two for all

# ----------------------------------------------------------------------------- state records
CLIENT = np.dtype(
    [
        ("cid", "<u8"),
        ("affected", "<u8"),
        ("arr_lo", "<i8"),
        ("arr_hi", "<i8"),
        ("birth", "<i2"),
        ("arrival", "<i2"),
        ("wmo_group", "i1"),
        ("pool_group", "i1"),
        ("flags", "u1"),
        ("household", "u1"),
        ("admitted", "i1"),
        ("district", "u1"),
    ]
)
SLOT = np.dtype(
    [
        ("aid", "<u8"),
        ("owner", "<i4"),
        ("weekly_cents", "<i4"),
        ("factor", "<f4"),
        ("product", "<i2"),
        ("start", "<i2"),
        ("planned_end", "<i2"),
        ("ind_no", "<i2"),
        ("since", "<i2"),
        ("end_month", "<i2"),
        ("minutes", "<i2", (len(HO_TASKS),)),
        ("step", "i1"),
        ("status", "i1"),
        ("kind", "i1"),
        ("funding", "u1"),
        ("subcontracted", "u1"),
        ("frequency", "u1"),
        ("end_reason", "u1"),
    ]
)

# ----------------------------------------------------------------------------- parameter records
RUN = np.dtype(
    [
        ("seed", "<u8"),
        ("rng_mode", "<i8"),
        ("start", "<i8"),
        ("T", "<i8"),
        ("half0", "<i8"),
        ("year0", "<i8"),
        ("ho_biweekly_step", "<i8"),
        ("ho_step_change", "<i8"),
        ("p_verlengd", "<i8"),
        ("youth_end_m", "<i8"),
        ("wlz_candidate_mult", "<f8"),
        ("trace", "u1"),
        ("events", "u1"),
        ("n_mort", "<i8"),
        ("n_youth", "<i8"),
        ("n_ho_bands", "<i8"),
        ("n_rules", "<i8"),
        # the rules at the kernel's own hook points, one bit each (hooks.goal_spell, admit)
        ("goal_rules", "<u8"),
        ("admit_rules", "<u8"),
        ("segment_rules", "<i8"),
        ("keys", "<u8", (MAX_DECISIONS,)),
        ("mort_from_m", "<f8", (MAX_BANDS,)),
        ("mort_h", "<f8", (MAX_BANDS,)),
        ("mort_lh", "<f8", (MAX_BANDS,)),
        ("youth_bands_m", "<i8", (MAX_BANDS,)),
        ("youth_groups", "<i8", (MAX_BANDS,)),
        ("ho_band_steps", "<i8", (MAX_BANDS,)),
        ("ho_bounds", "<f8", (MAX_BANDS,)),
        ("age18_cum", "<f8", (3,)),
    ]
)
PRODUCT = np.dtype(
    [
        ("domain", "i1"),
        ("setting", "i1"),
        ("nsteps", "i1"),
        ("own", "u1"),
        ("ho", "u1"),
        ("ind", "<i2"),
        ("goal", "<f8"),
        ("goal_lh", "<f8"),
        ("reind_cum", "<f8", (3,)),
        ("price_cents", "<i8", (MAX_STEPS,)),
        ("goal_rules", "<u8"),  # the goal hazard rules that hold the product, one bit each
    ]
)
GROUP = np.dtype(
    [
        ("domain", "i1"),
        ("moved", "<f8"),
        ("wlz", "<f8"),
        ("moved_lh", "<f8"),
        ("wlz_lh", "<f8"),
        ("wlz_cand_lh", "<f8"),
    ]
)
# per run month (one more: the end); `step_all`: the first month from this one in which every
# client is stepped (the run's end, or each month when every month is stepped)
MONTH = np.dtype(
    [
        ("days", "<i8"),
        ("price_index", "<f8"),
        ("oc_cents", "<i8"),
        ("scale", "<f8"),
        ("dm_on", "u1"),
        ("step_all", "<i8"),
    ]
)
RULE = np.dtype(
    [
        ("prim", "<i8"),
        ("moments", "<i8"),
        ("eff_from", "<i8"),
        ("eff_until", "<i8"),
        ("date", "<i8"),
        ("key", "<i8"),
        ("measure", "<i8"),
        ("groups", "<u8"),
        ("districts", "<u8"),
        ("exempt", "u1"),
        ("approved", "<f8"),
        ("leaves", "<f8"),
        ("f", "<f8", (MAX_RULE_PARAMS,)),
        ("i", "<i8", (MAX_RULE_PARAMS,)),
    ]
)
# per rule and product: the steps in scope (bit s: step s; 0: the product is out of scope), a
# target step for the product (a primitive's own, e.g. max_duration's step down; -1 none) and a
# target product (shift_intake, substitute: -1 the same product)
RULE_PRODUCT = np.dtype([("steps", "<u2"), ("step_to", "<i2"), ("prod_to", "<i2")])
# per month and product (one month more: the end): the steps some rule of the moment intake /
# reindication in force holds in scope, the steps a rule that adjusts the reindication outcome
# before it is drawn holds in scope (`pre`), whether a date rule at its date or a monthly rule
# in force holds the product (with keyed draws only in the months its primitive can be due:
# `due_month`; the kernel checks these inline before calling a hook), and the
# first month from this one in which one does (a client holding none of the products is not
# stepped for such rules); then which rules those are, one bit per rule (`intake_rules`,
# `reind_rules`: the rule hook looks at these rules only); whether a rule with events of months
# the kernel did not step (`segment_events`) holds the product, and the first month from this
# one in which one does (`next_seg`: a cost segment that ends before it has no such events);
# last, per moment intake / reindication, the steps a rule without a client floor holds
# (`*_open`) and the lowest client floor of the rules with one that hold the product
# (`*_floor`, base-year cents a week; NO_FLOOR: none): such a rule cannot act on a client whose
# active weekly amounts total no more (a weekly cap below its ceiling: `hooks.may_act`)
GATE = np.dtype(
    [
        ("intake", "<u2"),
        ("reind", "<u2"),
        ("pre", "<u2"),
        ("dm", "u1"),
        ("next_dm", "<i8"),
        ("intake_rules", "<u8"),
        ("reind_rules", "<u8"),
        ("seg", "u1"),
        ("next_seg", "<i8"),
        ("intake_open", "<u2"),
        ("reind_open", "<u2"),
        ("intake_floor", "<i8"),
        ("reind_floor", "<i8"),
    ]
)
NO_FLOOR = 1 << 62
MAX_SCENARIO_RULES = 64  # one bit each in `GATE.intake_rules`, `reind_rules`

# ----------------------------------------------------------------------------- moments
MO_INTAKE, MO_REINDICATION, MO_DATE, MO_MONTHLY = 1, 2, 4, 8
MOMENT_BITS = {
    "intake": MO_INTAKE,
    "reindication": MO_REINDICATION,
    "date": MO_DATE,
    "monthly": MO_MONTHLY,
}
NO_END = 2**31 - 1  # a rule without effective_until

# ----------------------------------------------------------------------------- bins
# arrangement bins: [chunk, group, product, step, field, month] (the month innermost: the
# kernel books an arrangement's months as one run, kernel.flush_segments)
A_ACTIVE, A_GROSS, A_OC, A_REIND, A_STARTS, A_ENDS = range(6)
ARR_FIELDS = [
    "arrangements",
    "gross_cents",
    "own_contribution_cents",
    "reindications",
    "starts",
    "ends",
]
# client bins: [chunk, domain, group, month, field]; outflow by reason r at C_OUT0 + r
C_START, C_END, C_IN_NEW, C_IN_TRANSFER = range(4)
C_OUT0 = 3
CLI_FIELDS_BASE = ["active_start", "active_end", "inflow_new", "inflow_transfer"]
# rule events: [chunk, rule, kind, group, product, month, field]
EVENT_KINDS = [
    "capped",
    "exception",
    "wlz_exit",
    "task_removed",
    "frequency_changed",
    "phase_out",
    "shortened",
    "ended",
    "stepped_down",
    "reviewed",
    "shifted",
    "substituted",
    "price_changed",
    "not_admitted",
    "hazard_changed",
]
(
    EV_CAPPED,
    EV_EXCEPTION,
    EV_WLZ_EXIT,
    EV_TASK_REMOVED,
    EV_FREQUENCY,
    EV_PHASE_OUT,
    EV_SHORTENED,
    EV_ENDED,
    EV_STEPPED_DOWN,
    EV_REVIEWED,
    EV_SHIFTED,
    EV_SUBSTITUTED,
    EV_PRICE,
    EV_NOT_ADMITTED,
    EV_HAZARD,
) = range(15)
EVENT_FIELDS = ["count", "weekly_cents_changed", "weekly_minutes_changed"]
# clients affected: [chunk, measure (last = all measures), kind, group]
AFF_REDUCED, AFF_ENDED = 0, 1
# a client's standing under a rule (S.rule_c), decided once and kept
X_UNDECIDED, X_APPLIES, X_EXEMPT_FLAG, X_APPROVED, X_LEAVES = -1, 0, 1, 2, 3

# ----------------------------------------------------------------------------- work array
# per-chunk int64 work array: previous group per domain, this month's end reason per domain,
# last half-year and year counted as served per domain, active per domain at the end of the
# last month stepped, the client's mortality and youth age band, and the age (months) at which
# either changes next. A multi-combination pass (combinations) adds: the rules on in this
# trajectory (bit r: rule r; -1: every rule), the rules off that would have acted along it,
# whether to sum costs per budget year, and from W_YEAR_TOT per budget year y the gross cost
# (W_YEAR_TOT + 2y) and own contributions (+ 1) in cents.
W_PREV, W_REASON, W_HALF, W_YEAR, W_ACTIVE, W_MORT, W_YOUTH, W_BANDS_AT = 0, 2, 4, 6, 8, 10, 11, 12
W_RULES, W_TOUCHED, W_YEARS = 13, 14, 15
# keyed draws (waiting times): the month (run index) of each client exit's event, and the
# hazard spell they were drawn for (mortality band, hazard group); the open cost segments:
# where they sit in the key array, whether the client's segments must be closed and reopened
# this month, and the slot (offset from the client's first) that pays the own contribution
# while they are open; the next month in which anything can happen to the client, the first
# month in which one of its slots has an event (goal, planned end, youth end age), and the
# last month stepped
W_EXIT_T, W_HKEY, W_S0, W_DIRTY, W_OCSLOT, W_NEXT, W_SLOT_NEXT, W_LAST = (
    16,
    19,
    20,
    21,
    22,
    23,
    24,
    25,
)
# capacity (engine.model.queue, engine.model.month_outer; 0 outside the month-outer driver):
# the pass (0: client-outer, no capacity; 1: the month-outer driver's real pass; 2: its dry
# pass), and bits over the client's slots (offset from its first): the capacity-bound slots
# that asked for a place this month, those given a place this month, those whose client
# gives up waiting this month
W_QUEUE, W_Q_REQ, W_Q_ADMIT, W_Q_LEAVE = 26, 27, 28, 29
Q_OFF, Q_REAL, Q_DRY = 0, 1, 2
# the address of the (S, P, w, seq, B) pinned by the entry point stepping the client
# (engine.model.frame)
W_FRAME = 30
W_YEAR_TOT = 31
WORK_SIZE = (
    31  # the fixed part; with the budget years, padded to separate cache lines between chunks
)


def work_size(n_years: int) -> int:
    return (WORK_SIZE + 2 * n_years + 7) // 8 * 8


# per-chunk uint64 key array of the client being stepped: the hoisted draw keys of its three
# exit decisions, then per slot the goal decision's key (sequential draws) or the slot's goal
# month (keyed draws; GOAL_UNSET until the slot is eligible); from w[W_S0] the open cost
# segment of each slot (first month + 1, or 0 if none; group; step; weekly cents; product) and,
# kept from one segment of the slot to the next, a run month + 1 before which no rule books it
# an event from a segment (0: not asked yet; `hooks.segment_events`)
H_DEATH, H_MOVED, H_WLZ, H_GOAL0 = 0, 1, 2, 3
SEG = 6  # key-array entries per slot's cost segment
SEG_NEXT = 5  # of them, the month before which no segment event falls
GOAL_UNSET = np.uint64(1 << 63)

# ----------------------------------------------------------------------------- queue bins
# per capacity pool (a capacity-bound product, or a product and district) and run month
# (engine.model.month_outer): capacity, places (or minutes a week) held at the start of the
# month's queue (after its events) and free; waiting at the start, requests that joined, were
# given a place (at once: in the month they asked), left the queue per reason
# (engine.core.domain.QUEUE_LEFT), waiting at the end; held at the end; interim arrangements
# active at the end and their gross cost in the month (cents)
(
    Q_CAPACITY,
    Q_OCCUPIED,
    Q_FREE,
    Q_WAIT_START,
    Q_JOINED,
    Q_ADMITTED,
    Q_AT_ONCE,
    Q_WAIT_END,
    Q_HELD_END,
    Q_INTERIM,
    Q_INTERIM_CENTS,
    Q_LEFT0,
) = range(12)
QUEUE_FIELDS = [
    "capacity",
    "occupied",
    "free",
    "waiting_start",
    "joined",
    "admitted",
    "admitted_at_once",
    "waiting_end",
    "occupied_end",
    "interim_arrangements",
    "interim_gross_cents",
]
MAX_WAIT = 61  # waiting-time histograms: months 0 .. 59, and 60 or more
