"""Recurrent kernel sets: one contract, three implementations.

Each kernel set is a module exporting

    NAME                 'numpy' | 'numba' | 'cupy'
    is_available()       True when it can run on this machine (cheap: imports
                         nothing heavy)
    unavailable_reason() why not, in words (empty string when available)
    load()               optional: imports what the set runs on, raising
                         RuntimeError if that is broken (called by `get`)
    <cell>_forward(x, <initial states>, kernel, recurrent_kernel, bias, ...,
                   go_backwards=False, mask=None, dropout_mask=None,
                   recurrent_dropout_mask=None, cache=True, sequences=True)
        -> (<state sequences>, cache); cache=False: a forward-only pass that
           keeps nothing for backward (the cache returned is None);
           sequences=False (with cache=False only): the caller reads only the
           last step, and hs is [B, 1, H], that step's h
    <cell>_backward(dhs, <d last states>, cache)
        -> (dx, <d initial states>, dkernel, drecurrent_kernel, dbias)

for cell in lstm, gru, simple_rnn (reference/ documents each). `reference/`
(NumPy) is the readable oracle; `cpu/` (Numba) and `gpu/` (CuPy) are the fast
sets. numba and cupy are imported only when their set is asked for, so
`import minilstm` works without them.
"""

import importlib

from .cache import LSTMCache
from .gradcheck import GradcheckReport, gradcheck

# Fastest first: `available()[0]` is the default backend.
NAMES = ("cupy", "numba", "numpy")
_MODULES = {"numpy": "reference", "numba": "cpu", "cupy": "gpu"}

__all__ = ["LSTMCache", "GradcheckReport", "NAMES", "available", "get", "gradcheck",
           "is_loaded"]


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
    if hasattr(module, "load"):  # the numba set imports its compiled kernels only now
        module.load()
    _USABLE[name] = module
    return module


def is_loaded(name):
    """True once `get(name)` has returned the set in this process."""
    return name in _USABLE
