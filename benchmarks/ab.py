"""One commit's Numba kernels against the checkout's, in one process, timed alternately.

    python -m benchmarks.ab --base 463997e                  # every CPU workload but W0, W4
    python -m benchmarks.ab --base HEAD~3 --workloads W1,W3 --seconds 5

On a machine whose neighbours load it in bursts, two runs of the harness can
read the same code 10-50% apart, and a change of a few percent is lost in
that. Here both versions are loaded side by side (the base commit's
`kernels/` from a temporary git worktree, as a package of its own name) and
each workload's recurrent kernels for one batch run old, new, old, new...
for a few seconds, so every burst falls on both. This runs in two fresh
processes: at 2 threads, of two copies of the very same kernels the one that
makes its first call second ran 7-14% slower, whatever order they then took
turns in (where each copy's compiled code lands is the suspect), so one
process lets the base call first and the other the checkout. The figure is
the geometric mean of the two processes' ratios of the two minima (and of the
two medians), in which that bias cancels: below 1, the checkout is faster.
Each order's own ratio is printed beside it (against itself, `--base HEAD`:
1.131 and 0.872 for W1, combined 0.993).
Only the kernels are timed (a training batch: forward with cache, then
backward without dx; predict: the forward-only kernel), on seeded weights
and data of the workload's shapes, on --threads threads (Numba's, for the
kernels' chunks, and BLAS's). It measures a change; the harness (run.py)
measures against peers.
"""

import argparse
import contextlib
import importlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import workloads

ROOT = Path(__file__).resolve().parent.parent


def load_kernels(name, directory):
    """The kernels package in `directory` imported as `name` (its own module objects,
    compiled functions and Numba cache files), returning its numba modules by cell."""
    spec = importlib.util.spec_from_file_location(
        name, Path(directory) / "__init__.py", submodule_search_locations=[str(directory)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    return {cell: importlib.import_module(f"{name}.cpu.{cell}")
            for cell in ("lstm", "gru", "simple_rnn")}


def checkout_kernels():
    """This checkout's numba modules by cell, imported under their own name: Numba's cache
    files in kernels/cpu/__pycache__ then stay loadable by every other program (entries
    written under another package name would send them looking for it)."""
    import minilstm.kernels

    found = Path(minilstm.kernels.__file__).resolve().parent
    if found != ROOT / "kernels":
        raise SystemExit(f"minilstm.kernels is imported from {found}, not from this checkout "
                         f"({ROOT / 'kernels'}): install it editable (pip install -e .).")
    return {cell: importlib.import_module(f"minilstm.kernels.cpu.{cell}")
            for cell in ("lstm", "gru", "simple_rnn")}


@contextlib.contextmanager
def worktree(commit):
    """A detached git worktree of `commit`, removed on exit."""
    with tempfile.TemporaryDirectory(prefix="minilstm-ab-") as parent:
        path = Path(parent) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path),
                        commit], check=True, capture_output=True)
        try:
            yield path
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(path)], check=False, capture_output=True)


def batch_call(modules, w, seed=0):
    """A function that runs workload w's recurrent kernels on one batch of seeded data."""
    rng = np.random.default_rng(seed)
    B, T, I, H, G = w.batch, w.timesteps, w.features, w.units, w.gates
    f32 = np.float32
    x = rng.standard_normal((B, T, I), dtype=f32)
    kernel = (rng.standard_normal((I, G * H), dtype=f32) / np.sqrt(I)).astype(f32)
    recurrent = (rng.standard_normal((H, G * H), dtype=f32) / np.sqrt(H)).astype(f32)
    h0, dh = np.zeros((B, H), f32), rng.standard_normal((B, H), dtype=f32)
    module = modules[w.cell]
    if w.cell == "lstm":
        def forward(cache):
            return module.lstm_forward(x, h0, h0, kernel, recurrent, np.zeros(G * H, f32),
                                       cache=cache)[2]

        def backward(cache):
            module.lstm_backward(None, dh, None, cache, input_grad=False)
    else:
        bias = np.zeros((2, G * H) if w.cell == "gru" else G * H, f32)

        def forward(cache):
            return getattr(module, f"{w.cell}_forward")(x, h0, kernel, recurrent, bias,
                                                        cache=cache)[1]

        def backward(cache):
            getattr(module, f"{w.cell}_backward")(None, dh, cache, input_grad=False)

    if w.kind == "predict":
        return lambda: forward(False)
    return lambda: backward(forward(True))


def alternate(calls, seconds, first=None):
    """{name: [seconds per call]}: the calls in turn, for about `seconds` in all, after one
    warm-up call each, `first`'s (a name) before the others'."""
    for name in sorted(calls, key=lambda name: name != first):
        calls[name]()  # compiled, pages touched
    times = {name: [] for name in calls}
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or min(len(t) for t in times.values()) < 5:
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return times


def time_versions(args, chosen):
    """{workload id: {version: (min ms, median ms)}} in this process, the version named by
    args.first making its first kernel call first."""
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    out = {}
    with worktree(args.base) as base:
        versions = {"base": load_kernels("minilstm_ab_base", base / "kernels"),
                    "checkout": checkout_kernels()}
        with threadpool_limits(args.threads):
            for w in chosen:
                times = alternate({v: batch_call(m, w) for v, m in versions.items()},
                                  args.seconds, args.first)
                out[w.id] = {v: (min(t) * 1e3, float(np.median(t)) * 1e3)
                             for v, t in times.items()}
    return out


def in_both_orders(argv):
    """time_versions' results from two fresh processes: [base's first call first, the
    checkout's first]."""
    runs = []
    for first in ("base", "checkout"):
        done = subprocess.run([sys.executable, "-m", "benchmarks.ab", *argv, "--first", first],
                              cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"the process where {first} called first failed:\n"
                             + "\n".join(done.stderr.splitlines()[-15:]))
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return runs


def combined(runs, workload, which):
    """checkout / base over both orders: the geometric mean of the two processes' ratios
    (which: 0 for the minima, 1 for the medians), so that a bias toward whichever version
    called first, the same size either way, cancels."""
    ratios = [r[workload]["checkout"][which] / r[workload]["base"][which] for r in runs]
    return math.prod(ratios) ** (1 / len(ratios)), ratios


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="the commit to compare against")
    parser.add_argument("--workloads", default=None,
                        help="comma list of ids (default: every CPU workload but W0 and W4, "
                             "which Python and per-call costs bound)")
    parser.add_argument("--seconds", type=float, default=4.0, help="per workload (default 4)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="for the kernels' chunks and BLAS (default: every core)")
    parser.add_argument("--first", choices=("base", "checkout"), default=None,
                        help=argparse.SUPPRESS)  # one of the two processes: prints JSON
    args = parser.parse_args(argv)
    chosen = [w for w in workloads.cpu_workloads()
              if (w.id in args.workloads.split(",") if args.workloads
                  else w.id not in ("W0", "W4"))]
    if args.first:
        print(json.dumps(time_versions(args, chosen)))
        return
    known = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet",
                            f"{args.base}^{{commit}}"], capture_output=True)
    if known.returncode != 0:
        raise SystemExit(f"--base {args.base!r} is not a commit of this checkout "
                         "(try HEAD~1, a branch or a hash from git log).")
    print(f"base {args.base} against the checkout, {args.threads} threads, ms per batch of "
          "kernels (min / median) in the process where base called first, then where the "
          "checkout did; checkout / base over both (min / median), and each order's (mins)")
    print("| workload | kernels | base | checkout | base | checkout | checkout / base | "
          "each order |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    runs = in_both_orders(argv)
    for w in chosen:
        cells = [f"{r[w.id][v][0]:.2f} / {r[w.id][v][1]:.2f}" for r in runs
                 for v in ("base", "checkout")]
        (low, each), (mid, _) = combined(runs, w.id, 0), combined(runs, w.id, 1)
        kind = "forward only" if w.kind == "predict" else "forward + backward"
        print(f"| {w.id} | {kind} | {' | '.join(cells)} | {low:.3f} / {mid:.3f} | "
              f"{each[0]:.3f}, {each[1]:.3f} |", flush=True)


if __name__ == "__main__":
    main()
