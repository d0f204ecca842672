"""Where the batches of a minilstm workload spend their time.

Run in the worker after the timed repeats, on the model it timed: one more
epoch (or predict pass) of the workload's own data, with clocks around the
recurrent layer's `forward` and `backward` (each the kernel set's call plus
the layer's few lines around it) and the optimizer's step. Timing them inside
the real loop matters: the same kernel called over and over on one batch runs
10-20% faster than between the other work of a training step (caches, memory).
benchmarks/report.py sets the results against the workload's GEMM floor
(floor.py):

    forward kernel      the recurrent layer's forward (training: with cache;
                        predict: the forward-only kernel)
    backward kernel     its backward
    optimizer           Adam's update of every weight
    non-GEMM kernel     both kernels minus their GEMM floor: gate arithmetic,
                        masks, copies, thread hand-offs, BLAS below its best
    Python per batch    the batch minus both kernels and the optimizer: the
                        graph, the Dense head, loss, metrics, batching
"""

import time


def measure(model, w, x, y):
    """{'forward_s', 'backward_s', 'optimizer_s', 'batch_s'} per batch, for the model's
    first (recurrent) layer, over one more pass of the workload."""
    layer = model.layers[0]
    spent = {"forward_s": 0.0, "backward_s": 0.0, "optimizer_s": 0.0}

    def clocked(obj, name, key):
        original = getattr(obj, name)

        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - start
        setattr(obj, name, call)  # an instance attribute: shadows the method
        return lambda: delattr(obj, name)

    undo = [clocked(layer, "forward", "forward_s"), clocked(layer, "backward", "backward_s")]
    if w.kind != "predict":
        undo.append(clocked(model.optimizer, "apply_gradients", "optimizer_s"))
    start = time.perf_counter()
    try:
        if w.kind == "predict":
            model.predict(x, batch_size=w.batch, verbose=0)
        else:
            model.fit(x, y, batch_size=w.batch, epochs=1, verbose=0, shuffle=False)
    finally:
        elapsed = time.perf_counter() - start
        for u in undo:
            u()
    batches = -(-len(x) // w.batch)
    out = {key: value / batches for key, value in spent.items()}
    out.update(status="ok", batch_s=elapsed / batches)
    if w.kind == "predict":
        del out["backward_s"], out["optimizer_s"]
    return out
