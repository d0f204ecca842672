"""Finite-difference gradient checks, for tests and for learners.

    >>> from minilstm.kernels import gradcheck
    >>> report = gradcheck()          # the reference kernel, tanh/sigmoid, float64
    >>> report.ok
    True

The check differentiates the fake loss of llm.c's tests,

    L = Σ hs·dhs + Σ h_T·dh_last + Σ c_T·dc_last

with random fixed dhs, dh_last, dc_last, so every one of BPTT's paths (the
per-step outputs, the final state, the cell carry) is exercised at once.
"""

import numpy as np

_TENSORS = ("x", "h0", "c0", "kernel", "recurrent_kernel", "bias")


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


def random_problem(batch=2, timesteps=3, input_dim=2, units=3, seed=0, dtype=np.float64):
    """Random inputs, weights and upstream gradients for one kernel call."""
    rng = np.random.default_rng(seed)

    def draw(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    arrays = {
        "x": draw(batch, timesteps, input_dim),
        "h0": draw(batch, units, scale=0.5),
        "c0": draw(batch, units, scale=0.5),
        "kernel": draw(input_dim, 4 * units, scale=0.5),
        "recurrent_kernel": draw(units, 4 * units, scale=0.5),
        "bias": draw(4 * units, scale=0.5),
    }
    upstream = {
        "dhs": draw(batch, timesteps, units),
        "dh_last": draw(batch, units),
        "dc_last": draw(batch, units),
    }
    return arrays, upstream


def gradcheck(kernel_set="numpy", batch=2, timesteps=3, input_dim=2, units=3,
              activation="tanh", recurrent_activation="sigmoid", go_backwards=False,
              seed=0, eps=1e-6, tolerance=1e-6, arrays=None, upstream=None):
    """Checks a kernel set's lstm_backward against central differences in float64.

    Args:
        kernel_set: 'numpy', 'numba' or 'cupy' (device arrays are copied back).
        batch, timesteps, input_dim, units: sizes of the random problem.
        activation, recurrent_activation, go_backwards: as in lstm_forward.
        seed: seed of the random problem.
        eps: finite-difference step.
        tolerance: a tensor passes when its max absolute or max relative
            difference is at most this.
        arrays, upstream: explicit inputs instead of a random problem (dicts
            as returned by `random_problem`).

    Returns:
        A GradcheckReport: `report.ok`, `report['kernel']`, `print(report)`.
    """
    from . import get
    from ..backend import to_numpy

    kernels = get(kernel_set)
    if arrays is None or upstream is None:
        drawn_arrays, drawn_upstream = random_problem(batch, timesteps, input_dim, units, seed)
        arrays = arrays or drawn_arrays
        upstream = upstream or drawn_upstream
    arrays = {name: np.array(arrays[name], dtype=np.float64) for name in _TENSORS}
    upstream = {name: np.array(value, dtype=np.float64) for name, value in upstream.items()}
    to_device = _device_copier(kernel_set)

    def forward():
        args = [to_device(arrays[name]) for name in _TENSORS]
        return kernels.lstm_forward(*args, activation=activation,
                                    recurrent_activation=recurrent_activation,
                                    go_backwards=go_backwards)

    def loss():
        hs, cs, _ = forward()
        hs, cs = to_numpy(hs), to_numpy(cs)
        return float((hs * upstream["dhs"]).sum() + (hs[:, -1] * upstream["dh_last"]).sum()
                     + (cs[:, -1] * upstream["dc_last"]).sum())

    _, _, cache = forward()
    analytic = kernels.lstm_backward(to_device(upstream["dhs"]), to_device(upstream["dh_last"]),
                                     to_device(upstream["dc_last"]), cache)
    results = {}
    for name, grad in zip(_TENSORS, analytic):
        results[name] = compare(to_numpy(grad), numerical_gradient(loss, arrays[name], eps))
    return GradcheckReport(results, tolerance)


def _device_copier(kernel_set):
    if kernel_set != "cupy":
        return lambda array: array
    import cupy

    return cupy.asarray
