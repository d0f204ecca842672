"""Keras's `keras.utils` entry points that minilstm supports."""

import random
import sys

import numpy as np

from .data_utils import PyDataset, Sequence, timeseries_dataset_from_array, to_categorical
from .preprocessing.sequence import pad_sequences

__all__ = ["PyDataset", "Sequence", "pad_sequences", "set_random_seed",
           "timeseries_dataset_from_array", "to_categorical"]


def set_random_seed(seed):
    """Seeds Python's `random`, NumPy and, when it is loaded, CuPy: two runs give identical results.

    Weight initializers, fit's shuffling and dropout masks draw from NumPy's global generator,
    as in Keras 3's NumPy backend; on the cupy kernel set dropout masks draw from CuPy's, which
    is seeded only if `cupy` is already imported (this never imports it). As in Keras, `seed`
    must be a non-negative integer; `True` is not one.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, (bool, np.bool_)):
        hint = ""
        if isinstance(seed, float) and seed.is_integer() and seed >= 0:
            hint = f" Pass seed={int(seed)}."
        raise TypeError(
            "`set_random_seed` expects `seed` to be a non-negative integer. "
            f"Received: seed={seed!r} (type {type(seed).__name__}).{hint}"
        )
    if seed < 0:
        raise ValueError(
            "`set_random_seed` expects `seed` to be a non-negative integer, as NumPy requires. "
            f"Received: seed={seed!r}. Pass a seed >= 0, such as seed=42."
        )
    if seed >= 2**32:
        raise ValueError(
            "`set_random_seed` expects `seed` below 2**32, the largest NumPy's global generator "
            f"accepts. Received: seed={seed!r}. Pass a smaller seed, such as seed % 2**32."
        )
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        cupy.random.seed(seed)
