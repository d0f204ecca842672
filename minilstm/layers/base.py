"""Layer: the forward/backward contract every minilstm layer follows.

A layer owns its weights (arrays of the active array module, updated in
place by optimizers), and offers

- `build(input_shape)`: creates the weights once the input shape is known
  (a list of shapes for layers that take several inputs);
- `forward(inputs, training, mask)`: returns the output and keeps what
  backward needs in `self._cache` (one attribute, so that a model can save
  it per call when one layer is used at several places of a graph);
- `backward(dy)`: returns dx (a list for several inputs) and sets
  `self.grads`, aligned with `self.weights`;
- `compute_output_shape(input_shape)` and `compute_mask(inputs, mask)`: what
  a call returns, without running it (`supports_masking`: the mask passes
  through unchanged);
- `get_weights()` / `set_weights()` in Keras order and shapes.

Inside `with no_cache():` (predict, evaluate, validation) a forward keeps
nothing for backward: layers that can, the recurrent ones, then run a
forward-only kernel that stores no per-step gates or states.

Called on arrays, a layer runs (`__call__`); called on symbolic tensors
(`minilstm.Input`), it records a Node of the Functional API's graph.
"""

import contextlib
import inspect
import re
import threading
from collections import defaultdict

import numpy as np

from .. import backend
from .node import KerasTensor, Node, is_symbolic

_name_counts = defaultdict(int)


class _ForwardMode(threading.local):
    """Per thread: no_cache is True inside `no_cache()`. The class attribute is every
    thread's default, so reading it never goes through getattr's AttributeError (a few
    µs a call, which a batch-1 training step pays at every recurrent layer)."""

    no_cache = False


_forward_mode = _ForwardMode()


@contextlib.contextmanager
def no_cache():
    """Forward passes inside keep no cache for backward (predict, evaluate, validation)."""
    previous = _forward_mode.no_cache
    _forward_mode.no_cache = True
    try:
        yield
    finally:
        _forward_mode.no_cache = previous


def keeps_cache():
    """False inside `no_cache()`: a forward need not keep what backward reads."""
    return not _forward_mode.no_cache


def _unique_name(prefix):
    # Keras names layers 'lstm', 'lstm_1', 'lstm_2', ... per process.
    count = _name_counts[prefix]
    _name_counts[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def _snake_case(name):
    """Keras's default-name rule: words split at case changes, acronyms kept whole.

    'LSTM' -> 'lstm', 'SimpleRNN' -> 'simple_rnn', 'TimeDistributed' -> 'time_distributed'.
    """
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _shape_tuple(value, argument):
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        value = (value,)
    try:
        dims = tuple(value)
    except TypeError:
        dims = None
    if dims is None or not all(d is None or (isinstance(d, (int, np.integer))
                                             and not isinstance(d, bool) and d > 0) for d in dims):
        raise TypeError(f"`{argument}` must be a tuple of positive integers (None for an unknown "
                        f"size). Received: {argument}={value!r}")
    return tuple(None if d is None else int(d) for d in dims)


def assign_weights(owner, current, weights):
    """Copies `weights` into the arrays `current` in place, after checking all of them.

    In place, so optimizer slots (keyed by the array) stay attached. Raises
    ValueError/TypeError naming the weight before anything changes.
    """
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__iter__"):
        raise TypeError(f"set_weights() on {owner} takes a list of arrays. Received: "
                        f"{type(weights).__name__}")
    weights = list(weights)
    if len(weights) != len(current):
        raise ValueError(
            f"You called `set_weights(weights)` on {owner} with a weight list of length "
            f"{len(weights)}, but it was expecting {len(current)} weights of shapes "
            f"{[tuple(w.shape) for w in current]}.")
    arrays = []
    for index, (target, value) in enumerate(zip(current, weights)):
        if value is None:
            raise TypeError(f"Weight {index} given to set_weights() on {owner} is None; "
                            f"expected an array of shape {tuple(target.shape)}.")
        array = backend.to_numpy(value) if not isinstance(value, (list, tuple)) \
            else np.asarray(value)
        if array.dtype.kind not in "fiub":
            raise TypeError(f"Weight {index} given to set_weights() on {owner} is not numeric "
                            f"(dtype {array.dtype}); expected floats of shape "
                            f"{tuple(target.shape)}.")
        if tuple(target.shape) != tuple(array.shape):
            raise ValueError(f"Weight {index} of {owner} has shape {tuple(target.shape)}, which "
                             f"is not compatible with the provided weight shape "
                             f"{tuple(array.shape)}.")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError(f"Weight {index} given to set_weights() on {owner} contains NaN or "
                             "infinite values.")
        arrays.append(array)
    xp = backend.xp()
    for target, array in zip(current, arrays):
        target[...] = xp.asarray(array, dtype=target.dtype)


# Keys of Keras configs that minilstm layers do not take, with the value at which dropping
# them changes nothing. Any other key a constructor does not take is dropped only when None.
_DROPPABLE_AT = {"sparse": False, "ragged": False, "optional": False, "time_major": False,
                 "data_format": "channels_last", "autocast": True, "rms_scaling": False}
_ALWAYS_DROPPABLE = {"seed"}  # dropout seeds: minilstm draws from the global generator


def _accepted_arguments(cls):
    """The keyword arguments `cls(...)` takes, following **kwargs up the class chain."""
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters.values()
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                           p.KEYWORD_ONLY)} - {"self"}
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            break
    return names


def _dtype_from_config(value):
    """A Keras dtype entry (a string or a DTypePolicy dict) as minilstm's dtype, or None."""
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name")
    if isinstance(value, str) and value.startswith("mixed_"):
        value = "float32"  # a mixed policy keeps float32 variables
    return None if value in (None, backend.floatx()) else value


def config_to_kwargs(cls, config):
    """A Keras `get_config()` dict as keyword arguments for `cls`.

    Keras writes keys minilstm layers do not take (regularizers and
    constraints set to None, `sparse`, `data_format='channels_last'`, ...):
    those are dropped when their value is the one that changes nothing; any
    other value raises ValueError naming the key, so a model never loads
    silently different from the one saved.
    """
    if not isinstance(config, dict):
        raise TypeError(f"{cls.__name__}.from_config() takes a dict. Received: {config!r}")
    kwargs = dict(config)
    accepted = _accepted_arguments(cls)
    if "dtype" in kwargs:
        kwargs["dtype"] = _dtype_from_config(kwargs["dtype"])
    for key in list(kwargs):
        if key in accepted:
            continue
        value = kwargs.pop(key)
        if value is None or key in _ALWAYS_DROPPABLE or _DROPPABLE_AT.get(key, object()) == value:
            continue
        raise ValueError(
            f"The saved config of a {cls.__name__} layer sets `{key}`={value!r}, which minilstm "
            f"does not support. Supported arguments: {sorted(accepted)}.")
    return kwargs


def serialize_initializer(initializer):
    """Keras's dict for an initializer attribute (None stays None)."""
    from .. import initializers

    if initializer is None:
        return None
    if isinstance(initializer, initializers.Initializer):
        return initializers.serialize(initializer)
    raise ValueError(f"Cannot serialize the initializer {initializer!r}: only minilstm "
                     "Initializer instances have a config (plain functions do not).")


class Layer:
    """Base class of minilstm layers.

    Args:
        name: layer name; defaults to the snake-case class name ('lstm', 'lstm_1').
        trainable: whether the optimizer updates this layer's weights.
        input_shape: shape of one sample, without the batch axis: (timesteps,
            features) for an LSTM. Only for the first layer of a model.
        batch_input_shape: the full input shape including a fixed batch size,
            as Keras 2 spells it; needed by stateful LSTMs.
        batch_size: fixed batch size to combine with `input_shape`.
        input_dim: number of features (Keras 2 alias of `input_shape=(input_dim,)`
            for Dense; for an LSTM the timesteps stay unknown unless
            `input_length` is given).
    """

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None,
                 batch_input_shape=None, batch_size=None, input_dim=None, input_length=None,
                 **kwargs):
        if kwargs:
            raise ValueError(
                f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}"
            )
        self.name = name or _unique_name(_snake_case(type(self).__name__))
        self.trainable = trainable
        self.dtype = dtype
        self.built = False
        self.grads = None
        self._weight_names = []
        self._batch_input_shape = self._declared_input_shape(
            input_shape, batch_input_shape, batch_size, input_dim, input_length)
        self.input_shape = self.output_shape = None

    def _declared_input_shape(self, input_shape, batch_input_shape, batch_size, input_dim,
                              input_length):
        if batch_input_shape is not None:
            return _shape_tuple(batch_input_shape, "batch_input_shape")
        if input_shape is None and input_dim is not None:
            # Keras 2: a sequence layer's input_dim is its features, timesteps from input_length
            sequence = input_length is not None or self._sequence_input
            input_shape = (input_length, input_dim) if sequence else (input_dim,)
        if input_shape is not None:
            return (batch_size,) + _shape_tuple(input_shape, "input_shape")
        return None

    # -- weights ---------------------------------------------------------------

    def add_weight(self, name, shape, initializer):
        """Creates a weight attribute `name` from a host initializer."""
        value = initializer(tuple(shape), dtype=self.dtype or backend.floatx())
        # C order always: kernels index rows directly (Orthogonal yields a transposed view).
        setattr(self, name, backend.xp().asarray(np.ascontiguousarray(value)))
        self._weight_names.append(name)
        return getattr(self, name)

    @property
    def weights(self):
        """The layer's weight arrays, in Keras order."""
        return [getattr(self, name) for name in self._weight_names]

    def _trainable_flags(self):
        """One bool per entry of `weights`: whether the optimizer may change it.

        A layer with statistics that only its forward updates (BatchNormalization's
        moving mean) marks those False.
        """
        return [self.trainable] * len(self._weight_names)  # (len(weights), without the list)

    @property
    def trainable_weights(self):
        return [w for w, flag in zip(self.weights, self._trainable_flags()) if flag]

    @property
    def non_trainable_weights(self):
        return [w for w, flag in zip(self.weights, self._trainable_flags()) if not flag]

    def get_weights(self):
        """Copies of the weights as NumPy arrays, in Keras order."""
        return [backend.to_numpy(w).copy() for w in self.weights]

    def set_weights(self, weights):
        """Loads a list of arrays (Keras order and shapes) into the weights, in place.

        All or nothing: every array is checked (count, shapes, numeric, finite)
        before the first weight changes.
        """
        assign_weights(f"layer '{self.name}'", self.weights, weights)

    def count_params(self):
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # -- the forward/backward contract ----------------------------------------

    def build(self, input_shape):
        """Creates the weights for inputs of `input_shape` (batch axis included)."""
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    supports_masking = False
    # True when backward(dy, input_grad=False) skips the gradient of the input (a
    # model's training step passes it for layers that read the model's own data).
    skips_input_gradient = False
    _sequence_input = False  # True for layers whose input is (batch, timesteps, features)

    def compute_mask(self, inputs, mask=None):
        """The mask of the output: passed through when `supports_masking`, else dropped."""
        return mask if self.supports_masking else None

    def forward(self, x, training=False, mask=None):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def __call__(self, x, training=False, **kwargs):
        """Applies the layer to an array (building it on first use), or records a graph node.

        On KerasTensors (from `minilstm.Input` or another layer's symbolic call)
        nothing runs: the layer is built for their shapes, and new KerasTensors
        stand for its output.
        """
        if is_symbolic(x) or is_symbolic(list(kwargs.values())):
            return self._symbolic_call(x, **kwargs)
        xp = backend.xp()
        x = xp.asarray(x, dtype=self.dtype or backend.floatx())
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))
        return self.forward(x, training=training, **kwargs)

    def _symbolic_call(self, inputs, initial_state=None, **kwargs):
        """Builds the layer for the inputs' shapes and records the call as a Node."""
        unknown = sorted(set(kwargs) - {"training", "mask"})
        if unknown or initial_state is not None and not hasattr(self, "state_count"):
            raise TypeError(f"Layer '{self.name}' ({type(self).__name__}) cannot be called with "
                            f"{unknown or ['initial_state']} on symbolic tensors.")
        multiple = isinstance(inputs, (list, tuple))
        tensors = list(inputs) if multiple else [inputs]
        states = [] if initial_state is None else (
            list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state])
        for tensor in tensors + states:
            if not isinstance(tensor, KerasTensor):
                raise TypeError(
                    f"Layer '{self.name}' was called on a mix of symbolic tensors and "
                    f"{type(tensor).__name__}; every input of a graph call must come from "
                    "`minilstm.Input` or another layer's output.")
        shapes = [t.shape for t in tensors]
        shape = shapes if multiple else shapes[0]
        if not self.built:
            self.build(shape)
        else:
            self._check_call_shape(shape)
        node = Node(self, tensors, multiple, states, self.compute_output_shape(shape),
                    self._output_dtype(tensors))
        self._inbound_nodes = getattr(self, "_inbound_nodes", []) + [node]
        return node.output_value()

    def _check_call_shape(self, shape):
        """A built layer called again (shared) must get the shape it was built for."""
        built = self.input_shape
        if isinstance(shape, list) or built is None or len(shape) != len(built):
            return
        for got, want in zip(shape[1:], built[1:]):
            if want is not None and got is not None and got != want:
                raise ValueError(
                    f"Input 0 of layer '{self.name}' is incompatible with the layer: it was "
                    f"built for inputs of shape {built}, but is now called on shape {shape}.")

    def _output_dtype(self, inputs):
        return self.dtype or backend.floatx()

    def _unbuild(self):
        """Back to before `build`: drops the weights (a rejected first fit leaves no trace)."""
        for name in self._weight_names:
            delattr(self, name)
        self._weight_names = []
        self.built = False
        self.input_shape = self.output_shape = None
        self._inbound_nodes = []

    def reset_states(self):
        """Only stateful recurrent layers have states; see LSTM.reset_states."""
        raise AttributeError(f"Layer {self.name} is not stateful: it has no states to reset.")

    def get_config(self):
        """The constructor arguments, under Keras's config keys.

        The file writers add Keras's `dtype` policy; `from_config` takes this
        dict or one that Keras's `get_config()` returned.
        """
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        """A new, unbuilt layer from `get_config()`'s dict (minilstm's or Keras's)."""
        return cls(**config_to_kwargs(cls, config))

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
