"""Activation functions, each with its derivative.

Every activation here is callable like Keras's (`sigmoid(x)`) and also knows
how to differentiate itself, which is what a hand-written backward pass needs:

- `fn.grad(x, y)`: the elementwise derivative dy/dx, given the input `x` and
  the output `y = fn(x)` (whichever is cheaper; sigmoid and tanh use `y`).
- `fn.backward(dy, x, y)`: the vector-Jacobian product, the gradient with
  respect to `x` given the gradient `dy` with respect to the output.

Formulas are Keras 3's (`hard_sigmoid(x) = clip(x/6 + 1/2, 0, 1)`). Every
function works on numpy and cupy arrays alike.
"""

from .backend import get_array_module
from .kernels.activations import (  # noqa: F401  (the one definition; re-exported)
    ElementwiseActivation,
    hard_sigmoid,
    linear,
    relu,
    sigmoid,
    tanh,
)


class Softmax:
    """softmax over the last axis: exp(x - max) / sum(exp(x - max))."""

    __name__ = "softmax"

    def __call__(self, x):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def backward(self, dy, x, y):
        # The Jacobian is diag(y) - y yᵀ, so Jᵀ dy = y * (dy - <dy, y>).
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True))

    def __repr__(self):
        return "<activation softmax>"


softmax = Softmax()

_BY_NAME = {fn.__name__: fn for fn in (linear, sigmoid, tanh, relu, hard_sigmoid, softmax)}


def get(identifier):
    """Resolves an activation: None (linear), a name, or a callable.

    Names are matched exactly, as Keras does. A plain callable passes through;
    it works forward, but a layer can only train through it if it has a
    `backward(dy, x, y)` method.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]
        raise ValueError(
            f"Could not interpret activation function identifier: {identifier}. "
            f"Expected one of {sorted(_BY_NAME)}, or a callable."
        )
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Could not interpret activation function identifier: {identifier!r}. "
        "Expected a name such as 'tanh', None, or a callable."
    )


def backward(activation, dy, x, y, layer_name):
    """`activation.backward(dy, x, y)`, or a clear error for a plain callable without one."""
    if not hasattr(activation, "backward"):
        raise NotImplementedError(
            f"Cannot train through the activation {activation!r} of layer '{layer_name}': it "
            "has no `backward(dy, x, y)`. Use a built-in activation name."
        )
    return activation.backward(dy, x, y)


def serialize(activation):
    """The name of an activation (its `__name__`)."""
    return getattr(activation, "__name__", repr(activation))


def names():
    """The activation names `get` accepts."""
    return sorted(_BY_NAME)
