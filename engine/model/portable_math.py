"""exp, log, log1p, pow and the normal quantile with the same bits on every CPU.

NumPy's `np.exp`, `np.log`, `np.log1p` and `**` dispatch to SIMD code chosen at run time
(AVX-512, AVX2, scalar), and the paths differ in the last bit: a population generated on one
machine would differ from the same population generated on another, and a last bit can move a
Poisson draw, a rounded cent or a month. These functions use only +, -, *, / (exactly rounded
by IEEE 754 on every CPU), floor and exponent scaling (exact), so their results are fixed by
the algorithm, not by the machine. They are compiled with Numba without fast-math, so LLVM
neither reorders nor fuses the arithmetic (no FMA contraction).

Algorithms: exp and log are fdlibm's (Sun Microsystems, 1993; e_exp.c and e_log.c: error
below 1 ulp); log1p(x) = log(1 + x) * x / ((1 + x) - 1) (Goldberg 1991, a few ulp);
pow(b, y) = exp(y * log(b)) for b > 0 (relative error about |y log b| ulp: fine for growth
factors, never used for money); the normal quantile is Wichura's AS241 (PPND16, 1988: about
1e-16), the algorithm of Python's `statistics.NormalDist.inv_cdf`.

Anything that feeds a draw, a count or a cent uses these, never NumPy's transcendental ufuncs
(tests/unit/test_portable_math.py runs a population with NumPy's CPU features reduced).
"""

from __future__ import annotations

import math

import numpy as np

from engine.model.jit import jit, jit_entry

_LN2_HI = 6.93147180369123816490e-01  # ln 2, upper 32 bits: k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_EXP_OVER = 7.09782712893383973096e02
_EXP_UNDER = -7.45133219101941108420e02
_SQRT_HALF = 0.70710678118654752440


@jit
def exp(x):
    """e**x (fdlibm e_exp.c): x = k ln2 + r, |r| <= ln2 / 2, then a rational approximation
    of e**r, scaled by 2**k."""
    if x != x:
        return x
    if x > _EXP_OVER:
        return math.inf
    if x < _EXP_UNDER:
        return 0.0
    k = math.floor(x * _INV_LN2 + 0.5)
    hi = x - k * _LN2_HI
    lo = k * _LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (
        1.66666666666666019037e-01
        + t
        * (
            -2.77777777770155933842e-03
            + t
            * (
                6.61375632143793436117e-05
                + t * (-1.65339022054652515390e-06 + t * 4.13813679705723846039e-08)
            )
        )
    )
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    return math.ldexp(y, int(k))


@jit
def log(x):
    """Natural logarithm (fdlibm e_log.c): x = 2**e * m with m in [sqrt(1/2), sqrt(2)),
    log m = 2 atanh(f / (2 + f)) by a polynomial in s**2, f = m - 1."""
    if x != x or x == math.inf:
        return x
    if x == 0.0:
        return -math.inf
    if x < 0.0:
        return math.nan
    m, e = math.frexp(x)
    if m < _SQRT_HALF:
        m *= 2.0
        e -= 1
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (
        3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01)
    )
    t2 = z * (
        6.666666666666735130e-01
        + w
        * (2.857142874366239149e-01 + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01))
    )
    r = t2 + t1
    hfsq = 0.5 * f * f
    k = np.float64(e)
    return k * _LN2_HI - ((hfsq - (s * (hfsq + r) + k * _LN2_LO)) - f)


@jit
def log1p(x):
    """log(1 + x), accurate for small x: log(u) * x / (u - 1) with u = 1 + x rounded
    (the rounding error of u cancels)."""
    u = 1.0 + x
    if u == 1.0:
        return x
    if u == math.inf:
        return u
    return log(u) * (x / (u - 1.0))


@jit
def pow(b, y):  # noqa: A001 - the name of the function it replaces
    """b**y for b > 0 (b <= 0: NaN), as exp(y log b); y == 0 gives 1."""
    if y == 0.0:
        return 1.0
    if not b > 0.0:
        return math.nan
    return exp(y * log(b))


@jit
def normal_quantile(p):
    """The standard normal quantile of p in (0, 1) (Wichura, AS241 PPND16)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        num = (
            (
                (
                    (
                        (
                            (
                                (2.5090809287301226727e3 * r + 3.3430575583588128105e4) * r
                                + 6.7265770927008700853e4
                            )
                            * r
                            + 4.5921953931549871457e4
                        )
                        * r
                        + 1.3731693765509461125e4
                    )
                    * r
                    + 1.9715909503065514427e3
                )
                * r
                + 1.3314166789178437745e2
            )
            * r
            + 3.3871328727963666080e0
        ) * q
        den = (
            (
                (
                    (
                        (
                            (5.2264952788528545610e3 * r + 2.8729085735721942674e4) * r
                            + 3.9307895800092710610e4
                        )
                        * r
                        + 2.1213794301586595867e4
                    )
                    * r
                    + 5.3941960214247511077e3
                )
                * r
                + 6.8718700749205790830e2
            )
            * r
            + 4.2313330701600911252e1
        ) * r + 1.0
        return num / den
    r = p if q <= 0.0 else 1.0 - p
    r = math.sqrt(-log(r))  # sqrt is exactly rounded (IEEE 754)
    if r <= 5.0:
        r = r - 1.6
        num = (
            (
                (
                    (
                        (
                            (7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r
                            + 2.41780725177450611770e-1
                        )
                        * r
                        + 1.27045825245236838258e0
                    )
                    * r
                    + 3.64784832476320460504e0
                )
                * r
                + 5.76949722146069140550e0
            )
            * r
            + 4.63033784615654529590e0
        ) * r + 1.42343711074968357734e0
        den = (
            (
                (
                    (
                        (
                            (1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r
                            + 1.51986665636164571966e-2
                        )
                        * r
                        + 1.48103976427480074590e-1
                    )
                    * r
                    + 6.89767334985100004550e-1
                )
                * r
                + 1.67638483018380384940e0
            )
            * r
            + 2.05319162663775882187e0
        ) * r + 1.0
    else:
        r = r - 5.0
        num = (
            (
                (
                    (
                        (
                            (2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                            + 1.24266094738807843860e-3
                        )
                        * r
                        + 2.65321895265761230930e-2
                    )
                    * r
                    + 2.96560571828504891230e-1
                )
                * r
                + 1.78482653991729133580e0
            )
            * r
            + 5.46378491116411436990e0
        ) * r + 6.65790464350110377720e0
        den = (
            (
                (
                    (
                        (
                            (2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r
                            + 1.84631831751005468180e-5
                        )
                        * r
                        + 7.86869131145613259100e-4
                    )
                    * r
                    + 1.48753612908506148525e-2
                )
                * r
                + 1.36929880922735805310e-1
            )
            * r
            + 5.99832206555887937690e-1
        ) * r + 1.0
    x = num / den
    return -x if q < 0.0 else x


# ------------------------------------------------------------------------- array versions
@jit_entry
def _exp_into(x, out):
    for i in range(x.shape[0]):
        out[i] = exp(x[i])


@jit_entry
def _log1p_into(x, out):
    for i in range(x.shape[0]):
        out[i] = log1p(x[i])


@jit_entry
def _pow_into(b, y, out):
    for i in range(b.shape[0]):
        out[i] = pow(b[i], y[i])


@jit_entry
def _normal_quantile_into(p, out):
    for i in range(p.shape[0]):
        out[i] = normal_quantile(p[i])


def _unary(kernel, x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    flat = np.ascontiguousarray(x).ravel()
    out = np.empty_like(flat)
    kernel(flat, out)
    return out.reshape(x.shape)


def exp_array(x) -> np.ndarray:
    """`exp` element-wise (float64)."""
    return _unary(_exp_into, x)


def log1p_array(x) -> np.ndarray:
    """`log1p` element-wise (float64)."""
    return _unary(_log1p_into, x)


def normal_quantile_array(p) -> np.ndarray:
    """`normal_quantile` element-wise (float64)."""
    return _unary(_normal_quantile_into, p)


def pow_array(b, y) -> np.ndarray:
    """`pow` element-wise, broadcasting b and y (float64)."""
    b, y = np.broadcast_arrays(np.asarray(b, dtype=np.float64), np.asarray(y, dtype=np.float64))
    out = np.empty(b.size, dtype=np.float64)
    _pow_into(np.ascontiguousarray(b).ravel(), np.ascontiguousarray(y).ravel(), out)
    return out.reshape(b.shape)
