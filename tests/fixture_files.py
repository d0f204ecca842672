"""Reading the committed Keras fixture files (tests/fixtures/<writer>/NAME.npz)."""

import os

import numpy as np

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def load_fixture(folder, name):
    """(x, everything in NAME.npz): x is the input array, or a list of them (x0, x1, ...)."""
    with np.load(os.path.join(folder, name + ".npz")) as data:
        data = dict(data)
    xs = [data[k] for k in sorted(data) if k.startswith("x")]
    return (xs if len(xs) > 1 else xs[0]), data


def predict_whole(model, x):
    """model.predict on every sample as one batch (stateful fixtures need their batch size)."""
    count = len(x[0]) if isinstance(x, list) else len(x)
    return model.predict(x, batch_size=count, verbose=0)
