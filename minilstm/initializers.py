"""Weight initializers with Keras 3's formulas, names and configs.

Each initializer is called as `init(shape, dtype=None)` and returns a host
NumPy array of `dtype` (default `backend.floatx()`); layers move it to the
active array module.

Randomness: an unseeded initializer draws from NumPy's global generator, so
`minilstm.utils.set_random_seed(s)` makes a model's weights repeat. A
`seed=` gives the initializer its own stream, restarted on every call, so a
seeded instance returns the same values each time, as in Keras 3.
"""

import difflib
import math
import re

import numpy as np

from . import backend

# Keras's stddev of a unit normal truncated to [-2, 2]; dividing by it keeps
# the variance of a truncated draw at scale / n.
_TRUNCATED_NORMAL_STDDEV = 0.87962566103423978


def _shape(shape):
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(dim) for dim in shape)


def _dtype(dtype):
    return np.dtype(backend.floatx() if dtype is None else dtype)


class Initializer:
    """Base class: `__call__(shape, dtype=None)` returns a NumPy array.

    A subclass implements `__call__` and, if it takes arguments, `get_config`
    returning them by name; `from_config(config)` is then `cls(**config)`.
    """

    def __call__(self, shape, dtype=None):
        raise NotImplementedError("Initializer subclasses must implement the `__call__()` method.")

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def clone(self):
        return self.__class__.from_config(self.get_config())

    def __repr__(self):
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"


# -- constants -----------------------------------------------------------------


class Zeros(Initializer):
    """All zeros.

    >>> Zeros()((2, 3)).tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """

    def __call__(self, shape, dtype=None):
        return np.zeros(_shape(shape), dtype=_dtype(dtype))


class Ones(Initializer):
    """All ones.

    >>> Ones()(3, dtype="int32").tolist()
    [1, 1, 1]
    """

    def __call__(self, shape, dtype=None):
        return np.ones(_shape(shape), dtype=_dtype(dtype))


class Constant(Initializer):
    """Every entry equal to `value`.

    Args:
        value: a Python scalar; default 0.0.

    >>> Constant(0.5)((2,)).tolist()
    [0.5, 0.5]
    """

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(_shape(shape), self.value, dtype=_dtype(dtype))

    def get_config(self):
        return {"value": self.value}


class Identity(Initializer):
    """The identity matrix times `gain`; 2-D shapes only.

    A non-square shape gives `gain * eye(rows, cols)`, ones on the main
    diagonal, as Keras does. `SimpleRNN(recurrent_initializer='identity')`
    with relu is the IRNN of Le et al., 2015.

    Args:
        gain: multiplicative factor; default 1.0.

    >>> Identity(gain=2.0)((2, 3)).tolist()
    [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]
    """

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D matrices. "
                f"Received: shape={shape} of rank {len(shape)}."
            )
        return (self.gain * np.eye(*shape)).astype(_dtype(dtype))

    def get_config(self):
        # Keras 3 returns {} here and so loses `gain` on a round trip; keep it.
        return {"gain": self.gain}


# -- random --------------------------------------------------------------------


class RandomInitializer(Initializer):
    """Base of the random initializers: owns `seed` and the generator it implies."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(
                f"`seed` argument should be an integer or None. Received: seed={seed!r}"
            )
        self.seed = None if seed is None else int(seed)

    def _rng(self):
        if self.seed is None:
            return np.random  # the global generator that utils.set_random_seed seeds
        # A fresh stream per call: the same values every call, as Keras 3.
        return np.random.RandomState(self.seed % 2**32)

    def get_config(self):
        return {"seed": self.seed}


def _truncated_normal(rng, mean, stddev, shape):
    # Draws more than two standard deviations from the mean are drawn again.
    values = np.asarray(rng.normal(mean, stddev, size=shape))
    outside = np.abs(values - mean) > 2 * stddev
    while outside.any():
        values[outside] = rng.normal(mean, stddev, size=int(outside.sum()))
        outside = np.abs(values - mean) > 2 * stddev
    return values


class RandomUniform(RandomInitializer):
    """Uniform in [minval, maxval).

    Args:
        minval: lower bound, inclusive; default -0.05.
        maxval: upper bound, exclusive; default 0.05.
        seed: an integer for a fixed stream, or None (default) for NumPy's global one.

    >>> values = RandomUniform(0.0, 1.0, seed=1)((100,))
    >>> bool(values.min() >= 0.0 and values.max() < 1.0)
    True
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = minval, maxval
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        values = self._rng().uniform(self.minval, self.maxval, size=_shape(shape))
        return np.asarray(values).astype(_dtype(dtype))

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


class RandomNormal(RandomInitializer):
    """Normal with mean `mean` and standard deviation `stddev`.

    Args:
        mean: default 0.0.
        stddev: default 0.05.
        seed: an integer for a fixed stream, or None (default) for NumPy's global one.

    >>> RandomNormal(stddev=1.0, seed=2)((3, 4)).shape
    (3, 4)
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        values = self._rng().normal(self.mean, self.stddev, size=_shape(shape))
        return np.asarray(values).astype(_dtype(dtype))

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomInitializer):
    """Normal, with values more than two `stddev` from `mean` drawn again.

    Args:
        mean: default 0.0.
        stddev: default 0.05 (of the normal before truncation).
        seed: an integer for a fixed stream, or None (default) for NumPy's global one.

    >>> values = TruncatedNormal(stddev=1.0, seed=3)((1000,))
    >>> bool(np.abs(values).max() <= 2.0)
    True
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        values = _truncated_normal(self._rng(), self.mean, self.stddev, _shape(shape))
        return values.astype(_dtype(dtype))

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


def compute_fans(shape, input_axes=None, output_axes=None):
    """(fan_in, fan_out) of a weight shape, as Keras computes them.

    1-D: both are the length. 2-D: (rows, cols). Higher rank (a convolution
    kernel `(..., in, out)`): each is multiplied by the product of the
    leading axes. `input_axes` and `output_axes`, given together, name the
    axes whose sizes multiply into each fan instead.

    >>> compute_fans((3, 4)), compute_fans((5,)), compute_fans((2, 3, 4))
    ((3, 4), (5, 5), (6, 8))
    """
    shape = _shape(shape)
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class VarianceScaling(RandomInitializer):
    """Values with variance `scale / n`, n a fan of the weight's shape.

    `n` is fan_in, fan_out or their mean (`mode`), at least 1. `'uniform'`
    draws from [-limit, limit] with `limit = sqrt(3 * scale / n)`;
    `'truncated_normal'` from a normal of stddev
    `sqrt(scale / n) / 0.87962566103423978` truncated at two stddev (so the
    truncated draw has variance `scale / n`); `'untruncated_normal'` from a
    normal of stddev `sqrt(scale / n)`.

    Args:
        scale: positive float; default 1.0.
        mode: 'fan_in' (default), 'fan_out' or 'fan_avg'.
        distribution: 'truncated_normal' (default; 'normal' is read as it),
            'untruncated_normal' or 'uniform'.
        seed: an integer for a fixed stream, or None (default) for NumPy's global one.
        input_axes, output_axes: optional axes for the fans; see `compute_fans`.

    >>> values = VarianceScaling(2.0, "fan_in", "uniform", seed=4)((50, 10))
    >>> bool(np.abs(values).max() <= math.sqrt(3 * 2.0 / 50))
    True
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        modes = ("fan_in", "fan_out", "fan_avg")
        if mode not in modes:
            raise ValueError(f"Invalid `mode` argument: {mode!r}. Please use one of {modes}")
        distribution = str(distribution).lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        distributions = ("truncated_normal", "untruncated_normal", "uniform")
        if distribution not in distributions:
            raise ValueError(
                f"Invalid `distribution` argument: {distribution!r}. "
                f"Please use one of {distributions}"
            )
        self.scale, self.mode, self.distribution = scale, mode, distribution
        self.input_axes, self.output_axes = input_axes, output_axes
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            values = np.asarray(rng.uniform(-limit, limit, size=shape))
        elif self.distribution == "untruncated_normal":
            values = np.asarray(rng.normal(0.0, math.sqrt(variance), size=shape))
        else:
            stddev = math.sqrt(variance) / _TRUNCATED_NORMAL_STDDEV
            values = _truncated_normal(rng, 0.0, stddev, shape)
        return values.astype(_dtype(dtype))

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "input_axes": self.input_axes,
                "output_axes": self.output_axes}


class _Preset(VarianceScaling):
    # A named VarianceScaling: (scale, mode, distribution) fixed by the class.
    _PRESET = None

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(*self._PRESET, seed=seed, input_axes=input_axes,
                         output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class GlorotUniform(_Preset):
    """Uniform in [-L, L], L = sqrt(6 / (fan_in + fan_out)).

    VarianceScaling(1.0, 'fan_avg', 'uniform'), Keras's default kernel initializer.

    Args:
        seed: an integer for a fixed stream, or None (default) for NumPy's global one.
        input_axes, output_axes: optional axes for the fans; see `compute_fans`.

    >>> values = GlorotUniform(seed=5)((3, 4))
    >>> bool(np.abs(values).max() <= math.sqrt(6 / (3 + 4)))
    True
    """

    _PRESET = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Preset):
    """Truncated normal, variance 2 / (fan_in + fan_out): VarianceScaling(1, 'fan_avg').

    Args:
        seed: an integer for a fixed stream, or None (default) for NumPy's global one.
        input_axes, output_axes: optional axes for the fans; see `compute_fans`.

    >>> GlorotNormal(seed=6)((3, 4)).dtype
    dtype('float32')
    """

    _PRESET = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_Preset):
    """Uniform in [-L, L], L = sqrt(6 / fan_in): VarianceScaling(2, 'fan_in', 'uniform').

    Args:
        seed: an integer for a fixed stream, or None (default) for NumPy's global one.
        input_axes, output_axes: optional axes for the fans; see `compute_fans`.

    >>> bool(np.abs(HeUniform(seed=7)((6, 2))).max() <= 1.0)
    True
    """

    _PRESET = (2.0, "fan_in", "uniform")


class HeNormal(_Preset):
    """Truncated normal, variance 2 / fan_in: VarianceScaling(2, 'fan_in').

    Args:
        seed: an integer for a fixed stream, or None (default) for NumPy's global one.
        input_axes, output_axes: optional axes for the fans; see `compute_fans`.

    >>> HeNormal(seed=8)((4, 2)).shape
    (4, 2)
    """

    _PRESET = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_Preset):
    """Uniform in [-L, L], L = sqrt(3 / fan_in): VarianceScaling(1, 'fan_in', 'uniform').

    Args:
        seed: an integer for a fixed stream, or None (default) for NumPy's global one.
        input_axes, output_axes: optional axes for the fans; see `compute_fans`.

    >>> bool(np.abs(LecunUniform(seed=9)((3, 2))).max() <= 1.0)
    True
    """

    _PRESET = (1.0, "fan_in", "uniform")


class LecunNormal(_Preset):
    """Truncated normal, variance 1 / fan_in: VarianceScaling(1, 'fan_in').

    Args:
        seed: an integer for a fixed stream, or None (default) for NumPy's global one.
        input_axes, output_axes: optional axes for the fans; see `compute_fans`.

    >>> LecunNormal(seed=10)((4, 2)).shape
    (4, 2)
    """

    _PRESET = (1.0, "fan_in", "truncated_normal")


class Orthogonal(RandomInitializer):
    """A (semi-)orthogonal matrix times `gain`, drawn as Keras does.

    QR of a (max(rows, cols), min(rows, cols)) standard normal draw, signs
    fixed by diag(R), transposed when rows < cols: for an LSTM's
    (units, 4*units) recurrent kernel the rows come out orthonormal. A shape
    of rank > 2 is drawn as (prod(shape[:-1]), shape[-1]) and reshaped.

    Args:
        gain: multiplicative factor; default 1.0.
        seed: an integer for a fixed stream, or None (default) for NumPy's global one.

    >>> q = Orthogonal(seed=11)((2, 8))
    >>> np.allclose(q @ q.T, np.eye(2), atol=1e-6)
    True
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError(
                "The tensor to initialize must be at least two-dimensional. "
                f"Received: shape={shape} of rank {len(shape)}."
            )
        rows, cols = math.prod(shape[:-1]), shape[-1]
        draw = self._rng().normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(draw)
        q *= np.sign(np.diag(r))  # makes the draw uniform over orthogonal matrices
        if rows < cols:
            q = q.T
        return np.ascontiguousarray(self.gain * q).reshape(shape).astype(_dtype(dtype))

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


# -- lookup --------------------------------------------------------------------

_CLASSES = (
    Zeros, Ones, Constant, Identity, RandomUniform, RandomNormal, TruncatedNormal,
    VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform,
    LecunNormal, Orthogonal,
)
# Keras's snake_case names ('glorot_uniform') and its aliases.
_SNAKE_NAMES = {re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower(): cls for cls in _CLASSES}
_ALIASES = {"uniform": RandomUniform, "normal": RandomNormal, "zero": Zeros, "one": Ones,
            "IdentityInitializer": Identity, "OrthogonalInitializer": Orthogonal}
_BY_NAME = {**{cls.__name__: cls for cls in _CLASSES}, **_SNAKE_NAMES, **_ALIASES}


def names():
    """The snake_case names and short aliases `get` accepts (class names work too)."""
    return sorted(name for name in _BY_NAME if name.islower())


def _expected():
    return (f"Expected one of {names()}, a class name such as 'GlorotUniform', an Initializer "
            "instance, a dict {'class_name': ..., 'config': {...}}, or a callable "
            "f(shape, dtype=None).")


def _class(name):
    if name in _BY_NAME:
        return _BY_NAME[name]
    close = difflib.get_close_matches(name, list(_BY_NAME), n=1)
    raise ValueError(f"Could not interpret initializer identifier: {name!r}. {_expected()}"
                     + (f" Did you mean {close[0]!r}?" if close else ""))


def serialize(initializer):
    """Keras's dict form of an Initializer instance.

    >>> serialize(Orthogonal(gain=2.0))["config"]
    {'seed': None, 'gain': 2.0}
    """
    if not isinstance(initializer, Initializer):
        raise ValueError(
            f"Only Initializer instances can be serialized. Received: {initializer!r}"
        )
    return {"module": "keras.initializers", "class_name": type(initializer).__name__,
            "config": initializer.get_config(), "registered_name": None}


def deserialize(config):
    """An initializer from `serialize`'s dict, or {'class_name': ..., 'config': {...}}."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(
            "Could not deserialize initializer: expected a dict with a 'class_name' string "
            f"and a 'config' dict. Received: {config!r}"
        )
    return _class(config["class_name"]).from_config(config.get("config") or {})


def _from_array(array):
    def initialize_fn(shape, dtype=None):
        if _shape(shape) != array.shape:
            raise ValueError(f"Expected `shape` to be {array.shape} for direct tensor as "
                             f"initializer. Received shape={shape}")
        return array.astype(_dtype(dtype))
    return initialize_fn


def get(identifier):
    """An initializer from a name, class, instance, config dict, array or callable.

    Names are Keras's snake_case ('glorot_uniform'), class names
    ('GlorotUniform') and the aliases 'uniform', 'normal', 'zero', 'one'.
    Instances and callables `f(shape, dtype=None)` pass through; a class is
    instantiated; an array becomes an initializer returning it (shapes must
    match); None stays None.

    >>> get("he_normal")
    HeNormal(seed=None, input_axes=None, output_axes=None)
    >>> get({"class_name": "RandomUniform", "config": {"maxval": 1.0}}).maxval
    1.0
    """
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        return _class(identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, (np.ndarray, np.generic)):
        return _from_array(np.asarray(identifier))
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r} of type "
                     f"{type(identifier).__name__}. {_expected()}")
