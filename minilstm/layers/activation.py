"""Activation: applies an activation function as a layer of its own."""

from .. import activations
from .base import Layer


class Activation(Layer):
    """Applies an activation function to its input.

    Args:
        activation: a name ('linear', 'sigmoid', 'tanh', 'relu', 'softmax',
            'hard_sigmoid') or an activation function such as
            `minilstm.activations.sigmoid`.

    Input shape: any. Output shape: the same.

    >>> import numpy as np
    >>> from minilstm.layers import Activation
    >>> Activation("relu")(np.array([[-1.0, 2.0]])).tolist()
    [[0.0, 2.0]]
    """

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def forward(self, x, training=False, mask=None):
        y = self.activation(x)
        self._cache = (x, y)
        return y

    def backward(self, dy):
        x, y = self._cache
        self.grads = []
        return activations.backward(self.activation, dy, x, y, self.name)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
