"""Sigmoid and tanh on a whole register of float32 lanes, for the fused cells.

_math.py's loops apply one activation to one row at a time; the LSTM cell
calls five of them and four more loops per row, each a pass over memory. The
fused cells (lstm._cell_forward_fused, gru._cell_forward_after_fused and
simple_rnn._tanh_of_sum) instead take 16 units at a time through all of it
in registers, and need the activations as functions of a register (16
lanes, _vectors.py). NaN stays NaN, +-inf saturates.

- vexp and vsigmoid: the Cephes formulas of _math._exp_f32, operation for
  operation; within 1e-7 of the truth, as the scalar loops.
- vtanh: a rational function, x P(x²) / Q(x²) of degrees 13 over 6, on x
  clamped to [-7.9, 7.9] (beyond, tanh is 1 to float32's precision). Cephes's
  tanh (_math._tanh_f32) takes an exp, a division and a polynomial on every
  lane, about 42 operations; this takes 14, and the fused LSTM cell's
  arithmetic, two tanh and three sigmoids per 16 units, ran 58 -> 35 ns a
  group of 16 (128 rows x 256 units, one core). The price is accuracy:
  within 3.3e-7 of the truth (5.5 float32 ulps), where Cephes's is within
  1e-7; |tanh| <= 1 and tanh(-x) = -tanh(x) exactly. The coefficients are
  this project's own fit (tests/test_kernels.py re-derives them): tanh(x)/x
  = P(s)/Q(s) with s = x²/7.9², constant terms 1, by linearised weighted
  least squares on 18,000 points of (0, 7.9], reweighted toward the minimax
  relative error (Lawson), then scaled back to powers of x².
"""

import functools

import numpy as np

from ._math import jit_inline
from ._packed import has_vector_registers
from ._vectors import vabs, vadd, vdiv, vfloor, vfma, vldexp, vless, vmul, vsplat, vsub

_f = np.float32


@functools.lru_cache(maxsize=256)  # a pure function of its arguments, asked every call
def fuses(dtype, H, activation, recurrent_activation=None):
    """True when a cell's gate arithmetic runs on these registers (lstm._cell_forward_fused,
    gru._cell_forward_after_fused, simple_rnn._tanh_of_sum): float32, H a multiple of
    16, Keras's default activations (tanh, and sigmoid for the gates of a cell that has
    a recurrent_activation), on a CPU with AVX-512 or AVX2 (where _packed.py packs;
    with AVX2, LLVM runs each 16-lane operation as two of 8 lanes)."""
    return (np.dtype(dtype) == np.float32 and H % 16 == 0 and activation == "tanh"
            and recurrent_activation in (None, "sigmoid") and has_vector_registers())


@jit_inline
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


@jit_inline
def vsigmoid(x):
    """1 / (1 + exp(-x)) as e / (1 + e) or 1 / (1 + e), e = exp(-|x|) <= 1 (never overflows)."""
    zero, one = vsplat(_f(0.0)), vsplat(_f(1.0))
    e = vexp(vsub(zero, vabs(x)))
    return vdiv(vless(x, zero, e, one), vadd(one, e))


# vtanh's rational function: tanh(x) = x P(x²) / Q(x²) for |x| <= _TANH_CLAMP
_TANH_CLAMP = 7.9
_TANH_P = (1.0, 0.1312936693429947, 0.003155028447508812, 1.1704108146659564e-05,
           -2.258642339825201e-08, 6.513838773924974e-11, -1.201079708780528e-13)
_TANH_Q = (1.0, 0.4646269977092743, 0.024697378277778625, 0.00026213485398329794)
_p0, _p1, _p2, _p3, _p4, _p5, _p6 = (_f(c) for c in _TANH_P)
_q0, _q1, _q2, _q3 = (_f(c) for c in _TANH_Q)
_clamp = _f(_TANH_CLAMP)


@jit_inline
def vtanh(x):
    """tanh: x P(x²) / Q(x²), Horner's rule on both, x clamped to +-7.9 first (a NaN
    compares false and stays)."""
    x = vless(x, vsplat(-_clamp), vsplat(-_clamp), x)
    x = vless(vsplat(_clamp), x, vsplat(_clamp), x)
    u = vmul(x, x)
    p = vfma(vsplat(_p6), u, vsplat(_p5))
    p = vfma(p, u, vsplat(_p4))
    p = vfma(p, u, vsplat(_p3))
    p = vfma(p, u, vsplat(_p2))
    p = vfma(p, u, vsplat(_p1))
    p = vfma(p, u, vsplat(_p0))
    q = vfma(vsplat(_q3), u, vsplat(_q2))
    q = vfma(q, u, vsplat(_q1))
    q = vfma(q, u, vsplat(_q0))
    return vdiv(vmul(x, p), q)
