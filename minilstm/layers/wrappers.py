"""Layers that own layers: Bidirectional and TimeDistributed.

A wrapper exposes the layers it owns: its `weights` are theirs in Keras's
order, so get/set_weights, summary counts, saving and the optimizer reach
them with no special case; its `_cache` holds theirs, so a wrapper can be
shared in a graph like any layer.
"""

import copy

from .. import backend
from .base import Layer, config_to_kwargs
from .rnn import RNN

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _clone(layer, name, **overrides):
    """A fresh, unbuilt copy of `layer` with a new name (Keras rebuilds it from its config)."""
    nodes = getattr(layer, "_inbound_nodes", [])
    layer._inbound_nodes = []  # graph records stay with the original
    try:
        clone = copy.deepcopy(layer)
    finally:
        layer._inbound_nodes = nodes
    if clone.built:
        clone._unbuild()
    clone.name = name
    for attribute, value in overrides.items():
        setattr(clone, attribute, value)
    return clone


def _without_prefix(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards, and merges the outputs.

    The backward outputs are flipped back to input order before merging, as
    Keras does; with return_sequences, masked steps output zeros in both
    directions (Keras forces `zero_output_for_mask`).

    Args:
        layer: an LSTM, GRU or SimpleRNN; a fresh copy named 'forward_<name>' runs forwards.
        merge_mode: 'concat' (default), 'sum', 'mul', 'ave', or None (a list of both).
        backward_layer: optional recurrent layer for the backward direction; default a
            copy of `layer` with go_backwards=True, named 'backward_<name>'.

    Call arguments: as the wrapped layer's; `initial_state` lists the forward
    states then the backward ones.

    >>> import numpy as np
    >>> from minilstm.layers import LSTM, Bidirectional
    >>> Bidirectional(LSTM(3, return_sequences=True))(np.zeros((2, 4, 1))).shape
    (2, 4, 6)
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, RNN):
            raise ValueError("Please initialize `Bidirectional` layer with a recurrent layer "
                             f"(LSTM, GRU or SimpleRNN). Received: {layer!r}")
        if backward_layer is not None and not isinstance(backward_layer, RNN):
            raise ValueError("`backward_layer` needs to be a recurrent layer instance. "
                             f"Received: {backward_layer!r}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Invalid merge mode. Received: {merge_mode!r}. Merge mode should "
                             'be one of {"sum", "mul", "ave", "concat", None}')
        super().__init__(**kwargs)
        self.forward_layer = _clone(layer, "forward_" + _without_prefix(layer.name, "forward_"))
        if backward_layer is None:
            self.backward_layer = _clone(
                layer, "backward_" + _without_prefix(layer.name, "backward_"), go_backwards=True)
        else:
            self.backward_layer = backward_layer
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError(
                "Forward layer and backward layer should have different `go_backwards` value. "
                f"Received: forward_layer.go_backwards={self.forward_layer.go_backwards}, "
                f"backward_layer.go_backwards={self.backward_layer.go_backwards}")
        for attribute in ("stateful", "return_sequences", "return_state"):
            forward, backward = (getattr(self.forward_layer, attribute),
                                 getattr(self.backward_layer, attribute))
            if forward != backward:
                raise ValueError(
                    "Forward layer and backward layer are expected to have the same value for "
                    f'attribute "{attribute}", got "{forward}" for forward layer and '
                    f'"{backward}" for backward layer')
        for sublayer in (self.forward_layer, self.backward_layer):
            sublayer.zero_output_for_mask = sublayer.return_sequences
        self.merge_mode = merge_mode
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.state_count = 2 * layer.state_count
        self._initial_weights = weights

    # -- the layers it owns ------------------------------------------------------------

    @property
    def layers(self):
        return [self.forward_layer, self.backward_layer]

    @property
    def weights(self):
        return self.forward_layer.weights + self.backward_layer.weights

    def _trainable_flags(self):
        return [self.trainable and flag for layer in self.layers
                for flag in layer._trainable_flags()]

    @property
    def states(self):
        if self.forward_layer.states and self.backward_layer.states:
            return self.forward_layer.states + self.backward_layer.states
        return None

    def reset_states(self, states=None):
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        half = None if states is None else len(states) // 2
        self.forward_layer.reset_states(None if states is None else states[:half])
        self.backward_layer.reset_states(None if states is None else states[half:])

    reset_state = reset_states

    def _unbuild(self):
        for layer in self.layers:
            layer._unbuild()
        super()._unbuild()

    # -- shapes -------------------------------------------------------------------------

    def build(self, input_shape):
        for layer in self.layers:
            if not layer.built:
                layer.build(input_shape)
        super().build(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        output, states = (shape[0], shape[1:]) if self.return_state else (shape, [])
        if self.merge_mode == "concat":
            output = output[:-1] + (2 * output[-1],)
        outputs = [output, output] if self.merge_mode is None else [output]
        if self.return_state or self.merge_mode is None:
            return outputs + list(states) * 2
        return output

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        masks = [output_mask] * (2 if self.merge_mode is None else 1)
        if self.return_state:
            return masks + [None] * self.state_count
        return masks if self.merge_mode is None else output_mask

    # -- forward and backward -----------------------------------------------------------

    def forward(self, x, training=False, mask=None, initial_state=None):
        half = self.state_count // 2
        forward_states = None if initial_state is None else list(initial_state[:half])
        backward_states = None if initial_state is None else list(initial_state[half:])
        y = self.forward_layer.forward(x, training, mask, initial_state=forward_states)
        y_rev = self.backward_layer.forward(x, training, mask, initial_state=backward_states)
        states = []
        if self.return_state:
            states = y[1:] + y_rev[1:]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]  # back to input order
        self._cache = (self.forward_layer._cache, self.backward_layer._cache, y, y_rev)
        xp = backend.get_array_module(y)
        if self.merge_mode == "concat":
            outputs = [xp.concatenate([y, y_rev], axis=-1)]
        elif self.merge_mode == "sum":
            outputs = [y + y_rev]
        elif self.merge_mode == "ave":
            outputs = [(y + y_rev) / 2]
        elif self.merge_mode == "mul":
            outputs = [y * y_rev]
        else:
            outputs = [y, y_rev]
        if self.return_state or self.merge_mode is None:
            return outputs + states
        return outputs[0]

    skips_input_gradient = True  # both directions are recurrent layers: passed to them

    def backward(self, dy, input_grad=True):
        forward_cache, backward_cache, y, y_rev = self._cache
        grads = list(dy) if self.return_state or self.merge_mode is None else [dy]
        outputs = 2 if self.merge_mode is None else 1
        d_merged, d_states = grads[:outputs], grads[outputs:]
        dy_fwd, dy_bwd = self._split_merge_gradient(d_merged, y, y_rev)
        if self.return_sequences and dy_bwd is not None:
            dy_bwd = dy_bwd[:, ::-1]  # to the backward layer's processing order
        half = len(d_states) // 2
        self.forward_layer._cache, self.backward_layer._cache = forward_cache, backward_cache
        dx = None
        for layer, d_out, d_last in ((self.forward_layer, dy_fwd, d_states[:half]),
                                     (self.backward_layer, dy_bwd, d_states[half:])):
            dx_layer = layer.backward([d_out] + d_last if self.return_state else d_out,
                                      input_grad=input_grad)
            if dx_layer is not None:  # None: input_grad=False
                dx = dx_layer if dx is None else dx + dx_layer
        self.grads = self.forward_layer.grads + self.backward_layer.grads
        self.initial_state_grads = (self.forward_layer.initial_state_grads
                                    + self.backward_layer.initial_state_grads)
        return dx

    def _split_merge_gradient(self, d_merged, y, y_rev):
        """d(merged) -> (d y, d y_rev), each None where no gradient flows."""
        d = d_merged[0]
        if self.merge_mode is None:
            return d_merged[0], d_merged[1]
        if d is None:
            return None, None
        if self.merge_mode == "concat":
            units = y.shape[-1]
            return d[..., :units], d[..., units:]
        if self.merge_mode == "sum":
            return d, d
        if self.merge_mode == "ave":
            return d / 2, d / 2
        return d * y_rev, d * y  # mul

    def get_config(self):
        from ..saving.serialization import serialize_layer

        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": serialize_layer(self.forward_layer),
                "backward_layer": serialize_layer(self.backward_layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A Bidirectional from its config: `layer` and `backward_layer` are layer configs."""
        return cls._from_config_with_objects(config, custom_objects)

    @classmethod
    def _from_config_with_objects(cls, config, custom_objects):
        from ..saving.serialization import deserialize_layer

        config = dict(config)
        layer = deserialize_layer(config.pop("layer"), custom_objects)
        backward = config.pop("backward_layer", None)
        if backward is not None:
            backward = deserialize_layer(backward, custom_objects)
        return cls(layer, backward_layer=backward, **config_to_kwargs(cls, config))


class TimeDistributed(Layer):
    """Applies a layer to every timestep: (B, T, ...) -> (B, T, ...) through `layer`.

    The timesteps are folded into the batch, (B*T, ...), so the wrapped layer
    (Dense, Conv1D, a small Sequential, ...) runs once on all of them and
    shares its weights across time.

    Args:
        layer: the layer to apply at each timestep.

    >>> import numpy as np
    >>> from minilstm.layers import Dense, TimeDistributed
    >>> TimeDistributed(Dense(2))(np.zeros((3, 5, 4))).shape
    (3, 5, 2)
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `TimeDistributed` layer with a layer instance. "
                             f"Received: {layer!r}")
        super().__init__(**kwargs)
        self.layer = layer

    @property
    def layers(self):
        return [self.layer]

    @property
    def weights(self):
        return self.layer.weights

    def _trainable_flags(self):
        return [self.trainable and flag for flag in self.layer._trainable_flags()]

    def _unbuild(self):
        self.layer._unbuild()
        super()._unbuild()

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 3:
            raise ValueError(
                "`TimeDistributed` Layer should be passed an `input_shape` with at least 3 "
                f"dimensions, received: {input_shape}")
        if not self.layer.built:
            self.layer.build((None,) + input_shape[2:])
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return tuple(input_shape[:2]) + tuple(inner[1:])

    def forward(self, x, training=False, mask=None):
        batch, steps = x.shape[0], x.shape[1]
        folded = x.reshape((batch * steps,) + tuple(x.shape[2:]))
        y = self.layer.forward(folded, training=training)
        self._cache = (self.layer._cache, batch, steps, tuple(x.shape))
        return y.reshape((batch, steps) + tuple(y.shape[1:]))

    def backward(self, dy):
        inner_cache, batch, steps, x_shape = self._cache
        self.layer._cache = inner_cache
        dx = self.layer.backward(dy.reshape((batch * steps,) + tuple(dy.shape[2:])))
        self.grads = self.layer.grads
        return None if dx is None else dx.reshape(x_shape)

    def get_config(self):
        from ..saving.serialization import serialize_layer

        return {**super().get_config(), "layer": serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A TimeDistributed from its config: `layer` is a layer config."""
        return cls._from_config_with_objects(config, custom_objects)

    @classmethod
    def _from_config_with_objects(cls, config, custom_objects):
        from ..saving.serialization import deserialize_layer

        config = dict(config)
        layer = deserialize_layer(config.pop("layer"), custom_objects)
        return cls(layer, **config_to_kwargs(cls, config))
