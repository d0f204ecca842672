"""Sequential: compile / fit / evaluate / predict semantics, stateful LSTMs, bad input."""

import re

import numpy as np
import pytest

import minilstm
from minilstm import backend
from minilstm.callbacks import EarlyStopping, LambdaCallback
from minilstm.layers import LSTM, Activation, Dense
from minilstm.models import Sequential
from minilstm.optimizers import Adam

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def regression_model(units=4, timesteps=3, features=1, **compile_args):
    model = Sequential([LSTM(units, input_shape=(timesteps, features)), Dense(1)])
    model.compile(**({"optimizer": "adam", "loss": "mse"} | compile_args))
    return model


def regression_data(n=20, timesteps=3, features=1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, timesteps, features)).astype("float32")
    return x, x.mean(axis=(1, 2))[:, None]


# -- Keras-compatible surface --------------------------------------------------


def test_import_minilstm_as_keras():
    keras = minilstm
    model = keras.models.Sequential([keras.layers.LSTM(2, input_shape=(3, 1)),
                                     keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.RMSprop(), loss=keras.losses.MeanSquaredError(),
                  metrics=["mae"])
    assert callable(keras.activations.tanh) and keras.initializers.get("orthogonal")
    assert issubclass(keras.callbacks.History, keras.callbacks.Callback)


def test_history_keys_values_and_epochs():
    x, y = regression_data()
    model = regression_model(metrics=["mae"])
    history = model.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0)
    assert list(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    assert history.epoch == [0, 1, 2]
    assert all(isinstance(v, float) for values in history.history.values() for v in values)
    assert model.history is history


def test_evaluate_returns_float_or_list():
    x, y = regression_data()
    assert isinstance(regression_model().evaluate(x, y, verbose=0), float)
    result = regression_model(metrics=["mae", "mse"]).evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 3
    logs = regression_model(metrics=["mae"]).evaluate(x, y, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "mae"]


def test_evaluate_loss_is_the_batch_size_weighted_mean():
    x, y = regression_data(n=10)
    model = regression_model()
    predictions = model.predict(x, verbose=0)
    expected = float(np.mean((predictions - y) ** 2))
    assert model.evaluate(x, y, batch_size=3, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_predict_classes_shapes():
    x, _ = regression_data()
    binary = Sequential([LSTM(3, input_shape=(3, 1)), Dense(1, activation="sigmoid")])
    classes = binary.predict_classes(x)
    assert classes.shape == (20, 1) and classes.dtype == np.int32
    np.testing.assert_array_equal(classes, (binary.predict(x, verbose=0) > 0.5).astype("int32"))
    multi = Sequential([LSTM(3, input_shape=(3, 1)), Dense(4), Activation("softmax")])
    classes = multi.predict_classes(x)
    assert classes.shape == (20,)
    np.testing.assert_array_equal(classes, multi.predict(x, verbose=0).argmax(axis=-1))


def test_accuracy_selection_and_history_key_spelling():
    rng = np.random.default_rng(0)
    x = rng.random((12, 2, 1)).astype("float32")
    model = Sequential([LSTM(3, input_shape=(2, 1)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["acc"])
    y = (x[:, 0, 0] > 0.5).astype("float32")
    history = model.fit(x, y, epochs=1, verbose=0)
    assert list(history.history) == ["acc", "loss"]  # Keras 3 sorts log keys
    _, accuracy = model.evaluate(x, y, verbose=0)
    expected = np.mean((model.predict(x, verbose=0)[:, 0] > 0.5) == y)
    assert accuracy == pytest.approx(expected)


def test_verbose_modes(capsys):
    x, y = regression_data(n=10)
    model = regression_model()
    model.fit(x, y, epochs=2, batch_size=5, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(x, y, epochs=2, batch_size=5, verbose=2)
    lines = ANSI.sub("", capsys.readouterr().out).splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.fullmatch(r"2/2 - \d+s - \d+(us|ms|s)/step - loss: \d\.\d{4}(e-\d\d)?", lines[1])
    model.fit(x, y, epochs=1, batch_size=5, verbose=1)
    out = ANSI.sub("", capsys.readouterr().out)
    assert "Epoch" not in out  # Keras prints the epoch line only when epochs > 1
    assert re.search(r"2/2 ━{20} \d+s \d+(us|ms|s)/step - loss: ", out)


def test_validation_split_takes_the_last_samples():
    x, y = regression_data(n=10)
    model = regression_model()
    history = model.fit(x, y, epochs=1, validation_split=0.3, shuffle=False, verbose=0)
    val_loss = history.history["val_loss"][0]
    assert val_loss == pytest.approx(model.evaluate(x[7:], y[7:], verbose=0), rel=1e-5)


def test_validation_data_and_last_partial_batch_trained():
    x, y = regression_data(n=10)
    model = regression_model()
    seen = []
    logger = LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    model.fit(x, y, batch_size=4, epochs=1, callbacks=[logger], validation_data=(x, y),
              verbose=0)
    assert seen == [0, 1, 2]  # 4 + 4 + 2 samples


def test_early_stopping_stops_training():
    x, y = regression_data()
    model = regression_model(optimizer=Adam(learning_rate=0.0))
    history = model.fit(x, y, epochs=20, verbose=0,
                        callbacks=[EarlyStopping(monitor="loss", patience=1)])
    # learning rate 0: the loss never improves after epoch 0, so patience 1 stops after epoch 1
    assert history.epoch == [0, 1]


def test_reproducible_with_set_random_seed():
    x, y = regression_data()
    results = []
    for _ in range(2):
        minilstm.utils.set_random_seed(7)
        model = regression_model()
        model.fit(x, y, epochs=2, batch_size=4, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_get_set_weights_and_save_load(tmp_path):
    x, _ = regression_data()
    model, twin = regression_model(), regression_model()
    twin.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict(x, verbose=0), twin.predict(x, verbose=0))
    path = tmp_path / "model.npz"
    model.save_weights(path)
    third = regression_model()
    third.load_weights(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), third.predict(x, verbose=0))


def test_summary_in_keras3_format(capsys):
    model = Sequential([LSTM(32, input_shape=(10, 1)), Dense(1)])
    model.summary()
    out = capsys.readouterr().out
    lstm_name, dense_name = model.layers[0].name, model.layers[1].name
    # Keras's default names: the class name in snake case, then a counter
    assert re.fullmatch(r"lstm(_\d+)?", lstm_name) and re.fullmatch(r"dense(_\d+)?", dense_name)
    assert out.splitlines()[1] == "┏" + "━" * 33 + "┳" + "━" * 24 + "┳" + "━" * 15 + "┓"
    assert f"│ {lstm_name + ' (LSTM)':<31} │ (None, 32)             │         4,352 │" in out
    assert f"│ {dense_name + ' (Dense)':<31} │ (None, 1)              │            33 │" in out
    assert " Total params: 4,385 (17.13 KB)" in out
    assert " Non-trainable params: 0 (0.00 B)" in out


def test_float64_training():
    backend.set_floatx("float64")
    x, y = regression_data()
    model = regression_model()
    model.fit(x, y, epochs=1, verbose=0)
    assert all(w.dtype == np.float64 for w in model.get_weights())


# -- stateful LSTMs ------------------------------------------------------------


def stateful_model(batch=2, timesteps=3):
    model = Sequential([LSTM(3, stateful=True, batch_input_shape=(batch, timesteps, 1)),
                        Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_state_carries_across_predict_calls_until_reset():
    x = np.random.default_rng(0).random((2, 3, 1))
    model = stateful_model()
    first = model.predict(x, batch_size=2, verbose=0)
    second = model.predict(x, batch_size=2, verbose=0)
    assert not np.allclose(first, second)
    model.reset_states()
    np.testing.assert_allclose(model.predict(x, batch_size=2, verbose=0), first, rtol=1e-6)
    model.layers[0].reset_states()
    np.testing.assert_allclose(model.predict(x, batch_size=2, verbose=0), first, rtol=1e-6)


def test_stateful_batches_chain_sample_by_sample():
    """Row i of batch k+1 starts from the final state of row i of batch k."""
    x = np.random.default_rng(1).random((4, 3, 1)).astype("float32")
    model = stateful_model()
    chained = model.predict(x, batch_size=2, verbose=0)
    model.reset_states()
    long_sequences = np.concatenate([x[:2], x[2:]], axis=1)  # (2, 6, 1)
    twin = Sequential([LSTM(3, batch_input_shape=(2, 6, 1)), Dense(1)])
    twin.set_weights(model.get_weights())
    np.testing.assert_allclose(chained[2:], twin.predict(long_sequences, verbose=0), rtol=1e-5)


def test_stateful_batch_size_defaults_to_the_model_and_mismatches_raise():
    x, y = np.zeros((4, 3, 1)), np.zeros((4, 1))
    model = stateful_model()
    model.fit(x, y, epochs=1, verbose=0, shuffle=False)
    with pytest.raises(ValueError, match="batch_size=2"):
        model.fit(x, y, batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="divided by the batch size"):
        model.predict(np.zeros((5, 3, 1)), batch_size=2, verbose=0)
    with pytest.raises(ValueError, match="batch_input_shape"):
        model.fit(x, y, epochs=1, verbose=0, batch_input_shape=(2, 4, 1))


# -- bad input: clear errors, nothing changed ----------------------------------


def snapshot(model):
    optimizer = model.optimizer
    slots = [np.copy(v) for v in optimizer.variables]
    return model.get_weights(), optimizer.iterations, slots


def assert_unchanged(model, before):
    weights, iterations, slots = snapshot(model)
    for a, b in zip(weights, before[0]):
        np.testing.assert_array_equal(a, b)
    assert iterations == before[1]
    assert len(slots) == len(before[2])
    for a, b in zip(slots, before[2]):
        np.testing.assert_array_equal(a, b)


BAD_CALLS = {
    "2-D x": (lambda m, x, y: m.fit(x[:, :, 0], y, verbose=0),
              r"3-D input \(samples, timesteps, features\).*x\.reshape\(\(20, 3, 1\)\)"),
    "4-D x": (lambda m, x, y: m.fit(x[..., None], y, verbose=0), r"x\.reshape\(\(20, 3, 1\)\)"),
    "features": (lambda m, x, y: m.fit(np.concatenate([x, x], 2), y, verbose=0), "features=1"),
    "timesteps": (lambda m, x, y: m.fit(x[:, :2], y, verbose=0), "timesteps=3"),
    "lengths": (lambda m, x, y: m.fit(x, y[:5], verbose=0), "same number of samples"),
    "y shape": (lambda m, x, y: m.fit(x, np.zeros((20, 3)), verbose=0), r"\(20, 3\)"),
    "nan x": (lambda m, x, y: m.fit(np.where(x > 0.5, np.nan, x), y, verbose=0), "NaN"),
    "inf y": (lambda m, x, y: m.fit(x, np.full_like(y, np.inf), verbose=0), "NaN or infinite"),
    "evaluate 2-D": (lambda m, x, y: m.evaluate(x[:, :, 0], y, verbose=0), "3-D input"),
    "predict 2-D": (lambda m, x, y: m.predict(x[:, :, 0], verbose=0), "3-D input"),
    "batch size": (lambda m, x, y: m.fit(x, y, batch_size=0, verbose=0), "positive integer"),
    "validation split": (lambda m, x, y: m.fit(x, y, validation_split=1.5, verbose=0),
                         "validation_split"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_input_raises_clearly_and_changes_nothing(case):
    call, message = BAD_CALLS[case]
    x, y = regression_data()
    model = regression_model()
    model.fit(x, y, epochs=1, verbose=0)  # optimizer slots exist
    before = snapshot(model)
    with pytest.raises(ValueError, match=message):
        call(model, x, y)
    assert_unchanged(model, before)


def test_stateful_mismatch_changes_nothing():
    x, y = np.zeros((4, 3, 1)), np.zeros((4, 1))
    model = stateful_model()
    model.fit(x, y, epochs=1, verbose=0)
    before = snapshot(model)
    states = [np.copy(s) for s in model.layers[0].states]
    with pytest.raises(ValueError, match="divided by the batch size"):
        model.fit(np.zeros((3, 3, 1)), np.zeros((3, 1)), verbose=0)
    assert_unchanged(model, before)
    for a, b in zip(model.layers[0].states, states):
        np.testing.assert_array_equal(a, b)


def test_fit_before_compile_and_unknown_names():
    x, y = regression_data()
    model = Sequential([LSTM(2, input_shape=(3, 1)), Dense(1)])
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, y)
    with pytest.raises(RuntimeError, match="compile"):
        model.evaluate(x, y)
    with pytest.raises(ValueError, match="'sgd', 'rmsprop', 'adam'"):
        model.compile(optimizer="adamm", loss="mse")
    with pytest.raises(ValueError, match="mean_squared_error"):
        model.compile(optimizer="adam", loss="msee")
    with pytest.raises(ValueError, match="accuracy"):
        model.compile(optimizer="adam", loss="mse", metrics=["acuracy"])
    assert not model.compiled


def test_optimizer_names_are_case_insensitive():
    for name in ("SGD", "Adam", "RMSprop", "rmsprop"):
        regression_model(optimizer=name)


def test_terminate_on_nan_stops_mid_epoch():
    from minilstm.callbacks import TerminateOnNaN

    x, y = regression_data(n=12)
    model = regression_model(optimizer=Adam(learning_rate=1e30))  # diverges at once
    seen = []
    counter = LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    with np.errstate(all="ignore"):
        model.fit(x, y, batch_size=2, epochs=3, verbose=0, callbacks=[TerminateOnNaN(), counter])
    # batch 0's loss is finite (the weights are still the initial ones); its step makes every
    # later loss inf/NaN, so training stops at the end of batch 1, mid-epoch
    assert seen == [0, 1] and model.stop_training


@pytest.mark.parametrize("floatx,rtol", [("float64", 1e-10), ("float32", 1e-5)])
def test_fit_gives_the_same_weights_on_every_kernel_set(kernel_set, floatx, rtol):
    """A few epochs of whole-model training: each kernel set lands where the reference does."""
    if kernel_set == "numpy":
        pytest.skip("numpy is the reference these sets are compared with; its gradients are "
                    "checked by finite differences in test_cells.py and test_layers.py")
    backend.set_floatx(floatx)
    x, y = regression_data(n=24, timesteps=5, features=2)
    results = {}
    for name in ("numpy", kernel_set):
        backend.set_backend(name)
        minilstm.utils.set_random_seed(3)
        model = Sequential([LSTM(6, return_sequences=True, input_shape=(5, 2)),
                            LSTM(4, go_backwards=True), Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, batch_size=8, epochs=3, verbose=0)
        results[name] = model.get_weights()
    for reference, other in zip(results["numpy"], results[kernel_set]):
        np.testing.assert_allclose(other, reference, rtol=rtol, atol=rtol)


def test_return_state_as_the_last_layer_predicts_output_h_and_c():
    model = Sequential([LSTM(3, return_sequences=True, return_state=True, input_shape=(4, 2))])
    x = np.random.default_rng(5).random((5, 4, 2)).astype("float32")
    output, h, c = model.predict(x, batch_size=2, verbose=0)
    assert output.shape == (5, 4, 3) and h.shape == c.shape == (5, 3)
    np.testing.assert_array_equal(output[:, -1], h)
