"""The fully connected RNN (Elman) in plain NumPy: forward and backward over a sequence.

Keras's SimpleRNN, per step t:

    a_t = x_t @ kernel + bias + h_prev @ recurrent_kernel    # (B, H)
    h_t = activation(a_t)                                     # tanh by default

Shapes: B = batch, T = timesteps, I = input features, H = units. The masks
(padded steps, dropout of x_t and of h_prev in the recurrent product) are
those of kernels/cache.py.
"""

import numpy as np

from ..activations import get as get_activation
from ..cache import SimpleRNNCache, check_backward_inputs, check_sequence_inputs, check_sequences
from ._sequence import (
    carry,
    keep,
    masked_matmul,
    masked_matmul_grad_operand,
    masked_matmul_grad_weights,
    processing_order,
)


def simple_rnn_forward(x, h0, kernel, recurrent_kernel, bias, activation="tanh",
                       go_backwards=False, mask=None, dropout_mask=None,
                       recurrent_dropout_mask=None, cache=True, sequences=True):
    """Runs the RNN over all T steps.

    Args:
        x: [B, T, I] input sequences.
        h0: [B, H] initial state.
        kernel: [I, H]; recurrent_kernel: [H, H]; bias: [H].
        activation: activation name.
        go_backwards: process the sequence last step first.
        mask: [B, T] bool or None; a False step carries h over.
        dropout_mask: [1, B, I] or None. recurrent_dropout_mask: [1, B, H] or None.
        cache: False for a forward-only pass (predict, evaluate): nothing is
            kept for backward.
        sequences: False (with cache=False) when only the last step's h is
            read: hs is then [B, 1, H], that h.

    Returns:
        hs: [B, T, H] state after each step (processing order).
        cache: a SimpleRNNCache; pass it unchanged to `simple_rnn_backward`. None with
            cache=False.
    """
    B, T, I, H = check_sequence_inputs(
        x, {"h0": h0}, kernel, recurrent_kernel, bias, 1, lambda H: (H,),
        {"activation": activation}, mask, dropout_mask, recurrent_dropout_mask)
    check_sequences(sequences, cache)
    act = get_activation(activation)
    x, mask = processing_order(x, mask, go_backwards)

    ax = masked_matmul(x, kernel, dropout_mask) + bias  # (B, T, H), all steps at once
    hs = np.empty((B, T, H), dtype=x.dtype)
    zs = np.empty((B, T, H), dtype=x.dtype)
    h_prev = h0
    for t in range(T):
        a = ax[:, t] + masked_matmul(h_prev, recurrent_kernel, recurrent_dropout_mask)  # (B, H)
        h = act(a)  # (B, H)
        h = carry(keep(mask, t), h, h_prev)  # a masked step keeps h_prev
        zs[:, t] = a
        hs[:, t] = h
        h_prev = h

    if not cache:
        return (hs if sequences else hs[:, -1:].copy()), None
    cache = SimpleRNNCache(x=x, h0=h0, kernel=kernel, recurrent_kernel=recurrent_kernel, hs=hs,
                           z=zs, activation=activation, go_backwards=go_backwards, mask=mask,
                           dropout_mask=dropout_mask,
                           recurrent_dropout_mask=recurrent_dropout_mask)
    return hs, cache


def simple_rnn_backward(dhs, dh_last, cache, input_grad=True):
    """Backpropagation through time over the whole sequence.

    Args:
        dhs: [B, T, H] gradient with respect to every hs[:, t], or None.
        dh_last: [B, H] extra gradient with respect to the final h, or None.
        cache: the SimpleRNNCache from `simple_rnn_forward`, unchanged.
        input_grad: False when nothing reads dx (the input is the model's own
            data): dx is returned as None and its product is skipped.

    Returns:
        dx [B, T, I] (caller's time order), dh0 [B, H], dkernel [I, H],
        drecurrent_kernel [H, H], dbias [H]. New arrays.
    """
    B, T, H = check_backward_inputs(dhs, dh_last, None, cache)
    act = get_activation(cache.activation)
    hs, zs, mask = cache.hs, cache.z, cache.mask
    zeros = np.zeros((B, H), dtype=hs.dtype)
    h_prevs = np.concatenate([cache.h0[:, None], hs[:, :-1]], axis=1)  # (B, T, H)

    das = np.empty((B, T, H), dtype=hs.dtype)
    dh_next = zeros if dh_last is None else dh_last
    for t in reversed(range(T)):
        dh = dh_next if dhs is None else dhs[:, t] + dh_next
        # h = carry(mask, h_new, h_prev)
        m = keep(mask, t)
        dh_skip = zeros if m is None else dh * ~m
        if m is not None:
            dh = dh * m
        # h = act(a)
        h_new = act(zs[:, t])
        das[:, t] = dh * act.grad(zs[:, t], h_new)
        # a = x_t @ kernel + bias + (h_prev * m) @ recurrent_kernel
        dh_next = masked_matmul_grad_operand(das[:, t], cache.recurrent_kernel,
                                             cache.recurrent_dropout_mask) + dh_skip

    # Σ_t over all B*T rows at once, as one matmul per weight.
    dkernel = masked_matmul_grad_weights(das, cache.x, cache.dropout_mask)  # (I, H)
    drecurrent_kernel = masked_matmul_grad_weights(das, h_prevs,
                                                   cache.recurrent_dropout_mask)  # (H, H)
    dbias = das.reshape(B * T, H).sum(axis=0)  # (H,)
    dx = None  # the input's gradient, unless the caller needs none
    if input_grad:
        dx = masked_matmul_grad_operand(das, cache.kernel, cache.dropout_mask)  # (B, T, I)
        dx = np.ascontiguousarray(dx[:, ::-1] if cache.go_backwards else dx)
    return dx, dh_next, dkernel, drecurrent_kernel, dbias
