"""`python -m minilstm`: the seed's complete example, learning the sequence 0.0, 0.1, ..., 0.9.

It trains LSTM(10) + Dense(1) with Adam on mean squared error for 1000
epochs, then prints the loss and the predictions, as the seed document's
Keras script does. Options: `--epochs N`, `--backend numpy|numba|cupy`, `--seed S`.
"""

import argparse
import time

import numpy as np

from . import backend, kernels, utils
from .layers import LSTM, Dense
from .models import Sequential


def sequence_data(length=10):
    """X[i] = i/length predicts y[i] = (i+1)/length: the seed's shift-by-one pairs."""
    sequence = np.arange(length) / float(length)
    X, y = sequence[:-1], sequence[1:]
    return X.reshape(len(X), 1, 1), y


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minilstm", description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--backend", choices=["numpy", "numba", "cupy"], default=None)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if args.backend:
        backend.set_backend(args.backend)
    if args.seed is not None:
        utils.set_random_seed(args.seed)

    X, y = sequence_data()
    print([i / 10.0 for i in range(10)])
    model = Sequential()
    model.add(LSTM(10, input_shape=(1, 1)))
    model.add(Dense(1))
    model.compile(optimizer="adam", loss="mean_squared_error")
    start = time.perf_counter()
    model.fit(X, y, epochs=args.epochs, batch_size=len(X), verbose=0)
    seconds = time.perf_counter() - start
    loss = model.evaluate(X, y, verbose=0)
    print(loss)
    predictions = model.predict(X, verbose=0)
    print(predictions[:, 0])
    name = backend.get_backend()
    if name == "numba" and not kernels.is_loaded("numba"):  # see backend.kernels_for
        name += ", these small calls on the reference kernels: numba not loaded"
    print(f"(backend {name}, {args.epochs} epochs in {seconds:.2f} s)")
    return loss


if __name__ == "__main__":
    main()
