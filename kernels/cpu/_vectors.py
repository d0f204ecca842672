"""512-bit vectors as Numba values: the registers of the packed GEMM's tiles (_packed.py).

Numba has no vector type, and its loops vectorise only what LLVM's cost model
picks. A GEMM tile needs more: a few dozen vector accumulators that live in
registers across the whole K loop. This file gives Numba a type for one
512-bit register (16 float32 or 8 float64 lanes: LLVM's `<16 x float>` /
`<8 x double>`) and the four operations a tile needs, each lowered to one
LLVM instruction:

    vload(row, j)      the lanes row[j : j + lanes] (unaligned load)
    vstore(row, j, v)  row[j : j + lanes] = v
    vsplat(x)          every lane = the scalar x
    vfma(a, b, c)      a * b + c lane by lane, one rounding (llvm.fma)
    vadd(a, b)         a + b lane by lane

`row` is a 1-D array with unit stride; nothing checks the bounds, so the
callers keep j + lanes <= row.size. These run compiled only: under
NUMBA_DISABLE_JIT the packed GEMM takes its NumPy path and never calls them.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

VECTOR_BYTES = 64  # one AVX-512 register


class Vector(types.Type):
    """One 512-bit register of `dtype` lanes (float32 or float64)."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.lanes = VECTOR_BYTES // (dtype.bitwidth // 8)
        super().__init__(name=f"Vector({dtype} x {self.lanes})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        lane = ir.FloatType() if fe_type.dtype == types.float32 else ir.DoubleType()
        super().__init__(dmm, fe_type, ir.VectorType(lane, fe_type.lanes))


def _address(context, builder, array_type, array, index, vector_type):
    """A pointer to the vector that starts at array[index]."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [index]), vector_type.as_pointer())


@intrinsic
def vload(typingctx, row, j):
    vector = Vector(row.dtype)

    def codegen(context, builder, signature, args):
        pointer = _address(context, builder, row, args[0], args[1],
                           context.get_value_type(vector))
        return builder.load(pointer, align=row.dtype.bitwidth // 8)

    return vector(row, j), codegen


@intrinsic
def vstore(typingctx, row, j, value):
    def codegen(context, builder, signature, args):
        pointer = _address(context, builder, row, args[0], args[1], args[2].type)
        builder.store(args[2], pointer, align=row.dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.none(row, j, value), codegen


@intrinsic
def vsplat(typingctx, x):
    vector = Vector(x)

    def codegen(context, builder, signature, args):
        vector_type = context.get_value_type(vector)
        undefined = ir.Constant(vector_type, ir.Undefined)
        first = builder.insert_element(undefined, args[0], ir.Constant(ir.IntType(32), 0))
        lane_zero = ir.Constant(ir.VectorType(ir.IntType(32), vector.lanes), [0] * vector.lanes)
        return builder.shuffle_vector(first, undefined, lane_zero)

    return vector(x), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    def codegen(context, builder, signature, args):
        vector_type = args[0].type
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vector_type, [vector_type] * 3),
            f"llvm.fma.v{vector_type.count}{vector_type.element.intrinsic_name}")
        return builder.call(fma, args)

    return a(a, b, c), codegen


@intrinsic
def vadd(typingctx, a, b):
    def codegen(context, builder, signature, args):
        return builder.fadd(args[0], args[1])

    return a(a, b), codegen
