"""Sequence tagging with a Bidirectional LSTM: one label per token, padded batches masked.

The toy task: tag each token 1 when the token after it is larger than the token before it,
which needs context from both sides. Padding (id 0) is masked out of the loss by mask_zero.
"""

import numpy as np

import minilstm as keras
from minilstm import layers

keras.utils.set_random_seed(2)
rng = np.random.default_rng(2)
vocab, maxlen, n = 10, 10, 500

x = np.zeros((n, maxlen), dtype="int32")
y = np.zeros((n, maxlen), dtype="int32")
for i in range(n):
    length = int(rng.integers(5, maxlen + 1))
    tokens = rng.integers(1, vocab, size=length)
    x[i, :length] = tokens
    before = np.r_[0, tokens[:-1]]
    after = np.r_[tokens[1:], 0]
    y[i, :length] = after > before

inputs = keras.Input(shape=(maxlen,), dtype="int32")
h = layers.Embedding(vocab, 16, mask_zero=True)(inputs)
h = layers.Bidirectional(layers.LSTM(16, return_sequences=True))(h)
outputs = layers.TimeDistributed(layers.Dense(2, activation="softmax"))(h)
model = keras.Model(inputs, outputs)
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(x[:400], y[:400], batch_size=32, epochs=12, verbose=0)

predicted = model.predict(x[400:], verbose=0).argmax(axis=-1)
real = x[400:] != 0
accuracy = (predicted[real] == y[400:][real]).mean()
print(f"token accuracy {accuracy:.3f}")
assert accuracy > 0.9, accuracy
