"""Where rules act in the kernel: intake, reindication, date and monthly (DESIGN section 4).

The baseline has no rules: these hooks return at once. Rules compiled to arrays in
`Params` are applied here (the rules issue fills them in).
"""

from numba import njit


@njit(cache=True, inline="always", _nrt=False)
def rules_at_intake(S, P, B, ch, c, a, m, t):
    return


@njit(cache=True, inline="always", _nrt=False)
def rules_at_reindication(S, P, B, ch, c, a, m, t):
    return


@njit(cache=True, inline="always", _nrt=False)
def rules_date_monthly(S, P, B, ch, c, m, t):
    return
