"""Reshaping layers: RepeatVector, Flatten, Reshape, Permute. No weights; each backward
undoes its forward's rearrangement of the gradient."""

import math

import numpy as np

from .. import backend
from .base import Layer


def _positive_int(value, argument):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"Expected an integer value for `{argument}`, got {type(value)}.")
    if value <= 0:
        raise ValueError(f"Argument `{argument}` should be a positive integer. "
                         f"Received: {argument}={value}")
    return int(value)


def _check_ndim(layer, shape, ndim):
    if len(shape) != ndim:
        raise ValueError(f"Input 0 of layer '{layer.name}' is incompatible with the layer: "
                         f"expected ndim={ndim}, found ndim={len(shape)}. Full shape received: "
                         f"{tuple(shape)}")


class RepeatVector(Layer):
    """Repeats a (batch, features) input `n` times: (batch, n, features).

    Often puts an encoder's last state in front of a decoder LSTM.

    Args:
        n: positive integer, the number of repetitions.

    >>> import numpy as np
    >>> RepeatVector(3)(np.ones((2, 4))).shape
    (2, 3, 4)
    """

    def __init__(self, n, **kwargs):
        n = _positive_int(n, "n")
        super().__init__(**kwargs)
        self.n = n

    def build(self, input_shape):
        _check_ndim(self, input_shape, 2)
        super().build(input_shape)

    def _check_call_shape(self, shape):
        _check_ndim(self, shape, 2)  # weightless: a shared call may have other sizes

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, x, training=False, mask=None):
        _check_ndim(self, x.shape, 2)
        xp = backend.get_array_module(x)
        return xp.repeat(x[:, None, :], self.n, axis=1)

    def backward(self, dy):
        self.grads = []
        return dy.sum(axis=1)  # each input row fed n output rows

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Flatten(Layer):
    """Flattens every axis but the batch axis: (batch, ...) -> (batch, product of the rest).

    Args:
        data_format: 'channels_last' (default) or 'channels_first'; with the latter the
            channel axis (1) is moved last before flattening, as Keras does.

    >>> import numpy as np
    >>> Flatten()(np.ones((2, 3, 4))).shape
    (2, 12)
    """

    def __init__(self, data_format=None, **kwargs):
        data_format = "channels_last" if data_format is None else data_format
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError("The `data_format` argument must be one of {'channels_first', "
                             f"'channels_last'}}. Received: data_format={data_format!r}")
        super().__init__(**kwargs)
        self.data_format = data_format

    def _check_call_shape(self, shape):
        """Weightless: a shared Flatten accepts any shape."""

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)

    def forward(self, x, training=False, mask=None):
        xp = backend.get_array_module(x)
        if self.data_format == "channels_first" and x.ndim > 2:
            x = xp.moveaxis(x, 1, -1)
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        xp = backend.get_array_module(dy)
        self.grads = []
        dx = dy.reshape(self._cache)
        if self.data_format == "channels_first" and dx.ndim > 2:
            dx = xp.moveaxis(dx, -1, 1)
        return dx

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes each sample to `target_shape` (the batch axis is kept).

    Args:
        target_shape: the shape of one sample, without the batch axis; one entry may be
            -1, inferred from the input size.

    >>> import numpy as np
    >>> Reshape((-1, 2))(np.ones((3, 8))).shape
    (3, 4, 2)
    """

    def __init__(self, target_shape, **kwargs):
        if not isinstance(target_shape, (list, tuple)) or any(
                isinstance(d, bool) or not isinstance(d, (int, np.integer)) for d in target_shape):
            raise TypeError("`target_shape` must be a tuple of integers. "
                            f"Received: target_shape={target_shape!r}")
        target_shape = tuple(int(d) for d in target_shape)
        if any(d < -1 for d in target_shape):
            raise ValueError("Each dimension in `target_shape` must be a non-negative integer, "
                             "or `-1` for a single unknown dimension. Received: "
                             f"target_shape={target_shape}.")
        if target_shape.count(-1) > 1:
            raise ValueError("There must be at most one unknown dimension (-1) in "
                             f"`target_shape`. Received: target_shape={target_shape}.")
        super().__init__(**kwargs)
        self.target_shape = target_shape

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolved(tuple(input_shape[1:]))

    def _check_call_shape(self, shape):
        self.compute_output_shape(shape)  # weightless: any shape of the same size

    def _resolved(self, sample_shape):
        """Keras's `compute_reshape_output_shape` for one sample (None where unknown)."""
        target = self.target_shape
        if None in sample_shape:
            return tuple(None if d == -1 else d for d in target)
        size = math.prod(sample_shape)
        if -1 not in target:
            if size != math.prod(target):
                raise ValueError("The total size of the tensor must be unchanged. Received: "
                                 f"input_shape={sample_shape}, target_shape={target}")
            return target
        known = math.prod(d for d in target if d != -1)
        if known == 0 or size % known:
            raise ValueError("The total size of the tensor must be unchanged, however, the input "
                             f"size {size} is not divisible by the product of the specified "
                             f"dimensions {known}. Received: input_shape={sample_shape}, "
                             f"target_shape={target}")
        return tuple(size // known if d == -1 else d for d in target)

    def forward(self, x, training=False, mask=None):
        self._cache = x.shape
        return x.reshape((x.shape[0],) + self._resolved(tuple(x.shape[1:])))

    def backward(self, dy):
        self.grads = []
        return dy.reshape(self._cache)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """Permutes the non-batch axes: `dims` lists them, counted from 1, in their new order.

    Args:
        dims: a permutation of 1, ..., rank - 1; e.g. (2, 1) swaps timesteps and features.

    >>> import numpy as np
    >>> Permute((2, 1))(np.ones((2, 3, 4))).shape
    (2, 4, 3)
    """

    def __init__(self, dims, **kwargs):
        if not isinstance(dims, (list, tuple)) or any(
                isinstance(d, bool) or not isinstance(d, (int, np.integer)) for d in dims):
            raise TypeError(f"`dims` must be a tuple of integers. Received: dims={dims!r}")
        if sorted(int(d) for d in dims) != list(range(1, len(dims) + 1)):
            raise ValueError("Invalid permutation argument `dims` for Permute Layer. The set of "
                             "indices in `dims` must be consecutive and start from 1. "
                             f"Received dims={tuple(dims)}")
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)

    def build(self, input_shape):
        _check_ndim(self, input_shape, len(self.dims) + 1)
        super().build(input_shape)

    def _check_call_shape(self, shape):
        _check_ndim(self, shape, len(self.dims) + 1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def forward(self, x, training=False, mask=None):
        _check_ndim(self, x.shape, len(self.dims) + 1)
        xp = backend.get_array_module(x)
        return xp.transpose(x, (0,) + self.dims)

    def backward(self, dy):
        xp = backend.get_array_module(dy)
        self.grads = []
        return xp.transpose(dy, tuple(np.argsort((0,) + self.dims)))

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}
