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
    _math.py       activations by their kernels.activations code, derivatives
                   from outputs, exp and tanh that vectorise
    _parallel.py   the batch in row chunks, one thread each, BLAS at 1 thread

Every loop is `@njit(cache=True)` without fastmath: float32 results stay within
1e-5 and float64 within 1e-10 of the reference. Absent masks travel as arrays
with no entries, so one compiled version per dtype serves every call. To read
the loops as plain Python, step through them in a debugger, or check them
without compiling, run with `NUMBA_DISABLE_JIT=1` (slow: minutes, not
milliseconds).
"""

import importlib.util

from ._math import NUMBA_ERROR as _NUMBA_ERROR
from .gru import gru_backward, gru_forward
from .lstm import lstm_backward, lstm_forward
from .simple_rnn import simple_rnn_backward, simple_rnn_forward

NAME = "numba"

__all__ = [
    "NAME", "is_available", "unavailable_reason", "lstm_forward", "lstm_backward",
    "gru_forward", "gru_backward", "simple_rnn_forward", "simple_rnn_backward",
]


def is_available():
    return not unavailable_reason()


def unavailable_reason():
    if isinstance(_NUMBA_ERROR, ModuleNotFoundError):
        return "numba is not installed (pip install numba)."
    if _NUMBA_ERROR is not None:
        return f"numba is installed but failed to import: {_NUMBA_ERROR}."
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
