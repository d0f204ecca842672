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
    "minilstm-numba": ("keras_like", {"MINILSTM_BACKEND": "numba"}, ("minilstm", "numba"),
                       ("cpu",)),
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


def environment(name, threads, device, base=None, isa="native"):
    """The worker's environment: threads pinned for every runtime, devices chosen, and
    with isa='avx2' every framework kept to AVX2 (avx2_environment)."""
    env = dict(os.environ if base is None else base)
    env.pop("MINILSTM_BACKEND", None)  # each minilstm framework names its set, or none
    n = str(threads)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        env[var] = n
    env["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={n}"
    if isa == "avx2":
        env.update(avx2_environment())
        env["XLA_FLAGS"] += " --xla_cpu_max_isa=AVX2"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONWARNINGS"] = "ignore"
    if device == "cpu":  # keep GPU-capable frameworks on the CPU
        env["CUDA_VISIBLE_DEVICES"] = ""
        env["JAX_PLATFORMS"] = "cpu"
    env.update(FRAMEWORKS[name][1])
    return env


def avx2_environment():
    """Variables that keep each framework to AVX2 on a CPU with AVX-512: a stand-in for
    an AVX2-only CPU (AMD Zen 2 and 3, Intel before Skylake-SP) where none is at hand.

    Numba compiles for this CPU's features with every AVX-512 one off (minilstm
    then takes its AVX2 paths); OpenBLAS (NumPy, SciPy) runs its Haswell kernels;
    PyTorch's ATen, oneDNN and MKL their AVX2 code. XLA (jax) honours its flag
    for the code it generates, but its matrix products were measured at the same
    speed with and without it: Keras on jax keeps some AVX-512.
    """
    import llvmlite.binding as llvm

    off = ("avx512", "avx10", "evex512", "amx")
    features = ",".join("-" + f[1:] if f[1:].startswith(off) else f
                        for f in llvm.get_host_cpu_features().flatten().split(","))
    return {"NUMBA_CPU_FEATURES": features, "OPENBLAS_CORETYPE": "Haswell",
            "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


class Unavailable(RuntimeError):
    """The framework is installed but cannot run here (no GPU, no kernel set): a skip."""
