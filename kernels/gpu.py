"""CuPy GPU kernel set: cuBLAS GEMMs plus fused CUDA kernels (see reference.py).

The maths, the contract and the variable names are reference.py's; read that
file for the equations. What differs here is only how the work is laid out:

- The input projection of all T steps is one cuBLAS GEMM before the loop,
  (T*B, I) @ kernel + bias.
- Each step is one recurrent GEMM, `cupy.matmul(h_prev, recurrent_kernel,
  out=zh)` into a preallocated buffer, then one fused kernel from
  `cuda/lstm.cu` that adds it to the step's input projection, applies the
  activations and writes the gates, c_t and h_t.
- Backward runs one fused kernel per step (dz_t and dc_prev) followed by one
  GEMM for dh_prev; after the loop, each weight gradient is one GEMM over all
  B*T rows.
- Internal buffers are time-major, (T, B, ...), so the slice of a step is one
  contiguous (B, ...) block that a kernel or a GEMM can use without a copy.
  The LSTMCache holds (B, T, ...) views of those buffers (its documented
  shapes); `hs` and `cs` are returned as C-contiguous (B, T, H) copies.
- Nothing in the time loops waits for the device: no `.get()`, no host sync.

All arrays are cupy arrays, in and out; float32 and float64 are supported.
The five activations of `cache.SUPPORTED_ACTIVATIONS` are compiled in, with
output-form derivatives (haste's habit).

TF32: on Ampere and newer GPUs cuBLAS can run float32 GEMMs in TensorFloat-32
(10-bit mantissa), which breaks float32 parity with the reference at 1e-5.
CuPy does so only when the environment variable `CUPY_TF32=1` is set before
cupy is imported (the default is off, i.e. full FP32); `NVIDIA_TF32_OVERRIDE=0`
forces TF32 off in every NVIDIA library regardless. tests/test_gpu.py sets
`NVIDIA_TF32_OVERRIDE=0` and checks on the device that a float32 matmul keeps
full precision.

cupy is imported only inside functions, so this module imports without it;
`is_available()` then says False and `unavailable_reason()` says why.
"""

import os

import numpy as np

from .cache import LSTMCache, check_backward_inputs, check_forward_inputs

NAME = "cupy"

# Codes of the `Activation` enum in cuda/lstm.cu; keep the two in sync.
_ACTIVATION_CODES = {"tanh": 0, "sigmoid": 1, "hard_sigmoid": 2, "relu": 3, "linear": 4}
_DTYPE_SUFFIXES = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
_SOURCE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cuda", "lstm.cu")
_THREADS_PER_BLOCK = 256

_unavailable_reason = None  # probed once: "" when cupy and a device are there
_raw_module = None  # the compiled cuda/lstm.cu, loaded on first use


def _probe():
    """Why this set cannot run here, in words; "" when it can. Never raises."""
    try:
        import cupy
    except ModuleNotFoundError as error:
        if error.name not in ("cupy", None):
            return f"cupy is installed but could not be imported: {error}."
        return "cupy is not installed (pip install 'minilstm[gpu]')."
    except Exception as error:  # noqa: BLE001 (a broken CUDA install raises anything)
        return f"cupy is installed but could not be imported: {error}."
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # noqa: BLE001 (no driver, no device: CUDARuntimeError or other)
        return f"cupy is installed but no CUDA device is visible: {error}."
    if count < 1:
        return "cupy is installed but no CUDA device is visible: getDeviceCount() is 0."
    return ""


def unavailable_reason():
    """Why the CuPy set cannot run on this machine; empty string when it can."""
    global _unavailable_reason
    if _unavailable_reason is None:
        _unavailable_reason = _probe()
    return _unavailable_reason


def is_available():
    """True when cupy imports and sees a CUDA device. Never raises."""
    return unavailable_reason() == ""


def _cupy():
    import cupy

    return cupy


# ---------------------------------------------------------------------------
# kernels: cuda/lstm.cu, compiled once by NVRTC through cupy.RawModule
# ---------------------------------------------------------------------------


def _kernel(name, dtype):
    """The compiled entry point `name`_f32 or `name`_f64 of cuda/lstm.cu."""
    global _raw_module
    if _raw_module is None:
        with open(_SOURCE_PATH, encoding="utf-8") as source:
            _raw_module = _cupy().RawModule(code=source.read(), options=("--std=c++14",))
    return _raw_module.get_function(f"{name}_{_DTYPE_SUFFIXES[np.dtype(dtype)]}")


# ---------------------------------------------------------------------------
# launchers: one thread per (b, j) entry of the (B, H) state
# ---------------------------------------------------------------------------


def _grid(B, H):
    return ((B * H + _THREADS_PER_BLOCK - 1) // _THREADS_PER_BLOCK,), (_THREADS_PER_BLOCK,)


def _forward_step(step, B, H, zx, zh, c_prev, gates, c, h, activation, recurrent_activation):
    """gates, c, h of one step from zx + zh; every array one contiguous step slice."""
    if B * H == 0:
        return  # CUDA rejects an empty grid
    grid, block = _grid(B, H)
    step(grid, block, (np.int32(B), np.int32(H), zx, zh, c_prev, gates, c, h,
                       np.int32(activation), np.int32(recurrent_activation)))


def _backward_step(step, B, H, dhs_t, dh_next, dc, c, c_prev, gates, dz, activation,
                   recurrent_activation):
    """dz of one step, and dc overwritten in place from dc_next to dc_prev."""
    if B * H == 0:
        return  # CUDA rejects an empty grid
    grid, block = _grid(B, H)
    step(grid, block, (np.int32(B), np.int32(H), dhs_t, dh_next, dc, c, c_prev, gates, dz,
                       np.int32(activation), np.int32(recurrent_activation)))


def _check_device_arrays(**arrays):
    cupy = _cupy()
    for name, array in arrays.items():
        if array is not None and not isinstance(array, cupy.ndarray):
            raise TypeError(
                f"{name}: the 'cupy' kernel set expects cupy arrays (device memory), got "
                f"{type(array).__module__}.{type(array).__name__}. Move it with "
                "cupy.asarray(...), or use the 'numpy' or 'numba' kernel set for host arrays."
            )


def _check_gpu_limits(dtype, B, H):
    if np.dtype(dtype) not in _DTYPE_SUFFIXES:
        raise ValueError(
            f"x: the 'cupy' kernel set supports float32 and float64, got {np.dtype(dtype)}"
        )
    if B * 4 * H >= 2**31:
        raise ValueError(
            f"batch * 4 * units must stay below 2**31 for the int indices of cuda/lstm.cu, "
            f"got batch={B}, units={H}"
        )


def lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias,
                 activation="tanh", recurrent_activation="sigmoid", go_backwards=False):
    """Runs the LSTM over all T steps on the GPU; see reference.lstm_forward.

    Args:
        x: [B, T, I] input sequences (cupy).
        h0, c0: [B, H] initial hidden and cell states.
        kernel: [I, 4H]; recurrent_kernel: [H, 4H]; bias: [4H].
        activation, recurrent_activation: one of 'tanh', 'sigmoid',
            'hard_sigmoid', 'relu', 'linear'.
        go_backwards: process the sequence last step first.

    Returns:
        hs, cs: [B, T, H] C-contiguous, processing order.
        cache: an LSTMCache of (B, T, ...) views of time-major buffers, with
            z=None (the derivatives need only the activated gates); pass it
            unchanged to `lstm_backward`. Nothing in it aliases the inputs
            except the weights.
    """
    cupy = _cupy()
    _check_device_arrays(x=x, h0=h0, c0=c0, kernel=kernel, recurrent_kernel=recurrent_kernel,
                         bias=bias)
    B, T, I, H = check_forward_inputs(x, h0, c0, kernel, recurrent_kernel, bias,
                                      activation, recurrent_activation)
    _check_gpu_limits(x.dtype, B, H)
    step = _kernel("lstm_forward_step", x.dtype)
    act, rec_act = _ACTIVATION_CODES[activation], _ACTIVATION_CODES[recurrent_activation]
    if go_backwards:
        x = x[:, ::-1]

    # _tm names are time-major (T, B, ...): each step's slice is contiguous.
    x_tm = cupy.ascontiguousarray(x.transpose(1, 0, 2))  # (T, B, I)
    # The input part of z does not depend on h, so all steps take one GEMM.
    zx_tm = (x_tm.reshape(T * B, I) @ kernel + bias).reshape(T, B, 4 * H)

    hs_tm = cupy.empty((T, B, H), dtype=x.dtype)
    cs_tm = cupy.empty((T, B, H), dtype=x.dtype)
    gates_tm = cupy.empty((T, B, 4 * H), dtype=x.dtype)
    zh = cupy.empty((B, 4 * H), dtype=x.dtype)  # h_prev @ recurrent_kernel, reused
    h0, c0 = cupy.ascontiguousarray(h0), cupy.ascontiguousarray(c0)
    h_prev, c_prev = h0, c0
    for t in range(T):
        cupy.matmul(h_prev, recurrent_kernel, out=zh)  # (B, 4H)
        _forward_step(step, B, H, zx_tm[t], zh, c_prev, gates_tm[t], cs_tm[t], hs_tm[t],
                      act, rec_act)
        h_prev, c_prev = hs_tm[t], cs_tm[t]

    hs = cupy.ascontiguousarray(hs_tm.transpose(1, 0, 2))  # (B, T, H)
    cs = cupy.ascontiguousarray(cs_tm.transpose(1, 0, 2))  # (B, T, H)
    cache = LSTMCache(x=x_tm.transpose(1, 0, 2), h0=h0, c0=c0, kernel=kernel,
                      recurrent_kernel=recurrent_kernel, hs=hs_tm.transpose(1, 0, 2),
                      cs=cs_tm.transpose(1, 0, 2), gates=gates_tm.transpose(1, 0, 2), z=None,
                      activation=activation, recurrent_activation=recurrent_activation,
                      go_backwards=go_backwards)
    return hs, cs, cache


def lstm_backward(dhs, dh_last, dc_last, cache):
    """Backpropagation through time on the GPU; see reference.lstm_backward.

    Args:
        dhs: [B, T, H] gradient with respect to every hs[:, t] (processing
            order), or None for zeros.
        dh_last, dc_last: [B, H] gradients with respect to the final h and
            c, or None for zeros.
        cache: the LSTMCache from this module's `lstm_forward`, unchanged.

    Returns:
        dx [B, T, I] (caller's time order), dh0 [B, H], dc0 [B, H],
        dkernel [I, 4H], drecurrent_kernel [H, 4H], dbias [4H]: all new
        cupy arrays; the cache and the upstream gradients are not modified.
    """
    cupy = _cupy()
    _check_device_arrays(dhs=dhs, dh_last=dh_last, dc_last=dc_last, hs=cache.hs)
    B, T, H = check_backward_inputs(dhs, dh_last, dc_last, cache)
    dtype = cache.hs.dtype
    step = _kernel("lstm_backward_step", dtype)
    act = _ACTIVATION_CODES[cache.activation]
    rec_act = _ACTIVATION_CODES[cache.recurrent_activation]

    # Back to the time-major buffers (no copy for a cache made by lstm_forward).
    x_tm = cupy.ascontiguousarray(cache.x.transpose(1, 0, 2))  # (T, B, I)
    hs_tm = cupy.ascontiguousarray(cache.hs.transpose(1, 0, 2))  # (T, B, H)
    cs_tm = cupy.ascontiguousarray(cache.cs.transpose(1, 0, 2))  # (T, B, H)
    gates_tm = cupy.ascontiguousarray(cache.gates.transpose(1, 0, 2))  # (T, B, 4H)
    c0 = cupy.ascontiguousarray(cache.c0)
    I = x_tm.shape[2]

    zeros = cupy.zeros((B, H), dtype=dtype)
    dhs_tm = None if dhs is None else cupy.ascontiguousarray(dhs.transpose(1, 0, 2))
    # Own copies: the loop overwrites both in place.
    dh_next = zeros.copy() if dh_last is None else cupy.array(dh_last, order="C", copy=True)
    dc = zeros.copy() if dc_last is None else cupy.array(dc_last, order="C", copy=True)
    recurrent_kernel_t = cupy.ascontiguousarray(cache.recurrent_kernel.T)  # (4H, H)
    dzs_tm = cupy.empty((T, B, 4 * H), dtype=dtype)
    for t in reversed(range(T)):
        c_prev = cs_tm[t - 1] if t > 0 else c0
        dhs_t = zeros if dhs_tm is None else dhs_tm[t]
        _backward_step(step, B, H, dhs_t, dh_next, dc, cs_tm[t], c_prev, gates_tm[t],
                       dzs_tm[t], act, rec_act)
        # z = x_t @ kernel + h_prev @ recurrent_kernel + bias
        cupy.matmul(dzs_tm[t], recurrent_kernel_t, out=dh_next)  # (B, H)

    # Σ_t x_tᵀ·dz_t done as one GEMM over all T*B rows; same for h_prev.
    h_prevs_tm = cupy.concatenate([cache.h0[None], hs_tm[:-1]], axis=0)  # (T, B, H)
    dz_rows = dzs_tm.reshape(T * B, 4 * H)
    dkernel = x_tm.reshape(T * B, I).T @ dz_rows  # (I, 4H)
    drecurrent_kernel = h_prevs_tm.reshape(T * B, H).T @ dz_rows  # (H, 4H)
    dbias = dz_rows.sum(axis=0)  # (4H,)
    dx = (dz_rows @ cache.kernel.T).reshape(T, B, I).transpose(1, 0, 2)  # (B, T, I)
    if cache.go_backwards:
        dx = dx[:, ::-1]
    return cupy.ascontiguousarray(dx), dh_next, dc, dkernel, drecurrent_kernel, dbias
