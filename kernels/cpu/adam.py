"""Adam's update of one weight in one compiled pass (minilstm.optimizers.Adam's formula).

The NumPy update in optimizers.py runs about ten array operations per weight,
each a pass over memory plus a call of a few hundred nanoseconds; on the small
weights of a latency-bound model (W4: LSTM(32), batch 1) those calls are a
quarter of a training step. This loop makes the same operations, in the same
order and the same dtype, element by element, so its results are bit for bit
NumPy's (tests/test_optimizers.py checks that):

    m     += (g - m) * (1 - beta_1)
    v     += (g * g - v) * (1 - beta_2)
    v_hat  = max(v_hat, v)                      (amsgrad only; NaN wins, as np.maximum)
    param -= alpha * m / (sqrt(v or v_hat) + epsilon)

The scalars arrive already in the weight's dtype (NumPy's float32 arrays
round a Python float to float32 before multiplying).
"""

import numpy as np

from ._math import jit, wide_vectors


def can_update(param, grad):
    """True when `adam_update` can take these: a NumPy float32 or float64 weight and its
    gradient (same dtype and shape, as the optimizer checked), both C-contiguous. The
    slots are made by the optimizer like the weight (np.zeros_like), so they are too."""
    return (type(param) is np.ndarray and type(grad) is np.ndarray and param.dtype.char in "fd"
            and param.flags.c_contiguous and grad.flags.c_contiguous)


@jit
def adam_update(param, grad, m, v, v_hat, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
    """One Adam step of `param` in place. v_hat: the amsgrad slot, or an array with no
    entries without amsgrad. The scalars are in param's dtype."""
    wide_vectors()
    p_, g_, m_, v_ = param.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1)
    amsgrad = v_hat.size != 0
    vh_ = v_hat.reshape(-1)
    for k in range(p_.size):
        m_[k] += (g_[k] - m_[k]) * one_minus_beta_1
        v_[k] += (g_[k] * g_[k] - v_[k]) * one_minus_beta_2
        denominator = v_[k]
        if amsgrad:  # divide by the largest v so far; NaN wins, as in np.maximum
            largest = vh_[k]
            if not (largest >= denominator or largest != largest):
                largest = denominator
            vh_[k] = largest
            denominator = largest
        p_[k] -= alpha * m_[k] / (np.sqrt(denominator) + epsilon)
