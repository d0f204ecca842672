"""Dropout: zeroes a random fraction of its inputs while training."""

from .. import backend
from .base import Layer


class Dropout(Layer):
    """Sets a fraction `rate` of inputs to 0 while training, scaling the rest by 1/(1-rate).

    Does nothing at inference (evaluate, predict).

    Args:
        rate: float in [0, 1), the fraction of inputs to drop.

    >>> import numpy as np
    >>> from minilstm.layers import Dropout
    >>> Dropout(0.5)(np.ones((2, 3))).tolist()   # inference: unchanged
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    supports_masking = True

    def __init__(self, rate, **kwargs):
        if not 0 <= rate < 1:
            raise ValueError(
                f"Invalid value received for argument `rate`. Expected a float value between "
                f"0 and 1. Received: rate={rate}"
            )
        super().__init__(**kwargs)
        self.rate = float(rate)

    def forward(self, x, training=False, mask=None):
        self._cache = None  # the scaled keep-mask of this call, or None
        if not training or self.rate == 0:
            return x
        xp = backend.get_array_module(x)
        keep = 1.0 - self.rate
        self._cache = ((xp.random.random_sample(x.shape) < keep) / keep).astype(x.dtype)
        return x * self._cache

    def backward(self, dy):
        self.grads = []
        return dy if self._cache is None else dy * self._cache

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": None, "noise_shape": None}
