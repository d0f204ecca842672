"""Keras's own files, both ways: `.keras`, `.weights.h5` and legacy `.h5`.

- `model.save("m.keras")` / `load_model("m.keras")`: Keras 3's zip archive
  (architecture, weights, optimizer state and compile settings);
- `model.save_weights("m.weights.h5")` / `model.load_weights(...)`: Keras 3's
  weights layout (minilstm/saving/weights.py), readable by Keras and back;
- `load_model("m.h5")`, `model.load_weights("w.h5")`: legacy HDF5 files from
  Keras 2.x, tf.keras and Keras 3; `model.save("m.h5")` writes one;
- `.npz` weights: minilstm's own, needs nothing but NumPy.

Every write goes to a temporary file renamed into place; every load checks
the whole file (counts, shapes, finite values) before the model changes.
"""

import os

import numpy as np

from .files import atomic_path
from .serialization import deserialize_keras_object, serialize_keras_object

__all__ = ["load_model", "load_weights", "save_model", "save_weights", "serialize_keras_object",
           "deserialize_keras_object"]


def _path(filepath):
    try:
        return os.fspath(filepath)
    except TypeError:
        raise TypeError(f"The file path must be a string or a path-like object. Received: "
                        f"filepath={filepath!r}") from None


def _refuse_overwrite(path, overwrite):
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} already exists and overwrite=False.")


def save_model(model, filepath, overwrite=True, **kwargs):
    """Saves `model` to `.keras` (Keras 3's archive) or `.h5` (legacy HDF5)."""
    kwargs.pop("save_format", None)
    if kwargs:
        raise ValueError(f"The following argument(s) are not supported: {list(kwargs)}")
    path = _path(filepath)
    _refuse_overwrite(path, overwrite)
    if path.endswith(".keras"):
        from .keras_file import save_keras

        return save_keras(model, path)
    if path.endswith((".h5", ".hdf5")):
        from .legacy_h5 import save_legacy

        return save_legacy(model, path)
    raise ValueError(
        "Invalid filepath extension for saving. Please add either a `.keras` extension for the "
        "native Keras format (recommended) or a `.h5` extension. Use `model.save_weights()` if "
        f"you want to save only the weights. Received: filepath={path}")


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A new model from a `.keras` archive or a legacy `.h5` file (Keras 2.x, tf.keras, Keras 3).

    Args:
        filepath: the file.
        custom_objects: {name: class} for classes of your own that the file names.
        compile: also compile the model as it was saved (optimizer with its
            state, loss, metrics).
        safe_mode: accepted for Keras compatibility (minilstm never runs code from a file).
    """
    path = _path(filepath)
    if not os.path.exists(path):
        raise ValueError(f"File not found: filepath={path}. Please ensure the file is an "
                         "accessible `.keras` zip file.")
    if path.endswith(".keras"):
        from .keras_file import load_keras

        return load_keras(path, custom_objects, compile)
    if path.endswith((".h5", ".hdf5")):
        from .legacy_h5 import load_legacy_model

        return load_legacy_model(path, custom_objects, compile)
    raise ValueError(
        f"File format not supported: filepath={path}. minilstm's load_model reads `.keras` "
        "archives and legacy `.h5` files.")


def save_weights(model, filepath, overwrite=True):
    """Saves the weights to `.weights.h5` (Keras 3's layout) or `.npz` (minilstm's)."""
    path = _path(filepath)
    _refuse_overwrite(path, overwrite)
    if path.endswith(".weights.h5"):
        from .weights import save_weights_h5

        return save_weights_h5(model, path)
    if path.endswith(".npz"):
        weights = model.get_weights()
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **{f"{i:04d}": w for i, w in enumerate(weights)})
        return None
    raise ValueError(f"The filename must end in `.weights.h5` (or `.npz`, minilstm's own "
                     f"format). Received: filepath={path}")


def load_weights(model, filepath, skip_mismatch=False, by_name=False, **kwargs):
    """Loads weights from `.weights.h5`, `.keras`, legacy `.h5` or `.npz`; all or nothing.

    Args:
        skip_mismatch: `.weights.h5` / `.keras`: skip (with one warning listing them)
            the layers whose variables differ in count or shape from the file's, as
            Keras 3 does. Legacy `.h5`: only with `by_name=True`, as Keras 2 requires:
            skip, with a warning naming each, the layers whose weights differ.
        by_name: legacy `.h5` only: match layers by name instead of by order; saved
            layers with no layer of that name are ignored.

    What is not skipped is checked whole (shapes, finite values) before any weight changes.
    """
    if kwargs:
        raise ValueError(f"Invalid keyword arguments: {kwargs}")
    skip_mismatch = _flag("skip_mismatch", skip_mismatch)
    by_name = _flag("by_name", by_name)
    path = _path(filepath)
    if by_name and (path.endswith(".weights.h5") or not path.endswith((".h5", ".hdf5"))):
        raise ValueError("`by_name` only supports loading legacy '.h5' or '.hdf5' files. "
                         f"Received: {path}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}")
    if path.endswith(".keras"):
        from .keras_file import load_weights_from_keras

        return load_weights_from_keras(model, path, skip_mismatch)
    if path.endswith((".h5", ".hdf5")):
        from .weights import load_weights_h5

        return load_weights_h5(model, path, skip_mismatch, by_name)
    if skip_mismatch:
        raise ValueError("skip_mismatch=True is for Keras files (`.weights.h5`, `.keras`, "
                         f"`.h5`); an .npz file must match the model. Received: {path}")
    if path.endswith(".npz"):
        try:
            with np.load(path) as archive:
                weights = [archive[key] for key in sorted(archive.files)]
        except Exception as error:
            raise ValueError(f"Could not read {path!r} as an .npz weights file: {error}") \
                from None
        return model.set_weights(weights)
    raise ValueError(f"File format not supported: filepath={path}. Keras weights files end in "
                     "`.weights.h5`, `.keras` or `.h5`.")


def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"load_weights: `{name}` must be True or False. Received: "
                        f"{name}={value!r} (type {type(value).__name__}).")
    return bool(value)
