"""Workload definitions (see the team's shared/BENCHMARKS.md) and their FLOP counts.

Every workload is one model, RNN(units) + Dense(1), trained with Adam on mse
(or run with predict), on float32 data drawn from a seeded generator so every
framework sees the same numbers. The RNN is an LSTM unless the workload's
`cell` says 'gru' (Keras 3 GRU, reset_after=True) or 'simple_rnn'.
"""

from dataclasses import asdict, dataclass

import numpy as np

# cell: (Keras layer name, gate blocks in the kernel: the G of 2*B*(I+H)*G*H)
CELLS = {"lstm": ("LSTM", 4), "gru": ("GRU", 3), "simple_rnn": ("SimpleRNN", 1)}


@dataclass(frozen=True)
class Workload:
    id: str
    kind: str  # 'seed' (W0), 'fit' (seconds per epoch) or 'predict' (one pass)
    title: str
    samples: int
    timesteps: int
    features: int
    units: int
    batch: int
    warmup_samples: int = 0  # samples fitted/predicted once before timing (0: all)
    epochs: int = 1  # 'seed' only: epochs of the one fit
    unit: str = "s/epoch"  # what `value` in the report means
    per: int = 1  # value = median seconds / per (steps per epoch for s/step)
    cell: str = "lstm"  # 'lstm', 'gru' or 'simple_rnn' (see CELLS)

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}; expected one of {', '.join(CELLS)}")

    def to_json(self):
        return asdict(self)

    @property
    def layer(self):
        """The Keras layer name of the cell: 'LSTM', 'GRU' or 'SimpleRNN'."""
        return CELLS[self.cell][0]

    @property
    def gates(self):
        """Gate blocks in the cell's kernels: 4 (LSTM), 3 (GRU), 1 (SimpleRNN)."""
        return CELLS[self.cell][1]

    def flops(self):
        """FLOPs of one timed repeat: 2*B*(I+H)*G*H per step forward (G = gates), x3 to train."""
        h, i = self.units, self.features
        forward = 2 * self.samples * self.timesteps * (i + h) * self.gates * h
        if self.kind == "predict":
            return forward
        return 3 * forward * (self.epochs if self.kind == "seed" else 1)

    def value(self, seconds):
        """The reported figure for a median of `seconds` per repeat."""
        if self.unit == "samples/s":
            return self.samples / seconds
        per_call = seconds / self.per
        return per_call * 1000 if self.unit.startswith("ms") else per_call


def data(w, seed=0):
    """(x, y) for workload `w`: the seed's sequence for W0, else seeded normals."""
    if w.kind == "seed":
        seq = np.arange(10, dtype=np.float32) / 10  # 0.0 .. 0.9
        return seq[:-1].reshape(9, 1, 1), seq[1:].copy()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((w.samples, w.timesteps, w.features), dtype=np.float32)
    y = rng.standard_normal((w.samples, 1), dtype=np.float32)
    return x, y


def _workload(id, kind, name, samples, timesteps, features, units, batch, **kw):
    layer = CELLS[kw.get("cell", "lstm")][0]
    title = (f"{name}: {layer}({units}), X ({samples}, {timesteps}, {features}), batch {batch}"
             + (f", {kw['epochs']} epochs" if "epochs" in kw else ""))
    return Workload(id, kind, title, samples, timesteps, features, units, batch, **kw)


def cpu_workloads(quick=False):
    """W0-W4 at the sizes of BENCHMARKS.md, then W1 and W3 again with a GRU and a
    SimpleRNN in place of the LSTM (W1-GRU, W3-GRU, W1-SimpleRNN, W3-SimpleRNN);
    or tiny ones for a smoke test."""
    q = quick
    lstm = [
        _workload("W0", "seed", "the seed example", 9, 1, 1, 10, 9,
                  epochs=100 if q else 1000, unit="s"),
        _workload("W1", "fit", "medium training", 256 if q else 2048, 10 if q else 50,
                  8 if q else 32, 16 if q else 128, 64),
        _workload("W2", "fit", "large training", 256 if q else 1024, 20 if q else 100,
                  16 if q else 128, 32 if q else 512, 128, warmup_samples=256),
        _workload("W3", "predict", "inference", 512 if q else 4096, 20 if q else 100,
                  8 if q else 32, 32 if q else 256, 256, warmup_samples=256, unit="samples/s"),
        _workload("W4", "fit", "small-batch latency", 20 if q else 200, 5, 1, 32, 1,
                  unit="s/step", per=20 if q else 200),
    ]
    # The same shapes, data and measure as W1 and W3; only the cell differs.
    by_id = {w.id: w for w in lstm}
    others = []
    for cell in ("gru", "simple_rnn"):
        layer = CELLS[cell][0]
        for base, name in (("W1", "medium training"), ("W3", "inference")):
            w = by_id[base]
            others.append(_workload(f"{base}-{layer}", w.kind, name, w.samples, w.timesteps,
                                    w.features, w.units, w.batch, warmup_samples=w.warmup_samples,
                                    unit=w.unit, per=w.per, cell=cell))
    return lstm + others


def gpu_grid(quick=False):
    """DeepBench-style grid: hidden x batch at 50 timesteps (input size = hidden),
    forward (predict) and forward+backward (a train step with the Adam update)."""
    hiddens, batches, steps, t = ((32, 64), (4, 8), 4, 10) if quick else \
        ((256, 512, 1024, 2048), (16, 32, 64, 128), 10, 50)
    grid = []
    for h in hiddens:
        for b in batches:
            for kind, tag in (("predict", "fwd"), ("fit", "fwdbwd")):
                grid.append(_workload(f"G-h{h}-b{b}-{tag}", kind, f"grid {tag}", steps * b, t, h,
                                      h, b, warmup_samples=b, unit="ms/step", per=steps))
    return grid


def gpu_workloads(quick=False):
    return [w for w in cpu_workloads(quick) if w.id in ("W1", "W2", "W3")] + gpu_grid(quick)


def for_device(device, quick=False):
    return gpu_workloads(quick) if device == "gpu" else cpu_workloads(quick)
