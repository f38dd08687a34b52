"""The same answer on every CPU: engine.model.portable_math against the C library, and a whole
population and run with NumPy's SIMD paths switched off must give the same bits."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.model import portable_math as pm

ROOT = Path(__file__).resolve().parents[2]


def _ulps(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.abs(got - ref) / np.spacing(np.abs(ref))


def test_exp_and_log_are_within_one_ulp_of_the_c_library():
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            rng.uniform(-700, 700, 20_000),
            rng.uniform(-1, 1, 20_000),
            rng.uniform(-1e-9, 1e-9, 1_000),
        ]
    )
    assert _ulps(pm.exp_array(x), np.array([math.exp(v) for v in x])).max() <= 1.0
    b = np.concatenate(
        [
            rng.uniform(1e-9, 10, 20_000),
            np.array([math.exp(v) for v in rng.uniform(-700, 700, 5_000)]),
        ]
    )
    assert _ulps(np.array([pm.log(v) for v in b]), np.array([math.log(v) for v in b])).max() <= 1.0


def test_log1p_is_accurate_for_small_and_for_uniform_arguments():
    rng = np.random.default_rng(2)
    small = rng.uniform(-5e-4, 5e-4, 20_000)
    assert _ulps(pm.log1p_array(small), np.array([math.log1p(v) for v in small])).max() <= 2.0
    u = rng.random(20_000)  # the kernel's waiting times take log1p(-u)
    assert _ulps(pm.log1p_array(-u), np.array([math.log1p(-v) for v in u])).max() <= 2.0


def test_pow_matches_the_growth_factors_it_replaces():
    t = np.arange(240) / 12.0
    for b in (0.97, 1.0, 1.012, 1.05):
        assert _ulps(pm.pow_array(b, t), np.array([b**v for v in t])).max() <= 2.0


def test_normal_quantile_matches_the_standard_library():
    p = np.concatenate([np.random.default_rng(3).random(20_000), [1e-12, 1e-300, 0.5, 1 - 1e-12]])
    nd = statistics.NormalDist()
    assert np.abs(pm.normal_quantile_array(p) - np.array([nd.inv_cdf(v) for v in p])).max() < 1e-14


@pytest.mark.parametrize(
    ("fn", "x", "want"),
    [
        (pm.exp, 0.0, 1.0),
        (pm.exp, 710.0, math.inf),
        (pm.exp, -800.0, 0.0),
        (pm.log, 1.0, 0.0),
        (pm.log, 0.0, -math.inf),
        (pm.log1p, -1.0, -math.inf),
        (pm.log1p, 0.0, 0.0),
        (pm.log1p, 1e-300, 1e-300),
    ],
)
def test_edge_values(fn, x, want):
    assert fn(x) == want


def test_special_arguments_give_nan():
    assert math.isnan(pm.log(-1.0))
    assert math.isnan(pm.exp(math.nan))
    assert math.isnan(pm.pow(-2.0, 0.5))


# ------------------------------------------------------------------------ reduced CPU features
_DIGESTS = """
import json, hashlib
import numpy as np
from engine.simulation.run import RunSpec, simulate_scenario
from synthetic_population.generator import frame_digest

out = {}
for name, spec in [
    ("toy", RunSpec(profile=%(toy)r, months=24, seed=3, population_seed=4)),
    (
        "default_small",
        RunSpec(months=18, seed=5, population_seed=2, overrides={"population.scale": 0.05}),
    ),
]:
    r = simulate_scenario(spec)
    out[name] = {
        "fingerprint": r.population.fingerprint(),
        "pool_rate": hashlib.sha256(
            np.ascontiguousarray(r.population.pool_rate).tobytes()
        ).hexdigest(),
        **{f"table:{k}": frame_digest(v) for k, v in sorted(r.tables.items())},
    }
print(json.dumps(out))
"""


def _dispatched_features() -> list[str]:
    """NumPy's run-time dispatched CPU features that this machine has (AVX-512, AVX2, ...)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    return [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]


def _digests_in_subprocess(env_extra: dict) -> dict:
    env = {**os.environ, **env_extra, "PYTHONPATH": str(ROOT)}
    code = _DIGESTS % {"toy": str(ROOT / "tests" / "data" / "toy" / "profile.toml")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_outputs_do_not_depend_on_the_cpu():
    """A population (default profile: growth factors, lognormal amounts) and a run of it,
    once as this machine runs them, and once as a plain x86-64 CPU would: every NumPy SIMD
    extension this machine has switched off (NPY_DISABLE_CPU_FEATURES) and the kernel
    compiled for a generic CPU (NUMBA_CPU_NAME=generic: no AVX, no FMA). Every digest and
    table the same."""
    features = _dispatched_features()
    normal = _digests_in_subprocess({"NPY_DISABLE_CPU_FEATURES": ""})
    reduced = _digests_in_subprocess(
        {
            "NPY_DISABLE_CPU_FEATURES": " ".join(features),
            "NUMBA_CPU_NAME": "generic",
            "NUMBA_CPU_FEATURES": "",
        }
    )
    assert reduced == normal
