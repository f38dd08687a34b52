"""A process's memory: what Polars frees goes back to the system while a run goes on (a first
run frees its generated frames, then builds the state and steps the kernel beside them)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from synthetic_population.memory import POLARS_ALLOCATOR, POLARS_ALLOCATOR_ENV
from tests.helpers import ROOT

_FREE = """
import os, time
from synthetic_population.memory import return_frames_memory_soon
return_frames_memory_soon()
import numpy as np, polars as pl

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

frame = pl.DataFrame({f"c{i}": np.arange(4_000_000, dtype=np.int64) + i for i in range(8)})
frame = frame.with_columns(pl.all() * 2)  # Polars' own memory, not NumPy's
held = rss_mib()
del frame
time.sleep(1.5)
print(held - rss_mib())
"""


def _freed_mib(env: dict) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _FREE], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return float(done.stdout.split()[-1])


linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the setting is for Polars' jemalloc on Linux"
)


@linux_only
def test_memory_polars_frees_goes_back_to_the_system_within_the_run():
    base = {k: v for k, v in os.environ.items() if k != POLARS_ALLOCATOR_ENV}
    # 8 columns x 4 million x 8 bytes: 244 MiB of frame
    assert _freed_mib(base) > 200
    # the control: Polars' allocator as it comes keeps it (the test can fail)
    assert _freed_mib({**base, POLARS_ALLOCATOR_ENV: "dirty_decay_ms:10000"}) < 100


@linux_only
def test_the_console_script_sets_polars_allocator_up_unless_the_user_has():
    probe = (
        "import os, engine.cli as c\n"
        f"c.main = lambda: print(os.environ.get({POLARS_ALLOCATOR_ENV!r})) or 0\n"
        "c.entry()\n"
    )
    base = {k: v for k, v in os.environ.items() if k != POLARS_ALLOCATOR_ENV}
    for env, expected in ((base, POLARS_ALLOCATOR), ({**base, POLARS_ALLOCATOR_ENV: "x:1"}, "x:1")):
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env=env
        )
        assert done.stdout.split() == [expected], done.stderr[-2000:]
