"""The products every cell makes, with the optional masks, for one chunk of rows.

The compiled twins of reference/_sequence.py: the input projection of the
steps, the recurrent product of one step, and, after each block of backward
steps, the input and weight gradients of that block, each with the dropout
masks of kernels/cache.py (none, one shared by the gate blocks, or one per
block):

    forward:   out_k = (a * m_k) @ W_k                       for each block k
    backward:  da    = Σ_k (dout_k @ W_kᵀ) * m_k
               dW_k  = Σ over rows of (a * m_k)ᵀ @ dout_k

The forward functions work on batch rows lo:hi of [B, T, ...] arrays, whose
rows (b, t) form one [(hi-lo)*T, ...] matrix (the GRU's training forward),
or on time-major blocks of a few steps ([steps, rows, ...]); the backward
ones on such blocks. Each product over the steps at hand is one GEMM (per
block when the masks are per block). Absent masks are arrays with no entries
(`masks.shape[0] == 0`), so one compiled version serves calls with and
without them.
"""

import functools

import numpy as np

from ._blas import gemm
from ._buffers import aligned_empty, empty
from ._math import copy, jit, wide_vectors
from ._packed import one_register_wide, pack, packed_gemm

# ----------------------------------------------------------------------------
# The wrappers' side (plain Python)
# ----------------------------------------------------------------------------


def check_float_type(x):
    if x.dtype.char not in "fd":
        raise NotImplementedError(
            f"The 'numba' kernel set supports float32 and float64, got {x.dtype}. "
            "Use the 'numpy' backend (minilstm.backend.set_backend('numpy')) for other dtypes."
        )


def mask_arrays(x, H, mask, dropout_mask, recurrent_dropout_mask):
    """The three masks as C-contiguous arrays; an absent one has no rows.

    Returns (mask [B, T] bool or [0, T], dropout_mask [M, B, I] or [0, B, I],
    recurrent_dropout_mask [M, B, H] or [0, B, H]).
    """
    B, T, I = x.shape
    mask = _no_rows((0, T), _BOOL) if mask is None else np.ascontiguousarray(mask)
    dropout_mask = (_no_rows((0, B, I), x.dtype) if dropout_mask is None
                    else np.ascontiguousarray(dropout_mask))
    recurrent_dropout_mask = (_no_rows((0, B, H), x.dtype) if recurrent_dropout_mask is None
                              else np.ascontiguousarray(recurrent_dropout_mask))
    return mask, dropout_mask, recurrent_dropout_mask


_BOOL = np.dtype(bool)


@functools.lru_cache(maxsize=64)
def _no_rows(shape, dtype):
    """An array of `shape` with no entries (shape[0] == 0), made once per shape and dtype:
    nothing can be written to it, so every call may share it."""
    return np.zeros(shape, dtype)


def state_rows(B, T, H, dtype, sequences):
    """The loops' hs: [B, T, H] (every step's h), or with sequences=False a ring of
    [B, min(T, 2), H] that step t writes at t % 2 and step t+1 reads back, all a
    forward-only pass returning only the last h needs. The loops index it by
    `t % hs.shape[1]`, which is t itself for the full array."""
    return empty((B, T if sequences else min(T, 2), H), dtype)


def last_state(hs, T):
    """[B, 1, H]: the h of step T-1 (processing order) from state_rows' ring."""
    if T == 0:
        return hs
    last = (T - 1) % hs.shape[1]
    return np.ascontiguousarray(hs[:, last:last + 1])


def recurrent_panels(weight, masks, blas_threads):
    """The per-step weight packed once for all steps (_packed.py), or no panels (BLAS)
    when recurrent dropout masks are on (their products go block by block), when
    BLAS's own threads should split each product (blas_threads: a large problem in
    one chunk, _parallel.blas_splits_steps), or when the shape or CPU does not suit.
    weight: recurrent_kernel[:, :columns] forwards, its transpose backwards."""
    return pack(weight if masks.shape[0] == 0 and not blas_threads else weight[:0])


def input_panels(kernel, masks):
    """The kernel packed for the block loops' input projections (_packed.py): a few
    steps' rows times few inputs, where the packed tiles beat BLAS by about a third
    ((256, 32) x (32, 1024): 123 against 91 GFLOP/s). No panels (BLAS) with dropout
    masks, whose products go block by block, or when the shape or CPU does not suit."""
    return pack(kernel if masks.shape[0] == 0 else kernel[:0])


def scratch(masks, B, T, D, dtype):
    """A [B, T, D] buffer for masked copies of an operand, or an empty one without masks."""
    return empty((B if masks.shape[0] else 0, T, D), dtype)


# The block loops (every forward-only loop, and the LSTM's and SimpleRNN's training
# forwards too) keep the gates of a few steps at a time: at most this many steps and
# about this many bytes, which stay in a core's L2 cache along with the recurrent
# GEMM's operands.
_BLOCK_STEPS = 16
_BLOCK_BYTES = 1 << 20


def steps_per_block(rows, T, columns, itemsize=4):
    """Steps whose gates ([steps, rows, columns]) a block loop projects at once."""
    return max(1, min(T, _BLOCK_STEPS, _BLOCK_BYTES // max(1, rows * columns * itemsize)))


# A backward block's weight-gradient products sum over its steps x rows; at least
# this many (where T allows) keep those products efficient for thin chunks.
_MIN_BLOCK_SUM = 256


def backward_steps_per_block(rows, T, columns, itemsize=4):
    """Steps whose dL/dz ([steps, rows, columns]) a backward loop holds at once:
    as steps_per_block, but at least enough for _MIN_BLOCK_SUM rows per product."""
    at_least = -(-_MIN_BLOCK_SUM // max(1, rows))
    return max(steps_per_block(rows, T, columns, itemsize), min(T, _BLOCK_STEPS, at_least))


# ----------------------------------------------------------------------------
# Compiled helpers over rows lo:hi
# ----------------------------------------------------------------------------


@jit
def rows_of(a, lo, hi):
    """a[lo:hi] of a C-contiguous [B, T, D] array as the [(hi-lo)*T, D] matrix of its rows."""
    return a[lo:hi].reshape((hi - lo) * a.shape[1], a.shape[2])


@jit
def keep(mask, b, t):
    """True when step t of row b runs (no mask, or the mask is True there)."""
    return mask.shape[0] == 0 or mask[b, t]


@jit
def _block_width(masks, columns):
    """Columns per block: all of them for no or one shared mask, else columns / M."""
    return columns if masks.shape[0] <= 1 else columns // masks.shape[0]


@jit
def _mask_of(masks, c, width):
    """The mask of the block that starts at column c (blocks `width` wide)."""
    return masks[0] if masks.shape[0] == 1 else masks[c // width]


@jit
def _masked_copy(a, mask, lo, hi, out):
    """out[b, t] = a[b, t] * mask[b] for rows lo:hi of [B, T, D] arrays; mask [B, D]."""
    wide_vectors()
    for b in range(lo, hi):
        m = mask[b]
        for t in range(a.shape[1]):
            src, dst = a[b, t], out[b, t]
            for j in range(dst.size):
                dst[j] = src[j] * m[j]


@jit
def project_inputs(lo, hi, x, kernel, panels, masks, out, xm):
    """out[lo:hi] = (x * m_k) @ kernel_k for every gate block k, over all steps at once.

    x: [B, T, I]; kernel: [I, G*H] and its panels (input_panels); masks: [M, B, I];
    out: [B, T, G*H]; xm: [B, T, I] scratch (used only with masks).
    """
    out_rows = rows_of(out, lo, hi)
    if masks.shape[0] == 0:
        input_product(rows_of(x, lo, hi), kernel, panels, out_rows)
        return
    width = _block_width(masks, kernel.shape[1])
    for c in range(0, kernel.shape[1], width):
        _masked_copy(x, _mask_of(masks, c, width), lo, hi, xm)
        gemm(rows_of(xm, lo, hi), kernel[:, c:c + width], out_rows[:, c:c + width], 0.0)


@jit
def gather_steps(lo, hi, x, t0, n, reverse, xb):
    """xb[s, r] = the input of processing step t0 + s for row lo + r (time-major copy).

    x: [B, T, I] input order; xb: [>= n, hi-lo, I].
    """
    _copy_steps(lo, hi, x, t0, n, reverse, xb, True)


@jit
def scatter_steps(lo, hi, xb, t0, n, reverse, x):
    """x[lo + r, t_in] = xb[s, r] for processing steps t0 .. t0+n-1 (gather_steps undone)."""
    _copy_steps(lo, hi, x, t0, n, reverse, xb, False)


@jit
def _copy_steps(lo, hi, x, t0, n, reverse, xb, into_block):
    """Copies between rows lo:hi of [B, T, D] x (input order) and the time-major block
    xb [>= n, hi-lo, D] of processing steps t0 .. t0+n-1: into xb, or out of it."""
    wide_vectors()
    T = x.shape[1]
    for s in range(n):
        t = t0 + s
        t_in = T - 1 - t if reverse else t
        for r in range(hi - lo):
            src, dst = (x[lo + r, t_in], xb[s, r]) if into_block else (xb[s, r], x[lo + r, t_in])
            for i in range(dst.size):
                dst[i] = src[i]


@jit
def project_block(lo, hi, x, t0, steps, reverse, kernel, panels, masks, xb, zb):
    """zb[:steps] = the input projections of processing steps t0 .. t0+steps-1 of rows
    lo:hi, time-major ([steps, rows, G*H]); xb: [>= steps, rows, I] scratch."""
    gather_steps(lo, hi, x, t0, steps, reverse, xb)
    project_steps(lo, xb[:steps], kernel, panels, masks, zb[:steps])


@jit
def project_steps(lo, xb, kernel, panels, masks, zb):
    """zb = (xb * m_k) @ kernel_k per gate block k, for a few steps at once (time-major).

    xb: [n, rows, I] the inputs of rows lo:lo+rows (overwritten by their masked
    copy when there are masks); kernel: [I, G*H] and its panels (input_panels);
    masks: [M, B, I]; zb: [n, rows, G*H].
    """
    n, rows, I = xb.shape
    x_rows = xb.reshape(n * rows, I)
    z_rows = zb.reshape(n * rows, zb.shape[2])
    if masks.shape[0] == 0:
        input_product(x_rows, kernel, panels, z_rows)
        return
    width = _block_width(masks, kernel.shape[1])
    plain = xb.copy()
    for c in range(0, kernel.shape[1], width):
        mask = _mask_of(masks, c, width)
        for s in range(n):
            for r in range(rows):
                for i in range(I):
                    xb[s, r, i] = plain[s, r, i] * mask[lo + r, i]
        gemm(x_rows, kernel[:, c:c + width], z_rows[:, c:c + width], 0.0)


@jit
def input_product(a, kernel, panels, out):
    """out = a @ kernel, by its packed panels (input_panels) or, with none, by BLAS."""
    if panels.shape[0] != 0:
        packed_gemm(a, panels, out, 0.0)
    else:
        gemm(a, kernel, out, 0.0)


@jit
def recurrent_product(h_prev, lo, recurrent_kernel, panels, masks, columns, z, hm, beta):
    """z[:, :columns] = (h_prev * m_k) @ recurrent_kernel_k + beta * z, per block k.

    h_prev: [n, H] the rows lo:lo+n at one step; recurrent_kernel: [H, G*H];
    panels: recurrent_kernel[:, :columns] packed (recurrent_panels), or none;
    masks: [M, B, H]; z: [n, >= columns]; hm: [n, H] scratch (used with masks).
    """
    if masks.shape[0] == 0:
        if panels.shape[0] != 0:
            if one_register_wide(panels):
                # AVX2's tile reads h_prev once per 16 columns: its rows, a step of
                # [B, T, H] and far apart, are gathered first (W3 10%, W2 13% faster)
                copy_rows(h_prev, hm)
                packed_gemm(hm, panels, z[:, :columns], beta)
            else:
                packed_gemm(h_prev, panels, z[:, :columns], beta)
        else:
            gemm(h_prev, recurrent_kernel[:, :columns], z[:, :columns], beta)
        return
    width = _block_width(masks, recurrent_kernel.shape[1])
    step = min(width, columns)
    for c in range(0, columns, step):
        mask = _mask_of(masks, c, width)
        for r in range(h_prev.shape[0]):
            for j in range(h_prev.shape[1]):
                hm[r, j] = h_prev[r, j] * mask[lo + r, j]
        gemm(hm, recurrent_kernel[:, c:c + step], z[:, c:c + step], beta)


@jit
def copy_rows(a, out):
    """out[...] = a, row by row."""
    for r in range(a.shape[0]):
        copy(a[r], out[r])


@jit
def recurrent_product_backward(dz, lo, recurrent_kernel, panels, masks, columns, dh, tmp):
    """dh += Σ_k (dz_k @ recurrent_kernel_kᵀ) * m_k over the blocks in dz[:, :columns].

    dz: [n, >= columns] one step's gradients; panels: recurrent_kernel[:, :columns]ᵀ
    packed (recurrent_panels), or none; dh: [n, H], added to; tmp: [n, H]
    scratch (used with masks).
    """
    if masks.shape[0] == 0:
        if panels.shape[0] != 0:
            packed_gemm(dz[:, :columns], panels, dh, 1.0)
        else:
            gemm(dz[:, :columns], recurrent_kernel[:, :columns].T, dh, 1.0)
        return
    width = _block_width(masks, recurrent_kernel.shape[1])
    step = min(width, columns)
    for c in range(0, columns, step):
        mask = _mask_of(masks, c, width)
        gemm(dz[:, c:c + step], recurrent_kernel[:, c:c + step].T, tmp, 0.0)
        for r in range(dh.shape[0]):
            for j in range(dh.shape[1]):
                dh[r, j] += tmp[r, j] * mask[lo + r, j]


# ----------------------------------------------------------------------------
# The products after a block of backward steps (time-major block buffers)
# ----------------------------------------------------------------------------
#
# The backward loops keep dL/dz of a few steps at a time, as the forward keeps
# z: [steps, rows, G*H] time-major (steps_per_block), and after each block add
# its share of the weight gradients and write its dx. The block's operands
# stay in the core's L2 cache, where products over all steps at the end read
# [B, T, G*H] arrays back from memory that the two cores share.


@jit
def gather_h_prev_steps(lo, hi, hs, h0, t0, n, hb):
    """hb[s, r] = the h_prev of processing step t0 + s for row lo + r (h0 before step 0).

    hs: [B, T, H] processing order; hb: [>= n, hi-lo, H].
    """
    wide_vectors()
    for s in range(n):
        t = t0 + s
        for r in range(hi - lo):
            src, dst = (hs[lo + r, t - 1] if t > 0 else h0[lo + r]), hb[s, r]
            for j in range(dst.size):
                dst[j] = src[j]


@jit
def gather_operands(lo, hi, x, hs, h0, t0, n, reverse, xhb):
    """The operands of processing steps t0 .. t0+n-1 of rows lo:hi side by side,
    [x_t | h_prev] per row, in xhb [>= n, rows, I+H]; returns them as the [n*rows, I+H]
    matrix of a block's rows (time-major: row s*rows + r is step t0+s of row lo+r)."""
    I, rows = x.shape[2], hi - lo
    gather_steps(lo, hi, x, t0, n, reverse, xhb[:, :, :I])
    gather_h_prev_steps(lo, hi, hs, h0, t0, n, xhb[:, :, I:])
    return xhb[:n].reshape(n * rows, xhb.shape[2])


@jit
def _masked_rows(lo, rows, a, mask, out):
    """out[k] = a[k] * mask[lo + k % rows] for a block's [n*rows, D] rows (row k is of
    batch row lo + k % rows); mask [B, D]. out may be a."""
    wide_vectors()
    for k in range(a.shape[0]):
        src, dst, m = a[k], out[k], mask[lo + k % rows]
        for j in range(dst.size):
            dst[j] = src[j] * m[j]


@jit
def block_weight_gradient(lo, rows, a, masks, c0, c1, dz, dweights, beta, am):
    """dweights[:, c0:c1] (+)= Σ over the block's steps and rows of (a * m_k)ᵀ @ dz_k,
    per gate block k.

    a: [n*rows, D] the operands of the block's rows (gather_operands; a column
    slice of them serves, as every row keeps unit stride); dz: [n*rows, G*H];
    masks: [M, B, D]; dweights: [D, G*H], columns c0:c1 overwritten when beta
    is 0, added to when 1; am: [n*rows, D] scratch (used with masks).
    """
    if masks.shape[0] == 0:
        gemm(a.T, dz[:, c0:c1], dweights[:, c0:c1], beta)
        return
    width = _block_width(masks, dz.shape[1])
    step = min(width, c1 - c0)
    for c in range(c0, c1, step):
        _masked_rows(lo, rows, a, _mask_of(masks, c, width), am)
        gemm(am.T, dz[:, c:c + step], dweights[:, c:c + step], beta)


@jit
def block_input_gradient(lo, rows, dz, kernel, masks, da, tmp):
    """da = Σ_k (dz_k @ kernel_kᵀ) * m_k for a block's rows.

    dz: [n*rows, G*H]; kernel: [I, G*H]; masks: [M, B, I]; da, tmp: [n*rows, I].
    """
    if masks.shape[0] == 0:
        gemm(dz, kernel.T, da, 0.0)
        return
    width = _block_width(masks, kernel.shape[1])
    for c in range(0, kernel.shape[1], width):
        gemm(dz[:, c:c + width], kernel[:, c:c + width].T, tmp, 0.0)
        _masked_rows(lo, rows, tmp, _mask_of(masks, c, width), tmp)
        for k in range(da.shape[0]):
            for i in range(da.shape[1]):
                da[k, i] = tmp[k, i] if c == 0 else da[k, i] + tmp[k, i]


@jit
def block_column_sums(dz, out, beta):
    """out (+)= Σ over the block's rows of dz [n*rows, C] (overwritten if beta is 0)."""
    wide_vectors()
    if beta == 0:
        out[:] = 0.0
    for k in range(dz.shape[0]):
        d = dz[k]
        for j in range(out.size):
            out[j] += d[j]


@jit
def block_rows(zb, n, rows):
    """The first n steps of a time-major block [>= n, rows, C] as its [n*rows, C] rows."""
    return zb[:n].reshape(n * rows, zb.shape[2])


@jit
def block_gradients(lo, hi, t0, n, reverse, x, hs, h0, zb, kernel, dropout_mask,
                    recurrent_dropout_mask, xhb, am, dxb, dx, dweights, dbias, beta):
    """The products of processing steps t0 .. t0+n-1 of rows lo:hi, once their dL/dz is in zb.

    dweights (+)= Σ [x * m | h_prev * m]ᵀ dz, dkernel in its first I rows and
    drecurrent_kernel in the other H, and dbias (+)= Σ dz (overwritten when
    beta is 0, the first block), and dx of these steps = dz kernelᵀ (masked),
    written into dx (input order) unless dx has no rows. Without dropout masks
    the two weight gradients are one product over [x_t | h_prev]: W1's two
    products, (32, 512)ᵀ and (128, 512)ᵀ @ (512, 512), took 1.06 ms a block on
    one core, the one (160, 512)ᵀ @ (512, 512) 0.72 ms.
    zb: [>= n, rows, G*H]; xhb, dxb, am: block_operands' buffers.
    """
    rows, I = hi - lo, x.shape[2]
    a = gather_operands(lo, hi, x, hs, h0, t0, n, reverse, xhb)
    dz = block_rows(zb, n, rows)
    x_scratch, h_scratch = block_scratch(am, n, rows, I, xhb.shape[2] - I)
    if dropout_mask.shape[0] + recurrent_dropout_mask.shape[0] == 0:
        gemm(a.T, dz, dweights, beta)
    else:
        block_weight_gradient(lo, rows, a[:, :I], dropout_mask, 0, dz.shape[1], dz,
                              dweights[:I], beta, x_scratch)
        block_weight_gradient(lo, rows, a[:, I:], recurrent_dropout_mask, 0, dz.shape[1], dz,
                              dweights[I:], beta, h_scratch)
    block_column_sums(dz, dbias, beta)
    block_dx(lo, hi, t0, n, reverse, dz, kernel, dropout_mask, dxb, x_scratch, dx)


@jit
def block_operands(x, H, block, rows, dx, dropout_mask, recurrent_dropout_mask):
    """The buffers of a backward block's products (block_gradients), allocated once per
    call: xhb [block, rows, I+H] its [x | h_prev] (gather_operands), dxb [block, rows,
    I] its dx (no steps when dx has no rows), and am, the 1-D masked-operand scratch
    (block_scratch; no entries without dropout masks)."""
    I = x.shape[2]
    masked = dropout_mask.shape[0] + recurrent_dropout_mask.shape[0] != 0
    return (aligned_empty((block, rows, I + H), x),
            aligned_empty((block if dx.shape[0] else 0, rows, I), x),
            aligned_empty((block * rows * max(I, H) if masked else 0,), x))


@jit
def add_output_gradient(dh, dhs, b, t):
    """dh[b] += dhs[b, t] when every step has an upstream gradient (dhs has rows);
    returns dh[b], dL/dh_t: h_t feeds both the output at step t and step t+1."""
    dh_t = dh[b]
    if dhs.shape[0] != 0:
        for j in range(dh_t.size):
            dh_t[j] += dhs[b, t, j]
    return dh_t


@jit
def block_scratch(am, n, rows, I, H):
    """[n*rows, I] and [n*rows, H] views of the masked-operand scratch `am` (1-D), or
    arrays with no rows when am has no entries (no masks: never read)."""
    m = n * rows if am.size else 0
    return am[:m * I].reshape(m, I), am[:m * H].reshape(m, H)


@jit
def block_dx(lo, hi, t0, n, reverse, dz, kernel, masks, dxb, scratch, dx):
    """dx of processing steps t0 .. t0+n-1 = dz kernelᵀ (masked), written into dx (input
    order) through the block buffer dxb; nothing when dx has no rows. dz: [n*rows, G*H]."""
    if dx.shape[0] != 0:
        rows = hi - lo
        block_input_gradient(lo, rows, dz, kernel, masks, block_rows(dxb, n, rows), scratch)
        scatter_steps(lo, hi, dxb, t0, n, reverse, dx)
