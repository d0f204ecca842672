"""Keras's serialized form of objects, both ways.

Keras 3 writes every object as

    {"module": "keras.layers", "class_name": "LSTM", "config": {...}, "registered_name": null}

(`config` is the object's `get_config()`), inside `.keras` files, `to_json()`
and legacy `.h5` files (there without "module"). `serialize_keras_object`
writes that form for minilstm's layers, models, optimizers, losses, metrics
and initializers; `deserialize_keras_object` reads it, written by minilstm or
by Keras 2 or 3, and names the class and what minilstm supports when a class
is unknown.
"""

import numpy as np

from .. import backend


def _json_ready(value):
    """Tuples as lists, NumPy scalars as Python numbers: what JSON holds."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _dtype_policy(dtype):
    return {"module": "keras", "class_name": "DTypePolicy",
            "config": {"name": str(np.dtype(dtype or backend.floatx()))}, "registered_name": None}


# -- the classes a file may name --------------------------------------------------------


def _layer_classes():
    from .. import layers as layers_module
    from ..layers.base import Layer
    from ..models import Model, Sequential

    classes = {name: obj for name, obj in vars(layers_module).items()
               if isinstance(obj, type) and issubclass(obj, Layer) and obj is not Layer}
    classes.update(Sequential=Sequential, Functional=Model, Model=Model)
    return classes


def _lookup(class_name, classes, kind, custom_objects, registered_name=None):
    custom_objects = custom_objects or {}
    for key in (registered_name, class_name):
        if key and key in custom_objects:
            return custom_objects[key]
    if class_name in classes:
        return classes[class_name]
    raise ValueError(
        f"Unknown {kind}: '{class_name}'. minilstm supports the {kind}s "
        f"{', '.join(sorted(classes))}. If '{class_name}' is a class of your own, pass it in "
        f"`custom_objects={{'{class_name}': {class_name}}}`.")


# -- layers and models --------------------------------------------------------------------


def serialize_layer(layer):
    """Keras's dict for a layer or model, with its config and build config."""
    from ..layers.input_layer import InputLayer
    from ..models import Model, Sequential

    config = layer.get_config()
    if not isinstance(layer, (InputLayer, Model)) and "dtype" not in config:
        head = {key: config.pop(key) for key in ("name", "trainable") if key in config}
        config = {**head, "dtype": _dtype_policy(getattr(layer, "dtype", None)), **config}
    cls = type(layer)
    if isinstance(layer, Sequential):
        module, class_name, registered = "keras", "Sequential", None
    elif cls is Model:
        module, class_name, registered = "keras.src.models.functional", "Functional", "Functional"
    elif cls.__module__.startswith("minilstm."):
        module, class_name, registered = "keras.layers", cls.__name__, None
    else:  # a user's own layer: found again through custom_objects
        module, class_name, registered = cls.__module__, cls.__name__, cls.__name__
    entry = {"module": module, "class_name": class_name, "config": _json_ready(config),
             "registered_name": registered}
    if isinstance(layer, Model) and not isinstance(layer, Sequential):
        entry["build_config"] = {"input_shape": None}
    elif layer.built and not isinstance(layer, InputLayer) and layer.input_shape is not None:
        entry["build_config"] = {"input_shape": _json_ready(layer.input_shape)}
    return entry


def deserialize_layer(entry, custom_objects=None):
    """A new layer (or model) from Keras's dict, as Keras 2 or 3 or minilstm wrote it."""
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError(f"Expected a layer config dict with 'class_name' and 'config'. "
                         f"Received: {str(entry)[:200]}")
    cls = _lookup(entry["class_name"], _layer_classes(), "layer", custom_objects,
                  entry.get("registered_name"))
    config = entry.get("config")
    if hasattr(cls, "_from_config_with_objects"):
        return cls._from_config_with_objects(config, custom_objects)
    return cls.from_config(config)


# -- optimizers, losses, metrics ----------------------------------------------------------

# Keras 3's optimizer config keys minilstm has no use for, at the value that changes nothing.
_OPTIMIZER_DEFAULTS = {"weight_decay": None, "use_ema": False, "ema_momentum": 0.99,
                       "ema_overwrite_frequency": None, "loss_scale_factor": None,
                       "gradient_accumulation_steps": None}
_OPTIMIZER_IGNORED = ("decay", "jit_compile", "is_legacy_optimizer")  # Keras 2 keys


def serialize_optimizer(optimizer):
    config = optimizer.get_config()
    head = {key: config.pop(key) for key in ("name", "learning_rate")}
    clips = {key: config.pop(key) for key in ("clipnorm", "global_clipnorm", "clipvalue")}
    config = {**head, "weight_decay": None, **clips,
              **{k: v for k, v in _OPTIMIZER_DEFAULTS.items() if k != "weight_decay"}, **config}
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": _json_ready(config), "registered_name": None}


def deserialize_optimizer(entry, custom_objects=None):
    from .. import optimizers

    if isinstance(entry, str):
        return optimizers.get(entry)
    classes = {cls.__name__: cls for cls in (optimizers.SGD, optimizers.Adam, optimizers.RMSprop)}
    class_name = entry.get("class_name")
    if isinstance(class_name, str) and class_name.startswith("Custom>") \
            and class_name[len("Custom>"):] in classes:  # tf.keras 2.11+ registers its own so
        class_name = class_name[len("Custom>"):]
    cls = _lookup(class_name, classes, "optimizer", custom_objects, entry.get("registered_name"))
    config = dict(entry.get("config") or {})
    for key in _OPTIMIZER_IGNORED:
        config.pop(key, None)
    if not config.get("use_ema"):  # tf.keras 2's RMSprop sets ema_overwrite_frequency=100
        config.pop("ema_momentum", None)
        config.pop("ema_overwrite_frequency", None)
    for key, default in _OPTIMIZER_DEFAULTS.items():
        value = config.pop(key, default)
        if value is not None and value != default:
            raise ValueError(f"The saved {cls.__name__} optimizer sets {key}={value!r}, which "
                             "minilstm does not support.")
    if isinstance(config.get("learning_rate"), dict):
        raise ValueError(f"The saved {cls.__name__} optimizer uses a learning-rate schedule "
                         f"({config['learning_rate'].get('class_name')}), which minilstm does "
                         "not support; use a LearningRateScheduler callback instead.")
    if "lr" in config and "learning_rate" not in config:  # Keras 2.2
        config["learning_rate"] = config.pop("lr")
    config.pop("lr", None)
    return cls(**config)


def serialize_loss_or_metric(value):
    """A loss or metric as compile() received it: a name stays a name."""
    from .. import losses, metrics

    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [serialize_loss_or_metric(v) for v in value]
    if isinstance(value, dict):
        return {k: serialize_loss_or_metric(v) for k, v in value.items()}
    if isinstance(value, losses.Loss):
        return losses.serialize(value)
    if isinstance(value, metrics.Metric):
        return metrics.serialize(value)
    if callable(value) and getattr(value, "__name__", None):
        return value.__name__
    raise ValueError(f"Cannot serialize {value!r} in the compile config.")


def deserialize_loss_or_metric(value, custom_objects=None, kind="loss"):
    from .. import losses, metrics

    if isinstance(value, list):
        return [deserialize_loss_or_metric(v, custom_objects, kind) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {k: deserialize_loss_or_metric(v, custom_objects, kind) for k, v in value.items()}
    if isinstance(value, str) and custom_objects and value in custom_objects:
        return custom_objects[value]
    if isinstance(value, dict):
        if custom_objects and value["class_name"] in custom_objects:
            return custom_objects[value["class_name"]]
        return (losses if kind == "loss" else metrics).deserialize(value)
    return value


# -- any object ---------------------------------------------------------------------------


def serialize_keras_object(obj):
    """Keras's dict for a minilstm layer, model, optimizer, loss, metric or initializer."""
    from .. import initializers, losses, metrics, optimizers
    from ..layers.base import Layer

    if isinstance(obj, Layer):
        return serialize_layer(obj)
    if isinstance(obj, optimizers.Optimizer):
        return serialize_optimizer(obj)
    if isinstance(obj, initializers.Initializer):
        return initializers.serialize(obj)
    if isinstance(obj, (losses.Loss, metrics.Metric)) or callable(obj):
        return serialize_loss_or_metric(obj)
    return _json_ready(obj)


def deserialize_keras_object(config, custom_objects=None):
    """The object a `serialize_keras_object` dict (minilstm's or Keras's) describes."""
    from .. import initializers, losses, metrics

    if not isinstance(config, dict):
        return config
    module = config.get("module") or ""
    if module.startswith("keras.optimizers"):
        return deserialize_optimizer(config, custom_objects)
    if module.startswith("keras.initializers"):
        return initializers.deserialize(config)
    if module.startswith("keras.losses"):
        return losses.deserialize(config)
    if module.startswith("keras.metrics"):
        return metrics.deserialize(config)
    return deserialize_layer(config, custom_objects)
