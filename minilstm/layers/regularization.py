"""SpatialDropout1D: drops whole channels (feature maps) of a sequence while training."""

import numpy as np

from .. import backend
from .convolutional import _check_3d
from .dropout import Dropout


class SpatialDropout1D(Dropout):
    """Dropout of entire channels: one keep/drop draw per (sample, channel), shared by all steps.

    Where neighbouring steps are strongly correlated (after a Conv1D), dropping
    single entries barely regularises; dropping a whole channel does. Kept
    channels are scaled by 1/(1-rate) (inverted dropout), so inference needs no
    change; at inference (and with rate 0) the layer does nothing.

    Args:
        rate: float in [0, 1), the fraction of channels to drop.
        seed: optional integer. With a seed the layer draws from its own
            generator, so a fresh layer with the same seed repeats the same
            masks; without one it draws from the global generator (seeded by
            `minilstm.utils.set_random_seed`).

    Call arguments:
        training: drop only when True.

    Input shape: (samples, timesteps, channels).
    Output shape: same as input.

    >>> import numpy as np
    >>> from minilstm.layers.regularization import SpatialDropout1D
    >>> out = SpatialDropout1D(0.5, seed=0)(np.ones((1, 3, 4)), training=True)
    >>> bool((out == out[:, :1]).all())   # each channel kept or dropped at every step
    True
    """

    def __init__(self, rate, seed=None, **kwargs):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError("`seed` must be None or a non-negative integer. "
                             f"Received: seed={seed!r}")
        super().__init__(rate, **kwargs)
        self.seed = None if seed is None else int(seed)
        self._generator = None if seed is None else np.random.default_rng(self.seed)

    def build(self, input_shape):
        _check_3d(self, tuple(input_shape), "(samples, timesteps, channels)")
        super().build(input_shape)

    def forward(self, x, training=False, mask=None):
        _check_3d(self, x.shape, "(samples, timesteps, channels)")
        self._cache = None  # the scaled (B, 1, C) keep-mask of this call, or None
        if not training or self.rate == 0:
            return x
        xp = backend.get_array_module(x)
        shape = (x.shape[0], 1, x.shape[2])  # one draw per (sample, channel)
        draws = (xp.random.random_sample(shape) if self._generator is None
                 else xp.asarray(self._generator.random(shape)))
        keep = 1.0 - self.rate
        self._cache = ((draws < keep) / keep).astype(x.dtype)
        return x * self._cache

    def get_config(self):
        # Keras's SpatialDropout1D takes only rate, seed, name and dtype.
        config = {**super().get_config(), "seed": self.seed}
        for key in ("noise_shape", "trainable"):
            config.pop(key, None)
        return config
