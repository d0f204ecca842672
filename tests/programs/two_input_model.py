"""A two-input Functional model: a sequence and static features, joined with concatenate.

The target needs both: the sum of the sequence times a per-sample scale given as a
static feature.
"""

import numpy as np

import minilstm as keras
from minilstm import layers

keras.utils.set_random_seed(6)
rng = np.random.default_rng(6)
n = 600
sequence = rng.random((n, 8, 1)).astype("float32")
static = rng.random((n, 2)).astype("float32")
target = sequence.sum(axis=(1, 2)) / 8 * (1 + static[:, 0]) - static[:, 1]

series_input = keras.Input(shape=(8, 1), name="series")
static_input = keras.Input(shape=(2,), name="static")
encoded = layers.LSTM(16)(series_input)
merged = layers.concatenate([encoded, static_input])
hidden = layers.Dense(16, activation="relu")(merged)
output = layers.Dense(1, name="target")(hidden)
model = keras.Model(inputs=[series_input, static_input], outputs=output)
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
model.fit({"series": sequence[:500], "static": static[:500]}, target[:500, None], epochs=30,
          batch_size=32, verbose=0)
mse = model.evaluate([sequence[500:], static[500:]], target[500:, None], verbose=0)
print(f"test mse {mse:.5f} (target variance {target.var():.4f})")
assert mse < 0.1 * target.var(), mse
