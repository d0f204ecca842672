"""Medians, ratios against minilstm, GFLOP/s; the JSON, Markdown and PNG reports."""

import json
import os
import statistics

from .workloads import Workload


def annotate(rec, w, gemm_gflops=None, floor=None):
    """Adds median_s, value (in w.unit), GFLOP/s, % of the GEMM and % of the workload's
    GEMM floor (floor.py: floor time / this time, the efficiency) to a result."""
    rec["unit"] = w.unit
    if w.kind == "seed":
        median = rec.get("fit_warm_s")
    else:
        median = statistics.median(rec["repeats"]) if rec.get("repeats") else None
    if median:
        rec["median_s"] = median
        rec["value"] = w.value(median)
        rec["gflops"] = w.flops() / median / 1e9
        if gemm_gflops:
            rec["pct_gemm"] = 100 * rec["gflops"] / gemm_gflops
        if floor and floor.get("status") == "ok":
            rec["pct_floor"] = 100 * floor["floor_s"] / median
            rounds = floor.get("runs_s") or []
            if w.kind != "seed" and len(rounds) == len(rec.get("repeats") or ()):
                # the floor took its turn in every round (run_turns): round k's floor
                # against round k's repeat, which shared that round's load
                rec["pct_floor_rounds"] = [100 * f / t for f, t in zip(rounds, rec["repeats"])]
    return rec


def phase_rows(doc):
    """Per workload: the GEMM floor, minilstm's efficiency and where its time per batch goes.

    The kernels' GEMM share is the floor's (floor.py) for the same products; what
    the kernels take beyond it is gate arithmetic, masks, copies and thread hand-offs;
    the rest of a batch (phases.py: its time minus both kernel calls and the
    optimizer) is Python: the graph, the Dense head, loss, metrics, batching.
    """
    base = doc["baseline"]
    recs = {(r["workload"], r["framework"]): r for r in doc["results"]}
    rows = []
    for wd in doc["workloads"]:
        w, floor = Workload(**wd), doc.get("floors", {}).get(wd["id"], {})
        rec = recs.get((w.id, base), {})
        if floor.get("status") != "ok":
            continue
        ms = 1e3
        phases = floor["phases"]
        fwd_floor = phases.get("input projection", 0) + phases.get("forward steps", 0)
        bwd_floor = floor["batch_s"] - fwd_floor
        timed = rec.get("phases", {})
        fwd, bwd, opt = (timed.get(k) for k in ("forward_s", "backward_s", "optimizer_s"))
        batch = timed.get("batch_s")
        kernels = None if fwd is None else fwd + (bwd or 0.0)
        python = None if batch is None or kernels is None else batch - kernels - (opt or 0.0)
        train = w.kind != "predict"
        rows.append([w.id, floor["floor_s"], rec.get("median_s"), rec.get("pct_floor"),
                     batch and batch * ms, fwd and fwd * ms, fwd_floor * ms,
                     bwd * ms if train and bwd is not None else None,
                     bwd_floor * ms if train else None,
                     kernels and (kernels - floor["batch_s"]) * ms,
                     opt * ms if train and opt is not None else None,
                     python and python * ms])
    return rows


def ratio_rows(doc):
    """[(label, {framework: peer seconds / baseline seconds})]: above 1, minilstm is faster.

    Where the baseline has no result for a workload (its kernel set lacks the cell,
    say) but another minilstm set has, the row is against that one and its label
    says so, e.g. 'W1-GRU (vs minilstm-numpy)'.
    """
    by = {(r["workload"], r["framework"]): r for r in doc["results"]}
    frameworks = list(dict.fromkeys(r["framework"] for r in doc["results"]))
    rows = []
    for w in doc["workloads"]:
        baseline = doc["baseline"]
        if "median_s" not in by.get((w["id"], baseline), {}) and w["kind"] != "seed":
            baseline = next((f for f in frameworks if f.startswith("minilstm-")
                             and "median_s" in by.get((w["id"], f), {})), baseline)
        base = by.get((w["id"], baseline), {})
        if w["kind"] == "seed":
            metrics = [("W0 fit (warm)", "fit_warm_s", "fit_warm_s"),
                       ("W0 process", "process_s", "process_s"),
                       ("W0 process (cold cache)", "process_s", "process_cold_s")]
        else:
            metrics = [(w["id"] + ("" if baseline == doc["baseline"] else f" (vs {baseline})"),
                        "median_s", "median_s")]
        for label, key, base_key in metrics:
            if base_key not in base:
                continue
            rows.append((label, {f: by[(w["id"], f)][key] / base[base_key] for f in frameworks
                                 if f != baseline and key in by.get((w["id"], f), {})}))
    return rows


def _fmt(x, digits=3):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    return f"{x:.{digits}g}" if abs(x) < 10 ** digits else f"{x:.0f}"


def progress_line(rec, w):
    if "value" not in rec:
        return f"{w.id:<12} {rec['framework']:<17} {rec['status']}: {rec.get('note', '')}"
    extra = f", loss {rec['loss']:.3g}" if "loss" in rec else ""
    if w.kind == "seed":
        extra += f", process {_fmt(rec.get('process_s'))} s"
        if "process_cold_s" in rec:
            extra += f" (cold cache {_fmt(rec['process_cold_s'])} s)"
    status = "" if rec["status"] == "ok" else f" [{rec['status']}: {rec.get('note', '')}]"
    return (f"{w.id:<12} {rec['framework']:<17} {_fmt(rec['value'])} {w.unit}, "
            f"{_fmt(rec.get('gflops'))} GFLOP/s{extra}{status}")


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


_ISA_NOTES = {"avx2": " with AVX-512 turned off for every framework (--isa avx2: a stand-in "
                      "for an AVX2-only CPU; XLA's matrix products keep it)"}


def markdown(doc):
    m, g = doc["machine"], doc.get("gemm", {})
    base = doc["baseline"]
    out = [f"# minilstm benchmarks ({doc['device']}{', quick sizes' if doc['quick'] else ''})", "",
           f"{doc['started']}; {m['cpu']}{_ISA_NOTES.get(doc.get('isa'), '')}, "
           f"{m['cores']} cores, {doc['threads']} threads for every "
           f"framework; medians of {doc['repeats']} repeats after a warm-up, the frameworks of "
           f"a workload taking turns (a repeat each per round); shuffle={doc['shuffle']}.  ",
           f"Reference GEMM (2048x2048 float32, {g.get('library', '?')}"
           f"{', ' + g['gpu'] if g.get('gpu') else ''}), the better of the runs at the start and "
           f"end: {_fmt(g.get('gflops'))} GFLOP/s "
           f"({', '.join(_fmt(x) for x in g.get('all_gflops', []))}).", ""]
    rows = ratio_rows(doc)
    peers = list(dict.fromkeys(f for _, r in rows for f in r))
    out += [f"## Ratios: peer time / {base} time (above 1: minilstm is faster)", "",
            *([f"A row marked '(vs ...)' is against that minilstm set: {base} has no result "
               "there (see Timings).", ""] if any("(vs " in label for label, _ in rows) else []),
            _table(["workload"] + peers, [[label] + [r.get(f) for f in peers] for label, r in rows])
            if rows else f"(no ratios: {base} has no result)", ""]
    workloads = [Workload(**w) for w in doc["workloads"]]
    recs = {(r["workload"], r["framework"]): r for r in doc["results"]
            if r["status"] != "skipped"}  # skipped frameworks are listed under Notes
    names = list(dict.fromkeys(r["framework"] for r in doc["results"]))
    for w in workloads:
        if w.kind == "seed":
            out += ["## W0: the seed example (final loss first, then time)", "",
                    _table(["framework", "final loss", "fit s (first)", "fit s (warm)", "import s",
                            "build s", "process s", "process s, cold numba cache", "status"],
                           [[f, r.get("loss"), r.get("fit_s"), r.get("fit_warm_s"),
                             r.get("import_s"),
                             r.get("build_s"), r.get("process_s"), r.get("process_cold_s"),
                             _status(r)] for f in names if (r := recs.get((w.id, f)))]),
                    "", "fit s (first) includes JIT compilation/tracing; process s is from "
                    "process launch to the end of the seed's fit (interpreter start, imports, "
                    "build, compile, fit).", ""]
    out += ["## Timings", "",
            _table(["workload", "framework", "median", "unit", f"ratio vs {base}",
                    "by round", "GFLOP/s", "% of GEMM", "% of floor", "by round",
                    "repeats s", "loss", "status"],
                   [[w.id, f, r.get("value"), w.unit, _ratio(r, recs.get((w.id, base))),
                     _round_ratios(r, recs.get((w.id, base))), r.get("gflops"),
                     r.get("pct_gemm"), r.get("pct_floor"), _median_span(r.get("pct_floor_rounds")),
                     _spread(r), r.get("loss"), _status(r)]
                    for w in workloads for f in names if (r := recs.get((w.id, f)))]),
            "", "% of floor: the workload's GEMM floor (below) over its time, the efficiency. "
            "repeats s: the fastest and slowest timed repeat, in seconds (an epoch, a "
            "predict pass, W0's fit, W4's steps), the run's own measure of the machine's noise. "
            f"by round: the ratio vs {base} of each round's two repeats, taken seconds apart, "
            "as median (lowest-highest) over the rounds: a burst of load that falls on a "
            "round falls on both; after % of floor, the same for the floor's run of each "
            "round against the repeat.", ""]
    phases = phase_rows(doc)
    if phases:
        out += [f"## GEMM floor and where {base}'s time goes", "",
                "The floor is the time NumPy's BLAS, at the same threads, takes for only the "
                "matrix products the kernels issue (benchmarks/floor.py). Per batch, in ms: "
                "the recurrent layer's forward and backward kernel calls against their GEMM "
                "floor, the kernels' non-GEMM work (both calls minus their floor: gate "
                "arithmetic, masks, copies, thread hand-offs), the optimizer, and the rest "
                "of the batch (Python: graph, Dense, loss, batching), all timed inside one "
                "more epoch or predict pass (benchmarks/phases.py).", "",
                _table(["workload", "floor s", f"{base} s", "% of floor", "batch ms",
                        "forward ms", "its floor", "backward ms", "its floor",
                        "non-GEMM kernel ms", "Adam ms", "Python ms"], phases), ""]
    out += ["## Workloads", ""] + [f"- {w.id}: {w.title}" for w in workloads
                                   if not w.id.startswith("G")]
    if any(w.id.startswith("G") for w in workloads):
        out.append("- G-h{hidden}-b{batch}-{fwd|fwdbwd}: DeepBench-style grid, "
                   "input size = hidden, "
                   "fwd = predict, fwdbwd = one train step (forward, backward, Adam)")
    versions = {r["framework"]: r["version"] for r in doc["results"] if r.get("version")}
    out += ["", "## Machine and versions", "",
            f"- CPU: {m['cpu']} ({m['cores']} cores); {m['platform']}; Python {m['python']}",
            f"- numpy BLAS: {m['numpy_blas']}",
            "- packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items())]
    out += [f"- {f}: {v}" for f, v in versions.items()]
    if doc["notes"]:
        out += ["", "## Notes", ""] + [f"- {n}" for n in doc["notes"]]
    return "\n".join(out) + "\n"


def _status(r):
    return r["status"] + (f" ({r['note']})" if r.get("note") else "")


def _span(values):
    """'lowest-highest' of values, as the report writes a range."""
    return f"{_fmt(min(values))}-{_fmt(max(values))}"


def _spread(r):
    """'fastest-slowest' of a result's timed repeats (seconds), or None without them."""
    repeats = r.get("repeats")
    return _span(repeats) if repeats else None


def _round_ratios(r, base):
    """'median (lowest-highest)' of r's repeat over base's repeat, round by round, or
    None: the k-th repeat of every framework of a workload ran in round k (run_turns,
    run_seeds), so each pair shares that round's load. Needs both with every repeat."""
    ours, theirs = (base or {}).get("repeats"), r.get("repeats")
    if r is base or not ours or not theirs or len(ours) != len(theirs):
        return None
    return _median_span([t / o for t, o in zip(theirs, ours)])


def _median_span(values):
    """'median (lowest-highest)' of values, or None without any."""
    return f"{_fmt(statistics.median(values))} ({_span(values)})" if values else None


def _ratio(r, base):
    if not base or r is base or "median_s" not in r or "median_s" not in base:
        return None
    return r["median_s"] / base["median_s"]


def plot(doc, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ratio_rows(doc)
    peers = list(dict.fromkeys(f for _, r in rows for f in r))
    if not rows or not peers:
        return False
    width = 0.8 / len(peers)
    fig, ax = plt.subplots(figsize=(max(8, 0.45 * len(rows) * len(peers) ** 0.5 + 3), 4.8))
    for i, f in enumerate(peers):
        xs = [j + (i - (len(peers) - 1) / 2) * width for j in range(len(rows))]
        ax.bar(xs, [r.get(f, 0) or 0 for _, r in rows], width, label=f)
    ax.axhline(1, color="black", lw=1)
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), [label for label, _ in rows],
                  rotation=30 if len(rows) > 6 else 0, ha="right" if len(rows) > 6 else "center")
    fallback = any("(vs " in label for label, _ in rows)
    ax.set_ylabel(f"peer time / {doc['baseline']} time (log)"
                  + ("\n'(vs X)': against X instead" if fallback else ""))
    ax.set_title(f"Above 1: minilstm is faster ({doc['device']}, {doc['threads']} threads"
                 f"{', quick sizes' if doc['quick'] else ''})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(doc, out_dir):
    """Writes latest[-gpu][-quick].json/.md and ratios[...].png into out_dir."""
    os.makedirs(out_dir, exist_ok=True)
    suffix = ("-gpu" if doc["device"] == "gpu" else "") + ("-quick" if doc["quick"] else "")
    suffix += "-avx2" if doc.get("isa") == "avx2" else ""
    doc["ratios"] = {label: r for label, r in ratio_rows(doc)}
    paths = [os.path.join(out_dir, f"latest{suffix}{ext}") for ext in (".json", ".md")]
    with open(paths[0], "w") as f:
        json.dump(doc, f, indent=1)
    with open(paths[1], "w") as f:
        f.write(markdown(doc))
    png = os.path.join(out_dir, f"ratios{suffix}.png")
    try:
        if plot(doc, png):
            paths.append(png)
    except ImportError:
        doc["notes"].append("matplotlib not installed: no ratios chart")
    return paths
