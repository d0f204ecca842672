"""Optional: real Keras 3 reads minilstm's files and minilstm reads Keras's, predicting the same.

Skipped without keras (CI has none); Keras runs in a subprocess (jax backend
unless KERAS_BACKEND says otherwise), so it never shares this process.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import minilstm
from minilstm import layers
from minilstm.models import Model, Sequential, load_model

pytestmark = pytest.mark.skipif(importlib.util.find_spec("keras") is None
                                or importlib.util.find_spec("h5py") is None,
                                reason="keras (and h5py) not installed")

RNG = np.random.default_rng(5)
X = RNG.normal(size=(3, 5, 2)).astype("float32")


def run_keras(script, folder):
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax")}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(folder)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def minilstm_models():
    yield "stacked", Sequential([minilstm.Input((5, 2)), layers.LSTM(4, return_sequences=True),
                                 layers.GRU(3, reset_after=False), layers.Dense(2),
                                 layers.Activation("softmax")])
    yield "wrappers", Sequential([minilstm.Input((5, 2)),
                                  layers.Bidirectional(layers.SimpleRNN(3, return_sequences=True)),
                                  layers.TimeDistributed(layers.Dense(2))])
    x = minilstm.Input((5, 2))
    first, second, third = layers.Dense(3), layers.Dense(4), layers.Dense(5)
    # Keras orders layers by depth: second ('dense'), first ('dense_1'), third ('dense_2'),
    # not in the order minilstm's graph calls them.
    merged = layers.concatenate([first(layers.LSTM(2)(x)), third(second(layers.LSTM(2)(x)))])
    yield "functional", Model(x, merged)


def test_keras_reads_minilstm_files(tmp_path):
    expected = {}
    for name, model in minilstm_models():
        model.compile("adam", "mse")
        model.fit(X, model.predict(X, verbose=0) + 0.5, epochs=2, verbose=0)
        model.save(tmp_path / f"{name}.keras")
        model.save_weights(tmp_path / f"{name}.weights.h5")
        expected[name] = model.predict(X, verbose=0)
    np.save(tmp_path / "x.npy", X)
    run_keras("""
        import sys, numpy as np, keras
        folder = sys.argv[1]
        x = np.load(f"{folder}/x.npy")
        for name in ("stacked", "wrappers", "functional"):
            model = keras.models.load_model(f"{folder}/{name}.keras")
            assert int(model.optimizer.iterations.numpy()) == 2
            twin = keras.models.clone_model(model)
            twin.load_weights(f"{folder}/{name}.weights.h5")
            np.save(f"{folder}/{name}.keras.npy", model.predict(x, verbose=0))
            np.save(f"{folder}/{name}.weights.npy", twin.predict(x, verbose=0))
        """, tmp_path)
    for name, y in expected.items():
        for kind in ("keras", "weights"):
            np.testing.assert_allclose(np.load(tmp_path / f"{name}.{kind}.npy"), y, atol=1e-5)


def test_minilstm_reads_keras_files(tmp_path):
    np.save(tmp_path / "x.npy", X)
    run_keras("""
        import sys, numpy as np, keras
        from keras import layers
        folder = sys.argv[1]
        x = np.load(f"{folder}/x.npy")
        inputs = keras.Input((5, 2))
        first, second, third = layers.Dense(3), layers.Dense(4), layers.Dense(5)
        merged = layers.concatenate([first(layers.LSTM(2)(inputs)),
                                     third(second(layers.LSTM(2)(inputs)))])
        model = keras.Model(inputs, merged)
        model.compile(keras.optimizers.Adam(0.01), "mse")
        model.fit(x, np.ones((3, 8)), epochs=2, verbose=0)
        model.save(f"{folder}/functional.keras")
        model.save_weights(f"{folder}/functional.weights.h5")
        np.save(f"{folder}/functional.npy", model.predict(x, verbose=0))
        """, tmp_path)
    expected = np.load(tmp_path / "functional.npy")
    model = load_model(tmp_path / "functional.keras")
    assert model.optimizer.iterations == 2
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, atol=1e-5)
    _, built = list(minilstm_models())[2]
    built.load_weights(tmp_path / "functional.weights.h5")
    np.testing.assert_allclose(built.predict(X, verbose=0), expected, atol=1e-5)
