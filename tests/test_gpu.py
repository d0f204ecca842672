"""The CuPy kernel set: parity with the reference on a CUDA device, and what can be
checked without one (the CUDA sources compile, their Activation enum is
kernels/activations.py's CODES, the set reports why it cannot run).

Every cell's parity over masks and activations is tests/test_cells.py's (its
kernel_set fixture includes 'cupy'); this file adds the LSTM's full activation
matrix in float32, multi-block shapes for every cell, NaN propagation, and the
device-only checks (TF32, contiguity, purity, boundary errors).

On a machine without cupy or without a device every device test skips with the
plain reason from `gpu.unavailable_reason()`.
"""

import os

# Full FP32 for float32 GEMMs, so parity holds at 1e-5 (see kernels/gpu.py on
# TF32). Set before this file first uses cuBLAS; conftest's availability probe
# only initialises the CUDA runtime, not cuBLAS. test_float32_matmul_is_full_fp32
# checks on the device that it took effect.
os.environ.setdefault("NVIDIA_TF32_OVERRIDE", "0")

import itertools
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from minilstm import backend
from minilstm.kernels import get as get_kernel_set
from minilstm.kernels import gpu, gradcheck, reference
from minilstm.kernels.activations import CODES
from minilstm.kernels.cache import SUPPORTED_ACTIVATIONS
from minilstm.kernels.gpu import _launch
from minilstm.kernels.gradcheck import (
    CELLS,
    backward,
    forward,
    gradient_names,
    random_masks,
    random_problem,
)

CUDA_DIR = pathlib.Path(_launch.CUDA_DIR)
STEP_KERNELS = {
    "lstm": ["lstm_forward_step", "lstm_backward_step"],
    "gru": ["gru_forward_step", "gru_gates_step", "gru_candidate_step", "gru_backward_step",
            "gru_backward_candidate_step", "gru_backward_reset_step"],
    "simple_rnn": ["simple_rnn_forward_step", "simple_rnn_backward_step"],
}
TOLERANCES = {np.float32: 1e-5, np.float64: 1e-10}
TENSORS = ("x", "h0", "c0", "kernel", "recurrent_kernel", "bias")
GRADIENTS = ("dx", "dh0", "dc0", "dkernel", "drecurrent_kernel", "dbias")
UNBOUNDED = ("relu", "linear")

needs_gpu = pytest.mark.skipif(not gpu.is_available(), reason=gpu.unavailable_reason())


# --- what runs everywhere --------------------------------------------------


def test_availability_is_explained():
    reason = gpu.unavailable_reason()
    if gpu.is_available():
        assert reason == ""
    else:
        assert reason.startswith("cupy is ")


def test_reason_without_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` now fails
    assert gpu._probe() == "cupy is not installed (pip install 'minilstm[gpu]')."


@pytest.mark.skipif(gpu.is_available(), reason="the cupy kernel set can run here")
def test_get_raises_with_the_reason():
    with pytest.raises(RuntimeError, match=re.escape(gpu.unavailable_reason())):
        get_kernel_set("cupy")


def _enums():
    """{file name: {name: code}} for every `enum Activation` under kernels/cuda."""
    enums = {}
    for path in sorted(CUDA_DIR.glob("*.cu*")):
        for body in re.findall(r"enum Activation \{(.*?)\};", path.read_text(), re.DOTALL):
            enums[path.name] = {name.lower(): int(value)
                                for name, value in re.findall(r"([A-Z_]+) = (\d+)", body)}
    return enums


def test_activation_enum_is_kernels_activations_codes():
    enums = _enums()
    assert list(enums) == ["activations.cuh"], f"one enum, in the shared header: {list(enums)}"
    assert enums["activations.cuh"] == CODES
    assert set(CODES) == set(SUPPORTED_ACTIVATIONS)


def test_cell_modules_pass_codes_not_a_private_table():
    package = pathlib.Path(gpu.__file__).parent
    for path in package.glob("*.py"):
        text = path.read_text()
        assert not re.search(r"[\"']tanh[\"']\s*:\s*\d", text), f"{path.name}: a private code table"


@pytest.mark.parametrize("cell", list(STEP_KERNELS))
def test_nvrtc_source_is_one_self_contained_string(cell):
    # NVRTC compiles the string _launch.source gives it; it has no include path.
    code = _launch.source(cell)
    assert not re.search(r"^\s*#\s*include", code, re.MULTILINE)
    assert code.count("enum Activation {") == 1
    for name in STEP_KERNELS[cell]:
        assert f"{name}_##SUFFIX(" in code


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("cell", list(STEP_KERNELS))
def test_cuda_source_compiles_cleanly(tmp_path, cell):
    cubin = tmp_path / f"{cell}.cubin"
    result = subprocess.run(
        ["nvcc", "--cubin", "-arch=sm_90", "-std=c++14", "-Werror", "all-warnings",
         "-Xptxas", "-v", "-o", str(cubin), str(CUDA_DIR / f"{cell}.cu")],
        check=False, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower(), result.stderr
    spills = re.findall(r"(\d+) bytes spill stores, (\d+) bytes spill loads", result.stderr)
    assert spills and all(stores == loads == "0" for stores, loads in spills), result.stderr
    symbols = cubin.read_bytes()
    for name in STEP_KERNELS[cell]:
        for suffix in ("f32", "f64"):
            assert f"{name}_{suffix}".encode() in symbols, f"{name}_{suffix} missing from the cubin"


# --- what needs a CUDA device ------------------------------------------------


def _to_device(arrays):
    """cupy copies of the host arrays in a dict; other values (None, names) stay."""
    import cupy

    return {name: cupy.asarray(value) if isinstance(value, np.ndarray) else value
            for name, value in arrays.items()}


def _assert_close(name, got, expected, rtol):
    """Max difference relative to the tensor's scale (llm.c's check_tensor)."""
    got, expected = backend.to_numpy(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{name}: shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"{name}: dtype {got.dtype} != {expected.dtype}"
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    error = float(np.abs(got.astype(np.float64) - expected).max(initial=0.0)) / scale
    assert error <= rtol, f"{name}: max difference {error:.3e} (relative to {scale:.3g}) > {rtol}"


def _run_both(dtype, activation, recurrent_activation, go_backwards, upstream_none=False,
              batch=3, timesteps=5, input_dim=4, units=6, seed=0):
    arrays, upstream = random_problem(batch, timesteps, input_dim, units, seed, dtype=dtype)
    # Weights of unit fan-in variance, as initialisers give: with random_problem's
    # fixed scale a wide layer is chaotic, and float32 itself then drifts from
    # float64 by 1e-4 in the reference (units=300).
    arrays["kernel"] = (arrays["kernel"] * 2 / np.sqrt(input_dim)).astype(dtype)
    arrays["recurrent_kernel"] = (arrays["recurrent_kernel"] * 2 / np.sqrt(units)).astype(dtype)
    if activation in UNBOUNDED and recurrent_activation in UNBOUNDED:
        # Unbounded gates and cell output grow h super-exponentially over the
        # steps (to 1e70 at scale 1): keep this problem in float32 range.
        arrays = {name: (value * 0.5).astype(dtype) for name, value in arrays.items()}
    if upstream_none:
        upstream = {name: None for name in upstream}
    options = {"activation": activation, "recurrent_activation": recurrent_activation,
               "go_backwards": go_backwards}
    expected = reference.lstm_forward(*(arrays[n] for n in TENSORS), **options)
    expected_grads = reference.lstm_backward(upstream["dhs"], upstream["dh_last"],
                                             upstream["dc_last"], expected[2])
    device, device_upstream = _to_device(arrays), _to_device(upstream)
    got = gpu.lstm_forward(*(device[n] for n in TENSORS), **options)
    got_grads = gpu.lstm_backward(device_upstream["dhs"], device_upstream["dh_last"],
                                  device_upstream["dc_last"], got[2])
    return expected, expected_grads, got, got_grads


@needs_gpu
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("activation, recurrent_activation",
                         list(itertools.product(SUPPORTED_ACTIVATIONS, repeat=2)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_parity_with_reference(dtype, activation, recurrent_activation, go_backwards):
    expected, expected_grads, got, got_grads = _run_both(dtype, activation,
                                                         recurrent_activation, go_backwards)
    rtol = TOLERANCES[dtype]
    _assert_close("hs", got[0], expected[0], rtol)
    _assert_close("cs", got[1], expected[1], rtol)
    for name, grad, expected_grad in zip(GRADIENTS, got_grads, expected_grads):
        _assert_close(name, grad, expected_grad, rtol)


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_parity_without_upstream_gradients(dtype):
    _, expected_grads, _, got_grads = _run_both(dtype, "tanh", "sigmoid", False,
                                                upstream_none=True)
    for name, grad, expected_grad in zip(GRADIENTS, got_grads, expected_grads):
        _assert_close(name, grad, expected_grad, TOLERANCES[dtype])


@needs_gpu
@pytest.mark.parametrize("batch, timesteps, input_dim, units",
                         [(1, 1, 1, 1), (1, 7, 3, 2), (5, 1, 2, 3), (64, 12, 33, 300)])
def test_parity_at_edge_and_multi_block_shapes(batch, timesteps, input_dim, units):
    # (64, 12, 33, 300): B * H = 19200 threads, many blocks and a partial last one.
    expected, expected_grads, got, got_grads = _run_both(
        np.float32, "tanh", "sigmoid", True, batch=batch, timesteps=timesteps,
        input_dim=input_dim, units=units)
    _assert_close("hs", got[0], expected[0], 1e-5)
    _assert_close("cs", got[1], expected[1], 1e-5)
    for name, grad, expected_grad in zip(GRADIENTS, got_grads, expected_grads):
        _assert_close(name, grad, expected_grad, 1e-5)


@needs_gpu
def test_outputs_are_contiguous_device_arrays():
    import cupy

    _, _, (hs, cs, _), grads = _run_both(np.float32, "tanh", "sigmoid", True)
    for array in (hs, cs, *grads):
        assert isinstance(array, cupy.ndarray)
        assert array.flags.c_contiguous
        assert array.dtype == np.float32
    assert hs.shape == cs.shape == (3, 5, 6)


@needs_gpu
def test_backward_is_pure():
    arrays, upstream = random_problem(3, 4, 2, 5, seed=3, dtype=np.float32)
    device, device_upstream = _to_device(arrays), _to_device(upstream)
    saved = {n: v.copy() for n, v in device_upstream.items()}
    _, _, cache = gpu.lstm_forward(*(device[n] for n in TENSORS))
    first = gpu.lstm_backward(device_upstream["dhs"], device_upstream["dh_last"],
                              device_upstream["dc_last"], cache)
    second = gpu.lstm_backward(device_upstream["dhs"], device_upstream["dh_last"],
                               device_upstream["dc_last"], cache)
    for name, a, b in zip(GRADIENTS, first, second):
        np.testing.assert_array_equal(backend.to_numpy(a), backend.to_numpy(b), err_msg=name)
    for name, value in saved.items():
        np.testing.assert_array_equal(backend.to_numpy(device_upstream[name]),
                                      backend.to_numpy(value), err_msg=f"{name} was modified")


@needs_gpu
@pytest.mark.parametrize("activation, recurrent_activation, go_backwards", [
    ("tanh", "sigmoid", False),
    ("tanh", "sigmoid", True),
    ("linear", "hard_sigmoid", False),
    ("relu", "sigmoid", True),
])
def test_gradients_by_finite_differences(activation, recurrent_activation, go_backwards):
    report = gradcheck(kernel_set="cupy", activation=activation,
                       recurrent_activation=recurrent_activation, go_backwards=go_backwards)
    assert report.ok, f"\n{report}"


@needs_gpu
def test_boundary_errors():
    import cupy

    arrays = _to_device(random_problem(2, 3, 4, 8, dtype=np.float32)[0])
    wrong = dict(arrays, recurrent_kernel=cupy.zeros((8, 16), np.float32))
    with pytest.raises(ValueError, match=re.escape("recurrent_kernel: expected shape (8, 32)")):
        gpu.lstm_forward(*(wrong[n] for n in TENSORS))
    wrong = dict(arrays, recurrent_kernel=arrays["recurrent_kernel"].astype(np.float64))
    with pytest.raises(ValueError, match="recurrent_kernel: expected dtype float32"):
        gpu.lstm_forward(*(wrong[n] for n in TENSORS))
    host = dict(arrays, x=cupy.asnumpy(arrays["x"]))
    with pytest.raises(TypeError, match="x: the 'cupy' kernel set expects cupy arrays"):
        gpu.lstm_forward(*(host[n] for n in TENSORS))
    half = {n: v.astype(np.float16) for n, v in arrays.items()}
    with pytest.raises(ValueError, match="supports float32 and float64"):
        gpu.lstm_forward(*(half[n] for n in TENSORS))


@needs_gpu
def test_float32_matmul_is_full_fp32():
    # TF32 keeps 10 mantissa bits: 1.0001 would round to 1.0 and the sum to 1024.0.
    import cupy

    a = cupy.full((256, 1024), 1.0001, dtype=np.float32)
    b = cupy.ones((1024, 256), dtype=np.float32)
    value = float((a @ b)[0, 0])
    assert abs(value - 1024 * float(np.float32(1.0001))) < 1e-2, (
        f"float32 matmul gave {value}: cuBLAS is using TF32; run with NVIDIA_TF32_OVERRIDE=0"
    )


@needs_gpu
def test_model_trains_on_the_gpu_like_on_the_reference():
    models = pytest.importorskip("minilstm.models", reason="minilstm.models is not written yet")
    layers = pytest.importorskip("minilstm.layers")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6, 3)).astype(np.float32)
    y = rng.standard_normal((32, 1)).astype(np.float32)

    def build():
        model = models.Sequential()
        model.add(layers.LSTM(8, input_shape=(6, 3)))
        model.add(layers.Dense(1))
        model.compile(loss="mse", optimizer="sgd")
        return model

    backend.set_backend("numpy")
    cpu_model = build()
    weights = [backend.to_numpy(w) for w in cpu_model.get_weights()]
    cpu_predictions = backend.to_numpy(cpu_model.predict(x, verbose=0))

    backend.set_backend("cupy")
    gpu_model = build()
    gpu_model.set_weights(weights)
    gpu_predictions = backend.to_numpy(gpu_model.predict(x, verbose=0))
    _assert_close("predictions", gpu_predictions, cpu_predictions, 1e-5)

    # the same two epochs (no shuffling) on both sets reach the same weights
    gpu_model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    backend.set_backend("numpy")
    cpu_model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for name, gpu_weight, cpu_weight in zip(("kernel", "recurrent_kernel", "bias", "dense kernel",
                                             "dense bias"), gpu_model.get_weights(),
                                            cpu_model.get_weights()):
        _assert_close(name, backend.to_numpy(gpu_weight), cpu_weight, 1e-5)


CELL_VARIANTS = [("lstm", {}), ("gru", {"reset_after": True}), ("gru", {"reset_after": False}),
                 ("simple_rnn", {})]
CELL_IDS = ["lstm", "gru", "gru-reset_before", "simple_rnn"]


def _cell_options(cell, variant, masks, activation="tanh"):
    options = {"activation": activation, **variant, **masks}
    if "recurrent_activation" in CELLS[cell].activations:
        options["recurrent_activation"] = "sigmoid"
    return options


def _device_call(module, cell, arrays, options):
    return forward(module, cell, _to_device(arrays), **_to_device(options))


@needs_gpu
@pytest.mark.parametrize("per_gate", [False, True], ids=["shared", "per_gate"])
@pytest.mark.parametrize("cell, variant", CELL_VARIANTS, ids=CELL_IDS)
def test_every_cell_at_a_multi_block_shape_with_every_mask(cell, variant, per_gate):
    # B * H = 19200 threads: many blocks and a partial last one; masks of every kind.
    B, T, I, H = 64, 12, 33, 300
    arrays, upstream = random_problem(B, T, I, H, seed=5, dtype=np.float32, cell=cell,
                                      reset_after=variant.get("reset_after", True))
    arrays["kernel"] = (arrays["kernel"] * 2 / np.sqrt(I)).astype(np.float32)
    arrays["recurrent_kernel"] = (arrays["recurrent_kernel"] * 2 / np.sqrt(H)).astype(np.float32)
    masks = random_masks(B, T, I, H, seed=5, dtype=np.float32, cell=cell, mask=True,
                         dropout=True, recurrent_dropout=True, per_gate=per_gate)
    options = _cell_options(cell, variant, masks)
    expected, expected_cache = forward(reference, cell, arrays, **options)
    got, got_cache = _device_call(gpu, cell, arrays, options)
    for name, g, e in zip(("hs", "cs"), got, expected):
        _assert_close(name, g, e, 1e-5)
    expected_grads = backward(reference, cell, upstream, expected_cache)
    got_grads = backward(gpu, cell, _to_device(upstream), got_cache)
    for name, g, e in zip(gradient_names(cell), got_grads, expected_grads):
        _assert_close(name, g, e, 1e-5)


@needs_gpu
@pytest.mark.parametrize("cell, variant", CELL_VARIANTS, ids=CELL_IDS)
def test_nan_propagates_like_the_reference(cell, variant):
    # relu(NaN) is NaN in NumPy (np.maximum); `x > 0 ? x : 0` would make it 0.
    arrays, _ = random_problem(3, 4, 2, 5, seed=6, dtype=np.float32, cell=cell,
                               reset_after=variant.get("reset_after", True))
    arrays["x"][1, 2, 0] = np.nan
    options = _cell_options(cell, variant, {}, activation="relu")
    expected, _ = forward(reference, cell, arrays, **options)
    got, _ = _device_call(gpu, cell, arrays, options)
    for name, g, e in zip(("hs", "cs"), got, expected):
        g = backend.to_numpy(g)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(e), err_msg=f"{name}: NaN pattern")
        assert np.isnan(e[1, 2:]).all(), "the test must put NaN in the reference's output"
        _assert_close(name, np.nan_to_num(g), np.nan_to_num(e), 1e-5)
