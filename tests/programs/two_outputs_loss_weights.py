"""A Functional model with two outputs, a loss per output and loss_weights:
a regression head (the sequence's mean) and a classification head (is it rising?)."""

import numpy as np

import minilstm as keras
from minilstm import layers

keras.utils.set_random_seed(7)
rng = np.random.default_rng(7)
n = 600
x = np.cumsum(rng.normal(0, 1, (n, 10, 1)), axis=1).astype("float32") / 3
mean = x.mean(axis=(1, 2))[:, None]
rising = (x[:, -1, 0] > x[:, 0, 0]).astype("int32")

inputs = keras.Input(shape=(10, 1))
features = layers.GRU(16)(inputs)
level = layers.Dense(1, name="level")(features)
trend = layers.Dense(1, activation="sigmoid", name="trend")(features)
model = keras.Model(inputs, [level, trend])
model.compile(optimizer=keras.optimizers.Adam(0.01),
              loss={"level": "mse", "trend": "binary_crossentropy"},
              loss_weights={"level": 1.0, "trend": 0.5},
              metrics={"trend": ["accuracy"]})
history = model.fit(x[:500], {"level": mean[:500], "trend": rising[:500]}, epochs=25,
                    batch_size=32, verbose=0)
assert {"loss", "level_loss", "trend_loss", "trend_accuracy"} <= set(history.history)
logs = model.evaluate(x[500:], [mean[500:], rising[500:]], verbose=0, return_dict=True)
print({key: round(value, 4) for key, value in logs.items()})
assert abs(logs["loss"] - (logs["level_loss"] + 0.5 * logs["trend_loss"])) < 1e-4
assert logs["level_loss"] < 0.05 and logs["trend_accuracy"] > 0.85, logs
