"""The GRU layer: Keras's arguments and weights; the sequence plumbing is the RNN base's."""

from .rnn import RNN


class GRU(RNN):
    """Gated Recurrent Unit (Cho et al., 2014).

    The equations of both variants are written out in
    `minilstm/kernels/reference/gru.py`. Weights use Keras's layout (gate
    blocks z, r, h), so a Keras GRU's `get_weights()` loads unchanged.

    Args:
        units: positive integer, dimensionality of the output space.
        activation: for the candidate; default 'tanh'.
        recurrent_activation: for the update and reset gates; default 'sigmoid'.
        use_bias: whether to add biases; default True.
        kernel_initializer, recurrent_initializer, bias_initializer: defaults
            'glorot_uniform', 'orthogonal', 'zeros'.
        reset_after: apply the reset gate after the recurrent product (Keras 3's
            default, True; bias shape (2, 3*units)) or before it (Keras 2's
            default, False; bias shape (3*units,)).
        dropout, recurrent_dropout, seed, return_sequences, return_state,
        go_backwards, stateful, unroll: see `minilstm.layers.RNN`.

    Input shape: (batch, timesteps, features).
    Output shape: (batch, units), or (batch, timesteps, units) with
        return_sequences; with return_state, [output, h].

    >>> import numpy as np
    >>> from minilstm.layers import GRU
    >>> GRU(4, return_sequences=True)(np.zeros((2, 3, 1))).shape
    (2, 3, 4)
    """

    cell = "gru"
    gates = 3
    state_count = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self._set_cell_arguments(activation, recurrent_activation, use_bias, kernel_initializer,
                                 recurrent_initializer, bias_initializer)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def build_cell(self, input_dim):
        units = self.units
        self.add_weight("kernel", (input_dim, 3 * units), self.kernel_initializer)
        self.add_weight("recurrent_kernel", (units, 3 * units), self.recurrent_initializer)
        if self.use_bias:
            self.add_weight("bias", self._bias_shape(), self.bias_initializer)

    def _kernel_forward(self, kernels, x, states, **masks):
        hs, cache = kernels.gru_forward(
            x, *states, self.kernel, self.recurrent_kernel, self._bias(), self.activation,
            self.recurrent_activation, self.reset_after, self.go_backwards, **masks)
        return [hs], cache

    def _kernel_backward(self, kernels, dhs, d_last_states, cache, input_grad):
        dx, dh0, *grads = kernels.gru_backward(dhs, *d_last_states, cache, input_grad=input_grad)
        return dx, [dh0], grads

    def get_config(self):
        return {
            **super().get_config(), **self._weights_config(), "activation": self.activation,
            "recurrent_activation": self.recurrent_activation, "use_bias": self.use_bias,
            "reset_after": self.reset_after,
        }
