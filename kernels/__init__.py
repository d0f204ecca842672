"""LSTM kernel sets: one contract, three implementations.

Each kernel set is a module exporting

    NAME                 'numpy' | 'numba' | 'cupy'
    is_available()       True when it can run on this machine
    unavailable_reason() why not, in words (empty string when available)
    lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias,
                 activation='tanh', recurrent_activation='sigmoid',
                 go_backwards=False) -> (hs, cs, cache)
    lstm_backward(dhs, dh_last, dc_last, cache)
        -> (dx, dh0, dc0, dkernel, drecurrent_kernel, dbias)

`reference.py` (NumPy) is the readable oracle; `cpu.py` (Numba) and `gpu.py`
(CuPy) are the fast sets. numba and cupy are imported only when their set is
asked for, so `import minilstm` works without them.
"""

import importlib

from .cache import LSTMCache
from .gradcheck import GradcheckReport, gradcheck

# Fastest first: `available()[0]` is the default backend.
NAMES = ("cupy", "numba", "numpy")
_MODULES = {"numpy": "reference", "numba": "cpu", "cupy": "gpu"}

__all__ = ["LSTMCache", "GradcheckReport", "NAMES", "available", "get", "gradcheck"]


def _module(name):
    if name not in _MODULES:
        raise ValueError(
            f"Unknown kernel set {name!r}. Expected one of 'numpy', 'numba', 'cupy'."
        )
    return importlib.import_module(f".{_MODULES[name]}", __name__)


def available():
    """Names of the kernel sets that can run here, fastest first."""
    return [name for name in NAMES if _module(name).is_available()]


# Sets found usable, by name: the layers ask for the active set on every forward and
# backward, and checking availability (find_spec, a CUDA probe) costs tens of µs.
_USABLE = {}


def get(name):
    """The kernel set module called `name`; RuntimeError if it cannot run here."""
    module = _USABLE.get(name)
    if module is not None:
        return module
    module = _module(name)
    if not module.is_available():
        raise RuntimeError(
            f"The {name!r} kernel set cannot run on this machine: "
            f"{module.unavailable_reason()} "
            f"Available here: {', '.join(repr(n) for n in available())}."
        )
    _USABLE[name] = module
    return module
