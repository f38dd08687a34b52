"""The rule hooks as a test calls them: an out-of-line hook takes the pinned (S, P, w, seq, B),
or its leading (S, P, w, seq) for a hook that books nothing (engine.model.frame), so each
function here pins it, as the kernel's entry points do, calls the hook and clears the pin."""

from numba import njit

from engine.model import hooks
from engine.model.frame import frame, frame_sp, pin
from engine.model.layout import W_FRAME


@njit(_nrt=False)
def apply_rule(S, P, B, ch, c, a, r, m, t, w, seq, moment):
    w[W_FRAME] = pin((S, P, w, seq, B))
    hooks.apply_rule(frame(S, P, B, w, seq), ch, c, a, r, m, t, moment)
    w[W_FRAME] = 0


@njit(_nrt=False)
def would_act(S, P, B, c, a, r, m, t, w, seq, moment):
    w[W_FRAME] = pin((S, P, w, seq, B))
    out = hooks.would_act(frame(S, P, B, w, seq), c, a, r, m, t, moment)
    w[W_FRAME] = 0
    return out


@njit(_nrt=False)
def reind_outcome(S, P, c, a, m, g, w, seq, u, c0, c1, c2):
    w[W_FRAME] = pin((S, P, w, seq))
    out = hooks.reind_outcome(frame_sp(S, P, w, seq), c, a, m, g, u, c0, c1, c2)
    w[W_FRAME] = 0
    return out


@njit(_nrt=False)
def goal_wait(S, P, c, a, te, w, seq):
    w[W_FRAME] = pin((S, P, w, seq))
    out = hooks.goal_wait(frame_sp(S, P, w, seq), c, a, te)
    w[W_FRAME] = 0
    return out


@njit(_nrt=False)
def admit(S, P, c, m, u, p, w, seq):
    w[W_FRAME] = pin((S, P, w, seq))
    out = hooks.admit(frame_sp(S, P, w, seq), c, m, u, p)
    w[W_FRAME] = 0
    return out


@njit(_nrt=False)
def rules_at(S, P, B, ch, c, a, m, t, w, seq, moment):
    w[W_FRAME] = pin((S, P, w, seq, B))
    hooks.rules_at(frame(S, P, B, w, seq), ch, c, a, m, t, moment)
    w[W_FRAME] = 0


@njit(_nrt=False)
def segment_events(S, P, B, ch, a, p, t0, t1, g, step, w, seq):
    w[W_FRAME] = pin((S, P, w, seq, B))
    out = hooks.segment_events(frame(S, P, B, w, seq), ch, a, p, t0, t1, g, step)
    w[W_FRAME] = 0
    return out
