"""The Numba kernel set (CPU): every cell, whole sequences, BLAS GEMMs plus compiled loops.

The equations, names and shapes are the reference's (kernels/reference/); see
there. One file per cell (lstm.py, gru.py, simple_rnn.py) holds the public
pair, which checks its inputs and allocates every buffer, and the compiled
time loops over one chunk of batch rows. They share:

    _sequence.py   the input projection of all steps, the recurrent product of
                   one step, and the input and weight gradients, with the
                   optional dropout masks (compiled twins of the reference's)
    _blas.py       gemm on strided views: BLAS writes into and accumulates in
                   the rows of one step inside [B, T, ...] buffers
    _packed.py     the per-step recurrent product on a weight packed once per
                   call, in register tiles (AVX-512 or AVX2 CPUs; BLAS elsewhere)
    _vectors.py    64-byte vectors as Numba values (one AVX-512 register, two
                   AVX2 ones), for those tiles and the fused cells
    _vmath.py      sigmoid and tanh of a whole register (the fused cell's)
    _math.py       activations by their kernels.activations code, derivatives
                   from outputs, exp and tanh that vectorise, and
                   wide_vectors() for 512-bit loops
    _parallel.py   the batch in row chunks, taken by Numba's threads (a prange
                   driver per loop: `_forward_chunks`, ...), BLAS at 1 thread
    _buffers.py    the large arrays the pairs return (hs, the cache, dx) on
                   memory recycled from the last batch's, not fresh pages
                   (`release_memory()` gives what it keeps back)

and one loop outside the cells: adam.py, Adam's update of a weight in one
compiled pass, which minilstm.optimizers.Adam calls once this set is loaded.

Numba's on-disk cache (`cache=True`, in this folder's __pycache__) is keyed on
each file's own source: after editing a shared helper (_math.py, _sequence.py,
_blas.py, _packed.py, _vectors.py, _vmath.py), delete the cached `*.nbi`/`*.nbc`
files, or the cell files keep running the helpers they were compiled with.

Every loop is `@njit(cache=True)` without fastmath: float32 results stay within
1e-5 and float64 within 1e-10 of the reference. Absent masks travel as arrays
with no entries, so one compiled version per dtype serves every call. To read
the loops as plain Python, step through them in a debugger, or check them
without compiling, run with `NUMBA_DISABLE_JIT=1` (slow: minutes, not
milliseconds).
"""

import importlib.util
import sys

from .._lazy import import_kernel_files, module_getattr

NAME = "numba"

__all__ = [
    "NAME", "is_available", "unavailable_reason", "is_loaded", "load", "lstm_forward",
    "lstm_backward", "gru_forward", "gru_backward", "simple_rnn_forward", "simple_rnn_backward",
    "release_memory",
]

# The kernels are imported on first use (see kernels/_lazy.py): importing numba and
# loading the compiled loops from the cache costs about half a second, which a
# program that never runs a large recurrent call need not pay (see
# minilstm.backend.kernels_for).
__getattr__ = module_getattr(__name__, submodules=(
    "lstm", "gru", "simple_rnn", "_math", "_blas", "_buffers", "_packed", "_parallel",
    "_sequence", "_vectors", "_vmath"))


def is_available():
    """True when numba, scipy and threadpoolctl are installed (nothing is imported)."""
    return not unavailable_reason()


def unavailable_reason():
    """Why this set cannot run here, in words; "" when it can. Imports nothing heavy:
    a numba that is installed but broken is reported by `load()`."""
    if importlib.util.find_spec("numba") is None:
        return "numba is not installed (pip install numba)."
    if importlib.util.find_spec("scipy") is None:
        # The loops call BLAS through scipy.linalg.cython_blas.
        return "numba's matrix products need scipy, which is not installed (pip install scipy)."
    if importlib.util.find_spec("threadpoolctl") is None:
        # It holds BLAS at one thread while the batch is split over threads.
        return (
            "the numba kernel set needs threadpoolctl, which is not installed "
            "(pip install threadpoolctl)."
        )
    return ""


def is_loaded():
    """True once the compiled kernels are imported in this process."""
    return f"{__name__}.lstm" in sys.modules


def load():
    """Imports numba and the kernels now; RuntimeError naming the cause if numba is broken."""
    from ._math import NUMBA_ERROR

    if NUMBA_ERROR is not None:
        raise RuntimeError(f"numba is installed but failed to import: {NUMBA_ERROR}. "
                           "Reinstall it (pip install --force-reinstall numba), or use the "
                           "reference kernels: minilstm.backend.set_backend('numpy').")
    import_kernel_files(__name__)


def release_memory():
    """Gives back to the operating system the memory this set keeps for reuse: up to
    512 MiB that arrays it returned (hs, caches, dx) no longer use (_buffers.py)."""
    from ._buffers import release

    release()
