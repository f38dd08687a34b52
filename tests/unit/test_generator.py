"""The synthetic population: stock and pool are told apart by who they are, not by the sign
of a month (month indices before 2000 are negative)."""

import platform
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from engine.core.months import month_index
from synthetic_population.generator import generate
from synthetic_population.profile import load_profile
from tests.helpers import ROOT, TOY_PROFILE


def test_a_start_before_2000_keeps_pool_arrivals_and_support_months():
    profile, policy = load_profile(TOY_PROFILE)
    start = month_index(1999, 7)
    pop = generate(profile, policy, 5, 12, start)
    clients = pop.clients
    n_stock = sum(int(round(g.stock * profile.scale)) for g in profile.groups)
    assert clients["arrival_month"].null_count() == n_stock
    arrivals = clients["arrival_month"].drop_nulls()
    assert arrivals.min() == start
    assert (arrivals < 0).sum() > 0
    held = pop.arrangements.join(
        clients.select("client_id", "arrival_month"), on="client_id"
    ).filter(pl.col("arrival_month").is_null() & (pl.col("slot_kind") == "initial"))
    for col in ["start_month", "planned_end_month", "support_since_month"]:
        assert held[col].null_count() == 0, col
    assert (held["support_since_month"] < 0).sum() > 0
    assert np.all(held["start_month"].to_numpy() <= start)


_HEAP = """
import ctypes, sys
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    ).split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
from synthetic_population.generator import generate
from synthetic_population.profile import load_profile
profile, policy = load_profile("rotterdam", {"population.scale": 3})
pop = generate(profile, policy, 1, 48)
print(libc.mallinfo2().fordblks)
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="glibc's malloc",
)
def test_generation_leaves_no_freed_temporaries_in_the_process():
    """The generator's temporaries go back to the system when freed (glibc would keep those
    below a threshold it raises itself: at national scale 300 MB of a first run's peak)."""
    done = subprocess.run(
        [sys.executable, "-c", _HEAP], capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    free_mb = int(done.stdout.split()[-1]) / 2**20
    assert free_mb < 30, free_mb  # 69 MB without (scale 3), 13 MB with
