"""The GRU on the GPU: see kernels/reference/gru.py for the maths, and this
package's docstring for the layout (cuBLAS GEMMs, cuda/gru.cu per step).

reset_after=True runs one fused kernel per step each way. reset_after=False
puts the candidate's GEMM, (r * h_prev * m_h) @ U_h, between the gates and the
candidate, so each step runs two kernels around it (forward and backward).
"""

from ..activations import CODES
from ..cache import GRUCache, check_backward_inputs, check_sequence_inputs, check_sequences
from . import _launch as L

G = 3  # gate blocks z, r, h


def _bias_shape(reset_after):
    return (lambda H: (2, 3 * H)) if reset_after else (lambda H: (3 * H,))


def gru_forward(x, h0, kernel, recurrent_kernel, bias, activation="tanh",
                recurrent_activation="sigmoid", reset_after=True, go_backwards=False,
                mask=None, dropout_mask=None, recurrent_dropout_mask=None, cache=True,
                sequences=True):
    """Runs the GRU over all T steps on the GPU; see reference.gru_forward.

    Args:
        x: [B, T, I] input sequences (cupy).
        h0: [B, H] initial state.
        kernel: [I, 3H]; recurrent_kernel: [H, 3H]; bias: [2, 3H] when
            reset_after, else [3H].
        activation, recurrent_activation: activation names.
        reset_after: apply the reset gate after the recurrent product.
        go_backwards: process the sequence last step first.
        mask: [B, T] bool or None; a False step carries h over.
        dropout_mask: [1 or 3, B, I] or None. recurrent_dropout_mask:
            [1 or 3, B, H] or None.
        cache: False for a forward-only pass (predict, evaluate): the same
            steps, nothing kept for backward.
        sequences: False (with cache=False) when only the last step's h is
            read: hs is then [B, 1, H], that h.

    Returns:
        hs: [B, T, H] C-contiguous, processing order.
        cache: a GRUCache of (B, T, ...) views of time-major buffers with
            z=None; pass it unchanged to `gru_backward`.
    """
    cupy = L.cupy()
    L.check_device_arrays(x=x, h0=h0, kernel=kernel, recurrent_kernel=recurrent_kernel,
                          bias=bias, mask=mask, dropout_mask=dropout_mask,
                          recurrent_dropout_mask=recurrent_dropout_mask)
    B, T, I, H = check_sequence_inputs(
        x, {"h0": h0}, kernel, recurrent_kernel, bias, G, _bias_shape(reset_after),
        {"activation": activation, "recurrent_activation": recurrent_activation},
        mask, dropout_mask, recurrent_dropout_mask)
    check_sequences(sequences, cache)
    L.check_gpu_limits(x.dtype, B, H, G)
    x, mask = L.processing_order(x, mask, go_backwards)
    dtype = x.dtype

    x_tm = L.time_major(x)  # (T, B, I)
    keep_tm = L.keep_steps(mask, B, T)  # (T, B)
    rmasks = L.recurrent_masks(recurrent_dropout_mask, B, H, dtype)  # (M, B, H)
    M = rmasks.shape[0]
    b_in = bias[0] if reset_after else bias
    # The input part does not depend on h, so all steps take one GEMM.
    xp_tm = L.masked_matmul(x_tm, kernel, dropout_mask) + b_in  # (T, B, 3H)

    hs_tm = cupy.empty((T, B, H), dtype=dtype)
    gates_tm = cupy.empty((T, B, 3 * H), dtype=dtype)
    recurrent_h_tm = (cupy.empty if reset_after else cupy.zeros)((T, B, H), dtype=dtype)
    h0 = cupy.ascontiguousarray(h0)
    h_dropped = h0 * rmasks  # (M, B, H) the recurrent GEMMs' operand, rewritten every step
    act, rec_act = CODES[activation], CODES[recurrent_activation]
    h_prev = h0
    if reset_after:
        step = L.kernel("gru", "gru_forward_step", dtype)
        b_rec = cupy.ascontiguousarray(bias[1])  # (3H,) added inside the kernel
        weights = L.recurrent_weights(recurrent_kernel, M == 1, G)
        zh, row_stride, block_stride = L.recurrent_buffer(B, H, G, M == 1, dtype)
        for t in range(T):
            L.recurrent_matmul(h_dropped, weights, zh)  # (h_prev * m_k) @ U_k
            L.launch(step, B, H, xp_tm[t], zh, row_stride, block_stride, b_rec, h_prev,
                     keep_tm[t], rmasks, M, gates_tm[t], recurrent_h_tm[t], hs_tm[t], h_dropped,
                     act, rec_act)
            h_prev = hs_tm[t]
    else:
        gates_step = L.kernel("gru", "gru_gates_step", dtype)
        candidate_step = L.kernel("gru", "gru_candidate_step", dtype)
        weights = L.recurrent_weights(recurrent_kernel[:, :2 * H], M == 1, 2)  # blocks z, r
        zh, row_stride, block_stride = L.recurrent_buffer(B, H, 2, M == 1, dtype)
        recurrent_kernel_h = cupy.ascontiguousarray(recurrent_kernel[:, 2 * H:])  # (H, H)
        rh = cupy.empty((B, H), dtype=dtype)  # r * h_prev * m_h
        rh_rec = cupy.empty((B, H), dtype=dtype)  # rh @ U_h
        for t in range(T):
            L.recurrent_matmul(h_dropped, weights, zh)
            # h_dropped[M - 1] is h_prev * m_h: the candidate block's mask (or the shared one).
            L.launch(gates_step, B, H, xp_tm[t], zh, row_stride, block_stride, h_dropped[M - 1],
                     gates_tm[t], rh, rec_act)
            cupy.matmul(rh, recurrent_kernel_h, out=rh_rec)
            L.launch(candidate_step, B, H, xp_tm[t], rh_rec, h_prev, keep_tm[t], rmasks, M,
                     gates_tm[t], hs_tm[t], h_dropped, act)
            h_prev = hs_tm[t]

    # (B, T, H), or (B, 1, H) for sequences=False: only the last step is copied
    hs = cupy.ascontiguousarray((hs_tm if sequences else hs_tm[T - 1:]).transpose(1, 0, 2))
    if not cache:
        return hs, None
    cache = GRUCache(x=x_tm.transpose(1, 0, 2), h0=h0, kernel=kernel,
                     recurrent_kernel=recurrent_kernel, hs=hs_tm.transpose(1, 0, 2),
                     gates=gates_tm.transpose(1, 0, 2),
                     recurrent_h=recurrent_h_tm.transpose(1, 0, 2), z=None,
                     activation=activation, recurrent_activation=recurrent_activation,
                     reset_after=reset_after, go_backwards=go_backwards,
                     mask=None if mask is None else keep_tm.T, dropout_mask=dropout_mask,
                     recurrent_dropout_mask=recurrent_dropout_mask)
    return hs, cache


def gru_backward(dhs, dh_last, cache, input_grad=True):
    """Backpropagation through time on the GPU; see reference.gru_backward.

    Args:
        input_grad: False when nothing reads dx (the input is the model's own
            data): dx is returned as None and its product is skipped.

    Returns:
        dx [B, T, I] (caller's time order), dh0 [B, H], dkernel [I, 3H],
        drecurrent_kernel [H, 3H], dbias (the shape of bias): new cupy arrays.
    """
    cupy = L.cupy()
    L.check_device_arrays(dhs=dhs, dh_last=dh_last, hs=cache.hs)
    B, T, H = check_backward_inputs(dhs, dh_last, None, cache)
    dtype = cache.hs.dtype
    act, rec_act = CODES[cache.activation], CODES[cache.recurrent_activation]
    U = cache.recurrent_kernel

    x_tm = L.time_major(cache.x)  # (T, B, I)
    hs_tm = L.time_major(cache.hs)  # (T, B, H)
    gates_tm = L.time_major(cache.gates)  # (T, B, 3H)
    keep_tm = L.keep_steps(cache.mask, B, T)  # (T, B)
    rmasks = L.recurrent_masks(cache.recurrent_dropout_mask, B, H, dtype)  # (M, B, H)
    M = rmasks.shape[0]
    h0 = cupy.ascontiguousarray(cache.h0)
    h_prevs_tm = cupy.concatenate([h0[None], hs_tm[:-1]], axis=0)  # (T, B, H)

    zeros = cupy.zeros((B, H), dtype=dtype)
    dhs_tm = None if dhs is None else L.time_major(dhs)
    dh_skip = L.upstream(dh_last, B, H, dtype)  # dL/dh_t around step t+1's GEMMs
    dxp_tm = cupy.empty((T, B, 3 * H), dtype=dtype)  # dL/d(input projection) per step
    if cache.reset_after:
        step = L.kernel("gru", "gru_backward_step", dtype)
        recurrent_h_tm = L.time_major(cache.recurrent_h)  # (T, B, H)
        weights_t = L.transposed(L.recurrent_weights(U, M == 1, G))
        dh_rec = cupy.zeros((M, B, H), dtype=dtype)  # drec_{t+1,k} @ U_kᵀ
        drec_tm = cupy.empty((T, B, 3 * H), dtype=dtype)  # dL/d(recurrent product) per step
        for t in reversed(range(T)):
            L.launch(step, B, H, zeros if dhs_tm is None else dhs_tm[t], dh_rec, rmasks, M,
                     dh_skip, h_prevs_tm[t], gates_tm[t], recurrent_h_tm[t], keep_tm[t],
                     dxp_tm[t], drec_tm[t], act, rec_act)
            L.recurrent_matmul_grad(drec_tm[t], weights_t, dh_rec)
        dh0 = (dh_rec * rmasks).sum(axis=0) + dh_skip
        drecurrent_kernel = L.masked_matmul_grad_weights(drec_tm, h_prevs_tm,
                                                         cache.recurrent_dropout_mask)  # (H, 3H)
        db_rec = drec_tm.reshape(T * B, 3 * H).sum(axis=0)
    else:
        candidate_step = L.kernel("gru", "gru_backward_candidate_step", dtype)
        reset_step = L.kernel("gru", "gru_backward_reset_step", dtype)
        zr_masks = rmasks if M == 1 else rmasks[:2]  # (M_zr, B, H) masks of blocks z, r
        M_zr = zr_masks.shape[0]
        candidate_mask = rmasks[M - 1]  # (B, H) mask of block h (or the shared one)
        weights_t = L.transposed(L.recurrent_weights(U[:, :2 * H], M == 1, 2))
        recurrent_kernel_h_t = cupy.ascontiguousarray(U[:, 2 * H:].T)  # (H, H)
        dh_rec = cupy.zeros((M_zr, B, H), dtype=dtype)  # [daz, dar]_{t+1,k} @ U_kᵀ
        drh = cupy.empty((B, H), dtype=dtype)  # dah @ U_hᵀ
        for t in reversed(range(T)):
            L.launch(candidate_step, B, H, zeros if dhs_tm is None else dhs_tm[t], dh_rec,
                     zr_masks, M_zr, dh_skip, h_prevs_tm[t], gates_tm[t], keep_tm[t], dxp_tm[t],
                     act, rec_act)
            # ah = xh + (r * h_masked) @ U_h
            cupy.matmul(dxp_tm[t][:, 2 * H:], recurrent_kernel_h_t, out=drh)
            L.launch(reset_step, B, H, drh, h_prevs_tm[t], candidate_mask, gates_tm[t],
                     keep_tm[t], dh_skip, dxp_tm[t], rec_act)
            L.recurrent_matmul_grad(dxp_tm[t][:, :2 * H], weights_t, dh_rec)
        dh0 = (dh_rec * zr_masks).sum(axis=0) + dh_skip
        dU_zr = L.masked_matmul_grad_weights(
            dxp_tm[..., :2 * H], h_prevs_tm,
            None if cache.recurrent_dropout_mask is None else zr_masks)  # (H, 2H)
        # Σ_t (r * h_masked)ᵀ @ dah_t, one GEMM over all T*B rows.
        rh_tm = gates_tm[..., H:2 * H] * (h_prevs_tm * candidate_mask)  # (T, B, H)
        dU_h = rh_tm.reshape(T * B, H).T @ dxp_tm[..., 2 * H:].reshape(T * B, H)  # (H, H)
        drecurrent_kernel = cupy.concatenate([dU_zr, dU_h], axis=1)  # (H, 3H)
        db_rec = None

    # Σ_t over all T*B rows at once, as one GEMM per weight.
    dkernel = L.masked_matmul_grad_weights(dxp_tm, x_tm, cache.dropout_mask)  # (I, 3H)
    db_in = dxp_tm.reshape(T * B, 3 * H).sum(axis=0)
    dbias = db_in if db_rec is None else cupy.stack([db_in, db_rec])  # (3H,) or (2, 3H)
    if not input_grad:
        return None, dh0, dkernel, drecurrent_kernel, dbias
    dx = L.masked_matmul_grad_operand(dxp_tm, cache.kernel, cache.dropout_mask)  # (T, B, I)
    dx = dx.transpose(1, 0, 2)
    if cache.go_backwards:
        dx = dx[:, ::-1]
    return cupy.ascontiguousarray(dx), dh0, dkernel, drecurrent_kernel, dbias
