"""Memory and time per training step of SAF, OTTT and BPTT, side by side in one run.

Network ``SIZES = [128, 256, 256, 10]`` (``shiftspike.quant.saf.SAFNetwork``, tau 2,
threshold 0.2 so that every layer spikes, atan surrogate), batch 32, random Bernoulli(0.2)
spike input, float32,
cross-entropy on the last layer's accumulation at every step (``loss_fn(a_L[t], y) / T``),
for T in ``STEPS``. One training step = forward + backward over the whole sequence:

* SAF: ``SAFNetwork.train_online`` (backward at every time step, no graph across steps);
* OTTT: ``OTTTNetwork(net).train_online`` (same, with the OTTT trace gradients);
* BPTT: ``bptt_gradients`` (the whole unrolled ordinary LIF graph, one backward at the end).

Graph memory: every method builds its graph under ``shiftspike.quant.saf._SavedCounter``,
which this script replaces at run time (for the measured run only) by a tracker built on
``torch.autograd.graph.saved_tensors_hooks``. Each packed tensor is wrapped in an object
that is released when autograd frees the saved variable (after the backward), so the
tracker knows which saved tensors are alive at every moment. Bytes are counted once per
distinct storage (a tensor saved by two ops, or several views of one stacked tensor, count
once), excluding the storages of the parameters and of the input ``x`` (resident anyway,
whatever the method). "peak saved MB" is the maximum over the run of the live total. The
raw counter the module itself reports (``peak_saved_numel`` / ``saved_numel``: elements
packed, weights included every time they are saved, per step for SAF/OTTT, for the whole
run for BPTT) is kept in the JSON as ``module_numel``.

Peak RSS growth (separate, uninstrumented run): before it the process frees what it can
(``gc.collect``, ``malloc_trim``) and resets its peak-RSS counter (``/proc/self/clear_refs``);
growth = ``VmHWM`` after the run minus ``VmRSS`` before it. It includes allocator slack
and temporaries (e.g. gradients, backward buffers), so it is an upper-bound-ish companion
to the graph figure, not the same quantity.

Time: wall time of one whole training step (with the module's own saved-tensor counter, as
in normal use), median of at least ``REPEATS`` runs (more for short sequences: enough to
fill ``TARGET_SECONDS``, at most ``MAX_RUNS``) after untimed warm-up runs, divided by T.
``torch.set_num_threads(THREADS)`` (the machine is shared; see the load average in the
report).

    python benchmarks/saf_memory.py [--quick] [--out benchmarks/results]
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
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from train_speed import rss_bytes  # benchmarks/ is on sys.path when a script here runs

from shiftspike.quant import saf
from shiftspike.sim.safe_io import write_atomic

SIZES = [128, 256, 256, 10]
BATCH = 32
#: threshold 0.2: with the default nn.Linear init, ~25% spike rate in every layer (at 1.0 the
#: hidden and output layers are silent; graph sizes and dense-op times do not depend on it).
TAU, V_THRESHOLD = 2.0, 0.2
SPIKE_P = 0.2
STEPS = (16, 64, 256, 1024)
QUICK_STEPS = (16, 64)
REPEATS = 5  # at least this many timed runs ...
TARGET_SECONDS, MAX_RUNS = 0.5, 50  # ... and enough to fill this (at most MAX_RUNS)
THREADS = 1
METHODS = ("SAF", "OTTT", "BPTT")
MB = 1e6


# ----------------------------------------------------------------------------- graph tracker
class _Tracker:
    """Live bytes of distinct storages held by autograd's saved tensors, and their peak."""

    def __init__(self, exclude_ptrs: set[int]):
        self.exclude = exclude_ptrs
        self.refs: dict[int, int] = {}
        self.live = 0
        self.peak = 0
        self.packed = 0  # number of pack calls

    def add(self, t: torch.Tensor) -> int | None:
        self.packed += 1
        st = t.untyped_storage()
        key = st.data_ptr()
        if key in self.exclude or st.nbytes() == 0:
            return None
        n = self.refs.get(key, 0)
        if n == 0:
            self.live += st.nbytes()
            self.peak = max(self.peak, self.live)
        self.refs[key] = n + 1
        return key

    def remove(self, key: int, nbytes: int) -> None:
        n = self.refs[key] - 1
        if n == 0:
            del self.refs[key]
            self.live -= nbytes
        else:
            self.refs[key] = n


_TRACKER: _Tracker | None = None


class _Packed:
    """What the pack hook returns; dropped by autograd when the saved variable is freed."""

    __slots__ = ("tensor", "key", "nbytes", "tracker")

    def __init__(self, tensor: torch.Tensor, tracker: _Tracker):
        self.tensor, self.tracker = tensor, tracker
        self.key = tracker.add(tensor)
        self.nbytes = tensor.untyped_storage().nbytes()

    def __del__(self):
        if self.key is not None:
            self.tracker.remove(self.key, self.nbytes)


class _TrackingCounter:
    """Drop-in for ``saf._SavedCounter``: same ``numel`` semantics, plus global live tracking."""

    def __init__(self):
        self.numel = 0

    def hooks(self):
        tracker = _TRACKER

        def pack(t):
            self.numel += t.numel()
            return _Packed(t, tracker)

        return torch.autograd.graph.saved_tensors_hooks(pack, lambda p: p.tensor)


# ----------------------------------------------------------------------------- RSS helpers


def fresh_peak() -> int | None:
    """Free what can be freed and reset the peak-RSS counter; current RSS (None if the
    counter cannot be reset)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    return rss_bytes("VmRSS")


# ----------------------------------------------------------------------------- methods
def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, y)


def make_step(method: str, net: saf.SAFNetwork, x: torch.Tensor, y: torch.Tensor):
    """One training step (forward + backward over all T); returns the module's info dict."""
    if method == "SAF":
        return lambda: net.train_online(x, y, loss_fn)
    if method == "OTTT":
        ottt = saf.OTTTNetwork(net)
        return lambda: ottt.train_online(x, y, loss_fn)
    if method == "BPTT":
        return lambda: saf.bptt_gradients(net, x, y, loss_fn)[1]
    raise ValueError(method)


def measure(method: str, steps: int, repeats: int) -> dict:
    global _TRACKER
    torch.manual_seed(0)
    net = saf.SAFNetwork(SIZES, TAU, V_THRESHOLD)
    x = (torch.rand(steps, BATCH, SIZES[0]) < SPIKE_P).float()
    y = torch.randint(0, SIZES[-1], (BATCH,))
    step = make_step(method, net, x, y)

    step()  # warm-up (lazy init, allocator)

    # peak RSS growth, uninstrumented
    base = fresh_peak()
    step()
    rss_growth = None if base is None else rss_bytes("VmHWM") - base

    # graph memory, instrumented
    exclude = {p.untyped_storage().data_ptr() for p in net.parameters()} | {x.untyped_storage().data_ptr()}
    _TRACKER = _Tracker(exclude)
    original = saf._SavedCounter
    saf._SavedCounter = _TrackingCounter
    try:
        info = step()
    finally:
        saf._SavedCounter = original
    gc.collect()
    tracker, _TRACKER = _TRACKER, None
    module_numel = info.get("peak_saved_numel", info.get("saved_numel"))

    # time
    start = time.perf_counter()
    step()  # untimed; sizes the number of timed runs
    runs = max(repeats, min(MAX_RUNS, math.ceil(TARGET_SECONDS / (time.perf_counter() - start))))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {
        "T": steps, "method": method,
        "peak_saved_bytes": tracker.peak, "live_after_bytes": tracker.live, "packed": tracker.packed,
        "module_numel": module_numel, "rss_growth_bytes": rss_growth,
        "seconds": seconds, "runs": runs, "ms_per_step": 1e3 * seconds / steps, "times": times, "loss": info["loss"],
    }


# ----------------------------------------------------------------------------- report
def spike_rates(steps: int = 256) -> list[float]:
    """Mean spike rate per layer on the benchmark's input (same seed as :func:`measure`)."""
    torch.manual_seed(0)
    net = saf.SAFNetwork(SIZES, TAU, V_THRESHOLD)
    x = (torch.rand(steps, BATCH, SIZES[0]) < SPIKE_P).float()
    with torch.no_grad():
        _, spikes = net(x, return_spikes=True)
    return [float(s.mean()) for s in spikes]


def summarize(results: list[dict], steps_list) -> list[dict]:
    by = {(r["T"], r["method"]): r for r in results}
    rows = []
    for steps in steps_list:
        row = {"T": steps}
        for m in METHODS:
            r = by[(steps, m)]
            row[m] = {k: r[k] for k in ("peak_saved_bytes", "rss_growth_bytes", "ms_per_step", "module_numel")}
        row["bptt_over_saf_memory"] = row["BPTT"]["peak_saved_bytes"] / row["SAF"]["peak_saved_bytes"]
        row["bptt_over_ottt_memory"] = row["BPTT"]["peak_saved_bytes"] / row["OTTT"]["peak_saved_bytes"]
        row["saf_over_ottt_memory"] = row["SAF"]["peak_saved_bytes"] / row["OTTT"]["peak_saved_bytes"]
        row["saf_over_ottt_time"] = row["SAF"]["ms_per_step"] / row["OTTT"]["ms_per_step"]
        row["saf_over_bptt_time"] = row["SAF"]["ms_per_step"] / row["BPTT"]["ms_per_step"]
        rows.append(row)
    return rows


def fmt_rss(b: int | None) -> str:
    return "-" if b is None else f"{b / MB:.1f}"


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# SAF vs OTTT vs BPTT: graph memory and time per training step",
        "",
        f"Network {SIZES}, batch {BATCH}, Bernoulli({SPIKE_P}) spike input, float32, tau {TAU}, threshold "
        f"{V_THRESHOLD} (spike rates per layer {', '.join(f'{r:.2f}' for r in meta['spike_rates'])}), "
        f"per-step cross-entropy; torch {meta['torch']} CPU, {meta['threads']} thread(s) on a "
        f"{meta['cpus']}-core machine; load average {meta['load_before']:.2f} before, "
        f"{meta['load_after']:.2f} after (1-minute; the cores were shared with another benchmark, so times "
        f"are indicative). Wall time {meta['wall_seconds']:.0f} s.",
        "",
        "Saved MB: peak over the run of the live autograd saved tensors (distinct storages, parameters "
        "and input excluded; `saved_tensors_hooks`). RSS MB: peak RSS growth of a separate uninstrumented "
        "run (includes gradients, backward temporaries and allocator slack). ms/step: median wall time of "
        f"forward + backward over the sequence (at least {meta['repeats']} runs, up to {MAX_RUNS} for short T) divided by T.",
        "",
        "| T | SAF saved MB | OTTT saved MB | BPTT saved MB | BPTT/SAF mem | BPTT/OTTT mem "
        "| SAF RSS MB | OTTT RSS MB | BPTT RSS MB "
        "| SAF ms/step | OTTT ms/step | BPTT ms/step | SAF/OTTT time | SAF/BPTT time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['T']} | " + " | ".join(f"{r[m]['peak_saved_bytes'] / MB:.3f}" for m in METHODS)
            + f" | {r['bptt_over_saf_memory']:.1f}x | {r['bptt_over_ottt_memory']:.1f}x | "
            + " | ".join(fmt_rss(r[m]["rss_growth_bytes"]) for m in METHODS) + " | "
            + " | ".join(f"{r[m]['ms_per_step']:.3f}" for m in METHODS)
            + f" | {r['saf_over_ottt_time']:.2f} | {r['saf_over_bptt_time']:.2f} |")
    last = rows[-1]
    lines += [
        "",
        f"At the largest T = {last['T']}: BPTT keeps {last['bptt_over_saf_memory']:.0f}x the graph memory of SAF "
        f"({last['BPTT']['peak_saved_bytes'] / MB:.1f} MB vs {last['SAF']['peak_saved_bytes'] / MB:.3f} MB); "
        f"SAF/OTTT graph memory {last['saf_over_ottt_memory']:.2f}, SAF/OTTT time per step "
        f"{last['saf_over_ottt_time']:.2f}.",
        "",
        "Notes:",
        "",
        "- Graph memory is the fair comparison: SAF and OTTT hold one time step's graph (constant in T; "
        "the same bytes, since both save one [B, n] tensor per layer input and per surrogate), BPTT holds "
        "all T steps (linear in T, slightly less per step than SAF since it saves the raw input spikes, "
        "which are excluded as resident input, instead of an input accumulation).",
        "- RSS growth is larger than the graph: it includes heap memory that glibc keeps after temporaries "
        "are freed (fragmentation; `malloc_trim` releases most of it), the gradients, and buffers the "
        "implementations keep that are not part of the graph: `bptt_gradients` builds the per-layer spike "
        "stacks `[T, B, n_l]` in `_lif_forward` and discards them.",
        "- The module's own counters (`module_numel` in the JSON) count every packed tensor, weights "
        "included at every save, so they overstate graph memory (SAF: weights counted once per step; "
        "BPTT: weights counted T times).",
        "",
    ]
    return "\n".join(lines)




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"T in {QUICK_STEPS} only")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args()
    console = Console(width=max(Console().width, 110))
    torch.set_num_threads(THREADS)
    steps_list = QUICK_STEPS if args.quick else STEPS
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    results = []
    with Progress(console=console) as progress:
        task = progress.add_task("saf_memory", total=len(steps_list) * len(METHODS))
        for steps in steps_list:
            for method in METHODS:
                progress.update(task, description=f"T={steps} {method}")
                r = measure(method, steps, args.repeats)
                results.append(r)
                progress.console.print(
                    f"T={steps:5d} {method:4s}: saved {r['peak_saved_bytes'] / MB:8.3f} MB, "
                    f"RSS +{fmt_rss(r['rss_growth_bytes'])} MB, {r['ms_per_step']:.3f} ms/step")
                progress.advance(task)
    rows = summarize(results, steps_list)
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version(),
            "load_before": load_before, "load_after": os.getloadavg()[0],
            "wall_seconds": time.perf_counter() - started, "repeats": args.repeats,
            "spike_rates": spike_rates(), "sizes": SIZES, "batch": BATCH, "tau": TAU, "v_threshold": V_THRESHOLD, "spike_p": SPIKE_P}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "rows": rows, "results": results}
    write_atomic(out / "saf_memory.json", json.dumps(payload, indent=1) + "\n")
    write_atomic(out / "saf_memory.md", markdown(rows, meta))

    table = Table(title="graph MB (peak saved) / ms per time step", expand=False)
    for col in ("T", *(f"{m} MB" for m in METHODS), "BPTT/SAF", *(f"{m} ms" for m in METHODS), "SAF/OTTT t"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["T"]), *(f"{r[m]['peak_saved_bytes'] / MB:.3f}" for m in METHODS),
                      f"{r['bptt_over_saf_memory']:.1f}x", *(f"{r[m]['ms_per_step']:.3f}" for m in METHODS),
                      f"{r['saf_over_ottt_time']:.2f}")
    console.print(table)
    console.print(f"{meta['wall_seconds']:.0f} s; wrote {out / 'saf_memory.json'} and {out / 'saf_memory.md'}")


if __name__ == "__main__":
    main()
