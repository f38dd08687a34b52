"""One pointer for the state, parameters, bins, work array and draw stream across an
out-of-line call.

A compiled call passes every array of S, P and B field by field (data, shape, strides, ...):
about 300 values for a rule hook, pushed on the stack at every call. At national scale that
was 28% of the BOZ package's kernel time in `rules_at` alone, with the rule's work a small
part of it. So an entry point pins (S, P, w, seq, B) once, in its own stack frame, and keeps
the address in the work array (`w[W_FRAME] = pin((S, P, w, seq, B))`); an out-of-line
function takes `frame(S, P, B, w, seq)`, one typed pointer, and reads the five back with
`unframe`. The work array and the draw stream ride along too (7 values each as arguments):
with them a hook's call passes the pointer and a few scalars, and the kernel around its call
sites runs faster as well (both kernels 1-3% at national scale: bench/RESULTS.md).

The rules: `pin` only in an out-of-line (`jit_call`) function, the entry point that steps
clients, which clears the pin (`w[W_FRAME] = 0`) before it returns; a function that hands its
callees other arrays (the capacity driver's dry pass books into scratch bins) pins its own;
`frame(S, P, B, w, seq)` with exactly the five the entry point pinned (the types are not
checked at run time: `frame_sp` reads the (S, P, w, seq) at the front of a pinned
(S, P, w, seq, B), for a hook that books nothing). `frame` refuses an unpinned work array
rather than follow a null pointer.
"""

from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

from engine.model.jit import jit
from engine.model.layout import W_FRAME


class Frame(types.Type):
    """A pointer to a pinned (S, P, w, seq, B) or its leading part: the types are part of the
    type."""

    def __init__(self, tup):
        self.tup = tup
        super().__init__(name=f"Frame({tup})")


@register_model(Frame)
class FrameModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, dmm.lookup(fe_type.tup).get_data_type().as_pointer())


@intrinsic
def pin(typingctx, parts):
    """Copy `parts`, (S, P, w, seq, B), into this function's stack frame; its address, for
    w[W_FRAME]."""

    def codegen(context, builder, sig, args):
        dm = context.data_model_manager[parts]
        ptr = cgutils.alloca_once(builder, dm.get_data_type())
        builder.store(dm.as_data(builder, args[0]), ptr)
        return builder.ptrtoint(ptr, cgutils.intp_t)

    return types.int64(parts), codegen


@intrinsic
def _frame_at(typingctx, parts, addr):
    """The frame at addr, typed as `parts`: (S, P, w, seq, B), or (S, P, w, seq), its first
    four (a struct's leading members sit where they sit in the shorter tuple)."""

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[1], context.get_value_type(sig.return_type))

    return Frame(parts)(parts, addr), codegen


@intrinsic
def unframe(typingctx, F):
    """(S, P, w, seq, B), or (S, P, w, seq), from a frame."""

    def codegen(context, builder, sig, args):
        return context.data_model_manager[F.tup].from_data(builder, builder.load(args[0]))

    return F.tup(F), codegen


@jit
def _pinned(w):
    addr = w[W_FRAME]
    if addr == 0:
        raise RuntimeError(
            "no frame pinned: an entry point must set w[W_FRAME] = pin((S, P, w, seq, B))"
        )
    return addr


@jit
def frame(S, P, B, w, seq):
    """The frame pinned for this work array (S, P, B, w, seq: the caller's, for their
    types)."""
    return _frame_at((S, P, w, seq, B), _pinned(w))


@jit
def frame_sp(S, P, w, seq):
    """The same frame for a function that reads no bins: its leading (S, P, w, seq)."""
    return _frame_at((S, P, w, seq), _pinned(w))
