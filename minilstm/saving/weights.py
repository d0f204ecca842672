"""Keras 3's `.weights.h5` layout: where every layer's and the optimizer's variables live.

Keras 3 does not key the groups by layer name (names differ between two
identical models built in one program). It walks the model as a tree and
names each entry of a list by its snake-cased class name with a counter per
list, so the first model and a second identical one agree:

    vars                                  the model itself (attr name=<model name>)
    layers/lstm/vars                      an LSTM layer (no variables of its own)
    layers/lstm/cell/vars/0, 1, 2         its cell: kernel, recurrent_kernel, bias
    layers/lstm_1/...                     the second LSTM of the same list
    layers/dense/vars/0, 1                kernel, bias
    layers/bidirectional/forward_layer/cell/vars/...   and backward_layer/...
    layers/time_distributed/layer/vars/...
    layers/sequential/layers/...          a model used as a layer
    optimizer/vars/0, 1, 2...             iterations, learning_rate, then the slots

Every group has a `vars` subgroup with the attribute `name`. A Sequential
model lists its layers without the InputLayer; a Functional one lists
InputLayers too, and in Keras's order (by depth from the inputs), which
`keras_layer_order` reproduces.
"""

import warnings
from collections import defaultdict

import numpy as np

from .. import backend
from ..layers.base import _snake_case


class Entry:
    """One `<path>/vars` group: the live arrays it holds, in Keras order.

    Attributes:
        path: '' for the root model, else e.g. 'layers/lstm/cell'.
        name: the `name` attribute Keras writes on the group.
        arrays: the layer's weight arrays (assigned in place when loading).
        trainable: one bool per array: whether the optimizer updates it.
        owner: who the arrays belong to, for error messages.
    """

    def __init__(self, path, name, arrays=(), trainable=(), owner=""):
        self.path, self.name, self.owner = path, name, owner
        self.arrays, self.trainable = list(arrays), list(trainable)

    @property
    def group(self):
        return f"{self.path}/vars" if self.path else "vars"


def _join(path, key):
    return f"{path}/{key}" if path else key


def keras_layer_order(model):
    """The model's layers in the order Keras 3 lists them (`model.layers`).

    Sequential: its layers, without the InputLayer. Functional: every layer of
    the graph, InputLayers included, sorted by depth (the longest path to an
    output, deepest first), ties broken by the order a depth-first walk from
    the outputs first meets them (keras/src/ops/function.py, map_graph).
    """
    graph = getattr(model, "_graph", None)
    if _is_sequential(model) or graph is None:
        return list(model.layers)
    first_seen, order, done = {}, [], set()

    def visit(node):
        if id(node) in done:
            return
        first_seen.setdefault(node.layer, len(first_seen))
        for tensor in node.parents:
            visit(tensor.node)
        done.add(id(node))
        order.append(node)

    for tensor in graph.outputs:
        visit(tensor.node)
    node_depth, layer_depth = {}, {}
    for node in reversed(order):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = node_depth[id(node)] = depth
        for tensor in node.parents:
            parent = id(tensor.node)
            node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    for tensor in graph.inputs:  # an input no output depends on
        if tensor.node.layer not in layer_depth:
            layer_depth[tensor.node.layer], first_seen[tensor.node.layer] = 0, -1
    return sorted(layer_depth, key=lambda layer: (-layer_depth[layer], first_seen[layer]))


def _is_sequential(model):
    from ..models.sequential import Sequential

    return isinstance(model, Sequential)


def _is_model(layer):
    from ..models.model import Model

    return isinstance(layer, Model)


def model_entries(model, include_optimizer=True):
    """Every `vars` group of `model` in Keras 3's layout, parents before children."""
    entries, visited = [], set()
    _model_entries(model, "", entries, visited, True)
    if include_optimizer and getattr(model, "optimizer", None) is not None:
        entries.append(Entry("optimizer", model.optimizer.name, owner="optimizer"))
    return entries


def _model_entries(model, path, entries, visited, trainable):
    entries.append(Entry(path, model.name, owner=f"model '{model.name}'"))
    counts = defaultdict(int)
    for layer in keras_layer_order(model):
        key = _snake_case(type(layer).__name__)
        counts[key] += 1
        if counts[key] > 1:
            key = f"{key}_{counts[key] - 1}"
        _layer_entries(layer, _join(path, f"layers/{key}"), entries, visited,
                       trainable and model.trainable)


def _layer_entries(layer, path, entries, visited, trainable):
    """A layer's groups: its own `vars`, then those of the layers it owns."""
    from ..layers.rnn import RNN
    from ..layers.wrappers import Bidirectional, TimeDistributed

    if id(layer) in visited:  # a layer shared by two models is saved once, as Keras does
        return
    visited.add(id(layer))
    trainable = trainable and layer.trainable
    if _is_model(layer):
        _model_entries(layer, path, entries, visited, trainable)
        return
    owner = f"layer '{layer.name}'"
    if isinstance(layer, RNN):  # Keras keeps the weights on the cell: <path>/cell
        entries.append(Entry(path, layer.name, owner=owner))
        entries.append(Entry(_join(path, "cell"), f"{layer.cell}_cell", layer.weights,
                             [trainable and f for f in layer._trainable_flags()], owner))
    elif isinstance(layer, Bidirectional):
        entries.append(Entry(path, layer.name, owner=owner))
        for key, sublayer in (("forward_layer", layer.forward_layer),
                              ("backward_layer", layer.backward_layer)):
            _layer_entries(sublayer, _join(path, key), entries, visited, trainable)
    elif isinstance(layer, TimeDistributed):
        entries.append(Entry(path, layer.name, owner=owner))
        _layer_entries(layer.layer, _join(path, "layer"), entries, visited, trainable)
    else:
        entries.append(Entry(path, layer.name, layer.weights,
                             [trainable and f for f in layer._trainable_flags()], owner))


def trainable_arrays(entries):
    """The trainable weight arrays in Keras's `model.trainable_variables` order."""
    return [array for entry in entries for array, flag in zip(entry.arrays, entry.trainable)
            if flag]


# -- writing ------------------------------------------------------------------------------


def write_entries(h5_file, model, entries):
    """Writes every group of `entries` (and the optimizer's variables) into an open h5 file."""
    params = trainable_arrays(entries)
    for entry in entries:
        group = h5_file.create_group(entry.group)
        group.attrs["name"] = entry.name
        arrays = (model.optimizer.keras_variables(params) if entry.path == "optimizer"
                  else [backend.to_numpy(a) for a in entry.arrays])
        for index, array in enumerate(arrays):
            group.create_dataset(str(index), data=np.asarray(array))


def save_weights_h5(model, path):
    """Writes `model`'s weights (and optimizer variables, if compiled) to a `.weights.h5` file."""
    from .files import atomic_path, h5py_module

    h5py = h5py_module(path)
    entries = _built_entries(model, "save")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5_file:
            write_entries(h5_file, model, entries)


def _built_entries(model, action):
    if not model.built:
        raise ValueError(
            f"Cannot {action} the weights of model '{model.name}': it is not built yet, so it "
            "has no weights. Build it first: give the input shape (`Input(shape=...)` first, "
            "or `model.build((None, timesteps, features))`), or call it on data.")
    return model_entries(model)


# -- reading ------------------------------------------------------------------------------


def _vars_group(h5_file, entry):
    """The `vars` group Keras would read for `entry`, or None (Keras 2.13 names included)."""
    for path in (entry.path, entry.path.replace("layers", "_layer_checkpoint_dependencies")):
        group = h5_file.get(_join(path, "vars")) if path else h5_file.get("vars")
        if group is not None:
            return group
    return None


def _read_array(group, key, where):
    if key not in group:
        raise ValueError(f"The weights file has no variable {where}/{key}.")
    try:
        return np.asarray(group[key][()])
    except Exception as error:  # a truncated or damaged dataset
        raise ValueError(f"Could not read variable {where}/{key} from the weights file: "
                         f"{error}") from None


def assigner(assignments, optimizer_state=None):
    """The function that applies a checked load: every (target, array) pair written in
    place, then the optimizer's state (a callable, or None). Called only once the whole
    file has been read and checked, so a rejected file changes nothing."""

    def apply():
        xp = backend.xp()
        for target, array in assignments:
            target[...] = xp.asarray(array, dtype=target.dtype)
        if optimizer_state is not None:
            optimizer_state()

    return apply


def check_array(array, target, where):
    """`array` checked against `target` (shape, numeric, finite); raises ValueError naming it."""
    if array.dtype.kind not in "fiub":
        raise ValueError(f"Variable {where} in the weights file is not numeric "
                         f"(dtype {array.dtype}).")
    if tuple(array.shape) != tuple(target.shape):
        raise ValueError(
            f"Variable {where} in the weights file has shape {tuple(array.shape)}, but the "
            f"model expects {tuple(target.shape)}. The file was saved from a different "
            "architecture (other units, input features or layers).")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"Variable {where} in the weights file contains NaN or infinite "
                         "values; refusing to load it.")
    return array


def read_entries(h5_file, model, entries, skip_mismatch=False):
    """Reads and checks every variable `entries` needs; returns a function that applies them.

    Nothing in the model changes until that function is called, so a file that
    fails any check leaves the model as it was. `skip_mismatch=True` (Keras 3's
    `load_weights(..., skip_mismatch=True)`): an entry whose variables differ in
    count or shape from the file's keeps its values, and one warning lists them.
    """
    assignments, used, failed = [], set(), []
    optimizer_arrays = None
    for entry in entries:
        group = _vars_group(h5_file, entry)
        where = entry.group
        if entry.path == "optimizer":
            if group is not None:
                optimizer_arrays = [_read_array(group, str(i), where) for i in range(len(group))]
                for i, array in enumerate(optimizer_arrays):
                    if array.dtype.kind == "f" and not np.isfinite(array).all():
                        raise ValueError(f"Variable {where}/{i} in the weights file contains "
                                         "NaN or infinite values; refusing to load it.")
            continue
        if group is not None:
            used.add(group.name)
        try:
            found = 0 if group is None else len(group)
            if found != len(entry.arrays):
                raise ValueError(
                    f"The weights file does not match the model at {where} ({entry.owner}): "
                    f"the model expects {len(entry.arrays)} variables, the file holds {found}. "
                    "Was it saved from a model with the same layers, in the same order?")
            arrays = [_read_array(group, str(index), where) for index in range(found)]
            for index, (target, array) in enumerate(zip(entry.arrays, arrays)):
                if tuple(array.shape) != tuple(target.shape):
                    check_array(array, target, f"{where}/{index}")  # raises, naming the shapes
        except ValueError as error:
            if not skip_mismatch:
                raise
            failed.append((entry, error))
            continue
        for index, (target, array) in enumerate(zip(entry.arrays, arrays)):
            assignments.append((target, check_array(array, target, f"{where}/{index}")))
    if not skip_mismatch:
        _check_nothing_left(h5_file, used)
    optimizer_state = None
    if optimizer_arrays is not None and getattr(model, "optimizer", None) is not None:
        try:
            optimizer_state = model.optimizer.check_keras_variables(
                trainable_arrays(entries), optimizer_arrays)
        except ValueError as error:
            if not skip_mismatch:
                raise
            failed.append((Entry("optimizer", model.optimizer.name, owner="optimizer"), error))
    if failed:  # Keras 3's words (saving_lib._raise_loading_failure with warn_only=True)
        warnings.warn(
            f"A total of {len(failed)} objects could not be loaded. Example error message for "
            f"object {failed[0][0].owner}:\n\n{failed[0][1]}\n\nList of objects that could "
            f"not be loaded:\n{[entry.owner for entry, _ in failed]}", stacklevel=4)

    return assigner(assignments, optimizer_state)


def _check_nothing_left(h5_file, used):
    """A file with weights that no part of the model takes is not this model's file."""
    left = []

    def visit(name, item):
        if name.endswith("/vars") or name == "vars":
            if "/" + name not in used and len(item) and not name.startswith("optimizer"):
                left.append(name)

    h5_file.visititems(lambda name, item: visit(name, item) if hasattr(item, "keys") else None)
    if left:
        raise ValueError(
            f"The weights file holds variables the model has no place for: {sorted(left)}. "
            "It was saved from a model with more (or other) layers.")


def load_weights_h5(model, path, skip_mismatch=False, by_name=False):
    """Loads a `.weights.h5` (Keras 3, minilstm) or legacy `.h5` weights file, all or nothing.

    `by_name` applies to legacy files only (minilstm/saving/legacy_h5.py).
    """
    from .files import h5py_module

    h5py = h5py_module(path)
    entries = _built_entries(model, "load")
    try:
        h5_file = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"Could not open {str(path)!r} as an HDF5 weights file: {error}. Is "
                         "it truncated, or not a .weights.h5 file?") from None
    with h5_file:
        if "model_weights" in h5_file or "layer_names" in h5_file.attrs:
            from .legacy_h5 import read_legacy_weights

            apply = read_legacy_weights(h5_file, model, by_name, skip_mismatch)
        else:
            if by_name:
                raise ValueError("`by_name` only supports loading legacy '.h5' or '.hdf5' "
                                 f"files (Keras 2's layout). Received: {path}")
            apply = read_entries(h5_file, model, entries, skip_mismatch)
    apply()
