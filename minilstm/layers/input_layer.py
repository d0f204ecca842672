"""InputLayer / Input: the Keras 3 way to declare a model's input shape."""

import numpy as np

from .. import backend
from .base import Layer
from .node import Node


class InputLayer(Layer):
    """The source of a model's input: its shape (and batch size) and dtype; passes data through.

    Usually made by `Input(...)`, which returns its output tensor.

    Args:
        shape: shape of one sample, without the batch axis, e.g. (timesteps, features).
        batch_size: optional fixed batch size (needed by stateful recurrent layers).
        batch_shape: the full shape including the batch size, instead of the two above.
        dtype: the input's dtype; default floatx ('float32'); 'int32' for token ids.
        input_shape, batch_input_shape: Keras 2 spellings of shape and batch_shape.

    >>> from minilstm.layers import Input, LSTM
    >>> from minilstm.models import Sequential
    >>> Sequential([Input(shape=(5, 1)), LSTM(2)]).output_shape
    (None, 2)
    """

    def __init__(self, shape=None, batch_size=None, batch_shape=None, dtype=None,
                 input_shape=None, batch_input_shape=None, **kwargs):
        shape = input_shape if shape is None else shape
        batch_shape = batch_input_shape if batch_shape is None else batch_shape
        if shape is None and batch_shape is None:
            raise ValueError("InputLayer needs `shape=` (without the batch axis) or `batch_shape=`.")
        if dtype is not None:
            dtype = str(np.dtype(dtype))
        super().__init__(input_shape=shape, batch_size=batch_size,
                         batch_input_shape=batch_shape, dtype=dtype, **kwargs)
        self.built = True
        self.input_shape = self.output_shape = self._batch_input_shape
        node = Node(self, [], False, [], self._batch_input_shape, dtype or backend.floatx())
        self._inbound_nodes = [node]
        self.output = node.outputs[0]

    def forward(self, x, training=False, mask=None):
        return x

    def get_config(self):
        """Keras 3's keys: the full batch shape, the dtype name, and the name."""
        return {"batch_shape": list(self._batch_input_shape),
                "dtype": self.dtype or backend.floatx(), "sparse": False, "name": self.name}

    def backward(self, dy):
        self.grads = []
        return dy


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None):
    """Keras's `Input(...)`: a symbolic tensor to build models from.

    Use it first in a Sequential model, or as the start of a Functional graph:
    `inputs = Input(shape=(None, 32)); outputs = LSTM(8)(inputs); Model(inputs, outputs)`.

    Args:
        shape: shape of one sample, without the batch axis (None for any length).
        batch_size: optional fixed batch size.
        dtype: default floatx; integer dtypes keep token ids as integers.
        batch_shape: the full shape, batch axis included, instead of the two above.
        name: the input's name (the key for dict inputs).

    >>> Input(shape=(10, 3))  # doctest: +ELLIPSIS
    <KerasTensor shape=(None, 10, 3), dtype=float32, name=input_layer...>
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, batch_shape=batch_shape, dtype=dtype,
                       name=name)
    return layer.output
