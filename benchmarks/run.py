"""Times minilstm against its peers on workloads W0-W4, and W1/W3 with a GRU and a
SimpleRNN (W1-GRU, W3-GRU, W1-SimpleRNN, W3-SimpleRNN); see benchmarks/README.md.

    python -m benchmarks.run                       # full CPU run, all installed frameworks
    python -m benchmarks.run --quick               # smoke run with tiny sizes
    python -m benchmarks.run --workloads W1,W3 --frameworks minilstm,torch
    python -m benchmarks.run --cells gru,simple_rnn  # only the GRU and SimpleRNN workloads
    python -m benchmarks.run --device gpu          # W1-W3 + DeepBench-style grid on a GPU

Each (framework, workload) runs in a subprocess of its own with its threads
pinned. The frameworks of a workload, and its GEMM floor, take turns: one timed
repeat each per round (run_turns). Results go to <out>/latest.json, latest.md
and ratios.png.
"""

import argparse
import fnmatch
import importlib.metadata
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, ROOT)

from benchmarks import floor, frameworks, report, workloads  # noqa: E402

PACKAGES = ("numpy", "numba", "minilstm", "keras", "tensorflow", "tensorflow-cpu", "jax",
            "jaxlib", "torch", "cupy-cuda12x", "cupy-cuda11x", "matplotlib")


def machine_info(threads):
    import numpy as np

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older numpy: no dict mode
        blas = "unknown"
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": threads,
            "platform": platform.platform(), "python": platform.python_version(),
            "numpy_blas": blas, "packages": versions}


def worker_command(args, framework, specs, result, gemm=False, floor=False, turns=False):
    """The command line and environment of a worker (benchmarks/frameworks/__main__.py)."""
    env = frameworks.environment(framework, args.threads, args.device, isa=args.isa)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "benchmarks.frameworks", "--result", result,
           "--device", args.device, "--threads", str(args.threads),
           "--launched", repr(time.time()), "--repeats", str(args.repeats),
           "--shuffle", str(int(args.shuffle))]
    cmd += ["--gemm"] if gemm else [
        "--framework", framework, "--spec", json.dumps([w.to_json() for w in specs])]
    cmd += (["--floor"] if floor else []) + (["--turns"] if turns else [])
    return cmd, env


def settle(out, keys, framework, timed_out, why, tail):
    """Marks the records of `keys` that never finished: a timeout, or an error (whose last
    lines of output are printed)."""
    for key in keys:
        rec = out.setdefault(key, {"status": "running", "repeats": []})
        if rec["status"] == "running":
            rec.update(status="timeout" if timed_out else "error", note=why)
        if rec["status"] == "error" and not timed_out:
            print(f"    {framework} {key} failed; last lines of its output:", *tail,
                  sep="\n      ", file=sys.stderr)
    return out


def last_lines(path):
    with open(path) as f:
        return f.read().strip().splitlines()[-15:]


def read_json(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def run_worker(args, framework, specs, timeout, env_extra=None, gemm=False, floor=False):
    """Runs one worker subprocess for `specs` (workloads, or the GEMM when gemm=True, or
    their GEMM floors when floor=True), all its repeats in a row.

    Returns {workload id: result}; a run killed after timeout x len(specs) seconds
    keeps what it measured and marks the rest as timeouts; a crash is an error.
    """
    limit = timeout * max(1, len(specs))
    with tempfile.TemporaryDirectory() as tmp:
        result, log_path = os.path.join(tmp, "result.json"), os.path.join(tmp, "log.txt")
        cmd, env = worker_command(args, framework, specs, result, gemm, floor)
        env.update(env_extra or {})
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                proc.wait(timeout=limit)
                timed_out = False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                timed_out = True
        out, tail = read_json(result), last_lines(log_path)
    why = (f"killed after {limit:.0f} s (--max-seconds)" if timed_out else
           tail[-1] if tail else f"exit code {proc.returncode}")
    return settle(out, ["gemm"] if gemm else [w.id for w in specs], framework, timed_out, why,
                  tail)


# Seconds between two turns: time for the threads of the worker whose turn ended
# (OpenMP, XLA, Numba's pool) to stop spinning and go to sleep.
TURN_PAUSE_S = 0.25


class TurnWorker:
    """One worker process that times one workload a repeat at a time, when its turn
    comes (frameworks/__main__.py --turns). `limit` bounds its busy time: the
    warm-up and its turns, not the others' turns it waits through."""

    def __init__(self, args, framework, w, tmp, limit, floor=False):
        self.framework, self.w, self.limit, self.busy = framework, w, limit, 0.0
        name = framework + ("-floor" if floor else "")
        self.result, self.log_path = (os.path.join(tmp, f"{name}.{ext}") for ext in ("json", "log"))
        cmd, env = worker_command(args, framework, [w], self.result, floor=floor, turns=True)
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log,
                                         start_new_session=True)
        self.pending, self.timed_out, self.alive = b"", False, True

    def wait(self):
        """The worker's next answer ('ready', 'done'), or None once it has ended (or been
        killed for going over its limit)."""
        start = time.perf_counter()
        fd = self.proc.stdout.fileno()
        while self.alive and b"\n" not in self.pending:
            left = self.limit - self.busy - (time.perf_counter() - start)
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.timed_out, self.alive = True, False
                break
            chunk = os.read(fd, 4096)
            if not chunk:  # it ended: its result file says how
                self.alive = False
            self.pending += chunk
        self.busy += time.perf_counter() - start
        if b"\n" not in self.pending:
            return None
        line, self.pending = self.pending.split(b"\n", 1)
        return line.decode().strip()

    def turn(self, command):
        """Sends one command ('repeat', 'phases'); True when the worker answered done."""
        if not self.alive:
            return False
        try:
            self.proc.stdin.write(command.encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.alive = False
        return self.wait() == "done"

    def finish(self):
        """Ends the worker; its {workload id: result}, unfinished records settled."""
        if self.alive:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        out, tail = read_json(self.result), last_lines(self.log_path)
        why = (f"killed after {self.limit:.0f} s busy (--max-seconds)" if self.timed_out else
               tail[-1] if tail else f"exit code {self.proc.returncode}")
        return settle(out, [self.w.id], self.framework, self.timed_out, why, tail)


def run_turns(args, names, w, timeout):
    """Times workload `w` in every framework of `names`, and (on CPU) its GEMM floor, in
    rounds: each framework's worker warms up alone, then every round gives each live
    worker one timed repeat in turn, the order rotating by one each round, so a burst
    of load from a neighbour falls on one round of every framework rather than on all
    the repeats of one. The baseline's phases (phases.py) come after the last round.

    Returns ({framework: result}, the floor record or None).
    """
    with tempfile.TemporaryDirectory() as tmp:
        workers = []
        for name in names + (["floor"] if args.device == "cpu" else []):
            is_floor = name == "floor"
            worker = TurnWorker(args, "minilstm-numpy" if is_floor else name, w, tmp, timeout,
                                floor=is_floor)
            worker.wait()  # 'ready' after its warm-up, None if it could not run
            workers.append((name, worker))
        for round_ in range(args.repeats):
            shift = round_ % len(workers)
            for name, worker in workers[shift:] + workers[:shift]:
                if worker.alive:
                    time.sleep(TURN_PAUSE_S)
                    worker.turn("repeat")
        for name, worker in workers:
            if name == frameworks.BASELINE[args.device]:
                time.sleep(TURN_PAUSE_S)  # as before every turn: the last one's threads spin
                worker.turn("phases")
        results = {name: worker.finish()[w.id] for name, worker in workers}
    floor_rec = results.pop("floor", None)
    if floor_rec is not None:
        floor_rec = combine_floor(floor_rec)
    return results, floor_rec


def combine_floor(rec):
    """A floor worker's record of runs, as one floor record (floor.combine)."""
    if rec.get("status") != "ok" or not rec.get("runs"):
        return {k: v for k, v in rec.items() if k != "runs"}
    return floor.combine(rec["runs"])


def measure_gemm(args, timeout):
    gemm = run_worker(args, "torch", [], timeout, gemm=True)["gemm"]
    print(f"  2048x2048 float32 matmul: {gemm.get('gflops', float('nan')):.1f} GFLOP/s "
          f"({gemm.get('library', gemm.get('note'))})", flush=True)
    return gemm


def measure_floors(args, chosen, timeout):
    """{workload id: [floor.measure() runs]} (benchmarks/floor.py), in a pinned worker."""
    if args.device != "cpu" or not chosen:
        return {}
    floors = run_worker(args, "minilstm-numpy", chosen, timeout, floor=True)
    return {w.id: floors[w.id].get("runs", []) for w in chosen}


def print_floor(w, rec):
    if rec and rec.get("status") == "ok":
        print(f"  {w.id:<12} GEMM floor {rec['floor_s']:.3g} s per repeat "
              f"({rec['gflops']:.0f} GFLOP/s)", flush=True)


def run_seeds(args, names, w, timeout):
    """W0: every repeat is a fresh process running the seed script; minilstm's numba sets
    also run it once more with an empty Numba cache first (cold). The frameworks take
    turns, one repeat each per round, the order rotating, as run_turns does: the default
    set and the reference, which run the same code on W0, read 10-20% apart when each
    ran its repeats in a row on this noisy machine.

    Returns {framework: result}.
    """
    runs = {name: [] for name in names}
    colds = {name: [] for name in names}
    for round_ in range(args.repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            if runs[name] and runs[name][-1]["status"] != "ok":
                continue  # it failed: no more repeats
            cold, run = seed_repeat(args, name, w, timeout)
            if cold is not None:
                colds[name].append(cold)
            runs[name].append(run)
    return {name: combine_seed(runs[name], colds[name]) for name in names}


def seed_repeat(args, framework, w, timeout):
    """One W0 repeat: (the cold-cache run or None, the run)."""
    cache = (tempfile.mkdtemp(prefix="numba-cache-")
             if framework in ("minilstm", "minilstm-numba") else None)
    try:
        env = {"NUMBA_CACHE_DIR": cache} if cache else None
        # an empty NUMBA_CACHE_DIR: compile from scratch, then reuse it
        cold = run_worker(args, framework, [w], timeout, env)[w.id] if cache else None
        return cold, run_worker(args, framework, [w], timeout, env)[w.id]
    finally:
        if cache:
            shutil.rmtree(cache, ignore_errors=True)


def combine_seed(runs, colds):
    """One W0 record from a framework's repeats: medians of each time."""
    out = dict(runs[-1])
    for key in ("loss", "import_s", "build_s", "fit_s", "fit_warm_s", "process_s"):
        values = [r[key] for r in runs if key in r]
        if values:
            out[key] = statistics.median(values)
    out["losses"] = [r["loss"] for r in runs if "loss" in r]
    cold = [r["process_s"] for r in colds if "process_s" in r]
    if cold:
        out["process_cold_s"] = statistics.median(cold)
        out["fit_cold_s"] = statistics.median(r["fit_s"] for r in colds if "fit_s" in r)
    out["repeats"] = [r["fit_warm_s"] for r in runs if "fit_warm_s" in r]
    if out["status"] == "timeout" and "process_s" in out:
        out["note"] += "; seed fit finished, the warm re-fit did not"
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--workloads", help="comma list of ids or shell patterns, e.g. W0,W1 or "
                                       "'*-GRU,*-SimpleRNN' (default: all for --device; on gpu "
                                       "the grid ids start with G, and G selects the whole grid)")
    p.add_argument("--cells", help="comma list of cells: "
                                   + ", ".join(workloads.CELLS) + " (default: all); "
                                   "combines with --workloads (both must match)")
    p.add_argument("--frameworks", help="comma list (default: all for --device): "
                                        + ", ".join(frameworks.FRAMEWORKS))
    p.add_argument("--repeats", type=int, help="timed repeats per workload (default 3, quick 2)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the harness")
    p.add_argument("--max-seconds", type=float,
                   help="limit per framework and workload (default 900, quick 180); "
                        "over it the run is killed and recorded as a timeout")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0))
                   if hasattr(os, "sched_getaffinity") else os.cpu_count(),
                   help="threads for every framework (default: this machine's cores)")
    p.add_argument("--shuffle", action="store_true", help="fit with shuffle=True everywhere")
    p.add_argument("--isa", choices=("native", "avx2"), default="native",
                   help="avx2: keep every framework to AVX2 on an AVX-512 CPU, a stand-in for "
                        "an AVX2-only CPU such as AMD Zen 2/3 (frameworks.avx2_environment); "
                        "results go to latest-avx2.*")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    args = p.parse_args(argv)
    args.repeats = args.repeats or (2 if args.quick else 3)
    timeout = args.max_seconds or (180 if args.quick else 900)

    # Pin the parent too, before numpy loads, so the GEMM reference matches the workers.
    os.environ.update({k: v for k, v in frameworks.environment(
        "torch", args.threads, args.device, base={}).items() if k.endswith("_THREADS")})
    if args.isa == "avx2":
        if args.device != "cpu":
            p.error("--isa avx2 is for CPU runs")
        os.environ.update(frameworks.avx2_environment())

    all_w = workloads.for_device(args.device, args.quick)
    wanted = args.workloads.split(",") if args.workloads else None
    cells = args.cells.split(",") if args.cells else None
    if cells and set(cells) - set(workloads.CELLS):
        p.error(f"unknown cell(s) {sorted(set(cells) - set(workloads.CELLS))}; "
                f"expected {', '.join(workloads.CELLS)}")

    def matches(w, x):  # an id, a shell pattern, or (GPU grid) a prefix starting with G
        return w.id == x or fnmatch.fnmatchcase(w.id, x) or (x.startswith("G")
                                                            and w.id.startswith(x))

    chosen_w = [w for w in all_w if (wanted is None or any(matches(w, x) for x in wanted))
                and (cells is None or w.cell in cells)]
    names = args.frameworks.split(",") if args.frameworks else frameworks.for_device(args.device)
    unknown = [n for n in names if n not in frameworks.FRAMEWORKS]
    unmatched = [x for x in wanted or [] if not any(matches(w, x) for w in all_w)]
    if unknown:
        p.error(f"unknown framework(s) {unknown}")
    if unmatched:
        ids = [w.id for w in all_w if not w.id.startswith("G")]
        ids += ["G-..."] if len(ids) < len(all_w) else []
        p.error(f"no {args.device} workload matches {unmatched}; ids: {', '.join(ids)}")
    if not chosen_w:
        p.error(f"no workload in {wanted} has a cell in {cells}")

    doc = {"device": args.device, "isa": args.isa, "quick": args.quick, "repeats": args.repeats,
           "threads": args.threads, "max_seconds": timeout, "shuffle": args.shuffle,
           "started": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine_info(args.threads),
           "baseline": frameworks.BASELINE[args.device],
           "workloads": [w.to_json() for w in chosen_w],
           "results": [], "notes": []}
    print(f"machine: {doc['machine']['cpu']}, {args.threads} threads; measuring GEMM...",
          flush=True)
    gemms = [measure_gemm(args, timeout)]
    # Every workload takes turns (run_turns; W0's repeats, fresh processes, in
    # run_seeds) except the GPU grid, one process per framework; W0's floor is
    # measured at the start and the end, and the faster kept.
    seeds = [w for w in chosen_w if w.kind == "seed"]
    seed_floors = measure_floors(args, seeds, timeout)
    doc["floors"] = {}

    skip = {}  # framework -> why it cannot run here
    for name in names:
        lacking = frameworks.missing(name)
        if lacking:
            skip[name] = f"not installed ({', '.join(lacking)})"
            doc["notes"].append(f"{name}: skipped, {skip[name]}")
    grid = [w for w in chosen_w if w.id.startswith("G")]
    groups = [[w] for w in chosen_w if w not in grid] + ([grid] if grid else [])
    for group in groups:
        w = group[0]
        turns = w.kind != "seed" and not w.id.startswith("G")
        taking = [n for n in names if n not in skip]
        if turns:
            by_name, doc["floors"][w.id] = run_turns(args, taking, w, timeout)
            print_floor(w, doc["floors"][w.id])
        elif w.kind == "seed":
            by_name = run_seeds(args, taking, w, timeout)
        for name in names:
            if name in skip:
                recs = {w.id: {"status": "skipped", "note": skip[name]} for w in group}
            elif turns or w.kind == "seed":
                recs = {w.id: by_name[name]}
            else:
                recs = run_worker(args, name, group, timeout)
            for w_ in group:
                rec = recs[w_.id]
                if rec["status"] == "skipped" and name not in skip:  # no GPU, no kernel set
                    skip[name] = rec.get("note", "")
                    doc["notes"].append(f"{name}: skipped, {skip[name]}")
                rec.update(framework=name, workload=w_.id)
                report.annotate(rec, w_)
                doc["results"].append(rec)
                print("  " + report.progress_line(rec, w_), flush=True)

    # The GEMM again at the end; the better of the two is the machine's reference
    # (a neighbour's load during one measurement should not flatter everyone).
    gemms.append(measure_gemm(args, timeout))
    for key, runs in measure_floors(args, seeds, timeout).items():
        runs = seed_floors.get(key, []) + runs
        if runs:
            doc["floors"][key] = floor.combine(runs)
            print_floor(next(w for w in seeds if w.id == key), doc["floors"][key])
    doc["gemm"] = max(gemms, key=lambda g: g.get("gflops", 0))
    doc["gemm"]["all_gflops"] = [g.get("gflops") for g in gemms]
    by_id = {w.id: w for w in chosen_w}
    for rec in doc["results"]:
        report.annotate(rec, by_id[rec["workload"]], doc["gemm"].get("gflops"),
                        doc["floors"].get(rec["workload"]))

    paths = report.write(doc, args.out)
    print()
    print(report.markdown(doc))
    print("wrote " + ", ".join(os.path.relpath(p_, os.getcwd()) for p_ in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
