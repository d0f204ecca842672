"""The GRU on the CPU with Numba, both reset variants: BLAS GEMMs plus fused, compiled loops.

The equations, names and shapes are reference/gru.py's; see there. The work
is arranged as in lstm.py (one input-projection GEMM over all steps, one
recurrent GEMM per step, fused gate loops per row, the weight gradients and
dx as GEMMs over each block of backward steps while it is in cache), per
chunk of batch rows:

- reset_after=True: each step's `h_prev @ recurrent_kernel` goes to a small
  buffer, since r multiplies only its candidate block (plus b_rec); the row
  loop then makes z, r, hh and h in one pass.
- reset_after=False: the z and r blocks of the recurrent product accumulate
  into `gates`; a row loop makes z and r, a second GEMM per step adds
  `(r * h_prev) @ recurrent_kernel[:, 2H:]` to the candidate block, and a
  second row loop makes hh and h. Backward mirrors it with two GEMMs per step.

The cache (`GRUCache`) is private to this set except `hs`:

    x                  [B, T, I] the caller's x (input order)
    h0                 [B, H]; kernel [I, 3H]; recurrent_kernel [H, 3H]
    hs                 [B, T, H] the returned array (processing order)
    gates              [B, T, 3H] activated z, r, hh in INPUT order (row b, t
                       belongs to x[b, t]); a masked step's row is unused
    recurrent_h        [B, T, H] reset_after: h_prev @ U_h + b_rh per step,
                       input order; None when reset_after is False
    z                  None
    mask, dropout_mask, recurrent_dropout_mask   as given, or None

Run with `NUMBA_DISABLE_JIT=1` to read or step through the loops as Python.
"""

import numpy as np
from numba import types
from numba.extending import overload

from ..activations import CODES
from ..cache import GRUCache, check_backward_inputs, check_sequence_inputs, check_sequences
from ._blas import gemm
from ._buffers import aligned_empty, empty
from ._math import (activate, copy, fill, jit, jit_chunks, prange, scale_by_derivative,
                    wide_vectors)
from ._parallel import num_chunks as _num_chunks
from ._parallel import blas_splits_steps, next_chunk, run_chunks, total
from ._sequence import (
    add_output_gradient,
    backward_steps_per_block,
    block_column_sums,
    block_dx,
    block_operands,
    block_rows,
    block_scratch,
    block_weight_gradient,
    check_float_type,
    gather_operands,
    input_panels,
    keep,
    last_state,
    mask_arrays,
    project_block,
    project_inputs,
    recurrent_panels,
    recurrent_product,
    recurrent_product_backward,
    scratch,
    state_rows,
    steps_per_block,
)
from ._vectors import vadd, vload, vmul, vsplat, vstore, vsub
from ._vmath import fuses, vsigmoid, vtanh

__all__ = ["gru_forward", "gru_backward"]


def gru_forward(x, h0, kernel, recurrent_kernel, bias, activation="tanh",
                recurrent_activation="sigmoid", reset_after=True, go_backwards=False,
                mask=None, dropout_mask=None, recurrent_dropout_mask=None, cache=True,
                sequences=True):
    """Runs the GRU over all T steps (same contract as reference.gru_forward).

    Args:
        x: [B, T, I] input sequences, float32 or float64.
        h0: [B, H] initial state.
        kernel: [I, 3H]; recurrent_kernel: [H, 3H]; bias: [2, 3H] when
            reset_after, else [3H].
        activation, recurrent_activation: names from kernels.activations.
        reset_after: apply the reset gate after the recurrent product.
        go_backwards: process the sequence last step first.
        mask: [B, T] bool or None. dropout_mask: [1 or 3, B, I] or None.
        recurrent_dropout_mask: [1 or 3, B, H] or None (kernels/cache.py).
        cache: False for a forward-only pass (predict, evaluate): the
            inference loop keeps no gates.
        sequences: False (with cache=False) when only the last step's h is
            read: the loop writes h into two alternating rows per batch row
            (_sequence.state_rows) and hs is [B, 1, H], that h.

    Returns:
        hs: [B, T, H] state after each step (processing order), a new array;
            [B, 1, H] with sequences=False.
        cache: a GRUCache; pass it unchanged to `gru_backward`. None with
            cache=False.
    """
    B, T, I, H = check_sequence_inputs(
        x, {"h0": h0}, kernel, recurrent_kernel, bias, 3,
        (lambda H: (2, 3 * H)) if reset_after else (lambda H: (3 * H,)),
        {"activation": activation, "recurrent_activation": recurrent_activation},
        mask, dropout_mask, recurrent_dropout_mask)
    check_sequences(sequences, cache)
    check_float_type(x)
    x, h0, kernel, recurrent_kernel = map(np.ascontiguousarray, (x, h0, kernel, recurrent_kernel))
    bias = np.ascontiguousarray(bias).reshape(-1, 3 * H)  # [b_in] or [b_in; b_rec]
    masks = mask_arrays(x, H, mask, dropout_mask, recurrent_dropout_mask)
    hs = state_rows(B, T, H, x.dtype, sequences)
    chunks = _num_chunks(B, T, I, H, 3)
    # reset_after multiplies h_prev by all three blocks, reset before by z and r only
    panels = recurrent_panels(recurrent_kernel[:, :(3 if reset_after else 2) * H], masks[2],
                              blas_splits_steps(B, T, I, H, 3, chunks))
    fused = reset_after and fuses(x.dtype, H, activation, recurrent_activation)
    if not cache:
        args = (x, h0, kernel, input_panels(kernel, masks[1]), recurrent_kernel, panels, bias,
                *masks, hs, CODES[activation], CODES[recurrent_activation], reset_after,
                go_backwards, steps_per_block(-(-B // chunks), T, 3 * H), fused)
        run_chunks(_inference_rows, _inference_chunks, B, chunks, args)
        return (hs if sequences else last_state(hs, T)), None
    gates = empty((B, T, 3 * H), x.dtype)
    recurrent_h = empty((B if reset_after else 0, T, H), x.dtype)
    xm = scratch(masks[1], B, T, I, x.dtype)
    args = (x, h0, kernel, input_panels(kernel, masks[1]), recurrent_kernel, panels, bias,
            *masks, hs, gates, recurrent_h, xm, CODES[activation], CODES[recurrent_activation],
            reset_after, go_backwards, fused)
    run_chunks(_forward_rows, _forward_chunks, B, chunks, args)
    cache = GRUCache(x=x, h0=h0, kernel=kernel, recurrent_kernel=recurrent_kernel, hs=hs,
                     gates=gates, recurrent_h=recurrent_h if reset_after else None, z=None,
                     activation=activation, recurrent_activation=recurrent_activation,
                     reset_after=reset_after, go_backwards=go_backwards, mask=mask,
                     dropout_mask=dropout_mask, recurrent_dropout_mask=recurrent_dropout_mask)
    return hs, cache


def gru_backward(dhs, dh_last, cache, input_grad=True):
    """BPTT over the whole sequence (same contract as reference.gru_backward).

    Args:
        dhs: [B, T, H] gradient with respect to every hs[:, t], or None.
        dh_last: [B, H] gradient with respect to the final h, or None.
        cache: the GRUCache from `gru_forward`, unchanged. It is only read.
        input_grad: False when nothing reads dx (the input is the model's own
            data): dx is returned as None and its product is skipped.

    Returns:
        dx [B, T, I] (caller's time order), dh0 [B, H], dkernel [I, 3H],
        drecurrent_kernel [H, 3H], dbias (the shape of bias): new arrays.
    """
    B, T, H = check_backward_inputs(dhs, dh_last, None, cache)
    x, dtype, reset_after = cache.x, cache.hs.dtype, cache.reset_after
    I = x.shape[2]
    dh = np.zeros((B, H), dtype) if dh_last is None else np.array(dh_last, order="C")
    dhs = np.zeros((0, T, H), dtype) if dhs is None else np.ascontiguousarray(dhs)
    masks = mask_arrays(x, H, cache.mask, cache.dropout_mask, cache.recurrent_dropout_mask)
    recurrent_h = cache.recurrent_h if reset_after else np.empty((0, T, H), dtype)
    dx = empty((B if input_grad else 0, T, I), dtype)  # no rows: not computed
    chunks = _num_chunks(B, T, I, H, 3)
    dkernel = empty((chunks, I, 3 * H), dtype)
    drecurrent_kernel = empty((chunks, H, 3 * H), dtype)
    dbias = np.empty((chunks, 2 if reset_after else 1, 3 * H), dtype)
    columns = (3 if reset_after else 2) * H  # the blocks whose product is recurrent_product's
    panels = recurrent_panels(cache.recurrent_kernel[:, :columns].T, masks[2],
                              blas_splits_steps(B, T, I, H, 3, chunks))
    args = (dhs, dh, x, cache.h0, cache.kernel, cache.recurrent_kernel, panels, *masks,
            cache.hs, cache.gates, recurrent_h, dx, CODES[cache.activation],
            CODES[cache.recurrent_activation], reset_after, cache.go_backwards,
            backward_steps_per_block(-(-B // chunks), T, 3 * H),
            reset_after and fuses(dtype, H, cache.activation, cache.recurrent_activation))
    run_chunks(_backward_rows, _backward_chunks, B, chunks, args,
               (dkernel, drecurrent_kernel, dbias))
    dbias = total(dbias)
    return ((dx if input_grad else None), dh, total(dkernel), total(drecurrent_kernel),
            dbias if reset_after else dbias[0])


# ----------------------------------------------------------------------------
# Compiled time loops over one chunk of rows
# ----------------------------------------------------------------------------


@jit
def _forward_rows(lo, hi, x, h0, kernel, kernel_panels, recurrent_kernel, panels, bias, mask,
                  dropout_mask, recurrent_dropout_mask, hs, gates, recurrent_h, xm, act_code,
                  rec_code, reset_after, reverse, fused):
    """The T steps of reference.gru_forward for batch rows lo:hi.

    Args:
        lo, hi: the rows of this chunk.
        x: [B, T, I] input order. h0: [B, H]. kernel: [I, 3H] and its panels
            (_sequence.input_panels); recurrent_kernel: [H, 3H]; panels: its z
            and r blocks (all three when reset_after), packed
            (_sequence.recurrent_panels); bias: [1 or 2, 3H] (b_in, then b_rec
            when reset_after). The masks as mask_arrays gives them. All only read.
        hs: [B, T, H] output (processing order).
        gates: [B, T, 3H] output, activated z, r, hh (input order).
        recurrent_h: [B, T, H] output when reset_after (input order).
        xm: [B, T, I] scratch for masked inputs (empty without dropout).
        act_code, rec_code: activation codes. reset_after: the variant.
        reverse: go_backwards. fused: as in _step.
    """
    T, H = x.shape[1], hs.shape[2]
    n = hi - lo
    hm = aligned_empty((n, H), x)  # h_prev * recurrent dropout mask, one step
    zh = aligned_empty((n, 3 * H), x)  # reset_after: h_prev @ recurrent_kernel, one step
    rh = aligned_empty((n, H), x)  # reset before: r * h_prev * m_h, one step
    project_inputs(lo, hi, x, kernel, kernel_panels, dropout_mask, gates, xm)  # all steps
    for t in range(T):
        t_in = T - 1 - t if reverse else t
        _step(lo, hi, t, t_in, h0, hs, recurrent_kernel, panels, bias, mask,
              recurrent_dropout_mask, gates, recurrent_h, t_in, False, zh, hm, rh, act_code,
              rec_code, reset_after, fused)


@jit_chunks
def _forward_chunks(plan, args):
    """_forward_rows on every chunk of `plan`, on all cores (_parallel.run_chunks)."""
    for _ in prange(plan.threads):  # one iteration a thread, each taking chunks in turn
        c = next_chunk(plan)
        while c >= 0:
            _forward_rows(plan.bounds[c], plan.bounds[c + 1], *args)
            c = next_chunk(plan, c)


@jit
def _step(lo, hi, t, t_in, h0, hs, recurrent_kernel, panels, bias, mask, recurrent_dropout_mask,
          z3, recurrent_h, zi, time_major, zh, hm, rh, act_code, rec_code, reset_after, fused):
    """Step t (input step t_in) of rows lo:hi: hs[lo:hi, t % hs.shape[1]] written (hs holds
    every step, or is a ring of two: _sequence.state_rows).

    z3, recurrent_h: this step's input projection (the activated z, r, hh on
    return) and, when reset_after, its recurrent_h output, at index zi: rows
    z3[zi, b - lo] of time-major [steps, rows, ...] buffers (inference), or
    z3[b, zi] of [B, T, ...] ones (training). Indexing whole C-ordered arrays
    keeps every row contiguous, so the row loops vectorise. zh, hm, rh: one
    step's scratch. fused: reset_after's row in _cell_forward_after_fused
    (`fuses`). The other arguments as in _forward_rows.
    """
    wide_vectors()
    H, S = hs.shape[2], hs.shape[1]
    now, prev = t % S, (t - 1) % S  # hs's rows of this step and the one before
    b_in = bias[0]
    h_prev = hs[lo:hi, prev] if t > 0 else h0[lo:hi]  # (rows, H)
    if reset_after:
        recurrent_product(h_prev, lo, recurrent_kernel, panels, recurrent_dropout_mask, 3 * H,
                          zh, hm, 0.0)
        for b in range(lo, hi):
            h_prev_b = hs[b, prev] if t > 0 else h0[b]
            if keep(mask, b, t_in):
                if fused:
                    _cell_forward_after_fused(_row(z3, zi, b, lo, time_major), zh[b - lo], b_in,
                                              bias[1], h_prev_b, hs[b, now],
                                              _row(recurrent_h, zi, b, lo, time_major))
                else:
                    _cell_forward_after(_row(z3, zi, b, lo, time_major), zh[b - lo], b_in,
                                        bias[1], h_prev_b, hs[b, now],
                                        _row(recurrent_h, zi, b, lo, time_major), act_code,
                                        rec_code)
            else:  # a masked step keeps h_prev
                copy(h_prev_b, hs[b, now])
        return
    # reset before: z and r first, then the candidate's product with r * h_prev
    z = z3[zi] if time_major else z3[lo:hi, zi]  # (rows, 3H)
    recurrent_product(h_prev, lo, recurrent_kernel, panels, recurrent_dropout_mask, 2 * H, z,
                      hm, 1.0)
    for b in range(lo, hi):
        y = _row(z3, zi, b, lo, time_major)
        for k in range(2 * H):
            y[k] = y[k] + b_in[k]
        activate(rec_code, y[:2 * H])  # z, r
        m_h = _candidate_mask(recurrent_dropout_mask, b)
        h_prev_b, rh_b = (hs[b, prev] if t > 0 else h0[b]), rh[b - lo]
        for j in range(H):
            rh_b[j] = y[H + j] * (h_prev_b[j] * m_h[j] if m_h.size else h_prev_b[j])
    gemm(rh, recurrent_kernel[:, 2 * H:], z[:, 2 * H:], 1.0)
    for b in range(lo, hi):
        h_prev_b = hs[b, prev] if t > 0 else h0[b]
        if keep(mask, b, t_in):
            _cell_forward_candidate(_row(z3, zi, b, lo, time_major), b_in, h_prev_b, hs[b, now],
                                    act_code)
        else:
            copy(h_prev_b, hs[b, now])


@jit
def _row(a, i, b, lo, time_major):
    """Row b's entry of step i: a[i, b - lo] (time-major) or a[b, i]."""
    return a[i, b - lo] if time_major else a[b, i]


@jit
def _inference_rows(lo, hi, x, h0, kernel, kernel_panels, recurrent_kernel, panels, bias, mask,
                    dropout_mask, recurrent_dropout_mask, hs, act_code, rec_code, reset_after,
                    reverse, block, fused):
    """_forward_rows without a cache: the gates of `block` steps at a time, time-major.

    As lstm._forward_rows: one input-projection GEMM per block of steps into a
    small buffer that stays in cache, then the steps of _forward_rows on it.
    hs: [B, T, H] written (processing order), or a ring of two steps (_step).
    """
    T, H = x.shape[1], hs.shape[2]
    n = hi - lo
    xb = aligned_empty((block, n, x.shape[2]), x)  # (masked) inputs of one block, by step
    zb = aligned_empty((block, n, 3 * H), x)  # their gates, by step
    hm = aligned_empty((n, H), x)  # h_prev * recurrent dropout mask, one step
    zh = aligned_empty((n, 3 * H), x)  # reset_after: h_prev @ recurrent_kernel, one step
    rh = aligned_empty((n, H), x)  # reset before: r * h_prev * m_h, one step
    rec_h = aligned_empty((1, n, H), x)  # reset_after's recurrent_h, kept only for backward
    for t0 in range(0, T, block):
        steps = min(block, T - t0)
        project_block(lo, hi, x, t0, steps, reverse, kernel, kernel_panels, dropout_mask, xb, zb)
        for s in range(steps):
            t = t0 + s
            # rec_h is one step deep: its step index is 0 where zb's is s
            _step(lo, hi, t, T - 1 - t if reverse else t, h0, hs, recurrent_kernel, panels, bias,
                  mask, recurrent_dropout_mask, zb[s:s + 1], rec_h, 0, True, zh, hm, rh, act_code,
                  rec_code, reset_after, fused)


@jit_chunks
def _inference_chunks(plan, args):
    """_inference_rows on every chunk of `plan`, on all cores (_parallel.run_chunks)."""
    for _ in prange(plan.threads):  # one iteration a thread, each taking chunks in turn
        c = next_chunk(plan)
        while c >= 0:
            _inference_rows(plan.bounds[c], plan.bounds[c + 1], *args)
            c = next_chunk(plan, c)


@jit
def _candidate_mask(masks, b):
    """Row b of the candidate block's recurrent dropout mask (the third), or an empty row."""
    if masks.shape[0] == 0:
        return masks.reshape(-1)[:0]
    return masks[masks.shape[0] - 1, b]


@jit
def _cell_forward_after(y, zh, b_in, b_rec, h_prev, h, recurrent_h, act_code, rec_code):
    """One row, reset_after: y (3H,) the input projection becomes z, r, hh; h written."""
    wide_vectors()
    H = h.size
    for k in range(2 * H):
        y[k] = (y[k] + b_in[k]) + (zh[k] + b_rec[k])
    activate(rec_code, y[:2 * H])  # z, r
    for j in range(H):
        hh_ = zh[2 * H + j] + b_rec[2 * H + j]
        recurrent_h[j] = hh_
        y[2 * H + j] = (y[2 * H + j] + b_in[2 * H + j]) + y[H + j] * hh_
    _cell_forward_candidate(y, b_in[:0], h_prev, h, act_code)


def _cell_forward_after_fused(y, zh, b_in, b_rec, h_prev, h, recurrent_h):
    """_cell_forward_after for tanh and sigmoid (Keras's defaults) on float32, 16 units at
    a time through every gate in registers (as lstm._cell_forward_fused), with the same
    operations in the same order. For float64, compiled from the same loop but never
    run (`fuses`), and in plain Python, it is _cell_forward_after."""
    _cell_forward_after(y, zh, b_in, b_rec, h_prev, h, recurrent_h, _TANH, _SIGMOID)


@overload(_cell_forward_after_fused, jit_options={"error_model": "numpy", "nogil": True})
def _cell_forward_after_fused_typed(y, zh, b_in, b_rec, h_prev, h, recurrent_h):
    if y.dtype != types.float32:
        return lambda y, zh, b_in, b_rec, h_prev, h, recurrent_h: _cell_forward_after(
            y, zh, b_in, b_rec, h_prev, h, recurrent_h, _TANH, _SIGMOID)

    def registers(y, zh, b_in, b_rec, h_prev, h, recurrent_h):
        H, L = h.size, 16
        one = vsplat(np.float32(1.0))
        for j in range(0, H, L):
            z = vsigmoid(vadd(vadd(vload(y, j), vload(b_in, j)),
                              vadd(vload(zh, j), vload(b_rec, j))))
            r = vsigmoid(vadd(vadd(vload(y, H + j), vload(b_in, H + j)),
                              vadd(vload(zh, H + j), vload(b_rec, H + j))))
            hh_ = vadd(vload(zh, 2 * H + j), vload(b_rec, 2 * H + j))
            hh = vtanh(vadd(vadd(vload(y, 2 * H + j), vload(b_in, 2 * H + j)), vmul(r, hh_)))
            vstore(recurrent_h, j, hh_)
            vstore(y, j, z)
            vstore(y, H + j, r)
            vstore(y, 2 * H + j, hh)
            vstore(h, j, vadd(vmul(z, vload(h_prev, j)), vmul(vsub(one, z), hh)))

    return registers


_TANH, _SIGMOID = CODES["tanh"], CODES["sigmoid"]


@jit
def _cell_forward_candidate(y, b_in, h_prev, h, act_code):
    """hh = act(y[2H:] + b_in[2H:]) in place (no bias when b_in is empty);
    h = z*h_prev + (1-z)*hh."""
    wide_vectors()
    H = h.size
    one = y.dtype.type(1.0)
    if b_in.size:
        for j in range(H):
            y[2 * H + j] = y[2 * H + j] + b_in[2 * H + j]
    activate(act_code, y[2 * H:])
    for j in range(H):
        h[j] = y[j] * h_prev[j] + (one - y[j]) * y[2 * H + j]


@jit
def _backward_rows(lo, hi, dhs, dh, x, h0, kernel, recurrent_kernel, panels, mask, dropout_mask,
                   recurrent_dropout_mask, hs, gates, recurrent_h, dx, act_code, rec_code,
                   reset_after, reverse, block, fused, dkernel, drecurrent_kernel, dbias):
    """The reversed steps of reference.gru_backward for batch rows lo:hi.

    The gradients of `block` steps at a time live in small time-major buffers,
    and after each block its products (weight gradients, dx) run on them while
    they are still in cache (_block_gradients), as in lstm._backward_rows.

    Args:
        lo, hi: the rows of this chunk.
        dhs: [B, T, H] upstream gradients, or [0, T, H] for none.
        dh: [B, H] dh_last on entry, dh0 on return (rows lo:hi, in place).
        x ... recurrent_h: from the cache (layouts as gru_forward's), only read;
            panels: the transposed blocks of recurrent_product, packed.
        dx: [B, T, I] output (input order), or [0, T, I].
        act_code, rec_code, reset_after, reverse: as in the forward.
        block: steps per block (_sequence.backward_steps_per_block).
        fused: reset_after's row in _cell_backward_after_fused (`fuses`).
        dkernel [I, 3H], drecurrent_kernel [H, 3H], dbias [1 or 2, 3H]: this
            chunk's sums, overwritten.
    """
    wide_vectors()
    T, H = hs.shape[1], hs.shape[2]
    rows = hi - lo
    zb = aligned_empty((block, rows, 3 * H), x)  # dL/d(x-projection) of a block's steps
    # reset_after: dL/d(recurrent product); its candidate block differs from zb's
    zhb = aligned_empty((block if reset_after else 0, rows, 3 * H), x)
    xhb, dxb, am = block_operands(x, H, block, rows, dx, dropout_mask,
                                  recurrent_dropout_mask)  # the block products' buffers
    tmp = aligned_empty((rows, H), x)  # one block's recurrent product, one step
    drh = aligned_empty((rows, H), x)  # reset before: dL/d(r * h_prev * m_h), one step
    for end in range(T, 0, -block):  # blocks of steps, the last first
        t0 = max(0, end - block)
        for s in range(end - t0 - 1, -1, -1):
            t = t0 + s
            t_in = T - 1 - t if reverse else t
            for r in range(rows):
                b = lo + r
                dh_t = add_output_gradient(dh, dhs, b, t)
                if keep(mask, b, t_in):
                    y, d, h_prev_b = gates[b, t_in], zb[s, r], hs[b, t - 1] if t > 0 else h0[b]
                    if fused:
                        _cell_backward_after_fused(y, h_prev_b, dh_t, d, zhb[s, r],
                                                   recurrent_h[b, t_in])
                    elif reset_after:
                        _cell_backward_after(y, h_prev_b, dh_t, d, zhb[s, r],
                                             recurrent_h[b, t_in], act_code, rec_code)
                    else:
                        _cell_backward_mix(y, h_prev_b, dh_t, d, act_code)
                else:  # a masked step passes dh straight to step t-1
                    fill(zb[s, r], 0.0)
                    if reset_after:
                        fill(zhb[s, r], 0.0)
            if reset_after:
                # z = x_t @ kernel + (h_prev * m) @ recurrent_kernel + bias
                recurrent_product_backward(zhb[s], lo, recurrent_kernel, panels,
                                           recurrent_dropout_mask, 3 * H, dh[lo:hi], tmp)
                continue
            # ah = xh + (r * h_masked) @ U_h
            gemm(zb[s, :, 2 * H:], recurrent_kernel[:, 2 * H:].T, drh, 0.0)
            for r in range(rows):
                b = lo + r
                if keep(mask, b, t_in):
                    y, d, dh_t = gates[b, t_in], zb[s, r], dh[b]
                    h_prev_b, drh_b = (hs[b, t - 1] if t > 0 else h0[b]), drh[r]
                    m_h = _candidate_mask(recurrent_dropout_mask, b)
                    for j in range(H):
                        m = m_h[j] if m_h.size else y.dtype.type(1.0)
                        d[H + j] = drh_b[j] * (h_prev_b[j] * m)  # dr
                        dh_t[j] += drh_b[j] * y[H + j] * m
                    scale_by_derivative(rec_code, d[:2 * H], y[:2 * H])  # daz, dar
            recurrent_product_backward(zb[s], lo, recurrent_kernel, panels,
                                       recurrent_dropout_mask, 2 * H, dh[lo:hi], tmp)
        _block_gradients(lo, hi, t0, end - t0, reverse, x, hs, h0, gates, zb, zhb, kernel,
                         dropout_mask, recurrent_dropout_mask, xhb, am, dxb, dx, reset_after,
                         dkernel, drecurrent_kernel, dbias, 1.0 if end < T else 0.0)


@jit_chunks
def _backward_chunks(plan, args, dkernel, drecurrent_kernel, dbias):
    """_backward_rows on every chunk of `plan`, on all cores (_parallel.run_chunks)."""
    for _ in prange(plan.threads):  # one iteration a thread, each taking chunks in turn
        c = next_chunk(plan)
        while c >= 0:
            _backward_rows(plan.bounds[c], plan.bounds[c + 1], *args, dkernel[c],
                           drecurrent_kernel[c], dbias[c])
            c = next_chunk(plan, c)


@jit
def _block_gradients(lo, hi, t0, n, reverse, x, hs, h0, gates, zb, zhb, kernel, dropout_mask,
                     recurrent_dropout_mask, xhb, am, dxb, dx, reset_after, dkernel,
                     drecurrent_kernel, dbias, beta):
    """The products of processing steps t0 .. t0+n-1 of rows lo:hi once their gradients
    are in zb (and zhb): dkernel, drecurrent_kernel, dbias (+)= this block's share
    (overwritten when beta is 0), and this block's dx; as _sequence.block_gradients,
    with the GRU's two recurrent operands, so x's and h_prev's products stay apart.
    Without reset_after the candidate block's operand is r * h_prev * m_h, made in
    place of h_prev after the other blocks' use.
    """
    rows, I, H = hi - lo, x.shape[2], hs.shape[2]
    a = gather_operands(lo, hi, x, hs, h0, t0, n, reverse, xhb)
    xa, ha, dz = a[:, :I], a[:, I:], block_rows(zb, n, rows)
    x_scratch, h_scratch = block_scratch(am, n, rows, I, H)
    block_weight_gradient(lo, rows, xa, dropout_mask, 0, 3 * H, dz, dkernel, beta, x_scratch)
    block_column_sums(dz, dbias[0], beta)
    block_dx(lo, hi, t0, n, reverse, dz, kernel, dropout_mask, dxb, x_scratch, dx)
    if reset_after:
        dzh = block_rows(zhb, n, rows)
        block_weight_gradient(lo, rows, ha, recurrent_dropout_mask, 0, 3 * H, dzh,
                              drecurrent_kernel, beta, h_scratch)
        block_column_sums(dzh, dbias[1], beta)
        return
    block_weight_gradient(lo, rows, ha, recurrent_dropout_mask, 0, 2 * H, dz, drecurrent_kernel,
                          beta, h_scratch)
    _reset_h_prev(lo, t0, n, reverse, gates, recurrent_dropout_mask, xhb[:n, :, I:])
    block_weight_gradient(lo, rows, ha, recurrent_dropout_mask[:0], 2 * H, 3 * H, dz,
                          drecurrent_kernel, beta, h_scratch)


@jit
def _cell_backward_mix(y, h_prev, dh, d, act_code):
    """h = z * h_prev + (1 - z) * hh and hh = act(ah) backwards, for one row.

    y: (3H,) activated z, r, hh. dh: (H,) dL/dh_t, becomes dh * z (the direct
    part of dL/dh_prev). d: (3H,) written: dL/dz in its first block (before
    z's derivative), dL/dah in its last; the middle block is left to the caller.
    """
    wide_vectors()
    H = dh.size
    one = y.dtype.type(1.0)
    for j in range(H):
        z, hh = y[j], y[2 * H + j]
        d[j] = dh[j] * (h_prev[j] - hh)
        d[2 * H + j] = dh[j] * (one - z)
        dh[j] = dh[j] * z
    scale_by_derivative(act_code, d[2 * H:], y[2 * H:])


@jit
def _cell_backward_after(y, h_prev, dh, d, d_rec, rec_h, act_code, rec_code):
    """One row backwards, reset_after: d (3H,) dL/d(x-projection) and d_rec (3H,)
    dL/d(recurrent product) written; dh (H,) dL/dh_t becomes its direct part (dh * z).
    y: (3H,) activated z, r, hh; rec_h: (H,) hh_ = (h_prev * m_h) @ U_h + b_rh."""
    wide_vectors()
    H = dh.size
    _cell_backward_mix(y, h_prev, dh, d, act_code)
    # ah = xh + r * hh_
    for j in range(H):
        d[H + j] = d[2 * H + j] * rec_h[j]  # dr
        d_rec[2 * H + j] = d[2 * H + j] * y[H + j]  # dhh_
    scale_by_derivative(rec_code, d[:2 * H], y[:2 * H])  # daz, dar
    copy(d[:2 * H], d_rec[:2 * H])


def _cell_backward_after_fused(y, h_prev, dh, d, d_rec, rec_h):
    """_cell_backward_after for tanh and sigmoid on float32, 16 units at a time in
    registers (where _cell_forward_after_fused runs, `fuses`): every input read once,
    every output written once, with the same operations in the same order, so the
    same numbers. For float64 (never fused) and in plain Python, _cell_backward_after."""
    _cell_backward_after(y, h_prev, dh, d, d_rec, rec_h, _TANH, _SIGMOID)


@overload(_cell_backward_after_fused, jit_options={"error_model": "numpy", "nogil": True})
def _cell_backward_after_fused_typed(y, h_prev, dh, d, d_rec, rec_h):
    if y.dtype != types.float32:
        return lambda y, h_prev, dh, d, d_rec, rec_h: _cell_backward_after(
            y, h_prev, dh, d, d_rec, rec_h, _TANH, _SIGMOID)

    def registers(y, h_prev, dh, d, d_rec, rec_h):
        H, L = dh.size, 16
        one = vsplat(np.float32(1.0))
        for j in range(0, H, L):
            z, r, hh, dh_j = vload(y, j), vload(y, H + j), vload(y, 2 * H + j), vload(dh, j)
            # h = z * h_prev + (1 - z) * hh, hh = tanh(ah), ah = xh + r * hh_
            dah = vmul(vmul(dh_j, vsub(one, z)), vsub(one, vmul(hh, hh)))
            daz = vmul(vmul(dh_j, vsub(vload(h_prev, j), hh)), vmul(z, vsub(one, z)))
            dar = vmul(vmul(dah, vload(rec_h, j)), vmul(r, vsub(one, r)))
            vstore(dh, j, vmul(dh_j, z))
            vstore(d, j, daz)
            vstore(d, H + j, dar)
            vstore(d, 2 * H + j, dah)
            vstore(d_rec, j, daz)
            vstore(d_rec, H + j, dar)
            vstore(d_rec, 2 * H + j, vmul(dah, r))

    return registers


@jit
def _reset_h_prev(lo, t0, n, reverse, gates, masks, hb):
    """hb[s, r] *= r * m_h of processing step t0 + s, row lo + r: the operand of the
    candidate block's product. hb: [n, rows, H] (time-major block)."""
    wide_vectors()
    T, H = gates.shape[1], hb.shape[2]
    for s in range(n):
        t = t0 + s
        t_in = T - 1 - t if reverse else t
        for r in range(hb.shape[1]):
            m_h = _candidate_mask(masks, lo + r)
            row, y = hb[s, r], gates[lo + r, t_in]
            for j in range(H):
                row[j] = y[H + j] * (row[j] * m_h[j] if m_h.size else row[j])
