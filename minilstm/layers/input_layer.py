"""InputLayer / Input: the Keras 3 way to declare a model's input shape."""

from .base import Layer


class InputLayer(Layer):
    """Declares the input shape of a Sequential model; passes data through.

    Args:
        shape: shape of one sample, without the batch axis, e.g. (timesteps, features).
        batch_size: optional fixed batch size (needed by stateful LSTMs).
        batch_shape: the full shape including the batch size, instead of the two above.

    >>> from minilstm.layers import Input, LSTM
    >>> from minilstm.models import Sequential
    >>> Sequential([Input(shape=(5, 1)), LSTM(2)]).output_shape
    (None, 2)
    """

    def __init__(self, shape=None, batch_size=None, batch_shape=None, **kwargs):
        if shape is None and batch_shape is None:
            raise ValueError("InputLayer needs `shape=` (without the batch axis) or `batch_shape=`.")
        super().__init__(input_shape=shape, batch_size=batch_size,
                         batch_input_shape=batch_shape, **kwargs)

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        self.grads = []
        return dy


def Input(shape=None, batch_size=None, batch_shape=None, name=None):
    """Keras's `Input(shape=...)`: an InputLayer to put first in a Sequential model."""
    return InputLayer(shape=shape, batch_size=batch_size, batch_shape=batch_shape, name=name)
