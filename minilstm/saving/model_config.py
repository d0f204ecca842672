"""Model configs as Keras 3 writes them (Sequential and Functional), and models built from them.

Sequential: `{"name", "trainable", "dtype", "layers": [InputLayer, layer, ...],
"build_input_shape"}`. Functional: every layer (InputLayers included, in
Keras's order) with its `name` and `inbound_nodes`, each node the arguments
of one call, tensors written as `{"class_name": "__keras_tensor__", "config":
{"shape", "dtype", "keras_history": [layer name, node index, tensor index]}}`;
then `input_layers` and `output_layers`. Keras 2's node form, lists of
`[layer name, node index, tensor index, kwargs]`, is read too.
"""

from collections import defaultdict

from .serialization import _dtype_policy, _json_ready, deserialize_layer, serialize_layer
from .weights import keras_layer_order


# -- Sequential ---------------------------------------------------------------------------


def sequential_config(model):
    layers = []
    if model._input_shape is not None:
        name = model.inputs[0].node.layer.name if model.built else "input_layer"
        layers.append({"module": "keras.layers", "class_name": "InputLayer",
                       "config": {"batch_shape": _json_ready(model._input_shape),
                                  "dtype": model._input_dtype or model.inputs[0].dtype
                                  if model.built else "float32",
                                  "sparse": False, "name": name},
                       "registered_name": None})
    layers += [serialize_layer(layer) for layer in model.layers]
    config = {"name": model.name, "trainable": model.trainable, "dtype": _dtype_policy(None),
              "layers": layers}
    if model._input_shape is not None:
        config["build_input_shape"] = _json_ready(model._input_shape)
    return config


def sequential_from_config(cls, config, custom_objects=None):
    if isinstance(config, list):  # Keras 2.0-2.2: the config is the list of layers
        config = {"layers": config}
    model = cls(name=config.get("name"), trainable=config.get("trainable", True))
    for entry in config.get("layers", []):
        model.add(deserialize_layer(entry, custom_objects))
    shape = config.get("build_input_shape")
    if not model.built and shape is not None and model.layers:
        model.build(tuple(shape))
    return model


# -- Functional ---------------------------------------------------------------------------


def _node_indices(model):
    """id(node) -> its index among the calls of its layer that belong to this model."""
    in_graph = {id(node) for node in model._graph.nodes}
    indices = {}
    for layer in model._graph.layers:
        own = [node for node in getattr(layer, "_inbound_nodes", []) if id(node) in in_graph]
        indices.update({id(node): k for k, node in enumerate(own)})
    return indices


def _tensor_ref(tensor, indices):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": _json_ready(tensor.shape), "dtype": tensor.dtype,
                       "keras_history": [tensor.node.layer.name, indices[id(tensor.node)],
                                         tensor.index]}}


def functional_config(model):
    from ..layers.input_layer import InputLayer

    indices = _node_indices(model)
    nodes_of = defaultdict(list)
    for node in model._graph.nodes:
        nodes_of[id(node.layer)].append(node)
    layers = []
    for layer in keras_layer_order(model):
        entry = serialize_layer(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = []
        if not isinstance(layer, InputLayer):
            for node in sorted(nodes_of[id(layer)], key=lambda n: indices[id(n)]):
                refs = [_tensor_ref(t, indices) for t in node.inputs]
                kwargs = {}
                if node.state_inputs:
                    kwargs["initial_state"] = [_tensor_ref(t, indices) for t in node.state_inputs]
                entry["inbound_nodes"].append(
                    {"args": [refs if node.multiple_inputs else refs[0]], "kwargs": kwargs})
        layers.append(entry)

    def ends(tensors, declared):
        triples = [[t.node.layer.name, indices[id(t.node)], t.index] for t in tensors]
        return triples if isinstance(declared, (list, tuple, dict)) else triples[0]

    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": ends(model.inputs, model._structure["inputs"]),
            "output_layers": ends(model.outputs, model._structure["outputs"])}


def _is_triple(value):
    return (isinstance(value, (list, tuple)) and len(value) in (3, 4)
            and isinstance(value[0], str))


def _node_arguments(node):
    """(inputs, initial_state) of one inbound node, as tensor keys (name, node, index)."""
    if isinstance(node, dict):  # Keras 3
        def keys(value):
            if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                return tuple(value["config"]["keras_history"])
            if isinstance(value, (list, tuple)):
                return [keys(v) for v in value]
            return value
        args = node.get("args") or []
        states = (node.get("kwargs") or {}).get("initial_state")
        return keys(args[0]), (keys(states) if states is not None else None)
    entries = [tuple(e[:3]) for e in node]  # Keras 2: [[name, node, index, kwargs], ...]
    return (entries[0] if len(entries) == 1 else entries), None


def functional_from_config(cls, config, custom_objects=None):
    from ..layers.input_layer import InputLayer

    tensors, pending, order = {}, {}, []
    for entry in config["layers"]:
        layer = deserialize_layer(entry, custom_objects)
        name = entry.get("name") or layer.name
        if isinstance(layer, InputLayer):
            tensors[(name, 0, 0)] = layer.output
            continue
        order.append((name, layer))
        pending[name] = list(entry.get("inbound_nodes") or [])
    made = defaultdict(int)

    def ready(keys):
        if isinstance(keys, list):
            return all(ready(k) for k in keys)
        return keys is None or tuple(keys) in tensors

    def value(keys):
        return [value(k) for k in keys] if isinstance(keys, list) else tensors[tuple(keys)]

    progress = True
    while progress and any(pending.values()):
        progress = False
        for name, layer in order:
            while pending[name]:
                inputs, states = _node_arguments(pending[name][0])
                if not (ready(inputs) and ready(states)):
                    break
                pending[name].pop(0)
                outputs = (layer(value(inputs)) if states is None
                           else layer(value(inputs), initial_state=value(states)))
                outputs = outputs if isinstance(outputs, list) else [outputs]
                for index, tensor in enumerate(outputs):
                    tensors[(name, made[name], index)] = tensor
                made[name] += 1
                progress = True
    stuck = sorted(name for name, nodes in pending.items() if nodes)
    if stuck:
        raise ValueError(f"The model config cannot be rebuilt: the inputs of layers {stuck} "
                         "are never produced (a broken or truncated config).")

    def ends(spec):
        if _is_triple(spec):
            return tensors[tuple(spec[:3])]
        found = [tensors[tuple(item[:3])] for item in spec]
        return found[0] if len(found) == 1 else found  # Keras 2 lists even a single one

    model = cls(ends(config["input_layers"]), ends(config["output_layers"]),
                name=config.get("name"))
    model.trainable = config.get("trainable", True)
    return model


# -- compile ------------------------------------------------------------------------------

_COMPILE_KEYS = ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics")


def compile_config(model):
    """Keras's `compile_config`: what `compile` was given, serialized ({} if uncompiled)."""
    from .serialization import serialize_loss_or_metric, serialize_optimizer

    arguments = getattr(model, "_compile_arguments", None)
    if not getattr(model, "compiled", False) or arguments is None:
        return {}
    return {"optimizer": serialize_optimizer(model.optimizer),
            "loss": serialize_loss_or_metric(arguments.get("loss")),
            "loss_weights": _json_ready(arguments.get("loss_weights")),
            "metrics": serialize_loss_or_metric(arguments.get("metrics")),
            "weighted_metrics": serialize_loss_or_metric(arguments.get("weighted_metrics")),
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def compile_from_config(model, config, custom_objects=None):
    """Compiles `model` from a Keras `compile_config` (or a legacy h5 `training_config`)."""
    from .serialization import deserialize_loss_or_metric, deserialize_optimizer

    optimizer = config.get("optimizer", config.get("optimizer_config"))
    if optimizer is None:
        return
    model.compile(optimizer=deserialize_optimizer(optimizer, custom_objects),
                  loss=deserialize_loss_or_metric(config.get("loss"), custom_objects),
                  loss_weights=config.get("loss_weights"),
                  metrics=deserialize_loss_or_metric(config.get("metrics"), custom_objects,
                                                     "metric"),
                  weighted_metrics=deserialize_loss_or_metric(config.get("weighted_metrics"),
                                                              custom_objects, "metric"))
