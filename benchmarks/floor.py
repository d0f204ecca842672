"""A workload's GEMM floor: the time its BLAS products alone take, at the same shapes.

The floor is what no kernel can beat without fewer FLOPs or a better BLAS:
NumPy's matmul (OpenBLAS, the threads every framework gets) running exactly the
products the minilstm kernels issue for one batch of B rows, T steps, I input
features, H units and G gate blocks (4 LSTM, 3 GRU, 1 SimpleRNN):

    forward   input projection   1 x (B*T, I) @ (I, G*H)
              recurrent steps    T x (B, H) @ (H, G*H)
    backward  recurrent steps    T x (B, G*H) @ (G*H, H)
              weight gradients   (I, B*T) @ (B*T, G*H), (H, B*T) @ (B*T, G*H)

The input gradient, (B*T, G*H) @ (G*H, I), is not in it: the recurrent layer
of every workload reads the model's input, so a training step skips it.

The Dense head, the loss and the optimizer are left out (under 1% here). Each
product writes into a preallocated output (`np.matmul(..., out=)`), and the
cost of the Python call itself (a 1x1 product, about 1 µs) is taken off each,
so that tiny shapes (W0, W4) are not floored by the interpreter.
"""

import time

import numpy as np

PHASES = ("input projection", "forward steps", "backward steps", "weight gradients")


def products(w):
    """[(phase, count, m, k, n)]: one batch's products (m, k) @ (k, n); forward only to predict."""
    B, T, I, H, G = w.batch, w.timesteps, w.features, w.units, w.gates
    out = [("input projection", 1, B * T, I, G * H), ("forward steps", T, B, H, G * H)]
    if w.kind != "predict":
        out += [("backward steps", T, B, G * H, H),
                ("weight gradients", 1, I, B * T, G * H),  # dkernel = xᵀ dz
                ("weight gradients", 1, H, B * T, G * H)]  # drecurrent_kernel = h_prevᵀ dz
    return out


def batches(w):
    """Batches per timed repeat (fit: one epoch; predict: one pass; seed: every epoch)."""
    per_pass = -(-w.samples // w.batch)
    return per_pass * (w.epochs if w.kind == "seed" else 1)


def _time_products(count, m, k, n, repeats, rng, call_s=0.0):
    """Median seconds of `count` products (m, k) @ (k, n) in a row, into one output,
    less `call_s` per product (the Python call's own cost)."""
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), np.float32)
    np.matmul(a, b, out=c)  # warm-up: BLAS threads started, pages touched
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(count):
            np.matmul(a, b, out=c)
        times.append(time.perf_counter() - t)
    return max(0.0, float(np.median(times)) - count * call_s)


def measure(w, repeats=7, seed=0):
    """{'phases': {phase: seconds per batch}, 'batch_s', 'floor_s', 'gflops'} for `w`.

    floor_s is the floor of one timed repeat (an epoch, a predict pass, W0's whole
    fit), in the same seconds as the workload's median.
    """
    rng = np.random.default_rng(seed)
    call_s = _time_products(1000, 1, 1, 1, repeats, rng) / 1000  # the call alone
    phases = dict.fromkeys(p for p in PHASES if any(q[0] == p for q in products(w)))
    for phase, count, m, k, n in products(w):
        phases[phase] = (phases[phase] or 0.0) + _time_products(count, m, k, n, repeats, rng,
                                                                call_s)
    per_batch = sum(phases.values())
    flops = sum(2.0 * c * m * k * n for _, c, m, k, n in products(w))
    return {"status": "ok", "phases": phases, "batch_s": per_batch, "call_s": call_s,
            "floor_s": per_batch * batches(w), "gflops": flops / per_batch / 1e9}


def combine(runs):
    """One floor record from the measure() runs of several rounds: the run with the
    median floor_s (the lower middle one of an even count), and every run's floor_s."""
    median = sorted(runs, key=lambda r: r["floor_s"])[(len(runs) - 1) // 2]
    return {**median, "runs_s": [r["floor_s"] for r in runs]}
