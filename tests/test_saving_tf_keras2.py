"""Files written by real tf.keras 2 load into minilstm and predict what tf.keras predicted.

The fixtures in tests/fixtures/tf_keras2/ were made by
tests/fixtures/make_fixtures_tf_keras2.py with tensorflow and tf_keras 2.21.0
(versions.json): for each model a legacy `.h5` model file (`model.save("m.h5")`),
a Keras 2 `.h5` weights file (`model.save_weights("m_weights.h5")`) and an `.npz`
with the inputs and tf.keras's predictions (and, for compiled models, a training
batch and tf.keras's weights after one more train_on_batch). No Keras or
TensorFlow is needed here. Also: `load_weights(by_name=..., skip_mismatch=...)`.
"""

import json
import os
import shutil
import warnings

import numpy as np
import pytest

import minilstm
from minilstm import layers
from minilstm.models import Model, Sequential, load_model

from fixture_files import load_fixture, predict_whole

h5py = pytest.importorskip("h5py")

FOLDER = os.path.join(os.path.dirname(__file__), "fixtures", "tf_keras2")
KERAS3 = os.path.join(os.path.dirname(__file__), "fixtures", "keras3")
NAMES = sorted(f[:-4] for f in os.listdir(FOLDER) if f.endswith(".npz"))
COMPILED = ["functional_two_inputs", "gru", "lstm_dense_activation"]


def fixture(name):
    return load_fixture(FOLDER, name)


predict = predict_whole


def saved_arrays(name, layer_name):
    """The arrays the tf.keras weights file holds for one layer, in its order."""
    with h5py.File(os.path.join(FOLDER, name + "_weights.h5"), "r") as f:
        group = f[layer_name]
        return [np.asarray(group[w.decode() if isinstance(w, bytes) else w])
                for w in group.attrs["weight_names"]]


# The same models built in minilstm's code (tests/fixtures/make_fixtures_tf_keras2.py).
def _seq(*stack):
    return Sequential(list(stack))


BUILDERS = {
    "stacked_lstm": lambda: _seq(minilstm.Input((6, 2)), layers.LSTM(4, return_sequences=True),
                                 layers.LSTM(3), layers.Dense(1)),
    "lstm_dense_activation": lambda: _seq(minilstm.Input((5, 3)), layers.LSTM(4),
                                          layers.Dense(3), layers.Activation("softmax")),
    "stateful_lstm": lambda: _seq(minilstm.Input(batch_shape=(2, 4, 2)),
                                  layers.LSTM(3, stateful=True), layers.Dense(1)),
    "gru": lambda: _seq(minilstm.Input((5, 2)), layers.GRU(3), layers.Dense(1)),
    "gru_reset_before": lambda: _seq(minilstm.Input((5, 2)), layers.GRU(3, reset_after=False),
                                     layers.Dense(1)),
    "simple_rnn": lambda: _seq(minilstm.Input((5, 2)), layers.SimpleRNN(3, return_sequences=True),
                               layers.SimpleRNN(2)),
    "bidirectional": lambda: _seq(
        minilstm.Input((5, 2)), layers.Bidirectional(layers.LSTM(3, return_sequences=True)),
        layers.Bidirectional(layers.GRU(2), merge_mode="sum"), layers.Dense(1)),
    "time_distributed": lambda: _seq(minilstm.Input((5, 2)),
                                     layers.LSTM(3, return_sequences=True),
                                     layers.TimeDistributed(layers.Dense(2))),
    "embedding_lstm": lambda: _seq(minilstm.Input((6,), dtype="int32"),
                                   layers.Embedding(10, 4, mask_zero=True), layers.LSTM(3),
                                   layers.Dense(1, activation="sigmoid")),
    "masking_lstm": lambda: _seq(minilstm.Input((6, 2)), layers.Masking(0.0),
                                 layers.LSTM(3, return_sequences=True), layers.LSTM(2)),
}


def _functional_two_inputs():
    a, b = minilstm.Input((5, 3), name="sequence"), minilstm.Input((4,), name="side")
    merged = layers.concatenate([layers.LSTM(3)(a), b])
    return Model([a, b], layers.Dense(2)(merged))


BUILDERS["functional_two_inputs"] = _functional_two_inputs


def test_fixture_set_is_complete():
    assert NAMES == sorted(BUILDERS)
    for name in NAMES:
        for suffix in (".h5", "_weights.h5"):
            assert os.path.exists(os.path.join(FOLDER, name + suffix)), name + suffix
    with open(os.path.join(FOLDER, "versions.json")) as handle:
        versions = json.load(handle)
    assert versions["tf_keras"].startswith("2.") and versions["tensorflow"].startswith("2.")
    with h5py.File(os.path.join(FOLDER, "stacked_lstm.h5"), "r") as f:  # really tf.keras 2's
        assert f.attrs["keras_version"] == versions["tf_keras"]
        names = [n.decode() if isinstance(n, bytes) else n
                 for n in f["model_weights/lstm"].attrs["weight_names"]]
        assert names == ["lstm/lstm_cell/kernel:0", "lstm/lstm_cell/recurrent_kernel:0",
                         "lstm/lstm_cell/bias:0"]
        assert json.loads(f.attrs["model_config"])["config"]["layers"][0]["config"][
            "batch_input_shape"] == [None, 6, 2]


@pytest.mark.parametrize("name", NAMES)
def test_load_model_predicts_as_tf_keras(name):
    x, data = fixture(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "optimizer starts fresh" or other complaint
        warnings.filterwarnings("ignore", "Argument `input_length` is deprecated")
        model = load_model(os.path.join(FOLDER, name + ".h5"))
    np.testing.assert_allclose(predict(model, x), data["y"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_weights_file_loads_into_a_model_built_in_code(name):
    x, data = fixture(name)
    model = BUILDERS[name]()
    assert np.abs(predict(model, x) - data["y"]).max() > 1e-4  # fresh weights differ
    if name == "stateful_lstm":
        model.reset_states()  # that predict carried the states on
    model.load_weights(os.path.join(FOLDER, name + "_weights.h5"))
    np.testing.assert_allclose(predict(model, x), data["y"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", COMPILED)
def test_training_resumes_with_tf_keras_optimizer_state(name):
    """One more step after loading equals the step tf.keras took from the same state."""
    _, data = fixture(name)
    model = load_model(os.path.join(FOLDER, name + ".h5"))
    assert model.optimizer.iterations == 2  # two steps were taken before saving
    train_x = [data[k] for k in sorted(data) if k.startswith("train_x")]
    model.train_on_batch(train_x if len(train_x) > 1 else train_x[0], data["train_y"])
    for k, weight in enumerate(model.get_weights()):
        np.testing.assert_allclose(weight, data[f"next_{k}"], atol=1e-5, rtol=0)


def test_compile_state_is_restored():
    model = load_model(os.path.join(FOLDER, "lstm_dense_activation.h5"))
    assert type(model.optimizer).__name__ == "Adam"  # tf.keras 2 wrote "Custom>Adam"
    assert model.optimizer.learning_rate == pytest.approx(0.01)
    assert model.metrics_names == ["loss", "accuracy"]  # a MeanMetricWrapper in the file
    sgd = load_model(os.path.join(FOLDER, "functional_two_inputs.h5")).optimizer
    assert type(sgd).__name__ == "SGD" and sgd.momentum == pytest.approx(0.9)
    rmsprop = load_model(os.path.join(FOLDER, "gru.h5")).optimizer  # ema_overwrite_frequency=100
    assert type(rmsprop).__name__ == "RMSprop" and rmsprop.rho == pytest.approx(0.9)
    assert not load_model(os.path.join(FOLDER, "gru.h5"), compile=False).compiled


def test_architecture_is_tf_keras_s():
    stacked = load_model(os.path.join(FOLDER, "stacked_lstm.h5"))
    assert stacked.input_shape == (None, 6, 2)  # from batch_input_shape
    assert [type(layer).__name__ for layer in stacked.layers] == ["LSTM", "LSTM", "Dense"]
    assert stacked.layers[0].return_sequences and not stacked.layers[1].return_sequences
    assert load_model(os.path.join(FOLDER, "gru.h5")).layers[0].reset_after is True
    assert load_model(os.path.join(FOLDER, "gru_reset_before.h5")).layers[0].reset_after is False
    stateful = load_model(os.path.join(FOLDER, "stateful_lstm.h5"))
    assert stateful.layers[0].stateful and stateful.input_shape == (2, 4, 2)
    two = load_model(os.path.join(FOLDER, "functional_two_inputs.h5"))
    assert type(two) is Model and two.input_names == ["sequence", "side"]
    embedding = load_model(os.path.join(FOLDER, "embedding_lstm.h5")).layers[0]
    assert embedding.mask_zero is True and embedding.input_dim == 10
    bidirectional = load_model(os.path.join(FOLDER, "bidirectional.h5")).layers
    assert bidirectional[0].merge_mode == "concat" and bidirectional[1].merge_mode == "sum"


# -- by_name and skip_mismatch ---------------------------------------------------------


def _named_stack(head_units=1, head_name="dense"):
    return _seq(minilstm.Input((6, 2)), layers.LSTM(4, return_sequences=True, name="lstm"),
                layers.LSTM(3, name="lstm_1"), layers.Dense(head_units, name=head_name))


def test_by_name_matches_layers_by_name():
    x, data = fixture("stacked_lstm")
    model = _named_stack()
    model.load_weights(os.path.join(FOLDER, "stacked_lstm_weights.h5"), by_name=True)
    np.testing.assert_allclose(predict(model, x), data["y"], atol=1e-5, rtol=0)
    # by order, names do not matter; by name, a layer the file does not name keeps its weights
    renamed = _named_stack(head_name="head")
    head = [w.copy() for w in renamed.layers[2].get_weights()]
    renamed.load_weights(os.path.join(FOLDER, "stacked_lstm_weights.h5"), by_name=True)
    for kept, now in zip(head, renamed.layers[2].get_weights()):
        np.testing.assert_array_equal(kept, now)
    for loaded, saved in zip(renamed.layers[0].get_weights(), saved_arrays("stacked_lstm", "lstm")):
        np.testing.assert_array_equal(loaded, saved)


def test_by_name_ignores_saved_layers_the_model_lacks():
    model = _seq(minilstm.Input((6, 2)), layers.LSTM(4, return_sequences=True, name="lstm"))
    model.load_weights(os.path.join(FOLDER, "stacked_lstm_weights.h5"), by_name=True)
    for loaded, saved in zip(model.get_weights(), saved_arrays("stacked_lstm", "lstm")):
        np.testing.assert_array_equal(loaded, saved)
    with pytest.raises(ValueError, match="Layer count mismatch"):  # by order it must fit
        model.load_weights(os.path.join(FOLDER, "stacked_lstm_weights.h5"))


def test_by_name_mismatch_raises_naming_the_layer_and_changes_nothing():
    model = _named_stack(head_units=2)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"layer #2 \(named dense\).*shape \(3, 2\).*\(3, 1\)"):
        model.load_weights(os.path.join(FOLDER, "stacked_lstm_weights.h5"), by_name=True)
    for kept, now in zip(before, model.get_weights()):
        np.testing.assert_array_equal(kept, now)


def test_skip_mismatch_skips_the_mismatched_layer_with_a_warning():
    model = _named_stack(head_units=2)
    head = [w.copy() for w in model.layers[2].get_weights()]
    with pytest.warns(UserWarning, match=r"Skipping loading of weights for layer #2 \(named "
                                         r"dense\)") as caught:
        model.load_weights(os.path.join(FOLDER, "stacked_lstm_weights.h5"), by_name=True,
                           skip_mismatch=True)
    assert sum("Skipping" in str(w.message) for w in caught) == 1  # only the head
    for kept, now in zip(head, model.layers[2].get_weights()):
        np.testing.assert_array_equal(kept, now)
    for layer, name in ((model.layers[0], "lstm"), (model.layers[1], "lstm_1")):
        for loaded, saved in zip(layer.get_weights(), saved_arrays("stacked_lstm", name)):
            np.testing.assert_array_equal(loaded, saved)


def test_skip_mismatch_counts_weights_too():
    # a GRU named like the file's LSTM: 3 weights each, other shapes; a Dense without bias
    no_bias = _seq(minilstm.Input((6, 2)), layers.LSTM(4, return_sequences=True, name="lstm"),
                   layers.LSTM(3, name="lstm_1"), layers.Dense(1, use_bias=False, name="dense"))
    with pytest.raises(ValueError, match=r"Weight count mismatch for layer #2 \(named dense\)\. "
                                         r"Layer expects 1 weight\(s\)\. Received 2"):
        no_bias.load_weights(os.path.join(FOLDER, "stacked_lstm_weights.h5"), by_name=True)
    model = _seq(minilstm.Input((6, 2)), layers.GRU(4, return_sequences=True, name="lstm"),
                 layers.LSTM(3, name="lstm_1"), layers.Dense(1, use_bias=False, name="dense"))
    with pytest.warns(UserWarning) as caught:
        model.load_weights(os.path.join(FOLDER, "stacked_lstm_weights.h5"), by_name=True,
                           skip_mismatch=True)
    skipped = sorted(str(w.message).split("(named ")[1].split(")")[0] for w in caught
                     if "Skipping" in str(w.message))
    assert skipped == ["dense", "lstm"]
    for loaded, saved in zip(model.layers[1].get_weights(), saved_arrays("stacked_lstm", "lstm_1")):
        np.testing.assert_array_equal(loaded, saved)


def test_skip_mismatch_still_refuses_a_damaged_layer_and_changes_nothing(tmp_path):
    path = str(tmp_path / "damaged_weights.h5")
    shutil.copy(os.path.join(FOLDER, "stacked_lstm_weights.h5"), path)
    with h5py.File(path, "r+") as f:
        f["lstm_1/lstm_1/lstm_cell/bias:0"][0] = np.nan
    model = _named_stack(head_units=2)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="NaN"):
        model.load_weights(path, by_name=True, skip_mismatch=True)
    for kept, now in zip(before, model.get_weights()):
        np.testing.assert_array_equal(kept, now)


def test_skip_mismatch_needs_by_name_for_legacy_files():
    model = _named_stack()
    with pytest.raises(ValueError, match="skip_mismatch can only be set to True when by_name "
                                         "is True"):
        model.load_weights(os.path.join(FOLDER, "stacked_lstm_weights.h5"), skip_mismatch=True)


@pytest.mark.parametrize("filename", ["stacked_lstm.weights.h5", "stacked_lstm.keras"])
def test_by_name_is_refused_for_keras3_files(filename):
    model = _named_stack()
    with pytest.raises(ValueError, match=r"`by_name` only supports loading legacy '\.h5' or "
                                         r"'\.hdf5' files"):
        model.load_weights(os.path.join(KERAS3, filename), by_name=True)


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_flags_must_be_booleans(value):
    model = _named_stack()
    with pytest.raises(TypeError, match="must be True or False"):
        model.load_weights(os.path.join(FOLDER, "stacked_lstm_weights.h5"), by_name=value)
    with pytest.raises(TypeError, match="must be True or False"):
        model.load_weights(os.path.join(FOLDER, "stacked_lstm_weights.h5"), skip_mismatch=value)


@pytest.mark.parametrize("filename", ["stacked_lstm.weights.h5", "stacked_lstm.keras"])
def test_keras3_skip_mismatch_skips_mismatched_variables(filename):
    path = os.path.join(KERAS3, filename)
    model = _named_stack(head_units=2)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="shape"):
        model.load_weights(path)
    for kept, now in zip(before, model.get_weights()):
        np.testing.assert_array_equal(kept, now)
    with pytest.warns(UserWarning, match=r"A total of 1 objects could not be loaded.*"
                                         r"layer 'dense'"):
        model.load_weights(path, skip_mismatch=True)
    for kept, now in zip(before[-2:], model.get_weights()[-2:]):
        np.testing.assert_array_equal(kept, now)  # the head kept its weights
    reference = _seq(minilstm.Input((6, 2)), layers.LSTM(4, return_sequences=True),
                     layers.LSTM(3), layers.Dense(1))
    reference.load_weights(os.path.join(KERAS3, "stacked_lstm.weights.h5"))
    for loaded, saved in zip(model.get_weights()[:6], reference.get_weights()[:6]):
        np.testing.assert_array_equal(loaded, saved)


def test_keras3_skip_mismatch_skips_a_missing_layer():
    model = _seq(minilstm.Input((6, 2)), layers.LSTM(4, return_sequences=True), layers.LSTM(3),
                 layers.Dense(1), layers.Dense(2))
    with pytest.raises(ValueError, match="expects 2 variables, the file holds 0"):
        model.load_weights(os.path.join(KERAS3, "stacked_lstm.weights.h5"))
    extra = [w.copy() for w in model.layers[3].get_weights()]
    with pytest.warns(UserWarning, match="A total of 1 objects"):
        model.load_weights(os.path.join(KERAS3, "stacked_lstm.weights.h5"), skip_mismatch=True)
    reference = _seq(minilstm.Input((6, 2)), layers.LSTM(4, return_sequences=True),
                     layers.LSTM(3), layers.Dense(1))
    reference.load_weights(os.path.join(KERAS3, "stacked_lstm.weights.h5"))
    for loaded, saved in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(loaded, saved)
    for kept, now in zip(extra, model.layers[3].get_weights()):
        np.testing.assert_array_equal(kept, now)
