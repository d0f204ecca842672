"""The SimpleRNN layer: Keras's arguments and weights; the sequence plumbing is the RNN base's."""

from .rnn import RNN


class SimpleRNN(RNN):
    """Fully connected RNN whose output is fed back as the next step's state (Elman).

    `h_t = activation(x_t @ kernel + bias + h_prev @ recurrent_kernel)`;
    see `minilstm/kernels/reference/simple_rnn.py`. With
    `recurrent_initializer='identity'` and `activation='relu'` this is the
    IRNN of Le et al. (2015).

    Args:
        units: positive integer, dimensionality of the output space.
        activation: default 'tanh'.
        use_bias: whether to add a bias; default True.
        kernel_initializer, recurrent_initializer, bias_initializer: defaults
            'glorot_uniform', 'orthogonal', 'zeros'.
        dropout, recurrent_dropout, seed, return_sequences, return_state,
        go_backwards, stateful, unroll: see `minilstm.layers.RNN`.

    Input shape: (batch, timesteps, features).
    Output shape: (batch, units), or (batch, timesteps, units) with
        return_sequences; with return_state, [output, h].

    >>> import numpy as np
    >>> from minilstm.layers import SimpleRNN
    >>> SimpleRNN(4)(np.zeros((2, 3, 1))).shape
    (2, 4)
    """

    cell = "simple_rnn"
    gates = 1
    state_count = 1

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", **kwargs):
        super().__init__(units, **kwargs)
        self._set_cell_arguments(activation, None, use_bias, kernel_initializer,
                                 recurrent_initializer, bias_initializer)

    def _bias_shape(self):
        return (self.units,)

    def build_cell(self, input_dim):
        self.add_weight("kernel", (input_dim, self.units), self.kernel_initializer)
        self.add_weight("recurrent_kernel", (self.units, self.units), self.recurrent_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer)

    def _kernel_forward(self, kernels, x, states, **masks):
        hs, cache = kernels.simple_rnn_forward(
            x, *states, self.kernel, self.recurrent_kernel, self._bias(), self.activation,
            self.go_backwards, **masks)
        return [hs], cache

    def _kernel_backward(self, kernels, dhs, d_last_states, cache, input_grad):
        dx, dh0, *grads = kernels.simple_rnn_backward(dhs, *d_last_states, cache, input_grad=input_grad)
        return dx, [dh0], grads

    def get_config(self):
        return {**super().get_config(), **self._weights_config(), "activation": self.activation,
                "use_bias": self.use_bias}
