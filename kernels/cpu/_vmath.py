"""Sigmoid and tanh on a whole register of float32 lanes, for the fused cells.

_math.py's loops apply one activation to one row at a time; the LSTM cell
calls five of them and four more loops per row, each a pass over memory. The
fused cells (lstm._cell_forward_fused, gru._cell_forward_after_fused and
simple_rnn._tanh_of_sum) instead take 16 units at a time through all of it
in registers, and need the activations as functions of a register: these,
the same Cephes formulas as _math._exp_f32 and _tanh_f32, operation for
operation on 16 lanes (_vectors.py). NaN stays NaN, +-inf saturates.
"""

import numpy as np

from ._packed import has_vector_registers
from ._vectors import vabs, vadd, vcopysign, vdiv, vfloor, vfma, vldexp, vless, vmul, vsplat, vsub

_f = np.float32


def fuses(dtype, H, activation, recurrent_activation=None):
    """True when a cell's gate arithmetic runs on these registers (lstm._cell_forward_fused,
    gru._cell_forward_after_fused, simple_rnn._tanh_of_sum): float32, H a multiple of
    16, Keras's default activations (tanh, and sigmoid for the gates of a cell that has
    a recurrent_activation), on a CPU with AVX-512 or AVX2 (where _packed.py packs;
    with AVX2, LLVM runs each 16-lane operation as two of 8 lanes)."""
    return (np.dtype(dtype) == np.float32 and H % 16 == 0 and activation == "tanh"
            and recurrent_activation in (None, "sigmoid") and has_vector_registers())


def _inline(function):
    """Compiled and inlined into its callers (a register value in, one out)."""
    from numba import njit

    return njit(inline="always", error_model="numpy", nogil=True, cache=True)(function)


@_inline
def vexp(x):
    """exp of every lane: exp(r) · 2^n, n = round(x / ln 2), |r| <= ln 2 / 2."""
    low, high = vsplat(_f(-103.972)), vsplat(_f(88.7228))
    x = vless(x, low, low, x)  # beyond these, 0 and inf (NaN compares false and stays)
    x = vless(high, x, high, x)
    n = vfloor(vfma(x, vsplat(_f(1.44269504088896341)), vsplat(_f(0.5))))
    r = vfma(n, vsplat(_f(-0.693359375)), x)  # x - n·ln 2, ln 2 in two parts
    r = vfma(n, vsplat(_f(2.12194440e-4)), r)
    p = vsplat(_f(1.9875691500e-4))
    p = vfma(p, r, vsplat(_f(1.3981999507e-3)))
    p = vfma(p, r, vsplat(_f(8.3334519073e-3)))
    p = vfma(p, r, vsplat(_f(4.1665795894e-2)))
    p = vfma(p, r, vsplat(_f(1.6666665459e-1)))
    p = vfma(p, r, vsplat(_f(5.0000001201e-1)))
    p = vfma(p, vmul(r, r), vadd(r, vsplat(_f(1.0))))
    return vldexp(p, n)


@_inline
def vsigmoid(x):
    """1 / (1 + exp(-x)) as e / (1 + e) or 1 / (1 + e), e = exp(-|x|) <= 1 (never overflows)."""
    zero, one = vsplat(_f(0.0)), vsplat(_f(1.0))
    e = vexp(vsub(zero, vabs(x)))
    return vdiv(vless(x, zero, e, one), vadd(one, e))


@_inline
def vtanh(x):
    """tanh: 1 - 2e / (1 + e), e = exp(-2|x|), for |x| >= 0.625; an odd polynomial below
    (where 1 - 2e / (1 + e) would lose digits to cancellation)."""
    one = vsplat(_f(1.0))
    e = vexp(vmul(vsplat(_f(-2.0)), vabs(x)))
    large = vcopysign(vfma(vsplat(_f(-2.0)), vdiv(e, vadd(one, e)), one), x)
    z = vmul(x, x)
    p = vsplat(_f(-5.70498872745e-3))
    p = vfma(p, z, vsplat(_f(2.06390887954e-2)))
    p = vfma(p, z, vsplat(_f(-5.37397155531e-2)))
    p = vfma(p, z, vsplat(_f(1.33314422036e-1)))
    p = vfma(p, z, vsplat(_f(-3.33332819422e-1)))
    small = vfma(vmul(p, z), x, x)
    return vless(vabs(x), vsplat(_f(0.625)), small, large)
