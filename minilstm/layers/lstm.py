"""The LSTM layer: Keras's arguments and weights; the sequence plumbing is the RNN base's."""

from .. import backend
from .rnn import RNN


class LSTM(RNN):
    """Long Short-Term Memory layer (Hochreiter and Schmidhuber, 1997).

    The cell equations are written out once, in `minilstm/kernels/reference/lstm.py`.
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
        dropout, recurrent_dropout, seed, return_sequences, return_state,
        go_backwards, stateful, unroll: see `minilstm.layers.RNN`.

    Input shape: (batch, timesteps, features).
    Output shape: (batch, units), or (batch, timesteps, units) with
        return_sequences; with return_state, [output, h, c].

    >>> import numpy as np
    >>> from minilstm.layers import LSTM
    >>> LSTM(4)(np.zeros((2, 3, 1))).shape
    (2, 4)
    """

    cell = "lstm"
    gates = 4
    state_count = 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self._set_cell_arguments(activation, recurrent_activation, use_bias, kernel_initializer,
                                 recurrent_initializer, bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_shape(self):
        return (4 * self.units,)

    def build_cell(self, input_dim):
        units = self.units
        self.add_weight("kernel", (input_dim, 4 * units), self.kernel_initializer)
        self.add_weight("recurrent_kernel", (units, 4 * units), self.recurrent_initializer)
        if self.use_bias:
            bias = self.bias_initializer((4 * units,), dtype=self.dtype or backend.floatx())
            if self.unit_forget_bias:
                bias[units:2 * units] = 1.0  # forget gate starts open (Jozefowicz et al., 2015)
            self.add_weight("bias", bias.shape, lambda shape, dtype: bias)

    def _kernel_forward(self, kernels, x, states, **masks):
        hs, cs, cache = kernels.lstm_forward(
            x, *states, self.kernel, self.recurrent_kernel, self._bias(), self.activation,
            self.recurrent_activation, self.go_backwards, **masks)
        return [hs, cs], cache

    def _kernel_backward(self, kernels, dhs, d_last_states, cache, input_grad):
        dx, dh0, dc0, *grads = kernels.lstm_backward(dhs, *d_last_states, cache, input_grad=input_grad)
        return dx, [dh0, dc0], grads

    def get_config(self):
        return {
            **super().get_config(), **self._weights_config(), "activation": self.activation,
            "recurrent_activation": self.recurrent_activation, "use_bias": self.use_bias,
            "unit_forget_bias": self.unit_forget_bias,
        }
