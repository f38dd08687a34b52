"""caseload engine: state, kernel, keyed random streams, outputs and runs."""

import hashlib
import os
import sys
from pathlib import Path

__version__ = "0.1.0"


def _numba_cache_dir(here: Path | None = None) -> str:
    """Where Numba caches this version of the engine's compiled functions.

    Numba checks only a cached function's own source file, so a function compiled against an
    older version of a module it inlines (or of a constant it reads, such as a work-array
    index in engine.arrangement) would be loaded and give wrong results. Keying the cache
    directory on a hash of every engine module gives each version of the engine its own
    cache: an edit compiles afresh, and a stale function is never loaded. NUMBA_CACHE_DIR,
    when set, is respected as it is.
    """
    here = here or Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(here.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    path = here.parent / ".numba-cache" / h.hexdigest()[:16]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return ""  # not writable (an installed copy): Numba's own default
    return str(path) if os.access(path, os.W_OK) else ""


if not os.environ.get("NUMBA_CACHE_DIR"):
    _dir = _numba_cache_dir()
    if _dir:
        os.environ["NUMBA_CACHE_DIR"] = _dir  # read by Numba when it is imported
        if "numba" in sys.modules:  # imported before the engine: set its config as well
            from numba.core import config as _numba_config

            _numba_config.CACHE_DIR = _dir
