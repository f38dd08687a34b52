"""The compile cache never serves stale code, and survives edits that cannot change it.

A compiled function carries the code of what it calls; Numba's own check looks only at the
function's own file. engine.model.jit stamps each cached function with its module and every
first-party module it imports, directly or not."""

from __future__ import annotations

import json
import operator
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from engine.model import jit as model_jit
from engine.model.jit import ROOT, dependency_files

MODEL = ROOT / "engine" / "model"


def test_the_kernel_depends_on_every_compiled_module_it_calls_and_not_on_python_side_modules():
    deps = {str(p.relative_to(ROOT)) for p in dependency_files(MODEL / "kernel.py")}
    for needed in (
        "layout.py",
        "rng.py",
        "portable_math.py",
        "arrangement.py",
        "hooks.py",
        "combinations.py",
        "primitives/__init__.py",
        "primitives/weekly_cap.py",
        "primitives/review.py",
        "primitives/common.py",
        "exits.py",
        "slots.py",
        "accrual.py",
    ):
        assert f"engine/model/{needed}" in deps, needed
    assert "engine/core/domain.py" in deps  # constants the kernel reads
    for unrelated in (
        "engine/model/params.py",
        "engine/model/state.py",
        "engine/cli/__init__.py",
        "engine/simulation/run.py",
        "rules/schema.py",
        "engine/__init__.py",
    ):
        assert unrelated not in deps, unrelated


_CALLER = (
    "from engine.model.jit import jit_entry\nfrom engine.model.callee import g\n\n\n"
    "@jit_entry\ndef f():\n    return g() + 1\n"
)
_RUN = (
    "import sys; sys.path.insert(0, {root!r})\n"
    "from engine.model.caller import f\n"
    "print(f(), f.stats.cache_hits.get(f.signatures[0], 0) if f.signatures else 0)\n"
)


def _python(code: str, root: Path) -> str:
    """Run `code` in a fresh interpreter in `root` (no inherited environment); its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(root)},
        cwd=root,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def _run(root: Path) -> tuple[int, int]:
    value, hits = _python(_RUN.format(root=str(root)), root).split()
    return int(value), int(hits)


def _project(root: Path) -> Path:
    """A copy of the cache machinery in `root`: engine/model/jit.py, a callee g and its
    caller f (`_CALLER`). Returns the engine/model folder."""
    pkg = root / "engine" / "model"
    pkg.mkdir(parents=True)
    (root / "engine" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    shutil.copy(Path(model_jit.__file__), pkg / "jit.py")
    (pkg / "callee.py").write_text(
        "from engine.model.jit import jit\n\n\n@jit\ndef g():\n    return 1\n"
    )
    (pkg / "caller.py").write_text(_CALLER)
    return pkg


def test_an_edit_to_a_callee_recompiles_its_caller_and_an_unrelated_edit_does_not(tmp_path):
    """In a copy of the cache machinery: f calls g in another module. After g changes, f
    must give the new answer (the stale f would give the old one); after an edit to a
    module f does not import, f still loads from the cache."""
    pkg = _project(tmp_path)
    (pkg / "other.py").write_text("X = 1\n")
    assert _run(tmp_path) == (2, 0)  # compiled
    assert _run(tmp_path) == (2, 1)  # loaded from the cache
    (pkg / "other.py").write_text("X = 2\n")
    assert _run(tmp_path) == (2, 1)  # an unrelated edit keeps the cache
    (pkg / "callee.py").write_text(
        "from engine.model.jit import jit\n\n\n@jit\ndef g():\n    return 41\n"
    )
    assert _run(tmp_path) == (42, 0)  # the caller saw its callee change: recompiled, not stale
    assert (tmp_path / ".numba-cache").is_dir()


_LOAD_THEN_COMPILE = (
    "import sys; sys.path.insert(0, {root!r})\n"
    "from engine.model.caller import f\n"
    "value = f()\n"
    "loaded_only = 'numba.np.linalg' not in sys.modules\n"
    "from engine.model.later import h\n"
    "print(value, f.stats.cache_hits.get(f.signatures[0], 0), loaded_only, h(16.0))\n"
)


def test_a_cached_function_loads_without_numbas_compiler_registries_and_a_compile_after_works(
    tmp_path,
):
    """Loading from the cache skips the refresh of Numba's contexts (importing and installing
    all its typing and lowering code: 0.17-0.2 s of a warm package run); a function compiled
    after it in the same process still finds them (the compiler refreshes before typing)."""
    pkg = _project(tmp_path)
    (pkg / "later.py").write_text(
        "import math\n\nfrom engine.model.jit import jit_entry\n\n\n"
        "@jit_entry\ndef h(x):\n    return math.sqrt(x)\n"
    )
    assert _run(tmp_path) == (2, 0)  # compiled and saved
    out = _python(_LOAD_THEN_COMPILE.format(root=str(tmp_path)), tmp_path)
    assert out.split() == ["2", "1", "True", "4.0"]


def test_importing_the_engine_makes_no_folder_and_sets_no_environment(tmp_path):
    # the libraries first: Polars sets its allocator's variable on import, which is not ours
    code = (
        "import os, numba, numpy, polars, pyarrow, duckdb; before = dict(os.environ)\n"
        "import engine, engine.simulation.run, engine.model.kernel\n"
        "print(dict(os.environ) == before)\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "True"
    assert not (tmp_path / "cache").exists()
    assert list(tmp_path.iterdir()) == []


def test_a_stamp_is_computed_when_numba_compares_or_saves_it_and_saved_as_text():
    from engine.model import rng
    from engine.model.jit import LazyStamp, ModelCacheLocator, source_stamp

    path = MODEL / "rng.py"
    lazy = ModelCacheLocator(rng.splitmix64.py_func, rng.__file__).get_source_stamp()
    assert isinstance(lazy, LazyStamp)
    assert lazy._value is None  # nothing computed at decoration
    text = source_stamp(path)
    assert lazy == text
    assert text == lazy  # the text first: Python asks the stamp's side
    assert not operator.ne(text, lazy)  # Numba's check: `stamp != self._source_stamp`
    assert operator.ne(lazy, "another stamp")
    assert operator.ne("another stamp", lazy)
    assert pickle.loads(pickle.dumps(lazy)) == text  # the index holds the text
    assert type(pickle.loads(pickle.dumps(lazy))) is str


_DEPS = (
    "import sys; sys.path.insert(0, {root!r})\n"
    "from pathlib import Path\n"
    "from engine.model.jit import dependency_files\n"
    "print(sorted(p.name for p in dependency_files(Path({root!r}) / 'engine/model/a.py', "
    "Path({root!r}))))\n"
)


def test_import_names_are_read_from_beside_the_compiled_code_and_an_edit_is_parsed_again(
    tmp_path,
):
    """Which modules a file imports is kept in the cache folder (no parsing in a process that
    loads compiled code), keyed by the file's content: an edit is parsed afresh."""
    pkg = tmp_path / "engine" / "model"
    pkg.mkdir(parents=True)
    (tmp_path / "engine" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    shutil.copy(Path(model_jit.__file__), pkg / "jit.py")
    for name in ("b", "c"):
        (pkg / f"{name}.py").write_text("X = 1\n")
    (pkg / "a.py").write_text("from engine.model.b import X\n")

    def deps() -> list[str]:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        code = _DEPS.format(root=str(tmp_path))
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return eval(done.stdout)  # noqa: S307 - a list of names this test printed

    assert deps() == ["a.py", "b.py"]
    names = tmp_path / ".numba-cache" / model_jit.NAMES_FILE
    assert not names.exists()  # no cache folder yet: none made
    names.parent.mkdir()
    assert deps() == ["a.py", "b.py"]
    table = json.loads(names.read_text())
    (key,) = [k for k in table if k.startswith("engine.model.a:")]
    table[key] = ["engine.model.c"]  # what a later process reads instead of parsing
    names.write_text(json.dumps(table))
    assert deps() == ["a.py", "c.py"]
    (pkg / "a.py").write_text("from engine.model.b import X  # edited\n")
    assert deps() == ["a.py", "b.py"]  # new content: parsed again


def test_a_function_only_compiled_code_calls_runs_from_python_through_a_twin_with_wrappers():
    """`jit`, `jit_call` and `jit_once` functions are built without Numba's wrappers for calls
    from Python (most of a small function's compile); their own code called from Python would
    crash the process. A Python call (tests, set-up code) compiles a twin with the wrappers,
    cached under its own name."""
    from engine.model import rng

    f = rng.uniform_from_bits
    assert f.targetoptions["no_cpython_wrapper"]
    assert f(np.uint64(3)) == 3 / 2**53  # returned: the twin ran
    twin = f._python_twin
    assert not twin.targetoptions.get("no_cpython_wrapper")
    assert "uniform_from_bits_python" in twin._cache._impl.filename_base


_TAKER = (
    "from engine.model.jit import jit_entry\n\n\n@jit_entry\ndef k(t):\n    return t[0] + t[1]\n"
)
_TAKE = (
    "import sys; sys.path[:0] = [{root!r}, {extra!r}]\n"
    "from engine.model.taker import k\n"
    "{make}\n"
    "print(k(t), k.stats.cache_hits.get(k.signatures[0], 0))\n"
)


def test_a_cache_index_naming_a_class_this_process_cannot_import_is_a_miss_not_a_failure(
    tmp_path,
):
    """A named tuple from another module (a test's) passed to a model function puts its class
    in the function's cache index. A process that cannot import that module (a `caseload
    run` after `make test`) compiles the function afresh instead of failing, and its own
    entry is then served from the cache."""
    pkg = _project(tmp_path)
    (pkg / "taker.py").write_text(_TAKER)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "visiting.py").write_text(
        "from collections import namedtuple\n\nPair = namedtuple('Pair', ['a', 'b'])\n"
    )
    visiting = "from visiting import Pair; t = Pair(1, 2)"
    assert _take(tmp_path, extra, visiting) == "3 0"  # compiled, its class in k's index
    shutil.rmtree(extra)  # the visiting module is gone, its class still named in the index
    plain = "t = (1, 2)"
    assert _take(tmp_path, extra, plain) == "3 0"  # a miss, compiled: no ModuleNotFoundError
    assert _take(tmp_path, extra, plain) == "3 1"  # and saved where the next process finds it


def _take(root: Path, extra: Path, make: str) -> str:
    return _python(_TAKE.format(root=str(root), extra=str(extra), make=make), root)
