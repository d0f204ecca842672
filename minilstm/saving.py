"""save_weights / load_weights: NumPy .npz always, Keras's .weights.h5 when h5py is installed.

The .weights.h5 layout follows Keras 3: `layers/<layer name>/vars/<i>`, with
an LSTM's weights under `layers/<name>/cell/vars/<i>`.
"""

import numpy as np


def _h5py(path):
    try:
        import h5py
    except ImportError:
        raise ImportError(
            f"Saving or loading {path!r} in Keras's HDF5 format needs h5py "
            "(pip install h5py). Or use a path ending in '.npz', which needs nothing extra."
        ) from None
    return h5py


def _h5_group(layer):
    inner = "/cell" if type(layer).__name__ == "LSTM" else ""
    return f"layers/{layer.name}{inner}/vars"


def save_weights(model, path):
    path = str(path)
    if path.endswith(".h5"):
        with _h5py(path).File(path, "w") as f:
            for layer in model.layers:
                group = f.require_group(_h5_group(layer))
                for k, value in enumerate(layer.get_weights()):
                    group.create_dataset(str(k), data=value)
        return
    if not path.endswith(".npz"):
        raise ValueError(
            f"The filename must end in `.weights.h5` (needs h5py) or `.npz`. Received: "
            f"filepath={path}"
        )
    np.savez(path, **{f"{i:04d}": w for i, w in enumerate(model.get_weights())})


def load_weights(model, path):
    path = str(path)
    if path.endswith(".h5"):
        with _h5py(path).File(path, "r") as f:
            weights = []
            for layer in model.layers:
                group = f[_h5_group(layer)] if layer.weights else {}
                weights += [np.asarray(group[str(k)]) for k in range(len(layer.weights))]
    else:
        with np.load(path) as archive:
            weights = [archive[key] for key in sorted(archive.files)]
    model.set_weights(weights)
