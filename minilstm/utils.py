"""Keras's `keras.utils` entry points that minilstm supports."""

import random

import numpy as np


def set_random_seed(seed):
    """Seeds Python's `random` and NumPy, so two runs give identical results.

    Weight initializers, fit's shuffling and dropout masks all draw from
    NumPy's global generator, as in Keras 3's NumPy backend.
    """
    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"Expected `seed` to be an integer. Received: seed={seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed))


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encodes integer class labels: (N,) -> (N, num_classes)."""
    y = np.asarray(y, dtype="int64").reshape(-1)
    num_classes = int(y.max()) + 1 if num_classes is None else num_classes
    one_hot = np.zeros((y.size, num_classes), dtype=dtype)
    one_hot[np.arange(y.size), y] = 1
    return one_hot
