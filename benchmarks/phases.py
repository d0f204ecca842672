"""Where one batch of a minilstm workload spends its time.

Run in the worker after the timed repeats, on the model it timed, with one
batch of the workload's data. It times the recurrent layer's kernel calls
alone (`forward` and `backward`, each the kernel set's call plus the layer's
few lines around it); benchmarks/report.py then sets them against the
workload's GEMM floor (floor.py) and its measured time per batch:

    forward kernel      layer.forward(x, training=True), or the inference
                        forward (training=False, no cache) to predict
    backward kernel     layer.backward(dy)
    non-GEMM kernel     both kernels minus their GEMM floor: gate arithmetic,
                        masks, copies, thread hand-offs, BLAS below its best
    Python per batch    the workload's time per batch minus both kernels:
                        the graph, the Dense head, loss, Adam, batching, callbacks
"""

import statistics
import time

import numpy as np


def _median_seconds(call, repeats):
    call()  # warm: compiled code loaded, buffers sized
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(model, w, x, repeats=7):
    """{'forward_s', 'backward_s'} per batch for the model's recurrent layer (first layer)."""
    from minilstm.layers.base import no_cache

    layer = model.layers[0]
    xb = np.ascontiguousarray(x[:w.batch])
    out = {"status": "ok"}
    if w.kind == "predict":
        def forward():
            with no_cache():
                layer.forward(xb, training=False)
        out["forward_s"] = _median_seconds(forward, repeats)
        return out
    out["forward_s"] = _median_seconds(lambda: layer.forward(xb, training=True), repeats)
    dy = np.random.default_rng(0).standard_normal((w.batch, w.units)).astype(np.float32)
    layer.forward(xb, training=True)
    cache = layer._cache

    def backward():
        layer._cache = cache  # backward only reads the cache; every repeat starts the same
        layer.backward(dy)
    out["backward_s"] = _median_seconds(backward, repeats)
    return out
