"""The LSTM on the GPU: see kernels/reference/lstm.py for the maths, and this
package's docstring for the layout (cuBLAS GEMMs, cuda/lstm.cu per step)."""

from ..activations import CODES
from ..cache import LSTMCache, check_backward_inputs, check_forward_inputs, check_sequences
from . import _launch as L

G = 4  # gate blocks i, f, c (g), o


def lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias,
                 activation="tanh", recurrent_activation="sigmoid", go_backwards=False,
                 mask=None, dropout_mask=None, recurrent_dropout_mask=None, cache=True,
                 sequences=True):
    """Runs the LSTM over all T steps on the GPU; see reference.lstm_forward.

    Args:
        x: [B, T, I] input sequences (cupy).
        h0, c0: [B, H] initial hidden and cell states.
        kernel: [I, 4H]; recurrent_kernel: [H, 4H]; bias: [4H].
        activation, recurrent_activation: names from kernels/activations.py.
        go_backwards: process the sequence last step first.
        mask: [B, T] bool or None; a False step carries h and c over.
        dropout_mask: [1 or 4, B, I] or None. recurrent_dropout_mask:
            [1 or 4, B, H] or None.
        cache: False for a forward-only pass (predict, evaluate): the same
            steps, nothing kept for backward; cs is only the last cell state, [B, 1, H].
        sequences: False (with cache=False) when only the last step's h is
            read: hs is then [B, 1, H], that h.

    Returns:
        hs, cs: [B, T, H] C-contiguous, processing order.
        cache: an LSTMCache of (B, T, ...) views of time-major buffers, with
            z=None (the derivatives need only the activated gates) and mask
            the (B, T) view of the (T, B) step mask; pass it unchanged to
            `lstm_backward`. Nothing in it aliases the inputs except the
            weights and the dropout masks.
    """
    cupy = L.cupy()
    L.check_device_arrays(x=x, h0=h0, c0=c0, kernel=kernel, recurrent_kernel=recurrent_kernel,
                          bias=bias, mask=mask, dropout_mask=dropout_mask,
                          recurrent_dropout_mask=recurrent_dropout_mask)
    B, T, I, H = check_forward_inputs(x, h0, c0, kernel, recurrent_kernel, bias, activation,
                                      recurrent_activation, mask, dropout_mask,
                                      recurrent_dropout_mask)
    check_sequences(sequences, cache)
    L.check_gpu_limits(x.dtype, B, H, G)
    step = L.kernel("lstm", "lstm_forward_step", x.dtype)
    x, mask = L.processing_order(x, mask, go_backwards)

    # _tm names are time-major (T, B, ...): each step's slice is contiguous.
    x_tm = L.time_major(x)  # (T, B, I)
    keep_tm = L.keep_steps(mask, B, T)  # (T, B)
    rmasks = L.recurrent_masks(recurrent_dropout_mask, B, H, x.dtype)  # (M, B, H)
    M = rmasks.shape[0]
    # The input part of z does not depend on h, so all steps take one GEMM.
    zx_tm = L.masked_matmul(x_tm, kernel, dropout_mask) + bias  # (T, B, 4H)

    weights = L.recurrent_weights(recurrent_kernel, M == 1, G)
    zh, zh_row_stride, zh_block_stride = L.recurrent_buffer(B, H, G, M == 1, x.dtype)
    hs_tm = cupy.empty((T, B, H), dtype=x.dtype)
    cs_tm = cupy.empty((T, B, H), dtype=x.dtype)
    gates_tm = cupy.empty((T, B, 4 * H), dtype=x.dtype)
    h0, c0 = cupy.ascontiguousarray(h0), cupy.ascontiguousarray(c0)
    h_dropped = h0 * rmasks  # (M, B, H) the recurrent GEMMs' operand, rewritten every step
    h_prev, c_prev = h0, c0
    for t in range(T):
        L.recurrent_matmul(h_dropped, weights, zh)  # (h_prev * m_k) @ U_k
        L.launch(step, B, H, zx_tm[t], zh, zh_row_stride, zh_block_stride, h_prev, c_prev,
                 keep_tm[t], rmasks, M, gates_tm[t], cs_tm[t], hs_tm[t], h_dropped,
                 CODES[activation], CODES[recurrent_activation])
        h_prev, c_prev = hs_tm[t], cs_tm[t]

    # (B, T, H), or (B, 1, H) for sequences=False: only the last step is copied
    hs = cupy.ascontiguousarray((hs_tm if sequences else hs_tm[T - 1:]).transpose(1, 0, 2))
    if not cache:
        return hs, cupy.ascontiguousarray(cs_tm[-1][:, None]), None
    cs = cupy.ascontiguousarray(cs_tm.transpose(1, 0, 2))  # (B, T, H)
    cache = LSTMCache(x=x_tm.transpose(1, 0, 2), h0=h0, c0=c0, kernel=kernel,
                      recurrent_kernel=recurrent_kernel, hs=hs_tm.transpose(1, 0, 2),
                      cs=cs_tm.transpose(1, 0, 2), gates=gates_tm.transpose(1, 0, 2), z=None,
                      activation=activation, recurrent_activation=recurrent_activation,
                      go_backwards=go_backwards, mask=None if mask is None else keep_tm.T,
                      dropout_mask=dropout_mask, recurrent_dropout_mask=recurrent_dropout_mask)
    return hs, cs, cache


def lstm_backward(dhs, dh_last, dc_last, cache, input_grad=True):
    """Backpropagation through time on the GPU; see reference.lstm_backward.

    Args:
        dhs: [B, T, H] gradient with respect to every hs[:, t] (processing
            order), or None for zeros.
        dh_last, dc_last: [B, H] gradients with respect to the final h and
            c, or None for zeros.
        cache: the LSTMCache from this module's `lstm_forward`, unchanged.
        input_grad: False when nothing reads dx (the input is the model's own
            data): dx is returned as None and its product is skipped.

    Returns:
        dx [B, T, I] (caller's time order), dh0 [B, H], dc0 [B, H],
        dkernel [I, 4H], drecurrent_kernel [H, 4H], dbias [4H]: all new
        cupy arrays; the cache and the upstream gradients are not modified.
    """
    cupy = L.cupy()
    L.check_device_arrays(dhs=dhs, dh_last=dh_last, dc_last=dc_last, hs=cache.hs)
    B, T, H = check_backward_inputs(dhs, dh_last, dc_last, cache)
    dtype = cache.hs.dtype
    step = L.kernel("lstm", "lstm_backward_step", dtype)

    # Back to the time-major buffers (no copy for a cache made by lstm_forward).
    x_tm = L.time_major(cache.x)  # (T, B, I)
    hs_tm = L.time_major(cache.hs)  # (T, B, H)
    cs_tm = L.time_major(cache.cs)  # (T, B, H)
    gates_tm = L.time_major(cache.gates)  # (T, B, 4H)
    keep_tm = L.keep_steps(cache.mask, B, T)  # (T, B)
    rmasks = L.recurrent_masks(cache.recurrent_dropout_mask, B, H, dtype)  # (M, B, H)
    M = rmasks.shape[0]
    weights_t = L.transposed(L.recurrent_weights(cache.recurrent_kernel, M == 1, G))
    h0, c0 = cupy.ascontiguousarray(cache.h0), cupy.ascontiguousarray(cache.c0)

    zeros = cupy.zeros((B, H), dtype=dtype)
    dhs_tm = None if dhs is None else L.time_major(dhs)
    # Own buffers, overwritten in place by every step: what reaches h_t and c_t
    # from step t+1 (through its GEMMs: dh_rec; around them: dh_skip, dc).
    dh_rec = cupy.zeros((M, B, H), dtype=dtype)
    dh_skip = L.upstream(dh_last, B, H, dtype)
    dc = L.upstream(dc_last, B, H, dtype)
    dzs_tm = cupy.empty((T, B, 4 * H), dtype=dtype)
    for t in reversed(range(T)):
        c_prev = cs_tm[t - 1] if t > 0 else c0
        L.launch(step, B, H, zeros if dhs_tm is None else dhs_tm[t], dh_rec, rmasks, M,
                 dh_skip, dc, cs_tm[t], c_prev, gates_tm[t], keep_tm[t], dzs_tm[t],
                 CODES[cache.activation], CODES[cache.recurrent_activation])
        # z = x_t @ kernel + (h_prev * m) @ recurrent_kernel + bias
        L.recurrent_matmul_grad(dzs_tm[t], weights_t, dh_rec)  # dz_k @ U_kᵀ
    dh0 = (dh_rec * rmasks).sum(axis=0) + dh_skip  # (B, H)

    # Σ_t x_tᵀ·dz_t done as one GEMM over all T*B rows (per gate block under a
    # per-gate mask); same for h_prev.
    h_prevs_tm = cupy.concatenate([h0[None], hs_tm[:-1]], axis=0)  # (T, B, H)
    dkernel = L.masked_matmul_grad_weights(dzs_tm, x_tm, cache.dropout_mask)  # (I, 4H)
    drecurrent_kernel = L.masked_matmul_grad_weights(dzs_tm, h_prevs_tm,
                                                     cache.recurrent_dropout_mask)  # (H, 4H)
    dbias = dzs_tm.reshape(T * B, 4 * H).sum(axis=0)  # (4H,)
    if not input_grad:
        return None, dh0, dc, dkernel, drecurrent_kernel, dbias
    dx = L.masked_matmul_grad_operand(dzs_tm, cache.kernel, cache.dropout_mask)  # (T, B, I)
    dx = dx.transpose(1, 0, 2)
    if cache.go_backwards:
        dx = dx[:, ::-1]
    return cupy.ascontiguousarray(dx), dh0, dc, dkernel, drecurrent_kernel, dbias

