"""512-bit vectors as Numba values: the registers of the packed GEMM's tiles (_packed.py).

Numba has no vector type, and its loops vectorise only what LLVM's cost model
picks. A GEMM tile needs more: a few dozen vector accumulators that live in
registers across the whole K loop. This file gives Numba a type for one
512-bit register (16 float32 or 8 float64 lanes: LLVM's `<16 x float>` /
`<8 x double>`; on an AVX2 CPU LLVM holds each in two 256-bit registers and
runs each operation as two) and the four operations a tile needs, each
lowered to one LLVM instruction:

    vload(row, j)      the lanes row[j : j + lanes] (unaligned load)
    vstore(row, j, v)  row[j : j + lanes] = v
    vsplat(x)          every lane = the scalar x
    vfma(a, b, c)      a * b + c lane by lane, one rounding (llvm.fma)
    vadd(a, b)         a + b lane by lane

and those _vmath.py's sigmoid and tanh need:

    vsub, vmul(a, b)   a - b, a * b lane by lane
    vabs(a)            |a| (llvm.fabs)
    vfloor(a)          a rounded down to an integer
    vless(a, b, x, y)  x where a < b, else y (NaN compares false), lane by lane
    vdiv(a, b)         a / b lane by lane
    vldexp(a, n)       a * 2^n for integral n (given as floats), from exponent bits

`row` is a 1-D array with unit stride; nothing checks the bounds, so the
callers keep j + lanes <= row.size. These run compiled only: under
NUMBA_DISABLE_JIT the packed GEMM takes its NumPy path and never calls them.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

VECTOR_BYTES = 64  # one AVX-512 register; LLVM splits it in two on AVX2


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


def _binary(instruction):
    """An intrinsic for one LLVM binary instruction on two vectors (builder method name)."""
    @intrinsic
    def operation(typingctx, a, b):
        def codegen(context, builder, signature, args):
            return getattr(builder, instruction)(args[0], args[1])

        return a(a, b), codegen

    return operation


vsub, vmul, vdiv = _binary("fsub"), _binary("fmul"), _binary("fdiv")


def _llvm_function(builder, name, vector_type, arity):
    """llvm.<name>.v<lanes><f32|f64>, the overloaded LLVM intrinsic for this vector type."""
    return cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vector_type, [vector_type] * arity),
        f"llvm.{name}.v{vector_type.count}{vector_type.element.intrinsic_name}")


def _unary(name):
    """An intrinsic for the overloaded LLVM intrinsic llvm.<name> of one vector."""
    @intrinsic
    def operation(typingctx, a):
        def codegen(context, builder, signature, args):
            return builder.call(_llvm_function(builder, name, args[0].type, 1), args)

        return a(a), codegen

    return operation


vabs, vfloor = _unary("fabs"), _unary("floor")


@intrinsic
def vless(typingctx, a, b, x, y):
    def codegen(context, builder, signature, args):
        # one vmaxps / vminps / blend: LLVM matches the compare and select
        return builder.select(builder.fcmp_ordered("<", args[0], args[1]), args[2], args[3])

    return x(a, b, x, y), codegen


@intrinsic
def vldexp(typingctx, a, n):
    """a * 2^n for integral n in the float lanes of n, with exponent bits (as _math._exp_f32)."""
    def codegen(context, builder, signature, args):
        vector_type = args[0].type
        lanes, single = vector_type.count, vector_type.element == ir.FloatType()
        bits = ir.IntType(32 if single else 64)
        integers = ir.VectorType(bits, lanes)

        def splat(value):
            return ir.Constant(integers, [value] * lanes)

        k = builder.fptosi(args[1], integers)
        # 2^n in two halves, so that results in the subnormal range round once
        halves = (builder.ashr(k, splat(1)),)
        halves += (builder.sub(k, halves[0]),)
        bias, shift = (127, 23) if single else (1023, 52)
        result = args[0]
        for half in halves:
            power = builder.bitcast(builder.shl(builder.add(half, splat(bias)), splat(shift)),
                                    vector_type)
            result = builder.fmul(result, power)
        return result

    return a(a, n), codegen
