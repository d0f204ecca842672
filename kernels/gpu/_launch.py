"""What the cell modules of the CuPy set share: compiling cuda/*.cu, launching a
step kernel, the checks at the edge, and reference/_sequence.py's masked
products on time-major arrays.

Sections as llm.c's .cuh files have them: "kernels" (sources, compile, launch)
then "launchers' helpers" (buffers and the GEMMs around each step).
"""

import os
import re

import numpy as np

CUDA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cuda")
THREADS_PER_BLOCK = 256
_DTYPE_SUFFIXES = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
_LOCAL_INCLUDE = re.compile(r'^#include "([\w.]+)"[ \t]*$', re.MULTILINE)

_modules = {}  # cell name -> its compiled cupy.RawModule, loaded on first use


def cupy():
    import cupy

    return cupy


# ---------------------------------------------------------------------------
# kernels: cuda/<cell>.cu, compiled once per cell by NVRTC through cupy.RawModule
# ---------------------------------------------------------------------------


def source(cell):
    """The text of cuda/<cell>.cu with each local `#include "x.cuh"` replaced by x.cuh.

    NVRTC compiles one string; pasting the headers in (rather than passing an
    include path) keeps CuPy's compile cache, keyed by that string, honest
    when a header changes.
    """
    included = set()

    def inline(name):
        with open(os.path.join(CUDA_DIR, name), encoding="utf-8") as file:
            text = file.read()

        def paste(match):
            header = match.group(1)
            if header in included:
                return ""
            included.add(header)
            return inline(header)

        return _LOCAL_INCLUDE.sub(paste, text)

    return inline(f"{cell}.cu")


def kernel(cell, name, dtype):
    """The compiled entry point `name`_f32 or `name`_f64 of cuda/<cell>.cu."""
    module = _modules.get(cell)
    if module is None:
        module = _modules[cell] = cupy().RawModule(code=source(cell), options=("--std=c++14",))
    return module.get_function(f"{name}_{_DTYPE_SUFFIXES[np.dtype(dtype)]}")


def launch(function, B, H, *args):
    """Runs a step kernel with one thread per (b, j) entry of the (B, H) state.

    `args` follow B and H in the kernel's parameter order: cupy arrays pass as
    pointers (each must be a contiguous step slice), Python ints as int32.
    """
    if B * H == 0:
        return  # CUDA rejects an empty grid
    grid = ((B * H + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK,)
    args = tuple(np.int32(a) if isinstance(a, int) else a for a in args)
    function(grid, (THREADS_PER_BLOCK,), (np.int32(B), np.int32(H)) + args)


# ---------------------------------------------------------------------------
# checks at the edge (the shared shape checks are kernels/cache.py's)
# ---------------------------------------------------------------------------


def check_device_arrays(**arrays):
    """TypeError naming the first argument that is not a cupy array (None passes)."""
    ndarray = cupy().ndarray
    for name, array in arrays.items():
        if array is not None and not isinstance(array, ndarray):
            raise TypeError(
                f"{name}: the 'cupy' kernel set expects cupy arrays (device memory), got "
                f"{type(array).__module__}.{type(array).__name__}. Move it with "
                "cupy.asarray(...), or use the 'numpy' or 'numba' kernel set for host arrays."
            )


def check_gpu_limits(dtype, B, H, gates):
    if np.dtype(dtype) not in _DTYPE_SUFFIXES:
        raise ValueError(
            f"x: the 'cupy' kernel set supports float32 and float64, got {np.dtype(dtype)}"
        )
    if B * gates * H >= 2**31:
        raise ValueError(
            f"batch * {gates} * units must stay below 2**31 for the int indices of cuda/*.cu, "
            f"got batch={B}, units={H}"
        )


# ---------------------------------------------------------------------------
# launchers' helpers: time-major buffers, masks, and the GEMMs around a step
# ---------------------------------------------------------------------------


def processing_order(x, mask, go_backwards):
    """x [B, T, I] and mask [B, T] in the order the steps run (as the reference's)."""
    if not go_backwards:
        return x, mask
    return x[:, ::-1], None if mask is None else mask[:, ::-1]


def time_major(array):
    """(B, T, ...) -> contiguous (T, B, ...); no copy for a view of a time-major buffer."""
    axes = (1, 0) + tuple(range(2, array.ndim))
    return cupy().ascontiguousarray(array.transpose(axes))


def keep_steps(mask, B, T):
    """(T, B) bool, contiguous: True where a row runs a step (all True without a mask)."""
    if mask is None:
        return cupy().ones((T, B), dtype=bool)
    return time_major(mask)


def recurrent_masks(masks, B, H, dtype):
    """(M, B, H) contiguous: the recurrent dropout masks, or one block of ones without."""
    if masks is None:
        return cupy().ones((1, B, H), dtype=dtype)
    return cupy().ascontiguousarray(masks)


def _rows(array):
    return array.reshape(-1, array.shape[-1])


def _block_mask(masks, k):
    return masks[0] if masks.shape[0] == 1 else masks[k]


def masked_matmul(a, weights, masks):
    """(a * m_k) @ W_k for every gate block k, concatenated: reference _sequence.masked_matmul.

    `a` is time-major [T, B, D] or [B, D]; masks [M, B, D] broadcast over T as
    they are. All T*B rows go through one GEMM per block.
    """
    shape = a.shape[:-1] + (weights.shape[1],)
    if masks is None:
        return (_rows(a) @ weights).reshape(shape)
    blocks = 1 if masks.shape[0] == 1 else masks.shape[0]
    width = weights.shape[1] // blocks
    return cupy().concatenate([
        _rows(a * _block_mask(masks, k)) @ weights[:, k * width:(k + 1) * width]
        for k in range(blocks)
    ], axis=-1).reshape(shape)


def masked_matmul_grad_operand(dout, weights, masks):
    """Σ_k (dout_k @ W_kᵀ) * m_k, a new array shaped like the operand (time-major)."""
    shape = dout.shape[:-1] + (weights.shape[0],)
    if masks is None:
        return (_rows(dout) @ weights.T).reshape(shape)
    blocks = 1 if masks.shape[0] == 1 else masks.shape[0]
    width = weights.shape[1] // blocks
    total = None
    for k in range(blocks):
        part = (_rows(dout[..., k * width:(k + 1) * width])
                @ weights[:, k * width:(k + 1) * width].T).reshape(shape) * _block_mask(masks, k)
        total = part if total is None else total + part
    return total


def masked_matmul_grad_weights(dout, a, masks):
    """(a * m_k)ᵀ @ dout_k summed over every row (time and batch): one GEMM per block."""
    if masks is None:
        return _rows(a).T @ _rows(dout)
    blocks = 1 if masks.shape[0] == 1 else masks.shape[0]
    width = dout.shape[-1] // blocks
    return cupy().concatenate([
        _rows(a * _block_mask(masks, k)).T @ _rows(dout[..., k * width:(k + 1) * width])
        for k in range(blocks)
    ], axis=1)


def recurrent_weights(recurrent_kernel, shared, gates):
    """The per-step GEMMs' right operands: [U] when one mask serves every block
    (`shared`), else [U_0, ..., U_{G-1}], each H wide and contiguous."""
    if shared:
        return [cupy().ascontiguousarray(recurrent_kernel)]
    H = recurrent_kernel.shape[1] // gates
    return [cupy().ascontiguousarray(recurrent_kernel[:, k * H:(k + 1) * H])
            for k in range(gates)]


def transposed(weights):
    """Contiguous transposes of `recurrent_weights`, for the backward GEMMs."""
    return [cupy().ascontiguousarray(w.T) for w in weights]


def recurrent_buffer(B, H, gates, shared, dtype):
    """(zh, row_stride, block_stride): where the forward GEMMs write a step's
    recurrent product, and how a kernel finds entry (b, k, j) in it."""
    if shared:
        return cupy().empty((B, gates * H), dtype=dtype), gates * H, H  # (B, GH)
    return cupy().empty((gates, B, H), dtype=dtype), H, B * H  # (G, B, H)


def recurrent_matmul(h_dropped, weights, out):
    """One step's (h_prev * m_k) @ U_k into `out` (from `recurrent_buffer`)."""
    if len(weights) == 1:
        cupy().matmul(h_dropped[0], weights[0], out=out)
        return
    for k, weight in enumerate(weights):
        cupy().matmul(h_dropped[k], weight, out=out[k])


def recurrent_matmul_grad(d, weights_t, out):
    """One step's dz_k @ U_kᵀ into out [M, B, H]; the next kernel applies the masks."""
    if len(weights_t) == 1:
        cupy().matmul(d, weights_t[0], out=out[0])
        return
    H = out.shape[2]
    for k, weight_t in enumerate(weights_t):
        cupy().matmul(d[:, k * H:(k + 1) * H], weight_t, out=out[k])


def upstream(array, B, H, dtype):
    """A private, writable copy of an upstream gradient (zeros for None)."""
    if array is None:
        return cupy().zeros((B, H), dtype=dtype)
    return cupy().array(array, order="C", copy=True)
