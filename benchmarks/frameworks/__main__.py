"""Worker: times one workload for one framework, in a process of its own.

    python -m benchmarks.frameworks --framework torch --spec '{...workload...}' --result out.json
    python -m benchmarks.frameworks --gemm --result out.json

The parent (benchmarks/run.py) sets the environment (threads, backends) and
reads the JSON from --result, which is rewritten after every repeat so a run
killed for time still leaves what it measured.

With --turns (one workload), the worker warms up, says `ready`, then times one
repeat per `repeat` line read from stdin and answers `done` after each; `phases`
runs the baseline's breakdown (phases.py) and `quit` ends it. The parent hands
the turns round every live worker of a workload, so a burst of load from a
neighbour slows one round of every framework instead of all the repeats of one
(run.py). Its answers go to the stdout it was started with; whatever a library
prints goes to stderr, the log.
"""

import argparse
import importlib
import importlib.util
import json
import os
import statistics
import sys
import time
import traceback

from . import BASELINE, FRAMEWORKS, Unavailable


def write(path, obj):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def pin_cores(threads):
    """Restricts the process to `threads` cores when the machine has more."""
    if hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) > threads:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])


def gemm(device, n=2048, repeats=10):
    """Median seconds and GFLOP/s of an n x n float32 matmul (numpy, or the GPU)."""
    gpu = None
    if device == "cpu":
        import numpy as np

        a, b = (np.random.rand(n, n).astype(np.float32) for _ in "ab")
        sync, library = (lambda: None), f"numpy {np.__version__}"
    elif importlib.util.find_spec("cupy"):
        import cupy

        a, b = (cupy.random.rand(n, n, dtype=cupy.float32) for _ in "ab")
        sync, library = cupy.cuda.Device().synchronize, f"cupy {cupy.__version__}"
        gpu = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    else:
        import torch

        if not torch.cuda.is_available():
            raise Unavailable("no CUDA device for the GPU GEMM")
        a, b = (torch.rand(n, n, device="cuda") for _ in "ab")
        sync, library = torch.cuda.synchronize, f"torch {torch.__version__}"
        gpu = torch.cuda.get_device_name(0)
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        a @ b
        sync()
        times.append(time.perf_counter() - t)
    median = statistics.median(times[1:])
    return {"status": "ok", "library": library, "gpu": gpu, "n": n, "median_s": median,
            "gflops": 2 * n**3 / median / 1e9}


def warm_up(adapter, w, args, out, save):
    """Builds the model and warms it up; returns a function that times one repeat
    (None for the seed workload, which times itself here)."""
    from ..workloads import data

    x, y = data(w, args.seed)
    t = time.perf_counter()
    model = adapter.build(w.units, w.timesteps, w.features, cell=w.cell)
    out["build_s"] = time.perf_counter() - t
    if w.kind == "seed":  # the seed script, then the same fit again, warm
        t = time.perf_counter()
        out["loss"] = adapter.fit(model, x, y, w.batch, w.epochs, args.shuffle)
        out["fit_s"] = time.perf_counter() - t
        out["process_s"] = time.time() - args.launched
        save()
        t = time.perf_counter()
        adapter.fit(model, x, y, w.batch, w.epochs, args.shuffle)
        out["fit_warm_s"] = time.perf_counter() - t
        return None
    if w.kind == "fit":
        def step(xs, ys):
            out["loss"] = adapter.fit(model, xs, ys, w.batch, 1, args.shuffle)
    else:
        def step(xs, ys):
            adapter.predict(model, xs, w.batch)
    n = w.warmup_samples or w.samples
    t = time.perf_counter()
    step(x[:n], y[:n])
    out["warmup_s"] = time.perf_counter() - t

    def repeat():
        t = time.perf_counter()
        step(x, y)
        out["repeats"].append(time.perf_counter() - t)
        save()

    def phases():  # the baseline's per-phase breakdown, on the CPU
        if args.framework == BASELINE[args.device] and args.device == "cpu":
            from ..phases import measure

            out["phases"] = measure(model, w, x, y)
            save()
    repeat.phases = phases
    return repeat


def run_workload(adapter, w, args, out, save):
    """Warm-up, then --repeats timed repeats in a row (and the baseline's phases)."""
    repeat = warm_up(adapter, w, args, out, save)
    if repeat is None:
        return
    for _ in range(args.repeats):
        repeat()
    repeat.phases()


def take_turns(commands, answer):
    """Says `ready`, then runs {command: function} for each line read from stdin until
    `quit` or its end, answering `done` after each. An exception ends the turns: the
    caller records it, and the parent reads the end of this process as the end."""
    answer("ready")
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            return
        commands[command]()
        answer("done")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--framework", choices=sorted(FRAMEWORKS))
    p.add_argument("--spec", help="a workload as JSON (benchmarks.workloads.Workload), or a list")
    p.add_argument("--gemm", action="store_true", help="time the reference matmul instead")
    p.add_argument("--floor", action="store_true",
                   help="time each --spec workload's GEMM floor (benchmarks/floor.py) instead")
    p.add_argument("--result", required=True, help="JSON file: {workload id: result}")
    p.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--shuffle", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--launched", type=float, default=time.time(),
                   help="time.time() when the parent started this process")
    p.add_argument("--turns", action="store_true",
                   help="one workload (or floor): warm up, then time one repeat per `repeat` "
                        "line on stdin (see above)")
    args = p.parse_args(argv)
    pin_cores(args.threads)
    answer = None
    if args.turns:  # answers on the stdout we were given; libraries' prints to the log
        channel = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)

        def answer(text):
            channel.write(text + "\n")
            channel.flush()
    if args.gemm:
        try:
            out = {"gemm": gemm(args.device)}
        except Exception as e:
            out = {"gemm": {"status": "error", "note": f"{type(e).__name__}: {e}"}}
        write(args.result, out)
        return 0
    from ..workloads import Workload

    specs = json.loads(args.spec)
    specs = [Workload(**s) for s in (specs if isinstance(specs, list) else [specs])]
    if args.floor:  # each workload's record gathers its floor runs (floor.combine)
        from .. import floor

        out = {}
        for w in specs:
            rec = out[w.id] = {"status": "running", "runs": []}

            def measure():
                rec["runs"].append(floor.measure(w))
                write(args.result, out)
            try:
                if args.turns:
                    take_turns({"repeat": measure}, answer)
                else:
                    measure()
                rec["status"] = "ok"
            except Exception as e:
                traceback.print_exc()
                rec.update(status="error", note=f"{type(e).__name__}: {e}"[:300])
            write(args.result, out)
        return 0
    results, failed = {}, False
    try:
        t = time.perf_counter()
        module = importlib.import_module(f".{FRAMEWORKS[args.framework][0]}", __package__)
        adapter = module.load(args.framework, args.device, args.threads, args.seed)
        loaded = {"import_s": time.perf_counter() - t}
    except Unavailable as e:
        loaded = {"status": "skipped", "note": str(e)}
    except Exception as e:
        traceback.print_exc()
        loaded, failed = {"status": "error", "note": f"{type(e).__name__}: {e}"[:300]}, True
    for w in specs:
        out = results[w.id] = {"status": "running", "repeats": [], **loaded}
        if "status" in loaded:
            continue
        save = lambda: write(args.result, results)  # noqa: E731
        try:
            if args.turns:
                repeat = warm_up(adapter, w, args, out, save)
                take_turns({"repeat": repeat, "phases": repeat.phases}, answer)
            else:
                run_workload(adapter, w, args, out, save)
            out["status"] = "ok"
        except Exception as e:  # reported in the table, with the traceback on stderr
            traceback.print_exc()
            out.update(status="error", note=f"{type(e).__name__}: {e}"[:300])
            failed = True
        # After the timing: minilstm's version string may read numba's installed version,
        # a scan of the installed packages that W0's process time must not include.
        out["version"] = str(adapter.version)
        if hasattr(adapter, "clear"):
            adapter.clear()
        write(args.result, results)
    write(args.result, results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
