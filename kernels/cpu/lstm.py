"""The LSTM on the CPU with Numba: BLAS GEMMs over all steps plus fused, compiled gate loops.

The equations, names and shapes are reference/lstm.py's; see there. This file
only arranges the same work for speed, per chunk of batch rows (_parallel.py):

- ONE GEMM projects the inputs of a block of a few steps, `x @ kernel`
  ((rows*steps, I) @ (I, 4H)), one per gate block with per-gate dropout
  masks, into a small time-major buffer that stays in cache (the block's
  size: _sequence.steps_per_block).
- Each step adds ONE GEMM, `h_prev @ recurrent_kernel`, into its rows of that
  buffer (BLAS accumulates in place, _blas.py; one per block with per-gate
  recurrent dropout), then one fused pass over each row adds the bias,
  applies the gate maths and writes the activated i, f, g, o, c and act(c)
  to the cache. With Keras's default gates in float32 on AVX-512 or AVX2 that pass
  is one loop over registers of 16 units (_cell_forward_fused). A
  forward-only pass (cache=False) runs the same loop and keeps only the
  last c.
- Backward walks the steps in reverse with one GEMM per step,
  `dh_prev = dz_t @ recurrent_kernelᵀ`, keeping dz of a block of steps in a
  small time-major buffer; after each block, one GEMM each adds that block's
  share of dkernel and drecurrent_kernel and writes its dx, while the block
  is still in cache (_sequence.block_gradients). Products over all steps at
  the end read [B, T, 4H] arrays back from memory, which the two cores of
  the benchmark machine share at about 13 GB/s: W1's backward took 35% longer.
- A masked step copies h_prev and c_prev; backwards it passes dh and dc
  straight to the previous step and has dz = 0.

The cache (`LSTMCache`) is private to this set except `hs` and `cs`:

    x                  [B, T, I] the caller's x (input order, not reversed for
                       go_backwards; the loops read step t at T-1-t instead)
    h0, c0             [B, H]
    kernel             [I, 4H]; recurrent_kernel [H, 4H]
    hs, cs             [B, T, H] the returned arrays (processing order)
    act_cs             [B, T, H] act(c) of every step (processing order), which
                       h = o * act(c) needed anyway: backward reads it instead
                       of evaluating the activation again; a masked step's row
                       is unused
    gates              [B, T, 4H] activated gates i, f, g, o in INPUT order
                       (row b, t belongs to x[b, t]); a masked step's row is
                       never written nor read
    z                  None
    mask, dropout_mask, recurrent_dropout_mask
                       as given (mask in input order), or None

To read the loops as plain Python, step through them in a debugger, or check
them without compiling, run with `NUMBA_DISABLE_JIT=1` (slow: minutes, not
milliseconds).
"""

import numpy as np
from numba import types
from numba.extending import overload

from ..activations import CODES
from ..cache import LSTMCache, check_backward_inputs, check_forward_inputs, check_sequences
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
from ._vectors import vadd, vfma, vload, vmul, vsplat, vstore, vsub
from ._vmath import fuses, vsigmoid, vtanh

__all__ = ["lstm_forward", "lstm_backward"]


def lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias, activation="tanh",
                 recurrent_activation="sigmoid", go_backwards=False, mask=None,
                 dropout_mask=None, recurrent_dropout_mask=None, cache=True, sequences=True):
    """Runs the LSTM over all T steps (same contract as reference.lstm_forward).

    Args:
        x: [B, T, I] input sequences, float32 or float64.
        h0, c0: [B, H] initial hidden and cell states.
        kernel: [I, 4H]; recurrent_kernel: [H, 4H]; bias: [4H].
        activation, recurrent_activation: names from kernels.activations.
        go_backwards: process the sequence last step first.
        mask: [B, T] bool or None. dropout_mask: [1 or 4, B, I] or None.
        recurrent_dropout_mask: [1 or 4, B, H] or None (kernels/cache.py).
        cache: False for a forward-only pass (predict, evaluate): the
            inference loop keeps no gates and no cell states.
        sequences: False (with cache=False) when only the last step's h is
            read: the loop then writes h into two alternating rows per batch
            row instead of a [B, T, H] array (W3's would be 26 MB a batch)
            and hs is [B, 1, H], that h.

    Returns:
        hs, cs: [B, T, H] hidden and cell state after each step (processing
            order), new C-contiguous arrays; with cache=False cs is only the
            last cell state, [B, 1, H]; with sequences=False hs is [B, 1, H].
        cache: an LSTMCache; pass it unchanged to `lstm_backward` (layout in
            the module docstring). None with cache=False.
    """
    B, T, I, H = check_forward_inputs(x, h0, c0, kernel, recurrent_kernel, bias, activation,
                                      recurrent_activation, mask, dropout_mask,
                                      recurrent_dropout_mask)
    check_sequences(sequences, cache)
    check_float_type(x)
    x, h0, c0, kernel, recurrent_kernel, bias = map(
        np.ascontiguousarray, (x, h0, c0, kernel, recurrent_kernel, bias))
    masks = mask_arrays(x, H, mask, dropout_mask, recurrent_dropout_mask)
    hs = state_rows(B, T, H, x.dtype, sequences)
    c_last = np.empty((B, 1, H), x.dtype)
    # The cache: no rows for a forward-only pass, which then keeps no gates or c.
    rows = B if cache else 0
    cs, act_cs = empty((rows, T, H), x.dtype), empty((rows, T, H), x.dtype)
    gates = empty((rows, T, 4 * H), x.dtype)
    chunks = _num_chunks(B, T, I, H, 4)
    panels = recurrent_panels(recurrent_kernel, masks[2],
                              blas_splits_steps(B, T, I, H, 4, chunks))
    args = (x, h0, c0, kernel, input_panels(kernel, masks[1]), recurrent_kernel, panels, bias,
            *masks, hs, c_last, cs, act_cs, gates, CODES[activation],
            CODES[recurrent_activation], go_backwards,
            steps_per_block(-(-B // chunks), T, 4 * H),
            fuses(x.dtype, H, activation, recurrent_activation))
    run_chunks(_forward_rows, _forward_chunks, B, chunks, args)
    if not cache:
        return (hs if sequences else last_state(hs, T)), c_last, None
    cache = LSTMCache(x=x, h0=h0, c0=c0, kernel=kernel, recurrent_kernel=recurrent_kernel,
                      hs=hs, cs=cs, gates=gates, z=None, activation=activation,
                      recurrent_activation=recurrent_activation, go_backwards=go_backwards,
                      mask=mask, dropout_mask=dropout_mask,
                      recurrent_dropout_mask=recurrent_dropout_mask, act_cs=act_cs)
    return hs, cs, cache


def lstm_backward(dhs, dh_last, dc_last, cache, input_grad=True):
    """BPTT over the whole sequence (same contract as reference.lstm_backward).

    Args:
        dhs: [B, T, H] gradient with respect to every hs[:, t], or None.
        dh_last, dc_last: [B, H] gradients with respect to the final h and c,
            or None.
        cache: the LSTMCache from `lstm_forward`, unchanged. It is only read.
        input_grad: False when nothing reads dx (the input is the model's own
            data): dx is returned as None and its product is skipped.

    Returns:
        dx [B, T, I] (in the caller's time order), dh0 [B, H], dc0 [B, H],
        dkernel [I, 4H], drecurrent_kernel [H, 4H], dbias [4H]: new arrays.
    """
    B, T, H = check_backward_inputs(dhs, dh_last, dc_last, cache)
    x, dtype = cache.x, cache.hs.dtype
    I = x.shape[2]
    # The loops carry dL/dh and dL/dc from step to step in these two buffers.
    dh = np.zeros((B, H), dtype) if dh_last is None else np.array(dh_last, order="C")
    dc = np.zeros((B, H), dtype) if dc_last is None else np.array(dc_last, order="C")
    dhs = np.zeros((0, T, H), dtype) if dhs is None else np.ascontiguousarray(dhs)
    masks = mask_arrays(x, H, cache.mask, cache.dropout_mask, cache.recurrent_dropout_mask)
    dx = empty((B if input_grad else 0, T, I), dtype)  # no rows: not computed
    chunks = _num_chunks(B, T, I, H, 4)
    # One partial sum per chunk (no two threads add into one buffer), then the sum.
    dweights = empty((chunks, I + H, 4 * H), dtype)  # dkernel, then drecurrent_kernel
    dbias = np.empty((chunks, 4 * H), dtype)
    panels = recurrent_panels(cache.recurrent_kernel.T, masks[2],
                              blas_splits_steps(B, T, I, H, 4, chunks))
    args = (dhs, dh, dc, x, cache.h0, cache.c0, cache.kernel, cache.recurrent_kernel, panels,
            *masks, cache.hs, cache.cs, cache.act_cs, cache.gates, dx,
            CODES[cache.activation], CODES[cache.recurrent_activation], cache.go_backwards,
            backward_steps_per_block(-(-B // chunks), T, 4 * H),
            fuses(dtype, H, cache.activation, cache.recurrent_activation))
    run_chunks(_backward_rows, _backward_chunks, B, chunks, args, (dweights, dbias))
    return ((dx if input_grad else None), dh, dc, total(dweights[:, :I]),
            total(dweights[:, I:]), total(dbias))


# ----------------------------------------------------------------------------
# Compiled time loops over one chunk of rows
# ----------------------------------------------------------------------------


@jit
def _forward_rows(lo, hi, x, h0, c0, kernel, kernel_panels, recurrent_kernel, panels, bias, mask,
                  dropout_mask, recurrent_dropout_mask, hs, c_last, cs, act_cs, gates, act_code,
                  rec_code, reverse, block, fused):
    """The T steps of reference.lstm_forward for batch rows lo:hi.

    The pre-activations of `block` steps at a time live in a small time-major
    buffer (projected by one GEMM per block, then one recurrent GEMM per step
    accumulated in place), and the cell state in one [rows, H] buffer, so the
    operands of every step stay in cache; a cache, when kept, is only written.

    Args:
        lo, hi: the rows of this chunk; other rows are neither read nor written.
        x: [B, T, I] in input order. h0, c0: [B, H]. kernel: [I, 4H] and its
            panels (input_panels); recurrent_kernel: [H, 4H] and its panels
            (recurrent_panels); bias: [4H]. The masks as mask_arrays gives
            them. All only read.
        hs: [B, T, H] output (processing order), or a ring of two steps
            (_sequence.state_rows): step t is hs[:, t % hs.shape[1]].
            c_last: [B, 1, H] the final c.
        cs, act_cs: [B, T, H] and gates: [B, T, 4H], the cache (layouts in the
            module docstring), written; arrays with no rows to keep none.
        act_code, rec_code: activation codes. reverse: go_backwards.
        block: steps projected at once (_sequence.steps_per_block).
        fused: run the gate arithmetic in _cell_forward_fused (`fuses`).
    """
    T, H, S = x.shape[1], hs.shape[2], hs.shape[1]  # S: T, or 2 for a ring
    rows, caching = hi - lo, gates.shape[0] != 0
    xb = aligned_empty((block, rows, x.shape[2]), x)  # (masked) inputs of one block, by step
    zb = aligned_empty((block, rows, 4 * H), x)  # their pre-activations, by step
    hm = aligned_empty((rows, H), x)  # h_prev * recurrent dropout mask
    c = aligned_empty((rows, H), x)
    act_c = aligned_empty((H,), x)
    for r in range(rows):
        copy(c0[lo + r], c[r])
    for t0 in range(0, T, block):
        n = min(block, T - t0)
        project_block(lo, hi, x, t0, n, reverse, kernel, kernel_panels, dropout_mask, xb, zb)
        for s in range(n):
            t = t0 + s
            t_in = T - 1 - t if reverse else t
            now, prev = t % S, (t - 1) % S  # hs's rows of this step and the one before
            h_prev = hs[lo:hi, prev] if t > 0 else h0[lo:hi]
            # z = x_t @ kernel + h_prev @ recurrent_kernel, accumulated in place
            recurrent_product(h_prev, lo, recurrent_kernel, panels, recurrent_dropout_mask,
                              4 * H, zb[s], hm, 1.0)
            for r in range(rows):
                b = lo + r
                if keep(mask, b, t_in):
                    if fused:
                        _cell_forward_fused(zb[s, r], bias, gates[b, t_in] if caching else
                                            zb[s, r], c[r], hs[b, now], act_cs[b, t] if caching
                                            else act_c, caching)
                    elif caching:
                        _cell_forward(zb[s, r], bias, gates[b, t_in], c[r], hs[b, now],
                                      act_cs[b, t], act_code, rec_code)
                    else:
                        _cell_forward(zb[s, r], bias, zb[s, r], c[r], hs[b, now], act_c,
                                      act_code, rec_code)
                else:  # a masked step keeps the previous states
                    copy(hs[b, prev] if t > 0 else h0[b], hs[b, now])
                if caching:
                    copy(c[r], cs[b, t])
    for r in range(rows):
        copy(c[r], c_last[lo + r, 0])


@jit_chunks
def _forward_chunks(plan, args):
    """_forward_rows on every chunk of `plan`, on all cores (_parallel.run_chunks)."""
    for _ in prange(plan.threads):  # one iteration a thread, each taking chunks in turn
        c = next_chunk(plan)
        while c >= 0:
            _forward_rows(plan.bounds[c], plan.bounds[c + 1], *args)
            c = next_chunk(plan, c)


@jit
def _cell_forward(z, bias, y, c, h, act_c, act_code, rec_code):
    """One row of one step: y (4H,) = the gates i, f, g, o of z + bias; c (H,) updated
    in place; h and act_c = act(c) (H,) written. y may be z itself.

    Rows are 1-D views indexed from 0: that lets LLVM vectorise every loop.
    """
    wide_vectors()
    H = c.size
    for k in range(4 * H):
        y[k] = z[k] + bias[k]
    i, f, g, o = y[:H], y[H:2 * H], y[2 * H:3 * H], y[3 * H:]
    activate(rec_code, y[:2 * H])  # i, f
    activate(act_code, g)
    activate(rec_code, o)
    for j in range(H):
        c[j] = f[j] * c[j] + i[j] * g[j]
        act_c[j] = c[j]
    activate(act_code, act_c)
    for j in range(H):
        h[j] = o[j] * act_c[j]


def _cell_forward_fused(z, bias, y, c, h, act_c, caching):
    """_cell_forward for tanh and sigmoid (Keras's defaults) on float32, 16 units at a time
    through every gate in registers (_vmath.py), when H is a multiple of 16 on an AVX-512
    or AVX2 CPU (`fuses`). Its five activations and four loops per row each passed over the
    row; this reads z, bias and c once and writes c and h (y and act_c when caching).
    c = f * c + i * g rounds once (a fused multiply-add).

    In plain Python (NUMBA_DISABLE_JIT) and for float64, which never fuses but is
    compiled from the same loop, it is _cell_forward with those activations.
    """
    _cell_forward(z, bias, y, c, h, act_c, CODES["tanh"], CODES["sigmoid"])


@overload(_cell_forward_fused, jit_options={"error_model": "numpy", "nogil": True})
def _cell_forward_fused_typed(z, bias, y, c, h, act_c, caching):
    if z.dtype != types.float32:
        return lambda z, bias, y, c, h, act_c, caching: _cell_forward(
            z, bias, y, c, h, act_c, _TANH, _SIGMOID)

    def registers(z, bias, y, c, h, act_c, caching):
        H, L = c.size, 16
        for j in range(0, H, L):
            i = vsigmoid(vadd(vload(z, j), vload(bias, j)))
            f = vsigmoid(vadd(vload(z, H + j), vload(bias, H + j)))
            g = vtanh(vadd(vload(z, 2 * H + j), vload(bias, 2 * H + j)))
            o = vsigmoid(vadd(vload(z, 3 * H + j), vload(bias, 3 * H + j)))
            c_new = vfma(f, vload(c, j), vmul(i, g))
            tanh_c = vtanh(c_new)
            vstore(c, j, c_new)
            vstore(h, j, vmul(o, tanh_c))
            if caching:
                vstore(y, j, i)
                vstore(y, H + j, f)
                vstore(y, 2 * H + j, g)
                vstore(y, 3 * H + j, o)
                vstore(act_c, j, tanh_c)

    return registers


_TANH, _SIGMOID = CODES["tanh"], CODES["sigmoid"]


@jit
def _backward_rows(lo, hi, dhs, dh, dc, x, h0, c0, kernel, recurrent_kernel, panels, mask,
                   dropout_mask, recurrent_dropout_mask, hs, cs, act_cs, gates, dx, act_code,
                   rec_code, reverse, block, fused, dweights, dbias):
    """The reversed steps of reference.lstm_backward for batch rows lo:hi.

    dL/dz of `block` steps at a time lives in a small time-major buffer, and
    after each block its products (weight gradients, dx) run on it while it is
    still in cache (_sequence.block_gradients).

    Args:
        lo, hi: the rows of this chunk.
        dhs: [B, T, H] upstream gradients, or [0, T, H] for none.
        dh, dc: [B, H] dh_last and dc_last on entry, dh0 and dc0 on return
            (rows lo:hi updated in place: pass arrays the caller owns).
        x ... gates: from the cache (layouts as lstm_forward's), only read;
            panels: recurrent_kernelᵀ packed (recurrent_panels).
        dx: [B, T, I] output, rows lo:hi written (input order), or [0, T, I].
        act_code, rec_code: activation codes. reverse: go_backwards.
        block: steps per block (_sequence.backward_steps_per_block).
        fused: run the gate arithmetic in _cell_backward_fused (`fuses`).
        dweights [I+H, 4H] (dkernel, then drecurrent_kernel), dbias [4H]: this
            chunk's sums, overwritten.
    """
    wide_vectors()
    T, H = x.shape[1], hs.shape[2]
    rows = hi - lo
    zb = aligned_empty((block, rows, 4 * H), x)  # dL/dz of one block's steps, time-major
    xhb, dxb, am = block_operands(x, H, block, rows, dx, dropout_mask,
                                  recurrent_dropout_mask)  # the block products' buffers
    tmp = aligned_empty((rows, H), x)  # one block's recurrent product, one step
    dc_act = aligned_empty((H,), x)  # dh * o * act'(c_t) of one row
    for end in range(T, 0, -block):  # blocks of steps, the last first
        t0 = max(0, end - block)
        for s in range(end - t0 - 1, -1, -1):
            t = t0 + s
            t_in = T - 1 - t if reverse else t
            for r in range(rows):
                b = lo + r
                dh_t = add_output_gradient(dh, dhs, b, t)
                if keep(mask, b, t_in):
                    c_prev = cs[b, t - 1] if t > 0 else c0[b]
                    if fused:
                        _cell_backward_fused(gates[b, t_in], act_cs[b, t], c_prev, dh_t, dc[b],
                                             zb[s, r])
                    else:
                        _cell_backward(gates[b, t_in], act_cs[b, t], c_prev, dh_t, dc[b],
                                       zb[s, r], dc_act, act_code, rec_code)
                    fill(dh_t, 0.0)  # h_prev reaches the loss only through z (added below)
                else:  # a masked step passes dh and dc straight to step t-1
                    fill(zb[s, r], 0.0)
            # z = x_t @ kernel + (h_prev * m) @ recurrent_kernel + bias
            recurrent_product_backward(zb[s], lo, recurrent_kernel, panels,
                                       recurrent_dropout_mask, 4 * H, dh[lo:hi], tmp)
        block_gradients(lo, hi, t0, end - t0, reverse, x, hs, h0, zb, kernel, dropout_mask,
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


@jit
def _cell_backward(y, act_c, c_prev, dh, dc_next, dz, dc_act, act_code, rec_code):
    """One row of one step backwards: dz (4H,) written, dc_next (H,) becomes dc_prev.

    y: (4H,) the activated gates i, f, g, o; act_c: (H,) act(c_t) from the
    forward; c_prev: (H,); dh: (H,) dL/dh_t.
    """
    wide_vectors()
    H = act_c.size
    i, f, g, o = y[:H], y[H:2 * H], y[2 * H:3 * H], y[3 * H:]
    di, df, dg, do = dz[:H], dz[H:2 * H], dz[2 * H:3 * H], dz[3 * H:]
    # One output array per loop: LLVM vectorises a loop only when its runtime
    # checks that the arrays do not overlap stay few (30% faster at H=512).
    # h = o * act(c)
    for j in range(H):
        do[j] = dh[j] * act_c[j]
    for j in range(H):
        dc_act[j] = dh[j] * o[j]
    scale_by_derivative(act_code, dc_act, act_c)
    # c = f * c_prev + i * g
    for j in range(H):
        dc_act[j] = dc_next[j] + dc_act[j]  # now dL/dc_t
    for j in range(H):
        df[j] = dc_act[j] * c_prev[j]
    for j in range(H):
        di[j] = dc_act[j] * g[j]
    for j in range(H):
        dg[j] = dc_act[j] * i[j]
    for j in range(H):
        dc_next[j] = dc_act[j] * f[j]  # dc_prev
    # i, f, o = rec_act(zi, zf, zo); g = act(zg)
    scale_by_derivative(rec_code, dz[:2 * H], y[:2 * H])
    scale_by_derivative(act_code, dg, g)
    scale_by_derivative(rec_code, do, o)


def _cell_backward_fused(y, act_c, c_prev, dh, dc_next, dz):
    """_cell_backward for tanh and sigmoid on float32, 16 units at a time in registers
    (where _cell_forward_fused runs, `fuses`). Its nine loops and three derivative passes
    per row each passed over the row; this reads every input once and writes dz and dc
    once. The same operations in the same order, so the same numbers as _cell_backward.
    For float64 (never fused, compiled from the same loop) and in plain Python it is
    _cell_backward with those activations."""
    _cell_backward(y, act_c, c_prev, dh, dc_next, dz, np.empty_like(act_c), _TANH, _SIGMOID)


@overload(_cell_backward_fused, jit_options={"error_model": "numpy", "nogil": True})
def _cell_backward_fused_typed(y, act_c, c_prev, dh, dc_next, dz):
    if y.dtype != types.float32:
        return lambda y, act_c, c_prev, dh, dc_next, dz: _cell_backward(
            y, act_c, c_prev, dh, dc_next, dz, np.empty_like(act_c), _TANH, _SIGMOID)

    def registers(y, act_c, c_prev, dh, dc_next, dz):
        H, L = act_c.size, 16
        one = vsplat(np.float32(1.0))
        for j in range(0, H, L):
            i, f = vload(y, j), vload(y, H + j)
            g, o = vload(y, 2 * H + j), vload(y, 3 * H + j)
            a, d = vload(act_c, j), vload(dh, j)
            # h = o * tanh(c); c = f * c_prev + i * g; each gate's derivative from its output
            vstore(dz, 3 * H + j, vmul(vmul(d, a), vmul(o, vsub(one, o))))
            dc = vadd(vload(dc_next, j), vmul(vmul(d, o), vsub(one, vmul(a, a))))
            vstore(dz, H + j, vmul(vmul(dc, vload(c_prev, j)), vmul(f, vsub(one, f))))
            vstore(dz, j, vmul(vmul(dc, g), vmul(i, vsub(one, i))))
            vstore(dz, 2 * H + j, vmul(vmul(dc, i), vsub(one, vmul(g, g))))
            vstore(dc_next, j, vmul(dc, f))

    return registers
