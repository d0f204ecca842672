"""LayerNormalization and BatchNormalization, with Keras 3's formulas and backward passes.

Both compute `y = (x - mean) / sqrt(var + epsilon) * gamma + beta`; they differ
in which axes the statistics are taken over:

- LayerNormalization: over `axis` (the features of each sample), always.
- BatchNormalization: over every axis but `axis` (the batch, and the steps of a
  sequence) while training, keeping moving averages of them; at inference it
  uses the moving averages.

Variances are biased (divided by N), as in Keras. Backward writes `xhat =
(x - mean) * inv` with `inv = 1 / sqrt(var + epsilon)` and walks back through
`inv`, `var` and `mean` (see `_moments_backward`).
"""

import numbers

import numpy as np

from .. import backend, initializers
from .base import Layer
from .convolutional import _reject_unsupported, _serialize_initializer


def _moments_backward(dxhat, centered, inv, weights, axes):
    """dx of `xhat = (x - mean) * inv` through weighted batch statistics.

    mean = Σ w·x and var = Σ w·(x - mean)² over `axes` (w = 1/N without a mask;
    mask/(count + 1e-7) with one, as Keras's masked moments), inv = (var + ε)^-1/2.
    """
    # xhat = centered * inv
    dcentered = dxhat * inv
    dinv = (dxhat * centered).sum(axis=axes, keepdims=True)
    # inv = (var + eps)^-1/2  ->  d inv / d var = -inv³ / 2
    dvar = -0.5 * dinv * inv**3
    # var = Σ w · centered²
    dcentered = dcentered + dvar * 2 * weights * centered
    # centered = x - mean, mean = Σ w · x
    dmean = -dcentered.sum(axis=axes, keepdims=True)
    return dcentered + weights * dmean


class LayerNormalization(Layer):
    """Normalises each sample over `axis`: `(x - mean) / sqrt(var + epsilon) * gamma + beta`.

    Args:
        axis: integer or list of integers, the axes normalised together; default
            -1 (the features).
        epsilon: small float added to the variance; default 1e-3.
        center: whether to add the learned offset `beta`; default True.
        scale: whether to multiply by the learned `gamma`; default True.
        beta_initializer: default 'zeros'.
        gamma_initializer: default 'ones'.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint:
            not implemented; must stay None. `rms_scaling=True` (deprecated in
            Keras) is not implemented either.

    Input shape: any. Output shape: same as input.
    Weights, in Keras order: gamma (if scale), beta (if center), each of the
    normalised axes' shape.

    >>> import numpy as np
    >>> from minilstm.layers.normalization import LayerNormalization
    >>> y = LayerNormalization()(np.array([[1.0, 2.0, 3.0]]))
    >>> [round(float(v), 4) for v in y[0]]
    [-1.2238, 0.0, 1.2238]
    """

    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        if kwargs.pop("rms_scaling", False):
            raise NotImplementedError(
                "LayerNormalization in minilstm does not implement rms_scaling=True (deprecated "
                "in Keras, which recommends keras.layers.RMSNormalization).")
        _reject_unsupported("LayerNormalization", beta_regularizer=beta_regularizer,
                            gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                            gamma_constraint=gamma_constraint)
        if isinstance(axis, (list, tuple)) and axis and all(_is_int(a) for a in axis):
            axis = [int(a) for a in axis]
        elif _is_int(axis):
            axis = int(axis)
        else:
            raise TypeError("Expected an int or a list/tuple of ints for the argument 'axis', "
                            f"but received: {axis!r}")
        epsilon = _positive_float(epsilon, "epsilon")
        super().__init__(**kwargs)
        self.axis, self.epsilon = axis, epsilon
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self.compute_output_shape(input_shape)
        # Keras: the axes sorted as given; the weights take those axes' sizes, in that order
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        shape = tuple(input_shape[a] for a in self.axis)
        if any(size is None for size in shape):
            raise ValueError(f"Layer '{self.name}' normalises over axis={self.axis}, which must "
                             f"have known sizes. Full input shape received: {input_shape}")
        if self.scale:
            self.add_weight("gamma", shape, self.gamma_initializer)
        if self.center:
            self.add_weight("beta", shape, self.beta_initializer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        for axis in self.axis if isinstance(self.axis, list) else [self.axis]:
            if not -len(input_shape) <= axis < len(input_shape):
                raise ValueError(f"Axis {axis} is out of bounds for input shape "
                                 f"{tuple(input_shape)}. Received: axis={self.axis}")
        return tuple(input_shape)

    def _broadcast(self, value, ndim, shape):
        broadcast_shape = [1] * ndim
        for axis in self.axis:
            broadcast_shape[axis] = shape[axis]
        return value.reshape(broadcast_shape)

    def forward(self, x, training=False, mask=None):
        self.compute_output_shape(tuple(x.shape))
        axes = tuple(a % x.ndim for a in self.axis)
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        inv = 1.0 / backend.get_array_module(x).sqrt(
            (centered * centered).mean(axis=axes, keepdims=True) + self.epsilon)
        xhat = centered * inv
        y = xhat
        if self.scale:
            y = y * self._broadcast(self.gamma, x.ndim, x.shape)
        if self.center:
            y = y + self._broadcast(self.beta, x.ndim, x.shape)
        self._cache = (centered, inv, xhat, axes)
        return y

    def backward(self, dy):
        centered, inv, xhat, axes = self._cache
        other_axes = tuple(a for a in range(dy.ndim) if a not in axes)
        self.grads = []
        dxhat = dy
        if self.scale:
            dxhat = dy * self._broadcast(self.gamma, dy.ndim, dy.shape)
            self.grads.append((dy * xhat).sum(axis=other_axes).reshape(self.gamma.shape))
        if self.center:
            self.grads.append(dy.sum(axis=other_axes).reshape(self.beta.shape))
        count = int(np.prod([dy.shape[a] for a in axes]))
        return _moments_backward(dxhat, centered, inv, 1.0 / count, axes)

    def get_config(self):
        return {
            **super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale, "rms_scaling": False,
            "beta_initializer": _serialize_initializer(self.beta_initializer),
            "gamma_initializer": _serialize_initializer(self.gamma_initializer),
            "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
            "gamma_constraint": None,
        }


class BatchNormalization(Layer):
    """Normalises over the batch (and steps) with batch statistics, moving averages at inference.

    While training (`training=True` and the layer trainable) each call uses the
    batch's mean and biased variance over every axis but `axis`, and updates

        moving_mean = moving_mean * momentum + mean * (1 - momentum)
        moving_variance = moving_variance * momentum + variance * (1 - momentum)

    in place. Otherwise it uses the moving statistics. In both cases
    `y = (x - mean) / sqrt(variance + epsilon) * gamma + beta`. A frozen layer
    (`trainable=False`) runs in inference mode even when training, as in Keras 3.

    The moving statistics are non-trainable weights: the optimizer never
    changes them (`_trainable_flags()` marks them False; their gradients are
    zeros), only the training forward does.

    Args:
        axis: integer, the features axis kept; default -1.
        momentum: float, default 0.99.
        epsilon: small float added to the variance; default 1e-3.
        center: whether to add the learned offset `beta`; default True.
        scale: whether to multiply by the learned `gamma`; default True.
        beta_initializer: default 'zeros'.
        gamma_initializer: default 'ones'.
        moving_mean_initializer: default 'zeros'.
        moving_variance_initializer: default 'ones'.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint,
        renorm=True, synchronized=True: not implemented.

    Call arguments:
        training: batch statistics (True) or moving statistics (False).
        mask: optional array with one axis fewer than the input (batch, steps):
            the batch statistics count only the True steps, as in Keras 3.

    Input shape: any. Output shape: same as input.
    Weights, in Keras order: gamma (if scale), beta (if center), moving_mean,
    moving_variance, each (features,).

    >>> import numpy as np
    >>> from minilstm.layers.normalization import BatchNormalization
    >>> layer = BatchNormalization(momentum=0.5)
    >>> y = layer(np.array([[0.0], [2.0]]), training=True)
    >>> [round(float(v), 4) for v in y[:, 0]], layer.moving_mean.tolist()
    ([-0.9995, 0.9995], [0.5])
    """

    supports_masking = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, renorm=False, renorm_clipping=None, renorm_momentum=0.99,
                 synchronized=False, **kwargs):
        if renorm or synchronized:
            raise NotImplementedError(
                "BatchNormalization in minilstm does not implement batch renormalization or "
                f"synchronized statistics. Received: renorm={renorm!r}, "
                f"synchronized={synchronized!r}; leave both False.")
        _reject_unsupported("BatchNormalization", beta_regularizer=beta_regularizer,
                            gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                            gamma_constraint=gamma_constraint)
        if not _is_int(axis):
            raise TypeError(f"`axis` must be an integer. Received: axis={axis!r}")
        if not isinstance(momentum, numbers.Real) or not 0 <= momentum <= 1:
            raise ValueError("`momentum` must be a float in [0, 1]. "
                             f"Received: momentum={momentum!r}")
        epsilon = _positive_float(epsilon, "epsilon")
        super().__init__(**kwargs)
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), epsilon
        self.center, self.scale = bool(center), bool(scale)
        self.renorm_clipping, self.renorm_momentum = renorm_clipping, renorm_momentum
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self.compute_output_shape(input_shape)
        features = input_shape[self.axis]
        if features is None:
            raise ValueError(f"Axis {self.axis} of the input to layer '{self.name}' must have a "
                             f"known size. Full input shape received: {input_shape}")
        shape = (int(features),)
        if self.scale:
            self.add_weight("gamma", shape, self.gamma_initializer)
        if self.center:
            self.add_weight("beta", shape, self.beta_initializer)
        self.add_weight("moving_mean", shape, self.moving_mean_initializer)
        self.add_weight("moving_variance", shape, self.moving_variance_initializer)
        super().build(input_shape)

    def _trainable_flags(self):
        """gamma and beta follow `trainable`; the moving statistics are never trainable."""
        return [self.trainable] * (len(self.weights) - 2) + [False, False]

    def compute_output_shape(self, input_shape):
        if not -len(input_shape) <= self.axis < len(input_shape):
            raise ValueError(f"Axis {self.axis} is out of bounds for input shape "
                             f"{tuple(input_shape)}. Received: axis={self.axis}")
        return tuple(input_shape)

    def _per_feature(self, value, ndim):
        """(features,) -> broadcastable against the input: features at `axis`, 1 elsewhere."""
        shape = [1] * ndim
        shape[self.axis % ndim] = -1
        return value.reshape(shape)

    def _batch_moments(self, x, mask, axes):
        """(mean, variance, weights): weights w give mean = Σ w·x, variance = Σ w·(x - mean)²."""
        xp = backend.get_array_module(x)
        if mask is None:
            weights = 1.0 / int(np.prod([x.shape[a] for a in axes]))
        else:
            mask = xp.asarray(mask)
            if mask.ndim != x.ndim - 1:
                raise ValueError("The mask provided should be one dimension less than the "
                                 f"inputs. Received: mask.shape={tuple(mask.shape)}, "
                                 f"inputs.shape={tuple(x.shape)}")
            mask = xp.broadcast_to(xp.expand_dims(mask.astype(bool), -1), x.shape)
            count = mask.sum(axis=axes, keepdims=True).astype(x.dtype)
            weights = mask / (count + backend.epsilon())  # Keras's masked moments
        mean = (x * weights).sum(axis=axes, keepdims=True)
        centered = x - mean
        variance = (weights * centered * centered).sum(axis=axes, keepdims=True)
        return mean, variance, weights

    def forward(self, x, training=False, mask=None):
        self.compute_output_shape(tuple(x.shape))
        xp = backend.get_array_module(x)
        axes = tuple(a for a in range(x.ndim) if a != self.axis % x.ndim)
        batch_mode = bool(training) and self.trainable
        if batch_mode:
            mean, variance, weights = self._batch_moments(x, mask, axes)
            momentum = self.momentum
            # the only place the moving statistics change (in place: optimizers key by array)
            self.moving_mean[...] = (self.moving_mean * momentum
                                     + mean.reshape(-1) * (1.0 - momentum))
            self.moving_variance[...] = (self.moving_variance * momentum
                                         + variance.reshape(-1) * (1.0 - momentum))
        else:
            mean = self._per_feature(self.moving_mean, x.ndim)
            variance = self._per_feature(self.moving_variance, x.ndim)
            weights = None
        centered = x - mean
        inv = 1.0 / xp.sqrt(variance + self.epsilon)
        xhat = centered * inv
        y = xhat
        if self.scale:
            y = y * self._per_feature(self.gamma, x.ndim)
        if self.center:
            y = y + self._per_feature(self.beta, x.ndim)
        self._cache = (centered, inv, xhat, weights, axes)
        return y

    def backward(self, dy):
        centered, inv, xhat, weights, axes = self._cache
        xp = backend.get_array_module(dy)
        self.grads = []
        dxhat = dy
        if self.scale:
            dxhat = dy * self._per_feature(self.gamma, dy.ndim)
            self.grads.append((dy * xhat).sum(axis=axes))
        if self.center:
            self.grads.append(dy.sum(axis=axes))
        self.grads += [xp.zeros_like(self.moving_mean), xp.zeros_like(self.moving_variance)]
        if weights is None:  # inference: mean and variance are constants
            return dxhat * inv
        return _moments_backward(dxhat, centered, inv, weights, axes)

    def get_config(self):
        return {
            **super().get_config(), "axis": self.axis, "momentum": self.momentum,
            "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
            "beta_initializer": _serialize_initializer(self.beta_initializer),
            "gamma_initializer": _serialize_initializer(self.gamma_initializer),
            "moving_mean_initializer": _serialize_initializer(self.moving_mean_initializer),
            "moving_variance_initializer": _serialize_initializer(
                self.moving_variance_initializer),
            "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
            "gamma_constraint": None, "synchronized": False, "renorm": False,
            "renorm_clipping": self.renorm_clipping, "renorm_momentum": self.renorm_momentum,
        }


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _positive_float(value, argument):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"`{argument}` must be a positive float. Received: {argument}={value!r}")
    return float(value)
