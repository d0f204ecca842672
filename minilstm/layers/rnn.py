"""RNN: the sequence plumbing every recurrent layer shares, written once.

A recurrent layer (LSTM, GRU, SimpleRNN) is this base plus a cell: the cell
subclass says which weights it has and which kernel pair runs it
(`_kernel_forward`, `_kernel_backward`); everything about sequences lives
here:

- the states: zeros, `initial_state=[...]`, or (stateful) the states the
  previous batch left, carried across batches and fit/evaluate/predict calls
  until `reset_states()`;
- the batch size of a stateful layer, read at build time from the shape the
  layer receives (`batch_input_shape=`, `batch_size=`, `Input(batch_shape=)`,
  or a previous layer);
- dropout of the inputs and of the recurrent state: one mask per batch,
  reused at every step (Keras's variational dropout), only for
  0 < rate < 1 and only while training; one mask per gate block when
  `recurrent_dropout` is set (Keras's implementation 1), else one shared;
- the (B, T) mask of padded steps: a masked step carries the states over and
  outputs the previous output (or zeros with `zero_output_for_mask`), as
  Keras 3 does;
- return_sequences, return_state, go_backwards (outputs in processing order,
  as Keras).
"""

import math

import numpy as np

from .. import activations, backend, initializers
from ..kernels.activations import SUPPORTED as KERNEL_ACTIVATIONS
from .base import Layer, keeps_cache, serialize_initializer
from .node import is_symbolic

_UNSUPPORTED_EXTRAS = (
    "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer",
    "kernel_constraint", "recurrent_constraint", "bias_constraint",
)


def _rate(value, argument, layer):
    """A dropout rate as Keras reads it: a real number, clipped to [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"`{argument}` of {layer} must be a float between 0 and 1. "
                        f"Received: {argument}={value!r}")
    if math.isnan(value):
        raise ValueError(f"`{argument}` of {layer} must be a float between 0 and 1. "
                         f"Received: {argument}=nan")
    return min(1.0, max(0.0, float(value)))


def _flag(value, argument, layer):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{argument}` of {layer} must be True or False. "
                        f"Received: {argument}={value!r}")
    return bool(value)


class RNN(Layer):
    """Base of the recurrent layers; use LSTM, GRU or SimpleRNN.

    Args (shared by every recurrent layer):
        units: positive integer, dimensionality of the output space.
        dropout: fraction of the input units dropped while training.
        recurrent_dropout: fraction of the recurrent-state units dropped
            (in the recurrent product only) while training.
        seed: accepted for Keras compatibility; masks draw from the global
            generator that `minilstm.utils.set_random_seed` seeds.
        return_sequences: return every step's output (B, T, units) instead
            of the last one (B, units).
        return_state: also return the final states: [output, *states].
        go_backwards: process the sequence last step first; the output
            sequence is in processing order, as in Keras.
        stateful: each sample's final states become the initial states of
            the same row in the next batch; needs a fixed batch size.
        unroll: accepted for compatibility (the kernels never unroll; the
            numbers are the same).
        zero_output_for_mask: masked steps output zeros instead of the
            previous output.

    Call arguments:
        inputs: (batch, timesteps, features).
        mask: optional (batch, timesteps) bool; False marks padded steps.
        training: whether dropout applies.
        initial_state: optional list of (batch, units) arrays, one per state.
    """

    cell = None  # kernel name: 'lstm', 'gru', 'simple_rnn'
    _sequence_input = True
    gates = 1  # G: H-wide gate blocks in the weights
    state_count = 1  # 2 for the LSTM (h, c)

    def __init__(self, units, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, use_cudnn="auto",
                 implementation=2, **kwargs):
        for name in _UNSUPPORTED_EXTRAS:
            if kwargs.pop(name, None) is not None:
                raise NotImplementedError(
                    f"{type(self).__name__}: `{name}` is not supported by minilstm. "
                    f"Remove the argument (or pass {name}=None).")
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units <= 0:
            raise ValueError(
                "Received an invalid value for argument `units`, expected a positive integer, "
                f"got {units}."
            )
        if use_cudnn not in ("auto", False):
            raise ValueError(
                f"use_cudnn={use_cudnn!r} was specified, but minilstm has no cuDNN path. "
                "Pass use_cudnn='auto' (or leave it out) to use minilstm's own kernels.")
        if implementation not in (1, 2):
            raise ValueError(f"`implementation` must be 1 or 2. Received: "
                             f"implementation={implementation!r}")
        super().__init__(**kwargs)
        layer = type(self).__name__
        self.units = int(units)
        self.dropout = _rate(dropout, "dropout", layer)
        self.recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout", layer)
        self.seed = seed
        self.return_sequences = _flag(return_sequences, "return_sequences", layer)
        self.return_state = _flag(return_state, "return_state", layer)
        self.go_backwards = _flag(go_backwards, "go_backwards", layer)
        self.stateful = _flag(stateful, "stateful", layer)
        self.unroll = _flag(unroll, "unroll", layer)
        self.zero_output_for_mask = _flag(zero_output_for_mask, "zero_output_for_mask", layer)
        # Keras: recurrent dropout forces implementation 1, one mask per gate block.
        self.implementation = 1 if self.recurrent_dropout else implementation
        self.states = None
        self.initial_state_grads = None

    # -- the cell's arguments --------------------------------------------------

    def _set_cell_arguments(self, activation, recurrent_activation, use_bias,
                            kernel_initializer, recurrent_initializer, bias_initializer):
        """The arguments every cell shares, checked (recurrent_activation None: the cell has
        none)."""
        self.activation = self._kernel_activation(activation, "activation")
        if recurrent_activation is not None:
            self.recurrent_activation = self._kernel_activation(
                recurrent_activation, "recurrent_activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    # -- activations the kernels run -------------------------------------------

    def _kernel_activation(self, identifier, argument):
        name = activations.serialize(activations.get(identifier))
        if name not in KERNEL_ACTIVATIONS:
            raise ValueError(
                f"{type(self).__name__} `{argument}` must be one of {list(KERNEL_ACTIVATIONS)}, "
                f"which the kernels implement. Received: {argument}={identifier!r}"
            )
        return name

    # -- build -----------------------------------------------------------------

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"ndim=3, found ndim={len(input_shape)}. Full shape received: "
                f"{input_shape}. A {type(self).__name__} takes (samples, timesteps, "
                "features); a layer before it that returns 2-D output (a recurrent layer "
                "without return_sequences=True, or Dense on 2-D data) cannot feed it."
            )
        if input_shape[-1] is None:
            raise ValueError(f"The last dimension (features) of the input to layer "
                             f"'{self.name}' must be defined. Received: {input_shape}")
        if self.unroll and input_shape[1] is None:
            raise ValueError(
                "Cannot unroll a RNN if the time dimension is undefined. Either set "
                "unroll=False, or give the timesteps in the input shape.")
        if self.stateful and input_shape[0] is None:
            raise ValueError(
                "When using `stateful=True` in a RNN, the batch size must be static. Found "
                f"dynamic batch size: sequence.shape={input_shape}. Declare it with "
                "`Input(batch_shape=(batch, timesteps, features))`, `batch_input_shape=` or "
                "`batch_size=` on the first layer."
            )
        self.build_cell(int(input_shape[-1]))
        super().build(input_shape)
        if self.stateful:
            self.reset_states()

    def build_cell(self, input_dim):
        """Creates the cell's weights (kernel, recurrent_kernel, bias)."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        batch, timesteps = input_shape[0], input_shape[1]
        output = (batch, timesteps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [output] + [(batch, self.units)] * self.state_count
        return output

    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        """Keras's rule: the input mask with return_sequences (in input order), else None."""
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * self.state_count
        return output_mask

    def _bias(self):
        """The bias the kernels see: zeros of the right shape when use_bias=False."""
        if self.use_bias:
            return self.bias
        if getattr(self, "_zero_bias", None) is None or self._zero_bias.dtype != self.kernel.dtype:
            self._zero_bias = backend.xp().zeros(self._bias_shape(), dtype=self.kernel.dtype)
        return self._zero_bias

    # -- states ----------------------------------------------------------------

    def _state_shape(self):
        return (self.input_shape[0], self.units)

    def reset_states(self, states=None):
        """Sets the carried states of a stateful layer to zeros, or to `states`.

        Args:
            states: optional list of (batch, units) arrays, one per state (Keras 2's
                argument; Keras 3 resets to zeros only).
        """
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        batch = self.input_shape[0] if self.built else (self._batch_input_shape or (None,))[0]
        if batch is None:
            raise ValueError(
                "If a RNN is stateful, it needs to know its batch size. Specify the batch size "
                "of your input tensors: \n- If using a Sequential model, specify the batch size "
                "by passing a `batch_input_shape` argument to your first layer.\n- If using the "
                "functional API, specify the batch size by passing a `batch_shape` argument to "
                "your Input layer.")
        dtype = self.kernel.dtype if self.built else (self.dtype or backend.floatx())
        xp = backend.xp()
        if states is None:
            self.states = [xp.zeros((batch, self.units), dtype=dtype)
                           for _ in range(self.state_count)]
            return
        self.states = self._checked_states(states, (batch, self.units), dtype)

    reset_state = reset_states  # Keras 3 spelling

    def _checked_states(self, states, shape, dtype):
        """`states` as a list of arrays of `shape`, or a ValueError naming what is wrong."""
        if not isinstance(states, (list, tuple)):
            states = [states]
        if len(states) != self.state_count:
            raise ValueError(
                f"Layer {self.name} expects {self.state_count} states, but it received "
                f"{len(states)} state values. Received: states={states!r}"[:400])
        xp = backend.xp()
        checked = []
        for index, state in enumerate(states):
            if tuple(np.shape(state)) != tuple(shape):
                raise ValueError(
                    f"State {index} is incompatible with layer {self.name}: expected "
                    f"shape={tuple(shape)} but found shape={tuple(np.shape(state))}")
            state = xp.asarray(state, dtype=dtype)
            if not bool(xp.isfinite(state).all()):
                raise ValueError(f"State {index} given to layer {self.name} contains NaN or "
                                 "infinite values.")
            checked.append(state.copy())
        return checked

    def _initial_states(self, x, initial_state):
        batch = x.shape[0]
        if initial_state is not None:
            return self._checked_states(initial_state, (batch, self.units), x.dtype)
        if self.stateful:
            expected = self.states[0].shape[0]
            if batch != expected:
                raise ValueError(
                    "If an RNN is stateful, the batch size of the input sequences must be the "
                    "same as the batch size of the initial state.\n"
                    f"- Expected batch size: {expected}\n- Received batch size: {batch}"
                )
            return [state.astype(x.dtype, copy=False) for state in self.states]
        xp = backend.get_array_module(x)
        return [xp.zeros((batch, self.units), dtype=x.dtype) for _ in range(self.state_count)]

    # -- dropout masks -----------------------------------------------------------

    def _dropout_masks(self, x, training):
        """(dropout_mask [M, B, I], recurrent_dropout_mask [M, B, H]) or Nones.

        Inverted dropout, one mask per batch reused at every step; M = G (one
        per gate block) in implementation 1, else 1.
        """
        if not (training and (0.0 < self.dropout < 1.0 or 0.0 < self.recurrent_dropout < 1.0)):
            return None, None
        xp = backend.get_array_module(x)
        blocks = self.gates if self.implementation == 1 else 1
        masks = []
        for rate, width in ((self.dropout, x.shape[2]), (self.recurrent_dropout, self.units)):
            if training and 0.0 < rate < 1.0:
                keep = xp.random.random_sample((blocks, x.shape[0], width)) >= rate
                masks.append((keep / (1.0 - rate)).astype(x.dtype))
            else:
                masks.append(None)
        return masks

    # -- forward / backward -------------------------------------------------------

    def forward(self, x, training=False, mask=None, initial_state=None):
        if x.ndim != 3:
            raise ValueError(f"{type(self).__name__} '{self.name}' expects 3-D input (samples, "
                             f"timesteps, features); got shape {tuple(x.shape)}.")
        mask = self._checked_mask(mask, x)
        states = self._initial_states(x, initial_state)
        dropout_mask, recurrent_dropout_mask = self._dropout_masks(x, training)
        cache = keeps_cache()  # inside no_cache() (predict, evaluate): the inference kernel
        B, T, I = x.shape
        kernels = backend.kernels_for(B * T * (I + self.units) * self.gates * self.units)
        # A forward-only pass that returns only the last step's h asks for that alone.
        sequences, kernel_cache = self._kernel_forward(
            kernels, x, states, mask=mask, dropout_mask=dropout_mask,
            recurrent_dropout_mask=recurrent_dropout_mask, cache=cache,
            sequences=cache or self.return_sequences)
        output_mask = None  # [B, steps returned, 1] in processing order, zero_output_for_mask
        if mask is not None and self.zero_output_for_mask:
            steps = mask[:, ::-1] if self.go_backwards else mask
            output_mask = steps[:, T - sequences[0].shape[1]:, None].astype(x.dtype)
        # backward runs on the kernel set that made the cache
        self._cache = (kernels, kernel_cache, output_mask) if cache else None
        if self.stateful:  # the next batch starts from this one's final states
            self.states = [sequence[:, -1].copy() for sequence in sequences]
        outputs = sequences[0] if output_mask is None else sequences[0] * output_mask
        output = outputs if self.return_sequences else outputs[:, -1]
        if not self.return_state:
            return output
        return [output] + [sequence[:, -1].copy() for sequence in sequences]

    def _checked_mask(self, mask, x):
        if mask is None:
            return None
        xp = backend.get_array_module(x)
        mask = xp.asarray(mask)
        if tuple(mask.shape) != tuple(x.shape[:2]):
            raise ValueError(
                f"The mask given to layer '{self.name}' must have shape (batch, timesteps) = "
                f"{tuple(x.shape[:2])}. Received: mask.shape={tuple(mask.shape)}")
        return mask.astype(bool)

    skips_input_gradient = True

    def backward(self, dy, input_grad=True):
        """Gradient of the output(s) -> gradient of the input; sets `grads`.

        With return_state, `dy` is a list [d_output, *d_states] (None entries
        mean zeros). The gradients of the initial states are kept in
        `initial_state_grads`. input_grad=False returns None instead of dx and
        skips its product (the input is data nothing differentiates).
        """
        if self._cache is None:
            raise RuntimeError(
                f"{type(self).__name__} '{self.name}'.backward needs a forward that kept its "
                "cache: the last forward ran inside `no_cache()` (predict, evaluate), which "
                "keeps none. Run forward again outside it, then backward.")
        kernels, kernel_cache, output_mask = self._cache
        d_states = [None] * self.state_count
        if self.return_state and isinstance(dy, (list, tuple)):
            dy, *d_states = dy
        if self.return_sequences:
            dhs = dy
        else:
            dhs = None
            if dy is not None:
                d_last = dy if output_mask is None else dy * output_mask[:, -1]
                d_states[0] = d_last if d_states[0] is None else d_states[0] + d_last
        if dhs is not None and output_mask is not None:
            dhs = dhs * output_mask
        dx, self.initial_state_grads, grads = self._kernel_backward(
            kernels, dhs, d_states, kernel_cache, input_grad)
        self.grads = grads if self.use_bias else grads[:-1]
        return dx

    def _kernel_forward(self, kernels, x, states, **masks):
        """Runs the cell's kernel: ([state sequences], cache)."""
        raise NotImplementedError

    def _kernel_backward(self, kernels, dhs, d_last_states, cache, input_grad):
        """Runs the cell's backward kernel: (dx or None, [d initial states], [weight grads])."""
        raise NotImplementedError

    def __call__(self, x, training=False, mask=None, initial_state=None):
        """Applies the layer to an array (building it on first use), or records a graph node."""
        if is_symbolic(x) or is_symbolic(initial_state):
            return super().__call__(x, initial_state=initial_state)
        xp = backend.xp()
        x = xp.asarray(x, dtype=self.dtype or backend.floatx())
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]) if not self.stateful
                       else (x.shape[0],) + tuple(x.shape[1:]))
        return self.forward(x, training=training, mask=mask, initial_state=initial_state)

    def get_config(self):
        return {
            **super().get_config(), "return_sequences": self.return_sequences,
            "return_state": self.return_state, "go_backwards": self.go_backwards,
            "stateful": self.stateful, "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask, "units": self.units,
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }

    def _weights_config(self):
        """Keras's initializer entries, and its regularizers and constraints (always None)."""
        config = {f"{kind}_initializer": serialize_initializer(getattr(self, f"{kind}_initializer"))
                  for kind in ("kernel", "recurrent", "bias")}
        return {**config, **{name: None for name in _UNSUPPORTED_EXTRAS}}
