"""A CNN-LSTM classifier: Conv1D + MaxPooling1D extract local patterns, an LSTM reads them.

The toy task: does the sequence contain a short spike pattern (up, up, down) anywhere?
"""

import numpy as np

import minilstm as keras
from minilstm.layers import LSTM, Conv1D, Dense, MaxPooling1D
from minilstm.models import Sequential

keras.utils.set_random_seed(9)
rng = np.random.default_rng(9)
n, steps = 600, 24
x = rng.normal(0, 0.3, (n, steps, 1)).astype("float32")
y = (rng.random(n) < 0.5).astype("int32")
for i in np.flatnonzero(y):
    start = int(rng.integers(0, steps - 3))
    x[i, start:start + 3, 0] += [1.5, 3.0, -1.5]

model = Sequential([
    Conv1D(8, 3, activation="relu", padding="same", input_shape=(steps, 1)),
    MaxPooling1D(2),
    LSTM(16),
    Dense(1, activation="sigmoid"),
])
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
              metrics=["accuracy"])
model.fit(x[:500], y[:500], epochs=10, batch_size=32, verbose=0)
_, accuracy = model.evaluate(x[500:], y[500:], verbose=0)
print(f"test accuracy {accuracy:.3f}")
assert accuracy > 0.9, accuracy
