"""The rule machinery is compiled once, not once per call site's constant.

Numba types a global integer constant passed to a compiled function as a literal
(`Literal[int](4)`) and compiles the callee once per literal value; passing the moments
`MO_INTAKE`, `MO_REINDICATION`, `MO_DATE`, `MO_MONTHLY` as constants compiled the rule hooks
and every primitive's `act` five times, doubling a new user's first compile (187 s against 94 s
for `caseload run runs/scenarios/boz-2024.toml` on the 2-core machine). Checked here on what
Numba itself wrote to the cache index after compiling: the signatures of the rule hooks."""

from __future__ import annotations

import pickle
from pathlib import Path

from engine.model import hooks
from engine.model.jit import cache_root, source_stamp
from engine.simulation.run import simulate_scenario
from tests.helpers import toy_spec

HOOKS = ("act_rule", "act_or_touch", "would_act", "_act", "rules_at")


def _signatures(name: str) -> list[str]:
    """Signatures in the cache index of hooks.`name` (written when it was compiled for the
    current source: its stamp must match)."""
    line = getattr(hooks, name).py_func.__code__.co_firstlineno
    found = sorted((cache_root() / "engine" / "model").glob(f"hooks.{name}-{line}.*.nbi"))
    assert found, f"no cache index for hooks.{name} under {cache_root()}"
    with open(found[0], "rb") as fh:
        pickle.load(fh)  # Numba's version
        stamp, overloads = pickle.loads(fh.read())
    assert stamp == source_stamp(Path(hooks.__file__).resolve())
    # an index keeps the entries of every CPU it was compiled for (the portable-math test
    # compiles for a generic CPU into the same cache): this machine's only
    magic = getattr(hooks, name).targetctx.codegen().magic_tuple()
    return [" ".join(str(x) for x in key[0]) for key in overloads if key[1] == magic]


def test_rule_hooks_are_compiled_once_not_once_per_moment():
    # a measure with rules at intake and reindication, so the rule machinery is compiled (or
    # loaded: then the index is the one written when it was compiled for this source)
    simulate_scenario(toy_spec(seed=11, population_seed=5, measures=["t1_youth_cap"]))
    for name in HOOKS:
        sigs = _signatures(name)
        assert not [s for s in sigs if "Literal" in s], (name, sigs)
        assert len(sigs) == 1, (name, sigs)
