"""Training from a Python generator and a PyDataset, as Keras users stream data:
fit(generator, steps_per_epoch=...), evaluate(dataset) and predict(dataset)."""

import numpy as np

import minilstm as keras
from minilstm import layers

keras.utils.set_random_seed(5)
rng = np.random.default_rng(5)


def batches(batch_size=32):
    """Endless batches: the target is the running mean of a random walk's steps."""
    while True:
        x = rng.normal(0, 1, (batch_size, 10, 1)).astype("float32")
        yield x, x.mean(axis=1)


class Holdout(keras.utils.PyDataset):
    def __init__(self, x, batch_size):
        super().__init__()
        self.x, self.batch_size = x, batch_size

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, index):
        x = self.x[index * self.batch_size:(index + 1) * self.batch_size]
        return x, x.mean(axis=1)


model = keras.Sequential([keras.Input(shape=(10, 1)), layers.SimpleRNN(16), layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(batches(), steps_per_epoch=20, epochs=12, verbose=0)
holdout = rng.normal(0, 1, (100, 10, 1)).astype("float32")
mse = model.evaluate(Holdout(holdout, 25), verbose=0)
predictions = model.predict(Holdout(holdout, 25), verbose=0)
print(f"holdout mse {mse:.4f}")
assert predictions.shape == (100, 1) and mse < 0.01, mse
