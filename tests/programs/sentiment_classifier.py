"""Sentiment classification: Embedding + LSTM on padded token ids (the canonical Keras example).

A Keras program with only its imports changed (`import keras` -> `import minilstm as keras`).
The toy task: a review is positive when it holds more 'good' tokens (ids 2-4) than 'bad' ones
(ids 5-7); every other id is filler. Sequences have different lengths and are padded.
"""

import numpy as np

import minilstm as keras
from minilstm import layers
from minilstm.utils import pad_sequences

keras.utils.set_random_seed(1)
rng = np.random.default_rng(1)
vocab, maxlen = 20, 12


def review():
    length = int(rng.integers(4, maxlen + 1))
    tokens = rng.integers(8, vocab, size=length)
    signal = rng.integers(2, 8, size=int(rng.integers(1, 4)))
    tokens[rng.choice(length, size=len(signal), replace=False)] = signal
    good, bad = np.isin(tokens, [2, 3, 4]).sum(), np.isin(tokens, [5, 6, 7]).sum()
    return list(tokens), int(good > bad)


samples = [review() for _ in range(600)]
x = pad_sequences([s for s, _ in samples], maxlen=maxlen)
y = np.array([label for _, label in samples])

model = keras.Sequential([
    layers.Embedding(vocab, 16, mask_zero=True),
    layers.LSTM(16, dropout=0.1, recurrent_dropout=0.1),
    layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
              metrics=["accuracy"])
model.fit(x[:500], y[:500], batch_size=32, epochs=15, validation_split=0.1, verbose=0)
loss, accuracy = model.evaluate(x[500:], y[500:], verbose=0)
print(f"test accuracy {accuracy:.3f}")
assert accuracy > 0.85, accuracy
