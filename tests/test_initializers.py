"""Initializers: Keras 3's formulas, names and configs, each written out in the test.

Statistical checks use a fixed seed and a sample large enough that the
tolerance is many standard errors wide.
"""

import math

import numpy as np
import pytest

from minilstm import backend, initializers
from minilstm.initializers import (
    Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, Identity, LecunNormal,
    LecunUniform, Ones, Orthogonal, RandomNormal, RandomUniform, TruncatedNormal,
    VarianceScaling, Zeros,
)
from minilstm.layers import Dense
from minilstm.utils import set_random_seed

TRUNCATION = 0.87962566103423978  # stddev of a unit normal truncated to [-2, 2]
BIG = (400, 500)  # fan_in 400, fan_out 500, fan_avg 450; 200,000 draws


def _n(mode, fan_in, fan_out):
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


# -- VarianceScaling and its presets --------------------------------------------

UNIFORM = [  # (initializer, scale, mode): limit = sqrt(3 * scale / n)
    (GlorotUniform(seed=1), 1.0, "fan_avg"),  # sqrt(6 / (fan_in + fan_out))
    (HeUniform(seed=2), 2.0, "fan_in"),  # sqrt(6 / fan_in)
    (LecunUniform(seed=3), 1.0, "fan_in"),  # sqrt(3 / fan_in)
    (VarianceScaling(0.5, "fan_out", "uniform", seed=4), 0.5, "fan_out"),
]


@pytest.mark.parametrize("init,scale,mode", UNIFORM,
                         ids=[type(row[0]).__name__ for row in UNIFORM])
def test_uniform_variants_fill_their_limit(init, scale, mode):
    limit = math.sqrt(3 * scale / _n(mode, *BIG))
    values = init(BIG)
    assert values.dtype == np.float32 and values.shape == BIG
    assert np.abs(values).max() <= limit
    assert values.max() > 0.999 * limit and values.min() < -0.999 * limit
    assert values.var() == pytest.approx(limit**2 / 3, rel=0.02)


def test_glorot_uniform_limit_is_sqrt_6_over_fan_sum():
    values = GlorotUniform(seed=0)((3, 32))  # an LSTM(8) kernel on 3 features
    assert np.abs(values).max() <= math.sqrt(6 / (3 + 32))


NORMAL = [  # (initializer, scale, mode, truncated): variance scale / n after truncation
    (GlorotNormal(seed=5), 1.0, "fan_avg", True),  # 2 / (fan_in + fan_out)
    (HeNormal(seed=6), 2.0, "fan_in", True),
    (LecunNormal(seed=7), 1.0, "fan_in", True),
    (VarianceScaling(seed=8), 1.0, "fan_in", True),
    (VarianceScaling(3.0, "fan_out", "untruncated_normal", seed=9), 3.0, "fan_out", False),
]


@pytest.mark.parametrize("init,scale,mode,truncated", NORMAL,
                         ids=[type(row[0]).__name__ for row in NORMAL])
def test_normal_variants_have_variance_scale_over_fan(init, scale, mode, truncated):
    variance = scale / _n(mode, *BIG)
    values = init(BIG).astype("float64")
    assert values.mean() == pytest.approx(0.0, abs=0.02 * math.sqrt(variance))
    assert values.var() == pytest.approx(variance, rel=0.02)
    # Truncated: stddev sqrt(scale / n) / 0.8796 before truncation, nothing past 2 of those.
    bound = 2 * math.sqrt(variance) / TRUNCATION
    if truncated:
        assert np.abs(values).max() <= bound * (1 + 1e-6)
        assert np.abs(values).max() > 0.99 * bound
    else:
        assert np.abs(values).max() > bound


def test_fans_follow_keras_for_every_rank():
    assert initializers.compute_fans(()) == (1, 1)
    assert initializers.compute_fans((7,)) == (7, 7)
    assert initializers.compute_fans((3, 5)) == (3, 5)
    # Rank > 2 is a convolution kernel (..., in, out): both fans times the receptive field.
    assert initializers.compute_fans((2, 3, 4, 5)) == (2 * 3 * 4, 2 * 3 * 5)
    assert initializers.compute_fans((2, 3, 4), input_axes=[0, 1], output_axes=[2]) == (6, 4)


def test_variance_scaling_uses_rank_3_fans_and_at_least_one():
    values = HeUniform(seed=1)((3, 20, 30))
    limit = math.sqrt(6 / (3 * 20))
    assert np.abs(values).max() <= limit and np.abs(values).max() > 0.99 * limit
    values = VarianceScaling(1.0, "fan_in", "uniform", seed=1)((0, 4))  # n = max(1, 0)
    assert values.shape == (0, 4)


def test_variance_scaling_rejects_bad_arguments_and_reads_normal_as_truncated():
    with pytest.raises(ValueError, match="scale"):
        VarianceScaling(scale=0.0)
    with pytest.raises(ValueError, match="fan_avg"):
        VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="untruncated_normal"):
        VarianceScaling(distribution="gaussian")
    assert VarianceScaling(distribution="Normal").distribution == "truncated_normal"
    with pytest.raises(ValueError, match="seed"):
        GlorotUniform(seed="1")


# -- plain random and constant ------------------------------------------------------


def test_random_uniform_and_normal_use_their_arguments():
    values = RandomUniform(minval=1.0, maxval=3.0, seed=0)(BIG)
    assert values.min() >= 1.0 and values.max() < 3.0
    assert values.mean() == pytest.approx(2.0, abs=0.01)
    assert values.var() == pytest.approx(4 / 12, rel=0.02)
    values = RandomNormal(mean=1.0, stddev=2.0, seed=0)(BIG).astype("float64")
    assert values.mean() == pytest.approx(1.0, abs=0.02)
    assert values.std() == pytest.approx(2.0, rel=0.01)
    defaults = RandomUniform(seed=0)(BIG)
    assert np.abs(defaults).max() <= 0.05 and np.abs(defaults).max() > 0.0499


def test_truncated_normal_stays_within_two_stddev_of_mean():
    values = TruncatedNormal(mean=1.0, stddev=0.5, seed=0)(BIG).astype("float64")
    assert np.abs(values - 1.0).max() <= 2 * 0.5 * (1 + 1e-6)
    assert np.abs(values - 1.0).max() > 0.99 * 2 * 0.5
    assert values.std() == pytest.approx(0.5 * TRUNCATION, rel=0.01)


def test_constants_and_dtypes():
    assert Zeros()((2, 3)).tolist() == [[0.0] * 3] * 2
    assert Ones()((2,)).tolist() == [1.0, 1.0]
    assert Constant(value=0.25)((3,)).tolist() == [0.25] * 3
    assert Constant()((1,)).tolist() == [0.0]
    assert Ones()((2,), dtype="int32").dtype == np.int32
    backend.set_floatx("float64")  # the default dtype follows floatx (restored by conftest)
    for init in (Zeros(), Ones(), Constant(2.0), Identity(), RandomUniform(), RandomNormal(),
                 TruncatedNormal(), GlorotUniform(), GlorotNormal(), Orthogonal()):
        assert init((3, 3)).dtype == np.float64


# -- Orthogonal and Identity -----------------------------------------------------------


@pytest.mark.parametrize("shape", [(8, 3), (3, 12), (5, 5), (2, 3, 12), (4, 5, 3)])
def test_orthogonal_is_orthonormal_along_its_short_side(shape):
    q = Orthogonal(gain=1.5, seed=0)(shape).astype("float64")
    assert q.shape == shape
    matrix = q.reshape(-1, shape[-1])  # rank > 2: leading axes flattened into rows
    rows, cols = matrix.shape
    gram = matrix @ matrix.T if rows < cols else matrix.T @ matrix
    np.testing.assert_allclose(gram, 1.5**2 * np.eye(min(rows, cols)), atol=1e-5)


@pytest.mark.parametrize("shape", [(6, 2), (2, 6)])
def test_orthogonal_follows_the_keras_recipe_step_by_step(shape):
    rows, cols = shape
    np.random.seed(3)
    q = Orthogonal()(shape, dtype="float64")
    np.random.seed(3)
    a = np.random.normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
    expected, r = np.linalg.qr(a)
    expected = expected * np.sign(np.diag(r))  # Q made unique by the signs of diag(R)
    expected = expected.T if rows < cols else expected
    np.testing.assert_allclose(q, expected, atol=1e-12)


def test_orthogonal_needs_two_dimensions():
    with pytest.raises(ValueError, match="at least two-dimensional"):
        Orthogonal()((4,))


def test_identity_is_eye_times_gain_for_any_2d_shape():
    np.testing.assert_array_equal(Identity()((4, 4)), np.eye(4))
    np.testing.assert_array_equal(Identity(gain=0.5)((2, 3)), 0.5 * np.eye(2, 3))
    np.testing.assert_array_equal(Identity(gain=3.0)((3, 2)), 3.0 * np.eye(3, 2))
    # The IRNN recipe: SimpleRNN(recurrent_initializer='identity') on a (units, units) kernel.
    np.testing.assert_array_equal(initializers.get("identity")((5, 5)), np.eye(5))
    for shape in [(4,), (2, 2, 2)]:
        with pytest.raises(ValueError, match="2D"):
            Identity()(shape)


# -- names, get, configs --------------------------------------------------------------

NAMES = {  # Keras 3's snake_case names and aliases, written out
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "identity": Identity, "random_uniform": RandomUniform, "uniform": RandomUniform,
    "random_normal": RandomNormal, "normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "orthogonal": Orthogonal,
}
CLASSES = sorted(set(NAMES.values()), key=lambda cls: cls.__name__)


@pytest.mark.parametrize("name", sorted(NAMES))
def test_get_by_keras_name(name):
    assert type(initializers.get(name)) is NAMES[name]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_get_by_class_name_class_and_instance(cls):
    assert type(initializers.get(cls.__name__)) is cls
    assert type(initializers.get(cls)) is cls
    instance = cls()
    assert initializers.get(instance) is instance


def test_get_keras_compatibility_aliases_callables_arrays_and_none():
    assert type(initializers.get("OrthogonalInitializer")) is Orthogonal
    assert type(initializers.get("IdentityInitializer")) is Identity

    def fn(shape, dtype=None):
        return np.full(shape, 7.0, dtype)

    assert initializers.get(fn) is fn
    assert initializers.get(None) is None
    from_array = initializers.get(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(from_array((2, 3)), np.arange(6.0).reshape(2, 3))
    assert from_array((2, 3)).dtype == np.float32
    with pytest.raises(ValueError, match=r"Expected `shape` to be \(2, 3\)"):
        from_array((3, 2))


def test_get_rejects_unknown_names_listing_the_valid_ones():
    with pytest.raises(ValueError) as info:
        initializers.get("glorot")
    message = str(info.value)
    assert "Could not interpret initializer identifier: 'glorot'" in message
    for name in ("glorot_uniform", "orthogonal", "zeros", "uniform", "he_normal"):
        assert repr(name) in message
    with pytest.raises(ValueError, match="Did you mean 'orthogonal'"):
        initializers.get("orthogonl")
    with pytest.raises(ValueError, match="glorot_uniform"):
        initializers.get(3)
    with pytest.raises(ValueError, match="class_name"):
        initializers.get({"config": {}})
    with pytest.raises(ValueError, match="Could not interpret"):
        initializers.get({"class_name": "Nope", "config": {}})


KERAS_CONFIG_KEYS = {
    Zeros: set(), Ones: set(), Constant: {"value"}, Identity: {"gain"},
    RandomUniform: {"seed", "minval", "maxval"}, RandomNormal: {"seed", "mean", "stddev"},
    TruncatedNormal: {"seed", "mean", "stddev"},
    VarianceScaling: {"seed", "scale", "mode", "distribution", "input_axes", "output_axes"},
    Orthogonal: {"seed", "gain"},
    **{cls: {"seed", "input_axes", "output_axes"}
       for cls in (GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal)},
}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_get_config_has_keras_keys(cls):
    assert set(cls().get_config()) == KERAS_CONFIG_KEYS[cls]


ROUND_TRIP = [
    Constant(0.3), Identity(gain=2.0), RandomUniform(-1.0, 2.0, seed=3),
    RandomNormal(1.0, 0.2, seed=4), TruncatedNormal(0.5, 0.1, seed=5),
    VarianceScaling(2.5, "fan_avg", "uniform", seed=6), GlorotNormal(seed=7),
    HeUniform(seed=8), LecunNormal(seed=9), Orthogonal(gain=0.7, seed=10),
]


@pytest.mark.parametrize("init", ROUND_TRIP, ids=lambda init: type(init).__name__)
def test_config_round_trip_rebuilds_the_same_initializer(init):
    for copy in (type(init).from_config(init.get_config()), init.clone(),
                 initializers.get({"class_name": type(init).__name__,
                                   "config": init.get_config()}),
                 initializers.deserialize(initializers.serialize(init))):
        assert type(copy) is type(init) and copy.get_config() == init.get_config()
        np.testing.assert_array_equal(copy((4, 6)), init((4, 6)))


def test_serialize_uses_keras_dict_form():
    assert initializers.serialize(GlorotUniform(seed=1)) == {
        "module": "keras.initializers", "class_name": "GlorotUniform",
        "config": {"seed": 1, "input_axes": None, "output_axes": None},
        "registered_name": None,
    }


# -- randomness --------------------------------------------------------------------------

RANDOM = [RandomUniform, RandomNormal, TruncatedNormal, VarianceScaling, GlorotUniform,
          GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal]


@pytest.mark.parametrize("cls", RANDOM, ids=lambda cls: cls.__name__)
def test_unseeded_draws_repeat_under_set_random_seed(cls):
    set_random_seed(42)
    first = [cls()((5, 7)), cls()((5, 7))]
    set_random_seed(42)
    second = [cls()((5, 7)), cls()((5, 7))]
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first[0], first[1])  # the global stream moves on


@pytest.mark.parametrize("cls", RANDOM, ids=lambda cls: cls.__name__)
def test_seeded_instance_gives_the_same_values_every_call(cls):
    state = np.random.get_state()[1].copy()
    init = cls(seed=11)
    np.testing.assert_array_equal(init((5, 7)), init((5, 7)))
    np.testing.assert_array_equal(init((5, 7)), cls(seed=11)((5, 7)))
    assert not np.array_equal(init((5, 7)), cls(seed=12)((5, 7)))
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # global stream untouched


def test_model_construction_repeats_under_set_random_seed():
    def build():
        layer = Dense(4, kernel_initializer="he_uniform", bias_initializer="random_normal")
        layer(np.ones((1, 3), dtype="float32"))
        return [np.asarray(w) for w in layer.get_weights()]

    set_random_seed(7)
    first = build()
    set_random_seed(7)
    for a, b in zip(first, build()):
        np.testing.assert_array_equal(a, b)
