"""The LSTM on the CPU with Numba: BLAS GEMMs plus fused, compiled gate loops.

The equations, names and shapes are reference.py's; see there. This file only
arranges the same work for speed:

- The input projection of all T steps is one GEMM through NumPy's BLAS, in the
  public wrapper (`x @ kernel`, (B*T, I) @ (I, 4H)).
- One jitted time loop (`_forward_loop`) makes the one recurrent GEMM per step
  (`np.dot(h_prev, recurrent_kernel, out)`: Numba calls BLAS) and then one
  fused pass over (b, h) for the gate maths. Nothing in Python per step, and
  every buffer is allocated before the loop.
- Derivatives are taken from the activated outputs (sigmoid y(1-y), tanh
  1-y², ...), so the cache keeps the gates but not the pre-activations
  (`cache.z` is None).
- `_backward_loop` walks the steps in reverse with one GEMM per step for
  dh_prev; after it, one GEMM each gives dkernel, drecurrent_kernel and dx.

exp and tanh are written out (`_exp_f32`, `_tanh_f64`, ...) instead of calling
libm, because libm calls stop LLVM from vectorising the gate loops (about 20x
slower). They are the Cephes polynomials, within 2 ulp of NumPy's. No
`fastmath`: results stay within 1e-5 (float32) and 1e-10 (float64) of the
reference.

To read the loops as plain Python, step through them in a debugger, or check
them without compiling, run with `NUMBA_DISABLE_JIT=1` (slow: minutes, not
milliseconds); `_exp` and `_tanh` are then NumPy's.
"""

import importlib.util
import math

import numpy as np

from .cache import LSTMCache, check_backward_inputs, check_forward_inputs

NAME = "numba"

try:
    from numba import njit, types
    from numba.extending import overload

    _NUMBA_ERROR = None
except ImportError as error:  # the set reports itself unavailable; nothing below runs
    _NUMBA_ERROR = error

    def njit(*args, **kwargs):
        return lambda function: function

    overload = njit

# error_model="numpy": a division by zero gives inf/nan instead of raising, which
# is NumPy's behaviour and, without the zero checks, lets LLVM vectorise the loops.
_jit = njit(cache=True, error_model="numpy")
_overload_options = {"error_model": "numpy"}

# Activations travel into the compiled loops as small integer codes.
LINEAR, SIGMOID, TANH, RELU, HARD_SIGMOID = range(5)
_CODES = {
    "linear": LINEAR,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "relu": RELU,
    "hard_sigmoid": HARD_SIGMOID,
}


def is_available():
    return not unavailable_reason()


def unavailable_reason():
    if isinstance(_NUMBA_ERROR, ModuleNotFoundError):
        return "numba is not installed (pip install numba)."
    if _NUMBA_ERROR is not None:
        return f"numba is installed but failed to import: {_NUMBA_ERROR}."
    if importlib.util.find_spec("scipy") is None:
        # Numba's np.dot calls BLAS through scipy.linalg.cython_blas.
        return "numba's matrix products need scipy, which is not installed (pip install scipy)."
    return ""


# ----------------------------------------------------------------------------
# Public wrappers: checks, the big GEMMs, and the calls into the compiled loops
# ----------------------------------------------------------------------------


def lstm_forward(
    x,
    h0,
    c0,
    kernel,
    recurrent_kernel,
    bias,
    activation="tanh",
    recurrent_activation="sigmoid",
    go_backwards=False,
):
    """Runs the LSTM over all T steps (same contract as reference.lstm_forward).

    Args:
        x: [B, T, I] input sequences, float32 or float64.
        h0, c0: [B, H] initial hidden and cell states.
        kernel: [I, 4H]; recurrent_kernel: [H, 4H]; bias: [4H].
        activation, recurrent_activation: 'tanh', 'sigmoid', 'hard_sigmoid',
            'relu' or 'linear'.
        go_backwards: process the sequence last step first.

    Returns:
        hs, cs: [B, T, H] hidden and cell state after each step (processing
            order), new C-contiguous arrays.
        cache: an LSTMCache; pass it unchanged to `lstm_backward`. Its `x` is
            a contiguous copy in processing order when go_backwards is set,
            `gates` is [B, T, 4H] and `z` is None.
    """
    B, T, I, H = check_forward_inputs(
        x, h0, c0, kernel, recurrent_kernel, bias, activation, recurrent_activation
    )
    if x.dtype.char not in "fd":
        raise NotImplementedError(
            f"The 'numba' kernel set supports float32 and float64, got {x.dtype}. "
            "Use the 'numpy' backend (minilstm.backend.set_backend('numpy')) for other dtypes."
        )
    if go_backwards:
        x = x[:, ::-1]
    x, h0, c0, kernel, recurrent_kernel, bias = map(
        np.ascontiguousarray, (x, h0, c0, kernel, recurrent_kernel, bias)
    )

    # The input part of z does not depend on h, so all steps take one GEMM.
    # The buffer becomes the gates in place; the bias is added inside the loop.
    gates = (x.reshape(B * T, I) @ kernel).reshape(B, T, 4 * H)  # (B, T, 4H)
    hs, cs = _forward_loop(
        gates, h0, c0, recurrent_kernel, bias, _CODES[activation], _CODES[recurrent_activation]
    )

    cache = LSTMCache(
        x=x,
        h0=h0,
        c0=c0,
        kernel=kernel,
        recurrent_kernel=recurrent_kernel,
        hs=hs,
        cs=cs,
        gates=gates,
        z=None,
        activation=activation,
        recurrent_activation=recurrent_activation,
        go_backwards=go_backwards,
    )
    return hs, cs, cache


def lstm_backward(dhs, dh_last, dc_last, cache):
    """BPTT over the whole sequence (same contract as reference.lstm_backward).

    Args:
        dhs: [B, T, H] gradient with respect to every hs[:, t], or None.
        dh_last, dc_last: [B, H] gradients with respect to the final h and c,
            or None.
        cache: the LSTMCache from `lstm_forward`, unchanged. It is only read.

    Returns:
        dx [B, T, I] (in the caller's time order), dh0 [B, H], dc0 [B, H],
        dkernel [I, 4H], drecurrent_kernel [H, 4H], dbias [4H]: new arrays.
    """
    B, T, H = check_backward_inputs(dhs, dh_last, dc_last, cache)
    dtype = cache.hs.dtype
    # The loop carries dL/dh and dL/dc from step to step in these two buffers.
    dh_next = np.zeros((B, H), dtype) if dh_last is None else np.array(dh_last, order="C")
    dc_next = np.zeros((B, H), dtype) if dc_last is None else np.array(dc_last, order="C")
    has_dhs = dhs is not None
    dhs = np.ascontiguousarray(dhs) if has_dhs else np.empty((0, 0, 0), dtype)

    dzs, h_prevs = _backward_loop(
        dhs,
        has_dhs,
        dh_next,
        dc_next,
        cache.h0,
        cache.c0,
        cache.hs,
        cache.cs,
        cache.gates,
        cache.recurrent_kernel,
        _CODES[cache.activation],
        _CODES[cache.recurrent_activation],
    )

    # Σ_t x_tᵀ·dz_t done as one matmul over all B*T rows; same for h_prev.
    dz_rows = dzs.reshape(B * T, 4 * H)
    I = cache.x.shape[2]
    dkernel = cache.x.reshape(B * T, I).T @ dz_rows  # (I, 4H)
    drecurrent_kernel = h_prevs.reshape(B * T, H).T @ dz_rows  # (H, 4H)
    dbias = dz_rows.sum(axis=0)  # (4H,)
    dx = (dz_rows @ cache.kernel.T).reshape(B, T, I)  # (B, T, I)
    if cache.go_backwards:
        dx = np.ascontiguousarray(dx[:, ::-1])
    return dx, dh_next, dc_next, dkernel, drecurrent_kernel, dbias


# ----------------------------------------------------------------------------
# Compiled time loops
# ----------------------------------------------------------------------------


@_jit
def _forward_loop(gates, h0, c0, recurrent_kernel, bias, act_code, rec_code):
    """The T steps of reference.lstm_forward, with the gate maths fused per row.

    Args:
        gates: [B, T, 4H] x_t @ kernel on entry; the activated gates i, f, g, o
            on return (overwritten in place, this is the cache's `gates`).
        h0, c0: [B, H] initial states (only read).
        recurrent_kernel: [H, 4H]; bias: [4H].
        act_code, rec_code: activation codes (LINEAR, SIGMOID, ...).

    Returns:
        hs, cs: [B, T, H] new arrays.
    """
    B, T, H4 = gates.shape
    H = H4 // 4
    hs = np.empty((B, T, H), gates.dtype)
    cs = np.empty((B, T, H), gates.dtype)
    h_state = h0.copy()  # (B, H) h_prev, contiguous for the recurrent GEMM
    c_state = c0.copy()  # (B, H) c_prev
    z_rec = np.empty((B, H4), gates.dtype)  # (B, 4H) h_prev @ recurrent_kernel
    act_c = np.empty(H, gates.dtype)  # (H,) act(c) of one row
    # Rows are 1-D views, indexed from 0: that lets LLVM vectorise every j loop.
    for t in range(T):
        np.dot(h_state, recurrent_kernel, z_rec)  # (B, 4H), BLAS
        for b in range(B):
            z, z_rec_b = gates[b, t], z_rec[b]  # (4H,) z becomes i, f, g, o in place
            for k in range(H4):
                z[k] = z[k] + bias[k] + z_rec_b[k]  # x_t @ kernel + bias + h_prev @ U
            i, f, g, o = z[:H], z[H : 2 * H], z[2 * H : 3 * H], z[3 * H :]
            _activate(rec_code, z[: 2 * H])  # i, f
            _activate(act_code, g)
            _activate(rec_code, o)
            c_prev, h_prev, c, h = c_state[b], h_state[b], cs[b, t], hs[b, t]
            for j in range(H):
                c[j] = f[j] * c_prev[j] + i[j] * g[j]
                c_prev[j] = c[j]
                act_c[j] = c[j]
            _activate(act_code, act_c)
            for j in range(H):
                h[j] = o[j] * act_c[j]
                h_prev[j] = h[j]
    return hs, cs


@_jit
def _backward_loop(
    dhs, has_dhs, dh_next, dc_next, h0, c0, hs, cs, gates, recurrent_kernel, act_code, rec_code
):
    """The reversed steps of reference.lstm_backward, fused per row.

    Args:
        dhs: [B, T, H] upstream gradients, read only when has_dhs.
        dh_next, dc_next: [B, H] dh_last and dc_last on entry, dh0 and dc0 on
            return (updated in place: pass copies the caller owns).
        h0, c0, hs, cs, gates, recurrent_kernel: from the cache, only read.
        act_code, rec_code: activation codes.

    Returns:
        dzs: [B, T, 4H] gradients with respect to the pre-activations z.
        h_prevs: [B, T, H] the h_prev of every step (h0, then hs[:, :-1]).
    """
    B, T, H = cs.shape
    H4 = 4 * H
    dzs = np.empty((B, T, H4), cs.dtype)
    h_prevs = np.empty((B, T, H), cs.dtype)
    dz_step = np.empty((B, H4), cs.dtype)  # (B, 4H) contiguous input of the per-step GEMM
    act_c = np.empty(H, cs.dtype)  # (H,) act(c_t) of one row
    dc_act = np.empty(H, cs.dtype)  # (H,) dh * o * act'(c_t) of one row
    recurrent_kernel_t = recurrent_kernel.T  # (4H, H) view; BLAS transposes
    for step in range(T):
        t = T - 1 - step
        for b in range(B):
            y, dz = gates[b, t], dz_step[b]  # (4H,) i, f, g, o and their dz
            i, f, g, o = y[:H], y[H : 2 * H], y[2 * H : 3 * H], y[3 * H :]
            di, df, dg, do = dz[:H], dz[H : 2 * H], dz[2 * H : 3 * H], dz[3 * H :]
            c, dh_next_b, dc_next_b = cs[b, t], dh_next[b], dc_next[b]
            c_prev = cs[b, t - 1] if t > 0 else c0[b]  # (H,)
            h_prev, h_prevs_bt = hs[b, t - 1] if t > 0 else h0[b], h_prevs[b, t]

            # h = o * act(c)
            for j in range(H):
                act_c[j] = c[j]
                h_prevs_bt[j] = h_prev[j]
            _activate(act_code, act_c)
            # h_t feeds both the output at step t and the next step: dh = dhs_t + dh_next.
            if has_dhs:
                dhs_bt = dhs[b, t]
                for j in range(H):
                    do[j] = (dhs_bt[j] + dh_next_b[j]) * act_c[j]
                    dc_act[j] = (dhs_bt[j] + dh_next_b[j]) * o[j]
            else:
                for j in range(H):
                    do[j] = dh_next_b[j] * act_c[j]
                    dc_act[j] = dh_next_b[j] * o[j]
            _scale_by_derivative(act_code, dc_act, act_c)

            # c = f * c_prev + i * g
            for j in range(H):
                dc = dc_next_b[j] + dc_act[j]
                df[j] = dc * c_prev[j]
                di[j] = dc * g[j]
                dg[j] = dc * i[j]
                dc_next_b[j] = dc * f[j]  # dc_prev

            # i, f, o = rec_act(zi, zf, zo); g = act(zg)
            _scale_by_derivative(rec_code, dz[: 2 * H], y[: 2 * H])
            _scale_by_derivative(act_code, dg, g)
            _scale_by_derivative(rec_code, do, o)
            dzs_bt = dzs[b, t]
            for k in range(H4):
                dzs_bt[k] = dz[k]

        # z = x_t @ kernel + h_prev @ recurrent_kernel + bias
        np.dot(dz_step, recurrent_kernel_t, dh_next)  # (B, H), BLAS
    return dzs, h_prevs


# ----------------------------------------------------------------------------
# Activations of a row, one vectorisable loop each
# ----------------------------------------------------------------------------


@_jit
def _activate(code, a):
    """a = activation(a) in place (the formulas of minilstm.activations)."""
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


@_jit
def _scale_by_derivative(code, d, y):
    """d *= activation'(x) in place, written with the output y = activation(x)."""
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
    n = np.floor(x * f(1.44269504088896341) + f(0.5))
    r = x - n * f(0.693359375) - n * f(-2.12194440e-4)  # ln 2 in two parts: exact n·ln2
    p = f(1.9875691500e-4)
    p = p * r + f(1.3981999507e-3)
    p = p * r + f(8.3334519073e-3)
    p = p * r + f(4.1665795894e-2)
    p = p * r + f(1.6666665459e-1)
    p = p * r + f(5.0000001201e-1)
    p = p * r * r + r + f(1.0)
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
    n = np.floor(x * 1.4426950408889634073599 + 0.5)
    r = x - n * 6.93145751953125e-1 - n * 1.42860682030941723212e-6
    rr = r * r
    p = r * (
        (1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr
        + 9.99999999999999999910e-1
    )
    q = (
        (3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr
        + 2.27265548208155028766e-1
    ) * rr + 2.00000000000000000009e0
    p = 1.0 + 2.0 * (p / (q - p))
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
    large = math.copysign(f(1.0) - f(2.0) * e / (f(1.0) + e), x)
    z = x * x
    p = f(-5.70498872745e-3)
    p = p * z + f(2.06390887954e-2)
    p = p * z - f(5.37397155531e-2)
    p = p * z + f(1.33314422036e-1)
    p = p * z - f(3.33332819422e-1)
    small = p * z * x + x
    return large if abs(x) >= f(0.625) else small


def _tanh_f64(x):
    e = _exp(-2.0 * abs(x))
    large = math.copysign(1.0 - 2.0 * e / (1.0 + e), x)
    z = x * x
    p = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z - 1.61468768441708447952e3
    q = (
        (z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3
    ) * z + 4.84406305325125486048e3
    small = x + x * (z * p / q)
    return large if abs(x) >= 0.625 else small
