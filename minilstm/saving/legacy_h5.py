"""Legacy HDF5 model files (`.h5`), as Keras 2.x, tf.keras and Keras 3 write them.

Root attributes `model_config` (the model's config as JSON), `training_config`
(loss, metrics, `optimizer_config`), `keras_version`, `backend`; a group
`model_weights` with the attribute `layer_names` and, per layer, a group whose
attribute `weight_names` lists its datasets in order (`lstm/lstm_cell/kernel:0`
in tf.keras, `lstm_1/kernel:0` in Keras 2.2, `sequential/lstm/lstm_cell/kernel`
in Keras 3); `optimizer_weights` likewise. Weights are matched by order, as
Keras matches them: the n-th layer with weights in the file goes to the n-th
layer with weights in the model. A weights-only file (Keras 2's
`save_weights('w.h5')`) has `layer_names` at its root.
"""

import json
import warnings

import numpy as np

from .. import backend
from .files import atomic_path, h5py_module
from .keras_file import KERAS_FORMAT_VERSION
from .model_config import compile_config, compile_from_config
from .serialization import deserialize_layer, serialize_layer
from .weights import (assigner, check_array, keras_layer_order, model_entries,
                      trainable_arrays)


def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _names(group, attribute):
    """An attribute holding a list of names (Keras splits long ones into attribute chunks)."""
    if attribute in group.attrs:
        values = list(group.attrs[attribute])
    else:
        values, chunk = [], 0
        while f"{attribute}{chunk}" in group.attrs:
            values += list(group.attrs[f"{attribute}{chunk}"])
            chunk += 1
    return [_text(v) for v in values]


def _legacy_weights(layer):
    """Keras's legacy order: the trainable weights, then the non-trainable ones."""
    pairs = list(zip(layer.weights, layer._trainable_flags()))
    return [w for w, flag in pairs if flag] + [w for w, flag in pairs if not flag]


def _layer_plan_by_order(group, model):
    """(index, saved name, layer) pairs: the n-th saved layer with weights for the n-th layer."""
    layers = [layer for layer in keras_layer_order(model) if layer.weights]
    saved = [name for name in _names(group, "layer_names") if _names(group[name], "weight_names")]
    if len(saved) != len(layers):
        raise ValueError(
            "Layer count mismatch when loading weights from file. Model expected "
            f"{len(layers)} layers with weights ({[layer.name for layer in layers]}), found "
            f"{len(saved)} saved layers ({saved}).")
    return [(k, name, layer) for k, (layer, name) in enumerate(zip(layers, saved))]


def _layer_plan_by_name(group, model):
    """(index, saved name, layer) for every saved layer whose name a layer of the model has."""
    index = {}
    for layer in model.layers:
        index.setdefault(layer.name, []).append(layer)
    return [(k, name, layer) for k, name in enumerate(_names(group, "layer_names"))
            for layer in index.get(name, [])]


def _read_dataset(group, name, weight_name):
    try:
        return np.asarray(group[name][weight_name][()])
    except Exception as error:
        raise ValueError(f"Could not read weight {name}/{weight_name}: {error}") from None


def _mismatch(k, name, layer, targets, weight_names, arrays, by_name):
    """Why the saved layer `name` does not fit `layer` (Keras's words), or None if it does."""
    if len(weight_names) != len(targets):
        where = f"layer #{k} (named {layer.name}" + ("" if by_name or name == layer.name
                                                     else f" in the current model, {name} in "
                                                     "the save file") + ")"
        return (f"Weight count mismatch for {where}. Layer expects {len(targets)} weight(s). "
                f"Received {len(weight_names)} saved weight(s): {weight_names}.")
    for target, weight_name, array in zip(targets, weight_names, arrays):
        if tuple(array.shape) != tuple(target.shape):
            return (f"Shape mismatch in layer #{k} (named {layer.name}) for weight "
                    f"{weight_name}. Weight expects shape {tuple(target.shape)}. Received "
                    f"saved weight with shape {tuple(array.shape)}.")
    return None


def read_legacy_weights(h5_file, model, by_name=False, skip_mismatch=False):
    """Reads and checks a legacy weights group; returns a function that loads it.

    By order (Keras's default for these files): the n-th saved layer with weights
    goes to the n-th layer with weights, and any mismatch raises. `by_name=True`:
    each saved layer goes to the model's layers of the same name; saved layers
    no layer is named after are ignored, layers the file does not name keep their
    weights. `skip_mismatch=True` (with `by_name`, as Keras 2 requires) skips,
    with a warning naming it, a layer whose weight count or shapes differ from the
    file's. Everything is read and checked before any weight changes.
    """
    if skip_mismatch and not by_name:
        raise ValueError("When calling model.load_weights, skip_mismatch can only be set to "
                         "True when by_name is True.")
    group = h5_file["model_weights"] if "model_weights" in h5_file else h5_file
    plan = (_layer_plan_by_name if by_name else _layer_plan_by_order)(group, model)
    assignments, by_weight_name, skipped = [], {}, []
    for k, name, layer in plan:
        weight_names = _names(group[name], "weight_names")
        targets = _legacy_weights(layer)
        arrays = [_read_dataset(group, name, w) for w in weight_names]
        problem = _mismatch(k, name, layer, targets, weight_names, arrays, by_name)
        if problem is not None:
            if not skip_mismatch:
                raise ValueError(problem)
            skipped.append(f"Skipping loading of weights for layer #{k} (named {layer.name}) "
                           f"due to a mismatch with the saved layer '{name}': {problem}")
            continue
        for target, weight_name, array in zip(targets, weight_names, arrays):
            assignments.append((target, check_array(array, target, f"{name}/{weight_name}")))
            by_weight_name[weight_name] = target
    optimizer_state = None if by_name else _read_optimizer(h5_file, model, by_weight_name)
    for message in skipped:
        warnings.warn(message, stacklevel=4)

    return assigner(assignments, optimizer_state)


# tf.keras 2.11+ optimizers name their slots <optimizer>/<slot>/<weight name>; minilstm's (and
# Keras 3's) slot names for them:
_KERAS2_SLOTS = {"m": "momentum", "v": "velocity", "vhat": "velocity_hat"}


def _keras2_optimizer_arrays(group, model, by_weight_name):
    """A tf.keras 2.11+ optimizer's variables in Keras 3's order, or None if laid out otherwise.

    tf.keras 2 writes `iteration:0`, then each slot as `Adam/m/lstm/lstm_cell/kernel:0`
    (no learning rate: it is in the optimizer's config). Slots are matched to the
    weights by those names, then ordered as Keras 3 orders them.
    """
    names = _names(group, "weight_names")
    if not names or names[0].split("/")[-1] not in ("iteration:0", "iter:0"):
        return None
    slots = {}
    for name in names[1:]:
        parts = name.split("/", 2)
        if len(parts) != 3 or parts[2] not in by_weight_name:
            return None  # a pre-2.11 optimizer (Adam/lstm/kernel/m:0) or a foreign file
        target = by_weight_name[parts[2]]
        slots[(id(target), _KERAS2_SLOTS.get(parts[1], parts[1]))] = name
    optimizer = model.optimizer
    order = optimizer._keras_slot_order(trainable_arrays(model_entries(model)))
    if len(order) != len(slots) or any((id(p), slot) not in slots for p, slot in order):
        return None
    arrays = [np.asarray(group[names[0]][()]), np.asarray(optimizer.learning_rate, "float32")]
    return arrays + [np.asarray(group[slots[(id(p), slot)]][()]) for p, slot in order]


def _read_optimizer(h5_file, model, by_weight_name):
    if "optimizer_weights" not in h5_file or getattr(model, "optimizer", None) is None:
        return None
    group = h5_file["optimizer_weights"]
    if _text(h5_file.attrs.get("keras_version", "")).startswith("3."):
        arrays = [np.asarray(group[name][()]) for name in _names(group, "weight_names")]
    else:
        arrays = _keras2_optimizer_arrays(group, model, by_weight_name)
        if arrays is None:
            warnings.warn("The optimizer state of this Keras 2 file is not loaded (its "
                          "variables are laid out as Keras before 2.11, or do not match the "
                          "model's weights): the optimizer starts fresh.", stacklevel=4)
            return None
    for k, array in enumerate(arrays):
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError(f"Optimizer variable {k} in the file contains NaN or infinite "
                             "values; refusing to load it.")
    return model.optimizer.check_keras_variables(trainable_arrays(model_entries(model)), arrays)


def load_legacy_model(path, custom_objects=None, compile=True):
    h5py = h5py_module(path)
    try:
        h5_file = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"Could not open {str(path)!r} as an HDF5 model file: {error}") from None
    with h5_file:
        if "model_config" not in h5_file.attrs:
            raise ValueError(f"No model config found in the file at {str(path)!r}: it holds "
                             "weights only. Build the model in code and call "
                             "`model.load_weights(path)`.")
        model = deserialize_layer(json.loads(_text(h5_file.attrs["model_config"])),
                                  custom_objects)
        training = h5_file.attrs.get("training_config")
        if compile and training is not None:
            compile_from_config(model, json.loads(_text(training)), custom_objects)
        apply = read_legacy_weights(h5_file, model)
    apply()
    return model


# -- writing (Keras 3's legacy writer's layout) -------------------------------------------


def _weight_names(layer, prefix):
    """Names for a layer's weights, as Keras 3 writes them: <model>/<layer>/<cell>/<var>."""
    from ..layers.rnn import RNN
    from ..layers.wrappers import Bidirectional, TimeDistributed

    if isinstance(layer, RNN):
        return [f"{prefix}/{layer.name}/{layer.cell}_cell/{n}" for n in layer._weight_names]
    if isinstance(layer, Bidirectional):
        return [n for sub in layer.layers for n in _weight_names(sub, f"{prefix}/{layer.name}")]
    if isinstance(layer, TimeDistributed):
        return _weight_names(layer.layer, f"{prefix}/{layer.name}")
    names = getattr(layer, "_weight_names", None)
    if names and len(names) == len(layer.weights):
        return [f"{prefix}/{layer.name}/{n}" for n in names]
    return [f"{prefix}/{layer.name}/variable_{k}" for k in range(len(layer.weights))]


def save_legacy(model, path):
    h5py = h5py_module(path)
    if not model.built:
        raise ValueError(f"Cannot save model '{model.name}' before it is built.")
    config = serialize_layer(model)
    config = {"class_name": config["class_name"], "config": config["config"]}
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5_file:
        h5_file.attrs["keras_version"] = KERAS_FORMAT_VERSION
        h5_file.attrs["backend"] = "numpy"
        h5_file.attrs["model_config"] = json.dumps(config)
        group = h5_file.create_group("model_weights")
        layers = keras_layer_order(model)
        group.attrs["layer_names"] = np.array([layer.name.encode("utf8") for layer in layers])
        group.attrs["backend"], group.attrs["keras_version"] = "numpy", KERAS_FORMAT_VERSION
        for layer in layers:
            sub = group.create_group(layer.name)
            weights = _legacy_weights(layer)
            names = _weight_names(layer, model.name) if weights else []
            order = dict(zip(map(id, layer.weights), names))
            names = [order[id(w)] for w in weights]
            sub.attrs["weight_names"] = np.array([n.encode("utf8") for n in names])
            for name, weight in zip(names, weights):
                sub.create_dataset(name, data=backend.to_numpy(weight))
        training = compile_config(model)
        if training:
            training = {**training, "optimizer_config": {
                "class_name": training["optimizer"]["class_name"],
                "config": training["optimizer"]["config"]}}
            del training["optimizer"]
            h5_file.attrs["training_config"] = json.dumps(training)
            entries = model_entries(model)
            arrays = model.optimizer.keras_variables(trainable_arrays(entries))
            opt = h5_file.create_group("optimizer_weights")
            names = [f"{model.optimizer.name}/variable_{k}" for k in range(len(arrays))]
            opt.attrs["weight_names"] = np.array([n.encode("utf8") for n in names])
            for name, array in zip(names, arrays):
                opt.create_dataset(name, data=array)
