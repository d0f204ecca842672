"""Encoder-decoder forecasting (Brownlee's recipe): LSTM -> RepeatVector -> LSTM ->
TimeDistributed(Dense), predicting the next 3 values of a noisy sine from the last 8."""

import numpy as np

import minilstm as keras
from minilstm.layers import LSTM, Dense, RepeatVector, TimeDistributed
from minilstm.models import Sequential

keras.utils.set_random_seed(3)
rng = np.random.default_rng(3)
steps_in, steps_out = 8, 3
series = np.sin(np.arange(700) * 0.2) + rng.normal(0, 0.05, 700)
windows = np.lib.stride_tricks.sliding_window_view(series, steps_in + steps_out)
x = windows[:, :steps_in, None].astype("float32")
y = windows[:, steps_in:, None].astype("float32")

model = Sequential()
model.add(LSTM(24, input_shape=(steps_in, 1)))
model.add(RepeatVector(steps_out))
model.add(LSTM(24, return_sequences=True))
model.add(TimeDistributed(Dense(1)))
model.compile(optimizer="adam", loss="mse")
model.fit(x[:600], y[:600], epochs=20, batch_size=32, verbose=0)
mse = model.evaluate(x[600:], y[600:], verbose=0)
print(f"test mse {mse:.4f} (series variance {series.var():.3f})")
assert mse < 0.02, mse
