"""Conv1D: a 1-D convolution over time with Keras 3's padding rules, and its backward pass.

Shape legend: B = batch, L = input steps, T = output steps, C = input channels,
F = filters, K = kernel_size, d = dilation_rate, s = strides.

im2col by strided slices: tap k of output step t reads `x_pad[:, t*s + k*d]`, so
the K taps of every step are K strided slices of the padded input, stacked into
`cols` (B, T, K, C). The convolution is then one matmul with the kernel seen as
(K*C, F), and backward scatters the gradient of `cols` back through the same K
slices (a loop over taps, never over batch or time). The pooling layers reuse
these helpers.
"""

import numpy as np

from .. import activations, backend, initializers
from .base import Layer

# -- argument and shape helpers (shared with pooling.py) ------------------------------


def _positive_int(value, argument):
    """An int >= 1 from an int or a 1-tuple, as Keras's standardize_tuple accepts."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"The `{argument}` argument must be a positive integer or a tuple of "
                         f"1 positive integer. Received: {argument}={value!r}")
    return int(value)


def _padding(value, allowed):
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(f"The `padding` argument must be one of {list(allowed)}. "
                         f"Received: padding={value!r}")
    return value.lower()


def _data_format(value):
    """Keras's standardize_data_format: None means 'channels_last'."""
    if value is None:
        return "channels_last"
    if not isinstance(value, str) or value.lower() not in ("channels_first", "channels_last"):
        raise ValueError("The `data_format` argument must be one of 'channels_first', "
                         f"'channels_last'. Received: data_format={value!r}")
    return value.lower()


def _output_length(length, span, stride, padding):
    """T for L input steps and a window covering `span` steps (d*(K-1)+1), as Keras 3.

    'valid': floor((L - span) / s) + 1; 'same' and 'causal': ceil(L / s).
    """
    if length is None:
        return None
    if padding == "valid":
        return (length - span) // stride + 1
    return (length - 1) // stride + 1


def _pad_amounts(length, span, stride, padding):
    """(left, right) zero steps. 'same' puts the odd one on the right, as TF and Keras do."""
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    total = max((_output_length(length, span, stride, padding) - 1) * stride + span - length, 0)
    return total // 2, total - total // 2


def _gather_taps(x_pad, taps, dilation, stride, steps):
    """cols[b, t, k, c] = x_pad[b, t*stride + k*dilation, c]: (B, T, K, C)."""
    xp = backend.get_array_module(x_pad)
    last = stride * (steps - 1) + 1
    return xp.stack([x_pad[:, k * dilation:k * dilation + last:stride] for k in range(taps)],
                    axis=2)


def _scatter_taps(dcols, padded_length, dilation, stride):
    """The adjoint of `_gather_taps`: (B, T, K, C) -> (B, padded L, C), overlaps summed."""
    xp = backend.get_array_module(dcols)
    batch, steps, taps, channels = dcols.shape
    dx_pad = xp.zeros((batch, padded_length, channels), dtype=dcols.dtype)
    last = stride * (steps - 1) + 1
    for k in range(taps):
        dx_pad[:, k * dilation:k * dilation + last:stride] += dcols[:, :, k]
    return dx_pad


def _check_3d(layer, shape, what="(batch, steps, channels)"):
    if len(shape) != 3:
        raise ValueError(
            f"Input 0 of layer '{layer.name}' is incompatible with the layer: expected ndim=3, "
            f"found ndim={len(shape)}. Full shape received: {tuple(shape)}. "
            f"{type(layer).__name__} takes {what}.")


def _reject_unsupported(layer_class, **options):
    """NotImplementedError naming every result-changing Keras option that is set."""
    given = [f"{name}={value!r}" for name, value in options.items() if value is not None]
    if given:
        raise NotImplementedError(
            f"{layer_class} in minilstm does not implement {', '.join(given)}: it would change "
            "the results, so it is refused rather than ignored. Leave these arguments None.")


# -- Conv1D ---------------------------------------------------------------------------


class Conv1D(Layer):
    """1-D convolution over time: `output[t] = activation(Σ_k x[t*s + k*d] @ kernel[k] + bias)`.

    Keras's layout and rules: kernel (kernel_size, input_channels, filters) and
    bias (filters,); 'valid' gives floor((L - d*(K-1) - 1) / s) + 1 steps, 'same'
    gives ceil(L / s) and pads both ends (the extra step on the right), 'causal'
    pads d*(K-1) steps on the left only, so output[t] sees no input after t.

    Args:
        filters: positive integer, the number of output channels.
        kernel_size: positive integer (or 1-tuple), the window length.
        strides: positive integer, default 1. Cannot exceed 1 together with
            `dilation_rate > 1` (Keras 3 forbids it).
        padding: 'valid' (default), 'same' or 'causal', case-insensitive.
        data_format: 'channels_last' (default; None means it) for (batch, steps,
            channels), or 'channels_first' for (batch, channels, steps).
        dilation_rate: positive integer, default 1: the gap between taps.
        groups: only 1 (the default) is implemented.
        activation: name or activation function; default None (linear).
        use_bias: whether to add a bias; default True.
        kernel_initializer: default 'glorot_uniform'.
        bias_initializer: default 'zeros'.
        kernel_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, bias_constraint, lora_rank: not implemented; must
            stay None.

    Input shape: (batch, steps, channels) ('channels_first': (batch, channels, steps)).
    Output shape: (batch, new_steps, filters) ('channels_first': (batch, filters, new_steps)).

    >>> import numpy as np
    >>> from minilstm.layers.convolutional import Conv1D
    >>> Conv1D(4, 3)(np.ones((2, 10, 5))).shape
    (2, 8, 4)
    >>> Conv1D(4, 3, strides=2, padding="same")(np.ones((2, 10, 5))).shape
    (2, 5, 4)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, lora_alpha=None,
                 **kwargs):
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) \
                or filters <= 0:
            raise ValueError("Invalid value for argument `filters`. Expected a strictly positive "
                             f"integer. Received: filters={filters!r}")
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups <= 0:
            raise ValueError("The number of groups must be a positive integer. "
                             f"Received: groups={groups!r}")
        if groups != 1:
            raise NotImplementedError(
                f"Conv1D in minilstm implements groups=1 only. Received: groups={groups}.")
        _reject_unsupported("Conv1D", kernel_regularizer=kernel_regularizer,
                            bias_regularizer=bias_regularizer,
                            activity_regularizer=activity_regularizer,
                            kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                            lora_rank=lora_rank)
        kernel_size = _positive_int(kernel_size, "kernel_size")
        strides = _positive_int(strides, "strides")
        dilation_rate = _positive_int(dilation_rate, "dilation_rate")
        if strides > 1 and dilation_rate > 1:
            raise ValueError("`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                             f"Received: strides={strides} and dilation_rate={dilation_rate}")
        padding = _padding(padding, ("valid", "same", "causal"))
        data_format = _data_format(data_format)
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = int(filters), kernel_size, strides
        self.padding, self.data_format, self.dilation_rate = padding, data_format, dilation_rate
        self.groups = 1
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    @property
    def _span(self):
        """How many input steps one output step sees: d*(K-1)+1."""
        return self.dilation_rate * (self.kernel_size - 1) + 1

    def _steps_and_channels(self, shape):
        return (shape[1], shape[2]) if self.data_format == "channels_last" else (shape[2], shape[1])

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        _check_3d(self, input_shape)
        channels = self._steps_and_channels(input_shape)[1]
        if channels is None:
            raise ValueError(f"The channel dimension of the input to layer '{self.name}' must be "
                             f"defined. Full input shape received: {input_shape}")
        self.add_weight("kernel", (self.kernel_size, int(channels), self.filters),
                        self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        _check_3d(self, input_shape)
        length = self._steps_and_channels(input_shape)[0]
        steps = _output_length(length, self._span, self.strides, self.padding)
        if steps is not None and steps <= 0:
            raise ValueError(
                f"Computed output size would be zero or negative for layer '{self.name}': "
                f"{length} input steps, kernel_size={self.kernel_size}, "
                f"dilation_rate={self.dilation_rate}, strides={self.strides}, padding='valid'. "
                "Use padding='same' or 'causal', or a shorter kernel.")
        if self.data_format == "channels_last":
            return (input_shape[0], steps, self.filters)
        return (input_shape[0], self.filters, steps)

    def forward(self, x, training=False, mask=None):
        _check_3d(self, x.shape)
        self.compute_output_shape(tuple(x.shape))  # raises on a too-short 'valid' input
        xp = backend.get_array_module(x)
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 1)
        batch, length, channels = x.shape
        if channels != self.kernel.shape[1]:
            raise ValueError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"{self.kernel.shape[1]} channels, but received input with shape "
                f"{tuple(x.shape)} (data_format='{self.data_format}').")
        steps = _output_length(length, self._span, self.strides, self.padding)
        left, right = _pad_amounts(length, self._span, self.strides, self.padding)
        x_pad = xp.pad(x, ((0, 0), (left, right), (0, 0))) if left or right else x
        cols = _gather_taps(x_pad, self.kernel_size, self.dilation_rate, self.strides, steps)
        taps_by_channels = self.kernel_size * channels
        z = cols.reshape(batch * steps, taps_by_channels) @ self.kernel.reshape(
            taps_by_channels, self.filters)  # (B*T, F)
        z = z.reshape(batch, steps, self.filters)
        if self.use_bias:
            z += self.bias
        y = self.activation(z)
        self._cache = (cols, z, y, x_pad.shape[1], left, length)
        return y.transpose(0, 2, 1) if self.data_format == "channels_first" else y

    def backward(self, dy):
        cols, z, y, padded_length, left, length = self._cache
        if self.data_format == "channels_first":
            dy = dy.transpose(0, 2, 1)
        batch, steps, taps, channels = cols.shape
        dz = activations.backward(self.activation, dy, z, y, self.name)
        dz_rows = dz.reshape(batch * steps, self.filters)
        # Σ over batch and time rows of colsᵀ·dz, as one matmul
        dkernel = cols.reshape(batch * steps, taps * channels).T @ dz_rows
        dcols = dz_rows @ self.kernel.reshape(taps * channels, self.filters).T
        dx_pad = _scatter_taps(dcols.reshape(batch, steps, taps, channels), padded_length,
                               self.dilation_rate, self.strides)
        self.grads = [dkernel.reshape(self.kernel.shape)]
        if self.use_bias:
            self.grads.append(dz_rows.sum(axis=0))
        dx = dx_pad[:, left:left + length]
        return dx.transpose(0, 2, 1) if self.data_format == "channels_first" else dx

    def get_config(self):
        return {
            **super().get_config(), "filters": self.filters, "kernel_size": (self.kernel_size,),
            "strides": (self.strides,), "padding": self.padding, "data_format": self.data_format,
            "dilation_rate": (self.dilation_rate,), "groups": self.groups,
            "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
            "kernel_initializer": _serialize_initializer(self.kernel_initializer),
            "bias_initializer": _serialize_initializer(self.bias_initializer),
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None,
        }


def _serialize_initializer(initializer):
    """Keras's dict for Initializer instances; a plain callable is returned as is."""
    if isinstance(initializer, initializers.Initializer):
        return initializers.serialize(initializer)
    return initializer
