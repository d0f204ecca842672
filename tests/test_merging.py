"""Merging layers: Keras 3's semantics as formulas, shape errors, masks, and every gradient by
float64 central differences, alone and inside Functional models with LSTMs."""

import os

import numpy as np
import pytest

from minilstm import backend
from minilstm.kernels.gradcheck import numerical_gradient
from minilstm.layers import LSTM, Dense, Input
from minilstm.layers.merging import (
    Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average,
    concatenate, dot, maximum, minimum, multiply, subtract)
from minilstm.models import Model

from graph_checks import check_graph_gradients


@pytest.fixture
def float64():
    backend.set_floatx("float64")


def _rng(seed=0):
    return np.random.default_rng(seed)


def check_layer_gradients(layer, xs, mask=None, seed=0):
    """L = Σ layer(xs)·dy; each input's gradient from backward against central differences."""
    xs = [np.ascontiguousarray(x, dtype=np.float64) for x in xs]
    y = layer(xs, mask=mask)
    dy = _rng(seed).standard_normal(y.shape)

    def loss():
        return float((layer.forward(xs, mask=mask) * dy).sum())

    layer.forward(xs, mask=mask)
    grads = layer.backward(dy)
    assert layer.grads == [] and len(grads) == len(xs)
    for x, grad in zip(xs, grads):
        assert grad.shape == x.shape
        np.testing.assert_allclose(grad, numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)


# -- elementwise merges: formulas ------------------------------------------------------------

ELEMENTWISE = [
    (Add, lambda xs: xs[0] + xs[1] + xs[2]),
    (Average, lambda xs: (xs[0] + xs[1] + xs[2]) / 3),
    (Multiply, lambda xs: xs[0] * xs[1] * xs[2]),
    (Maximum, lambda xs: np.maximum(np.maximum(xs[0], xs[1]), xs[2])),
    (Minimum, lambda xs: np.minimum(np.minimum(xs[0], xs[1]), xs[2])),
]


@pytest.mark.parametrize("layer_class,formula", ELEMENTWISE,
                         ids=[cls.__name__ for cls, _ in ELEMENTWISE])
def test_elementwise_formulas_and_gradients(float64, layer_class, formula):
    xs = [_rng(k).standard_normal((2, 3, 4)) for k in range(3)]
    np.testing.assert_allclose(layer_class()(xs), formula(xs), rtol=1e-12)
    check_layer_gradients(layer_class(), xs)


def test_subtract_takes_exactly_two_inputs(float64):
    x, y = _rng(0).standard_normal((2, 3)), _rng(1).standard_normal((2, 3))
    np.testing.assert_allclose(Subtract()([x, y]), x - y)
    check_layer_gradients(Subtract(), [x, y])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        Subtract()([x, y, x])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        subtract([Input(shape=(3,))] * 3)


def test_merge_needs_a_list():
    with pytest.raises(ValueError, match="list of inputs"):
        Add()(np.ones((2, 3)))


def test_broadcasting_and_rank_expansion_as_keras(float64):
    """Size-1 axes stretch; a lower-rank input gets axes inserted after the batch axis."""
    x, y, z = (_rng(0).standard_normal((2, 3, 4)), _rng(1).standard_normal((2, 1, 4)),
               _rng(2).standard_normal((2, 4)))
    np.testing.assert_allclose(Add()([x, y]), x + y)
    np.testing.assert_allclose(Multiply()([x, z]), x * z[:, None, :])
    assert Add().compute_output_shape([(None, 3, 4), (None, 4)]) == (None, 3, 4)
    check_layer_gradients(Add(), [x, y])
    check_layer_gradients(Multiply(), [x, z])
    check_layer_gradients(Maximum(), [x, y])


def test_incompatible_elementwise_shapes():
    with pytest.raises(ValueError, match=r"incompatible shapes. Received shapes \(3, 4\) and "
                                         r"\(5, 4\)"):
        Add()([Input(shape=(3, 4)), Input(shape=(5, 4))])
    with pytest.raises(ValueError, match="different batch sizes"):
        Add()([np.ones((2, 3)), np.ones((4, 3))])


def test_maximum_ties_send_the_gradient_to_the_first_input(float64):
    x = np.array([[1.0, 2.0, 3.0]])
    layer = Maximum()
    layer([x, x.copy(), x.copy()])
    grads_max = layer.backward(np.ones((1, 3)))
    np.testing.assert_array_equal(grads_max[0], 1.0)
    np.testing.assert_array_equal(grads_max[1] + grads_max[2], 0.0)
    layer = Minimum()
    layer([np.array([[1.0, 5.0]]), np.array([[1.0, 0.0]])])
    dx, dy = layer.backward(np.ones((1, 2)))
    np.testing.assert_array_equal(dx, [[1.0, 0.0]])
    np.testing.assert_array_equal(dy, [[0.0, 1.0]])


# -- masks -----------------------------------------------------------------------------------

def test_elementwise_output_mask_is_the_or_and_needs_every_mask():
    x = np.ones((2, 3, 1))
    m1, m2 = np.array([[1, 1, 0], [1, 0, 0]], bool), np.array([[1, 0, 0], [1, 1, 0]], bool)
    np.testing.assert_array_equal(Add().compute_mask([x, x], [m1, m2]), m1 | m2)
    assert Add().compute_mask([x, x], [m1, None]) is None
    assert Add().compute_mask([x, x], None) is None


def test_masked_positions_fall_back_as_in_keras3(float64):
    """Maximum: a masked value is replaced by the other input's (the first input's where all
    are masked); Multiply: by 1, and 0 where every input is masked."""
    x, y = np.array([[[5.0], [1.0], [2.0]]]), np.array([[[3.0], [4.0], [7.0]]])
    mx, my = np.array([[False, True, False]]), np.array([[True, True, False]])
    np.testing.assert_allclose(Maximum()([x, y], mask=[mx, my]), [[[3.0], [4.0], [2.0]]])
    np.testing.assert_allclose(Multiply()([x, y], mask=[mx, my]), [[[3.0], [4.0], [0.0]]])
    np.testing.assert_allclose(Multiply()([x, y], mask=[mx, None]), [[[3.0], [4.0], [7.0]]])
    rng = _rng(3)
    a, b = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 3, 2))
    ma, mb = np.array([[1, 0, 1], [0, 1, 0]], bool), np.array([[1, 1, 0], [0, 0, 1]], bool)
    for layer_class in (Maximum, Minimum, Multiply):
        check_layer_gradients(layer_class(), [a, b], mask=[ma, mb])


def test_concatenate_masks_along_time_and_features():
    x, y = np.ones((2, 3, 4)), np.ones((2, 2, 4))
    mx, my = np.array([[1, 1, 0], [1, 0, 0]], bool), np.array([[1, 0], [0, 0]], bool)
    np.testing.assert_array_equal(Concatenate(axis=1).compute_mask([x, y], [mx, my]),
                                  np.concatenate([mx, my], axis=1))
    np.testing.assert_array_equal(Concatenate(axis=1).compute_mask([x, y], [mx, None]),
                                  np.concatenate([mx, np.ones((2, 2), bool)], axis=1))
    z = np.ones((2, 3, 2))
    np.testing.assert_array_equal(Concatenate().compute_mask([x, z], [mx, mx]), mx)
    assert Concatenate().compute_mask([x, z], [None, None]) is None


# -- Concatenate -----------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_concatenate_formula_and_gradient(float64, axis):
    shapes = {-1: [(2, 3, 4), (2, 3, 1), (2, 3, 2)], 1: [(2, 1, 4), (2, 3, 4), (2, 2, 4)],
              2: [(2, 3, 2), (2, 3, 5), (2, 3, 1)]}[axis]
    xs = [_rng(k).standard_normal(s) for k, s in enumerate(shapes)]
    np.testing.assert_array_equal(Concatenate(axis=axis)(xs), np.concatenate(xs, axis=axis))
    check_layer_gradients(Concatenate(axis=axis), xs)


def test_concatenate_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"matching shapes except for the concatenation axis. "
                                         r"Received: input_shape=\[\(None, 3, 4\), "
                                         r"\(None, 5, 4\)\]"):
        concatenate([Input(shape=(3, 4)), Input(shape=(5, 4))])
    with pytest.raises(ValueError, match="matching shapes"):
        Concatenate()([np.ones((2, 3)), np.ones((2, 3, 1))])
    with pytest.raises(ValueError, match="out of range"):
        Concatenate(axis=3)([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(TypeError, match="axis"):
        Concatenate(axis="1")
    # None (unknown) sizes do not conflict; the output size is unknown along the axis.
    assert Concatenate(axis=1).compute_output_shape([(None, None, 4), (None, 5, 4)]) == (
        None, None, 4)
    assert Concatenate().compute_output_shape([(None, 3, 4), (None, 3, 2)]) == (None, 3, 6)


# -- Dot -------------------------------------------------------------------------------------

DOT_CASES = [
    # (shape x, shape y, axes, einsum of the expected result)
    ((2, 5, 3), (2, 3, 5), (1, 2), "bki,bjk->bij"),
    ((2, 4), (2, 4), 1, "bk,bk->b"),
    ((2, 3, 4), (2, 5, 4), -1, "bik,bjk->bij"),
    ((2, 3, 4), (2, 4), (2, 1), "bik,bk->bi"),
    ((2, 4), (2, 4, 3), (1, 1), "bk,bkj->bj"),
    ((2, 3, 2, 4), (2, 4, 5), (3, 1), "bijk,bkl->bijl"),
]


@pytest.mark.parametrize("shape_x,shape_y,axes,formula", DOT_CASES)
def test_dot_is_keras_batch_dot(float64, shape_x, shape_y, axes, formula):
    x, y = _rng(0).standard_normal(shape_x), _rng(1).standard_normal(shape_y)
    expected = np.einsum(formula, x, y)
    if expected.ndim == 1:
        expected = expected[:, None]  # Keras: a result with only the batch axis is (B, 1)
    layer = Dot(axes=axes)
    np.testing.assert_allclose(layer([x, y]), expected, rtol=1e-12)
    assert layer.compute_output_shape([(None,) + shape_x[1:], (None,) + shape_y[1:]]) == (
        (None,) + expected.shape[1:])
    check_layer_gradients(Dot(axes=axes), [x, y])


@pytest.mark.parametrize("shape_x,shape_y,axes,formula", DOT_CASES[:4])
def test_dot_normalize_is_the_cosine(float64, shape_x, shape_y, axes, formula):
    x, y = _rng(2).standard_normal(shape_x), _rng(3).standard_normal(shape_y)
    a1, a2 = (axes, axes) if isinstance(axes, int) else axes
    xn = x / np.linalg.norm(x, axis=a1, keepdims=True)
    yn = y / np.linalg.norm(y, axis=a2, keepdims=True)
    expected = np.einsum(formula, xn, yn)
    np.testing.assert_allclose(Dot(axes=axes, normalize=True)([x, y]).reshape(expected.shape),
                               expected, rtol=1e-12)
    check_layer_gradients(Dot(axes=axes, normalize=True), [x, y])


def test_dot_normalize_of_a_zero_vector_is_zero_not_nan(float64):
    out = dot([np.zeros((1, 3)), np.ones((1, 3))], axes=1, normalize=True)
    np.testing.assert_array_equal(out, [[0.0]])


def test_dot_argument_and_shape_errors():
    with pytest.raises(TypeError, match="axes"):
        Dot(axes="1")
    with pytest.raises(ValueError, match="two elements"):
        Dot(axes=(1, 2, 3))
    with pytest.raises(ValueError, match="should be integers"):
        Dot(axes=(1, 1.5))
    with pytest.raises(TypeError, match="normalize"):
        Dot(axes=1, normalize="yes")
    with pytest.raises(ValueError, match=r"axis values 3 \(at axis 2\) != 4 \(at axis 2\)"):
        Dot(axes=-1)([Input(shape=(5, 3)), Input(shape=(5, 4))])
    with pytest.raises(ValueError, match="axis 0"):
        Dot(axes=0)([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="list of 2 inputs"):
        Dot(axes=1)([np.ones((2, 3))] * 3)
    with pytest.raises(ValueError, match="rank < 2"):
        Dot(axes=1).compute_output_shape([(2,), (2, 3)])
    assert Dot(axes=1).compute_mask([None, None], [np.ones((2, 3), bool)] * 2) is None


# -- functional forms, configs ---------------------------------------------------------------

def test_functional_forms_make_the_layer_and_call_it(float64):
    x, y = _rng(0).standard_normal((2, 3)), _rng(1).standard_normal((2, 3))
    np.testing.assert_allclose(add([x, y]), x + y)
    np.testing.assert_allclose(subtract([x, y]), x - y)
    np.testing.assert_allclose(multiply([x, y]), x * y)
    np.testing.assert_allclose(average([x, y]), (x + y) / 2)
    np.testing.assert_allclose(maximum([x, y]), np.maximum(x, y))
    np.testing.assert_allclose(minimum([x, y]), np.minimum(x, y))
    np.testing.assert_allclose(concatenate([x, y]), np.concatenate([x, y], -1))
    np.testing.assert_allclose(dot([x, y], axes=1), (x * y).sum(-1, keepdims=True))
    tensor = concatenate([Input(shape=(3,)), Input(shape=(2,))], name="joined")
    assert tensor.shape == (None, 5) and tensor.node.layer.name == "joined"


def test_get_config_keys_are_keras():
    assert Concatenate(axis=1, name="c").get_config() == {"name": "c", "trainable": True,
                                                          "axis": 1}
    assert Dot(axes=(1, 2), normalize=True, name="d").get_config() == {
        "name": "d", "trainable": True, "axes": [1, 2], "normalize": True}
    assert set(Add(name="a").get_config()) == {"name", "trainable"}


# -- inside Functional models ----------------------------------------------------------------

def test_two_lstms_concatenated_into_dense(float64):
    left, right = Input(shape=(4, 2)), Input(shape=(3, 3))
    merged = concatenate([LSTM(3)(left), LSTM(2)(right)])
    model = Model([left, right], Dense(2)(merged))
    assert model.output_shape == (None, 2)
    rng = _rng(4)
    check_graph_gradients(model, [rng.standard_normal((2, 4, 2)), rng.standard_normal((2, 3, 3))])


@pytest.mark.parametrize("merge", [add, subtract, multiply, average, maximum, minimum,
                                   lambda t: concatenate(t, axis=1),
                                   lambda t: dot(t, axes=2, normalize=True)])
def test_merging_lstm_sequences_in_a_model(float64, merge):
    left, right = Input(shape=(3, 2)), Input(shape=(3, 2))
    merged = merge([LSTM(3, return_sequences=True)(left), LSTM(3, return_sequences=True)(right)])
    model = Model([left, right], Dense(1)(merged))
    rng = _rng(5)
    check_graph_gradients(model, [rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 3, 2))])


def test_a_shared_lstm_used_twice_then_cosine_similarity(float64):
    """A siamese model: one LSTM encodes both inputs; its gradients from both calls add up."""
    first, second = Input(shape=(4, 2)), Input(shape=(4, 2))
    encoder = LSTM(3)
    similarity = Dot(axes=1, normalize=True)([encoder(first), encoder(second)])
    model = Model([first, second], Dense(1)(similarity))
    assert len(model.weights) == 5  # the shared LSTM's three weights appear once
    rng = _rng(6)
    check_graph_gradients(model, [rng.standard_normal((2, 4, 2)), rng.standard_normal((2, 4, 2))])


def test_a_shared_merge_layer_used_twice(float64):
    a, b, c = Input(shape=(3,)), Input(shape=(3,)), Input(shape=(3,))
    adder = Add()
    model = Model([a, b, c], Dense(2)(adder([adder([a, b]), Dense(3)(c)])))
    rng = _rng(7)
    check_graph_gradients(model, [rng.standard_normal((2, 3)) for _ in range(3)])
    with pytest.raises(ValueError, match="incompatible shapes"):
        adder([a, Input(shape=(4,))])


def test_a_masked_concatenation_feeds_an_lstm(float64):
    """Concatenating along time keeps each part's mask: the LSTM skips the padded steps."""
    from minilstm.layers.masking import Masking

    left, right = Input(shape=(3, 2)), Input(shape=(2, 2))
    joined = concatenate([Masking()(left), Masking()(right)], axis=1)
    model = Model([left, right], LSTM(3)(joined))
    rng = _rng(8)
    x_left, x_right = rng.standard_normal((1, 3, 2)), rng.standard_normal((1, 2, 2))
    padded_left = x_left.copy()
    padded_left[0, 2] = 0.0  # the third step of the first part is padding
    lstm = model.layers[-1]
    unpadded = np.concatenate([x_left[:, :2], x_right], axis=1)
    np.testing.assert_allclose(model([padded_left, x_right]), lstm(unpadded), rtol=1e-12)


# -- optional parity with real Keras ---------------------------------------------------------

def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    if not keras.__version__.startswith("3."):
        pytest.skip(f"needs Keras 3, found {keras.__version__}")
    return keras


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_keras_parity_dot_and_concatenate():
    keras = _keras()

    def build(layers, model_class, merging, input_fn):
        left, right = input_fn(shape=(4, 3)), input_fn(shape=(4, 3))
        encoded_left = layers.LSTM(5, return_sequences=True)(left)
        encoded_right = layers.LSTM(5, return_sequences=True)(right)
        scores = merging.Dot(axes=(2, 2), normalize=True)([encoded_left, encoded_right])
        summary = merging.Concatenate(axis=-1)([scores, encoded_left])
        diff = merging.Subtract()([merging.Maximum()([encoded_left, encoded_right]),
                                   merging.Average()([encoded_left, encoded_right])])
        joined = merging.Concatenate(axis=1)([layers.Dense(5)(summary), diff])
        return model_class([left, right], layers.Dense(2)(joined))

    import minilstm.layers as our_layers
    import minilstm.layers.merging as our_merging

    keras.utils.set_random_seed(0)
    theirs = build(keras.layers, keras.Model, keras.layers, keras.Input)
    ours = build(our_layers, Model, our_merging, Input)
    ours.set_weights(theirs.get_weights())
    rng = _rng(9)
    xs = [rng.standard_normal((3, 4, 3)).astype("float32") for _ in range(2)]
    np.testing.assert_allclose(ours.predict(xs, verbose=0), theirs.predict(xs, verbose=0),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name", ["Add", "Multiply", "Maximum", "Minimum", "Average"])
def test_keras_parity_masked_merges(name):
    """Masking -> merge: the masked-value rules and the output mask, against Keras 3."""
    keras = _keras()
    import minilstm.layers as our_layers
    import minilstm.layers.merging as our_merging
    from minilstm.layers.masking import Masking

    def build(layers, model_class, merging, input_fn, masking):
        a, b = input_fn(shape=(3, 1)), input_fn(shape=(3, 1))
        merged = getattr(merging, name)()([masking()(a), masking()(b)])
        return model_class([a, b], layers.LSTM(2, return_sequences=True)(merged))

    keras.utils.set_random_seed(1)
    theirs = build(keras.layers, keras.Model, keras.layers, keras.Input, keras.layers.Masking)
    ours = build(our_layers, Model, our_merging, Input, Masking)
    ours.set_weights(theirs.get_weights())
    x = np.array([[[5.0], [1.0], [0.0]], [[0.0], [2.0], [3.0]]], "float32")
    y = np.array([[[0.0], [4.0], [0.0]], [[6.0], [0.0], [-1.0]]], "float32")
    np.testing.assert_allclose(ours.predict([x, y], verbose=0), theirs.predict([x, y], verbose=0),
                               rtol=1e-5, atol=1e-6)
