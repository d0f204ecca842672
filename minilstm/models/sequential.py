"""Sequential: a Model whose graph is a chain of layers, built once its input shape is known."""

import numpy as np

from .. import backend
from ..layers.base import Layer, _unique_name
from ..layers.input_layer import InputLayer
from ..layers.node import KerasTensor
from .model import Model


class Sequential(Model):
    """A linear stack of layers, trained by hand-written backpropagation.

    The input shape comes from the first layer (`input_shape=`,
    `batch_input_shape=`), an `Input(...)` put first, `build(shape)`, or the
    first data the model sees. From then on the model is the chain
    Input -> layer -> layer ... as a Functional graph, and shares every
    method with `Model`.

    Args:
        layers: optional list of layers to add in order.
        name: model name; default 'sequential', 'sequential_1', ...

    >>> import numpy as np
    >>> from minilstm.models import Sequential
    >>> from minilstm.layers import LSTM, Dense
    >>> model = Sequential([LSTM(4, input_shape=(3, 1)), Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> model.predict(np.zeros((2, 3, 1)), verbose=0).shape
    (2, 1)
    """

    def __init__(self, layers=None, name=None, trainable=True):
        Layer.__init__(self, name=name or _unique_name("sequential"), trainable=trainable)
        if layers is not None and not isinstance(layers, (list, tuple)):
            raise TypeError(
                "Sequential(layers) takes a list of layers, e.g. Sequential([LSTM(4), "
                f"Dense(1)]). Received: {type(layers).__name__} {layers!r}"[:300])
        self._layers = []
        self._input_shape = None
        self._input_dtype = None
        self._graph = None
        self._structure = {"inputs": None, "outputs": None}
        self.built = False
        for layer in layers or []:
            self.add(layer)

    # -- structure -------------------------------------------------------------------

    def add(self, layer):
        """Adds a layer on top of the stack; builds it if the input shape is known."""
        if isinstance(layer, KerasTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer  # Keras 3: Sequential([Input(shape), ...])
        if not isinstance(layer, Layer):
            raise ValueError(
                "Only instances of `minilstm.layers.Layer` can be added to a Sequential model. "
                f"Received: {layer!r} (of type {type(layer).__name__})"
            )
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"All layers added to a Sequential model should have unique names. "
                             f"Name '{layer.name}' is already the name of a layer in this model.")
        if isinstance(layer, InputLayer):
            if self._layers or self._input_shape is not None:
                raise ValueError(f"Sequential model '{self.name}' has already been configured "
                                 f"to use input shape {self._input_shape}; an InputLayer can "
                                 "only come first.")
            self._input_shape, self._input_dtype = layer._batch_input_shape, layer.dtype
            return
        if not self._layers and self._input_shape is None:
            self._input_shape = layer._batch_input_shape
        self._layers.append(layer)
        if self._input_shape is not None:
            self._build_graph()

    def pop(self):
        """Removes the last layer."""
        if not self._layers:
            raise TypeError("There are no layers in the model.")
        layer = self._layers.pop()
        if self._layers and self._input_shape is not None:
            self._build_graph()
        else:
            self._graph, self.built = None, False
        return layer

    def _build_graph(self):
        from ..layers.input_layer import Input

        dtype = self._input_dtype or getattr(self._layers[0], "input_dtype", None)
        tensor = inputs = Input(batch_shape=self._input_shape, dtype=dtype)
        for layer in self._layers:
            tensor = layer(tensor)
        self._structure = {"inputs": inputs, "outputs": tensor}
        outputs = tensor if isinstance(tensor, list) else [tensor]
        self._set_graph([inputs], outputs)

    def build(self, input_shape=None):
        """Builds every layer for inputs of `input_shape` (batch axis included)."""
        if input_shape is not None and self._input_shape is None:
            self._input_shape = tuple(input_shape)
        if self._input_shape is None:
            raise ValueError("You must provide an `input_shape` argument to build the model.")
        if not self._layers:
            raise ValueError(f"Sequential model '{self.name}' has no layers: add() some first.")
        self._build_graph()

    @property
    def layers(self):
        return list(self._layers)

    @property
    def input_shape(self):
        return self._input_shape

    @property
    def output_shape(self):
        return self._unwrap([t.shape for t in self._graph.outputs], outputs=True) \
            if self.built else None

    @output_shape.setter
    def output_shape(self, value):
        """Set by Model._set_graph; derived from the graph here."""

    @input_shape.setter
    def input_shape(self, value):
        """Set by Model._set_graph; kept as declared here."""

    @property
    def inputs(self):
        return list(self._graph.inputs) if self.built else None

    @property
    def outputs(self):
        return list(self._graph.outputs) if self.built else None

    def _output_names_for_compile(self):
        return self.output_names if self.built else ["output"]

    # -- data: build lazily from the first arrays ------------------------------------

    def _ensure_built(self, x):
        if self.built:
            return
        if not self._layers:
            raise ValueError("This Sequential model has no layers yet: add() some first.")
        from .. import data_adapter as data

        sample = data.as_array(x, "x", None, keep_integers=True)
        data.check_input_shape(sample, None, self._layers[0])
        self.build((None,) + sample.shape[1:])
        self._shape_from_data = True

    def _prepare_inputs(self, x):
        self._ensure_built(x)
        return super()._prepare_inputs(x)

    def _prepare_xy(self, x, y):
        """As Model's, but a rejected first call leaves the model unbuilt and the RNG as it was."""
        if self.built:
            return super()._prepare_xy(x, y)
        random_state = np.random.get_state()
        try:
            return super()._prepare_xy(x, y)
        except Exception:
            self._unbuild()
            np.random.set_state(random_state)
            raise

    def _unbuild(self):
        for layer in self._layers:
            layer._unbuild()
        self._graph, self.built = None, False
        if getattr(self, "_shape_from_data", False):
            self._input_shape, self._shape_from_data = None, False

    def _static_batch_size(self):
        if any(getattr(layer, "stateful", False) for layer in self._layers):
            return self._input_shape[0]
        return None

    # -- Keras 2 conveniences --------------------------------------------------------

    def predict_classes(self, x, batch_size=32, verbose=0):
        """Keras 2's class predictions: argmax for several outputs, `> 0.5` for one.

        One output unit gives int32 of shape (N, 1), as Keras 2 did;
        several give the argmax, shape (N,).
        """
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")

    def predict_proba(self, x, batch_size=32, verbose=0):
        """Keras 2's alias of predict for probabilistic outputs."""
        return self.predict(x, batch_size=batch_size, verbose=verbose)

    def __call__(self, x, training=False, **kwargs):
        if not self.built and not isinstance(x, KerasTensor):
            self._ensure_built(x)
        if isinstance(x, KerasTensor) and not self.built:
            self.build(x.shape)
        return super().__call__(x, training=training, **kwargs)

    def dtype_itemsize(self):
        return np.dtype(backend.floatx()).itemsize

    def get_config(self):
        """Keras's Sequential config: the InputLayer (when the shape is known), then the layers."""
        from ..saving.model_config import sequential_config

        return sequential_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new Sequential, with fresh weights, from `get_config()`'s dict (or Keras's)."""
        from ..saving.model_config import sequential_from_config

        return sequential_from_config(cls, config, custom_objects)
