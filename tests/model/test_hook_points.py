"""The kernel's hook points beside the moments (engine.model.hooks): the reindication outcome
(`reind_outcome`), the goal waiting time (`goal_wait`) and admission (`admit`). For the
multi-combination pass a rule that is off must be marked touched wherever turning it on
would change what the kernel draws; and with every rule inert the kernel's own result comes
out. Checked over random clients, slots, months, draws and parameters (from the primitive's
declared ranges) for every registered primitive with a hook point."""

from __future__ import annotations

import numpy as np
import pytest

from engine.model.arrangement import domain_group
from engine.model.layout import W_RULES, W_TOUCHED, work_size
from engine.model.primitives import ADMIT_CODES, BY_NAME, GOAL_CODES, MODULES, PRE_CODES
from engine.model.primitives.spec import RuleContext
from engine.model.state import State
from tests.model import framed as hooks
from tests.model.test_primitives import _context, _random_params, _randomise_client

CASES = 1500
TOY = "tests/data/toy/profile.toml"
WHERE = (TOY, ["t8_reindication_policy", "t9_hazard_factor", "t10_inflow_factor"], None)
HOOKED = [m for code, m in enumerate(MODULES) if code in PRE_CODES | GOAL_CODES | ADMIT_CODES]


@pytest.fixture(scope="module")
def ctx():
    return _context(*WHERE)


def _case(ctx, module, rng):
    profile, policy, measures, rules, P0, S0 = ctx
    r = next(i for i, rule in enumerate(rules) if rule.primitive == module.SPEC.name)
    rule = rules[r]
    params = _random_params(module.SPEC, rule, rng)
    if module.SPEC.name == "reindication_policy" and rng.random() < 0.7:
        params["outcomes"] = {}
    P = P0._replace(rules=P0.rules.copy(), rule_prod=P0.rule_prod.copy())
    packed = module.SPEC.pack(params, RuleContext(policy, rule.products, rule.effective_from))
    for slot, v in packed.f.items():
        P.rules[r]["f"][slot] = v
    for slot, v in packed.i.items():
        P.rules[r]["i"][slot] = v
    if rng.random() < 0.3:
        P.rules[r]["eff_from"] = profile.start + int(rng.integers(0, 30))
    S = State(*(x.copy() for x in S0))
    with_slots = np.nonzero(S.clients["arr_hi"] > S.clients["arr_lo"])[0]
    c = int(rng.choice(with_slots))
    t = int(rng.integers(0, 24))
    m = profile.start + t
    _randomise_client(S, P, c, m, r, rng)
    S.clients[c]["district"] = rng.integers(0, 4)
    a = int(rng.integers(S.clients[c]["arr_lo"], S.clients[c]["arr_hi"]))
    return P, S, r, c, a, t, m


def _call(module, P, S, r, c, a, t, m, u, on: bool):
    """What the kernel draws with rule r on or off, and whether r was marked touched."""
    w = np.zeros(work_size(3), dtype=np.int64)
    w[W_RULES] = -1 if on else 0
    seq = np.zeros(8, dtype=np.uint64)
    S = State(*(x.copy() for x in S))
    code = [mm.SPEC.name for mm in MODULES].index(module.SPEC.name)
    if code in PRE_CODES:
        pr = P.products[S.slots[a]["product"]]
        g = domain_group(S, P, c, int(pr["domain"]), m)
        c0, c1, c2 = (float(x) for x in pr["reind_cum"])
        out = hooks.reind_outcome(S, P, c, a, m, g, w, seq, u, c0, c1, c2)[0]
    elif code in GOAL_CODES:
        out = hooks.goal_wait(S, P, c, a, t, w, seq)
    else:
        out = hooks.admit(S, P, c, m, u, float(rng_p(u)), w, seq)[0]
    return out, bool(w[W_TOUCHED] >> r & 1)


def rng_p(u):
    return 0.5 + 0.5 * ((u * 7919.0) % 1.0)  # an admission probability beside the draw


@pytest.mark.parametrize("module", HOOKED, ids=[m.SPEC.name for m in HOOKED])
def test_a_rule_off_is_touched_wherever_turning_it_on_changes_the_draw(ctx, module):
    rng = np.random.default_rng(5)
    changed = 0
    for k in range(CASES):
        P, S, r, c, a, t, m = _case(ctx, module, rng)
        u = float(rng.random())
        off, touched = _call(module, P, S, r, c, a, t, m, u, on=False)
        on, _ = _call(module, P, S, r, c, a, t, m, u, on=True)
        if on != off:
            changed += 1
            assert touched, f"{module.SPEC.name}: changed the draw untouched (case {k})"
    assert changed >= 10, f"{module.SPEC.name} changed the draw in only {changed} cases"


@pytest.mark.parametrize("module", HOOKED, ids=[m.SPEC.name for m in HOOKED])
def test_an_inert_rule_gives_the_kernels_own_draw(ctx, module):
    rng = np.random.default_rng(6)
    inert = {
        "reindication_policy": {},
        "hazard_factor": {"factor": 1.0},
        "inflow_factor": {"factor": 1.0},
    }
    for _ in range(200):
        P, S, r, c, a, t, m = _case(ctx, module, rng)
        spec = BY_NAME[module.SPEC.name].SPEC
        params = {p.name: p.default for p in spec.params if p.default is not ...}
        params.update(inert[module.SPEC.name])
        packed = spec.pack(params, RuleContext(ctx[1], ctx[3][r].products, 0))
        for slot, v in packed.f.items():
            P.rules[r]["f"][slot] = v
        for slot, v in packed.i.items():
            P.rules[r]["i"][slot] = v
        u = float(rng.random())
        on, _ = _call(module, P, S, r, c, a, t, m, u, on=True)
        off, touched = _call(module, P, S, r, c, a, t, m, u, on=False)
        assert on == off
        assert not touched
