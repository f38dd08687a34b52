"""Common random numbers: stateless, counter-based uniforms keyed by
(seed, decision, entity id, counter), so that the same client meets the same luck in the
baseline and in every measure run (DESIGN section 5).

Decision ids are explicit constants, checked unique at import; never reuse or renumber one.
The counter is the month for monthly hazards and the indication number for reindication
outcomes, so a measure that moves a reindication does not hand a client another month's luck.

Monthly hazards (exits, goal reached) are drawn as waiting times (`months_to_event`): at the
start of a spell of constant hazard h one keyed uniform, counter the spell's first month,
gives the geometric number of months to the event, P(event in the n-th month) =
(1 - h)^(n-1) h, exactly the distribution of one Bernoulli(h) draw per month. A new spell (an
age band, another group) draws again from its own first month, which memorylessness makes
exact: a client's three exits are drawn again together when its mortality band or its
hazard group changes. A client whose hazards a measure leaves alone keeps its exit and
goal months, and the kernel need not visit the months in between (engine.model.kernel).

`DECISIONS` are the simulation's (keyed on the simulation seed, read by the kernel);
`POPULATION_DECISIONS` are the population side's (keyed on the population seed): what the
generator and the extract reader draw alike for a client, keyed on its client id, so both
paths give the same client the same values (the follow-up slots of a youth client turning
18: synthetic_population.generator.followup_slots). The two sets never share a number.

`SEQUENTIAL` mode is the switch the benchmarks use to show what keyed draws gain: every draw
of a client then comes from one running per-client stream, so a rule that changes how many
draws are taken shifts all later luck of that client.
"""

from __future__ import annotations

import numpy as np

from engine.core.domain import MODE_KEYED, MODE_SEQUENTIAL  # noqa: F401 - re-exported for the model
from engine.model.jit import jit, jit_entry
from engine.model.portable_math import log1p

# --- decision ids: explicit, unique, never reused -------------------------------------------
DECISIONS = {
    "admit": 1,  # inflow pool: is this potential arrival admitted in its arrival month
    # 2-5 retired: per-month exit and goal draws (counter: every month), replaced by waiting times
    "reindication_outcome": 6,
    "age18_outcome": 7,
    "exception_approved": 8,  # rules: exception decided once per client and rule
    "exception_leaves": 9,  # rules: share that leaves to another system (e.g. Wlz)
    "rule_share": 10,  # rules: a share of clients to whom a rule applies (review, ends)
    "review_month": 11,  # rules: when in the review window a provider reviews a client
    # waiting times (months_to_event): one draw per spell of constant hazard, counter: the
    # spell's first month; exits per client, the goal per arrangement slot
    "exit_death_wait": 12,
    "exit_moved_wait": 13,
    "exit_wlz_wait": 14,
    "goal_wait": 15,
    # rules of the 2024 package: one decision each, keyed on the slot or client and the rule key
    "shift_share": 16,  # shift_intake: is this new arrangement shifted (entity: slot)
    "substitute_share": 17,  # substitute: is this arrangement replaced (entity: slot)
    "transfer_share": 18,  # transfer_out: does the client leave at this reindication (slot)
    # capacity (engine.model.month_outer), keyed on the id of the slot that asks for a place,
    # counter 0 (the same luck whatever month it asks in): its place among the requests of
    # its month and urgency class, and its waiting time until it gives up (months_to_event).
    # 22 and 23 (not 16, 17): left free for the rule primitives being added alongside
    "queue_order": 22,
    "queue_give_up_wait": 23,
}

# --- population-seed decisions (generator and extract reader), keyed on the client id -------
POPULATION_DECISIONS = {
    # 101-104 retired (the extract reader's follow-up draws keyed on a slot-id hash of the
    # extract's id text, counter 0; the generator drew the same attributes sequentially)
    "wmo_group_at_18": 105,  # extract: a youth client's Wmo group after 18 when the file has none
    # the follow-up draws' counter is the slot kind unless said otherwise
    "followup_step": 106,  # follow-up slot step (inverse CDF of the slot's step weights)
    "followup_factor": 107,  # follow-up slot amount factor (lognormal, inverse CDF)
    "followup_funding": 108,  # follow-up slot pgb (u < pgb_share)
    "followup_subcontracted": 109,  # follow-up slot subcontracted (u < share, zin only)
    "followup_cleaning": 110,  # household-help follow-up: cleaning minutes (lognormal)
    "followup_task": 111,  # household-help follow-up: has task i; counter: 8 x slot kind + i
    # not a draw: the follow-up slot id, hashed from (client id, slot kind), seed 0
    "followup_slot_id": 112,
    # not a draw: the id of the interim slot reserved after a capacity-bound slot, hashed from
    # that slot's id, seed 0 (engine.model.capacity)
    "interim_slot_id": 120,
}
RETIRED_DECISIONS = {2, 3, 4, 5, 101, 102, 103, 104}
_ids = list(DECISIONS.values()) + list(POPULATION_DECISIONS.values()) + sorted(RETIRED_DECISIONS)
assert len(_ids) == len(set(_ids)), (
    "decision ids must be unique (simulation, population and retired ids together)"
)

D_ADMIT = DECISIONS["admit"]
D_DEATH = DECISIONS["exit_death_wait"]
D_MOVED = DECISIONS["exit_moved_wait"]
D_WLZ = DECISIONS["exit_wlz_wait"]
D_GOAL = DECISIONS["goal_wait"]
D_REIND = DECISIONS["reindication_outcome"]
D_AGE18 = DECISIONS["age18_outcome"]
D_EXC_APPROVED = DECISIONS["exception_approved"]
D_EXC_LEAVES = DECISIONS["exception_leaves"]
D_RULE_SHARE = DECISIONS["rule_share"]
D_REVIEW_MONTH = DECISIONS["review_month"]
D_SHIFT = DECISIONS["shift_share"]
D_SUBSTITUTE = DECISIONS["substitute_share"]
D_TRANSFER = DECISIONS["transfer_share"]
D_QUEUE_ORDER = DECISIONS["queue_order"]
D_GIVE_UP = DECISIONS["queue_give_up_wait"]

P_WMO_GROUP_AT_18 = POPULATION_DECISIONS["wmo_group_at_18"]
P_FOLLOWUP_STEP = POPULATION_DECISIONS["followup_step"]
P_FOLLOWUP_FACTOR = POPULATION_DECISIONS["followup_factor"]
P_FOLLOWUP_FUNDING = POPULATION_DECISIONS["followup_funding"]
P_FOLLOWUP_SUBCONTRACTED = POPULATION_DECISIONS["followup_subcontracted"]
P_FOLLOWUP_CLEANING = POPULATION_DECISIONS["followup_cleaning"]
P_FOLLOWUP_TASK = POPULATION_DECISIONS["followup_task"]
P_FOLLOWUP_SLOT_ID = POPULATION_DECISIONS["followup_slot_id"]
P_INTERIM_SLOT_ID = POPULATION_DECISIONS["interim_slot_id"]


_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@jit
def splitmix64(x):
    """One SplitMix64 finaliser step (Steele, Lea, Flood 2014)."""
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & _M64
    z = x
    z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
    z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
    return z ^ (z >> np.uint64(31))


@jit
def decision_key(seed, decision):
    """The per-(seed, decision) half of the key; the kernel gets these precomputed."""
    return splitmix64(np.uint64(seed) ^ splitmix64(np.uint64(decision)))


@jit
def entity_key(key, entity):
    """The (seed, decision, entity) half of a draw. It does not depend on the counter, so
    the kernel hashes it once per client or slot instead of once per month."""
    return splitmix64(key ^ np.uint64(entity))


@jit
def bits_from_entity_key(ek, counter):
    """The 53 bits of a draw given its hoisted half (`uniform_from_bits` makes the uniform)."""
    return splitmix64(
        ek ^ np.uint64(np.int64(counter) & np.int64(0x7FFFFFFFFFFFFFFF))
    ) >> np.uint64(11)


NEVER = 1 << 40  # months to an event of hazard 0


@jit
def months_to_event(u, h):
    """Months until an event of monthly hazard h happens, counting this month as 1, from a
    uniform u in [0, 1): 1 + floor(log(1 - u) / log(1 - h)), geometric with P(n) = (1 - h)^(n-1) h
    (inversion: P(N > n) = P(1 - u <= (1 - h)^n) = (1 - h)^n)."""
    if h >= 1.0:
        return np.int64(1)
    return months_from_log(u, log1p(-h))


@jit
def months_from_log(u, lh):
    """`months_to_event(u, h)` given lh = log(1 - h), precomputed per hazard
    (engine.model.params.log_survival; both logs by engine.model.portable_math, the same
    bits on every CPU): lh >= 0 (h <= 0) never, lh = -inf (h >= 1) at once."""
    if lh >= 0.0:
        return np.int64(NEVER)
    if not lh > -np.inf:
        return np.int64(1)
    n = np.floor(log1p(-u) / lh) + 1.0
    return np.int64(min(n, np.float64(NEVER)))


@jit
def uniform_from_bits(x):
    return np.float64(x) * (1.0 / 9007199254740992.0)


@jit
def uniform_from_entity_key(ek, counter):
    return uniform_from_bits(bits_from_entity_key(ek, counter))


@jit
def uniform_from_key(key, entity, counter):
    return uniform_from_entity_key(entity_key(key, entity), counter)


@jit
def keyed_uniform(seed, decision, entity, counter):
    """A uniform in [0, 1) that depends only on its four keys."""
    return uniform_from_key(decision_key(seed, decision), entity, counter)


@jit
def draw(mode, seq, keys, decision, entity, counter):
    """A keyed draw, or (MODE_SEQUENTIAL) the next number of the client's running stream.

    `keys[decision]` is `decision_key(seed, decision)`; `seq` is the chunk's two-element
    uint64 work array (client id, draws taken), used only in sequential mode.
    """
    if mode == MODE_KEYED:
        return uniform_from_key(keys[decision], entity, counter)
    seq[1] += np.uint64(1)
    return uniform_from_key(keys[0], seq[0], seq[1])


@jit
def draw_ek(mode, seq, keys, ek, counter):
    """`draw(mode, seq, keys, decision, entity, counter)` given its hoisted half
    `ek = entity_key(keys[decision], entity)`: the same number, one hash instead of two."""
    if mode == MODE_KEYED:
        return uniform_from_entity_key(ek, counter)
    seq[1] += np.uint64(1)
    return uniform_from_key(keys[0], seq[0], seq[1])


def decision_keys(seed: int) -> np.ndarray:
    """keys[d] = decision_key(seed, d) for every decision id (index 0: the sequential stream)."""
    out = np.empty(max(DECISIONS.values()) + 1, dtype=np.uint64)
    _decision_keys(np.uint64(seed), out)
    return out


@jit_entry
def _decision_keys(seed, out):
    for d in range(out.shape[0]):
        out[d] = decision_key(seed, d)


def _entities_and_counters(entity, counter) -> tuple[np.ndarray, np.ndarray]:
    entity = np.ascontiguousarray(entity, dtype=np.uint64).ravel()
    counter = np.ascontiguousarray(
        np.broadcast_to(np.asarray(counter, dtype=np.int64), entity.shape)
    )
    return entity, counter


def keyed_uniform_np(seed: int, decision: int, entity: np.ndarray, counter) -> np.ndarray:
    """Vectorised keyed uniforms for set-up code (population generation, tests)."""
    entity, counter = _entities_and_counters(entity, counter)
    out = np.empty(entity.shape[0], dtype=np.float64)
    _keyed_many(np.uint64(seed), np.uint64(decision), entity, counter, out)
    return out


@jit_entry
def _keyed_many(seed, decision, entity, counter, out):
    for i in range(entity.shape[0]):
        out[i] = keyed_uniform(seed, decision, entity[i], counter[i])


def keyed_bits_np(seed: int, decision: int, entity: np.ndarray, counter) -> np.ndarray:
    """The 64-bit hashes behind `keyed_uniform_np` (same keys, all 64 bits): for stable
    derived ids (follow-up slot ids), not for draws."""
    entity, counter = _entities_and_counters(entity, counter)
    out = np.empty(entity.shape[0], dtype=np.uint64)
    _bits_many(np.uint64(seed), np.uint64(decision), entity, counter, out)
    return out


@jit_entry
def _bits_many(seed, decision, entity, counter, out):
    key = decision_key(seed, decision)
    for i in range(entity.shape[0]):
        out[i] = splitmix64(
            entity_key(key, entity[i]) ^ np.uint64(counter[i] & np.int64(0x7FFFFFFFFFFFFFFF))
        )
