"""Fixed vocabulary of the domain: domains, settings, HO tasks, flags, outflow reasons.

Groups, products and steps are *data* (profile and policy library); only what the kernel
must know by position lives here. Codes are the index in each list.
"""

DOMAINS = ["wmo", "jeugd"]
WMO, JEUGD = 0, 1

SETTINGS = ["extramural", "semimural", "intramural"]

# Household help (HO) tasks, in the column order of the `ho_minutes` state array.
HO_TASKS = ["cleaning", "laundry", "ironing", "shopping_meals", "dishes", "bed_linen"]
T_CLEANING, T_LAUNDRY, T_IRONING, T_SHOPPING, T_DISHES, T_BED_LINEN = range(6)

FREQUENCIES = ["weekly", "biweekly"]

FUNDING = ["zin", "pgb"]

# Client flags that rules read: bit i of the `flags` byte.
FLAGS = ["homeless", "domestic_violence", "small_tidy_household", "wlz_candidate"]
F_HOMELESS, F_DOMESTIC_VIOLENCE, F_SMALL_TIDY, F_WLZ_CANDIDATE = (1 << i for i in range(4))

# Arrangement slot status. S_WAITING: a capacity-bound slot whose client waits for a place
# (engine.model.queue); its interim arrangement is the slot after it.
S_PENDING, S_ACTIVE, S_ENDED, S_WAITING = 0, 1, 2, 3

# Slot kinds: the arrangement a client starts with (stock or intake), and follow-up slots
# reserved before the run so that baselines and measure runs stay aligned.
# `interim`: the arrangement a client gets while waiting for a place of a capacity-bound
# product, reserved right after that product's slot when a run has capacity
# (engine.model.capacity); never in a population file.
SLOT_INITIAL, SLOT_VERLENGD, SLOT_HANDOVER, SLOT_INTERIM = 0, 1, 2, 3
SLOT_KINDS = ["initial", "verlengd", "handover", "interim"]

# Why an arrangement ended; the same codes are the outflow reasons of clients.
END_REASONS = [
    "none",
    "death",
    "moved",
    "wlz",
    "goal",
    "reindication_end",
    "rule_end",
    "transfer_out",
    "age",
]
(
    R_NONE,
    R_DEATH,
    R_MOVED,
    R_WLZ,
    R_GOAL,
    R_REIND_END,
    R_RULE_END,
    R_TRANSFER_OUT,
    R_AGE,
) = range(len(END_REASONS))

# Beyond END_REASONS (never a client's outflow): an interim arrangement ends because its
# client got the place (R_ADMITTED); a client withdrew from a queue (R_GAVE_UP, the request's
# slot). Why a request left a queue: the end reason of its interim arrangement, or gave_up.
R_ADMITTED, R_GAVE_UP = len(END_REASONS), len(END_REASONS) + 1
QUEUE_LEFT = [*END_REASONS[1:], "gave_up"]

# Reindication outcomes, in the order of the policy's probability table.
REIND_OUTCOMES = ["continue", "step_down", "step_up", "end"]

# Draw modes: keyed common random numbers (the default), or one sequential stream per client
# (the benchmark's counterfactual: engine.model.rng).
MODE_KEYED = 0
MODE_SEQUENTIAL = 1
