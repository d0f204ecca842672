"""The two products every recurrent cell makes, with optional dropout masks.

Every cell multiplies its input by `kernel` and its previous state by
`recurrent_kernel`, both split into G gate blocks of H columns. With
dropout, Keras multiplies the operand by a mask first: one mask for all
blocks (masks [1, B, D]), or one per block (masks [G, B, D], Keras's
implementation 1). Written once here, with its backward:

    forward:   out_k = (a * m_k) @ W_k                       for each block k
    backward:  da    = Σ_k (dout_k @ W_kᵀ) * m_k             (grad_operand)
               dW_k  = (a * m_k)ᵀ @ dout_k   (summed over every leading axis; grad_weights)

`a` is [B, D] (one step) or [B, T, D] (all steps at once, the mask reused at
every step, as Keras does).
"""

import numpy as np


def _block_mask(masks, k, ndim):
    """The mask of block k, shaped to broadcast against an operand of `ndim` axes."""
    mask = masks[0] if masks.shape[0] == 1 else masks[k]  # (B, D)
    return mask[:, None, :] if ndim == 3 else mask


def _blocks(masks):
    """How many blocks to treat separately: 1 when every block shares one mask."""
    return 1 if masks is None or masks.shape[0] == 1 else masks.shape[0]


def masked_matmul(a, weights, masks):
    """(a * m_k) @ W_k for every gate block k, concatenated: [..., G*H]."""
    if masks is None:
        return a @ weights
    blocks = _blocks(masks)
    width = weights.shape[1] // blocks
    return np.concatenate([
        (a * _block_mask(masks, k, a.ndim)) @ weights[:, k * width:(k + 1) * width]
        for k in range(blocks)
    ], axis=-1)


def masked_matmul_grad_operand(dout, weights, masks):
    """d(masked_matmul)/da: Σ_k (dout_k @ W_kᵀ) * m_k, a new array shaped like `a`."""
    if masks is None:
        return dout @ weights.T
    blocks = _blocks(masks)
    width = weights.shape[1] // blocks
    return sum(
        (dout[..., k * width:(k + 1) * width] @ weights[:, k * width:(k + 1) * width].T)
        * _block_mask(masks, k, dout.ndim)
        for k in range(blocks)
    )


def masked_matmul_grad_weights(dout, a, masks):
    """d(masked_matmul)/dW: (a * m_k)ᵀ @ dout_k summed over every row (batch and time)."""
    rows = lambda array: array.reshape(-1, array.shape[-1])  # noqa: E731
    if masks is None:
        return rows(a).T @ rows(dout)
    blocks = _blocks(masks)
    width = dout.shape[-1] // blocks
    return np.concatenate([
        rows(a * _block_mask(masks, k, a.ndim)).T @ rows(dout[..., k * width:(k + 1) * width])
        for k in range(blocks)
    ], axis=1)


def processing_order(x, mask, go_backwards):
    """x [B, T, I] and mask [B, T] in the order the steps run (reversed for go_backwards)."""
    if not go_backwards:
        return x, mask
    return x[:, ::-1], None if mask is None else mask[:, ::-1]


def keep(mask, t):
    """[B, 1] float: 1 where step t runs, 0 where it is masked (None: no mask)."""
    return None if mask is None else mask[:, t, None]


def carry(keep_t, new, old):
    """The state after a step: `new` where the step ran, `old` where it was masked."""
    return new if keep_t is None else np.where(keep_t, new, old)
