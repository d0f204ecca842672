"""CuPy GPU kernel set: cuBLAS GEMMs plus fused CUDA kernels (see kernels/reference).

The maths, the contract and the variable names are the reference's; read
kernels/reference/ for the equations. What differs here is only how the work
is laid out, the same for every cell (lstm.py, gru.py, simple_rnn.py here;
cuda/lstm.cu, gru.cu, simple_rnn.cu for the kernels):

- The input projection of all T steps is one cuBLAS GEMM before the loop,
  (T*B, I) @ kernel + bias (one GEMM per gate block under a per-gate dropout
  mask, as reference/_sequence.py's masked_matmul).
- Each step is the recurrent GEMM(s), `cupy.matmul(..., out=...)` into a
  preallocated buffer (one per gate block under a per-gate recurrent dropout
  mask), then one fused kernel that adds it to the step's input projection,
  applies the activations, the sequence mask (a masked row copies its previous
  state) and writes the states and `h * m_k`, the next step's GEMM operand.
  The GRU with reset_after=False needs the candidate's own GEMM between its
  gates and its candidate, so it runs two kernels per step around it.
- Backward runs one fused kernel per step (two for reset_after=False), then
  the GEMM(s) for dh_prev; the kernel of the step before sums them with their
  masks. After the loop, each weight gradient is one GEMM over all B*T rows.
- Internal buffers are time-major, (T, B, ...), so the slice of a step is one
  contiguous (B, ...) block that a kernel or a GEMM can use without a copy.
  Caches hold (B, T, ...) views of those buffers (their documented shapes);
  the returned state sequences are C-contiguous (B, T, H) copies.
- Nothing in the time loops waits for the device: no `.get()`, no host sync.
- Without a mask or a recurrent dropout mask the kernels get all-ones ones
  (x * 1 is exact), so there is one code path per cell.

All arrays are cupy arrays, in and out; float32 and float64 are supported.
The activations of kernels/activations.py are compiled in, passed as their
`CODES`, with output-form derivatives (haste's habit).

TF32: on Ampere and newer GPUs cuBLAS can run float32 GEMMs in TensorFloat-32
(10-bit mantissa), which breaks float32 parity with the reference at 1e-5.
CuPy does so only when the environment variable `CUPY_TF32=1` is set before
cupy is imported (the default is off, i.e. full FP32); `NVIDIA_TF32_OVERRIDE=0`
forces TF32 off in every NVIDIA library regardless. tests/test_gpu.py sets
`NVIDIA_TF32_OVERRIDE=0` and checks on the device that a float32 matmul keeps
full precision.

cupy is imported only inside functions, so this package imports without it;
`is_available()` then says False and `unavailable_reason()` says why. The kernel
files are imported on first use or by `load()` (kernels/_lazy.py), so asking
whether this set can run costs no more than that.
"""

from .._lazy import import_kernel_files, module_getattr

NAME = "cupy"

__all__ = [
    "NAME", "is_available", "unavailable_reason", "load", "lstm_forward", "lstm_backward",
    "gru_forward", "gru_backward", "simple_rnn_forward", "simple_rnn_backward",
]

__getattr__ = module_getattr(__name__, submodules=("lstm", "gru", "simple_rnn", "_launch"))

_unavailable_reason = None  # probed once: "" when cupy and a device are there


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


def load():
    """Imports the kernel files now (called by `minilstm.kernels.get` once usable)."""
    import_kernel_files(__name__)
