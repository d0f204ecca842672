"""1-D pooling over time (max, average, global max, global average), with backward passes.

Shape legend: B = batch, L = input steps, T = output steps, C = channels, P = pool_size.

The windows are gathered as P strided slices, as Conv1D gathers its taps
(`convolutional._gather_taps`): `windows[b, t, p, c] = x_pad[b, t*s + p, c]`.
Backward scatters through the same slices, so overlapping windows (strides <
pool_size) add their gradients.
"""

import numpy as np

from .. import backend
from .base import Layer
from .convolutional import (_check_3d, _data_format, _gather_taps, _output_length, _pad_amounts,
                            _padding, _positive_int, _scatter_taps)


def _to_channels_last(x, data_format):
    return x.transpose(0, 2, 1) if data_format == "channels_first" else x


class _Pooling1D(Layer):
    """Shared by MaxPooling1D and AveragePooling1D: arguments, shapes, windows."""

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        pool_size = _positive_int(pool_size, "pool_size")
        strides = pool_size if strides is None else _positive_int(strides, "strides")
        padding = _padding(padding, ("valid", "same"))
        data_format = _data_format(data_format)
        super().__init__(**kwargs)
        self.pool_size, self.strides, self.padding = pool_size, strides, padding
        self.data_format = data_format

    def build(self, input_shape):
        _check_3d(self, tuple(input_shape))
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        _check_3d(self, input_shape)
        steps_axis = 1 if self.data_format == "channels_last" else 2
        length = input_shape[steps_axis]
        steps = _output_length(length, self.pool_size, self.strides, self.padding)
        if steps is not None and steps <= 0:
            raise ValueError(
                f"Computed output size would be zero or negative for layer '{self.name}': "
                f"{length} input steps with pool_size={self.pool_size} and padding='valid'. "
                "Use padding='same' or a smaller pool_size.")
        shape = list(input_shape)
        shape[steps_axis] = steps
        return tuple(shape)

    def _windows(self, x, pad_value):
        """(windows (B, T, P, C), padded length, left pad) of channels-last x."""
        self.compute_output_shape(tuple(x.shape))  # checks ndim and a too-short input
        xp = backend.get_array_module(x)
        length = x.shape[1]
        steps = _output_length(length, self.pool_size, self.strides, self.padding)
        left, right = _pad_amounts(length, self.pool_size, self.strides, self.padding)
        if left or right:
            x = xp.pad(x, ((0, 0), (left, right), (0, 0)), constant_values=pad_value)
        return _gather_taps(x, self.pool_size, 1, self.strides, steps), x.shape[1], left

    def _scatter(self, dwindows, padded_length, left, length):
        dx = _scatter_taps(dwindows, padded_length, 1, self.strides)[:, left:left + length]
        return _to_channels_last(dx, self.data_format)  # the transpose is its own inverse

    def get_config(self):
        return {**super().get_config(), "pool_size": (self.pool_size,), "padding": self.padding,
                "strides": (self.strides,), "data_format": self.data_format}


class MaxPooling1D(_Pooling1D):
    """Max over windows of `pool_size` steps, moved by `strides`.

    'same' pads with -inf (pads never win), so every output step is the max of
    the real steps its window covers. Backward sends each output's gradient to
    the arg-max of its window; on ties, to the first (earliest) of the tied
    steps, as `argmax` picks it (TF and JAX may split or pick differently; the
    forward values agree).

    Args:
        pool_size: positive integer, default 2.
        strides: positive integer; default None, meaning `pool_size`.
        padding: 'valid' (default) or 'same'.
        data_format: 'channels_last' (default; None means it) or 'channels_first'.

    Input shape: (batch, steps, features) ('channels_first': (batch, features, steps)).
    Output shape: (batch, pooled_steps, features): floor((L - P) / s) + 1 steps
    for 'valid', ceil(L / s) for 'same'.

    >>> import numpy as np
    >>> from minilstm.layers.pooling import MaxPooling1D
    >>> MaxPooling1D()(np.arange(5.0).reshape(1, 5, 1))[0, :, 0].tolist()
    [1.0, 3.0]
    """

    def forward(self, x, training=False, mask=None):
        _check_3d(self, x.shape)
        x = _to_channels_last(x, self.data_format)
        windows, padded_length, left = self._windows(x, -np.inf)
        winner = windows.argmax(axis=2)  # (B, T, C): first maximum on ties
        self._cache = (winner, padded_length, left, x.shape[1])
        return _to_channels_last(windows.max(axis=2), self.data_format)

    def backward(self, dy):
        winner, padded_length, left, length = self._cache
        xp = backend.get_array_module(dy)
        dy = _to_channels_last(dy, self.data_format)
        positions = xp.arange(self.pool_size).reshape(1, 1, -1, 1)
        dwindows = (positions == winner[:, :, None, :]) * dy[:, :, None, :]  # (B, T, P, C)
        self.grads = []
        return self._scatter(dwindows.astype(dy.dtype), padded_length, left, length)


class AveragePooling1D(_Pooling1D):
    """Mean over windows of `pool_size` steps, moved by `strides`.

    With 'same', the padded steps are left out of the count, as TF and Keras do:
    an edge window covering 2 real steps and 1 pad is the mean of the 2.

    Args:
        pool_size: positive integer, default 2.
        strides: positive integer; default None, meaning `pool_size`.
        padding: 'valid' (default) or 'same'.
        data_format: 'channels_last' (default; None means it) or 'channels_first'.

    Input shape: (batch, steps, features) ('channels_first': (batch, features, steps)).
    Output shape: (batch, pooled_steps, features), as MaxPooling1D.

    >>> import numpy as np
    >>> from minilstm.layers.pooling import AveragePooling1D
    >>> AveragePooling1D(2, padding="same")(np.arange(5.0).reshape(1, 5, 1))[0, :, 0].tolist()
    [0.5, 2.5, 4.0]
    """

    def forward(self, x, training=False, mask=None):
        _check_3d(self, x.shape)
        xp = backend.get_array_module(x)
        x = _to_channels_last(x, self.data_format)
        windows, padded_length, left = self._windows(x, 0)
        ones = xp.ones((1, x.shape[1], 1), dtype=x.dtype)
        counts = self._windows(ones, 0)[0].sum(axis=2)  # (1, T, 1): real steps per window
        self._cache = (counts, padded_length, left, x.shape[1])
        return _to_channels_last(windows.sum(axis=2) / counts, self.data_format)

    def backward(self, dy):
        counts, padded_length, left, length = self._cache
        xp = backend.get_array_module(dy)
        dy = _to_channels_last(dy, self.data_format)
        share = dy / counts  # each step of a window gets 1/count of its gradient
        dwindows = xp.broadcast_to(share[:, :, None, :], share.shape[:2] + (self.pool_size,)
                                   + share.shape[2:])
        self.grads = []
        return self._scatter(dwindows, padded_length, left, length)


class _GlobalPooling1D(Layer):
    """Shared by the global poolings: arguments and output shape."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        data_format = _data_format(data_format)
        if not isinstance(keepdims, (bool, np.bool_)):
            raise TypeError(f"`keepdims` must be a bool. Received: keepdims={keepdims!r}")
        super().__init__(**kwargs)
        self.data_format, self.keepdims = data_format, bool(keepdims)

    @property
    def _steps_axis(self):
        return 1 if self.data_format == "channels_last" else 2

    def build(self, input_shape):
        _check_3d(self, tuple(input_shape))
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        _check_3d(self, input_shape)
        shape = list(input_shape)
        if self.keepdims:
            shape[self._steps_axis] = 1
        else:
            del shape[self._steps_axis]
        return tuple(shape)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalMaxPooling1D(_GlobalPooling1D):
    """Max over all steps. Backward sends the gradient to the first arg-max step.

    A mask is ignored, as in Keras 3 (padded steps take part in the max).

    Args:
        data_format: 'channels_last' (default; None means it) or 'channels_first'.
        keepdims: keep the steps axis with length 1; default False.

    Input shape: (batch, steps, features) ('channels_first': (batch, features, steps)).
    Output shape: (batch, features), or (batch, 1, features) with keepdims.

    >>> import numpy as np
    >>> from minilstm.layers.pooling import GlobalMaxPooling1D
    >>> GlobalMaxPooling1D()(np.array([[[1.0, 5.0], [3.0, 2.0]]])).tolist()
    [[3.0, 5.0]]
    """

    def forward(self, x, training=False, mask=None):
        _check_3d(self, x.shape)
        axis = self._steps_axis
        self._cache = (x.argmax(axis=axis), x.shape)  # first maximum on ties
        return x.max(axis=axis, keepdims=self.keepdims)

    def backward(self, dy):
        winner, shape = self._cache
        xp = backend.get_array_module(dy)
        axis = self._steps_axis
        if not self.keepdims:
            dy = xp.expand_dims(dy, axis)
        positions = xp.arange(shape[axis]).reshape((1, -1, 1) if axis == 1 else (1, 1, -1))
        self.grads = []
        return ((positions == xp.expand_dims(winner, axis)) * dy).astype(dy.dtype)


class GlobalAveragePooling1D(_GlobalPooling1D):
    """Mean over all steps; with a (batch, steps) mask, the mean of the unmasked steps only.

    As in Keras 3, a sample whose steps are all masked gives NaN (0 / 0).

    Args:
        data_format: 'channels_last' (default; None means it) or 'channels_first'.
        keepdims: keep the steps axis with length 1; default False.

    Call arguments:
        mask: optional (batch, steps) array, True (or 1) where a step counts.

    Input shape: (batch, steps, features) ('channels_first': (batch, features, steps)).
    Output shape: (batch, features), or (batch, 1, features) with keepdims.

    >>> import numpy as np
    >>> from minilstm.layers.pooling import GlobalAveragePooling1D
    >>> x = np.array([[[1.0], [3.0], [8.0]]])
    >>> GlobalAveragePooling1D()(x, mask=np.array([[True, True, False]])).tolist()
    [[2.0]]
    """

    supports_masking = True

    def forward(self, x, training=False, mask=None):
        _check_3d(self, x.shape)
        xp = backend.get_array_module(x)
        axis = self._steps_axis
        if mask is None:
            weights = xp.asarray(1.0 / x.shape[axis], dtype=x.dtype)
        else:
            mask = xp.asarray(mask).astype(bool)
            if mask.shape != (x.shape[0], x.shape[axis]):
                raise ValueError(
                    f"Layer '{self.name}' expects a mask of shape (batch, steps) = "
                    f"{(x.shape[0], x.shape[axis])}. Received: mask.shape={tuple(mask.shape)}")
            mask = xp.expand_dims(mask, 2 if axis == 1 else 1)
            counts = mask.sum(axis=axis, keepdims=True).astype(x.dtype)
            # 0 / 0 is NaN, as in Keras; dividing by NaN gets there without a warning
            counts = xp.where(counts == 0, xp.asarray(np.nan, dtype=x.dtype), counts)
            weights = mask / counts  # (B, T, 1): 1/count on unmasked steps, 0 elsewhere
            x = xp.where(mask, x, 0)  # as Keras: masked steps never reach the sum
        self._cache = (weights, x.shape)
        return (x * weights).sum(axis=axis, keepdims=self.keepdims)

    def backward(self, dy):
        weights, shape = self._cache
        xp = backend.get_array_module(dy)
        if not self.keepdims:
            dy = xp.expand_dims(dy, self._steps_axis)
        self.grads = []
        return xp.broadcast_to(dy * weights, shape).astype(dy.dtype)
