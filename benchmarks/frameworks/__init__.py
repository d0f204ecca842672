"""The frameworks the harness can time, and the environment each one runs in.

Nothing heavy is imported here: the parent process only checks that the
packages are installed (importlib.util.find_spec); each framework is imported
in its own worker subprocess (`python -m benchmarks.frameworks`).
"""

import importlib.util
import os

# name: (adapter module, extra environment, packages it needs, devices it runs on)
FRAMEWORKS = {
    # the default kernel set, as a user gets it: numba when installed, with small calls on
    # the reference until a large one loads numba (minilstm.backend.kernels_for)
    "minilstm": ("keras_like", {}, ("minilstm",), ("cpu",)),
    "minilstm-numpy": ("keras_like", {"MINILSTM_BACKEND": "numpy"}, ("minilstm",), ("cpu",)),
    "minilstm-numba": ("keras_like", {"MINILSTM_BACKEND": "numba"}, ("minilstm", "numba"), ("cpu",)),
    "minilstm-cupy": ("keras_like", {"MINILSTM_BACKEND": "cupy"}, ("minilstm", "cupy"), ("gpu",)),
    "keras-tensorflow": ("keras_like", {"KERAS_BACKEND": "tensorflow"}, ("keras", "tensorflow"),
                         ("cpu",)),
    "keras-jax": ("keras_like", {"KERAS_BACKEND": "jax"}, ("keras", "jax"), ("cpu", "gpu")),
    "keras-torch": ("keras_like", {"KERAS_BACKEND": "torch"}, ("keras", "torch"), ("cpu", "gpu")),
    "torch": ("torch_rnn", {}, ("torch",), ("cpu", "gpu")),
}

# The minilstm set every other framework is compared with, per device.
BASELINE = {"cpu": "minilstm", "gpu": "minilstm-cupy"}


def for_device(device):
    return [name for name, spec in FRAMEWORKS.items() if device in spec[3]]


def missing(name):
    """The packages `name` needs that are not installed here (empty: runnable)."""
    return [pkg for pkg in FRAMEWORKS[name][2] if importlib.util.find_spec(pkg) is None]


def environment(name, threads, device, base=None):
    """The worker's environment: threads pinned for every runtime, devices chosen."""
    env = dict(os.environ if base is None else base)
    env.pop("MINILSTM_BACKEND", None)  # each minilstm framework names its set, or none
    n = str(threads)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        env[var] = n
    env["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={n}"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONWARNINGS"] = "ignore"
    if device == "cpu":  # keep GPU-capable frameworks on the CPU
        env["CUDA_VISIBLE_DEVICES"] = ""
        env["JAX_PLATFORMS"] = "cpu"
    env.update(FRAMEWORKS[name][1])
    return env


class Unavailable(RuntimeError):
    """The framework is installed but cannot run here (no GPU, no kernel set): a skip."""
