"""Elementwise maths of the compiled loops: activations, their derivatives, exp and tanh.

Activations travel into the loops as the integer codes of
`kernels.activations.CODES` (the one list every kernel set uses); the
formulas are that module's. Each function works on one row, a 1-D array,
in place, with one loop that LLVM can vectorise.

Derivatives are written with the output y = activation(x) (sigmoid y(1-y),
tanh 1-y², ...), so the caches keep activated gates and no pre-activations.

exp and tanh are written out (`_exp_f32`, `_tanh_f64`, ...) instead of calling
libm, because a libm call stops LLVM from vectorising a loop (about 20x slower).
They are the Cephes polynomials, within 2 ulp of NumPy's, evaluated with
`muladd` (one rounding per multiply-add where the CPU has FMA, which LLVM
never uses on its own without fastmath). No `fastmath`: results stay within
1e-5 (float32) and 1e-10 (float64) of the reference.
Under `NUMBA_DISABLE_JIT=1`, `_exp` and `_tanh` are NumPy's.
"""

import math

import numpy as np

from ..activations import CODES

try:
    from llvmlite import ir
    from numba import njit, prange, types
    from numba.extending import intrinsic, overload

    NUMBA_ERROR = None
except ImportError as error:  # the set reports itself unavailable; nothing below runs
    NUMBA_ERROR = error

    def njit(*args, **kwargs):
        return lambda function: function

    overload = intrinsic = njit
    prange = range

# error_model="numpy": a division by zero gives inf/nan instead of raising, which
# is NumPy's behaviour and, without the zero checks, lets LLVM vectorise the loops.
# nogil: the row chunks of one call run in several threads (_parallel.py).
jit = njit(cache=True, error_model="numpy", nogil=True)
# The drivers that run a call's row chunks on all cores (_parallel.py): a prange over
# the chunks, on Numba's threading layer.
jit_chunks = njit(cache=True, error_model="numpy", nogil=True, parallel=True)
# Small helpers on register values (_vmath's activations, _packed's row step), inlined
# into their callers at Numba's level so that the values stay in registers.
jit_inline = njit(inline="always", cache=True, error_model="numpy", nogil=True)
_overload_options = {"error_model": "numpy"}



def wide_vectors():
    """Lets LLVM vectorise the calling function's loops 512 bits wide (no-op in Python).

    LLVM vectorises 256 bits wide on AVX-512 CPUs unless a function asks for
    more (Skylake-SP clocked down on 512-bit instructions); on this project's
    Emerald Rapids machine the 512-bit loops give bit-identical results and
    sigmoid and tanh rows 18-20% faster. Each compiled function is vectorised
    in its own module before it is inlined, so every function with a hot loop
    calls this first; on CPUs without AVX-512 it changes nothing.
    """


@intrinsic
def _prefer_512_bit_vectors(typingctx):
    def codegen(context, builder, signature, args):
        # The function attribute clang's -mprefer-vector-width=512 sets. llvmlite
        # checks attribute names against a list without this one, so it goes into
        # the underlying set, which llvmlite writes out as given.
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


# inline="always": the call is inlined in Numba's own IR, so the intrinsic lowers
# inside the caller and marks the caller, not a function of its own.
@overload(wide_vectors, jit_options=_overload_options, inline="always")
def _wide_vectors_typed():
    return lambda: _prefer_512_bit_vectors()


def muladd(a, b, c):
    """a * b + c, as one fused multiply-add where the CPU has FMA (no-op rewrite in Python).

    LLVM never fuses a multiply and an add on its own without fastmath, and
    the polynomials below are chains of them: fused, sigmoid and tanh rows run
    about 30% faster. A fused step rounds once instead of twice, so results are
    as accurate or more; on a CPU without FMA it is the plain multiply and add.
    """
    return a * b + c


@intrinsic
def _fmuladd(typingctx, a, b, c):
    def codegen(context, builder, signature, args):
        value = args[0].type
        function = builder.module.declare_intrinsic(
            "llvm.fmuladd", [value], ir.FunctionType(value, [value] * 3))
        return builder.call(function, args)

    return a(a, b, c), codegen


@overload(muladd, jit_options=_overload_options, inline="always")
def _muladd_typed(a, b, c):
    if a == b == c and isinstance(a, types.Float):
        return lambda a, b, c: _fmuladd(a, b, c)


LINEAR = CODES["linear"]
SIGMOID = CODES["sigmoid"]
TANH = CODES["tanh"]
RELU = CODES["relu"]
HARD_SIGMOID = CODES["hard_sigmoid"]


@jit
def copy(src, dst):
    """dst[:] = src for 1-D rows (a plain loop compiles much faster than slice assignment)."""
    wide_vectors()
    for k in range(dst.size):
        dst[k] = src[k]


@jit
def fill(dst, value):
    """dst[:] = value for a 1-D row."""
    wide_vectors()
    for k in range(dst.size):
        dst[k] = value


@jit
def activate(code, a):
    """a = activation(a) in place (the formulas of kernels.activations)."""
    wide_vectors()
    one, zero = a.dtype.type(1.0), a.dtype.type(0.0)
    if code == SIGMOID:
        for k in range(a.size):
            x = a[k]
            e = _exp(-abs(x))  # never overflows
            a[k] = (one if x >= zero else e) / (one + e)
    elif code == TANH:
        for k in range(a.size):
            a[k] = _tanh(a[k])
    elif code == RELU:
        for k in range(a.size):
            a[k] = max(a[k], zero)  # keeps NaN, as np.maximum does
    elif code == HARD_SIGMOID:
        six, half = a.dtype.type(6.0), a.dtype.type(0.5)
        for k in range(a.size):
            x = a[k] / six + half
            a[k] = min(max(x, zero), one)  # keeps NaN, as np.clip does


@jit
def scale_by_derivative(code, d, y):
    """d *= activation'(x) in place, written with the output y = activation(x)."""
    wide_vectors()
    one, zero = y.dtype.type(1.0), y.dtype.type(0.0)
    if code == SIGMOID:
        for k in range(d.size):
            d[k] = d[k] * (y[k] * (one - y[k]))
    elif code == TANH:
        for k in range(d.size):
            d[k] = d[k] * (one - y[k] * y[k])
    elif code == RELU:
        for k in range(d.size):
            d[k] = d[k] * (one if y[k] > zero else zero)
    elif code == HARD_SIGMOID:
        sixth = one / y.dtype.type(6.0)
        for k in range(d.size):
            d[k] = d[k] * (sixth if (y[k] > zero) & (y[k] < one) else zero)


# ----------------------------------------------------------------------------
# exp and tanh that LLVM can vectorise (Cephes expf/exp, tanhf/tanh)
# ----------------------------------------------------------------------------


def _exp(x):
    """exp(x): NumPy's in plain Python; `_exp_f32`/`_exp_f64` when compiled."""
    return np.exp(x)


def _tanh(x):
    """tanh(x): NumPy's in plain Python; `_tanh_f32`/`_tanh_f64` when compiled."""
    return np.tanh(x)


@overload(_exp, jit_options=_overload_options)
def _exp_typed(x):
    return _exp_f32 if x == types.float32 else _exp_f64


@overload(_tanh, jit_options=_overload_options)
def _tanh_typed(x):
    return _tanh_f32 if x == types.float32 else _tanh_f64


def _exp_f32(x):
    # exp(x) = 2^n · exp(r), n = round(x / ln 2), |r| <= ln2 / 2, exp(r) by a polynomial.
    f = np.float32
    x = min(max(x, f(-103.972)), f(88.7228))  # beyond these, 0 and inf
    n = np.floor(muladd(x, f(1.44269504088896341), f(0.5)))
    r = muladd(n, f(-0.693359375), x)  # x - n·ln 2, ln 2 in two parts: n·ln2 exact
    r = muladd(n, f(2.12194440e-4), r)
    p = f(1.9875691500e-4)
    p = muladd(p, r, f(1.3981999507e-3))
    p = muladd(p, r, f(8.3334519073e-3))
    p = muladd(p, r, f(4.1665795894e-2))
    p = muladd(p, r, f(1.6666665459e-1))
    p = muladd(p, r, f(5.0000001201e-1))
    p = muladd(p, r * r, r + f(1.0))
    # 2^n from the exponent bits, in two halves so that subnormal results come out right
    n1 = np.int32(n) >> 1
    n2 = np.int32(n) - n1
    return (
        p
        * np.int32((n1 + 127) << 23).view(np.float32)
        * np.int32((n2 + 127) << 23).view(np.float32)
    )


def _exp_f64(x):
    # As _exp_f32, with Cephes's rational approximation of exp(r) for double precision.
    x = min(max(x, -745.2), 709.78)
    n = np.floor(muladd(x, 1.4426950408889634073599, 0.5))
    r = muladd(n, -6.93145751953125e-1, x)
    r = muladd(n, -1.42860682030941723212e-6, r)
    rr = r * r
    p = muladd(1.26177193074810590878e-4, rr, 3.02994407707441961300e-2)
    p = r * muladd(p, rr, 9.99999999999999999910e-1)
    q = muladd(3.00198505138664455042e-6, rr, 2.52448340349684104192e-3)
    q = muladd(q, rr, 2.27265548208155028766e-1)
    q = muladd(q, rr, 2.00000000000000000009e0)
    p = muladd(2.0, p / (q - p), 1.0)
    # round-to-integer by the 1.5·2^52 trick: AVX2 has no vector double -> int64
    k = np.float64(n + 6755399441055744.0).view(np.int64) - np.int64(0x4338000000000000)
    n1 = k >> 1
    n2 = k - n1
    return (
        p
        * np.int64((n1 + 1023) << 52).view(np.float64)
        * np.int64((n2 + 1023) << 52).view(np.float64)
    )


def _tanh_f32(x):
    # |x| >= 0.625: 1 - 2e / (1 + e) with e = exp(-2|x|); below, an odd polynomial
    # (1 - 2e/(1 + e) would lose digits to cancellation there).
    f = np.float32
    e = _exp(f(-2.0) * abs(x))
    large = math.copysign(muladd(f(-2.0), e / (f(1.0) + e), f(1.0)), x)
    z = x * x
    p = f(-5.70498872745e-3)
    p = muladd(p, z, f(2.06390887954e-2))
    p = muladd(p, z, f(-5.37397155531e-2))
    p = muladd(p, z, f(1.33314422036e-1))
    p = muladd(p, z, f(-3.33332819422e-1))
    small = muladd(p * z, x, x)
    return large if abs(x) >= f(0.625) else small


def _tanh_f64(x):
    e = _exp(-2.0 * abs(x))
    large = math.copysign(muladd(-2.0, e / (1.0 + e), 1.0), x)
    z = x * x
    p = muladd(-9.64399179425052238628e-1, z, -9.92877231001918586564e1)
    p = muladd(p, z, -1.61468768441708447952e3)
    q = muladd(z + 1.12811678491632931402e2, z, 2.23548839060100448583e3)
    q = muladd(q, z, 4.84406305325125486048e3)
    small = muladd(x, z * p / q, x)
    return large if abs(x) >= 0.625 else small
