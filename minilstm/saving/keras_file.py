"""The `.keras` archive: a zip of metadata.json, config.json and model.weights.h5 (Keras 3).

config.json is the model's serialized config with a `compile_config` (the
optimizer's config, the loss and the metrics) when the model is compiled;
model.weights.h5 is the `.weights.h5` layout (minilstm/saving/weights.py),
with the optimizer's variables, so `fit` resumes where it stopped.
"""

import datetime
import io
import json
import zipfile

from .files import atomic_path, h5py_module
from .model_config import compile_config, compile_from_config
from .serialization import deserialize_layer, serialize_layer
from .weights import model_entries, read_entries, write_entries

KERAS_FORMAT_VERSION = "3.15.1"  # the Keras release whose files these match


def model_to_config(model):
    """The dict config.json holds: the model's config, plus its compile config."""
    config = serialize_layer(model)
    config["compile_config"] = compile_config(model)
    return config


def save_keras(model, path):
    h5py = h5py_module(path)
    if not model.built:
        raise ValueError(f"Cannot save model '{model.name}' before it is built: it has no "
                         "weights yet. Give it an input shape or call it on data first.")
    entries = model_entries(model)
    weights = io.BytesIO()
    with h5py.File(weights, "w") as h5_file:
        write_entries(h5_file, model, entries)
    metadata = {"keras_version": KERAS_FORMAT_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "saved_by": "minilstm"}
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("metadata.json", json.dumps(metadata))
            archive.writestr("config.json", json.dumps(model_to_config(model)))
            archive.writestr("model.weights.h5", weights.getvalue())


def _open_archive(path):
    try:
        archive = zipfile.ZipFile(path, "r")
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"Could not open {str(path)!r} as a .keras archive: {error}. Is it "
                         "truncated, or not a file that `model.save('...keras')` wrote?") from None
    missing = {"config.json", "model.weights.h5"} - set(archive.namelist())
    if missing:
        archive.close()
        raise ValueError(f"{str(path)!r} is not a Keras 3 archive: it lacks {sorted(missing)}.")
    return archive


def _read_member(archive, name, path):
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"Could not read {name} from {str(path)!r}: {error}") from None


def load_keras(path, custom_objects=None, compile=True):
    """A new model from a `.keras` archive: architecture, weights and (optionally) compile state."""
    with _open_archive(path) as archive:
        config = json.loads(_read_member(archive, "config.json", path))
        weights = _read_member(archive, "model.weights.h5", path)
    model = deserialize_layer(config, custom_objects)
    if compile and config.get("compile_config"):
        compile_from_config(model, config["compile_config"], custom_objects)
    _load_weights_bytes(model, weights, path)
    return model


def _load_weights_bytes(model, weights, path, skip_mismatch=False):
    h5py = h5py_module(path)
    try:
        h5_file = h5py.File(io.BytesIO(weights), "r")
    except OSError as error:
        raise ValueError(f"The weights inside {str(path)!r} cannot be read: {error}") from None
    with h5_file:
        apply = read_entries(h5_file, model, model_entries(model), skip_mismatch)
    apply()


def load_weights_from_keras(model, path, skip_mismatch=False):
    """`model.load_weights('x.keras')`: the archive's weights (and optimizer variables) only."""
    with _open_archive(path) as archive:
        weights = _read_member(archive, "model.weights.h5", path)
    if not model.built:
        raise ValueError(f"Cannot load weights into model '{model.name}' before it is built.")
    _load_weights_bytes(model, weights, path, skip_mismatch)
