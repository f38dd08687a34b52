"""The decorators for compiled code, and where compiled code is cached.

`jit`, `jit_call` and `jit_once` compile a function with Numba: no reference counting (nothing
in the model allocates; with it every call that passes an array would incref it), no GIL
(chunks of clients run on threads), cached on disk. State, parameters and bins are a few record
arrays, so a call passes a few pointers; `jit` functions are inlined by LLVM where they are
called, `jit_call` functions are called, `jit_once` functions (one call site each in what an
entry point reaches) are typed inside their caller. A function is compiled once per distinct
argument types, not once per constant a caller passes (`LITERAL_PARAMETERS`).

A cold compile is paid by a new user's first run, so the decorator is part of the product:
each `jit`/`jit_call` function is a library of its own, optimised and compiled to machine code
with everything LLVM inlined into it; its callers do the same again with it inside. Keep the
chain of libraries holding the whole month step short (`jit_once`), and measure a cold compile
(`NUMBA_CACHE_DIR=$(mktemp -d)`) after a change here.

The cache. Numba checks a cached function against its own source file only, yet a compiled
function carries the code of every function it calls: after an edit to a callee (or to a
constant it reads), the caller's cached code would be stale and would still be loaded. The
locator below stamps each function with a hash of its own module and of every first-party
module that module imports, directly or not (`dependency_files`). An edit recompiles exactly
the functions whose modules can see it; the rest keeps its cache. Compiled code goes to
`.numba-cache/` in the project (or NUMBA_CACHE_DIR when set, or the user's cache folder
when the project is not writable); folders are made when something is first saved, not on
import.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import json
import os
import threading
from pathlib import Path
from types import FunctionType

from numba.core import caching, config, types
from numba.core.registry import CPUDispatcher
from numba.core.runtime import rtsys

# the folder holding engine/, rules/, synthetic_population/
ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("engine", "rules", "synthetic_population")


def _module_file(name: str, root: Path) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_nodes(body: list, out: list) -> list:
    """The import statements of a module, at any depth (functions, classes, branches): a
    walk over statements only, not every expression node."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.append(node)
            continue
        for attr in ("body", "orelse", "finalbody", "handlers", "cases"):
            sub = getattr(node, attr, None)
            if isinstance(sub, list):
                _import_nodes(sub, out)
    return out


def _imported_names(source: bytes, path: Path, root: Path) -> list[str]:
    """The absolute module names the source of `path` imports (relative imports resolved),
    at any depth of the module."""
    tree = ast.parse(source, filename=str(path))
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: list[str] = []
    for node in _import_nodes(tree.body, []):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        else:
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            mod = ".".join(x for x in (base, node.module or "") if x)
            names.append(mod)
            names += [f"{mod}.{a.name}" for a in node.names]  # `from package import module`
    return names


class _ImportNames:
    """The module names each source file imports, kept on disk beside the compiled code
    (`NAMES_FILE` in `cache_root`), keyed by the file's module name and a hash of its
    content: a process that loads compiled code reads the names instead of parsing every
    module the code depends on (most of a tenth of a second). An entry is a function of the
    content alone, so an edited file is parsed again; the file is written only into a cache
    folder that exists (importing makes no folder), whole (a temporary file renamed)."""

    KEEP = 512  # entries kept: the project's modules a few times over

    def __init__(self):
        self._known: dict[Path, dict] = {}  # cache folder -> {key: names}
        self._added: set[Path] = set()  # cache folders with entries not yet written

    def _table(self, folder: Path) -> dict:
        table = self._known.get(folder)
        if table is None:
            try:
                table = json.loads((folder / NAMES_FILE).read_text())
                if not isinstance(table, dict):
                    table = {}
            except (OSError, ValueError):
                table = {}
            self._known[folder] = table
        return table

    def names(self, path: Path, root: Path, digest: bytes) -> list[str]:
        folder = cache_root(root)
        table = self._table(folder)
        key = f"{_module_name(path, root)}:{digest.hex()}"
        names = table.get(key)
        if not isinstance(names, list):
            names = _imported_names(path.read_bytes(), path, root)
            table.pop(key, None)
            table[key] = names
            self._added.add(folder)
        return names

    def save(self) -> None:
        """Write the tables that have new entries (the newest KEEP of each)."""
        for folder in list(self._added):
            self._added.discard(folder)
            if not folder.is_dir():
                continue
            table = self._table(folder)
            kept = dict(list(table.items())[-self.KEEP :])
            tmp = folder / f".{NAMES_FILE}.{os.getpid()}.tmp"
            try:
                tmp.write_text(json.dumps(kept))
                os.replace(tmp, folder / NAMES_FILE)
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()


NAMES_FILE = "source-imports.json"
_import_names = _ImportNames()


@functools.cache
def _direct_imports(path: Path, root: Path, stamp: tuple) -> tuple[Path, ...]:
    """First-party module files that `path` imports (stamp: its mtime and size, so an edit
    during the process is seen)."""
    names = _import_names.names(path, root, _file_digest(path, stamp))
    # the modules named, not the packages on the way: a package's __init__ runs, but compiled
    # code reads only the names it imports from the module that defines them
    found = {_module_file(n, root) for n in names if n.split(".")[0] in FIRST_PARTY}
    return tuple(sorted(f for f in found if f is not None))


def _stat(f: Path) -> tuple:
    st = f.stat()
    return (st.st_mtime_ns, st.st_size)


def dependency_files(path: Path, root: Path = ROOT) -> list[Path]:
    """`path` and every first-party module it imports, directly or not."""
    return [f for f, _ in _dependencies(Path(path).resolve(), root)]


def _dependencies(path: Path, root: Path) -> list[tuple[Path, tuple]]:
    """`path` and every first-party module it imports, each with its (mtime, size)."""
    seen: dict[Path, tuple] = {}
    todo = [path]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen[f] = _stat(f)
        todo += [g for g in _direct_imports(f, root, seen[f]) if g not in seen]
    _import_names.save()
    return sorted(seen.items())


@functools.cache
def _file_digest(f: Path, stamp: tuple) -> bytes:
    return hashlib.sha256(f.read_bytes()).digest()


def source_stamp(path: Path, root: Path = ROOT) -> str:
    """Hash of the sources a compiled function in `path` can depend on. Numba asks for it
    for every cached function as it is decorated: each file is parsed and hashed once per
    process (again only after an edit: the cache keys hold its mtime and size)."""
    h = hashlib.sha256()
    for f, stamp in _dependencies(Path(path).resolve(), root):
        h.update(str(f.relative_to(root)).encode() + b"\0")
        h.update(_file_digest(f, stamp))
    return h.hexdigest()


def cache_root(root: Path = ROOT) -> Path:
    """Where compiled code goes: NUMBA_CACHE_DIR if set, else the project's .numba-cache
    when the project folder is writable, else the user's cache folder."""
    if config.CACHE_DIR:
        return Path(config.CACHE_DIR)
    if os.access(root, os.W_OK):
        return root / ".numba-cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "caseload" / "numba"


class LazyStamp:
    """`source_stamp(path, root)`, computed when first compared or saved. Numba asks every
    cached function for its stamp as the function is decorated, but compares it only with
    the index of a function it loads from the cache (or writes it when it saves one): a run
    loads a handful of the model's 170-odd compiled functions, so most stamps are never
    needed. Compares equal to the stamp's text, and is pickled as that text (the index
    holds a plain string)."""

    __slots__ = ("_path", "_root", "_value")

    def __init__(self, path: Path, root: Path):
        self._path, self._root, self._value = path, root, None

    @property
    def value(self) -> str:
        if self._value is None:
            self._value = source_stamp(self._path, self._root)
        return self._value

    def __eq__(self, other) -> bool:
        return self.value == (other.value if isinstance(other, LazyStamp) else other)

    def __ne__(self, other) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.value)

    def __reduce__(self):
        return (str, (self.value,))

    def __repr__(self) -> str:
        return repr(self.value)


@functools.cache
def _location(py_file: str, root: Path, cache_dir) -> tuple[Path, str, bool] | None:
    """A first-party source file's resolved path, its cache folder, and whether that folder
    could be made; None outside the project. Once per file and cache setting, not once per
    function: resolving paths and probing folders for the 170-odd functions was 0.04 s of
    every run's start-up."""
    path = Path(py_file).resolve()
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    if rel.parts[0] not in FIRST_PARTY:
        return None
    cache_path = str(cache_root(root) / rel.parent)
    probe = Path(cache_path)
    while not probe.exists():  # the folder is made on the first save; check we could
        probe = probe.parent
    return path, cache_path, os.access(probe, os.W_OK)


class ModelCacheLocator(caching._CacheLocator):
    """Numba cache locator for first-party functions, stamped with their dependencies."""

    root = ROOT

    def __init__(self, py_func, py_file):
        self._py_file, self._cache_path, _ = _location(str(py_file), self.root, config.CACHE_DIR)
        self._lineno = py_func.__code__.co_firstlineno

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return LazyStamp(self._py_file, self.root)

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        where = _location(str(py_file), cls.root, config.CACHE_DIR)
        return cls(py_func, py_file) if where is not None and where[2] else None


if ModelCacheLocator not in caching.CacheImpl._locator_classes:
    caching.CacheImpl._locator_classes.insert(0, ModelCacheLocator)

# Parameters whose literal value a callee is compiled for: the draw mode, so each entry
# point holds one mode's code. Numba compiles a function once more for every literal value a
# compiled caller passes (an event kind, a reason, a zero): `book_event` alone was 18
# compilations for 17 call sites. Every other argument is typed by its plain type, so a
# function is compiled once per distinct argument types; LLVM still sees the constants where
# it inlines the callee.
LITERAL_PARAMETERS = frozenset({"mode"})

_OPTIONS = {"nopython": True, "nogil": True, "_nrt": False}
_NO_WRAPPERS = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}


class CompiledOnly(CPUDispatcher):
    """A model function that compiled code calls: built without the two wrappers Numba adds to
    every function for calls from Python and through C function pointers, which were about
    two thirds of a small function's compile and most of a cold compile's 170-odd functions.
    A call from Python (tests, set-up code) goes to a twin compiled with the wrappers, cached
    under its own name (`<name>_python`): this code has none, and calling it from Python
    would crash the process. For the same reason a compiled function is called, never used
    as a value (one variable holding either of two functions, a function passed as an
    argument): Numba calls such a value through a C function pointer. The primitives'
    registry tuples are fine: `literal_unroll` types each element's call directly."""

    def get_call_template(self, args, kws):
        """Literal argument types made plain, except for `LITERAL_PARAMETERS`: what a
        compiled caller's call compiles and links."""
        code = self.py_func.__code__
        names = code.co_varnames[: code.co_argcount]
        args = tuple(
            a if i < len(names) and names[i] in LITERAL_PARAMETERS else types.unliteral(a)
            for i, a in enumerate(args)
        )
        kws = {k: v if k in LITERAL_PARAMETERS else types.unliteral(v) for k, v in kws.items()}
        return super().get_call_template(args, kws)

    def __call__(self, *args, **kws):
        twin = self.__dict__.get("_python_twin")
        if twin is None:
            with _TWINS:  # one twin per function, whichever thread asks first
                twin = self.__dict__.get("_python_twin")
                if twin is None:
                    f = self.py_func
                    g = FunctionType(
                        f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__
                    )
                    g.__qualname__ = f"{f.__qualname__}_python"
                    g.__module__ = f.__module__
                    twin = _dispatcher(g, CPUDispatcher, forceinline=False)
                    self._python_twin = twin
        return twin(*args, **kws)


_TWINS = threading.Lock()


class ModelCache(caching.FunctionCache):
    """Numba's function cache, loading without first installing every implementation Numba
    has: its `load_overload` refreshes the compiler's contexts (importing and registering all
    of Numba's typing and lowering code), which a cached function's machine code never uses.
    That was a fifth of a warm national run's wall time (0.17-0.2 s of about 1.6 s), paid by
    the first function loaded. A compile still refreshes them (Numba's compiler does so before
    it types anything), so a process that loads some functions and compiles others works as
    before. (Rebuilding a loaded function's environment may still import the implementation
    modules it was compiled with: the saving depends on what is loaded.)"""

    def __init__(self, py_func):
        super().__init__(py_func)
        self._cache_file = ModelIndex(
            self._cache_path, self._impl.filename_base, self._cache_file._source_stamp
        )

    def load_overload(self, sig, target_context):
        rtsys.initialize(target_context)  # the runtime, as the refresh would have done
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)


class ModelIndex(caching.IndexDataCacheFile):
    """Numba's index of a function's cached overloads, except that an index naming a class
    this process cannot import counts as empty: the function compiles and its index is
    written afresh. A test that passes its own named tuple to a model function leaves that
    tuple's class in the function's index (`tests.model.test_frame.Bins` in `frame`'s); a
    later `caseload run` that compiled the function failed with "No module named 'tests'"."""

    def _load_index(self):
        try:
            return super()._load_index()
        except (ImportError, AttributeError):
            return {}


def _dispatcher(func, cls, **options):
    if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: plain Python, as Numba's own decorators do
        return func
    d = cls(py_func=func, locals={}, targetoptions={**_OPTIONS, **options})
    d._cache = ModelCache(func)  # Dispatcher.enable_caching, with the loader above
    return d


# The model's compiled functions. `jit`: inlined by LLVM into every caller (LLVM's
# alwaysinline: the callee is compiled and typed once, unlike Numba's IR-level inlining, which
# types it again at every call site); for everything a usual month reaches and the small
# helpers. `jit_call`: an ordinary call: for the rare paths (exits, turning 18, the rule
# hooks), whose inlining would only grow the kernel. `jit_entry`: what Python calls (the
# kernel's entry points, the state's fill), with the wrappers.
def jit(func):
    return _dispatcher(func, CompiledOnly, forceinline=True, **_NO_WRAPPERS)


def jit_call(func):
    return _dispatcher(func, CompiledOnly, forceinline=False, **_NO_WRAPPERS)


def jit_entry(func):
    return _dispatcher(func, CPUDispatcher, forceinline=False)


# `jit_once`: for the month step and the loops around it (`kernel.run_clients`, `run_client`,
# `step_month`, and the step's parts that one place calls: `slots.slot_events`, `reindicate`,
# `arrive`, `queue.queue_step`). Numba types the body inside its caller (IR-level inlining)
# and compiles no library for it: as its own library each would be the whole month step, or a
# large part of it, optimised and compiled to machine code once more. Cold compile of the
# package run 163 -> 104 s with the literal rule above (bench/RESULTS.md). Only for a
# function with one call site in what an entry point reaches: IR-level inlining types the
# body again at every call site (step_month has two, in different entry points: the kernel's
# and the capacity driver's).
def jit_once(func):
    return _dispatcher(func, CompiledOnly, inline="always", **_NO_WRAPPERS)
