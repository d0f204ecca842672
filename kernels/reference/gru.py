"""The GRU in plain NumPy: forward over a whole sequence, and its backward pass.

Keras's GRU (Cho et al., 2014), per step t, with gate blocks in the order
z (update), r (reset), h (candidate), each H wide:

    xz, xr, xh = split(x_t @ kernel + b_in)                    # (B, H) each
    reset_after=True (Keras 3 default; bias is (2, 3H) = [b_in; b_rec]):
        hz, hr, hh_ = split(h_prev @ recurrent_kernel + b_rec)
        z = recurrent_activation(xz + hz)
        r = recurrent_activation(xr + hr)
        hh = activation(xh + r * hh_)
    reset_after=False (Keras 2 default; bias is (3H,) = b_in):
        hz, hr = split(h_prev @ recurrent_kernel[:, :2H])
        z, r as above
        hh = activation(xh + (r * h_prev) @ recurrent_kernel[:, 2H:])
    h_t = z * h_prev + (1 - z) * hh

Shapes: B = batch, T = timesteps, I = input features, H = units. The masks
(padded steps, dropout of x_t and of h_prev inside the products) are those of
kernels/cache.py; with a recurrent dropout mask, `h_prev` above is h_prev * m_k
in the product of gate block k, but never in the final mix z * h_prev.
"""

import numpy as np

from ..activations import get as get_activation
from ..cache import GRUCache, check_backward_inputs, check_sequence_inputs, check_sequences
from ._sequence import (
    _block_mask,
    carry,
    keep,
    masked_matmul,
    masked_matmul_grad_operand,
    masked_matmul_grad_weights,
    processing_order,
)


def _bias_shape(reset_after):
    return (lambda H: (2, 3 * H)) if reset_after else (lambda H: (3 * H,))


def _split_bias(bias, reset_after):
    """(b_in [3H], b_rec [3H] or None)."""
    return (bias[0], bias[1]) if reset_after else (bias, None)


def _candidate_mask(masks):
    """The recurrent dropout mask of block h (the third), or None."""
    return None if masks is None else _block_mask(masks, 2, 2)


def gru_forward(x, h0, kernel, recurrent_kernel, bias, activation="tanh",
                recurrent_activation="sigmoid", reset_after=True, go_backwards=False,
                mask=None, dropout_mask=None, recurrent_dropout_mask=None, cache=True,
                sequences=True):
    """Runs the GRU over all T steps.

    Args:
        x: [B, T, I] input sequences.
        h0: [B, H] initial state.
        kernel: [I, 3H]; recurrent_kernel: [H, 3H]; bias: [2, 3H] when
            reset_after, else [3H].
        activation, recurrent_activation: activation names.
        reset_after: apply the reset gate after the recurrent product.
        go_backwards: process the sequence last step first.
        mask: [B, T] bool or None; a False step carries h over.
        dropout_mask: [1 or 3, B, I] or None. recurrent_dropout_mask:
            [1 or 3, B, H] or None.
        cache: False for a forward-only pass (predict, evaluate): nothing is
            kept for backward.
        sequences: False (with cache=False) when only the last step's h is
            read: hs is then [B, 1, H], that h.

    Returns:
        hs: [B, T, H] state after each step (processing order).
        cache: a GRUCache; pass it unchanged to `gru_backward`. None with
            cache=False.
    """
    B, T, I, H = check_sequence_inputs(
        x, {"h0": h0}, kernel, recurrent_kernel, bias, 3, _bias_shape(reset_after),
        {"activation": activation, "recurrent_activation": recurrent_activation},
        mask, dropout_mask, recurrent_dropout_mask)
    check_sequences(sequences, cache)
    act = get_activation(activation)
    rec_act = get_activation(recurrent_activation)
    x, mask = processing_order(x, mask, go_backwards)
    b_in, b_rec = _split_bias(bias, reset_after)
    rec_masks = recurrent_dropout_mask

    # The input part does not depend on h, so all steps take one matmul.
    xzrh = masked_matmul(x, kernel, dropout_mask) + b_in  # (B, T, 3H)

    hs = np.empty((B, T, H), dtype=x.dtype)
    zs = np.empty((B, T, 3 * H), dtype=x.dtype)
    gates = np.empty((B, T, 3 * H), dtype=x.dtype)
    recurrent_h = np.zeros((B, T, H), dtype=x.dtype)
    h_prev = h0
    for t in range(T):
        xz, xr, xh = (xzrh[:, t, k * H:(k + 1) * H] for k in range(3))
        if reset_after:
            hzrh = masked_matmul(h_prev, recurrent_kernel, rec_masks) + b_rec  # (B, 3H)
            hz, hr, hh_ = hzrh[:, :H], hzrh[:, H:2 * H], hzrh[:, 2 * H:]
        else:
            zr_masks = None if rec_masks is None else rec_masks[:2]
            hzr = masked_matmul(h_prev, recurrent_kernel[:, :2 * H], zr_masks)  # (B, 2H)
            hz, hr = hzr[:, :H], hzr[:, H:]
        az = xz + hz
        ar = xr + hr
        z = rec_act(az)  # (B, H) update gate
        r = rec_act(ar)  # (B, H) reset gate
        if reset_after:
            ah = xh + r * hh_
            recurrent_h[:, t] = hh_
        else:
            h_masked = h_prev if rec_masks is None else h_prev * _candidate_mask(rec_masks)
            ah = xh + (r * h_masked) @ recurrent_kernel[:, 2 * H:]
        hh = act(ah)  # (B, H) candidate
        h = z * h_prev + (1 - z) * hh  # (B, H)

        h = carry(keep(mask, t), h, h_prev)  # a masked step keeps h_prev

        zs[:, t] = np.concatenate([az, ar, ah], axis=1)
        gates[:, t] = np.concatenate([z, r, hh], axis=1)
        hs[:, t] = h
        h_prev = h

    if not cache:
        return (hs if sequences else hs[:, -1:].copy()), None
    cache = GRUCache(x=x, h0=h0, kernel=kernel, recurrent_kernel=recurrent_kernel, hs=hs,
                     gates=gates, recurrent_h=recurrent_h, z=zs, activation=activation,
                     recurrent_activation=recurrent_activation, reset_after=reset_after,
                     go_backwards=go_backwards, mask=mask, dropout_mask=dropout_mask,
                     recurrent_dropout_mask=recurrent_dropout_mask)
    return hs, cache


def gru_backward(dhs, dh_last, cache, input_grad=True):
    """Backpropagation through time over the whole sequence.

    Args:
        dhs: [B, T, H] gradient with respect to every hs[:, t] (processing
            order), or None for zeros.
        dh_last: [B, H] extra gradient with respect to the final h, or None.
        cache: the GRUCache from `gru_forward`, unchanged.
        input_grad: False when nothing reads dx (the input is the model's own
            data): dx is returned as None and its product is skipped.

    Returns:
        dx [B, T, I] (caller's time order), dh0 [B, H], dkernel [I, 3H],
        drecurrent_kernel [H, 3H], dbias (the shape of bias). New arrays.
    """
    B, T, H = check_backward_inputs(dhs, dh_last, None, cache)
    act = get_activation(cache.activation)
    rec_act = get_activation(cache.recurrent_activation)
    x, hs, gates, zs, mask = cache.x, cache.hs, cache.gates, cache.z, cache.mask
    U, rec_masks, reset_after = cache.recurrent_kernel, cache.recurrent_dropout_mask, cache.reset_after
    zeros = np.zeros((B, H), dtype=hs.dtype)
    h_prevs = np.concatenate([cache.h0[:, None], hs[:, :-1]], axis=1)  # (B, T, H)

    dxs = np.empty((B, T, 3 * H), dtype=hs.dtype)  # dL/d(x-projection) per step
    dhs_rec = np.empty((B, T, 3 * H), dtype=hs.dtype)  # dL/d(recurrent product) per step
    dU_h = np.zeros((H, H), dtype=hs.dtype)  # reset_after=False: the candidate block
    dh_next = zeros if dh_last is None else dh_last
    for t in reversed(range(T)):
        h_prev = h_prevs[:, t]
        z, r, hh = (gates[:, t, k * H:(k + 1) * H] for k in range(3))
        az, ar, ah = (zs[:, t, k * H:(k + 1) * H] for k in range(3))

        dh = dh_next if dhs is None else dhs[:, t] + dh_next
        # h = carry(mask, h_new, h_prev)
        m = keep(mask, t)
        dh_skip = zeros if m is None else dh * ~m
        if m is not None:
            dh = dh * m

        # h = z * h_prev + (1 - z) * hh
        dz = dh * (h_prev - hh)
        dhh = dh * (1 - z)
        dh_prev = dh * z
        # hh = act(ah)
        dah = dhh * act.grad(ah, hh)
        if reset_after:
            # ah = xh + r * hh_, hh_ = (h_prev * m_h) @ U_h + b_rh
            dr = dah * cache.recurrent_h[:, t]
            dhh_ = dah * r
        else:
            # ah = xh + (r * h_masked) @ U_h
            h_masked = h_prev if rec_masks is None else h_prev * _candidate_mask(rec_masks)
            drh = dah @ U[:, 2 * H:].T
            dU_h += (r * h_masked).T @ dah
            dr = drh * h_masked
            drh_prev = drh * r
            dh_prev = dh_prev + (drh_prev if rec_masks is None
                                 else drh_prev * _candidate_mask(rec_masks))
        # z = rec_act(az), r = rec_act(ar)
        daz = dz * rec_act.grad(az, z)
        dar = dr * rec_act.grad(ar, r)

        dxs[:, t] = np.concatenate([daz, dar, dah], axis=1)
        if reset_after:
            dhs_rec[:, t] = np.concatenate([daz, dar, dhh_], axis=1)
            dh_prev = dh_prev + masked_matmul_grad_operand(dhs_rec[:, t], U, rec_masks)
        else:
            dhs_rec[:, t] = np.concatenate([daz, dar, np.zeros_like(dah)], axis=1)
            zr_masks = None if rec_masks is None else rec_masks[:2]
            dh_prev = dh_prev + masked_matmul_grad_operand(dhs_rec[:, t, :2 * H], U[:, :2 * H],
                                                           zr_masks)
        dh_next = dh_prev + dh_skip

    # Σ_t over all B*T rows at once, as one matmul per weight.
    dkernel = masked_matmul_grad_weights(dxs, x, cache.dropout_mask)  # (I, 3H)
    db_in = dxs.reshape(B * T, 3 * H).sum(axis=0)
    if reset_after:
        drecurrent_kernel = masked_matmul_grad_weights(dhs_rec, h_prevs, rec_masks)  # (H, 3H)
        dbias = np.stack([db_in, dhs_rec.reshape(B * T, 3 * H).sum(axis=0)])  # (2, 3H)
    else:
        zr_masks = None if rec_masks is None else rec_masks[:2]
        dU_zr = masked_matmul_grad_weights(dhs_rec[..., :2 * H], h_prevs, zr_masks)
        drecurrent_kernel = np.concatenate([dU_zr, dU_h], axis=1)  # (H, 3H)
        dbias = db_in  # (3H,)
    dx = None  # the input's gradient, unless the caller needs none
    if input_grad:
        dx = masked_matmul_grad_operand(dxs, cache.kernel, cache.dropout_mask)  # (B, T, I)
        dx = np.ascontiguousarray(dx[:, ::-1] if cache.go_backwards else dx)
    return dx, dh_next, dkernel, drecurrent_kernel, dbias
