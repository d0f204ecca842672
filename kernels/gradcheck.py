"""Finite-difference gradient checks, for tests and for learners.

    >>> from minilstm.kernels import gradcheck
    >>> report = gradcheck()          # the reference LSTM, tanh/sigmoid, float64
    >>> report.ok
    True
    >>> gradcheck(cell="gru", reset_after=False, mask=True, recurrent_dropout=True).ok
    True

The check differentiates the fake loss of llm.c's tests,

    L = Σ hs·dhs + Σ h_T·dh_last (+ Σ c_T·dc_last for the LSTM)

with random fixed dhs, dh_last, dc_last, so every one of BPTT's paths (the
per-step outputs, the final state, the cell carry) is exercised at once.

`CELLS` says, once, what each cell's kernel pair takes and returns; the
parity tests use it too (`random_problem`, `forward`, `backward`).
"""

from typing import NamedTuple

import numpy as np


class CellSpec(NamedTuple):
    """The shape of one cell's kernel pair."""

    gates: int  # G: H-wide blocks in kernel's columns
    states: tuple  # initial-state arguments, in order ('h0', 'c0')
    last: tuple  # upstream gradients of the final states ('dh_last', 'dc_last')
    activations: tuple  # activation arguments


CELLS = {
    "lstm": CellSpec(4, ("h0", "c0"), ("dh_last", "dc_last"),
                     ("activation", "recurrent_activation")),
    "gru": CellSpec(3, ("h0",), ("dh_last",), ("activation", "recurrent_activation")),
    "simple_rnn": CellSpec(1, ("h0",), ("dh_last",), ("activation",)),
}
WEIGHTS = ("kernel", "recurrent_kernel", "bias")


def tensors(cell):
    """The array arguments of `<cell>_forward`, in order."""
    return ("x",) + CELLS[cell].states + WEIGHTS


def gradient_names(cell):
    """What `<cell>_backward` returns, in order."""
    return tuple("d" + name for name in tensors(cell))


def forward(kernels, cell, arrays, **options):
    """`<cell>_forward` of a kernel set: (list of state sequences, cache)."""
    *sequences, cache = getattr(kernels, f"{cell}_forward")(
        *(arrays[name] for name in tensors(cell)), **options)
    return sequences, cache


def backward(kernels, cell, upstream, cache):
    """`<cell>_backward` of a kernel set: the gradients, named as `gradient_names`."""
    args = [upstream.get(name) for name in ("dhs",) + CELLS[cell].last]
    return getattr(kernels, f"{cell}_backward")(*args, cache)


def numerical_gradient(loss, array, eps=1e-6):
    """Central differences of the scalar `loss()` with respect to every entry of `array`.

    `array` is perturbed in place and restored; `loss` must read it.
    """
    if not array.flags.c_contiguous:
        raise ValueError("numerical_gradient perturbs `array` in place: pass a C-contiguous "
                         "array (np.ascontiguousarray) that `loss` reads.")
    grad = np.zeros_like(array, dtype=np.float64)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        saved = flat[k]
        flat[k] = saved + eps
        up = loss()
        flat[k] = saved - eps
        down = loss()
        flat[k] = saved
        flat_grad[k] = (up - down) / (2 * eps)
    return grad


def compare(analytic, numeric):
    """(max absolute difference, max relative difference) between two gradients."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    diff = np.abs(analytic - numeric)
    scale = np.maximum(np.abs(analytic) + np.abs(numeric), 1e-8)
    return float(diff.max(initial=0.0)), float((diff / scale).max(initial=0.0))


class GradcheckReport(dict):
    """Per-tensor result: name -> (max abs difference, max rel difference)."""

    def __init__(self, results, tolerance):
        super().__init__(results)
        self.tolerance = tolerance

    @property
    def ok(self):
        """True when every tensor's gradient is within tolerance."""
        return all(abs_err <= self.tolerance or rel_err <= self.tolerance
                   for abs_err, rel_err in self.values())

    def __str__(self):
        lines = [f"{'tensor':<18}{'max abs diff':>14}{'max rel diff':>14}  ok"]
        for name, (abs_err, rel_err) in self.items():
            ok = abs_err <= self.tolerance or rel_err <= self.tolerance
            lines.append(f"{name:<18}{abs_err:>14.3e}{rel_err:>14.3e}  {'yes' if ok else 'NO'}")
        return "\n".join(lines)


def random_problem(batch=2, timesteps=3, input_dim=2, units=3, seed=0, dtype=np.float64,
                   cell="lstm", reset_after=True):
    """Random inputs, weights and upstream gradients for one kernel call of `cell`.

    Returns (arrays, upstream): dicts keyed by the argument names of the
    cell's forward (`tensors(cell)`) and backward ('dhs', 'dh_last', ...).
    """
    rng = np.random.default_rng(seed)
    spec = CELLS[cell]
    G = spec.gates

    def draw(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    bias_shape = (2, G * units) if cell == "gru" and reset_after else (G * units,)
    arrays = {"x": draw(batch, timesteps, input_dim)}
    arrays.update({name: draw(batch, units, scale=0.5) for name in spec.states})
    arrays.update({
        "kernel": draw(input_dim, G * units, scale=0.5),
        "recurrent_kernel": draw(units, G * units, scale=0.5),
        "bias": draw(*bias_shape, scale=0.5),
    })
    upstream = {"dhs": draw(batch, timesteps, units)}
    upstream.update({name: draw(batch, units) for name in spec.last})
    return arrays, upstream


def random_masks(batch=2, timesteps=3, input_dim=2, units=3, seed=0, dtype=np.float64,
                 cell="lstm", mask=False, dropout=False, recurrent_dropout=False,
                 per_gate=True, rate=0.4):
    """Optional mask arguments for a kernel call: {} or some of mask / dropout masks.

    The sequence mask drops random steps (never all of a row's); dropout masks
    hold 0 or 1/(1-rate), one per gate block when `per_gate`, else one shared.
    """
    rng = np.random.default_rng(seed + 1000)
    options = {}
    if mask:
        steps = rng.random((batch, timesteps)) < 0.7
        steps[:, rng.integers(timesteps)] = True
        options["mask"] = steps
    blocks = CELLS[cell].gates if per_gate else 1
    for name, enabled, width in (("dropout_mask", dropout, input_dim),
                                 ("recurrent_dropout_mask", recurrent_dropout, units)):
        if enabled:
            keep = rng.random((blocks, batch, width)) >= rate
            options[name] = (keep / (1 - rate)).astype(dtype)
    return options


def gradcheck(kernel_set="numpy", batch=2, timesteps=3, input_dim=2, units=3,
              activation="tanh", recurrent_activation="sigmoid", go_backwards=False,
              seed=0, eps=1e-6, tolerance=1e-6, arrays=None, upstream=None, cell="lstm",
              reset_after=True, mask=False, dropout=False, recurrent_dropout=False,
              per_gate=True):
    """Checks a kernel set's `<cell>_backward` against central differences in float64.

    Args:
        kernel_set: 'numpy', 'numba' or 'cupy' (device arrays are copied back).
        batch, timesteps, input_dim, units: sizes of the random problem.
        activation, recurrent_activation, go_backwards: as in the forward
            (SimpleRNN has no recurrent_activation).
        seed: seed of the random problem.
        eps: finite-difference step.
        tolerance: a tensor passes when its max absolute or max relative
            difference is at most this.
        arrays, upstream: explicit inputs instead of a random problem (dicts
            as returned by `random_problem`).
        cell: 'lstm', 'gru' or 'simple_rnn'. reset_after: the GRU variant.
        mask, dropout, recurrent_dropout: also pass a random sequence mask
            and fixed dropout masks (per gate block, or shared when
            per_gate=False).

    Returns:
        A GradcheckReport: `report.ok`, `report['kernel']`, `print(report)`.
    """
    from . import get

    kernels = get(kernel_set)
    sizes = (batch, timesteps, input_dim, units, seed)
    if arrays is None or upstream is None:
        drawn_arrays, drawn_upstream = random_problem(*sizes, cell=cell, reset_after=reset_after)
        arrays = arrays or drawn_arrays
        upstream = upstream or drawn_upstream
    arrays = {name: np.array(arrays[name], dtype=np.float64) for name in tensors(cell)}
    upstream = {name: np.array(value, dtype=np.float64) for name, value in upstream.items()}
    options = dict(activation=activation, go_backwards=go_backwards)
    if "recurrent_activation" in CELLS[cell].activations:
        options["recurrent_activation"] = recurrent_activation
    if cell == "gru":
        options["reset_after"] = reset_after
    options.update(random_masks(*sizes, cell=cell, mask=mask, dropout=dropout,
                                recurrent_dropout=recurrent_dropout, per_gate=per_gate))
    to_device, to_host = _device_copiers(kernel_set)
    options = {k: to_device(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}

    def run():
        return forward(kernels, cell, {k: to_device(v) for k, v in arrays.items()}, **options)

    def loss():
        sequences, _ = run()
        total = float((to_host(sequences[0]) * upstream["dhs"]).sum())
        for sequence, name in zip(sequences, CELLS[cell].last):
            total += float((to_host(sequence)[:, -1] * upstream[name]).sum())
        return total

    _, cache = run()
    analytic = backward(kernels, cell, {k: to_device(v) for k, v in upstream.items()}, cache)
    results = {}
    for name, grad in zip(tensors(cell), analytic):
        results[name] = compare(to_host(grad), numerical_gradient(loss, arrays[name], eps))
    return GradcheckReport(results, tolerance)


def _device_copiers(kernel_set):
    """(to_device, to_host) for the kernel set's arrays."""
    if kernel_set != "cupy":
        return (lambda array: array), np.asarray
    import cupy

    return cupy.asarray, cupy.asnumpy
