"""Models: `Model` (the Functional API's graph of layers, with the training loop) and
`Sequential` (a Model whose graph is a chain); saving and loading them in Keras's files."""

import json as _json

from ..saving import load_model, save_model
from .model import Model
from .sequential import Sequential


def model_from_json(json_string, custom_objects=None):
    """A new model (fresh weights) from `model.to_json()`'s text, minilstm's or Keras's."""
    from ..saving.serialization import deserialize_layer

    return deserialize_layer(_json.loads(json_string), custom_objects)


def clone_model(model):
    """A new model with the same architecture and fresh weights."""
    from ..saving.serialization import deserialize_layer, serialize_layer

    return deserialize_layer(serialize_layer(model))


__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_json", "save_model"]
