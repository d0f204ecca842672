"""The activations the recurrent kernels run: one definition, with codes and derivatives.

This is the single list of what a recurrent cell can use for `activation` and
`recurrent_activation`. Each entry has

- a name (Keras's),
- an integer code, which is how the compiled kernel sets (Numba loops,
  CUDA kernels) receive it: `CODES[name]`; cuda/*.cu mirror these numbers
  in their `Activation` enum (a test checks that they agree),
- `fn(x)`, the function on numpy or cupy arrays,
- `fn.grad(x, y)`, the elementwise derivative dy/dx given the input x and the
  output y = fn(x). Every derivative here can be written from y alone
  (sigmoid y(1-y), tanh 1-y², ...), which is why the fast sets keep only the
  activated gates in their caches.

Formulas are Keras 3's: `hard_sigmoid(x) = clip(x/6 + 1/2, 0, 1)`.
The API's `minilstm.activations` re-exports these and adds softmax; the
dependency runs API -> kernels, never back.
"""

import sys

import numpy as np


def array_module(array):
    """numpy for host arrays, cupy for device arrays (without importing cupy)."""
    cupy = sys.modules.get("cupy")
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy
    return np


class ElementwiseActivation:
    """An activation applied entry by entry, with its derivative and its kernel code."""

    def __init__(self, name, code, function, derivative):
        self.__name__ = name
        self.code = code
        self._function = function
        self._derivative = derivative

    def __call__(self, x):
        return self._function(array_module(x), x)

    def grad(self, x, y):
        """dy/dx entry by entry, given the input x and the output y."""
        return self._derivative(array_module(y), x, y)

    def backward(self, dy, x, y):
        """Gradient with respect to x, given the gradient dy of the output."""
        return dy * self.grad(x, y)

    def __repr__(self):
        return f"<activation {self.__name__}>"


def _sigmoid(xp, x):
    # 1 / (1 + exp(-x)) written to avoid overflow warnings for large |x|.
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


linear = ElementwiseActivation("linear", 0, lambda xp, x: x, lambda xp, x, y: xp.ones_like(y))
sigmoid = ElementwiseActivation("sigmoid", 1, _sigmoid, lambda xp, x, y: y * (1 - y))
tanh = ElementwiseActivation("tanh", 2, lambda xp, x: xp.tanh(x), lambda xp, x, y: 1 - y * y)
relu = ElementwiseActivation(
    "relu", 3, lambda xp, x: xp.maximum(x, 0), lambda xp, x, y: (y > 0).astype(y.dtype)
)
hard_sigmoid = ElementwiseActivation(
    "hard_sigmoid",
    4,
    lambda xp, x: xp.clip(x / 6 + 0.5, 0, 1),
    # slope 1/6 inside the linear piece, 0 where the clip is active
    lambda xp, x, y: ((y > 0) & (y < 1)).astype(y.dtype) / 6,
)

BY_NAME = {fn.__name__: fn for fn in (linear, sigmoid, tanh, relu, hard_sigmoid)}
SUPPORTED = tuple(BY_NAME)  # the names every kernel set implements
CODES = {name: fn.code for name, fn in BY_NAME.items()}


def get(name):
    """The activation called `name`; ValueError listing the supported ones otherwise."""
    if name not in BY_NAME:
        raise ValueError(f"Unknown kernel activation {name!r}. Expected one of {SUPPORTED}.")
    return BY_NAME[name]
