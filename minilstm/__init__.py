"""minilstm: a from-scratch LSTM engine with a Keras-compatible API.

    import minilstm as keras
    model = keras.models.Sequential()
    model.add(keras.layers.LSTM(10, input_shape=(1, 1)))
    model.add(keras.layers.Dense(1))
"""

import importlib.util as _importlib_util
import os as _os
import sys as _sys


def _load_kernels_from_checkout():
    # Installed, setuptools maps the repo folder kernels/ to minilstm/kernels.
    # Run from a source checkout (`python -m minilstm` in the repo root), the
    # folder sits beside this package instead: load it under the same name.
    here = _os.path.dirname(_os.path.abspath(__file__))
    if _os.path.isdir(_os.path.join(here, "kernels")) or "minilstm.kernels" in _sys.modules:
        return
    folder = _os.path.join(_os.path.dirname(here), "kernels")
    spec = _importlib_util.spec_from_file_location(
        "minilstm.kernels", _os.path.join(folder, "__init__.py"),
        submodule_search_locations=[folder])
    module = _importlib_util.module_from_spec(spec)
    _sys.modules["minilstm.kernels"] = module
    spec.loader.exec_module(module)


_load_kernels_from_checkout()

from . import kernels  # noqa: E402
from . import activations, backend, initializers, utils  # noqa: E402
from . import callbacks, layers, losses, metrics, optimizers, preprocessing  # noqa: E402
from . import models  # noqa: E402
from .layers import Input  # noqa: E402
from .layers.node import KerasTensor  # noqa: E402
from .models import Model, Sequential  # noqa: E402

__version__ = "0.1.0"
