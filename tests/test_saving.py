"""Saving and loading in minilstm alone: round trips, layouts, atomic writes, refused files."""

import json
import os
import zipfile

import numpy as np
import pytest

import minilstm
from minilstm import layers, saving
from minilstm.callbacks import ModelCheckpoint
from minilstm.models import Model, Sequential, load_model, model_from_json

h5py = pytest.importorskip("h5py")

RNG = np.random.default_rng(3)
X = RNG.normal(size=(8, 5, 2)).astype("float32")
Y = RNG.normal(size=(8, 1)).astype("float32")


def stacked(optimizer="adam"):
    model = Sequential([minilstm.Input((5, 2)), layers.LSTM(4, return_sequences=True),
                        layers.GRU(3), layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
    return model


def h5_tree(path):
    groups = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: groups.__setitem__(name, dict(item.attrs))
                     if isinstance(item, h5py.Group) else None)
    return groups


# -- layout ------------------------------------------------------------------------------


def test_default_names_are_keras_s():
    assert layers.LSTM(2).name.startswith("lstm")
    assert layers.SimpleRNN(2).name.startswith("simple_rnn")
    assert layers.TimeDistributed(layers.Dense(1)).name.startswith("time_distributed")
    first, second = layers.GRU(1), layers.GRU(1)
    assert int(second.name.rsplit("_", 1)[-1] if "_" in second.name else 0) == \
        int(first.name.rsplit("_", 1)[-1] if "_" in first.name else 0) + 1


def test_weights_layout_is_keras_3_s(tmp_path):
    model = Sequential([minilstm.Input((5, 2)), layers.LSTM(3, return_sequences=True),
                        layers.LSTM(2, return_sequences=True),
                        layers.Bidirectional(layers.SimpleRNN(2, return_sequences=True)),
                        layers.TimeDistributed(layers.Dense(2)), layers.Activation("relu")])
    model.compile("adam", "mse")
    model.save_weights(tmp_path / "m.weights.h5")
    tree = h5_tree(tmp_path / "m.weights.h5")
    expected = {
        "vars": model.name, "layers/lstm/vars": model.layers[0].name,
        "layers/lstm/cell/vars": "lstm_cell", "layers/lstm_1/cell/vars": "lstm_cell",
        "layers/bidirectional/vars": model.layers[2].name,
        "layers/bidirectional/forward_layer/cell/vars": "simple_rnn_cell",
        "layers/bidirectional/backward_layer/cell/vars": "simple_rnn_cell",
        "layers/time_distributed/layer/vars": model.layers[3].layer.name,
        "layers/activation/vars": model.layers[4].name, "optimizer/vars": "adam"}
    for group, name in expected.items():
        assert tree[group]["name"] == name, group
    with h5py.File(tmp_path / "m.weights.h5", "r") as f:
        assert [f[f"layers/lstm_1/cell/vars/{k}"].shape for k in "012"] == \
            [(3, 8), (2, 8), (8,)]
        # iterations, learning_rate, then momentum and velocity per trainable weight
        assert len(f["optimizer/vars"]) == 2 + 2 * len(model.trainable_weights)
        assert f["layers/time_distributed/layer/vars/0"].shape == (4, 2)


def test_functional_layout_lists_input_layers_in_keras_order(tmp_path):
    a, b = minilstm.Input((5, 2)), minilstm.Input((3,))
    h = layers.LSTM(2)(a)
    model = Model([a, b], layers.Dense(1)(layers.concatenate([h, layers.Dense(2)(b)])))
    model.save_weights(tmp_path / "f.weights.h5")
    tree = h5_tree(tmp_path / "f.weights.h5")
    for group in ("layers/input_layer/vars", "layers/input_layer_1/vars", "layers/lstm/cell/vars",
                  "layers/dense/vars", "layers/dense_1/vars", "layers/concatenate/vars"):
        assert group in tree
    # Keras's order is by depth: b's Dense is as deep as the LSTM, so it is 'dense'.
    with h5py.File(tmp_path / "f.weights.h5", "r") as f:
        assert f["layers/dense/vars/0"].shape == (3, 2)
        assert f["layers/dense_1/vars/0"].shape == (4, 1)


# -- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".weights.h5", ".keras", ".h5", ".npz"])
def test_round_trip_is_bit_identical(tmp_path, ext):
    model = stacked()
    model.fit(X, Y, epochs=2, batch_size=4, verbose=0)
    path = tmp_path / f"m{ext}"
    if ext in (".weights.h5", ".npz"):
        model.save_weights(path)
        twin = stacked()
        twin.load_weights(path)
    else:
        model.save(path)
        twin = load_model(path)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(X, verbose=0), twin.predict(X, verbose=0))


@pytest.mark.parametrize("ext", [".keras", ".h5", ".weights.h5"])
@pytest.mark.parametrize("optimizer", [
    lambda: minilstm.optimizers.Adam(0.01, amsgrad=True),
    lambda: minilstm.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    lambda: minilstm.optimizers.SGD(0.05, momentum=0.9, nesterov=True)],
    ids=["adam", "rmsprop", "sgd"])
def test_fit_resumes_with_the_same_optimizer_state(tmp_path, ext, optimizer):
    minilstm.utils.set_random_seed(0)
    model = stacked(optimizer())
    model.fit(X, Y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    path = tmp_path / f"m{ext}"
    if ext == ".weights.h5":
        model.save_weights(path)
        resumed = stacked(optimizer())
        resumed.load_weights(path)
    else:
        model.save(path)
        resumed = load_model(path)
    assert resumed.optimizer.iterations == model.optimizer.iterations == 4
    model.train_on_batch(X[:4], Y[:4])
    resumed.train_on_batch(X[:4], Y[:4])
    for a, b in zip(model.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_second_identical_model_loads_the_first_one_s_file(tmp_path):
    first = stacked()
    first.save_weights(tmp_path / "m.weights.h5")
    second = stacked()  # other layer names: lstm_5 ... but the same classes
    assert [layer.name for layer in first.layers] != [layer.name for layer in second.layers]
    second.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(first.predict(X, verbose=0), second.predict(X, verbose=0))


def test_nested_model_and_functional_round_trip(tmp_path):
    inner = Sequential([minilstm.Input((5, 2)), layers.LSTM(3)])
    x = minilstm.Input((5, 2))
    model = Model(x, layers.Dense(1)(inner(x)))
    model.save(tmp_path / "n.keras")
    loaded = load_model(tmp_path / "n.keras")
    assert type(loaded.layers[1]).__name__ == "Sequential"
    np.testing.assert_array_equal(model.predict(X, verbose=0), loaded.predict(X, verbose=0))
    assert "layers/sequential/layers/lstm/cell/vars" in h5_tree(_weights_of(tmp_path / "n.keras"))


def _weights_of(archive, tmp=None):
    folder = os.path.dirname(archive)
    with zipfile.ZipFile(archive) as z:
        z.extract("model.weights.h5", folder)
    return os.path.join(folder, "model.weights.h5")


def test_keras_archive_contents(tmp_path):
    model = stacked()
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        assert sorted(z.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(z.read("config.json"))
        assert "keras_version" in json.loads(z.read("metadata.json"))
    assert config["class_name"] == "Sequential" and config["module"] == "keras"
    assert [entry["class_name"] for entry in config["config"]["layers"]] == \
        ["InputLayer", "LSTM", "GRU", "Dense"]
    lstm = config["config"]["layers"][1]["config"]
    assert lstm["dtype"]["class_name"] == "DTypePolicy"
    assert lstm["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert config["compile_config"]["optimizer"]["class_name"] == "Adam"
    assert config["compile_config"]["loss"] == "mse"
    assert config["compile_config"]["metrics"] == ["mae"]


def test_json_and_config_round_trip():
    a, b = minilstm.Input((5, 2), name="seq"), minilstm.Input((3,), name="side")
    h = layers.Bidirectional(layers.GRU(2, reset_after=False))(a)
    model = Model([a, b], layers.Dense(1, activation="sigmoid")(layers.concatenate([h, b])))
    rebuilt = model_from_json(model.to_json())
    assert [type(layer).__name__ for layer in rebuilt.layers] == \
        [type(layer).__name__ for layer in model.layers]
    assert rebuilt.input_names == ["seq", "side"]
    assert rebuilt.layers[1].forward_layer.reset_after is False
    lstm = layers.LSTM(3, dropout=0.1, go_backwards=True, name="x")
    again = layers.LSTM.from_config(lstm.get_config())
    assert again.get_config() == lstm.get_config()
    for layer in (layers.Dense(2, activation="relu"), layers.Dropout(0.3), layers.Masking(1.0),
                  layers.Embedding(5, 2, mask_zero=True), layers.RepeatVector(2),
                  layers.TimeDistributed(layers.Dense(3)), layers.SimpleRNN(2)):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


def test_keras_only_config_keys_are_checked():
    config = layers.Dense(2).get_config()
    config.update(quantization_config=None, kernel_regularizer=None)
    assert layers.Dense.from_config(config).units == 2
    config["kernel_regularizer"] = {"class_name": "L2", "config": {"l2": 0.01}}
    with pytest.raises(ValueError, match="kernel_regularizer"):
        layers.Dense.from_config(config)


def test_unknown_class_is_named_with_what_is_supported():
    config = json.loads(stacked().to_json())
    config["config"]["layers"][1]["class_name"] = "ConvLSTM2D"
    with pytest.raises(ValueError, match="Unknown layer: 'ConvLSTM2D'.*LSTM"):
        model_from_json(json.dumps(config))

    class Custom(layers.Dense):
        pass

    config["config"]["layers"][1] = json.loads(stacked().to_json())["config"]["layers"][3]
    config["config"]["layers"][1]["class_name"] = "Custom"
    config["config"]["layers"][1]["config"]["units"] = 2
    rebuilt = model_from_json(json.dumps(config), custom_objects={"Custom": Custom})
    assert type(rebuilt.layers[0]) is Custom


# -- atomic writes and refused files ---------------------------------------------------------


@pytest.mark.parametrize("ext", [".weights.h5", ".keras", ".h5"])
def test_failure_mid_save_keeps_the_previous_file(tmp_path, monkeypatch, ext):
    model = stacked()
    path = tmp_path / f"m{ext}"
    (model.save_weights if ext == ".weights.h5" else model.save)(path)
    before = path.read_bytes()
    model.fit(X, Y, verbose=0)  # new weights that will fail to save

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(h5py.Group, "create_dataset", broken)
    with pytest.raises(OSError, match="No space"):
        (model.save_weights if ext == ".weights.h5" else model.save)(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left behind
    twin = stacked()
    twin.load_weights(path)


def _assert_refused(model, path, match):
    before = model.get_weights()
    with pytest.raises(ValueError, match=match):
        model.load_weights(path)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_nan_weights_are_refused_naming_the_tensor(tmp_path):
    model = stacked()
    model.save_weights(tmp_path / "m.weights.h5")
    with h5py.File(tmp_path / "m.weights.h5", "r+") as f:
        f["layers/dense/vars/0"][0, 0] = np.nan
    _assert_refused(stacked(), tmp_path / "m.weights.h5", "layers/dense/vars/0.*NaN")


def test_truncated_and_foreign_files_are_refused(tmp_path):
    model = stacked()
    model.save_weights(tmp_path / "m.weights.h5")
    model.save(tmp_path / "m.keras")
    data = (tmp_path / "m.weights.h5").read_bytes()
    (tmp_path / "cut.weights.h5").write_bytes(data[: len(data) // 2])
    _assert_refused(model, tmp_path / "cut.weights.h5", "truncated|Could not")
    archive = (tmp_path / "m.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(archive[: len(archive) // 2])
    with pytest.raises(ValueError, match="Could not open"):
        load_model(tmp_path / "cut.keras")
    (tmp_path / "text.weights.h5").write_text("not hdf5")
    _assert_refused(model, tmp_path / "text.weights.h5", "Could not open")
    other = Sequential([minilstm.Input((5, 2)), layers.LSTM(5), layers.Dense(1)])
    other.save_weights(tmp_path / "other.weights.h5")
    _assert_refused(model, tmp_path / "other.weights.h5", "does not match|shape")
    bigger = Sequential([minilstm.Input((5, 2)), layers.LSTM(4, return_sequences=True),
                         layers.GRU(3), layers.Dense(1), layers.Dense(1)])
    bigger.save_weights(tmp_path / "bigger.weights.h5")
    _assert_refused(model, tmp_path / "bigger.weights.h5", "no place")


def test_extension_errors_are_keras_s(tmp_path):
    model = stacked()
    with pytest.raises(ValueError, match="Invalid filepath extension for saving"):
        model.save(tmp_path / "m.txt")
    with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`"):
        model.save_weights(tmp_path / "m.h6")
    with pytest.raises(ValueError, match="File not found"):
        load_model(tmp_path / "missing.keras")
    assert saving.load_model is load_model


# -- ModelCheckpoint ---------------------------------------------------------------------------


def test_model_checkpoint_saves_every_epoch_with_templates(tmp_path, capsys):
    model = stacked()
    path = str(tmp_path / "ckpt-{epoch:02d}-{loss:.2f}.keras")
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(path, verbose=1)])
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 2 and names[0].startswith("ckpt-01-") and names[1].startswith("ckpt-02-")
    out = capsys.readouterr().out
    assert f"Epoch 1: saving model to {tmp_path / names[0]}" in out
    assert f"Epoch 2: finished saving model to {tmp_path / names[1]}" in out
    loaded = load_model(tmp_path / names[1])
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_model_checkpoint_best_only(tmp_path, capsys):
    model = stacked(minilstm.optimizers.SGD(0.0))  # a constant loss: only epoch 1 improves
    path = tmp_path / "best.weights.h5"
    checkpoint = ModelCheckpoint(path, monitor="loss", save_best_only=True,
                                 save_weights_only=True, verbose=1)
    model.fit(X, Y, epochs=3, verbose=0, callbacks=[checkpoint])
    out = capsys.readouterr().out
    assert "Epoch 1: loss improved from None to" in out
    assert "Epoch 2: loss did not improve from" in out and "Epoch 3: loss did not improve" in out
    assert os.path.exists(path)


def test_model_checkpoint_arguments():
    with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`"):
        ModelCheckpoint("m.keras", save_weights_only=True)
    with pytest.raises(ValueError, match=r"must end in `\.keras`"):
        ModelCheckpoint("m.weights")
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        ModelCheckpoint("m.keras", save_freq="batch")


def test_model_checkpoint_every_n_batches(tmp_path):
    model = stacked()
    path = str(tmp_path / "b-{epoch}-{batch}.weights.h5")
    model.fit(X, Y, epochs=1, batch_size=2, verbose=0,
              callbacks=[ModelCheckpoint(path, save_weights_only=True, save_freq=2)])
    assert sorted(os.listdir(tmp_path)) == ["b-1-2.weights.h5", "b-1-4.weights.h5"]


# -- Keras 2 / tf.keras legacy files ----------------------------------------------------------


def _write_keras2_file(path, model_config, layer_weights):
    """An .h5 in tf.keras 2.x's layout, written by hand (no TensorFlow here)."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"], f.attrs["backend"] = "2.15.0", "tensorflow"
        f.attrs["model_config"] = json.dumps(model_config)
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = [name.encode() for name, _ in layer_weights]
        for name, weights in layer_weights:
            sub = group.create_group(name)
            sub.attrs["weight_names"] = [w.encode() for w, _ in weights]
            for weight_name, value in weights:
                sub.create_dataset(weight_name, data=value)


def test_keras2_legacy_files_load(tmp_path):
    rng = np.random.default_rng(0)
    kernel, recurrent = rng.normal(size=(2, 12)), rng.normal(size=(3, 12))
    bias, dense_k, dense_b = rng.normal(size=12), rng.normal(size=(3, 1)), rng.normal(size=1)
    init = {"class_name": "GlorotUniform", "config": {"seed": None}}
    lstm = {"name": "lstm", "trainable": True, "dtype": "float32", "return_sequences": False,
            "return_state": False, "go_backwards": False, "stateful": False, "unroll": False,
            "time_major": False, "units": 3, "activation": "tanh",
            "recurrent_activation": "sigmoid", "use_bias": True, "kernel_initializer": init,
            "recurrent_initializer": {"class_name": "Orthogonal",
                                      "config": {"gain": 1.0, "seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}}, "unit_forget_bias": True,
            "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
            "activity_regularizer": None, "kernel_constraint": None,
            "recurrent_constraint": None, "bias_constraint": None, "dropout": 0.0,
            "recurrent_dropout": 0.0, "implementation": 2}
    dense = {"name": "dense", "trainable": True, "dtype": "float32", "units": 1,
             "activation": "linear", "use_bias": True, "kernel_initializer": init,
             "bias_initializer": {"class_name": "Zeros", "config": {}},
             "kernel_regularizer": None, "bias_regularizer": None,
             "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}
    weights = [("lstm", [("lstm/lstm_cell/kernel:0", kernel),
                         ("lstm/lstm_cell/recurrent_kernel:0", recurrent),
                         ("lstm/lstm_cell/bias:0", bias)]),
               ("dense", [("dense/kernel:0", dense_k), ("dense/bias:0", dense_b)])]
    sequential = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 5, 2],
                                                "dtype": "float32", "sparse": False,
                                                "ragged": False, "name": "lstm_input"}},
        {"class_name": "LSTM", "config": lstm}, {"class_name": "Dense", "config": dense}]}}
    functional = {"class_name": "Functional", "config": {"name": "model", "layers": [
        {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 5, 2], "dtype": "float32", "name": "input_1"}},
        {"class_name": "LSTM", "name": "lstm", "config": lstm,
         "inbound_nodes": [[["input_1", 0, 0, {}]]]},
        {"class_name": "Dense", "name": "dense", "config": dense,
         "inbound_nodes": [[["lstm", 0, 0, {}]]]}],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["dense", 0, 0]]}}
    expected = Sequential([minilstm.Input((5, 2)), layers.LSTM(3), layers.Dense(1)])
    expected.set_weights([kernel, recurrent, bias, dense_k, dense_b])
    for name, config in (("seq", sequential), ("func", functional)):
        _write_keras2_file(tmp_path / f"{name}.h5", config, weights)
        model = load_model(tmp_path / f"{name}.h5")
        np.testing.assert_allclose(model.predict(X, verbose=0), expected.predict(X, verbose=0),
                                   atol=1e-6)
    fresh = Sequential([minilstm.Input((5, 2)), layers.LSTM(3), layers.Dense(1)])
    fresh.load_weights(tmp_path / "seq.h5")  # weights by layer order, names ignored
    np.testing.assert_array_equal(fresh.get_weights()[0], kernel.astype("float32"))
