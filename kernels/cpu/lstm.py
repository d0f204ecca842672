"""The LSTM on the CPU with Numba: per-chunk BLAS GEMMs plus fused, compiled gate loops.

The equations, names and shapes are reference.py's; see there. This file only
arranges the same work for speed:

- Every step makes ONE GEMM, `z_t = [x_t | h_prev] @ [kernel; recurrent_kernel]`
  ((B, I+H) @ (I+H, 4H)), with Numba's `np.dot` (it calls the BLAS that scipy
  ships), then one fused, vectorised pass over each row for the gate maths.
  Nothing runs in Python per step, and every buffer is allocated before the loop.
- Backward walks the steps in reverse with one GEMM per step,
  `[dx_t | dh_prev] = dz_t @ [kernel; recurrent_kernel]ᵀ`, and ends with one GEMM
  for both weight gradients, `[x | h_prev]ᵀ @ dz` over all steps.
- Derivatives are taken from the activated outputs (sigmoid y(1-y), tanh
  1-y², ...), so the cache keeps the gates but not the pre-activations.

All cores, without a sync per step: the batch is split into P chunks of rows
(`_num_chunks`: P = `numba.get_num_threads()`, fewer so that a chunk keeps at
least max(`_MIN_ROWS`, H/8) rows, and 1 for problems under `_MIN_PARALLEL_WORK`,
such as W0 and W4, which then make no parallel launch at all). Rows of an LSTM
never mix, so each chunk runs the whole computation for its rows, one chunk per
thread under one `prange`: its own step GEMMs and gate loops, its own dx, and
its own weight-gradient GEMM into a per-chunk buffer; the P partial sums are
added after the loop. While the chunks call BLAS at the same time, every BLAS
thread pool is held at one thread with threadpoolctl (the chunks are the
threads; a multi-threaded BLAS under them would oversubscribe the cores), and
put back as it was after the call. So the numba set needs threadpoolctl as
well as scipy. A single-chunk call leaves BLAS alone, so its GEMMs may still
use BLAS's own threads.

The cache (`LSTMCache`) is private to this set except `hs` and `cs`:

    x                  [B, T, I] the caller's x (input order, not reversed for
                       go_backwards: the loops index x[:, T-1-t] instead)
    h0, c0             [B, H]
    kernel             [I, 4H]; recurrent_kernel [H, 4H]
    hs, cs             [B, T, H] the returned arrays (processing order)
    gates              [T, B, 4H] TIME-major activated gates i, f, g, o, so
                       that a chunk's rows at step t, gates[t, lo:hi], are one
                       contiguous GEMM output
    z                  None

exp and tanh are written out (`_exp_f32`, `_tanh_f64`, ...) instead of calling
libm, because libm calls stop LLVM from vectorising the gate loops (about 20x
slower). They are the Cephes polynomials, within 2 ulp of NumPy's. No
`fastmath`: results stay within 1e-5 (float32) and 1e-10 (float64) of the
reference. Splitting the batch changes only the order in which the weight
gradients are summed.

To read the loops as plain Python, step through them in a debugger, or check
them without compiling, run with `NUMBA_DISABLE_JIT=1` (slow: minutes, not
milliseconds); `_exp` and `_tanh` are then NumPy's and `prange` is `range`.
"""

import contextlib
import importlib.util
import math
import threading

import numpy as np

from ..cache import LSTMCache, check_backward_inputs, check_forward_inputs

NAME = "numba"

try:
    from numba import get_num_threads, njit, prange, types
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
_jit_parallel = njit(cache=True, error_model="numpy", parallel=True)
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

# A chunk gets at least max(_MIN_ROWS, H // 8) rows. Each chunk's step GEMM packs
# the whole (I+H, 4H) weight matrix again; for thin chunks and large H that costs
# more than a second core gives back, and one chunk whose GEMMs use BLAS's own
# threads is faster (measured on 2 cores: B=64 with H=512, B=32 with H=256).
_MIN_ROWS = 8
# Below this many multiply-adds per sequence (B*T*(I+H)*4H), one thread beats
# waking the others (measured crossover ~0.8M on 2 cores; W0 and W4 are far below).
_MIN_PARALLEL_WORK = 1 << 20


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
    if importlib.util.find_spec("threadpoolctl") is None:
        # It holds BLAS at one thread while the batch is split over the numba threads.
        return (
            "the numba kernel set needs threadpoolctl, which is not installed "
            "(pip install threadpoolctl)."
        )
    return ""


# ----------------------------------------------------------------------------
# Public wrappers: checks, buffers, and the calls into the compiled loops
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
        cache: an LSTMCache; pass it unchanged to `lstm_backward`. Its layout
            is this set's own (module docstring): `x` in input order, `gates`
            time-major [T, B, 4H], `z` None.
    """
    B, T, I, H = check_forward_inputs(
        x, h0, c0, kernel, recurrent_kernel, bias, activation, recurrent_activation
    )
    if x.dtype.char not in "fd":
        raise NotImplementedError(
            f"The 'numba' kernel set supports float32 and float64, got {x.dtype}. "
            "Use the 'numpy' backend (minilstm.backend.set_backend('numpy')) for other dtypes."
        )
    x, h0, c0, kernel, recurrent_kernel, bias = map(
        np.ascontiguousarray, (x, h0, c0, kernel, recurrent_kernel, bias)
    )
    weights = np.concatenate((kernel, recurrent_kernel))  # (I+H, 4H)
    hs = np.empty((B, T, H), x.dtype)
    cs = np.empty((B, T, H), x.dtype)
    gates = np.empty((T, B, 4 * H), x.dtype)
    codes = (_CODES[activation], _CODES[recurrent_activation], go_backwards)

    chunks = _num_chunks(B, T, I, H)
    if chunks == 1:
        _forward_rows(0, B, x, h0, c0, weights, bias, hs, cs, gates, *codes)
    else:
        with _parallel_blas_calls():
            _forward_chunks(_bounds(B, chunks), x, h0, c0, weights, bias, hs, cs, gates, *codes)

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
        dkernel [I, 4H], drecurrent_kernel [H, 4H], dbias [4H]: new arrays
        (dkernel and drecurrent_kernel are the two row blocks of one buffer).
    """
    B, T, H = check_backward_inputs(dhs, dh_last, dc_last, cache)
    I = cache.x.shape[2]
    dtype = cache.hs.dtype
    # The loops carry dL/dh and dL/dc from step to step in these two buffers.
    dh = np.zeros((B, H), dtype) if dh_last is None else np.array(dh_last, order="C")
    dc = np.zeros((B, H), dtype) if dc_last is None else np.array(dc_last, order="C")
    has_dhs = dhs is not None
    dhs = np.ascontiguousarray(dhs) if has_dhs else np.empty((0, 0, 0), dtype)
    weights = np.concatenate((cache.kernel, cache.recurrent_kernel))  # (I+H, 4H)
    dx = np.empty((B, T, I), dtype)
    # Scratch for the weight-gradient GEMM, allocated here by NumPy: large blocks get
    # huge pages and a reused heap, where allocating in the loops page-faulted each call.
    xh_all, dz_all = np.empty(B * T * (I + H), dtype), np.empty(B * T * 4 * H, dtype)
    args = (dhs, has_dhs, dh, dc, cache.x, cache.h0, cache.c0, cache.hs, cache.cs, cache.gates)
    codes = (_CODES[cache.activation], _CODES[cache.recurrent_activation], cache.go_backwards)

    chunks = _num_chunks(B, T, I, H)
    if chunks == 1:
        dweights, dbias = np.empty((I + H, 4 * H), dtype), np.empty(4 * H, dtype)
        _backward_rows(0, B, *args, weights, xh_all, dz_all, dx, dweights, dbias, *codes)
    else:
        # One partial sum per chunk (no two threads add into one buffer), then the sum.
        dweights, dbias = np.empty((chunks, I + H, 4 * H), dtype), np.empty((chunks, 4 * H), dtype)
        with _parallel_blas_calls():
            _backward_chunks(
                _bounds(B, chunks), *args, weights, xh_all, dz_all, dx, dweights, dbias, *codes
            )
        dweights, dbias = dweights.sum(axis=0), dbias.sum(axis=0)
    return dx, dh, dc, dweights[:I], dweights[I:], dbias


# ----------------------------------------------------------------------------
# Splitting the batch over the threads
# ----------------------------------------------------------------------------

_PARALLEL_LOCK = threading.Lock()  # one split call at a time: they each use every core
_BLAS_POOLS = []  # the threadpoolctl controller, made on the first split call


def _num_chunks(B, T, I, H):
    """How many row chunks to run at once: 1 (no parallel launch) for small problems."""
    if B * T * (I + H) * 4 * H < _MIN_PARALLEL_WORK:
        return 1
    return max(1, min(get_num_threads(), B // max(_MIN_ROWS, H // 8)))


def _bounds(B, chunks):
    """[chunks + 1] row bounds: chunk p is rows bounds[p]:bounds[p+1], sizes within 1."""
    return np.array([B * p // chunks for p in range(chunks + 1)], np.int64)


@contextlib.contextmanager
def _parallel_blas_calls():
    """Context for a split call: the lock, and every BLAS pool at one thread.

    The chunks call BLAS from all numba threads at once; a BLAS that also
    started its own threads would put two threads on each core. threadpoolctl
    sets the pools of the BLAS libraries loaded in this process (scipy's, which
    Numba's np.dot calls, and NumPy's, which the loops do not use) and restores
    them on exit, so the rest of the program keeps its BLAS threads.
    """
    with _PARALLEL_LOCK:
        if not _BLAS_POOLS:
            import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS np.dot calls)
            from threadpoolctl import ThreadpoolController

            _BLAS_POOLS.append(ThreadpoolController())  # lists the loaded libraries once
        with _BLAS_POOLS[0].limit(limits=1, user_api="blas"):
            yield


@_jit_parallel
def _forward_chunks(bounds, x, h0, c0, weights, bias, hs, cs, gates, act_code, rec_code, reverse):
    """_forward_rows for each chunk of rows bounds[p]:bounds[p+1], in parallel."""
    for p in prange(bounds.size - 1):
        _forward_rows(
            bounds[p], bounds[p + 1], x, h0, c0, weights, bias, hs, cs, gates,
            act_code, rec_code, reverse,
        )  # fmt: skip


@_jit_parallel
def _backward_chunks(
    bounds, dhs, has_dhs, dh, dc, x, h0, c0, hs, cs, gates, weights, xh_all, dz_all, dx,
    dweights, dbias, act_code, rec_code, reverse,
):  # fmt: skip
    """_backward_rows for each chunk, in parallel; chunk p sums into dweights[p], dbias[p]."""
    for p in prange(bounds.size - 1):
        _backward_rows(
            bounds[p], bounds[p + 1], dhs, has_dhs, dh, dc, x, h0, c0, hs, cs, gates, weights,
            xh_all, dz_all, dx, dweights[p], dbias[p], act_code, rec_code, reverse,
        )  # fmt: skip


# ----------------------------------------------------------------------------
# Compiled time loops over one chunk of rows
# ----------------------------------------------------------------------------


@_jit
def _forward_rows(lo, hi, x, h0, c0, weights, bias, hs, cs, gates, act_code, rec_code, reverse):
    """The T steps of reference.lstm_forward for batch rows lo:hi.

    Args:
        lo, hi: the rows of this chunk; other rows are neither read nor written.
        x: [B, T, I] in input order (step t reads x[:, T-1-t] when reverse).
        h0, c0: [B, H] initial states. weights: [I+H, 4H], kernel stacked on
            recurrent_kernel. bias: [4H]. All only read.
        hs, cs: [B, T, H] outputs, written.
        gates: [T, B, 4H] output, the activated gates i, f, g, o (time-major).
        act_code, rec_code: activation codes (LINEAR, SIGMOID, ...).
        reverse: go_backwards.
    """
    T, I, H = x.shape[1], x.shape[2], hs.shape[2]
    xh = np.empty((hi - lo, I + H), x.dtype)  # [x_t | h_prev] per row: the step GEMM's input
    act_c = np.empty(H, x.dtype)  # (H,) act(c) of one row
    for r in range(hi - lo):
        _copy(h0[lo + r], xh[r, I:])
    for t in range(T):
        t_in = T - 1 - t if reverse else t
        for r in range(hi - lo):
            _copy(x[lo + r, t_in], xh[r, :I])
        # z = x_t @ kernel + h_prev @ recurrent_kernel, straight into the gates buffer
        np.dot(xh, weights, gates[t, lo:hi])  # (rows, 4H), BLAS
        for r in range(hi - lo):
            b = lo + r
            c_prev = cs[b, t - 1] if t > 0 else c0[b]
            _cell_forward(gates[t, b], bias, c_prev, cs[b, t], hs[b, t], xh[r, I:], act_c,
                          act_code, rec_code)  # fmt: skip


@_jit
def _cell_forward(z, bias, c_prev, c, h, h_next, act_c, act_code, rec_code):
    """One row of one step: z (4H,) becomes i, f, g, o in place; c, h (H,) written.

    h is also copied into h_next, the h_prev slot of the next step's GEMM input.
    Rows are 1-D views indexed from 0: that lets LLVM vectorise every loop.
    """
    H = c.size
    for k in range(4 * H):
        z[k] = z[k] + bias[k]
    i, f, g, o = z[:H], z[H : 2 * H], z[2 * H : 3 * H], z[3 * H :]
    _activate(rec_code, z[: 2 * H])  # i, f
    _activate(act_code, g)
    _activate(rec_code, o)
    for j in range(H):
        c[j] = f[j] * c_prev[j] + i[j] * g[j]
        act_c[j] = c[j]
    _activate(act_code, act_c)
    for j in range(H):
        h[j] = o[j] * act_c[j]
        h_next[j] = h[j]


@_jit
def _backward_rows(
    lo, hi, dhs, has_dhs, dh, dc, x, h0, c0, hs, cs, gates, weights, xh_all, dz_all, dx,
    dweights, dbias, act_code, rec_code, reverse,
):  # fmt: skip
    """The reversed steps of reference.lstm_backward for batch rows lo:hi.

    Args:
        lo, hi: the rows of this chunk.
        dhs: [B, T, H] upstream gradients, read only when has_dhs.
        dh, dc: [B, H] dh_last and dc_last on entry, dh0 and dc0 on return
            (rows lo:hi updated in place: pass arrays the caller owns).
        x, h0, c0, hs, cs, gates: from the cache (layouts as lstm_forward's);
            weights: [I+H, 4H] kernel stacked on recurrent_kernel. Only read.
        xh_all: [B*T*(I+H)], dz_all: [B*T*4H] scratch; this chunk uses the block
            from row lo*T on, as [T, rows, I+H] and [T, rows, 4H] (chunk-blocked,
            time-major inside the block, so that one GEMM covers the chunk).
        dx: [B, T, I] output, rows lo:hi written (input time order).
        dweights: [I+H, 4H] and dbias: [4H], this chunk's sums, overwritten.
        act_code, rec_code: activation codes. reverse: go_backwards.
    """
    T, I, H = x.shape[1], x.shape[2], hs.shape[2]
    n = hi - lo
    # [x_t | h_prev] and dL/dz of every step of this chunk: the two sides of dweights' GEMM
    xh = xh_all[lo * T * (I + H) : hi * T * (I + H)].reshape(T, n, I + H)
    dz = dz_all[lo * T * 4 * H : hi * T * 4 * H].reshape(T, n, 4 * H)
    dxh = np.empty((n, I + H), x.dtype)  # [dx_t | dh] per row: the step GEMM's output
    act_c = np.empty(H, x.dtype)  # (H,) act(c_t) of one row
    dc_act = np.empty(H, x.dtype)  # (H,) dh * o * act'(c_t) of one row
    dbias_t = np.empty(4 * H, x.dtype)  # (4H,) one step's sum, so rounding grows with n + T
    for r in range(n):
        _copy(dh[lo + r], dxh[r, I:])
    dbias[:] = 0.0
    for step in range(T):
        t = T - 1 - step
        t_in = T - 1 - t if reverse else t
        dbias_t[:] = 0.0
        for r in range(n):
            b = lo + r
            dh_t = dxh[r, I:]  # dh_next; h_t feeds both the output at step t and step t+1
            if has_dhs:
                for j in range(H):
                    dh_t[j] = dhs[b, t, j] + dh_t[j]
            c_prev = cs[b, t - 1] if t > 0 else c0[b]
            _cell_backward(gates[t, b], cs[b, t], c_prev, dh_t, dc[b], dz[t, r], act_c, dc_act,
                           act_code, rec_code)  # fmt: skip
            _copy(x[b, t_in], xh[t, r, :I])
            _copy(hs[b, t - 1] if t > 0 else h0[b], xh[t, r, I:])
            dz_r = dz[t, r]
            for k in range(4 * H):
                dbias_t[k] += dz_r[k]
        for k in range(4 * H):
            dbias[k] += dbias_t[k]
        # z = [x_t | h_prev] @ weights + bias  =>  [dx_t | dh_prev] = dz_t @ weightsᵀ
        np.dot(dz[t], weights.T, dxh)  # (rows, I+H), BLAS
        for r in range(n):
            _copy(dxh[r, :I], dx[lo + r, t_in])
    for r in range(n):
        _copy(dxh[r, I:], dh[lo + r])
    # Σ_t [x_t | h_prev]ᵀ·dz_t, one GEMM over all T*rows rows: dkernel on drecurrent_kernel
    np.dot(xh.reshape(T * n, I + H).T, dz.reshape(T * n, 4 * H), dweights)


@_jit
def _cell_backward(y, c, c_prev, dh, dc_next, dz, act_c, dc_act, act_code, rec_code):
    """One row of one step backwards: dz (4H,) written, dc_next (H,) becomes dc_prev.

    y: (4H,) the activated gates i, f, g, o; c, c_prev: (H,); dh: (H,) dL/dh_t.
    """
    H = c.size
    i, f, g, o = y[:H], y[H : 2 * H], y[2 * H : 3 * H], y[3 * H :]
    di, df, dg, do = dz[:H], dz[H : 2 * H], dz[2 * H : 3 * H], dz[3 * H :]
    # h = o * act(c)
    for j in range(H):
        act_c[j] = c[j]
    _activate(act_code, act_c)
    for j in range(H):
        do[j] = dh[j] * act_c[j]
        dc_act[j] = dh[j] * o[j]
    _scale_by_derivative(act_code, dc_act, act_c)
    # c = f * c_prev + i * g
    for j in range(H):
        dc = dc_next[j] + dc_act[j]
        df[j] = dc * c_prev[j]
        di[j] = dc * g[j]
        dg[j] = dc * i[j]
        dc_next[j] = dc * f[j]  # dc_prev
    # i, f, o = rec_act(zi, zf, zo); g = act(zg)
    _scale_by_derivative(rec_code, dz[: 2 * H], y[: 2 * H])
    _scale_by_derivative(act_code, dg, g)
    _scale_by_derivative(rec_code, do, o)


@_jit
def _copy(src, dst):
    """dst[:] = src for 1-D rows (a plain loop compiles much faster than slice assignment)."""
    for k in range(dst.size):
        dst[k] = src[k]


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
