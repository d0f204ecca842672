"""Character-level sequence to sequence (the Keras example's structure, on a toy task):
the training model, then separate inference encoder and decoder models that share the
trained layers, decoding greedily one character at a time.

The toy "translation" reverses a word of letters a-e: 'abc' -> 'cba'.
"""

import numpy as np

import minilstm as keras
from minilstm import layers

keras.utils.set_random_seed(8)
rng = np.random.default_rng(8)
letters = "abcde"
start, stop = "\t", "\n"
target_chars = [start, stop] + list(letters)
n_in, n_out, max_in, max_out = len(letters), len(target_chars), 4, 6

words = ["".join(rng.choice(list(letters), size=int(rng.integers(2, max_in + 1))))
         for _ in range(1500)]
targets = [start + w[::-1] + stop for w in words]

encoder_x = np.zeros((len(words), max_in, n_in), "float32")
decoder_x = np.zeros((len(words), max_out, n_out), "float32")
decoder_y = np.zeros((len(words), max_out, n_out), "float32")
for i, (word, target) in enumerate(zip(words, targets)):
    for t, char in enumerate(word):
        encoder_x[i, t, letters.index(char)] = 1.0
    for t, char in enumerate(target):
        decoder_x[i, t, target_chars.index(char)] = 1.0
        if t > 0:
            decoder_y[i, t - 1, target_chars.index(char)] = 1.0

latent = 32
encoder_inputs = keras.Input(shape=(None, n_in))
encoder = layers.LSTM(latent, return_state=True)
_, state_h, state_c = encoder(encoder_inputs)
decoder_inputs = keras.Input(shape=(None, n_out))
decoder_lstm = layers.LSTM(latent, return_sequences=True, return_state=True)
decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
decoder_dense = layers.Dense(n_out, activation="softmax")
decoder_outputs = decoder_dense(decoder_outputs)
model = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy",
              metrics=["accuracy"])
model.fit([encoder_x, decoder_x], decoder_y, batch_size=64, epochs=25, verbose=0)

# Inference: the encoder gives the states; the decoder runs one step at a time.
encoder_model = keras.Model(encoder_inputs, [state_h, state_c])
h_in, c_in = keras.Input(shape=(latent,)), keras.Input(shape=(latent,))
step_outputs, h_out, c_out = decoder_lstm(decoder_inputs, initial_state=[h_in, c_in])
decoder_model = keras.Model([decoder_inputs, h_in, c_in],
                            [decoder_dense(step_outputs), h_out, c_out])


def translate(word):
    x = np.zeros((1, max_in, n_in), "float32")
    for t, char in enumerate(word):
        x[0, t, letters.index(char)] = 1.0
    h, c = encoder_model.predict(x, verbose=0)
    token = np.zeros((1, 1, n_out), "float32")
    token[0, 0, target_chars.index(start)] = 1.0
    decoded = ""
    for _ in range(max_out):
        probabilities, h, c = decoder_model.predict([token, h, c], verbose=0)
        char = target_chars[int(probabilities[0, -1].argmax())]
        if char == stop:
            break
        decoded += char
        token = np.zeros((1, 1, n_out), "float32")
        token[0, 0, target_chars.index(char)] = 1.0
    return decoded


tests = ["abc", "ed", "caab", "bd", "eeda", "dcb"]
correct = sum(translate(w) == w[::-1] for w in tests)
print([(w, translate(w)) for w in tests])
assert correct >= 5, correct
