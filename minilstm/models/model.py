"""Model: a graph of layers (the Functional API) with Keras's training methods.

    inputs = minilstm.Input(shape=(None, 32))
    x = minilstm.layers.LSTM(64)(inputs)
    outputs = minilstm.layers.Dense(1)(x)
    model = minilstm.Model(inputs, outputs)

A Model is also a Layer: called on symbolic tensors inside another model,
it runs its whole graph forward and backward as one layer, its weights
shared wherever it is used.
"""

import numpy as np

from .. import backend, saving
from ..layers.base import Layer, _unique_name, assign_weights
from ..layers.node import KerasTensor
from ..summary import summary_lines
from .graph import Graph
from .trainer import Trainer


def _as_tensor_list(value, argument):
    if isinstance(value, dict):
        value = list(value.values())
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in values:
        if not isinstance(item, KerasTensor):
            raise TypeError(
                f"`{argument}` of Model(inputs, outputs) must be tensors made by "
                f"`minilstm.Input(...)` and layer calls. Received: {item!r} "
                f"(of type {type(item).__name__})")
    return values


class Model(Trainer, Layer):
    """A directed acyclic graph of layers between `inputs` and `outputs`.

    Args:
        inputs: an Input tensor, or a list (or dict) of them.
        outputs: a tensor produced from the inputs by layer calls, or a list (or dict).
        name: model name; default 'functional', 'functional_1', ...

    Only graphs are supported: a subclass that overrides `call` (Keras's
    subclassed models) raises, saying so.

    >>> import numpy as np
    >>> import minilstm
    >>> inputs = minilstm.Input(shape=(5, 2))
    >>> outputs = minilstm.layers.Dense(1)(minilstm.layers.LSTM(3)(inputs))
    >>> minilstm.Model(inputs, outputs).predict(np.zeros((4, 5, 2)), verbose=0).shape
    (4, 1)
    """

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if hasattr(self, "call"):
            raise NotImplementedError(
                f"{type(self).__name__} defines `call()`: subclassed models with a custom call "
                "are not supported by minilstm. Build the model with the Functional API, "
                "`Model(inputs, outputs)`, or with `Sequential([...])`.")
        if inputs is None or outputs is None:
            raise ValueError(
                "Model(inputs, outputs) needs both: the Input tensor(s) and the output "
                "tensor(s) computed from them by layer calls. Received: "
                f"inputs={inputs!r}, outputs={outputs!r}")
        super().__init__(name=name or _unique_name("functional"), trainable=trainable, **kwargs)
        self._structure = {"inputs": inputs, "outputs": outputs}
        self._set_graph(_as_tensor_list(inputs, "inputs"), _as_tensor_list(outputs, "outputs"))

    def _set_graph(self, inputs, outputs):
        self._graph = Graph(inputs, outputs)
        self.built = True
        self.input_shape = self._unwrap([t.shape for t in inputs])
        self.output_shape = self._unwrap([t.shape for t in outputs], outputs=True)

    def _unwrap(self, values, outputs=False):
        """A single value, or the list, following how the model was declared."""
        declared = self._structure["outputs" if outputs else "inputs"]
        return values if isinstance(declared, (list, tuple, dict)) else values[0]

    # -- structure -------------------------------------------------------------------

    @property
    def inputs(self):
        return list(self._graph.inputs)

    @property
    def outputs(self):
        return list(self._graph.outputs)

    @property
    def layers(self):
        return list(self._graph.layers)

    @property
    def input_names(self):
        return [t.node.layer.name for t in self._graph.inputs]

    @property
    def output_names(self):
        return [t.node.layer.name for t in self._graph.outputs]

    def get_layer(self, name=None, index=None):
        """The layer called `name`, or at position `index` of `layers`."""
        if (name is None) == (index is None):
            raise ValueError("Provide exactly one of `name` or `index` to get_layer(). "
                             f"Received: name={name!r}, index={index!r}")
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only "
                                 f"has {len(layers)} layers.")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[layer.name for layer in layers]}.")

    def summary(self, print_fn=None):
        """Prints the layers, output shapes and parameter counts as Keras 3 does."""
        for line in summary_lines(self):
            (print_fn or print)(line)

    def dtype_itemsize(self):
        return np.dtype(backend.floatx()).itemsize

    # -- weights and states ----------------------------------------------------------

    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    def _trainable_flags(self):
        """One bool per entry of `weights`: whether the optimizer may change it."""
        return [self.trainable and flag for layer in self.layers
                for flag in layer._trainable_flags()]

    def get_weights(self):
        """All weights as NumPy arrays, layer by layer in Keras order."""
        return [backend.to_numpy(w).copy() for w in self.weights]

    def set_weights(self, weights):
        """Loads a list like `get_weights()` returns; checks everything before changing anything."""
        assign_weights(f"model '{self.name}'", self.weights, weights)

    def count_params(self):
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    def save_weights(self, filepath, overwrite=True):
        """Saves the weights to `.weights.h5` (Keras 3's layout, readable by Keras) or `.npz`.

        With a compiled model the optimizer's variables are saved too, as Keras does.
        """
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False, by_name=False, **kwargs):
        """Loads weights from `.weights.h5`, `.keras`, legacy `.h5` (Keras 2 too) or `.npz`.

        The whole file is checked (layer count, shapes, finite values) before
        any weight changes; a compiled model also takes the optimizer's state.
        `by_name=True` (legacy `.h5` only) matches layers by name, ignoring saved
        layers the model lacks; `skip_mismatch=True` skips, with a warning, the
        layers whose weights differ from the file's (with `.h5`, only by name, as
        in Keras 2).
        """
        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch, by_name=by_name,
                            **kwargs)

    def save(self, filepath, overwrite=True, **kwargs):
        """Saves the model to a `.keras` archive (Keras 3's format) or a legacy `.h5` file.

        Architecture, weights, and, when compiled, the optimizer's config and
        state, the loss and the metrics; `minilstm.models.load_model` (or Keras's)
        reads it back.
        """
        saving.save_model(self, filepath, overwrite=overwrite, **kwargs)

    def to_json(self, **kwargs):
        """The model's architecture as Keras's JSON (`models.model_from_json` reads it)."""
        import json

        return json.dumps(saving.serialize_keras_object(self), **kwargs)

    def reset_states(self):
        """Zeroes the carried states of every stateful layer (Keras 2's Model.reset_states)."""
        for layer in self.layers:
            if getattr(layer, "stateful", False) or isinstance(layer, Model):
                layer.reset_states()

    reset_state = reset_states

    # -- the layer contract (a model inside another model) ---------------------------

    def build(self, input_shape=None):
        """A functional model is built when it is made."""

    def compute_output_shape(self, input_shape):
        return self.output_shape

    def compute_mask(self, inputs, mask=None):
        return None

    def forward(self, inputs, training=False, mask=None):
        arrays = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        masks = list(mask) if isinstance(mask, (list, tuple)) else [mask] * len(arrays)
        outputs, self._output_masks = self._graph.forward(arrays, training, masks)
        self._cache = self._graph._saved
        return self._unwrap(outputs, outputs=True)

    def backward(self, dy):
        self._graph._saved = self._cache
        grads = self._graph.backward(list(dy) if isinstance(dy, (list, tuple)) else [dy])
        self.grads = self._graph.weight_gradients()
        return self._unwrap(grads)

    def _output_dtype(self, inputs):
        return self._graph.outputs[0].dtype

    def __call__(self, x, training=False, **kwargs):
        if isinstance(x, KerasTensor) or (isinstance(x, (list, tuple)) and x
                                          and isinstance(x[0], KerasTensor)):
            return super().__call__(x, training=training, **kwargs)
        return self._call_on_arrays(x, training)

    def get_config(self):
        """Keras's Functional config: the layers with their inbound nodes, inputs, outputs."""
        from ..saving.model_config import functional_config

        return functional_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new model, with fresh weights, from `get_config()`'s dict (minilstm's or Keras's)."""
        from ..saving.model_config import functional_from_config

        return functional_from_config(cls, config, custom_objects)

    @classmethod
    def _from_config_with_objects(cls, config, custom_objects):
        return cls.from_config(config, custom_objects)
