"""Ask the CPU to load a row of a rule-state array ahead of its first use.

A client's standing under each rule (`S.rule_c[c]`) and its slots' rule state (`S.rule_a`)
are read the first time a rule looks at the client, some way into its first month; clients
are stepped in a stride over the chunks, so that first read missed the cache nearly every
time (perf: the load of the standing was a third of `apply_rule`'s samples in the BOZ
package). Asked for when the client's stepping begins, the row is there when it is read. A
prefetch changes no value and takes no draw.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch_row(typingctx, arr, i):
    """Prefetch the cache line holding arr[i, 0] (a 2-D array; i in range)."""
    if not isinstance(arr, types.Array) or arr.ndim != 2:
        return None

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        row = context.cast(builder, args[1], sig.args[1], types.intp)
        zero = context.get_constant(types.intp, 0)
        ptr = cgutils.get_item_pointer(
            context, builder, sig.args[0], ary, [row, zero], wraparound=False
        )
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read, keep in all cache levels, data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, i), codegen
