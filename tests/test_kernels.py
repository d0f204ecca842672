"""One suite over every kernel set: parity with the reference, finite differences,
hypothesis shapes, purity and the errors at the kernel edge.

The `kernel_set` fixture (conftest.py) runs each parity test for 'numpy', 'numba'
and 'cupy'; a set that cannot run here is reported as skipped, with the reason.
Inputs are made on the host and copied to the set's device by `_device`; outputs
come back through `backend.to_numpy`.
"""

import itertools
import os
import re
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from minilstm.kernels import reference
from minilstm.kernels.cache import SUPPORTED_ACTIVATIONS
from minilstm.kernels.gradcheck import compare, numerical_gradient, random_problem

from minilstm import backend, kernels

TENSORS = ("x", "h0", "c0", "kernel", "recurrent_kernel", "bias")
GRADIENTS = ("dx", "dh0", "dc0", "dkernel", "drecurrent_kernel", "dbias")
TOLERANCES = {np.float32: 1e-5, np.float64: 1e-10}
ACTIVATION_PAIRS = list(itertools.product(SUPPORTED_ACTIVATIONS, repeat=2))
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _device(kernel_set, array):
    """`array` where `kernel_set` wants it: a cupy copy for 'cupy'; None stays None."""
    if array is None or kernel_set != "cupy":
        return array
    import cupy

    return cupy.asarray(array)


def _assert_close(name, got, expected, rtol):
    """Max difference relative to the tensor's scale (llm.c's check_tensor)."""
    got, expected = backend.to_numpy(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{name}: shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"{name}: dtype {got.dtype} != {expected.dtype}"
    difference = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    max_abs = float(difference.max(initial=0.0))
    max_rel = float((difference / np.maximum(np.abs(expected), 1e-30)).max(initial=0.0))
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    assert max_abs <= rtol * scale, (
        f"{name}: max abs difference {max_abs:.3e}, max rel difference {max_rel:.3e} "
        f"(tolerance {rtol} x scale {scale:.3g})"
    )


def _assert_close_or_nearer_truth(name, got, expected, truth, rtol, noise=0.0):
    """_assert_close, or, failing that, within the same tolerance of the float64 truth
    (or twice the float32 rounding noise of the problem, when that is larger).

    Where gates amplify rounding (the property test draws such problems), the
    float32 reference and a kernel can each be a few 1e-6 from the exact answer
    on opposite sides, their difference above 1e-5. The noise is how far float32
    arithmetic lands from the truth on this problem whatever its order of
    operations: the reference's own error, and that of the reference run on the
    inputs moved by one ulp (`noise`, _float32_noise). A kernel passes if it is
    as near the truth as the tolerance, or as twice that noise, is.
    """
    try:
        _assert_close(name, got, expected, rtol)
        return
    except AssertionError as failure:
        got64 = backend.to_numpy(got).astype(np.float64)
        scale = max(1.0, float(np.abs(truth).max(initial=0.0)))
        reference_error = float(np.abs(np.asarray(expected, np.float64) - truth).max(initial=0.0))
        error = float(np.abs(got64 - truth).max(initial=0.0))
        floor = max(reference_error, noise)
        if error > max(rtol * scale, 2 * floor):
            raise AssertionError(f"{failure}; and {error:.3e} from the float64 truth, where "
                                 f"float32 rounding alone is {floor:.3e} from it (the "
                                 f"reference: {reference_error:.3e})") from None


def _float32_noise(arrays, options, truths, names, tries=4, seed=0):
    """{name: the largest distance from its float64 truth of the reference's result on
    the problem's inputs each moved one ulp up or down at random}, over `tries` runs:
    the error float32 rounding alone makes on this problem."""
    rng = np.random.default_rng(seed)
    noise = dict.fromkeys(names, 0.0)
    for _ in range(tries):
        moved = {n: np.nextafter(a, np.where(rng.random(a.shape) < 0.5, -np.inf, np.inf
                                             ).astype(a.dtype)) for n, a in arrays.items()}
        hs, cs, cache = reference.lstm_forward(*(moved[n] for n in TENSORS), **options)
        grads = reference.lstm_backward(moved["dhs"], moved["dh_last"], moved["dc_last"], cache)
        for name, value in zip(names, (hs, cs, *grads)):
            error = np.abs(value.astype(np.float64) - truths[name]).max(initial=0.0)
            noise[name] = max(noise[name], float(error))
    return noise


def _problem(
    dtype,
    seed,
    batch=None,
    timesteps=None,
    input_dim=None,
    units=None,
    activation="tanh",
    recurrent_activation="sigmoid",
):
    """Random sizes (unless given), inputs, weights and upstream gradients."""
    rng = np.random.default_rng(seed)
    batch = batch or int(rng.integers(1, 6))
    timesteps = timesteps or int(rng.integers(1, 8))
    input_dim = input_dim or int(rng.integers(1, 6))
    units = units or int(rng.integers(1, 8))
    arrays, upstream = random_problem(batch, timesteps, input_dim, units, seed, dtype=dtype)
    if activation in ("relu", "linear") and recurrent_activation in ("relu", "linear"):
        # Unbounded gates and cell output grow h super-exponentially over the steps;
        # keep the problem well inside float32's range.
        arrays = {name: (value * 0.5).astype(dtype) for name, value in arrays.items()}
    return arrays, upstream


def _run(kernel_set, arrays, upstream, **options):
    """Forward and backward of `kernel_set` and of the reference on the same inputs."""
    module = kernels.get(kernel_set)
    expected = reference.lstm_forward(*(arrays[n] for n in TENSORS), **options)
    got = module.lstm_forward(*(_device(kernel_set, arrays[n]) for n in TENSORS), **options)
    expected_grads = reference.lstm_backward(
        upstream["dhs"], upstream["dh_last"], upstream["dc_last"], expected[2]
    )
    got_grads = module.lstm_backward(
        *(_device(kernel_set, upstream[n]) for n in ("dhs", "dh_last", "dc_last")), got[2]
    )
    return expected, got, expected_grads, got_grads


DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
PAIRS = pytest.mark.parametrize("activation, recurrent_activation", ACTIVATION_PAIRS)
DIRECTIONS = pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])


# --- parity with the reference ---------------------------------------------------------


@DIRECTIONS
@PAIRS
@DTYPES
def test_forward_matches_reference(
    kernel_set, dtype, activation, recurrent_activation, go_backwards
):
    seed = ACTIVATION_PAIRS.index((activation, recurrent_activation)) + 100 * go_backwards
    arrays, upstream = _problem(
        dtype, seed, activation=activation, recurrent_activation=recurrent_activation
    )
    expected, got, _, _ = _run(
        kernel_set,
        arrays,
        upstream,
        activation=activation,
        recurrent_activation=recurrent_activation,
        go_backwards=go_backwards,
    )
    _assert_close("hs", got[0], expected[0], TOLERANCES[dtype])
    _assert_close("cs", got[1], expected[1], TOLERANCES[dtype])
    assert backend.to_numpy(got[0]).flags.c_contiguous


@DIRECTIONS
@PAIRS
@DTYPES
def test_backward_matches_reference(
    kernel_set, dtype, activation, recurrent_activation, go_backwards
):
    seed = ACTIVATION_PAIRS.index((activation, recurrent_activation)) + 100 * go_backwards
    arrays, upstream = _problem(
        dtype, seed, activation=activation, recurrent_activation=recurrent_activation
    )
    # Every upstream gradient may be None (zeros); rotate which ones are.
    missing = [(), ("dh_last", "dc_last"), ("dhs",), ("dc_last",)][seed % 4]
    upstream = {name: None if name in missing else value for name, value in upstream.items()}
    _, _, expected_grads, got_grads = _run(
        kernel_set,
        arrays,
        upstream,
        activation=activation,
        recurrent_activation=recurrent_activation,
        go_backwards=go_backwards,
    )
    for name, got, expected in zip(GRADIENTS, got_grads, expected_grads):
        _assert_close(name, got, expected, TOLERANCES[dtype])


# --- gradients by finite differences ---------------------------------------------------

FINITE_DIFFERENCE_CASES = [
    {"activation": a, "recurrent_activation": r, "go_backwards": a == r}
    for a, r in ACTIVATION_PAIRS
] + [
    {"timesteps": 1},
    {"units": 1},
    {"batch": 1},
    {"go_backwards": True, "timesteps": 4},
    {"batch": 1, "timesteps": 1, "input_dim": 1, "units": 1},
]


@pytest.mark.parametrize(
    "kernel_set",
    [
        "numpy",
        pytest.param(
            "numba",
            marks=pytest.mark.skipif(
                not kernels._module("numba").is_available(),
                reason=kernels._module("numba").unavailable_reason(),
            ),
        ),
    ],
)
@pytest.mark.parametrize(
    "case",
    FINITE_DIFFERENCE_CASES,
    ids=["-".join(f"{k}={v}" for k, v in case.items()) for case in FINITE_DIFFERENCE_CASES],
)
def test_gradients_by_finite_differences(kernel_set, case):
    # float64 central differences; parity above carries the result to cupy.
    report = kernels.gradcheck(kernel_set=kernel_set, **case)
    assert report.ok, f"\n{report}"


def test_stateful_carry_over_by_finite_differences(kernel_set):
    """Segment 2 starts from segment 1's final state; BPTT runs back through both."""
    module = kernels.get(kernel_set)
    rng = np.random.default_rng(7)
    B, T1, T2, I, H = 2, 3, 2, 2, 3
    arrays, _ = random_problem(B, T1, I, H, seed=7)
    x2 = rng.standard_normal((B, T2, I))
    dhs1, dhs2 = rng.standard_normal((B, T1, H)), rng.standard_normal((B, T2, H))
    dh_last, dc_last = rng.standard_normal((B, H)), rng.standard_normal((B, H))
    weights = ("kernel", "recurrent_kernel", "bias")

    def forward():
        dev = {name: _device(kernel_set, value) for name, value in arrays.items()}
        hs1, cs1, cache1 = module.lstm_forward(*(dev[n] for n in TENSORS))
        hs2, cs2, cache2 = module.lstm_forward(
            _device(kernel_set, x2), hs1[:, -1], cs1[:, -1], *(dev[n] for n in weights)
        )
        return hs1, cs1, cache1, hs2, cs2, cache2

    def loss():
        hs1, _, _, hs2, cs2, _ = forward()
        hs1, hs2, cs2 = (backend.to_numpy(v) for v in (hs1, hs2, cs2))
        return float(
            (hs1 * dhs1).sum()
            + (hs2 * dhs2).sum()
            + (hs2[:, -1] * dh_last).sum()
            + (cs2[:, -1] * dc_last).sum()
        )

    _, _, cache1, _, _, cache2 = forward()
    _, dh_carry, dc_carry, *grads2 = module.lstm_backward(
        _device(kernel_set, dhs2),
        _device(kernel_set, dh_last),
        _device(kernel_set, dc_last),
        cache2,
    )
    dx1, _, _, *grads1 = module.lstm_backward(_device(kernel_set, dhs1), dh_carry, dc_carry, cache1)
    analytic = {"x": dx1}
    for name, g1, g2 in zip(weights, grads1, grads2):
        analytic[name] = backend.to_numpy(g1) + backend.to_numpy(g2)
    for name, grad in analytic.items():
        abs_err, rel_err = compare(backend.to_numpy(grad), numerical_gradient(loss, arrays[name]))
        assert abs_err <= 1e-6 or rel_err <= 1e-6, (
            f"{name}: max abs difference {abs_err:.3e}, max rel difference {rel_err:.3e}"
        )


# --- shapes, dtypes and edge sizes (hypothesis) ----------------------------------------


@st.composite
def _lstm_problems(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    B, T = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    I, H = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    values = st.floats(-2, 2, width=32)  # exact in float32 and float64 alike
    shapes = {
        "x": (B, T, I),
        "h0": (B, H),
        "c0": (B, H),
        "kernel": (I, 4 * H),
        "recurrent_kernel": (H, 4 * H),
        "bias": (4 * H,),
        "dhs": (B, T, H),
        "dh_last": (B, H),
        "dc_last": (B, H),
    }
    arrays = {
        name: draw(hnp.arrays(dtype, shape, elements=values)) for name, shape in shapes.items()
    }
    options = {
        "activation": draw(st.sampled_from(SUPPORTED_ACTIVATIONS)),
        "recurrent_activation": draw(st.sampled_from(SUPPORTED_ACTIVATIONS)),
        "go_backwards": draw(st.booleans()),
    }
    return arrays, options


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(problem=_lstm_problems())
def test_shapes_property(kernel_set, problem):
    arrays, options = problem
    dtype = arrays["x"].dtype.type
    # relu and linear are unbounded: h can grow super-exponentially over the steps
    # and overflow in the reference too. Keep to problems whose exact (float64)
    # pre-activations stay moderate, where float32 parity at 1e-5 is meaningful.
    exact = reference.lstm_forward(*(arrays[n].astype(np.float64) for n in TENSORS), **options)
    assume(np.abs(exact[2].z).max(initial=0.0) <= 100)
    B, T, I = arrays["x"].shape
    H = arrays["h0"].shape[1]
    expected, got, expected_grads, got_grads = _run(kernel_set, arrays, arrays, **options)
    shapes = {
        "hs": (B, T, H),
        "cs": (B, T, H),
        "dx": (B, T, I),
        "dh0": (B, H),
        "dc0": (B, H),
        "dkernel": (I, 4 * H),
        "drecurrent_kernel": (H, 4 * H),
        "dbias": (4 * H,),
    }
    names = ("hs", "cs") + GRADIENTS
    exact_grads = reference.lstm_backward(
        *(arrays[n].astype(np.float64) for n in ("dhs", "dh_last", "dc_last")), exact[2])
    truths = dict(zip(names, (*exact[:2], *exact_grads)))
    noise = None  # the rounding noise, measured only for a problem that needs it
    for name, value, reference_value in zip(
        names, (*got[:2], *got_grads), (*expected[:2], *expected_grads)
    ):
        value = backend.to_numpy(value)
        assert value.shape == shapes[name], f"{name}: shape {value.shape}"
        assert value.dtype == dtype, f"{name}: dtype {value.dtype}, expected {np.dtype(dtype)}"
        assert not np.isnan(value).any(), f"{name} has NaN"
        try:
            _assert_close(name, value, reference_value, TOLERANCES[dtype])
        except AssertionError:
            if noise is None:
                noise = _float32_noise(arrays, options, truths, names)
            _assert_close_or_nearer_truth(name, value, reference_value, truths[name],
                                          TOLERANCES[dtype], noise[name])


# --- purity and the kernel edge ----------------------------------------------------


def test_backward_is_pure(kernel_set):
    module = kernels.get(kernel_set)
    arrays, upstream = random_problem(3, 4, 2, 5, seed=3, dtype=np.float32)
    dev = {n: _device(kernel_set, v) for n, v in {**arrays, **upstream}.items()}
    _, _, cache = module.lstm_forward(*(dev[n] for n in TENSORS))
    saved_cache = [backend.to_numpy(v).copy() if hasattr(v, "shape") else v for v in cache]
    saved_upstream = {n: backend.to_numpy(dev[n]).copy() for n in upstream}
    first = module.lstm_backward(dev["dhs"], dev["dh_last"], dev["dc_last"], cache)
    second = module.lstm_backward(dev["dhs"], dev["dh_last"], dev["dc_last"], cache)
    for name, a, b in zip(GRADIENTS, first, second):
        np.testing.assert_array_equal(backend.to_numpy(a), backend.to_numpy(b), err_msg=name)
    for field, before, after in zip(cache._fields, saved_cache, cache):
        if hasattr(after, "shape"):
            np.testing.assert_array_equal(
                backend.to_numpy(after), before, err_msg=f"cache.{field} was modified"
            )
        else:
            assert after == before, f"cache.{field} was modified"
    for name, before in saved_upstream.items():
        np.testing.assert_array_equal(
            backend.to_numpy(dev[name]), before, err_msg=f"{name} was modified"
        )


def test_boundary_errors(kernel_set):
    module = kernels.get(kernel_set)
    arrays = {
        n: _device(kernel_set, v)
        for n, v in random_problem(2, 3, 4, 8, dtype=np.float32)[0].items()
    }
    zeros = np.zeros((8, 16), np.float32)
    wrong = dict(arrays, recurrent_kernel=_device(kernel_set, zeros))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "recurrent_kernel: expected shape (8, 32) for batch=2, units=8, got (8, 16)"
        ),
    ):
        module.lstm_forward(*(wrong[n] for n in TENSORS))
    wrong = dict(arrays, recurrent_kernel=arrays["recurrent_kernel"].astype(np.float64))
    with pytest.raises(
        ValueError,
        match=re.escape("recurrent_kernel: expected dtype float32 (the dtype of x), got float64"),
    ):
        module.lstm_forward(*(wrong[n] for n in TENSORS))


@pytest.mark.skipif(
    not kernels._module("numba").is_available(),
    reason=kernels._module("numba").unavailable_reason(),
)
def test_numba_rejects_other_float_types():
    arrays = {n: v.astype(np.float16) for n, v in random_problem(2, 3, 4, 8)[0].items()}
    with pytest.raises(NotImplementedError, match="'numpy' backend"):
        kernels.get("numba").lstm_forward(*(arrays[n] for n in TENSORS))


# --- the numba set's batch split -------------------------------------------------------

NUMBA_ONLY = pytest.mark.skipif(
    not kernels._module("numba").is_available(),
    reason=kernels._module("numba").unavailable_reason(),
)


@NUMBA_ONLY
@pytest.mark.parametrize("chunks", [2, 3])
@DIRECTIONS
@pytest.mark.parametrize(
    "activation, recurrent_activation", [("tanh", "sigmoid"), ("relu", "hard_sigmoid")]
)
@DTYPES
def test_numba_batch_split_matches_reference(
    monkeypatch, dtype, activation, recurrent_activation, go_backwards, chunks
):
    """The parallel path (rows in chunks, one per thread, partial weight gradients
    summed after) against the reference, with uneven chunks and missing upstream."""
    cpu = kernels.get("numba").lstm  # the private names live in the cell module
    monkeypatch.setattr(cpu, "_num_chunks", lambda *shape: chunks)
    calls = []
    run_chunks = cpu.run_chunks

    def recording_run_chunks(rows, driver, B, n, *args):
        calls.append((rows.__name__, driver.__name__, n))
        return run_chunks(rows, driver, B, n, *args)

    monkeypatch.setattr(cpu, "run_chunks", recording_run_chunks)
    options = {
        "activation": activation,
        "recurrent_activation": recurrent_activation,
        "go_backwards": go_backwards,
    }
    for missing in [(), ("dhs", "dc_last")]:
        arrays, upstream = _problem(dtype, 5, batch=7, timesteps=4, input_dim=3, units=5)
        upstream = {n: None if n in missing else v for n, v in upstream.items()}
        expected, got, expected_grads, got_grads = _run("numba", arrays, upstream, **options)
        for name, value, reference_value in zip(
            ("hs", "cs") + GRADIENTS, (*got[:2], *got_grads), (*expected[:2], *expected_grads)
        ):
            _assert_close(name, value, reference_value, TOLERANCES[dtype])
    assert calls == [("_forward_rows", "_forward_chunks", chunks),
                     ("_backward_rows", "_backward_chunks", chunks)] * 2
    # Each chunk's work is fixed by its rows, so a repeat is bit-identical.
    again = _run("numba", arrays, upstream, **options)
    for a, b in zip((*got[:2], *got_grads), (*again[1][:2], *again[3])):
        np.testing.assert_array_equal(a, b)


# A chunk loop and its driver, as the cell files write them (_parallel.py): each chunk
# writes its partial, the thread that ran it and, for the failure test, may raise.
if kernels._module("numba").is_available():
    import numba

    @numba.njit(nogil=True)
    def _toy_rows(lo, hi, scale, fail_from, slow, partial, thread):
        if lo >= fail_from:
            raise ValueError("rows failed")
        partial[0] = scale * ((lo + hi - 1) * (hi - lo) // 2)
        thread[0] = numba.get_thread_id()
        if lo == 0:  # the first chunk runs `slow` more iterations of a loop
            x = 0.0
            for i in range(slow):
                x += np.sqrt(i + partial[0])
            partial[0] += 0.0 * x

    from minilstm.kernels.cpu._parallel import next_chunk

    @numba.njit(nogil=True, parallel=True)
    def _toy_chunks(plan, args, partial, thread):
        for _ in numba.prange(plan.threads):
            c = next_chunk(plan)
            while c >= 0:
                _toy_rows(plan.bounds[c], plan.bounds[c + 1], *args, partial[c], thread[c])
                c = next_chunk(plan, c)


@NUMBA_ONLY
def test_numba_threads_take_every_chunk_once():
    """run_chunks with more chunks than threads: each chunk's rows run once, with its own
    partial, on Numba's threads (more than one when there are cores for them); an error
    in a chunk reaches the caller as itself."""
    from minilstm.kernels.cpu import _parallel

    partials, threads = np.zeros((7, 1)), np.full((7, 1), -1)
    # The first chunk takes ~0.3 s, the others microseconds: with more than one
    # thread, the one that runs it runs no other (the threads take chunks in turn).
    _parallel.run_chunks(_toy_rows, _toy_chunks, 30, 7, (2.0, 99, 10**8), (partials, threads))
    bounds = [30 * c // 7 for c in range(8)]
    assert partials.ravel().tolist() == [2.0 * sum(range(lo, hi))
                                         for lo, hi in zip(bounds[:-1], bounds[1:])]
    assert (threads >= 0).all()
    if numba.get_num_threads() > 1:
        assert threads[0, 0] not in threads[1:].ravel().tolist()
    with pytest.raises(ValueError, match="rows failed"):
        _parallel.run_chunks(_toy_rows, _toy_chunks, 30, 7, (2.0, 10, 0), (partials, threads))
    # One chunk runs its loop directly, on this thread.
    _parallel.run_chunks(_toy_rows, _toy_chunks, 30, 1, (3.0, 99, 0), (partials, threads))
    assert partials[0, 0] == 3.0 * sum(range(30))


@NUMBA_ONLY
def test_split_calls_hold_blas_at_one_thread_and_put_it_back():
    from threadpoolctl import threadpool_info, threadpool_limits

    from minilstm.kernels.cpu import _parallel

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    _parallel._blas_libraries()  # loads scipy's BLAS, which the loops call
    with threadpool_limits(3, user_api="blas"):  # pools of 3 the program chose
        with _parallel._one_blas_thread():
            inside = blas_threads()
        assert blas_threads() == [3] * len(inside)
        with pytest.raises(KeyError):  # put back on the way out of an error too
            with _parallel._one_blas_thread():
                raise KeyError
        assert blas_threads() == [3] * len(inside)
    assert inside and inside == [1] * len(inside)


@NUMBA_ONLY
def test_numba_chunk_count_and_blas_threads_restored():
    import numba
    from threadpoolctl import threadpool_info

    cpu = kernels.get("numba").lstm  # the private names live in the cell module
    assert cpu._num_chunks(9, 1, 1, 10) == 1  # W0: no parallel launch
    assert cpu._num_chunks(1, 5, 1, 32) == 1  # W4
    threads = numba.get_num_threads()
    # a multiple of the threads, up to 2 chunks each, of at least H/8 rows (W1: 16)
    assert cpu._num_chunks(64, 50, 32, 128) == {1: 1, 2: 4, 3: 3}.get(threads, 4)  # W1
    assert cpu._num_chunks(16, 50, 32, 512) == 1  # chunks too thin for the weights' size
    # ... whose per-step products then go to BLAS's threads, not to the packed tiles
    many = numba.get_num_threads() > 1
    assert cpu.blas_splits_steps(16, 50, 32, 512, 4, 1) == many
    assert not cpu.blas_splits_steps(64, 50, 32, 128, 4, 2)  # two chunks: a thread each
    assert not cpu.blas_splits_steps(1, 5, 1, 32, 4, 1)  # W4: too small to split
    # A problem big enough to split on its own; BLAS pools come back as they were.
    assert cpu._num_chunks(64, 8, 8, 32) == {1: 1, 2: 4, 3: 6, 4: 8}.get(threads,
                                                                      min(threads, 8))
    before = [(lib["filepath"], lib["num_threads"]) for lib in threadpool_info()]
    arrays, upstream = _problem(np.float32, 11, batch=64, timesteps=8, input_dim=8, units=32)
    _, _, expected_grads, got_grads = _run("numba", arrays, upstream)
    for name, got, expected in zip(GRADIENTS, got_grads, expected_grads):
        _assert_close(name, got, expected, TOLERANCES[np.float32])
    after = [(lib["filepath"], lib["num_threads"]) for lib in threadpool_info()]
    assert [lib for lib in after if lib in before] == before


def test_import_without_numba():
    script = (
        "import sys\n"
        "sys.modules['numba'] = None  # `import numba` now fails\n"
        "import minilstm\n"
        "from minilstm import kernels\n"
        "assert 'numba' not in kernels.available(), kernels.available()\n"
        "try:\n"
        "    kernels.get('numba')\n"
        "except RuntimeError as error:\n"
        "    assert 'numba' in str(error), error\n"
        "    print(error)\n"
        "else:\n"
        "    raise SystemExit(\"get('numba') did not raise\")\n"
        "assert minilstm.backend.get_backend() != 'numba'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MINILSTM_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO_ROOT, env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "numba is not installed (pip install numba)" in result.stdout


@pytest.mark.skipif(not kernels._module("numba").is_available(),
                    reason=kernels._module("numba").unavailable_reason())
@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-7), (np.float64, 1e-15)])
def test_numba_activations_against_float64_truth(dtype, tolerance):
    """The compiled sigmoid and tanh stay within `tolerance` of the true values
    everywhere (float32: about 1.5 ulp at 1), keep NaN, and saturate at +-inf."""
    from minilstm.kernels.cpu import _math

    x = np.concatenate([np.linspace(-30, 30, 600001), [-np.inf, np.inf, 0.0, -0.0, 1e-30]])
    x = x.astype(dtype)
    truth = {_math.SIGMOID: 1 / (1 + np.exp(-x.astype(np.float64))),
             _math.TANH: np.tanh(x.astype(np.float64))}
    for code, expected in truth.items():
        got = x.copy()
        _math.activate(code, got)
        error = np.abs(got.astype(np.float64) - expected)
        assert error.max() <= tolerance * max(1.0, float(np.abs(expected).max())), (
            code, float(error.max()), float(x[error.argmax()]))
        nan = np.array([np.nan], dtype)
        _math.activate(code, nan)
        assert np.isnan(nan[0])


@pytest.mark.skipif(not kernels._module("numba").is_available(),
                    reason=kernels._module("numba").unavailable_reason())
def test_numba_wide_vectors_marks_the_calling_function():
    """wide_vectors() puts LLVM's prefer-vector-width=512 on the function that calls it
    (not on a helper of its own, where it would change nothing), and computes nothing."""
    import numba
    from minilstm.kernels.cpu import _math

    @numba.njit
    def doubled(a):
        _math.wide_vectors()
        for k in range(a.size):
            a[k] = 2 * a[k]

    a = np.arange(4.0)
    doubled(a)
    np.testing.assert_array_equal(a, [0.0, 2.0, 4.0, 6.0])
    ir = doubled.inspect_llvm(doubled.signatures[0])
    definition = next(line for line in ir.splitlines()
                      if line.startswith("define") and "doubled" in line)
    group = re.search(r"#(\d+)", definition.split(")")[-1]).group(1)
    attributes = next(line for line in ir.splitlines() if line.startswith(f"attributes #{group} "))
    assert '"prefer-vector-width"="512"' in attributes


@pytest.mark.skipif(not kernels._module("numba").is_available(),
                    reason=kernels._module("numba").unavailable_reason())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_muladd_rounds_once_or_as_multiply_then_add(dtype):
    """muladd(a, b, c) is a * b + c rounded once (a fused multiply-add, where the CPU has
    one) or the plain multiply then add: nothing looser, in the operands' dtype, in a
    vectorised loop as well as on its own."""
    import numba
    from minilstm.kernels.cpu import _math

    @numba.njit
    def rows(a, b, c, out):
        for k in range(out.size):
            out[k] = _math.muladd(a[k], b[k], c[k])

    rng = np.random.default_rng(3)
    a, b, c = (rng.standard_normal(1027).astype(dtype) for _ in range(3))
    got = np.empty_like(a)
    rows(a, b, c, got)
    assert got.dtype == dtype
    # a * b + c exactly (fractions), then rounded once to the dtype
    fused = np.array([float(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z)))
                      for x, y, z in zip(a, b, c)]).astype(dtype)
    assert np.array_equal(got, fused) or np.array_equal(got, a * b + c)
    assert (fused != a * b + c).any()  # the data tells the two apart


@pytest.mark.skipif(not kernels._module("numba").is_available(),
                    reason=kernels._module("numba").unavailable_reason())
def test_numba_register_activations_against_float64_truth():
    """_vmath's sigmoid and tanh of 16 float32 lanes at once (the fused cells'): the
    sigmoid within 1e-7 of the true values, as the scalar loops; the rational tanh
    within 3.5e-7 (5.5 float32 ulps), never beyond +-1, odd to the bit; NaN kept,
    +-inf saturated."""
    import numba
    from minilstm.kernels.cpu._vectors import vload, vstore
    from minilstm.kernels.cpu._vmath import vsigmoid, vtanh

    @numba.njit
    def rows(a, tanh):
        for j in range(0, a.size, 16):
            vstore(a, j, vtanh(vload(a, j)) if tanh else vsigmoid(vload(a, j)))

    x = np.concatenate([np.linspace(-30, 30, 600000), np.linspace(-1, 1, 200000),
                        [-np.inf, np.inf, 0.0, -0.0, 1e-30, -1e-30, 88.0, -104.0]])
    x = np.concatenate([x, np.zeros(-x.size % 16)]).astype(np.float32)
    for tanh, truth, bar in ((False, 1 / (1 + np.exp(-x.astype(np.float64))), 1e-7),
                             (True, np.tanh(x.astype(np.float64)), 3.5e-7)):
        got = x.copy()
        rows(got, tanh)
        error = np.abs(got.astype(np.float64) - truth)
        assert error.max() <= bar, (tanh, float(error.max()), float(x[error.argmax()]))
        nan = np.full(16, np.nan, np.float32)
        rows(nan, tanh)
        assert np.isnan(nan).all()
    got, negated = x.copy(), -x
    rows(got, True)
    rows(negated, True)
    assert np.abs(got).max() <= 1 and np.array_equal(negated, -got)
    assert got[x == 1e-30][0] == np.float32(1e-30)  # tanh(x) = x to the last bit near 0


def _fit_tanh_rational(clamp, p_degree, q_degree, iterations=200):
    """tanh(x)/x = P(s)/Q(s), s = x²/clamp², constant terms 1: least squares on
    P(s) - f(s) Q(s) = 0 at 18,000 points of (0, clamp], each row divided by f times
    the last iteration's Q (so that it weighs the relative error of P/Q), reweighted
    by that error toward the minimax (Lawson). Returns (P, Q) in powers of x², and
    the fit's largest relative error."""
    x = np.concatenate([np.linspace(1e-3, 1, 6000), np.linspace(1, clamp, 12000)])
    s, f = x * x / clamp**2, np.tanh(x) / x
    weights, q_last, best = np.ones_like(x), np.ones_like(x), None
    for iteration in range(iterations):
        a = np.hstack([s[:, None] ** np.arange(1, p_degree + 1),
                       -(f[:, None] * s[:, None] ** np.arange(1, q_degree + 1))])
        scale = np.sqrt(weights) / (q_last * f)
        solution, *_ = np.linalg.lstsq(a * scale[:, None], (f - 1) * scale, rcond=None)
        p = np.concatenate([[1.0], solution[:p_degree]])
        q = np.concatenate([[1.0], solution[p_degree:]])
        q_last = np.polyval(q[::-1], s)
        error = np.abs(np.polyval(p[::-1], s) / q_last - f) / f
        if best is None or error.max() < best[2]:
            best = (p, q, error.max())
        if iteration > 20:
            weights = weights * (error + 1e-30)
            weights /= weights.mean()
    p, q, error = best
    return (p / clamp ** (2 * np.arange(p.size)), q / clamp ** (2 * np.arange(q.size)), error)


def test_numba_register_tanh_coefficients_are_this_projects_fit():
    """vtanh's rational function comes out of the fit its docstring describes."""
    from minilstm.kernels.cpu import _vmath

    p, q, error = _fit_tanh_rational(_vmath._TANH_CLAMP, len(_vmath._TANH_P) - 1,
                                     len(_vmath._TANH_Q) - 1)
    assert error < 2e-9
    # to float32's last few bits: another BLAS's least squares may round them apart
    np.testing.assert_allclose(p, _vmath._TANH_P, rtol=1e-6)
    np.testing.assert_allclose(q, _vmath._TANH_Q, rtol=1e-6)