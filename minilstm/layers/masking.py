"""Masking: marks the timesteps whose features all equal `mask_value` as padding."""

import numpy as np

from .. import backend
from .base import Layer


class Masking(Layer):
    """Masks padded timesteps for the layers after it (LSTM, GRU, SimpleRNN, losses).

    A timestep is masked when all of its features equal `mask_value`. The layer zeroes
    those steps' features (Keras 3's `where(mask, inputs, 0)`) and emits the
    (batch, timesteps) mask, True where a step is kept.

    Args:
        mask_value: the padding value; default 0.0.

    Input shape: (batch, timesteps, features) (any rank; the last axis holds features).
    Output shape: the same.

    >>> import numpy as np
    >>> x = np.array([[[1.0, 2.0], [0.0, 0.0]]])
    >>> Masking().compute_mask(x).tolist()
    [[True, False]]
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        if isinstance(mask_value, bool) or not isinstance(
                mask_value, (int, float, np.integer, np.floating)):
            raise TypeError("`mask_value` must be a number. Received: "
                            f"mask_value={mask_value!r}")
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def _check_call_shape(self, shape):
        """Weightless: a shared Masking layer accepts any shape."""

    def compute_mask(self, inputs, mask=None):
        xp = backend.get_array_module(inputs)
        return (xp.asarray(inputs) != self.mask_value).any(axis=-1)

    def forward(self, x, training=False, mask=None):
        xp = backend.get_array_module(x)
        keep = self.compute_mask(x)[..., None]  # (B, T, 1)
        self._cache = keep
        return xp.where(keep, x, xp.zeros((), dtype=x.dtype))

    def backward(self, dy):
        self.grads = []
        return dy * self._cache

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
