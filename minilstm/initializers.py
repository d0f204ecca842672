"""Weight initializers with Keras's formulas.

Each initializer is called as `init(shape, dtype)` and returns a host NumPy
array; layers move it to the active array module. Draws come from NumPy's
global generator, so `minilstm.utils.set_random_seed(s)` makes them repeat.
"""

import math

import numpy as np


class Initializer:
    """Base class: `__call__(shape, dtype)` returns a NumPy array."""

    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError

    def get_config(self):
        return {}


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype="float32"):
        return np.zeros(shape, dtype=dtype)


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype="float32"):
        return np.ones(shape, dtype=dtype)


class Constant(Initializer):
    """Every entry equal to `value`."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype="float32"):
        return np.full(shape, self.value, dtype=dtype)


class RandomUniform(Initializer):
    """Uniform in [minval, maxval); Keras defaults -0.05, 0.05."""

    def __init__(self, minval=-0.05, maxval=0.05):
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype="float32"):
        return np.random.uniform(self.minval, self.maxval, size=shape).astype(dtype)


class RandomNormal(Initializer):
    """Normal with Keras defaults mean 0, stddev 0.05."""

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype="float32"):
        return np.random.normal(self.mean, self.stddev, size=shape).astype(dtype)


def _fans(shape):
    # Keras: a 2-D shape is (fan_in, fan_out); a 1-D shape uses its length for both.
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class VarianceScaling(Initializer):
    """Scale / fan, uniform or truncated normal, as Keras's VarianceScaling."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal"):
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = _fans(tuple(shape))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return np.random.uniform(-limit, limit, size=shape).astype(dtype)
        # Truncated at two standard deviations; the constant restores the variance.
        stddev = math.sqrt(variance) / 0.87962566103423978
        values = np.random.normal(0.0, stddev, size=shape)
        outside = np.abs(values) > 2 * stddev
        while outside.any():
            values[outside] = np.random.normal(0.0, stddev, size=int(outside.sum()))
            outside = np.abs(values) > 2 * stddev
        return values.astype(dtype)


class GlorotUniform(VarianceScaling):
    """U(-L, L) with L = sqrt(6 / (fan_in + fan_out))."""

    def __init__(self):
        super().__init__(1.0, "fan_avg", "uniform")


class GlorotNormal(VarianceScaling):
    """Truncated normal with stddev sqrt(2 / (fan_in + fan_out))."""

    def __init__(self):
        super().__init__(1.0, "fan_avg", "truncated_normal")


class HeUniform(VarianceScaling):
    """U(-L, L) with L = sqrt(6 / fan_in)."""

    def __init__(self):
        super().__init__(2.0, "fan_in", "uniform")


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times `gain`, drawn as Keras does.

    QR of a (max(rows, cols), min(rows, cols)) standard normal draw, signs
    fixed by diag(R), transposed when rows < cols: for an LSTM's
    (units, 4*units) recurrent kernel the rows come out orthonormal.
    """

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype="float32"):
        rows = math.prod(shape[:-1])
        cols = shape[-1]
        draw = np.random.normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(draw)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype)


_BY_NAME = {
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "random_uniform": RandomUniform, "uniform": RandomUniform,
    "random_normal": RandomNormal, "normal": RandomNormal,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "orthogonal": Orthogonal,
}
_CLASS_NAMES = {cls.__name__: cls for cls in _BY_NAME.values()}


def get(identifier):
    """An initializer from a name ('glorot_uniform', 'GlorotUniform'), instance or callable."""
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _CLASS_NAMES.get(identifier)
        if cls is None:
            raise ValueError(
                f"Could not interpret initializer identifier: {identifier!r}. "
                f"Expected one of {sorted(_BY_NAME)}, or an Initializer instance."
            )
        return cls()
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret initializer identifier: {identifier!r}.")
