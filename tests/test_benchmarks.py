"""The benchmark harness's own mechanics (benchmarks/): how turns hand out repeats, how a
floor's rounds become one record, how --isa avx2 turns AVX-512 off, what the report shows.
No speed is asserted here: speed is measured by `python -m benchmarks.run`, never in a test.
"""

import argparse
import importlib.util

import pytest

from benchmarks import floor, frameworks, report, run, workloads


def test_floor_record_is_the_median_round():
    runs = [{"floor_s": s, "phases": {"forward steps": s / 2}} for s in (3.0, 1.0, 2.0)]
    record = floor.combine(runs)
    assert record["floor_s"] == 2.0 and record["phases"] == {"forward steps": 1.0}
    assert record["runs_s"] == [3.0, 1.0, 2.0]
    # an even count takes the lower middle round: the faster of two
    assert floor.combine(runs[:2])["floor_s"] == 1.0


def test_timings_show_each_results_fastest_and_slowest_repeat():
    assert report._spread({"repeats": [0.366, 0.297, 0.498]}) == "0.297-0.498"
    assert report._spread({"status": "timeout"}) is None  # no repeats: the cell shows "-"


def test_timings_show_each_rounds_ratio_against_the_baseline():
    ours = {"repeats": [1.0, 2.0, 1.0]}  # round 2 fell in a burst of load ...
    peer = {"repeats": [1.2, 2.8, 1.1]}  # ... on both
    assert report._round_ratios(peer, ours) == "1.2 (1.1-1.4)"
    assert report._round_ratios(ours, ours) is None  # the baseline's own row
    assert report._round_ratios({"repeats": [1.2, 2.8]}, ours) is None  # a repeat missing
    assert report._round_ratios(peer, None) is None  # no baseline result


def test_efficiency_round_by_round_pairs_each_floor_run_with_its_rounds_repeat():
    w = workloads.cpu_workloads(quick=True)[1]  # W1, a fit workload
    floor_rec = {"status": "ok", "floor_s": 1.0, "runs_s": [1.0, 2.0, 0.9]}  # round 2 loaded
    rec = report.annotate({"repeats": [1.25, 2.5, 1.0]}, w, floor=floor_rec)
    assert rec["pct_floor"] == 100 * 1.0 / 1.25  # the medians: floor over time
    assert rec["pct_floor_rounds"] == [80.0, 80.0, 90.0]
    assert report._median_span(rec["pct_floor_rounds"]) == "80 (80-90)"
    short = report.annotate({"repeats": [1.25, 2.5]}, w, floor=floor_rec)
    assert "pct_floor_rounds" not in short  # a round missing: no pairing


def _args(repeats):
    return argparse.Namespace(threads=1, device="cpu", repeats=repeats, shuffle=False,
                              isa="native")


def _quick(id_):
    return next(w for w in workloads.cpu_workloads(quick=True) if w.id == id_)


def test_turns_time_every_worker_once_per_round():
    """Two rounds of a quick W3 for the reference set and the floor: real worker
    processes speaking the turn protocol (frameworks/__main__.py --turns)."""
    results, floor_record = run.run_turns(_args(2), ["minilstm-numpy"], _quick("W3"), 120)
    record = results["minilstm-numpy"]
    assert record["status"] == "ok", record.get("note")
    assert len(record["repeats"]) == 2 and all(t > 0 for t in record["repeats"])
    assert floor_record["status"] == "ok" and len(floor_record["runs_s"]) == 2
    assert floor_record["floor_s"] in floor_record["runs_s"]


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None,
                    reason="cupy is installed: minilstm-cupy may run here")
def test_a_worker_that_cannot_run_ends_its_turns_as_skipped():
    """A worker that stops before `ready` (here minilstm-cupy without cupy) takes no turn
    and reports why; the others go on."""
    results, _ = run.run_turns(_args(1), ["minilstm-cupy", "minilstm-numpy"], _quick("W3"),
                               120)
    assert results["minilstm-cupy"]["status"] == "skipped"
    assert results["minilstm-cupy"]["repeats"] == []
    assert len(results["minilstm-numpy"]["repeats"]) == 1


@pytest.mark.skipif(importlib.util.find_spec("llvmlite") is None, reason="needs llvmlite")
def test_avx2_environment_turns_every_avx512_feature_off():
    env = frameworks.avx2_environment()
    features = env["NUMBA_CPU_FEATURES"].split(",")
    assert not [f for f in features if f.startswith("+avx512") or f == "+evex512"]
    assert env["OPENBLAS_CORETYPE"] == "Haswell" and env["ATEN_CPU_CAPABILITY"] == "avx2"
    worker = frameworks.environment("torch", 2, "cpu", base={}, isa="avx2")
    assert worker["NUMBA_CPU_FEATURES"] == env["NUMBA_CPU_FEATURES"]
    assert "--xla_cpu_max_isa=AVX2" in worker["XLA_FLAGS"]


def test_ab_loads_a_second_copy_of_the_kernels_and_times_in_turns(tmp_path):
    """benchmarks.ab: a copy of the kernels directory imported under a name of its own
    (module objects apart from minilstm.kernels', and Numba cache files in the copy: entries
    compiled under another name in kernels/cpu/__pycache__ would break later loads of
    minilstm.kernels), each workload's batch call on it, calls in turn."""
    import shutil

    from benchmarks import ab

    import minilstm.kernels.cpu.lstm as installed

    copy = tmp_path / "kernels"
    shutil.copytree(ab.ROOT / "kernels", copy, ignore=shutil.ignore_patterns("__pycache__"))
    modules = ab.load_kernels("minilstm_ab_test_copy", copy)
    assert modules["lstm"] is not installed and modules["lstm"].__file__ == str(
        copy / "cpu" / "lstm.py")
    assert ab.checkout_kernels()["lstm"] is installed
    calls = {w: ab.batch_call(modules, _quick(w)) for w in ("W1-SimpleRNN", "W3-SimpleRNN")}
    times = ab.alternate(calls, 0.0)
    assert {w: len(t) for w, t in times.items()} == {"W1-SimpleRNN": 5, "W3-SimpleRNN": 5}
    assert all(t > 0 for ts in times.values() for t in ts)


def test_ab_warms_the_named_version_up_first_and_combines_both_orders():
    from benchmarks import ab

    order = []
    ab.alternate({"base": lambda: order.append("base"),
                  "checkout": lambda: order.append("checkout")}, 0.0, first="checkout")
    assert order[:2] == ["checkout", "base"]  # the warm-up calls; then base, checkout, ...
    assert order[2:4] == ["base", "checkout"]
    # Each process favours the version that called first by the same 10%: it cancels.
    runs = [{"W1": {"base": (1.0, 2.0), "checkout": (1.1, 2.2)}},  # base called first
            {"W1": {"base": (1.1, 2.2), "checkout": (1.0, 2.0)}}]  # the checkout did
    low, each = ab.combined(runs, "W1", 0)
    assert low == pytest.approx(1.0) and each == pytest.approx([1.1, 1 / 1.1])
    assert ab.combined(runs, "W1", 1)[0] == pytest.approx(1.0)


def test_ab_checks_out_the_base_commit_and_removes_it():
    from benchmarks import ab

    if not (ab.ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    with ab.worktree("HEAD") as path:
        assert (path / "kernels" / "cpu" / "lstm.py").is_file()
    assert not path.exists()
