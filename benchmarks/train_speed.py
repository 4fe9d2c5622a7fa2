"""Training speed of one neuron layer's temporal operator, side by side in one run.

Forward + backward (gradients w.r.t. the input and the parameters) of one layer, B = 16,
C = 128, float32, for T in {32, 64, 256, 1024, 4096, 16384}, k in {2, 8, 16}, d in {1, 4}:

* ours: every ``shiftspike.quant.temporal`` implementation (``fused``, ``conv1d``,
  ``taploop``, ``toeplitz`` up to ``TOEPLITZ_MAX_STEPS``, ``fft``) through
  ``temporal_conv(impl=...)``, and ``auto``: ``temporal_conv(impl="auto")``, timed after its
  one-off selection (the selection cost is reported separately, from a fresh cache);
* baselines: ``conv1d-tl``, the grouped dilated ``torch.nn.functional.conv1d`` on data that
  is already time-last ``[B, C, T]`` (no layout change, the best case for it; the goals
  compare against it); and the modules of ``shiftspike.quant.neurons``, forward + backward
  through the whole module (spike function included): ``PSN(T)`` (one ``T x T`` GEMM),
  ``MaskedPSN(T, k)`` (banded ``T x T``), ``SlidingPSN(k)`` (one k-tap kernel for all
  channels, no dilation) and ``LIF`` (tau 2, hard reset, surrogate gradient). Those that
  do not depend on k or d are run once per T (per k) and shown on every row.

Time: the median of up to ``MAX_RUNS`` runs after a few untimed ones (one run when the first
takes longer than ``SLOW_SECONDS``). Peak memory: every (T, method) runs in a fresh subprocess; before
each measured run the process returns freed heap memory to the OS (``malloc_trim``) and
resets its peak-RSS counter (``/proc/self/clear_refs``) and the fused kernel drops its
recycled output buffers; the peak is ``VmHWM`` after the run minus ``VmRSS`` before it
(inputs, parameters and module state already allocated), so it counts every byte the
forward + backward touched, whichever allocator (torch, NumPy) it came from. The timed
runs that follow are steady state: the fused kernel reuses the buffers of the previous
step, as it does in a training loop.

Memory-traffic floor: forward reads X and writes H, backward reads gH and X and writes gX:
``5 * T*B*C*4`` bytes at the bandwidth a plain 256 MiB ``torch`` tensor copy reaches in the
same run (bytes read + written / time, best of 10).

Goals (pass/fail columns): ``auto`` faster than PSN at every T; at least 3x faster than
``conv1d-tl`` at T <= 256; within 3x of the memory-traffic floor.

    python benchmarks/train_speed.py [--quick] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from shiftspike.sim.safe_io import write_atomic

BATCH, CHANNELS = 16, 128
STEPS = (32, 64, 256, 1024, 4096, 16384)
TAPS = (2, 8, 16)
DILATIONS = (1, 4)
QUICK_STEPS, QUICK_TAPS, QUICK_DILATIONS = (32, 1024), (8,), (1, 4)
OURS = ("auto", "fused", "conv1d", "taploop", "toeplitz", "fft")
BASELINES = ("conv1d-tl", "PSN", "MaskedPSN", "SlidingPSN", "LIF")
PER_CONFIG = OURS + ("conv1d-tl",)  # depend on (k, d)
PER_TAPS = ("MaskedPSN", "SlidingPSN")  # depend on k only
SLOW_SECONDS = 5.0
WARMUP_SECONDS, WARMUP_RUNS = 0.25, 50  # untimed runs after the memory run: this long, at most this many
TARGET_SECONDS, MAX_RUNS = 0.5, 200  # timed runs: enough to fill this, 3 to MAX_RUNS
#: Estimated bytes a PSN-style run may use before it is skipped (the machine has 24 GiB).
MEMORY_BUDGET = 16 << 30


def rss_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def fresh_peak() -> int:
    """Free what can be freed (the fused kernel's recycled output buffers too, so a measured
    run allocates them afresh), reset the peak-RSS counter; the current RSS."""
    from shiftspike.quant.temporal.fused import release_buffers

    release_buffers()
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return rss_bytes("VmRSS")


def measure(step) -> dict:
    """Seconds (median) and peak bytes of ``step()``."""
    base = fresh_peak()
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    peak = rss_bytes("VmHWM") - base
    if first > SLOW_SECONDS:
        return {"seconds": first, "peak_bytes": peak, "runs": 1}
    base = fresh_peak()
    step()
    peak = rss_bytes("VmHWM") - base
    for _ in range(min(WARMUP_RUNS, math.ceil(WARMUP_SECONDS / first))):
        step()
    runs = min(MAX_RUNS, max(3, math.ceil(TARGET_SECONDS / first)))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "peak_bytes": peak, "runs": runs}


def psn_bytes(steps: int, method: str) -> int:
    """Rough peak of a PSN-family run: the T x T matrix, its gradient and temporaries."""
    return (6 if method == "MaskedPSN" else 4) * steps * steps * 4 + 8 * steps * BATCH * CHANNELS * 4


def skip_reason(method: str, steps: int) -> str | None:
    from shiftspike.quant.temporal import TOEPLITZ_MAX_STEPS

    if method == "toeplitz" and steps > TOEPLITZ_MAX_STEPS:
        return f"T > TOEPLITZ_MAX_STEPS = {TOEPLITZ_MAX_STEPS}"
    if method in ("PSN", "MaskedPSN") and psn_bytes(steps, method) > MEMORY_BUDGET:
        return f"T x T matrix needs ~{psn_bytes(steps, method) / 2**30:.0f} GiB"
    return None


def child(spec: dict) -> list[dict]:
    """Run one (T, method) over its (k, d) configs; results as dicts."""
    import torch.nn.functional as F

    from shiftspike.quant import neurons
    from shiftspike.quant.temporal import autoselect_report, temporal_conv
    from shiftspike.quant.temporal.autoselect import choose

    torch.manual_seed(0)
    steps, method = spec["T"], spec["method"]
    shape = (steps, BATCH, CHANNELS)
    results = []
    for taps, dilation in spec["configs"]:
        x = torch.randn(shape, requires_grad=True)
        grad = torch.randn(shape)
        params: list[torch.Tensor] = [x]
        extra = {}
        if method in OURS:
            weight = (torch.randn(CHANNELS, taps) / taps).requires_grad_()
            params.append(weight)
            if method == "auto":  # the one-off selection, outside the timing
                before = autoselect_report()["seconds"]
                extra = {"chose": choose(x, weight, dilation, False),
                         "select_seconds": autoselect_report()["seconds"] - before}

            def fn(x=x, weight=weight, dilation=dilation, impl=method):
                return temporal_conv(x, weight, dilation, impl=impl)
        elif method == "conv1d-tl":
            x = torch.randn(BATCH, CHANNELS, steps, requires_grad=True)
            grad = torch.randn(BATCH, CHANNELS, steps)
            kernel = (torch.randn(CHANNELS, 1, taps) / taps).requires_grad_()
            params = [x, kernel]

            def fn(x=x, kernel=kernel, taps=taps, dilation=dilation):
                return F.conv1d(F.pad(x, ((taps - 1) * dilation, 0)), kernel, dilation=dilation, groups=CHANNELS)
        else:
            module = {"PSN": lambda: neurons.PSN(steps), "MaskedPSN": lambda: neurons.MaskedPSN(steps, taps),
                      "SlidingPSN": lambda: neurons.SlidingPSN(taps),
                      "LIF": lambda: neurons.LIF(tau=2.0, reset="hard")}[method]()
            params += list(module.parameters())
            if method == "SlidingPSN":
                with torch.no_grad():
                    module(x)  # its temporal_conv(impl="auto") selection, outside the timing
            fn = module

        def step(fn=fn, x=x, grad=grad, params=params):
            for p in params:
                p.grad = None
            fn(x).backward(grad)

        results.append({"T": steps, "k": taps, "d": dilation, "method": method, **measure(step), **extra})
        del fn, step, params, x, grad
    return results


def copy_bandwidth() -> float:
    """Bytes per second moved (read + write) by a 256 MiB torch tensor copy, best of 10."""
    src = torch.ones(1 << 26)
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = math.inf
    for _ in range(10):
        start = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best


def jobs(steps_list, taps_list, dilations) -> list[dict]:
    configs = [(k, d) for k in taps_list for d in dilations]
    out = []
    for steps in steps_list:
        for method in OURS + BASELINES:
            if method in PER_CONFIG:
                todo = configs
            elif method in PER_TAPS:
                todo = [(k, 1) for k in taps_list]
            else:
                todo = [(taps_list[0], 1)]
            out.append({"T": steps, "method": method, "configs": todo})
    return out


def run_child(spec: dict, cache_dir: str) -> list[dict]:
    reason = skip_reason(spec["method"], spec["T"])
    if reason:
        return [{"T": spec["T"], "k": k, "d": d, "method": spec["method"], "skipped": reason}
                for k, d in spec["configs"]]
    env = {**os.environ, "SHIFTSPIKE_CACHE_DIR": cache_dir}
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return [{"T": spec["T"], "k": k, "d": d, "method": spec["method"], "skipped": f"failed: {tail}"}
                for k, d in spec["configs"]]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def lookup(results: list[dict], steps: int, taps: int, dilation: int, method: str) -> dict | None:
    """The measurement that applies to (T, k, d) for ``method`` (shared across k and/or d)."""
    for r in results:
        if r["T"] != steps or r["method"] != method:
            continue
        if method in PER_CONFIG and (r["k"], r["d"]) != (taps, dilation):
            continue
        if method in PER_TAPS and r["k"] != taps:
            continue
        return r
    return None


def summarize(results: list[dict], bandwidth: float, steps_list, taps_list, dilations) -> list[dict]:
    rows = []
    for steps in steps_list:
        for taps in taps_list:
            for dilation in dilations:
                row = {"T": steps, "k": taps, "d": dilation, "seconds": {}, "peak_bytes": {}, "skipped": {}}
                for method in OURS + BASELINES:
                    r = lookup(results, steps, taps, dilation, method)
                    if r is None:
                        continue
                    if "skipped" in r:
                        row["skipped"][method] = r["skipped"]
                    else:
                        row["seconds"][method] = r["seconds"]
                        row["peak_bytes"][method] = r["peak_bytes"]
                        if method == "auto":
                            row["auto_impl"] = r["chose"]
                floor = 5 * steps * BATCH * CHANNELS * 4 / bandwidth
                row["floor_seconds"] = floor
                auto = row["seconds"].get("auto")
                psn = row["seconds"].get("PSN")
                conv = row["seconds"].get("conv1d-tl")
                row["vs_psn"] = psn / auto if auto and psn else None
                row["vs_conv1d"] = conv / auto if auto and conv else None
                row["vs_floor"] = auto / floor if auto else None
                row["goal_psn"] = row["vs_psn"] is not None and row["vs_psn"] > 1
                row["goal_conv1d"] = None if steps > 256 else (row["vs_conv1d"] or 0) >= 3
                row["goal_floor"] = row["vs_floor"] is not None and row["vs_floor"] <= 3
                rows.append(row)
    return rows


def mark(ok: bool | None) -> str:
    return "-" if ok is None else ("pass" if ok else "FAIL")


def fmt_ms(row: dict, method: str) -> str:
    if method in row["seconds"]:
        return f"{row['seconds'][method] * 1e3:,.3f}"
    if method in row["skipped"]:
        return f"skipped ({row['skipped'][method]})"
    return "-"


def fmt_mb(row: dict, method: str) -> str:
    return f"{row['peak_bytes'][method] / 2**20:,.1f}" if method in row["peak_bytes"] else "-"


def markdown(rows: list[dict], bandwidth: float, goals: dict, meta: dict) -> str:
    head = ["T", "k", "d", "auto ->", *(f"{m} (ms)" for m in OURS + BASELINES), "floor (ms)",
            "PSN / auto", "conv1d-tl / auto", "auto / floor", "faster than PSN", ">= 3x conv1d-tl (T <= 256)",
            "<= 3x floor"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([
            str(r["T"]), str(r["k"]), str(r["d"]), r.get("auto_impl", "-"),
            *(fmt_ms(r, m) for m in OURS + BASELINES), f"{r['floor_seconds'] * 1e3:,.3f}",
            *(f"{v:.2f}x" if v else "-" for v in (r["vs_psn"], r["vs_conv1d"], r["vs_floor"])),
            mark(r["goal_psn"]), mark(r["goal_conv1d"]), mark(r["goal_floor"])]) + " |")
    mem_head = ["T", "k", "d", *(f"{m} (MiB)" for m in OURS + BASELINES)]
    mem = ["| " + " | ".join(mem_head) + " |", "|" + "---|" * len(mem_head)]
    for r in rows:
        mem.append("| " + " | ".join([str(r["T"]), str(r["k"]), str(r["d"]),
                                      *(fmt_mb(r, m) for m in OURS + BASELINES)]) + " |")
    summary = "\n".join(f"- {name}: **{'pass' if ok else 'FAIL'}**" for name, ok in goals.items())
    return (f"Forward + backward of one neuron layer's temporal operator, B={BATCH}, C={CHANNELS}, float32, "
            f"{os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads); "
            f"memory copy bandwidth {bandwidth / 1e9:.1f} GB/s; load average {meta['load_before']:.2f} before, "
            f"{meta['load_after']:.2f} after (1-minute load average; above ~1 other processes were competing for the "
            f"cores and the times are inflated). "
            f"Autoselect (auto ->) spent {meta['select_seconds']:.1f} s timing {meta['selected']} shapes from a fresh "
            f"cache. Wall time {meta['wall_seconds']:.0f} s.\n\nGoals:\n{summary}\n\n"
            "Time (ms, median):\n\n" + "\n".join(lines)
            + "\n\nPeak memory above the inputs (MiB, peak RSS of a fresh process):\n\n" + "\n".join(mem) + "\n")




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T in {32, 1024}, k = 8, d in {1, 4} (< 2 min)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    grid = (QUICK_STEPS, QUICK_TAPS, QUICK_DILATIONS) if args.quick else (STEPS, TAPS, DILATIONS)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    bandwidth = copy_bandwidth()
    todo = jobs(*grid)
    results = []
    with tempfile.TemporaryDirectory() as cache_dir, Progress() as progress:
        task = progress.add_task("layers", total=len(todo))
        for spec in todo:
            progress.update(task, description=f"T={spec['T']} {spec['method']}")
            results.extend(run_child(spec, cache_dir))
            progress.advance(task)
    rows = summarize(results, bandwidth, *grid)
    goals = {
        "auto faster than PSN at every T": all(r["goal_psn"] for r in rows),
        "auto >= 3x faster than conv1d-tl at T <= 256": all(r["goal_conv1d"] for r in rows if r["T"] <= 256),
        "auto within 3x of the memory-traffic floor": all(r["goal_floor"] for r in rows),
    }
    selections = [r["select_seconds"] for r in results if r["method"] == "auto" and "select_seconds" in r]
    meta = {"load_before": load_before, "load_after": os.getloadavg()[0], "select_seconds": sum(selections),
            "selected": len(selections), "wall_seconds": time.perf_counter() - started}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "train_speed_quick" if args.quick else "train_speed"
    payload = {
        "benchmark": "train_speed",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "copy_bandwidth_gb_s": bandwidth / 1e9},
        "batch": BATCH, "channels": CHANNELS, "dtype": "float32", **meta,
        "goals": goals, "rows": rows, "measurements": results,
    }
    write_atomic(out / f"{name}.json", json.dumps(payload, indent=1) + "\n")
    write_atomic(out / f"{name}.md", markdown(rows, bandwidth, goals, meta))
    console = Console(width=max(Console().width, 110))
    table = Table(title=f"forward + backward, B={BATCH} C={CHANNELS} float32: auto vs PSN, conv1d-tl and the floor")
    for col in ("T", "k", "d", "auto ->", "auto ms", "PSN / auto", "conv1d-tl / auto", "auto / floor"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["T"]), str(r["k"]), str(r["d"]), r.get("auto_impl", "-"), fmt_ms(r, "auto"),
                      *(f"{v:.2f}x {mark(ok)}" if v else "-" for v, ok in (
                          (r["vs_psn"], r["goal_psn"]), (r["vs_conv1d"], r["goal_conv1d"]),
                          (r["vs_floor"], r["goal_floor"]))))
    console.print(table)
    for goal, ok in goals.items():
        console.print(f"{goal}: {'[green]pass' if ok else '[red]FAIL'}")
    console.print(f"{time.perf_counter() - started:.0f} s; wrote {out / (name + '.json')} and {out / (name + '.md')}")


if __name__ == "__main__":
    main()
