"""The LSTM layer: Keras arguments, weights, stateful carry; the maths lives in the kernels."""

import numpy as np

from .. import activations, backend, initializers
from ..kernels.cache import SUPPORTED_ACTIVATIONS
from .base import Layer


class LSTM(Layer):
    """Long Short-Term Memory layer (Hochreiter and Schmidhuber, 1997).

    The cell equations are written out once, in `minilstm/kernels/reference.py`.
    The layer runs them through the active kernel set (`minilstm.backend`),
    with the Keras weight layout, so weights move between Keras and minilstm
    unchanged.

    Args:
        units: positive integer, dimensionality of the output space.
        activation: for the candidate and the cell output; default 'tanh'.
        recurrent_activation: for the i, f, o gates; default 'sigmoid'.
            Supported for both: 'tanh', 'sigmoid', 'hard_sigmoid', 'relu', 'linear'.
        use_bias: whether to add a bias; default True.
        kernel_initializer: for `kernel`; default 'glorot_uniform'.
        recurrent_initializer: for `recurrent_kernel`; default 'orthogonal'.
        bias_initializer: for `bias`; default 'zeros'.
        unit_forget_bias: if True (default), the forget-gate bias starts at 1.
        dropout: fraction of the inputs dropped while training, one mask per
            batch reused at every timestep, as Keras does; default 0.
        return_sequences: return every step's output (B, T, units) instead
            of the last (B, units); default False.
        return_state: also return the final states: `[output, h, c]`.
        go_backwards: process the sequence last step first; with
            return_sequences the output is in processing order, as in Keras.
        stateful: carry each sample's final state into the same row of the
            next batch, across fit/evaluate/predict calls, until
            `reset_states()`. Needs a fixed batch size (`batch_input_shape`).

    Input shape: (batch, timesteps, features).
    Output shape: (batch, units), or (batch, timesteps, units) with
        return_sequences.

    >>> import numpy as np
    >>> from minilstm.layers import LSTM
    >>> LSTM(4)(np.zeros((2, 3, 1))).shape
    (2, 4)
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, **kwargs):
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units <= 0:
            raise ValueError(
                "Received an invalid value for argument `units`, expected a positive integer, "
                f"got {units}."
            )
        if recurrent_dropout:
            raise NotImplementedError(
                "recurrent_dropout is not supported by minilstm's kernels. "
                f"Received: recurrent_dropout={recurrent_dropout}. Use recurrent_dropout=0."
            )
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = self._kernel_activation(activation, "activation")
        self.recurrent_activation = self._kernel_activation(
            recurrent_activation, "recurrent_activation")
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = unit_forget_bias
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll  # accepted for compatibility: the kernels never unroll
        self.states = None
        if stateful and (self._batch_input_shape is None or self._batch_input_shape[0] is None):
            self._raise_stateful_without_batch_size()

    @staticmethod
    def _kernel_activation(identifier, argument):
        name = activations.serialize(activations.get(identifier))
        if name not in SUPPORTED_ACTIVATIONS:
            raise ValueError(
                f"LSTM `{argument}` must be one of {list(SUPPORTED_ACTIVATIONS)}, "
                f"which the kernels implement. Received: {argument}={identifier!r}"
            )
        return name

    def _raise_stateful_without_batch_size(self):
        raise ValueError(
            "If a RNN is stateful, it needs to know its batch size. Specify the batch size "
            "of your input tensors: pass `batch_input_shape=(batch_size, timesteps, features)` "
            "to the first layer, e.g. LSTM(4, stateful=True, batch_input_shape=(10, 5, 1)). "
            f"Received: batch_input_shape={self._batch_input_shape}"
        )

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"ndim=3, found ndim={len(input_shape)}. Full shape received: "
                f"{tuple(input_shape)}. An LSTM takes (samples, timesteps, features); a layer "
                "before it that returns 2-D output (an LSTM without return_sequences=True, "
                "or Dense on 2-D data) cannot feed it."
            )
        if self.stateful and input_shape[0] is None:
            self._raise_stateful_without_batch_size()
        input_dim, units = int(input_shape[-1]), self.units
        self.add_weight("kernel", (input_dim, 4 * units), self.kernel_initializer)
        self.add_weight("recurrent_kernel", (units, 4 * units), self.recurrent_initializer)
        if self.use_bias:
            bias = self.bias_initializer((4 * units,), dtype=self.dtype or backend.floatx())
            if self.unit_forget_bias:
                bias[units:2 * units] = 1.0  # forget gate starts open (Jozefowicz et al., 2015)
            self.add_weight("bias", bias.shape, lambda shape, dtype: bias)
        else:
            self._zero_bias = backend.xp().zeros(4 * units, dtype=self.kernel.dtype)
        super().build(input_shape)
        if self.stateful:
            self.reset_states()

    def compute_output_shape(self, input_shape):
        batch, timesteps = input_shape[0], input_shape[1]
        output = (batch, timesteps, self.units) if self.return_sequences else (batch, self.units)
        return output

    def reset_states(self):
        """Sets the carried states of a stateful LSTM back to zeros."""
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        batch = self.input_shape[0] if self.built else self._batch_input_shape[0]
        zeros = backend.xp().zeros((batch, self.units), dtype=backend.floatx())
        self.states = [zeros, zeros.copy()]

    reset_state = reset_states  # Keras 3 spelling

    def forward(self, x, training=False):
        batch = x.shape[0]
        xp = backend.get_array_module(x)
        if self.stateful:
            if batch != self.states[0].shape[0]:
                raise ValueError(
                    "If an RNN is stateful, the batch size of the input sequences must be the "
                    "same as the batch size of the initial state.\n"
                    f"- Expected batch size: {self.states[0].shape[0]}\n"
                    f"- Received batch size: {batch}"
                )
            h0, c0 = self.states
        else:
            h0 = c0 = xp.zeros((batch, self.units), dtype=x.dtype)
        self._dropout_mask = None
        if training and self.dropout > 0:
            keep = 1.0 - self.dropout
            mask = (xp.random.random_sample((batch, 1, x.shape[2])) < keep) / keep
            self._dropout_mask = mask.astype(x.dtype)
            x = x * self._dropout_mask
        bias = self.bias if self.use_bias else self._zero_bias
        hs, cs, self._cache = backend.kernels().lstm_forward(
            x, h0, c0, self.kernel, self.recurrent_kernel, bias,
            self.activation, self.recurrent_activation, self.go_backwards)
        h_last, c_last = hs[:, -1], cs[:, -1]
        if self.stateful:
            self.states = [h_last.copy(), c_last.copy()]
        output = hs if self.return_sequences else h_last
        return [output, h_last, c_last] if self.return_state else output

    def backward(self, dy):
        """Gradient of the output -> gradient of the input; sets self.grads.

        With return_state, `dy` may be a list [d_output, d_h, d_c].
        """
        dh_last = dc_last = None
        if self.return_state and isinstance(dy, (list, tuple)):
            dy, dh_last, dc_last = dy
        if self.return_sequences:
            dhs = dy
        else:
            dhs, dh_last = None, dy if dh_last is None else dh_last + dy
        dx, _, _, dkernel, drecurrent_kernel, dbias = backend.kernels().lstm_backward(
            dhs, dh_last, dc_last, self._cache)
        self.grads = [dkernel, drecurrent_kernel] + ([dbias] if self.use_bias else [])
        if self._dropout_mask is not None:
            dx = dx * self._dropout_mask
        return dx

    def get_config(self):
        return {
            **super().get_config(), "units": self.units, "activation": self.activation,
            "recurrent_activation": self.recurrent_activation, "use_bias": self.use_bias,
            "unit_forget_bias": self.unit_forget_bias, "dropout": self.dropout,
            "return_sequences": self.return_sequences, "return_state": self.return_state,
            "go_backwards": self.go_backwards, "stateful": self.stateful,
        }
