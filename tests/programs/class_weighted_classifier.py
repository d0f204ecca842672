"""An imbalanced classifier trained with class_weight: the rare class is still found.

5% of the sequences are positive (their mean is shifted up); without weights the model
could predict 'negative' everywhere and still be 95% accurate.
"""

import numpy as np

import minilstm as keras
from minilstm.layers import GRU, Dense
from minilstm.models import Sequential

keras.utils.set_random_seed(4)
rng = np.random.default_rng(4)
n = 800
y = (rng.random(n) < 0.05).astype("int32")
x = rng.normal(0, 1, (n, 6, 1)).astype("float32") + y[:, None, None] * 0.9

model = Sequential([GRU(8, input_shape=(6, 1)), Dense(1, activation="sigmoid")])
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
              weighted_metrics=["accuracy"])
negatives, positives = np.bincount(y)
model.fit(x, y, epochs=15, batch_size=64, verbose=0,
          class_weight={0: 0.5 * n / negatives, 1: 0.5 * n / positives})
predicted = model.predict(x, verbose=0)[:, 0] > 0.5
recall = predicted[y == 1].mean()
specificity = (~predicted[y == 0]).mean()
print(f"recall {recall:.2f}, specificity {specificity:.2f}")
assert recall > 0.7 and specificity > 0.7, (recall, specificity)
