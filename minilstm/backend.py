"""Which array module and which LSTM kernel set are active, and the float type.

The API layer never imports numba or cupy: it asks this module.

- `xp()` is the array module arrays live in (numpy, or cupy for the GPU set).
- `kernels()` is the active kernel set (a module with `lstm_forward` and
  `lstm_backward`, see `minilstm.kernels`).
- `floatx()` is the default float dtype name, 'float32' unless changed.

The kernel set is chosen by `set_backend(name)`, else by the
`MINILSTM_BACKEND` environment variable, else the fastest that works here:
'cupy' when CuPy sees a CUDA device, then 'numba', then 'numpy'.

When 'numba' is the default (not chosen by name), the recurrent layers run
small calls on the reference kernels until a large one loads numba
(`kernels_for`): importing numba and its compiled loops costs about half a
second, and a first run after installing compiles them for ten more, which
a program as small as the seed example never earns back.
"""

import os
import sys

import numpy as np

from . import kernels as _kernel_registry

_FLOATX_CHOICES = ("float32", "float64")  # float16: refused in set_floatx
_EPSILON = 1e-7

_floatx = "float32"
_backend_name = None  # resolved lazily so `import minilstm` stays cheap
_backend_chosen = False  # True when named by set_backend or MINILSTM_BACKEND
# Multiply-adds of one recurrent call (B*T*(I+H)*G*H) below which, while numba is
# not loaded, the default numba backend runs the reference kernels. The seed
# example's LSTM(10) calls are 4e3; W4's batch-1 LSTM(32) calls, 2e4, already run
# 3x faster compiled, so they load numba.
SMALL_CALL_WORK = 1 << 13


def floatx():
    """The default float dtype name used for weights and data: 'float32'."""
    return _floatx


def set_floatx(value):
    """Sets the default float dtype: 'float32', or 'float64' for gradient checks.

    'float16' is refused: only the reference kernels could run it; the numba and cupy kernel
    sets compute in float32 or float64.
    """
    global _floatx
    if not isinstance(value, str):
        # np.float64 or np.dtype('float64') name a valid dtype: suggest its string.
        name = getattr(value, "name", None) if isinstance(value, np.dtype) else None
        name = name or getattr(value, "__name__", None)
        hint = f" Pass set_floatx({name!r})." if name in _FLOATX_CHOICES else ""
        raise TypeError(
            "`set_floatx` expects the dtype's name as a string, 'float32' or 'float64'. "
            f"Received: value={value!r} (type {type(value).__name__}).{hint}"
        )
    if value == "float16":
        raise ValueError(
            "minilstm does not support floatx 'float16': only the reference (numpy) kernels "
            "could run it, while the numba and cupy kernel sets compute in float32 or float64. "
            "Received: value='float16'. Use set_floatx('float32') (the default) or 'float64'."
        )
    if value not in _FLOATX_CHOICES:
        raise ValueError(
            f"Unknown floatx type: {value!r}. Expected one of {_FLOATX_CHOICES}. "
            f"Received: value={value!r}."
        )
    _floatx = value


def epsilon():
    """The fuzz factor used in losses and optimizers, as in Keras: 1e-7."""
    return _EPSILON


def set_backend(name):
    """Selects the LSTM kernel set: 'numpy', 'numba' or 'cupy'.

    Raises ValueError for an unknown name and RuntimeError, naming what is
    missing, for a set that cannot run on this machine.
    """
    global _backend_name, _backend_chosen
    _kernel_registry.get(name)  # raises with a clear reason if unusable
    _backend_name, _backend_chosen = name, True


def get_backend():
    """The name of the active kernel set ('numpy', 'numba' or 'cupy')."""
    global _backend_name
    if _backend_name is None:
        requested = os.environ.get("MINILSTM_BACKEND", "").strip().lower()
        if requested:
            set_backend(requested)
        else:
            _backend_name = _kernel_registry.available()[0]
    return _backend_name


def kernels():
    """The active kernel set module (lstm_forward, lstm_backward, ...)."""
    return _kernel_registry.get(get_backend())


def kernels_for(work):
    """The kernel set for one recurrent call of `work` multiply-adds (B*T*(I+H)*G*H).

    The active set, except that a default (not named) 'numba' backend answers
    calls under SMALL_CALL_WORK with the reference kernels until numba is loaded.
    """
    name = get_backend()
    if (name == "numba" and not _backend_chosen and work < SMALL_CALL_WORK
            and not _kernel_registry.is_loaded("numba")):
        return _kernel_registry.get("numpy")
    return _kernel_registry.get(name)


def xp():
    """The array module of the active backend: numpy, or cupy for 'cupy'."""
    if get_backend() == "cupy":
        import cupy

        return cupy
    return np


def get_array_module(array):
    """numpy for host arrays, cupy for device arrays (without importing cupy)."""
    cupy = sys.modules.get("cupy")
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy
    return np


def to_numpy(array):
    """Copies a device array to the host; host arrays pass through."""
    if get_array_module(array) is np:
        return np.asarray(array)
    return array.get()
