"""One parity suite over cell x kernel set: LSTM, GRU and SimpleRNN, with every mask.

Each fast kernel set must give the reference's state sequences and gradients
(float32 within 1e-5, float64 within 1e-10 of the tensor's scale) with and
without a sequence mask, a shared or per-gate dropout mask and a recurrent
dropout mask, forwards and backwards. The reference itself is held to float64
central differences (`gradcheck`), which parity then carries to the other sets.
"""

import itertools

import numpy as np
import pytest

from minilstm import backend, kernels
from minilstm.kernels import reference
from minilstm.kernels.activations import SUPPORTED
from minilstm.kernels.gradcheck import (
    CELLS,
    backward,
    forward,
    gradient_names,
    random_masks,
    random_problem,
)

TOLERANCES = {np.float32: 1e-5, np.float64: 1e-10}
# (cell, extra options): the GRU in both reset variants
CELL_VARIANTS = [("lstm", {}), ("gru", {"reset_after": True}), ("gru", {"reset_after": False}),
                 ("simple_rnn", {})]
CELL_IDS = ["lstm", "gru", "gru-reset_before", "simple_rnn"]
MASK_CASES = [
    {},
    {"mask": True},
    {"dropout": True, "per_gate": False},
    {"dropout": True, "recurrent_dropout": True},
    {"mask": True, "dropout": True, "recurrent_dropout": True, "per_gate": False},
    {"mask": True, "recurrent_dropout": True},
]
MASK_IDS = ["-".join(sorted(k for k, v in case.items() if v)) or "none" for case in MASK_CASES]


def _device(kernel_set, array):
    if array is None or kernel_set != "cupy" or not isinstance(array, np.ndarray):
        return array
    import cupy

    return cupy.asarray(array)


def _assert_close(name, got, expected, rtol):
    got, expected = backend.to_numpy(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{name}: shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"{name}: dtype {got.dtype} != {expected.dtype}"
    difference = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    assert float(difference.max(initial=0.0)) <= rtol * scale, (
        f"{name}: max abs difference {difference.max():.3e} (tolerance {rtol} x scale {scale:.3g})"
    )


def _options(cell, variant, masks, activation="tanh", recurrent_activation="sigmoid",
             go_backwards=False):
    options = {"activation": activation, "go_backwards": go_backwards, **variant, **masks}
    if "recurrent_activation" in CELLS[cell].activations:
        options["recurrent_activation"] = recurrent_activation
    return options


def _compare_with_reference(kernel_set, cell, variant, dtype, seed, mask_case, sizes=None,
                            missing=(), **activation_options):
    rng = np.random.default_rng(seed)
    sizes = sizes or tuple(int(v) for v in rng.integers(1, 6, size=4))
    B, T, I, H = sizes
    arrays, upstream = random_problem(B, T, I, H, seed, dtype=dtype, cell=cell,
                                      reset_after=variant.get("reset_after", True))
    if "relu" in activation_options.values() or "linear" in activation_options.values():
        arrays = {k: (v * 0.5).astype(dtype) for k, v in arrays.items()}  # keep h bounded
    masks = random_masks(B, T, I, H, seed, dtype=dtype, cell=cell, **mask_case)
    options = _options(cell, variant, masks, **activation_options)
    upstream = {k: None if k in missing else v for k, v in upstream.items()}

    module = kernels.get(kernel_set)
    expected, expected_cache = forward(reference, cell, arrays, **options)
    got, got_cache = forward(module, cell, {k: _device(kernel_set, v) for k, v in arrays.items()},
                             **{k: _device(kernel_set, v) for k, v in options.items()})
    for name, g, e in zip(("hs", "cs"), got, expected):
        _assert_close(name, g, e, TOLERANCES[dtype])
    expected_grads = backward(reference, cell, upstream, expected_cache)
    got_grads = backward(module, cell, {k: _device(kernel_set, v) for k, v in upstream.items()},
                         got_cache)
    for name, g, e in zip(gradient_names(cell), got_grads, expected_grads):
        _assert_close(name, g, e, TOLERANCES[dtype])


@pytest.mark.parametrize("mask_case", MASK_CASES, ids=MASK_IDS)
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("cell, variant", CELL_VARIANTS, ids=CELL_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_cell_matches_reference(kernel_set, dtype, cell, variant, go_backwards, mask_case):
    seed = 17 * CELL_IDS.index(CELL_IDS[CELL_VARIANTS.index((cell, variant))]) + len(mask_case)
    _compare_with_reference(kernel_set, cell, variant, dtype, seed, mask_case,
                            go_backwards=go_backwards)


# 64 units: every recurrent product of every cell has a multiple of 64 float32 (32
# float64) columns, so the Numba set packs its recurrent weights (kernels/cpu/_packed.py)
# on AVX-512 (and AVX2) CPUs; 7 rows leave 3 after a tile of 4, and (20, 4, 3, 64) splits into
# two chunks of 10. The recurrent dropout cases take the BLAS path beside it.
@pytest.mark.parametrize("sizes", [(7, 5, 3, 64), (20, 4, 3, 64)], ids=["rows7", "chunks2"])
@pytest.mark.parametrize("mask_case", [{}, {"mask": True}, {"recurrent_dropout": True}],
                         ids=["none", "mask", "recurrent_dropout"])
@pytest.mark.parametrize("cell, variant", CELL_VARIANTS, ids=CELL_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_cell_matches_reference_with_packed_weights(kernel_set, dtype, cell, variant,
                                                    mask_case, sizes):
    seed = 5 * CELL_IDS.index(CELL_IDS[CELL_VARIANTS.index((cell, variant))]) + len(mask_case)
    _compare_with_reference(kernel_set, cell, variant, dtype, seed, mask_case, sizes=sizes,
                            go_backwards=bool(seed % 2))


# The panels an AVX2 CPU packs (one 64-byte vector wide, 6-row tiles, h_prev's rows
# gathered first), run here on whatever vector CPU this is: 7 and 10 rows leave 1 and
# 4 after a tile of 6.
@pytest.mark.parametrize("sizes", [(7, 5, 3, 64), (20, 4, 3, 64)], ids=["rows7", "chunks2"])
@pytest.mark.parametrize("mask_case", [{}, {"mask": True}], ids=["none", "mask"])
@pytest.mark.parametrize("cell, variant", CELL_VARIANTS, ids=CELL_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_cell_matches_reference_with_avx2_panels(kernel_set, dtype, cell, variant, mask_case,
                                                 sizes, monkeypatch):
    if kernel_set != "numba":
        pytest.skip("only the numba set packs its weights")
    from minilstm.kernels.cpu import _packed

    if not _packed.has_vector_registers():
        pytest.skip("the packed product needs a CPU with AVX-512 or AVX2; BLAS runs here")
    monkeypatch.setattr(_packed, "_REGISTERS", 1)
    assert _packed.pack(np.ones((4, 64), dtype)).shape[2] * np.dtype(dtype).itemsize == 64
    seed = 3 * CELL_IDS.index(CELL_IDS[CELL_VARIANTS.index((cell, variant))]) + len(mask_case)
    _compare_with_reference(kernel_set, cell, variant, dtype, seed, mask_case, sizes=sizes,
                            go_backwards=bool(seed % 2))


ACTIVATION_PAIRS = list(itertools.product(SUPPORTED, repeat=2))


@pytest.mark.parametrize("activation, recurrent_activation", ACTIVATION_PAIRS)
@pytest.mark.parametrize("cell, variant", CELL_VARIANTS[1:], ids=CELL_IDS[1:])
def test_every_activation_matches_reference(kernel_set, cell, variant, activation,
                                            recurrent_activation):
    if cell == "simple_rnn" and recurrent_activation != "tanh":
        pytest.skip("SimpleRNN has no recurrent_activation")
    seed = ACTIVATION_PAIRS.index((activation, recurrent_activation))
    _compare_with_reference(kernel_set, cell, variant, np.float64, seed, {"mask": True},
                            activation=activation, recurrent_activation=recurrent_activation)


@pytest.mark.parametrize("sizes", [(1, 1, 1, 1), (3, 1, 2, 4), (1, 6, 1, 2), (7, 4, 3, 1)])
@pytest.mark.parametrize("cell, variant", CELL_VARIANTS, ids=CELL_IDS)
def test_edge_sizes_and_missing_upstream(kernel_set, cell, variant, sizes):
    last = CELLS[cell].last
    for missing in [(), ("dhs",), last]:
        _compare_with_reference(kernel_set, cell, variant, np.float32, sum(sizes), {"mask": True},
                                sizes=sizes, missing=missing)


def test_fully_masked_row_keeps_its_initial_state(kernel_set):
    """A row whose every step is masked outputs h0 at every step, as Keras does."""
    module = kernels.get(kernel_set)
    for cell, variant in CELL_VARIANTS:
        arrays, _ = random_problem(2, 3, 2, 3, seed=1, cell=cell,
                                   reset_after=variant.get("reset_after", True))
        mask = np.array([[False, False, False], [True, True, True]])
        options = _options(cell, variant, {"mask": mask})
        sequences, _ = forward(module, cell, {k: _device(kernel_set, v) for k, v in arrays.items()},
                               **{k: _device(kernel_set, v) for k, v in options.items()})
        hs = backend.to_numpy(sequences[0])
        np.testing.assert_array_equal(hs[0], np.broadcast_to(arrays["h0"][0], (3, 3)))


@pytest.mark.parametrize("mask_case", [{}, {"mask": True, "dropout": True,
                                              "recurrent_dropout": True}], ids=["none", "masks"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("T", [1, 2, 5])
@pytest.mark.parametrize("cell, variant", CELL_VARIANTS, ids=CELL_IDS)
def test_forward_only_pass_of_the_last_step(kernel_set, cell, variant, T, go_backwards,
                                            mask_case):
    """sequences=False (a forward-only pass whose caller reads only the final h, as
    predict with return_sequences=False) gives [B, 1, H]: exactly the last step of the
    full pass (the numba loops keep h in a ring of two steps instead of [B, T, H]); the
    LSTM's last c is unchanged. With cache=True it is refused: backward needs every h."""
    B, I, H = 3, 2, 16
    module = kernels.get(kernel_set)
    arrays, _ = random_problem(B, T, I, H, seed=T, dtype=np.float32, cell=cell,
                               reset_after=variant.get("reset_after", True))
    masks = random_masks(B, T, I, H, seed=T, dtype=np.float32, cell=cell, **mask_case)
    options = _options(cell, variant, masks, go_backwards=go_backwards)
    arrays = {k: _device(kernel_set, v) for k, v in arrays.items()}
    options = {k: _device(kernel_set, v) for k, v in options.items()}
    full, _ = forward(module, cell, arrays, cache=False, **options)
    last, cache = forward(module, cell, arrays, cache=False, sequences=False, **options)
    assert cache is None
    hs = backend.to_numpy(last[0])
    assert hs.shape == (B, 1, H) and hs.flags.c_contiguous
    np.testing.assert_array_equal(hs, backend.to_numpy(full[0])[:, -1:])
    for got, expected in zip(last[1:], full[1:]):  # the LSTM's c: the last step either way
        np.testing.assert_array_equal(backend.to_numpy(got), backend.to_numpy(expected))
    with pytest.raises(ValueError, match="sequences=False keeps only the last step"):
        forward(module, cell, arrays, cache=True, sequences=False, **options)


@pytest.mark.parametrize("cell, variant", CELL_VARIANTS, ids=CELL_IDS)
@pytest.mark.parametrize("case", [{}, {"mask": True, "recurrent_dropout": True, "dropout": True},
                                  {"go_backwards": True, "mask": True}], ids=["plain", "masks",
                                                                              "backwards-mask"])
def test_reference_gradients_by_finite_differences(cell, variant, case):
    report = kernels.gradcheck(cell=cell, timesteps=4, batch=3, seed=11, **variant, **case)
    assert report.ok, f"\n{report}"


def test_fast_sets_gradients_by_finite_differences(kernel_set):
    if kernel_set == "numpy":
        pytest.skip("the reference is checked above")
    for cell, variant in CELL_VARIANTS:
        report = kernels.gradcheck(kernel_set, cell=cell, mask=True, recurrent_dropout=True,
                                   dropout=True, seed=4, **variant)
        assert report.ok, f"{cell} {variant}\n{report}"


def test_backward_is_pure(kernel_set):
    """Backward twice on one cache gives identical gradients and leaves the cache alone."""
    module = kernels.get(kernel_set)
    for cell, variant in CELL_VARIANTS:
        arrays, upstream = random_problem(3, 4, 2, 3, seed=2, cell=cell,
                                          reset_after=variant.get("reset_after", True))
        masks = random_masks(3, 4, 2, 3, seed=2, cell=cell, mask=True, recurrent_dropout=True)
        options = {k: _device(kernel_set, v) for k, v in _options(cell, variant, masks).items()}
        _, cache = forward(module, cell, {k: _device(kernel_set, v) for k, v in arrays.items()},
                           **options)
        device_upstream = {k: _device(kernel_set, v) for k, v in upstream.items()}
        first = [backend.to_numpy(g).copy() for g in backward(module, cell, device_upstream, cache)]
        second = [backend.to_numpy(g) for g in backward(module, cell, device_upstream, cache)]
        for name, a, b in zip(gradient_names(cell), first, second):
            np.testing.assert_array_equal(a, b, err_msg=f"{cell}: {name}")


@pytest.mark.parametrize("cell, variant", CELL_VARIANTS, ids=CELL_IDS)
def test_boundary_errors_name_the_argument(kernel_set, cell, variant):
    module = kernels.get(kernel_set)
    arrays, _ = random_problem(2, 3, 2, 3, seed=0, cell=cell,
                               reset_after=variant.get("reset_after", True))
    G = CELLS[cell].gates
    cases = {
        "recurrent_kernel": dict(arrays, recurrent_kernel=np.zeros((3, G * 2))),
        "mask": dict(arrays),
        "recurrent_dropout_mask": dict(arrays),
    }
    extra = {"mask": {"mask": np.ones((2, 4), bool)},
             "recurrent_dropout_mask": {"recurrent_dropout_mask": np.ones((2, 2, 3))}}
    for name, bad in cases.items():
        options = _options(cell, variant, extra.get(name, {}))
        with pytest.raises(ValueError, match=name):
            forward(module, cell, {k: _device(kernel_set, v) for k, v in bad.items()},
                    **{k: _device(kernel_set, v) for k, v in options.items()})


# The numba inference loops (cache=False) project the inputs a block of steps at a
# time: T=7 runs as one block by default, and as blocks of 3, 3 and 1 steps here; with
# 64 units every cell's input kernel is packed (_sequence.input_panels, AVX-512).
@pytest.mark.parametrize("H", [4, 64], ids=["blas", "packed"])
@pytest.mark.parametrize("block_steps", [None, 3], ids=["one-block", "blocks-of-3"])
@pytest.mark.parametrize("mask_case", MASK_CASES, ids=MASK_IDS)
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("cell, variant", CELL_VARIANTS, ids=CELL_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_forward_without_cache_matches_reference(kernel_set, dtype, cell, variant, go_backwards,
                                                 mask_case, block_steps, H, monkeypatch):
    """cache=False (predict, evaluate): the same states, the last cell state only, no cache."""
    if block_steps is not None or H != 4:
        if kernel_set != "numba":
            pytest.skip("only the numba set projects the inputs in blocks of steps")
    if block_steps is not None:
        from minilstm.kernels.cpu import _sequence

        monkeypatch.setattr(_sequence, "_BLOCK_STEPS", block_steps)
    # 64 units over 7 steps carry a float32 SimpleRNN's rounding past 1e-5: 4 steps
    # (blocks of 3 and 1) as in test_cell_matches_reference_with_packed_weights
    B, T, I = 5, (7 if H == 4 else 4), 3
    seed = 3 + CELL_IDS.index(CELL_IDS[CELL_VARIANTS.index((cell, variant))]) + len(mask_case)
    arrays, _ = random_problem(B, T, I, H, seed, dtype=dtype, cell=cell,
                               reset_after=variant.get("reset_after", True))
    options = _options(cell, variant, random_masks(B, T, I, H, seed, dtype=dtype, cell=cell,
                                                   **mask_case), go_backwards=go_backwards)
    expected, _ = forward(reference, cell, arrays, **options)
    got, cache = forward(kernels.get(kernel_set), cell,
                         {k: _device(kernel_set, v) for k, v in arrays.items()}, cache=False,
                         **{k: _device(kernel_set, v) for k, v in options.items()})
    assert cache is None
    _assert_close("hs", got[0], expected[0], TOLERANCES[dtype])
    if cell == "lstm":  # only the final cell state comes back, as [B, 1, H]
        _assert_close("cs", got[1], expected[1][:, -1:], TOLERANCES[dtype])
    assert len(got) == len(expected)


# The numba backward loops hold the gradients of a block of steps and add each block's
# weight gradients and dx before the next: T=7 runs as one block by default, and here
# as blocks of 3 (steps 4-6 first, then 1-3, then step 0 alone), with every mask and
# in both directions, packed (64 units, two chunks) or not. The packed size runs in
# float64 only: over 7 steps of 64 units, a SimpleRNN's float32 gradients grow past
# 100 and carry rounding of that scale.
@pytest.mark.parametrize("dtype, sizes", [(np.float32, (5, 7, 3, 4)), (np.float64, (5, 7, 3, 4)),
                                          (np.float64, (20, 7, 3, 64))],
                         ids=["float32-blas", "float64-blas", "float64-packed"])
@pytest.mark.parametrize("mask_case", MASK_CASES, ids=MASK_IDS)
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("cell, variant", CELL_VARIANTS, ids=CELL_IDS)
def test_backward_in_blocks_of_steps_matches_reference(kernel_set, cell, variant, go_backwards,
                                                       mask_case, dtype, sizes, monkeypatch):
    if kernel_set != "numba":
        pytest.skip("only the numba set runs the backward steps in blocks")
    from minilstm.kernels.cpu import _sequence

    monkeypatch.setattr(_sequence, "_BLOCK_STEPS", 3)
    monkeypatch.setattr(_sequence, "_MIN_BLOCK_SUM", 1)
    assert _sequence.backward_steps_per_block(sizes[0], sizes[1], 4 * sizes[3]) == 3
    seed = 11 * CELL_IDS.index(CELL_IDS[CELL_VARIANTS.index((cell, variant))]) + len(mask_case)
    _compare_with_reference(kernel_set, cell, variant, dtype, seed, mask_case, sizes=sizes,
                            go_backwards=go_backwards)


# The numba LSTM, GRU (reset_after) and SimpleRNN (forward-only) run Keras's default
# activations (tanh, sigmoid) in float32 through one fused register loop when H is a
# multiple of 16 on an AVX-512 or AVX2 CPU (_vmath.fuses): with 16 and 48 units, training
# and forward-only, every mask, both directions.
@pytest.mark.parametrize("H", [16, 48])
@pytest.mark.parametrize("mask_case", MASK_CASES, ids=MASK_IDS)
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("cell, variant", CELL_VARIANTS[:2] + CELL_VARIANTS[3:],
                         ids=CELL_IDS[:2] + CELL_IDS[3:])
def test_fused_cell_matches_reference(kernel_set, cell, variant, H, go_backwards, mask_case):
    if kernel_set != "numba":
        pytest.skip("only the numba set fuses the cells")
    from minilstm.kernels.cpu import _packed, _vmath

    if not _packed.has_vector_registers():
        pytest.skip("the fused cells run on AVX-512 and AVX2 CPUs only")
    assert _vmath.fuses(np.float32, H, "tanh", "sigmoid")
    assert not _vmath.fuses(np.float64, H, "tanh", "sigmoid")
    assert not _vmath.fuses(np.float32, H + 8, "tanh", "sigmoid")
    assert not _vmath.fuses(np.float32, H, "relu", "sigmoid")
    assert _vmath.fuses(np.float32, H, "tanh") and not _vmath.fuses(np.float32, H, "relu")
    _compare_with_reference(kernel_set, cell, variant, np.float32, H + len(mask_case),
                            mask_case, sizes=(6, 5, 3, H), go_backwards=go_backwards)
    B, T, I = 6, 5, 3
    arrays, _ = random_problem(B, T, I, H, 3, dtype=np.float32, cell=cell, reset_after=True)
    options = _options(cell, variant, random_masks(B, T, I, H, 3, dtype=np.float32, cell=cell,
                                                   **mask_case), go_backwards=go_backwards)
    expected, _ = forward(reference, cell, arrays, **options)
    got, _ = forward(kernels.get("numba"), cell, arrays, cache=False, **options)
    _assert_close("hs", got[0], expected[0], TOLERANCES[np.float32])
    if cell == "lstm":
        _assert_close("cs", got[1], expected[1][:, -1:], TOLERANCES[np.float32])


@pytest.mark.parametrize("mask_case", MASK_CASES, ids=MASK_IDS)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fused_backward_is_its_loops_exactly(monkeypatch, cell, mask_case):
    """The fused backward cells (lstm._cell_backward_fused, gru._cell_backward_after_fused)
    make the same operations in the same order as their loops: every gradient bit for bit."""
    from minilstm.kernels.cpu import _packed, gru, lstm

    if not _packed.has_vector_registers():
        pytest.skip("the fused cells run on AVX-512 and AVX2 CPUs only")
    module = {"lstm": lstm, "gru": gru}[cell]
    B, T, I, H = 6, 5, 3, 32
    arrays, upstream = random_problem(B, T, I, H, 5, dtype=np.float32, cell=cell,
                                      reset_after=True)
    options = random_masks(B, T, I, H, 5, dtype=np.float32, cell=cell, **mask_case)
    _, cache = forward(module, cell, arrays, **options)
    args = [upstream.get(name) for name in ("dhs",) + CELLS[cell].last]
    backward = getattr(module, f"{cell}_backward")
    fused = backward(*args, cache)
    monkeypatch.setattr(module, "fuses", lambda *a, **k: False)
    loops = backward(*args, cache)
    for name, a, b in zip(gradient_names(cell), fused, loops):
        np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("cell, variant", CELL_VARIANTS, ids=CELL_IDS)
def test_backward_without_input_gradient(kernel_set, cell, variant):
    """input_grad=False (the layer reads the model's data): dx is None, every other
    gradient is the one the full backward gives."""
    B, T, I, H = 3, 5, 2, 4
    arrays, upstream = random_problem(B, T, I, H, 7, dtype=np.float64, cell=cell,
                                      reset_after=variant.get("reset_after", True))
    options = _options(cell, variant, random_masks(B, T, I, H, 7, dtype=np.float64, cell=cell,
                                                   mask=True, dropout=True))
    module = kernels.get(kernel_set)
    _, cache = forward(module, cell, {k: _device(kernel_set, v) for k, v in arrays.items()},
                       **{k: _device(kernel_set, v) for k, v in options.items()})
    args = [_device(kernel_set, upstream.get(name)) for name in ("dhs",) + CELLS[cell].last]
    full = getattr(module, f"{cell}_backward")(*args, cache)
    partial = getattr(module, f"{cell}_backward")(*args, cache, input_grad=False)
    assert partial[0] is None and full[0] is not None
    for name, p, f in zip(gradient_names(cell)[1:], partial[1:], full[1:]):
        np.testing.assert_array_equal(backend.to_numpy(p), backend.to_numpy(f), err_msg=name)
