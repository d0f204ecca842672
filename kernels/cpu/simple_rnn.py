"""The SimpleRNN on the CPU with Numba: BLAS GEMMs plus a fused, compiled loop per row.

The equations, names and shapes are reference/simple_rnn.py's; see there. The
work is arranged as in lstm.py: one input-projection GEMM per block of steps
into a small buffer, one recurrent GEMM per step accumulated in place, a fused
bias-and-activation loop per row (the same loop with or without a cache: hs
is all the backward reads), and backwards the weight gradients and dx as GEMMs over each
block of steps, while the block is in cache. The derivative is taken from the
activated output.

The cache (`SimpleRNNCache`) is private to this set except `hs`:

    x                  [B, T, I] the caller's x (input order)
    h0                 [B, H]; kernel [I, H]; recurrent_kernel [H, H]
    hs                 [B, T, H] the returned array (processing order)
    z                  None (the derivative is read from hs: a step that ran
                       has h_t = act(a_t))
    mask, dropout_mask, recurrent_dropout_mask   as given, or None

Run with `NUMBA_DISABLE_JIT=1` to read or step through the loops as Python.
"""

import numpy as np
from numba import types
from numba.extending import overload

from ..activations import CODES
from ..cache import SimpleRNNCache, check_backward_inputs, check_sequence_inputs, check_sequences
from ._buffers import aligned_empty, empty
from ._math import (activate, copy, fill, jit, jit_chunks, prange, scale_by_derivative,
                    wide_vectors)
from ._parallel import num_chunks as _num_chunks
from ._parallel import blas_splits_steps, next_chunk, run_chunks, total
from ._sequence import (
    add_output_gradient,
    backward_steps_per_block,
    block_gradients,
    block_operands,
    check_float_type,
    input_panels,
    keep,
    last_state,
    mask_arrays,
    project_block,
    recurrent_panels,
    recurrent_product,
    recurrent_product_backward,
    state_rows,
    steps_per_block,
)
from ._vectors import vadd, vload, vstore
from ._vmath import fuses, vtanh

__all__ = ["simple_rnn_forward", "simple_rnn_backward"]


def simple_rnn_forward(x, h0, kernel, recurrent_kernel, bias, activation="tanh",
                       go_backwards=False, mask=None, dropout_mask=None,
                       recurrent_dropout_mask=None, cache=True, sequences=True):
    """Runs the RNN over all T steps (same contract as reference.simple_rnn_forward).

    Args:
        x: [B, T, I] input sequences, float32 or float64.
        h0: [B, H] initial state.
        kernel: [I, H]; recurrent_kernel: [H, H]; bias: [H].
        activation: a name from kernels.activations.
        go_backwards: process the sequence last step first.
        mask: [B, T] bool or None. dropout_mask: [1, B, I] or None.
        recurrent_dropout_mask: [1, B, H] or None (kernels/cache.py).
        cache: False for a forward-only pass (predict, evaluate).
        sequences: False (with cache=False) when only the last step's h is
            read: the loop writes h into two alternating rows per batch row
            (_sequence.state_rows) and hs is [B, 1, H], that h.

    Returns:
        hs: [B, T, H] state after each step (processing order), a new array;
            [B, 1, H] with sequences=False.
        cache: a SimpleRNNCache; pass it unchanged to `simple_rnn_backward`.
            None with cache=False.
    """
    B, T, I, H = check_sequence_inputs(
        x, {"h0": h0}, kernel, recurrent_kernel, bias, 1, lambda H: (H,),
        {"activation": activation}, mask, dropout_mask, recurrent_dropout_mask)
    check_sequences(sequences, cache)
    check_float_type(x)
    x, h0, kernel, recurrent_kernel, bias = map(
        np.ascontiguousarray, (x, h0, kernel, recurrent_kernel, bias))
    masks = mask_arrays(x, H, mask, dropout_mask, recurrent_dropout_mask)
    hs = state_rows(B, T, H, x.dtype, sequences)
    chunks = _num_chunks(B, T, I, H, 1)
    panels = recurrent_panels(recurrent_kernel, masks[2],
                              blas_splits_steps(B, T, I, H, 1, chunks))
    # The cache keeps nothing the forward-only pass would not make: hs is all of it.
    args = (x, h0, kernel, input_panels(kernel, masks[1]), recurrent_kernel, panels, bias,
            *masks, hs, CODES[activation], go_backwards,
            steps_per_block(-(-B // chunks), T, H), fuses(x.dtype, H, activation))
    run_chunks(_forward_rows, _forward_chunks, B, chunks, args)
    if not cache:
        return (hs if sequences else last_state(hs, T)), None
    cache = SimpleRNNCache(x=x, h0=h0, kernel=kernel, recurrent_kernel=recurrent_kernel, hs=hs,
                           z=None, activation=activation, go_backwards=go_backwards, mask=mask,
                           dropout_mask=dropout_mask,
                           recurrent_dropout_mask=recurrent_dropout_mask)
    return hs, cache


def simple_rnn_backward(dhs, dh_last, cache, input_grad=True):
    """BPTT over the whole sequence (same contract as reference.simple_rnn_backward).

    Args:
        dhs: [B, T, H] gradient with respect to every hs[:, t], or None.
        dh_last: [B, H] gradient with respect to the final h, or None.
        cache: the SimpleRNNCache from `simple_rnn_forward`, unchanged.
        input_grad: False when nothing reads dx (the input is the model's own
            data): dx is returned as None and its product is skipped.

    Returns:
        dx [B, T, I] (caller's time order), dh0 [B, H], dkernel [I, H],
        drecurrent_kernel [H, H], dbias [H]: new arrays.
    """
    B, T, H = check_backward_inputs(dhs, dh_last, None, cache)
    x, dtype = cache.x, cache.hs.dtype
    I = x.shape[2]
    dh = np.zeros((B, H), dtype) if dh_last is None else np.array(dh_last, order="C")
    dhs = np.zeros((0, T, H), dtype) if dhs is None else np.ascontiguousarray(dhs)
    masks = mask_arrays(x, H, cache.mask, cache.dropout_mask, cache.recurrent_dropout_mask)
    dx = empty((B if input_grad else 0, T, I), dtype)  # no rows: not computed
    chunks = _num_chunks(B, T, I, H, 1)
    dweights = empty((chunks, I + H, H), dtype)  # dkernel, then drecurrent_kernel
    dbias = np.empty((chunks, H), dtype)
    panels = recurrent_panels(cache.recurrent_kernel.T, masks[2],
                              blas_splits_steps(B, T, I, H, 1, chunks))
    args = (dhs, dh, x, cache.h0, cache.kernel, cache.recurrent_kernel, panels, *masks, cache.hs,
            dx, CODES[cache.activation], cache.go_backwards,
            backward_steps_per_block(-(-B // chunks), T, H))
    run_chunks(_backward_rows, _backward_chunks, B, chunks, args, (dweights, dbias))
    return ((dx if input_grad else None), dh, total(dweights[:, :I]), total(dweights[:, I:]),
            total(dbias))


# ----------------------------------------------------------------------------
# Compiled time loops over one chunk of rows
# ----------------------------------------------------------------------------


@jit
def _forward_rows(lo, hi, x, h0, kernel, kernel_panels, recurrent_kernel, panels, bias, mask,
                  dropout_mask, recurrent_dropout_mask, hs, act_code, reverse, block, fused):
    """The T steps of reference.simple_rnn_forward for batch rows lo:hi, with a_t for
    `block` steps at a time in a small time-major buffer (as lstm._forward_rows).

    Args:
        lo, hi: the rows of this chunk.
        x: [B, T, I] input order. h0: [B, H]. kernel: [I, H] and its panels
            (_sequence.input_panels); recurrent_kernel: [H, H] and its panels
            (_sequence.recurrent_panels); bias: [H]. The masks as mask_arrays
            gives them. Only read.
        hs: [B, T, H] output (processing order), all a backward needs; or a
            ring of two steps (_sequence.state_rows): step t is hs[:, t % hs.shape[1]].
        act_code: activation code. reverse: go_backwards.
        block: steps projected at once (_sequence.steps_per_block).
        fused: tanh in float32 through _tanh_of_sum (_vmath.fuses).
    """
    wide_vectors()
    T, H, S = x.shape[1], hs.shape[2], hs.shape[1]  # S: T, or 2 for a ring
    xb = aligned_empty((block, hi - lo, x.shape[2]), x)  # (masked) inputs, by step
    zb = aligned_empty((block, hi - lo, H), x)  # a_t of those steps
    hm = aligned_empty((hi - lo, H), x)  # h_prev * recurrent dropout mask, one step
    for t0 in range(0, T, block):
        steps = min(block, T - t0)
        project_block(lo, hi, x, t0, steps, reverse, kernel, kernel_panels, dropout_mask, xb, zb)
        for s in range(steps):
            t = t0 + s
            t_in = T - 1 - t if reverse else t
            now, prev = t % S, (t - 1) % S  # hs's rows of this step and the one before
            h_prev = hs[lo:hi, prev] if t > 0 else h0[lo:hi]
            recurrent_product(h_prev, lo, recurrent_kernel, panels, recurrent_dropout_mask, H,
                              zb[s], hm, 1.0)
            for b in range(lo, hi):
                if keep(mask, b, t_in):
                    if fused:
                        _tanh_of_sum(zb[s, b - lo], bias, hs[b, now])
                        continue
                    a = zb[s, b - lo]
                    for j in range(H):
                        a[j] = a[j] + bias[j]
                    activate(act_code, a)
                    copy(a, hs[b, now])
                else:
                    copy(hs[b, prev] if t > 0 else h0[b], hs[b, now])


@jit_chunks
def _forward_chunks(plan, args):
    """_forward_rows on every chunk of `plan`, on all cores (_parallel.run_chunks)."""
    for _ in prange(plan.threads):  # one iteration a thread, each taking chunks in turn
        c = next_chunk(plan)
        while c >= 0:
            _forward_rows(plan.bounds[c], plan.bounds[c + 1], *args)
            c = next_chunk(plan, c)


def _tanh_of_sum(a, bias, h):
    """h = tanh(a + bias) for one row of float32, 16 units at a time in registers
    (_vmath.py): one pass where the general loop makes three. For float64, compiled
    from the same loop but never run (_vmath.fuses), and in plain Python, the general
    loop (_tanh_of_sum_in_loops)."""
    _tanh_of_sum_in_loops(a, bias, h)


@jit
def _tanh_of_sum_in_loops(a, bias, h):
    """a += bias, a = tanh(a), h = a: the general row loop with tanh."""
    for j in range(h.size):
        a[j] = a[j] + bias[j]
    activate(_TANH, a)
    copy(a, h)


@overload(_tanh_of_sum, jit_options={"error_model": "numpy", "nogil": True})
def _tanh_of_sum_typed(a, bias, h):
    if a.dtype != types.float32:
        return lambda a, bias, h: _tanh_of_sum_in_loops(a, bias, h)

    def registers(a, bias, h):
        for j in range(0, h.size, 16):
            vstore(h, j, vtanh(vadd(vload(a, j), vload(bias, j))))

    return registers


_TANH = CODES["tanh"]


@jit
def _backward_rows(lo, hi, dhs, dh, x, h0, kernel, recurrent_kernel, panels, mask, dropout_mask,
                   recurrent_dropout_mask, hs, dx, act_code, reverse, block, dweights, dbias):
    """The reversed steps of reference.simple_rnn_backward for batch rows lo:hi.

    dL/da of `block` steps at a time lives in a small time-major buffer, and
    after each block its products (weight gradients, dx) run on it while it is
    still in cache (_sequence.block_gradients), as in lstm._backward_rows.

    Args:
        lo, hi: the rows of this chunk.
        dhs: [B, T, H] upstream gradients, or [0, T, H] for none.
        dh: [B, H] dh_last on entry, dh0 on return (rows lo:hi, in place).
        x ... hs: from the cache (layouts as simple_rnn_forward's), only read;
            panels: recurrent_kernelᵀ packed (_sequence.recurrent_panels).
        dx: [B, T, I] output (input order), or [0, T, I]. act_code, reverse:
            as forward. block: steps per block (backward_steps_per_block).
        dweights [I+H, H] (dkernel, then drecurrent_kernel), dbias [H]: this
            chunk's sums, overwritten.
    """
    wide_vectors()
    T, H = hs.shape[1], hs.shape[2]
    rows = hi - lo
    ab = aligned_empty((block, rows, H), x)  # dL/da of one block's steps, time-major
    xhb, dxb, am = block_operands(x, H, block, rows, dx, dropout_mask,
                                  recurrent_dropout_mask)  # the block products' buffers
    tmp = aligned_empty((rows, H), x)  # the masked recurrent product, one step
    for end in range(T, 0, -block):  # blocks of steps, the last first
        t0 = max(0, end - block)
        for s in range(end - t0 - 1, -1, -1):
            t = t0 + s
            t_in = T - 1 - t if reverse else t
            for r in range(rows):
                b = lo + r
                dh_t = add_output_gradient(dh, dhs, b, t)
                d = ab[s, r]
                if keep(mask, b, t_in):
                    copy(dh_t, d)  # h = act(a)
                    scale_by_derivative(act_code, d, hs[b, t])  # hs[b, t] = act(a)
                    fill(dh_t, 0.0)  # h_prev reaches the loss only through a (added below)
                else:  # a masked step passes dh straight to step t-1
                    fill(d, 0.0)
            # a = x_t @ kernel + bias + (h_prev * m) @ recurrent_kernel
            recurrent_product_backward(ab[s], lo, recurrent_kernel, panels,
                                       recurrent_dropout_mask, H, dh[lo:hi], tmp)
        block_gradients(lo, hi, t0, end - t0, reverse, x, hs, h0, ab, kernel, dropout_mask,
                        recurrent_dropout_mask, xhb, am, dxb, dx, dweights, dbias,
                        1.0 if end < T else 0.0)


@jit_chunks
def _backward_chunks(plan, args, dweights, dbias):
    """_backward_rows on every chunk of `plan`, on all cores (_parallel.run_chunks)."""
    for _ in prange(plan.threads):  # one iteration a thread, each taking chunks in turn
        c = next_chunk(plan)
        while c >= 0:
            _backward_rows(plan.bounds[c], plan.bounds[c + 1], *args, dweights[c], dbias[c])
            c = next_chunk(plan, c)
