"""Dense: `activation(x @ kernel + bias)` over the last axis, and its backward pass."""

import numpy as np

from .. import activations, initializers
from .base import Layer, serialize_initializer


class Dense(Layer):
    """Densely connected layer: `output = activation(x @ kernel + bias)`.

    On inputs of rank above 2 it contracts the last axis only, as Keras does:
    (batch, timesteps, features) becomes (batch, timesteps, units), the same
    as wrapping it in TimeDistributed.

    Args:
        units: positive integer, dimensionality of the output space.
        activation: name or activation function; default None (linear).
        use_bias: whether to add a bias; default True.
        kernel_initializer: default 'glorot_uniform'.
        bias_initializer: default 'zeros'.

    Input shape: (..., input_dim).
    Output shape: (..., units).

    >>> import numpy as np
    >>> from minilstm.layers import Dense
    >>> Dense(3)(np.ones((4, 2))).shape
    (4, 3)
    """

    supports_masking = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units <= 0:
            raise ValueError(
                "Received an invalid value for argument `units`, expected a positive integer, "
                f"got {units}."
            )
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(
                f"The last dimension of the input to layer '{self.name}' must be defined. "
                f"Full input shape received: {tuple(input_shape)}"
            )
        self.add_weight("kernel", (int(input_shape[-1]), self.units), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, training=False, mask=None):
        if x.shape[-1] != self.kernel.shape[0]:
            raise ValueError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"axis -1 of input shape to have value {self.kernel.shape[0]}, but received "
                f"input with shape {tuple(x.shape)}"
            )
        z = x @ self.kernel
        if self.use_bias:
            z += self.bias
        y = self.activation(z)
        self._cache = (x, z, y)
        return y

    def backward(self, dy):
        x, z, y = self._cache
        # linear's derivative is 1: dz is dy (only read below)
        dz = dy if self.activation is activations.linear else activations.backward(
            self.activation, dy, z, y, self.name)
        dz_rows = dz.reshape(-1, self.units)
        dkernel = x.reshape(-1, x.shape[-1]).T @ dz_rows  # Σ over batch (and time) rows
        self.grads = [dkernel] + ([dz_rows.sum(axis=0)] if self.use_bias else [])
        return dz @ self.kernel.T

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": serialize_initializer(self.kernel_initializer),
                "bias_initializer": serialize_initializer(self.bias_initializer),
                "kernel_regularizer": None, "bias_regularizer": None,
                "kernel_constraint": None, "bias_constraint": None}
