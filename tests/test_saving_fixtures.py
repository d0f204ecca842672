"""Files written by real Keras 3 load into minilstm and predict what Keras predicted.

The fixtures in tests/fixtures/keras3/ were made by tests/fixtures/make_fixtures.py
(Keras 3.15.1, jax backend): for each model a `.keras` archive, a `.weights.h5`
file, a legacy `.h5` file, and an `.npz` with the inputs and Keras's predictions
(and, for compiled models, a training batch and Keras's weights after one more
train_on_batch). No Keras is needed here.
"""

import os

import numpy as np
import pytest

import minilstm
from minilstm import layers
from minilstm.models import Model, Sequential, clone_model, load_model

from fixture_files import load_fixture, predict_whole

pytest.importorskip("h5py")

FOLDER = os.path.join(os.path.dirname(__file__), "fixtures", "keras3")
NAMES = sorted(f[:-4] for f in os.listdir(FOLDER) if f.endswith(".npz"))
COMPILED = ["functional_two_inputs", "gru_reset_after", "lstm_dense_activation"]


def fixture(name):
    return load_fixture(FOLDER, name)


predict = predict_whole


def test_fixture_set_is_complete():
    assert len(NAMES) == 10
    for name in NAMES:
        for ext in (".keras", ".weights.h5", ".h5"):
            assert os.path.exists(os.path.join(FOLDER, name + ext)), name + ext


@pytest.mark.parametrize("ext", [".keras", ".h5"])
@pytest.mark.parametrize("name", NAMES)
def test_load_model_predicts_as_keras(name, ext):
    x, data = fixture(name)
    model = load_model(os.path.join(FOLDER, name + ext))
    np.testing.assert_allclose(predict(model, x), data["y"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_weights_file_loads_into_a_fresh_copy(name):
    x, data = fixture(name)
    model = clone_model(load_model(os.path.join(FOLDER, name + ".keras"), compile=False))
    assert np.abs(predict(model, x) - data["y"]).max() > 1e-4  # fresh weights differ
    if name == "stateful_lstm":
        model.reset_states()  # that predict carried the states on
    model.load_weights(os.path.join(FOLDER, name + ".weights.h5"))
    np.testing.assert_allclose(predict(model, x), data["y"], atol=1e-5, rtol=0)


def test_weights_load_into_models_built_in_code():
    """minilstm's own default names (lstm_7, dense_3, ...) do not matter: Keras keys by class."""
    for _ in range(2):  # the second identical model in one program loads the same file
        model = Sequential([minilstm.Input((6, 2)), layers.LSTM(4, return_sequences=True),
                            layers.LSTM(3), layers.Dense(1)])
        model.load_weights(os.path.join(FOLDER, "stacked_lstm.weights.h5"))
        x, data = fixture("stacked_lstm")
        np.testing.assert_allclose(predict(model, x), data["y"], atol=1e-5, rtol=0)
    sequence, side = minilstm.Input((5, 3)), minilstm.Input((4,))
    merged = layers.concatenate([layers.LSTM(3)(sequence), side])
    model = Model([sequence, side], layers.Dense(2)(merged))
    model.load_weights(os.path.join(FOLDER, "functional_two_inputs.weights.h5"))
    x, data = fixture("functional_two_inputs")
    np.testing.assert_allclose(predict(model, x), data["y"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("ext", [".keras", ".h5"])
@pytest.mark.parametrize("name", COMPILED)
def test_training_resumes_with_keras_optimizer_state(name, ext):
    """One more step after loading equals the step Keras took from the same state."""
    _, data = fixture(name)
    model = load_model(os.path.join(FOLDER, name + ext))
    assert model.optimizer.iterations == 2  # two steps were taken before saving
    train_x = [data[k] for k in sorted(data) if k.startswith("train_x")]
    model.train_on_batch(train_x if len(train_x) > 1 else train_x[0], data["train_y"])
    for k, weight in enumerate(model.get_weights()):
        np.testing.assert_allclose(weight, data[f"next_{k}"], atol=1e-5, rtol=0)


def test_compile_state_is_restored():
    model = load_model(os.path.join(FOLDER, "lstm_dense_activation.keras"))
    assert type(model.optimizer).__name__ == "Adam"
    assert model.optimizer.learning_rate == pytest.approx(0.01)
    assert model.metrics_names == ["loss", "accuracy"]
    uncompiled = load_model(os.path.join(FOLDER, "lstm_dense_activation.keras"), compile=False)
    assert not uncompiled.compiled


def test_architecture_is_keras_s():
    model = load_model(os.path.join(FOLDER, "bidirectional.keras"))
    first, second = model.layers[0], model.layers[1]
    assert type(first).__name__ == "Bidirectional" and first.merge_mode == "concat"
    assert first.forward_layer.name.startswith("forward_lstm") and first.backward_layer.go_backwards
    assert second.merge_mode == "sum" and type(second.forward_layer).__name__ == "GRU"
    gru = load_model(os.path.join(FOLDER, "gru_reset_before.keras")).layers[0]
    assert gru.reset_after is False
    stateful = load_model(os.path.join(FOLDER, "stateful_lstm.keras"))
    assert stateful.layers[0].stateful and stateful.input_shape == (2, 4, 2)
    two = load_model(os.path.join(FOLDER, "functional_two_inputs.keras"))
    assert two.input_names == ["sequence", "side"]
