"""The rule machinery is compiled once, not once per call site's constant.

Numba types a global integer constant passed to a compiled function as a literal
(`Literal[int](4)`) and compiles the callee once per literal value; passing the moments
`MO_INTAKE`, `MO_REINDICATION`, `MO_DATE`, `MO_MONTHLY` as constants compiled the rule hooks
and every primitive's `act` five times, doubling a new user's first compile (187 s against 94 s
for `caseload run runs/scenarios/boz-2024.toml` on the 2-core machine). Checked here on what
Numba itself wrote to the cache index after compiling: the signatures of the rule hooks."""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path

from engine.model import kernel, queue, slots
from engine.model.jit import LITERAL_PARAMETERS, CompiledOnly, cache_root, source_stamp
from engine.simulation.run import simulate_scenario
from tests.helpers import toy_spec

HOOKS = ("act_rule", "act_or_touch", "would_act", "_act", "rules_at")


def _signatures(name: str) -> list[str]:
    """Signatures of hooks.`name` compiled for the current source (`_model_signatures`)."""
    sigs = [" ".join(types) for n, _, types in _model_signatures() if n == f"hooks.{name}"]
    assert sigs, f"no cache index for hooks.{name} under {cache_root()}"
    return sigs


def test_rule_hooks_are_compiled_once_not_once_per_moment():
    # a measure with rules at intake and reindication, so the rule machinery is compiled (or
    # loaded: then the index is the one written when it was compiled for this source)
    simulate_scenario(toy_spec(seed=11, population_seed=5, measures=["t1_youth_cap"]))
    for name in HOOKS:
        sigs = _signatures(name)
        assert not [s for s in sigs if "Literal" in s], (name, sigs)
        assert len(sigs) == 1, (name, sigs)


def _model_signatures():
    """(function name, its parameter names, one compiled signature's argument types) for every
    model function Numba compiled for the current sources, read from the cache indexes."""
    root = cache_root()
    for index in sorted((root / "engine").rglob("*.nbi")):
        stem = index.name.split(".py")[0]  # "<module>.<function>-<line>"
        module_name, _, rest = stem.partition(".")
        name = rest.rsplit("-", 1)[0]
        parts = index.parent.relative_to(root).parts
        module = importlib.import_module(".".join((*parts, module_name)))
        func = getattr(module, name, None)
        if func is None or not hasattr(func, "py_func"):
            continue
        with open(index, "rb") as fh:
            pickle.load(fh)
            stamp, overloads = pickle.loads(fh.read())
        if stamp != source_stamp(Path(module.__file__).resolve()):
            continue  # compiled for other sources
        code = func.py_func.__code__
        params = code.co_varnames[: code.co_argcount]
        magic = func.targetctx.codegen().magic_tuple()
        for key in overloads:
            if key[1] == magic:
                yield f"{module_name}.{name}", params, [str(x) for x in key[0]]


def test_model_functions_are_compiled_once_per_argument_types_not_per_constant():
    # the package's primitives book events of many kinds, end arrangements for many reasons
    # and reprice for several kinds, each from a call site passing a constant: one compiled
    # copy per call site before (book_event: 18), one per distinct argument types now
    measures = ["t1_youth_cap", "t2_max_duration", "t3_no_ironing", "t4_review", "t12_transfer_out"]
    simulate_scenario(toy_spec(seed=11, population_seed=5, measures=measures))
    seen, literal = set(), []
    for name, params, types in _model_signatures():
        seen.add(name)
        for param, t in zip(params, types, strict=False):
            if "Literal" in t and param not in LITERAL_PARAMETERS:
                literal.append((name, param, t))
    assert {"common.book_event", "common.reprice", "arrangement.end_arrangement"} <= seen
    assert not literal, literal
    # the month step's layers are typed inside their caller, never compiled on their own (a
    # call Numba cannot resolve statically, through an alias, would quietly compile one)
    once = {
        f"{f.py_func.__module__.rsplit('.', 1)[1]}.{f.py_func.__name__}"
        for module in (kernel, slots, queue)
        for f in vars(module).values()
        if isinstance(f, CompiledOnly) and f.targetoptions.get("inline") == "always"
    }
    assert {"kernel.step_month", "slots.reindicate", "queue.queue_step"} <= once
    assert not once & seen, once & seen
