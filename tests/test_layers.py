"""Layers: shapes, Keras weight layout and initialisation, and gradients by finite differences."""

import re

import numpy as np
import pytest

from minilstm import activations, backend, initializers, losses
from minilstm.kernels.gradcheck import numerical_gradient
from minilstm.layers import LSTM, Activation, Dense, Dropout, Input
from minilstm.models import Sequential


def _float64():
    backend.set_floatx("float64")


def assert_gradient_close(analytic, numeric):
    """Per entry |analytic - numeric| <= 1e-9 + 1e-5·|numeric| (float64 central differences)."""
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9)


# -- shapes and arguments ------------------------------------------------------


@pytest.mark.parametrize("return_sequences", [False, True])
def test_lstm_output_shapes(return_sequences):
    layer = LSTM(4, return_sequences=return_sequences)
    out = layer(np.random.rand(3, 5, 2))
    assert out.shape == ((3, 5, 4) if return_sequences else (3, 4))
    assert layer.output_shape == ((None, 5, 4) if return_sequences else (None, 4))


def test_lstm_return_state_gives_output_h_and_c():
    layer = LSTM(3, return_sequences=True, return_state=True)
    output, h, c = layer(np.random.rand(2, 4, 1))
    assert output.shape == (2, 4, 3) and h.shape == c.shape == (2, 3)
    np.testing.assert_array_equal(output[:, -1], h)


def test_go_backwards_reads_the_sequence_reversed():
    x = np.random.rand(2, 6, 3).astype("float32")
    forward, backward = LSTM(4), LSTM(4, go_backwards=True)
    forward.build((None, 6, 3))
    backward.build((None, 6, 3))
    backward.set_weights(forward.get_weights())
    np.testing.assert_allclose(backward(x), forward(x[:, ::-1]), rtol=1e-6)


def test_keras_weight_layout_and_param_counts():
    model = Sequential([LSTM(50, return_sequences=True, input_shape=(10, 3)), LSTM(50), Dense(3),
                        Activation("softmax")])
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(3, 200), (50, 200), (200,), (50, 200), (50, 200), (200,), (50, 3), (3,)]
    assert model.layers[0].count_params() == 4 * (50 * (3 + 50) + 50) == 10800
    assert model.layers[1].count_params() == 20200


def test_lstm_initialisation_follows_keras_formulas():
    layer = LSTM(8)
    layer.build((None, 4, 3))
    kernel, recurrent_kernel, bias = layer.get_weights()
    limit = np.sqrt(6 / (3 + 4 * 8))  # glorot_uniform over the whole fused kernel
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.5 * limit
    np.testing.assert_allclose(recurrent_kernel @ recurrent_kernel.T, np.eye(8), atol=1e-5)
    np.testing.assert_array_equal(bias, np.r_[np.zeros(8), np.ones(8), np.zeros(16)])


def test_initializer_lookup_and_errors():
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)
    assert initializers.get("zeros")((2,)).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="glorot_uniform"):
        initializers.get("glorot")


def test_dense_on_3d_input_acts_per_timestep():
    layer = Dense(2)
    x = np.random.rand(3, 4, 5).astype("float32")
    out = layer(x)
    assert out.shape == (3, 4, 2)
    np.testing.assert_allclose(out[:, 1], layer(x[:, 1]), rtol=1e-6)


@pytest.mark.parametrize("units", [0, -1, 2.5, "3"])
def test_units_must_be_positive_integers(units):
    for cls in (LSTM, Dense):
        with pytest.raises(ValueError, match="expected a positive integer"):
            cls(units)


def test_unknown_keyword_and_activation_errors():
    with pytest.raises(ValueError, match="Unrecognized keyword arguments passed to LSTM"):
        LSTM(2, bogus=1)
    with pytest.raises(ValueError, match="Could not interpret activation function identifier"):
        Dense(2, activation="Relu")
    with pytest.raises(ValueError, match="must be one of"):
        LSTM(2, activation="softmax")


def test_stateful_lstm_needs_a_batch_size():
    # Checked at build time, from the shape the layer receives (as Keras 3 does).
    with pytest.raises(ValueError, match="batch size must be static.*batch_input_shape"):
        Sequential([LSTM(2, stateful=True, input_shape=(5, 1))])


def test_keras3_input_layer_declares_the_shape():
    model = Sequential([Input(shape=(5, 2)), LSTM(3), Dense(1)])
    assert model.built and model.output_shape == (None, 1)
    assert len(model.layers) == 2


def test_dropout_only_while_training():
    layer = Dropout(0.5)
    x = np.ones((200, 10))
    np.testing.assert_array_equal(layer(x), x)
    dropped = layer.forward(x, training=True)
    assert set(np.unique(dropped)) <= {0.0, 2.0} and 0.3 < (dropped == 0).mean() < 0.7


# -- gradients by finite differences ------------------------------------------


def _layer_gradcheck(layer, x, weights_and_grads=True):
    """Checks layer.backward against central differences of L = Σ y·dy."""
    _float64()
    dy = np.random.default_rng(3).standard_normal(np.shape(layer.forward(x, training=True)))

    def loss():
        return float((layer.forward(x, training=True) * dy).sum())

    layer.forward(x, training=True)
    dx = layer.backward(dy)
    assert_gradient_close(dx, numerical_gradient(loss, x))
    if weights_and_grads:
        for weight, grad in zip(layer.weights, layer.grads):
            layer.forward(x, training=True)
            assert_gradient_close(grad, numerical_gradient(loss, weight))


@pytest.mark.parametrize("activation", ["linear", "sigmoid", "tanh", "relu", "softmax",
                                        "hard_sigmoid"])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 3)])
def test_dense_gradients(activation, shape):
    _float64()
    layer = Dense(2 if activation != "softmax" else 3, activation=activation)
    layer.build((None,) + shape[1:])
    _layer_gradcheck(layer, np.random.default_rng(0).standard_normal(shape))


@pytest.mark.parametrize("activation", ["linear", "sigmoid", "tanh", "relu", "softmax",
                                        "hard_sigmoid"])
def test_activation_layer_gradients(activation):
    _float64()
    x = np.random.default_rng(1).standard_normal((3, 4)) * 2
    _layer_gradcheck(Activation(activation), x, weights_and_grads=False)


@pytest.mark.parametrize("return_sequences", [False, True])
def test_lstm_layer_gradients(return_sequences):
    _float64()
    layer = LSTM(3, return_sequences=return_sequences)
    layer.build((None, 4, 2))
    _layer_gradcheck(layer, np.random.default_rng(2).standard_normal((2, 4, 2)))


@pytest.mark.parametrize("loss_name", ["mse", "binary_crossentropy"])
def test_whole_model_gradient_lstm_dense_activation_loss(loss_name):
    """d loss / d every weight through LSTM -> LSTM -> Dense -> Activation -> loss."""
    _float64()
    rng = np.random.default_rng(4)
    model = Sequential([LSTM(3, return_sequences=True, input_shape=(4, 2)), LSTM(3), Dense(1),
                        Activation("sigmoid")])
    loss = losses.get(loss_name)
    x, y = rng.standard_normal((5, 4, 2)), rng.random((5, 1))

    def scalar_loss():
        return float(loss(y, model(x, training=True)))

    outputs, _ = model._graph.forward([x], training=True)
    model._graph.backward([loss.gradient(y, outputs[0])])
    analytic = model._graph.weight_gradients()
    for weight, grad in zip(model.weights, analytic):
        assert_gradient_close(grad, numerical_gradient(scalar_loss, weight))


def test_activation_functions_match_keras_formulas():
    x = np.array([-7.0, -3.0, -0.5, 0.0, 0.5, 3.0, 7.0])
    np.testing.assert_allclose(activations.hard_sigmoid(x), np.clip(x / 6 + 0.5, 0, 1))
    np.testing.assert_allclose(activations.sigmoid(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(activations.relu(x), np.maximum(x, 0))
    s = activations.softmax(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(s, np.exp([[1, 2, 3]]) / np.exp([1, 2, 3]).sum())


@pytest.mark.parametrize("make_layer", [lambda f: Dense(2, activation=f), lambda f: Activation(f)])
def test_training_through_a_plain_callable_activation_says_why_not(make_layer):
    layer = make_layer(lambda v: v * 2)
    layer(np.ones((3, 2)))  # forward works
    with pytest.raises(NotImplementedError, match="Cannot train through the activation"):
        layer.backward(np.ones((3, 2)))


def test_default_names_follow_keras():
    from minilstm.layers import GRU, SimpleRNN

    for layer, stem in [(LSTM(2), "lstm"), (GRU(2), "gru"), (SimpleRNN(2), "simple_rnn"),
                        (Dense(2), "dense"), (Dropout(0.1), "dropout")]:
        assert re.fullmatch(stem + r"(_\d+)?", layer.name), layer.name
