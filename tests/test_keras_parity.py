"""Optional parity with real Keras 3: same weights in, same numbers out.

Skipped unless Keras 3 and one of its backends are installed (they are not
test dependencies; `pip install ".[bench]"` brings them). The expected
values everywhere else in the suite are written-out formulas; here Keras
itself is the other side of the comparison.
"""

import importlib.util
import os

import numpy as np
import pytest

for _backend in ("tensorflow", "jax", "torch"):
    if importlib.util.find_spec(_backend):
        os.environ.setdefault("KERAS_BACKEND", _backend)
        break
keras = pytest.importorskip("keras")
if not keras.__version__.startswith("3."):
    pytest.skip(f"needs Keras 3, found {keras.__version__}", allow_module_level=True)

import minilstm  # noqa: E402


def build_pair(make_layers, input_shape):
    """The same architecture in Keras and minilstm, sharing Keras's initial weights."""
    keras_model = keras.Sequential([keras.Input(shape=input_shape)] + make_layers(keras.layers))
    ours = minilstm.models.Sequential([minilstm.layers.Input(shape=input_shape)]
                                      + make_layers(minilstm.layers))
    ours.set_weights(keras_model.get_weights())
    return keras_model, ours


def stacked(layers):
    return [layers.LSTM(8, return_sequences=True), layers.LSTM(4, go_backwards=True),
            layers.Dense(3), layers.Activation("softmax")]


def test_keras_weights_load_unchanged_and_predict_the_same():
    keras.utils.set_random_seed(0)
    keras_model, ours = build_pair(stacked, (6, 2))
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in keras_model.get_weights()]
    x = np.random.default_rng(0).standard_normal((5, 6, 2)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras_model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("activation,recurrent_activation", [("tanh", "hard_sigmoid"),
                                                             ("relu", "sigmoid")])
def test_other_activations_match(activation, recurrent_activation):
    keras.utils.set_random_seed(1)
    keras_model, ours = build_pair(
        lambda layers: [layers.LSTM(5, activation=activation,
                                    recurrent_activation=recurrent_activation,
                                    return_sequences=True)], (4, 3))
    x = np.random.default_rng(1).standard_normal((3, 4, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras_model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_training_reaches_the_same_weights(optimizer):
    keras.utils.set_random_seed(2)
    keras_model, ours = build_pair(lambda layers: [layers.LSTM(6), layers.Dense(1)], (5, 1))
    rng = np.random.default_rng(2)
    x = rng.random((16, 5, 1)).astype("float32")
    y = x.mean(axis=1)
    for model in (keras_model, ours):
        model.compile(optimizer=optimizer, loss="mse")
        model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    for theirs, mine in zip(keras_model.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(keras_model.evaluate(x, y, verbose=0),
                                                           rel=1e-4)


RECURRENT_MODELS = {
    "gru": lambda layers: [layers.GRU(6, return_sequences=True), layers.GRU(4, go_backwards=True),
                           layers.Dense(1)],
    "gru-reset_before": lambda layers: [layers.GRU(5, reset_after=False, return_sequences=True),
                                        layers.Dense(2)],
    "simple_rnn": lambda layers: [layers.SimpleRNN(6, return_sequences=True),
                                  layers.SimpleRNN(3, activation="relu"), layers.Dense(1)],
    "mixed": lambda layers: [layers.LSTM(4, return_sequences=True), layers.GRU(4),
                             layers.Dense(1)],
}


@pytest.mark.parametrize("name", list(RECURRENT_MODELS))
def test_gru_and_simple_rnn_weights_load_and_predict_the_same(name):
    keras.utils.set_random_seed(3)
    keras_model, ours = build_pair(RECURRENT_MODELS[name], (5, 3))
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in keras_model.get_weights()]
    x = np.random.default_rng(3).standard_normal((4, 5, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras_model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["gru", "gru-reset_before", "simple_rnn"])
def test_gru_and_simple_rnn_train_to_the_same_weights(name):
    keras.utils.set_random_seed(4)
    keras_model, ours = build_pair(RECURRENT_MODELS[name], (5, 1))
    rng = np.random.default_rng(4)
    x = rng.random((16, 5, 1)).astype("float32")
    y = rng.random((16,) + tuple(keras_model.output_shape[1:])).astype("float32")
    for model in (keras_model, ours):
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    for theirs, mine in zip(keras_model.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def test_masked_sequences_predict_the_same():
    keras.utils.set_random_seed(5)
    keras_model = keras.Sequential([keras.Input(shape=(6, 2)), keras.layers.Masking(0.0),
                                    keras.layers.LSTM(4, return_sequences=True)])
    layer = minilstm.layers.LSTM(4, return_sequences=True)
    layer.build((None, 6, 2))
    layer.set_weights(keras_model.get_weights())
    x = np.random.default_rng(5).standard_normal((3, 6, 2)).astype("float32")
    x[0, 4:] = 0.0
    x[1, :2] = 0.0
    mask = (x != 0).any(axis=-1)
    np.testing.assert_allclose(layer(x, mask=mask), keras_model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
