"""Keras 3 (tensorflow, jax or torch backend) and minilstm: one model code.

minilstm is timed exactly as a Keras user's script would run on it:
`import minilstm as keras`, then the same Sequential/LSTM/Dense/compile/fit
(GRU or SimpleRNN in place of LSTM for the workloads whose cell says so; every
layer with its Keras 3 defaults, so the GRU is reset_after=True in both).
"""

import gc
import importlib.metadata
import os
import random

import numpy as np

from ..workloads import CELLS
from . import Unavailable


def _engine(backend, threads, device):
    """Imports Keras's backend first to pin its threads; returns its version."""
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        if device == "gpu" and not tf.config.list_physical_devices("GPU"):
            raise Unavailable("tensorflow sees no GPU")
        return f"tensorflow {tf.__version__}"
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(threads)
        if device == "gpu" and not torch.cuda.is_available():
            raise Unavailable("torch sees no CUDA device")
        return f"torch {torch.__version__}"
    import jax

    if device == "gpu" and jax.default_backend() != "gpu":
        raise Unavailable(f"jax runs on {jax.default_backend()}, not a GPU (install jax[cuda12])")
    return f"jax {jax.__version__}"


def load(framework, device, threads, seed):
    if framework.startswith("minilstm"):
        import minilstm as keras

        kernel_set = framework.split("-", 1)[1] if "-" in framework else None
        try:
            if kernel_set:
                keras.backend.set_backend(kernel_set)
        except RuntimeError as e:
            raise Unavailable(str(e)) from None
        version = f"minilstm {keras.__version__} ({kernel_set} kernels)" if kernel_set else (
            f"minilstm {keras.__version__} (default kernels: {keras.backend.get_backend()})")
        if (kernel_set or keras.backend.get_backend()) == "numba":
            # The installed version, without importing numba (the default set may never
            # load it). importlib.metadata scans the installed packages, about 20 ms:
            # read when the result is written, not inside W0's timed process.
            version = _NumbaVersion(version)
    else:
        engine = _engine(os.environ["KERAS_BACKEND"], threads, device)
        import keras

        version = f"keras {keras.__version__} on {engine}"
    random.seed(seed)
    np.random.seed(seed)
    if hasattr(getattr(keras, "utils", None), "set_random_seed"):
        keras.utils.set_random_seed(seed)
    return KerasLike(keras, version)


class _NumbaVersion:
    """A version string finished with numba's installed version when first printed."""

    def __init__(self, prefix):
        self.prefix = prefix

    def __str__(self):
        return f"{self.prefix}, numba {importlib.metadata.version('numba')}"


class KerasLike:
    def __init__(self, keras, version):
        self.keras, self.version = keras, version

    def build(self, units, timesteps, features, cell="lstm"):
        keras = self.keras
        layer = getattr(keras.layers, CELLS[cell][0])  # LSTM, GRU or SimpleRNN
        model = keras.models.Sequential()
        model.add(layer(units, input_shape=(timesteps, features)))
        model.add(keras.layers.Dense(1))
        model.compile(optimizer="adam", loss="mse")
        return model

    def fit(self, model, x, y, batch_size, epochs, shuffle):
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0,
                            shuffle=bool(shuffle))
        return float(history.history["loss"][-1])

    def predict(self, model, x, batch_size):
        return model.predict(x, batch_size=batch_size, verbose=0)

    def clear(self):
        """Frees the last model (the GPU grid builds many)."""
        gc.collect()
        if hasattr(self.keras.backend, "clear_session"):
            self.keras.backend.clear_session()
