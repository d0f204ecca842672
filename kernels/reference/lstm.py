"""The LSTM in plain NumPy: forward over a whole sequence, and its backward pass.

This is the oracle every other kernel set is tested against, and the file to
read to learn backpropagation through time (BPTT). The cell, per step t:

    z_t = x_t @ kernel + h_prev @ recurrent_kernel + bias    # (B, 4H)
    i, f, g, o = split(z_t)                                   # gate order i, f, c, o
    i, f, o = recurrent_activation(i, f, o)                   # sigmoid by default
    g = activation(g)                                         # tanh by default
    c_t = f * c_prev + i * g
    h_t = o * activation(c_t)

Shapes: B = batch, T = timesteps, I = input features, H = units.
The optional masks (a padded step skipped, dropout of x_t and of h_prev in
the recurrent product) are described in kernels/cache.py; their products are
written once in _sequence.py.
Weights use the Keras layout: kernel (I, 4H), recurrent_kernel (H, 4H),
bias (4H,), each split into four H-wide blocks in the order i, f, c, o.
"""

import numpy as np

from ..activations import get as get_activation
from ..cache import LSTMCache, check_backward_inputs, check_forward_inputs, check_sequences
from ._sequence import (
    carry,
    keep,
    masked_matmul,
    masked_matmul_grad_operand,
    masked_matmul_grad_weights,
    processing_order,
)


def lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias,
                 activation="tanh", recurrent_activation="sigmoid", go_backwards=False,
                 mask=None, dropout_mask=None, recurrent_dropout_mask=None, cache=True,
                 sequences=True):
    """Runs the LSTM over all T steps.

    Args:
        x: [B, T, I] input sequences.
        h0, c0: [B, H] initial hidden and cell states.
        kernel: [I, 4H]; recurrent_kernel: [H, 4H]; bias: [4H].
        activation, recurrent_activation: activation names ('tanh', 'sigmoid',
            'hard_sigmoid', 'relu', 'linear').
        go_backwards: process the sequence last step first.
        mask: [B, T] bool or None; a False step carries h and c over.
        dropout_mask: [1 or 4, B, I] or None, multiplies x_t.
        recurrent_dropout_mask: [1 or 4, B, H] or None, multiplies h_prev
            in the recurrent product.
        cache: False for a forward-only pass (predict, evaluate): nothing is
            kept for backward and only the last cell state is returned.
        sequences: False (with cache=False) when only the last step's h is
            read: hs is then [B, 1, H], that h.

    Returns:
        hs: [B, T, H] hidden state after each step (processing order).
        cs: [B, T, H] cell state after each step (processing order); with
            cache=False only the last one, [B, 1, H].
        cache: an LSTMCache; pass it unchanged to `lstm_backward`. None with
            cache=False.
    """
    B, T, I, H = check_forward_inputs(x, h0, c0, kernel, recurrent_kernel, bias,
                                      activation, recurrent_activation, mask, dropout_mask,
                                      recurrent_dropout_mask)
    check_sequences(sequences, cache)
    act = get_activation(activation)
    rec_act = get_activation(recurrent_activation)
    x, mask = processing_order(x, mask, go_backwards)

    # The input part of z does not depend on h, so all steps take one matmul.
    zx = masked_matmul(x, kernel, dropout_mask) + bias  # (B, T, 4H)

    hs = np.empty((B, T, H), dtype=x.dtype)
    cs = np.empty((B, T, H), dtype=x.dtype)
    zs = np.empty((B, T, 4 * H), dtype=x.dtype)
    gates = np.empty((B, T, 4 * H), dtype=x.dtype)
    h_prev, c_prev = h0, c0
    for t in range(T):
        z = zx[:, t] + masked_matmul(h_prev, recurrent_kernel, recurrent_dropout_mask)  # (B, 4H)
        i = rec_act(z[:, 0 * H:1 * H])  # (B, H) input gate
        f = rec_act(z[:, 1 * H:2 * H])  # (B, H) forget gate
        g = act(z[:, 2 * H:3 * H])  # (B, H) candidate cell
        o = rec_act(z[:, 3 * H:4 * H])  # (B, H) output gate
        c = f * c_prev + i * g  # (B, H)
        h = o * act(c)  # (B, H)

        # A masked step keeps the previous states (and so outputs h_prev).
        c = carry(keep(mask, t), c, c_prev)
        h = carry(keep(mask, t), h, h_prev)

        zs[:, t] = z
        gates[:, t] = np.concatenate([i, f, g, o], axis=1)
        hs[:, t] = h
        cs[:, t] = c
        h_prev, c_prev = h, c

    if not cache:
        return (hs if sequences else hs[:, -1:].copy()), cs[:, -1:].copy(), None
    cache = LSTMCache(x=x, h0=h0, c0=c0, kernel=kernel, recurrent_kernel=recurrent_kernel,
                      hs=hs, cs=cs, gates=gates, z=zs, activation=activation,
                      recurrent_activation=recurrent_activation, go_backwards=go_backwards,
                      mask=mask, dropout_mask=dropout_mask,
                      recurrent_dropout_mask=recurrent_dropout_mask)
    return hs, cs, cache


def lstm_backward(dhs, dh_last, dc_last, cache, input_grad=True):
    """Backpropagation through time over the whole sequence.

    Args:
        dhs: [B, T, H] gradient of the loss with respect to every hs[:, t]
            (processing order), or None for zeros.
        dh_last: [B, H] extra gradient with respect to the final h (as
            returned by return_state), or None for zeros.
        dc_last: [B, H] gradient with respect to the final c, or None.
        cache: the LSTMCache from `lstm_forward`, unchanged.
        input_grad: False when nothing reads dx (the input is the model's own
            data): dx is returned as None and its product is skipped.

    Returns:
        dx [B, T, I] (in the caller's time order), dh0 [B, H], dc0 [B, H],
        dkernel [I, 4H], drecurrent_kernel [H, 4H], dbias [4H]. All new
        arrays: calling twice with one cache gives the same result.
    """
    B, T, H = check_backward_inputs(dhs, dh_last, dc_last, cache)
    act = get_activation(cache.activation)
    rec_act = get_activation(cache.recurrent_activation)
    x, hs, cs, gates, zs, mask = cache.x, cache.hs, cache.cs, cache.gates, cache.z, cache.mask
    recurrent_masks = cache.recurrent_dropout_mask
    zeros = np.zeros((B, H), dtype=hs.dtype)
    h_prevs = np.concatenate([cache.h0[:, None], hs[:, :-1]], axis=1)  # (B, T, H)

    dzs = np.empty((B, T, 4 * H), dtype=hs.dtype)
    dh_next = zeros if dh_last is None else dh_last  # dL/dh_t arriving from step t+1
    dc_next = zeros if dc_last is None else dc_last  # dL/dc_t arriving from step t+1
    for t in reversed(range(T)):
        c = cs[:, t]
        c_prev = cs[:, t - 1] if t > 0 else cache.c0
        i, f, g, o = (gates[:, t, k * H:(k + 1) * H] for k in range(4))
        zi, zf, zg, zo = (zs[:, t, k * H:(k + 1) * H] for k in range(4))

        # h_t feeds both the output at step t and the next step.
        dh = dh_next if dhs is None else dhs[:, t] + dh_next
        dc_in = dc_next

        # h = carry(mask, h_new, h_prev); c likewise: a masked step passes its
        # gradients straight to the previous states, and none to the cell.
        m = keep(mask, t)
        dh_skip, dc_skip = (zeros, zeros) if m is None else (dh * ~m, dc_in * ~m)
        if m is not None:
            dh, dc_in = dh * m, dc_in * m

        # h = o * act(c)
        act_c = act(c)
        do = dh * act_c
        dc = dc_in + dh * o * act.grad(c, act_c)

        # c = f * c_prev + i * g
        df = dc * c_prev
        di = dc * g
        dg = dc * i
        dc_prev = dc * f

        # i, f, o = rec_act(zi, zf, zo); g = act(zg)
        dzs[:, t] = np.concatenate([
            di * rec_act.grad(zi, i),
            df * rec_act.grad(zf, f),
            dg * act.grad(zg, g),
            do * rec_act.grad(zo, o),
        ], axis=1)

        # z = x_t @ kernel + (h_prev * m) @ recurrent_kernel + bias
        dh_prev = masked_matmul_grad_operand(dzs[:, t], cache.recurrent_kernel, recurrent_masks)
        dh_next = dh_prev + dh_skip  # (B, H)
        dc_next = dc_prev + dc_skip

    # Σ_t x_tᵀ·dz_t done as one matmul over all B*T rows; same for h_prev.
    dkernel = masked_matmul_grad_weights(dzs, x, cache.dropout_mask)  # (I, 4H)
    drecurrent_kernel = masked_matmul_grad_weights(dzs, h_prevs, recurrent_masks)  # (H, 4H)
    dbias = dzs.reshape(B * T, 4 * H).sum(axis=0)  # (4H,)
    dx = None  # the input's gradient, unless the caller needs none
    if input_grad:
        dx = masked_matmul_grad_operand(dzs, cache.kernel, cache.dropout_mask)  # (B, T, I)
        dx = np.ascontiguousarray(dx[:, ::-1] if cache.go_backwards else dx)
    return dx, dh_next, dc_next, dkernel, drecurrent_kernel, dbias
