"""Embedding: integer token ids -> rows of a trainable (input_dim, output_dim) table."""

import warnings

import numpy as np

from .. import backend, initializers
from .base import Layer
from .node import is_symbolic


def _positive_int(value, argument):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"`{argument}` must be a positive integer. Received: {argument}="
                         f"{value!r} (of type {type(value).__name__}).")
    return int(value)


class Embedding(Layer):
    """Turns integer token ids into dense vectors: `output = embeddings[ids]`.

    Ids are checked before anything runs: integers in [0, input_dim), or floats that
    hold integral values (cast, since a model's float input often carries ids); any
    other value raises a ValueError naming it.

    Args:
        input_dim: size of the vocabulary (largest id + 1).
        output_dim: size of each embedding vector.
        embeddings_initializer: default 'uniform' (RandomUniform(-0.05, 0.05)).
        embeddings_regularizer, embeddings_constraint: only None is supported
            (anything else raises NotImplementedError rather than being ignored).
        mask_zero: whether id 0 is padding: the layer then emits the mask `ids != 0`,
            which recurrent layers honour. Default False.
        weights: optional initial table, (input_dim, output_dim) or a list holding it.
        input_length: Keras 2's argument, deprecated in Keras 3. Accepted with a
            warning; when no input shape is given it declares `input_shape=(input_length,)`
            so that a Keras 2 Sequential model still knows its input shape.

    Input shape: (batch, ...) integer ids, usually (batch, timesteps).
    Output shape: (batch, ..., output_dim).

    >>> import numpy as np
    >>> layer = Embedding(10, 3, mask_zero=True)
    >>> layer(np.array([[4, 2, 0]])).shape
    (1, 3, 3)
    >>> layer.compute_mask(np.array([[4, 2, 0]])).tolist()
    [[True, True, False]]
    """

    input_dtype = "int32"  # what a Sequential model starting with an Embedding feeds it

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, input_length=None, **kwargs):
        input_dim = _positive_int(input_dim, "input_dim")
        output_dim = _positive_int(output_dim, "output_dim")
        for name, value in (("embeddings_regularizer", embeddings_regularizer),
                            ("embeddings_constraint", embeddings_constraint),
                            ("activity_regularizer", kwargs.pop("activity_regularizer", None))):
            if value is not None:
                raise NotImplementedError(
                    f"Embedding: `{name}` is not supported by minilstm. Received: "
                    f"{name}={value!r}. Remove the argument (or pass {name}=None).")
        if not isinstance(mask_zero, (bool, np.bool_)):
            raise TypeError(f"`mask_zero` must be True or False. Received: mask_zero={mask_zero!r}")
        if input_length is not None:
            warnings.warn("Argument `input_length` is deprecated. Just remove it.", stacklevel=2)
            if not any(kwargs.get(k) is not None for k in ("input_shape", "batch_input_shape")):
                kwargs["input_shape"] = (_positive_int(input_length, "input_length"),)
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = input_dim, output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        if weights is not None:  # the table exists now; the shapes are set at first call
            self._add_table()
            self.set_weights(weights if isinstance(weights, list) and len(weights) == 1
                             else [weights])

    def _add_table(self):
        if "embeddings" not in self._weight_names:
            self.add_weight("embeddings", (self.input_dim, self.output_dim),
                            self.embeddings_initializer)

    def build(self, input_shape):
        self._add_table()
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def _check_call_shape(self, shape):
        """Any shape of ids works: a shared Embedding may read sequences of other lengths."""

    def _output_dtype(self, inputs):
        return self.dtype or backend.floatx()

    def _ids(self, x):
        """`x` as integer indices of the table, or an error naming the offending value."""
        xp = backend.get_array_module(self.embeddings)
        ids = xp.asarray(x)
        kind = ids.dtype.kind
        if kind not in "iuf":
            raise TypeError(f"Layer '{self.name}' (Embedding) expects integer token ids. "
                            f"Received an input of dtype {ids.dtype}.")
        if ids.size == 0:
            return ids.astype(np.intp)
        if kind == "f":
            bad = ~xp.isfinite(ids) | (ids != xp.floor(ids))
            if bool(bad.any()):
                value = ids[tuple(int(k[0]) for k in xp.nonzero(bad))]
                raise ValueError(
                    f"Layer '{self.name}' (Embedding) expects integer token ids; received a "
                    f"float input holding the non-integral value {float(value)!r}. Pass "
                    "integer ids (e.g. `x.astype('int32')`).")
        low, high = ids.min(), ids.max()
        if low < 0 or high >= self.input_dim:
            value = low if low < 0 else high
            raise ValueError(
                f"Layer '{self.name}' (Embedding) received token id {int(value.item())}, outside "
                f"[0, input_dim={self.input_dim}). Ids must be in [0, {self.input_dim - 1}]; "
                "raise `input_dim` to the vocabulary size (largest id + 1).")
        return ids.astype(np.intp)

    def forward(self, x, training=False, mask=None):
        ids = self._ids(x)
        self._cache = ids
        return self.embeddings[ids]

    def backward(self, dy):
        """Scatter-adds the rows of dy into the table's gradient; ids have no gradient.

        One bincount over (id, column) pairs: repeated ids add up, on numpy and cupy alike.
        """
        ids = self._cache
        xp = backend.get_array_module(dy)
        rows, width = ids.size, self.output_dim
        flat = (ids.reshape(rows, 1) * width + xp.arange(width)).reshape(-1)
        totals = xp.bincount(flat, weights=dy.reshape(-1), minlength=self.input_dim * width)
        self.grads = [totals.reshape(self.input_dim, width).astype(self.embeddings.dtype)]
        return None

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return backend.get_array_module(inputs).asarray(inputs) != 0

    def __call__(self, x, training=False, mask=None):
        """Applies the layer to ids (not cast to float), or records a graph node."""
        if is_symbolic(x):
            return super().__call__(x, training=training)
        ids = backend.xp().asarray(x)
        if not self.built:
            self.build((None,) + tuple(ids.shape[1:]))
        return self.forward(ids, training=training)

    def get_config(self):
        return {
            **super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": None, "activity_regularizer": None,
            "embeddings_constraint": None, "mask_zero": self.mask_zero,
        }
