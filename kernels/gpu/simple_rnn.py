"""The SimpleRNN on the GPU: see kernels/reference/simple_rnn.py for the maths,
and this package's docstring for the layout (cuBLAS GEMMs, cuda/simple_rnn.cu per step)."""

from ..activations import CODES
from ..cache import SimpleRNNCache, check_backward_inputs, check_sequence_inputs, check_sequences
from . import _launch as L


def simple_rnn_forward(x, h0, kernel, recurrent_kernel, bias, activation="tanh",
                       go_backwards=False, mask=None, dropout_mask=None,
                       recurrent_dropout_mask=None, cache=True, sequences=True):
    """Runs the RNN over all T steps on the GPU; see reference.simple_rnn_forward.

    Args:
        x: [B, T, I] input sequences (cupy).
        h0: [B, H] initial state.
        kernel: [I, H]; recurrent_kernel: [H, H]; bias: [H].
        activation: activation name.
        go_backwards: process the sequence last step first.
        mask: [B, T] bool or None; a False step carries h over.
        dropout_mask: [1, B, I] or None. recurrent_dropout_mask: [1, B, H] or None.
        cache: False for a forward-only pass (predict, evaluate): the same
            steps, nothing kept for backward.
        sequences: False (with cache=False) when only the last step's h is
            read: hs is then [B, 1, H], that h.

    Returns:
        hs: [B, T, H] C-contiguous, processing order.
        cache: a SimpleRNNCache of (B, T, ...) views of time-major buffers with
            z=None (the derivative is read off hs); pass it unchanged to
            `simple_rnn_backward`.
    """
    cupy = L.cupy()
    L.check_device_arrays(x=x, h0=h0, kernel=kernel, recurrent_kernel=recurrent_kernel,
                          bias=bias, mask=mask, dropout_mask=dropout_mask,
                          recurrent_dropout_mask=recurrent_dropout_mask)
    B, T, I, H = check_sequence_inputs(
        x, {"h0": h0}, kernel, recurrent_kernel, bias, 1, lambda H: (H,),
        {"activation": activation}, mask, dropout_mask, recurrent_dropout_mask)
    check_sequences(sequences, cache)
    L.check_gpu_limits(x.dtype, B, H, 1)
    step = L.kernel("simple_rnn", "simple_rnn_forward_step", x.dtype)
    x, mask = L.processing_order(x, mask, go_backwards)

    x_tm = L.time_major(x)  # (T, B, I)
    keep_tm = L.keep_steps(mask, B, T)  # (T, B)
    rmasks = L.recurrent_masks(recurrent_dropout_mask, B, H, x.dtype)  # (1, B, H)
    ax_tm = L.masked_matmul(x_tm, kernel, dropout_mask) + bias  # (T, B, H), all steps at once

    recurrent_kernel = cupy.ascontiguousarray(recurrent_kernel)
    ah = cupy.empty((B, H), dtype=x.dtype)  # (h_prev * m) @ recurrent_kernel, reused
    hs_tm = cupy.empty((T, B, H), dtype=x.dtype)
    h0 = cupy.ascontiguousarray(h0)
    h_dropped = h0 * rmasks  # (1, B, H)
    h_prev = h0
    for t in range(T):
        cupy.matmul(h_dropped[0], recurrent_kernel, out=ah)
        L.launch(step, B, H, ax_tm[t], ah, h_prev, keep_tm[t], rmasks, 1, hs_tm[t], h_dropped,
                 CODES[activation])
        h_prev = hs_tm[t]

    # (B, T, H), or (B, 1, H) for sequences=False: only the last step is copied
    hs = cupy.ascontiguousarray((hs_tm if sequences else hs_tm[T - 1:]).transpose(1, 0, 2))
    if not cache:
        return hs, None
    cache = SimpleRNNCache(x=x_tm.transpose(1, 0, 2), h0=h0, kernel=kernel,
                           recurrent_kernel=recurrent_kernel, hs=hs_tm.transpose(1, 0, 2),
                           z=None, activation=activation, go_backwards=go_backwards,
                           mask=None if mask is None else keep_tm.T, dropout_mask=dropout_mask,
                           recurrent_dropout_mask=recurrent_dropout_mask)
    return hs, cache


def simple_rnn_backward(dhs, dh_last, cache, input_grad=True):
    """Backpropagation through time on the GPU; see reference.simple_rnn_backward.

    Args:
        input_grad: False when nothing reads dx (the input is the model's own
            data): dx is returned as None and its product is skipped.

    Returns:
        dx [B, T, I] (caller's time order), dh0 [B, H], dkernel [I, H],
        drecurrent_kernel [H, H], dbias [H]: new cupy arrays.
    """
    cupy = L.cupy()
    L.check_device_arrays(dhs=dhs, dh_last=dh_last, hs=cache.hs)
    B, T, H = check_backward_inputs(dhs, dh_last, None, cache)
    dtype = cache.hs.dtype
    step = L.kernel("simple_rnn", "simple_rnn_backward_step", dtype)

    x_tm = L.time_major(cache.x)  # (T, B, I)
    hs_tm = L.time_major(cache.hs)  # (T, B, H)
    keep_tm = L.keep_steps(cache.mask, B, T)
    rmasks = L.recurrent_masks(cache.recurrent_dropout_mask, B, H, dtype)  # (1, B, H)
    recurrent_kernel_t = cupy.ascontiguousarray(cache.recurrent_kernel.T)  # (H, H)
    h0 = cupy.ascontiguousarray(cache.h0)

    zeros = cupy.zeros((B, H), dtype=dtype)
    dhs_tm = None if dhs is None else L.time_major(dhs)
    dh_rec = cupy.zeros((1, B, H), dtype=dtype)  # da_{t+1} @ recurrent_kernelᵀ
    dh_skip = L.upstream(dh_last, B, H, dtype)  # carried around masked steps
    das_tm = cupy.empty((T, B, H), dtype=dtype)
    for t in reversed(range(T)):
        L.launch(step, B, H, zeros if dhs_tm is None else dhs_tm[t], dh_rec, rmasks, 1, dh_skip,
                 hs_tm[t], keep_tm[t], das_tm[t], CODES[cache.activation])
        # a = x_t @ kernel + bias + (h_prev * m) @ recurrent_kernel
        cupy.matmul(das_tm[t], recurrent_kernel_t, out=dh_rec[0])
    dh0 = dh_rec[0] * rmasks[0] + dh_skip

    # Σ_t over all T*B rows at once, as one GEMM per weight.
    h_prevs_tm = cupy.concatenate([h0[None], hs_tm[:-1]], axis=0)  # (T, B, H)
    dkernel = L.masked_matmul_grad_weights(das_tm, x_tm, cache.dropout_mask)  # (I, H)
    drecurrent_kernel = L.masked_matmul_grad_weights(das_tm, h_prevs_tm,
                                                     cache.recurrent_dropout_mask)  # (H, H)
    dbias = das_tm.reshape(T * B, H).sum(axis=0)  # (H,)
    if not input_grad:
        return None, dh0, dkernel, drecurrent_kernel, dbias
    dx = L.masked_matmul_grad_operand(das_tm, cache.kernel, cache.dropout_mask)  # (T, B, I)
    dx = dx.transpose(1, 0, 2)
    if cache.go_backwards:
        dx = dx[:, ::-1]
    return cupy.ascontiguousarray(dx), dh0, dkernel, drecurrent_kernel, dbias
