"""Every registered rule primitive: `would_act` is never False where `act` changes anything.

The multi-combination pass (engine.model.combinations) reuses a client's trajectory for a
combination with more rules on only when none of the extra rules would have acted; a
`would_act` that says False where its `act` changes the state would silently give a wrong
sub-run (deciding a client's standing under the rule is not an action: a memo of keyed draws,
read by that rule alone). Checked here for every module in the registry, over random clients,
slots, rule standings and phases, months, moments and parameters (drawn from the primitive's
declared ranges, so a new primitive is covered by adding it to the registry)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.core.domain import S_ACTIVE
from engine.model import hooks
from engine.model.kernel import weekly_base_cents_all
from engine.model.layout import MOMENT_BITS, NO_FLOOR, W_RULES, W_TOUCHED, X_UNDECIDED, work_size
from engine.model.params import compile_params
from engine.model.primitives import ADMIT_CODES, BY_NAME, GOAL_CODES, MODULES
from engine.model.primitives.spec import REQUIRED, RuleContext
from engine.model.rng import MODE_SEQUENTIAL
from engine.model.state import State, build_state, with_rule_state
from engine.simulation.simulate import allocate_bins
from rules.schema import load_measure
from synthetic_population.generator import generate
from synthetic_population.profile import load_profile
from tests.helpers import TOY_PROFILE
from tests.model import framed

CASES_PER_PRIMITIVE = 1500
# where each primitive is exercised: a profile, the measures that use it, a population scale
WHERE = [
    (
        TOY_PROFILE,
        [
            "t1_youth_cap",
            "t2_max_duration",
            "t3_no_ironing",
            "t4_review",
            "t5_wmo_cap",
            "t6_shift_intake",
            "t7_substitute",
            "t8_reindication_policy",
            "t11_price_factor",
            "t12_transfer_out",
        ],
        None,
    ),
    ("rotterdam", ["m16_biweekly_household_help"], 0.01),
]


def _context(profile_ref, measure_refs, scale):
    profile, policy = load_profile(profile_ref, {"population.scale": scale} if scale else None)
    pop = generate(profile, policy, 3, 24)
    groups = {g.code: g.domain for g in profile.groups}
    measures = [load_measure(ref, policy, groups) for ref in measure_refs]
    rules = [r for ms in measures for r in ms.rules]
    P = compile_params(
        profile,
        policy,
        pop.pool_rate,
        profile.start,
        24,
        7,
        rules=rules,
        measure_names=[ms.name for ms in measures],
    )
    S = with_rule_state(build_state(pop, policy, profile.group_codes), len(rules))
    return profile, policy, measures, rules, P, S


@pytest.fixture(scope="module")
def contexts():
    return [_context(*w) for w in WHERE]


def _random_params(spec, rule, rng):
    """Parameters drawn from the primitive's declared ranges (tables kept as written)."""
    out = {}
    for p in spec.params:
        if p.kind == "number" and p.hi is not None and p.hi <= 1.0:  # a factor below 1
            lo = p.lo or 0.0
            out[p.name] = float(rng.uniform(lo, p.hi)) if rng.random() < 0.8 else lo
        elif p.kind == "number":
            lo = max(p.lo if p.lo is not None else 0.0, 1.0)
            hi = p.hi if p.hi is not None else 1e6
            v = math.exp(rng.uniform(math.log(lo), math.log(hi))) if rng.random() < 0.8 else lo
            out[p.name] = int(round(v)) if p.integer else v
        elif p.kind == "share":
            out[p.name] = float(rng.choice([0.0, 1.0, rng.random()]))
        elif p.kind == "bool":
            out[p.name] = bool(rng.random() < 0.5)
        elif p.kind == "choice":
            out[p.name] = str(rng.choice(p.vocabulary()))
        elif p.kind == "names":
            voc = p.vocabulary()
            out[p.name] = [v for v in voc if rng.random() < 0.4]
        else:
            out[p.name] = (
                rule.params[p.name] if p.default is REQUIRED else rule.params.get(p.name, p.default)
            )
    return out


def _randomise_client(S, P, c, m, r, rng):
    cl = S.clients[c]
    cl["flags"] = rng.integers(0, 16)
    S.rule_c[c, r] = rng.integers(-1, 4)
    n_products = P.products.shape[0]
    in_scope = np.nonzero(P.rule_prod[r]["steps"])[0]
    for a in range(int(cl["arr_lo"]), int(cl["arr_hi"])):
        s = S.slots[a]
        s["status"] = rng.choice([1, 1, 1, 1, 2, 0])
        s["product"] = (
            rng.choice(in_scope)
            if in_scope.size and rng.random() < 0.7
            else rng.integers(0, n_products)
        )
        s["step"] = rng.integers(0, P.products[s["product"]]["nsteps"])
        s["minutes"] = rng.integers(0, 160, size=6) * (rng.random(6) < 0.6)
        s["frequency"] = rng.integers(0, 2)
        s["since"] = m - rng.integers(0, 80)
        s["start"] = m - (rng.integers(0, 24) if rng.random() < 0.7 else 0)  # new indications too
        s["planned_end"] = m + rng.integers(-2, 40)
        S.rule_a[a, r] = rng.integers(0, 3)
    weekly_base_cents_all(S, P)


def _same(a: State, b: State) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def _changed(hook, args, memo_client=None) -> str | None:
    """What `hook(*args)` changed (args: S, P, B first, the draws' `seq` second to last):
    "the state", "the bins", "the draws" or None (nothing). A standing it decided for
    `memo_client` is a memo of keyed draws, not a change."""
    S, _, B = args[:3]
    seq = args[-2]
    before_s = State(*(x.copy() for x in S))
    before_b = [x.copy() for x in B]
    before_seq = seq.copy()
    hook(*args)
    if memo_client is not None:
        row = before_s.rule_c[memo_client]
        row[:] = np.where(row == X_UNDECIDED, S.rule_c[memo_client], row)
    if not _same(before_s, S):
        return "the state"
    if not all(np.array_equal(x, y) for x, y in zip(before_b, B, strict=True)):
        return "the bins"
    return None if np.array_equal(before_seq, seq) else "the draws"


# primitives that act only at a hook point of their own (their `act` is a no-op; their hook
# points have the same property test: tests/model/test_hook_points.py)
AT_MOMENTS = [m for code, m in enumerate(MODULES) if code not in GOAL_CODES | ADMIT_CODES]


def _cases(contexts, module, n, seed):
    """n random situations for a rule of `module`: a random client of a test measure's run
    with randomised slots, parameters and (half the time) scope, at a random month and one
    of the primitive's moments. Yields (S, P, B, c, a, r, m, t, seq, moment)."""
    name = module.SPEC.name
    found = [
        (ctx, r) for ctx in contexts for r, rule in enumerate(ctx[3]) if rule.primitive == name
    ]
    assert found, f"no test measure uses primitive {name}: add one to WHERE"
    rng = np.random.default_rng(seed)
    for k in range(n):
        (profile, policy, measures, rules, P0, S0), r = found[k % len(found)]
        rule = rules[r]
        params = _random_params(module.SPEC, rule, rng)
        start = profile.start
        P = P0._replace(rules=P0.rules.copy(), rule_prod=P0.rule_prod.copy())
        packed = module.SPEC.pack(params, RuleContext(policy, rule.products, rule.effective_from))
        for slot, v in packed.f.items():
            P.rules[r]["f"][slot] = v
        for slot, v in packed.i.items():
            P.rules[r]["i"][slot] = v
        if rng.random() < 0.5:  # a random scope besides the one written
            P.rule_prod[r]["steps"] = rng.integers(0, 1 << 4, size=P.rule_prod.shape[1])
            P.rules[r]["groups"] = np.uint64(rng.integers(0, 1 << 12))
        S = State(*(x.copy() for x in S0))
        with_slots = np.nonzero(S.clients["arr_hi"] > S.clients["arr_lo"])[0]
        c = int(rng.choice(with_slots))
        t = int(rng.integers(0, 24))
        m = start + t
        _randomise_client(S, P, c, m, r, rng)
        a = int(rng.integers(S.clients[c]["arr_lo"], S.clients[c]["arr_hi"]))
        moment = MOMENT_BITS[str(rng.choice(list(module.SPEC.moments)))]
        seq = np.zeros(8, dtype=np.uint64)
        if (
            moment == MOMENT_BITS["monthly"] and rng.random() < 0.7
        ):  # most often a month the rule is due
            due = [u for u in range(24) if hooks.due(S, P, a, r, start + u, seq)]
            if due:
                t = int(rng.choice(due))
                m = start + t
        B = allocate_bins(P, len(profile.groups), len(policy.products), 1, S.n_slots, len(measures))
        yield S, P, B, c, a, r, m, t, seq, moment


@pytest.mark.parametrize("module", AT_MOMENTS, ids=[m.SPEC.name for m in AT_MOMENTS])
def test_would_act_is_true_wherever_act_changes_the_state(contexts, module):
    name = module.SPEC.name
    acted = quiet = 0
    for k, (S, P, B, c, a, r, m, t, seq, moment) in enumerate(
        _cases(contexts, module, CASES_PER_PRIMITIVE, 12)
    ):
        w = np.zeros(work_size(3), dtype=np.int64)
        before = State(*(x.copy() for x in S))
        would = framed.would_act(S, P, B, c, a, r, m, t, w, seq, moment)
        assert _same(before, S), "would_act changed the state"
        framed.apply_rule(S, P, B, 0, c, a, r, m, t, w, seq, moment)
        if before.rule_c[c, r] == X_UNDECIDED:
            # deciding the client's standing is a memo of keyed draws, the same whenever it is
            # decided, and read by this rule alone: not an action
            before.rule_c[c, r] = S.rule_c[c, r]
        if not _same(before, S):
            acted += 1
            assert would, (
                f"{name}: act changed the state where would_act said it would not (case {k})"
            )
        elif would:
            quiet += 1
    assert acted >= 10, f"{name} acted in only {acted} cases: the test has no teeth"


WITH_DUE = [m for m in AT_MOMENTS if hasattr(m, "due")]


@pytest.mark.parametrize("module", WITH_DUE, ids=[m.SPEC.name for m in WITH_DUE])
def test_act_does_nothing_at_all_where_due_says_no(contexts, module):
    # the kernel skips `act` where `due` is False: no state, no standing decided, no event,
    # no draw taken
    name = module.SPEC.name
    skipped = 0
    for k, (S, P, B, c, a, r, m, t, seq, moment) in enumerate(
        _cases(contexts, module, CASES_PER_PRIMITIVE, 13)
    ):
        # sequential draws in every other case at intake and reindication, where the kernel
        # skips act since ef5eaa0 (date and monthly rules always skipped it, and the review's
        # act, under sequential draws, draws its month afresh)
        sequential = k % 2 == 1 and moment in (MOMENT_BITS["intake"], MOMENT_BITS["reindication"])
        if sequential:
            P = P._replace(run=P.run.copy())
            P.run[0]["rng_mode"] = MODE_SEQUENTIAL
        if hooks.due(S, P, a, r, m, seq):
            continue
        skipped += 1
        w = np.zeros(work_size(3), dtype=np.int64)
        changed = _changed(framed.apply_rule, (S, P, B, 0, c, a, r, m, t, w, seq, moment))
        assert changed is None, f"{name}: act changed {changed} where due said no (case {k})"
    assert skipped >= 10, f"{name}: due said no in only {skipped} cases: the test has no teeth"


WITH_FLOOR = [m for m in AT_MOMENTS if hasattr(m, "client_floor")]


@pytest.mark.parametrize("module", WITH_FLOOR, ids=[m.SPEC.name for m in WITH_FLOOR])
def test_a_client_whose_weekly_total_is_at_most_the_floor_is_left_alone(contexts, module):
    # the kernel calls no rule hook at intake or reindication where only rules with a client
    # floor hold the slot and the client's active weekly amounts total no more than the
    # lowest (hooks.may_act): there the rule must neither be due, nor act, nor would act.
    # The total is recounted here in Python.
    name = module.SPEC.name
    below = 0
    for k, (S, P, B, c, a, r, m, t, seq, moment) in enumerate(
        _cases(contexts, module, CASES_PER_PRIMITIVE, 15)
    ):
        cl = S.clients[c]
        slots = S.slots[int(cl["arr_lo"]) : int(cl["arr_hi"])]
        total = sum(int(s["weekly_cents"]) for s in slots if s["status"] == S_ACTIVE)
        if total > module.client_floor(P.rules[r], float(P.months[t]["price_index"])):
            continue
        below += 1
        w = np.zeros(work_size(3), dtype=np.int64)
        assert not hooks.due(S, P, a, r, m, seq), f"{name}: due below the floor (case {k})"
        assert not framed.would_act(S, P, B, c, a, r, m, t, w, seq, moment), (
            f"{name}: would_act below the floor (case {k})"
        )
        changed = _changed(framed.apply_rule, (S, P, B, 0, c, a, r, m, t, w, seq, moment))
        assert changed is None, f"{name}: act changed {changed} below the floor (case {k})"
    assert below >= 10, f"{name}: only {below} clients below the floor: the test has no teeth"


def test_the_kernel_skips_the_rule_hook_only_where_no_rule_would_do_anything(contexts):
    # where `hooks.may_act` says no, the kernel does not call `rules_at` at intake or
    # reindication: there, with every rule on, nothing may change (state, bins, draws), and
    # with every rule off none may be marked touched. Over every test measure's rules, with
    # a slot's weekly amount set so that the client's total lands within cents of the
    # lowest floor (the weekly caps' ceilings) half the time.
    rng = np.random.default_rng(17)
    skipped = near = 0
    for k in range(CASES_PER_PRIMITIVE):
        profile, policy, measures, rules, P, S0 = contexts[k % len(contexts)]
        S = State(*(x.copy() for x in S0))
        with_slots = np.nonzero(S.clients["arr_hi"] > S.clients["arr_lo"])[0]
        c = int(rng.choice(with_slots))
        t = int(rng.integers(0, 24))
        m = profile.start + t
        _randomise_client(S, P, c, m, int(rng.integers(0, len(rules))), rng)
        lo, hi = int(S.clients[c]["arr_lo"]), int(S.clients[c]["arr_hi"])
        a = int(rng.integers(lo, hi))
        S.slots[a]["status"] = S_ACTIVE
        moment = MOMENT_BITS[str(rng.choice(["intake", "reindication"]))]
        field = "intake" if moment == MOMENT_BITS["intake"] else "reind"
        floor = int(P.gates[t, S.slots[a]["product"]][f"{field}_floor"])
        if floor < NO_FLOOR and rng.random() < 0.5:
            others = sum(
                int(S.slots[b]["weekly_cents"])
                for b in range(lo, hi)
                if b != a and S.slots[b]["status"] == S_ACTIVE
            )
            S.slots[a]["weekly_cents"] = max(0, floor - others + int(rng.integers(-2, 4)))
            near += 1
        if hooks.may_act(S, P, c, a, t, moment):
            continue
        skipped += 1
        B = allocate_bins(P, len(profile.groups), len(policy.products), 1, S.n_slots, len(measures))
        for on in (-1, 0):
            w = np.zeros(work_size(3), dtype=np.int64)
            w[W_RULES] = on
            seq = np.zeros(8, dtype=np.uint64)
            changed = _changed(framed.rules_at, (S, P, B, 0, c, a, m, t, w, seq, moment), c)
            assert changed is None, f"rules_at changed {changed} where may_act said no ({k})"
            assert w[W_TOUCHED] == 0, f"a rule off was touched where may_act said no ({k})"
    assert skipped >= 100, f"may_act said no in only {skipped} cases: no teeth"
    assert near >= 100, f"only {near} clients were put near a floor: no teeth"


WITH_NEXT_DUE = [m for m in AT_MOMENTS if hasattr(m, "next_due")]


@pytest.mark.parametrize("module", WITH_NEXT_DUE, ids=[m.SPEC.name for m in WITH_NEXT_DUE])
def test_next_due_names_the_month_a_scan_of_due_finds(contexts, module):
    # with keyed draws the kernel plans a monthly rule's next month with `next_due` instead of
    # asking `due` (or, where the primitive has it, `needs_step`) month by month
    # (hooks.next_dm_month): both must name the same month, for ranges before, across and long
    # after the rule's window
    name = module.SPEC.name
    steps = getattr(module, "needs_step", module.due)
    found = 0
    for k, case in enumerate(_cases(contexts, module, 150, 14)):
        S, P, a, r, seq = case[0], case[1], case[4], case[5], case[8]
        start = int(P.run[0]["start"])
        for lo in range(0, 48):
            hi = lo + (k + lo) % 19
            scan = next((u for u in range(lo, hi) if steps(S, P, a, r, start + u, seq)), hi)
            assert module.next_due(S, P, a, r, lo, hi, seq) == scan, (
                f"{name}: next_due over [{lo}, {hi}) disagrees with due (case {k})"
            )
            found += scan < hi
    assert found >= 100, f"{name}: due was found in only {found} ranges: the test has no teeth"


WITH_SEGMENT = [m for m in AT_MOMENTS if hasattr(m, "segment_events")]


@pytest.mark.parametrize("module", WITH_SEGMENT, ids=[m.SPEC.name for m in WITH_SEGMENT])
def test_segment_events_books_nothing_before_a_month_it_has_named(contexts, module):
    # the kernel keeps the month a slot's `segment_events` returns and asks again only for a
    # segment that reaches it (accrual.flush_segments): no later segment may book an event
    # before it, whatever the slot's product, step or group by then. Each segment's events
    # are read off the bins (the months whose count grew), not from the hook's own reasoning
    name = module.SPEC.name
    booked = 0
    for k, case in enumerate(_cases(contexts, module, 600, 15)):
        S, P, B, a, r = case[0], case[1], case[2], case[4], case[5]
        T = int(P.run[0]["T"])
        rng = np.random.default_rng(k)
        cuts = rng.choice(np.arange(1, T), size=int(rng.integers(1, 9)), replace=False)
        edges = [0, *sorted(int(x) for x in cuts), T]
        named = 0  # the latest month a segment named: no event may be booked before it
        for t0, t1 in zip(edges[:-1], edges[1:], strict=False):
            own = rng.random() < 0.7  # mostly the slot's own product and step, else any
            p = int(S.slots[a]["product"]) if own else int(rng.integers(0, B.events.shape[4]))
            step = int(S.slots[a]["step"]) if own else int(rng.integers(0, 4))
            g = int(rng.integers(0, B.events.shape[3]))
            before = B.events[0, r, ..., 0].sum(axis=(0, 1, 2))
            nxt = module.segment_events(S, P, B, 0, a, r, p, t0, t1, g, step)
            grew = np.nonzero(B.events[0, r, ..., 0].sum(axis=(0, 1, 2)) > before)[0]
            assert all(t0 < u < t1 for u in grew), f"{name}: booked outside its segment ({k})"
            assert all(u >= named for u in grew), (
                f"{name}: booked month {grew.tolist()} before the month {named} it named ({k})"
            )
            assert nxt >= t1, f"{name}: named month {nxt}, inside its own segment ({k})"
            named = max(named, int(nxt))
            booked += grew.size
    assert booked >= 50, f"{name}: only {booked} events booked: the test has no teeth"


def test_the_segment_hook_names_a_reviews_month_whatever_the_segments_product(contexts):
    # hooks.segment_events asks every rule on, whether it holds the segment's product or not:
    # the month it names is kept for the slot's later segments, and a slot may move to a
    # product the review holds (substitute) before its review month
    review = BY_NAME["review"]
    named = 0
    for k, case in enumerate(_cases(contexts, review, 300, 16)):
        S, P, B, a, r, seq = case[0], case[1], case[2], case[4], case[5], case[8]
        start, T = int(P.run[0]["start"]), int(P.run[0]["T"])
        rng = np.random.default_rng(k)
        t0 = int(rng.integers(0, T - 1))
        t1 = int(rng.integers(t0 + 1, T + 1))
        p = int(rng.integers(0, B.events.shape[4]))  # any product, most not the review's
        w = np.zeros(work_size(3), dtype=np.int64)
        w[W_RULES] = -1
        nxt = framed.segment_events(S, P, B, 0, a, p, t0, t1, 0, 0, w, seq)
        rm = review.review_month(S, P, a, r, seq) - start  # the month the review's `due` draws
        if rm >= t1:
            assert nxt <= rm, f"case {k}: named {nxt}, after the review month {rm}"
            named += 1
    assert named >= 50, f"only {named} cases with a review month to come: no teeth"


def test_every_registered_primitive_declares_moments_and_named_parameters():
    for m in MODULES:
        spec = m.SPEC
        assert spec.name in BY_NAME
        assert set(spec.moments) <= set(MOMENT_BITS)
        assert spec.params
        assert all(
            p.doc and p.kind in ("number", "share", "bool", "choice", "names", "table")
            for p in spec.params
        )
        assert callable(m.act)
        assert callable(m.would_act)
        # events booked from cost segments need their months, for the gates (params._gate)
        assert hasattr(m, "segment_month") == hasattr(m, "segment_events"), spec.name
