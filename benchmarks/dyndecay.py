"""Training speed of the dynamic-decay neuron against PSN, side by side in one run.

Forward + backward (gradients w.r.t. the input and the parameters) of one neuron layer, the
same width as ``benchmarks/train_speed.py``: B = 16, C = 128, float32, for T in {1024, 4096,
16384}:

* ``dyndecay``: ``DynamicDecay(C, order=4)`` (binary spikes, surrogate gradient), parallel
  form (decay kernel by ``temporal_conv``, recurrence by the Numba ``temporal.scan.linear_scan``);
* ``PSN``: ``PSN(T)`` (one learnable ``T x T`` matrix, one GEMM).

Time: the median of up to ``MAX_RUNS`` timed runs after one untimed run (at least
``MIN_RUNS``; when the untimed run takes longer than ``SLOW_SECONDS``, only ``SLOW_RUNS``
timed runs: PSN at T = 16384 takes ~20 s a step). Ratio ``PSN / dyndecay`` > 1 means the
dynamic-decay neuron is faster.

Inference: the same layer step by step (``DynamicDecay.serial``, O(k) state, no grad) at
T = 30000 (the long-sequence bar of ``tests/test_dyndecay_long.py``), reported as seconds
per step and compared to the parallel forward (no grad) of the same sequence.

With ``--long-bar`` the run also trains the long-sequence bar's network (T = 2048) and
evaluates it serially at T = 30000 (``tests/test_dyndecay_long.py``, ~1 min) and records
its accuracies and times.

    python benchmarks/dyndecay.py [--long-bar] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from shiftspike.sim.safe_io import write_atomic

BATCH, CHANNELS, ORDER = 16, 128, 4
STEPS = (1024, 4096, 16384)
METHODS = ("dyndecay", "PSN")
SERIAL_STEPS = 30000
SLOW_SECONDS, SLOW_RUNS = 5.0, 1
MIN_RUNS, MAX_RUNS, TARGET_SECONDS = 3, 10, 3.0
ROOT = Path(__file__).resolve().parent.parent


def measure(step) -> dict:
    """Median seconds of ``step()`` after one untimed run."""
    gc.collect()
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    runs = SLOW_RUNS if first > SLOW_SECONDS else min(MAX_RUNS, max(MIN_RUNS, int(TARGET_SECONDS / first)))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "first_seconds": first, "runs": runs, "all_seconds": times}


def module_for(method: str, steps: int) -> torch.nn.Module:
    from shiftspike.quant.neurons import PSN, DynamicDecay

    if method == "PSN":
        return PSN(steps)
    module = DynamicDecay(CHANNELS, ORDER)
    with torch.no_grad():  # a trained-looking decay (not all 0.5), so the scan is not degenerate
        module.weight.normal_(0, 0.5)
        module.bias.fill_(2.0)
    return module


def train_step(method: str, steps: int) -> dict:
    torch.manual_seed(0)
    module = module_for(method, steps)
    x = torch.randn(steps, BATCH, CHANNELS, requires_grad=True)
    grad = torch.randn(steps, BATCH, CHANNELS)
    params = [x, *module.parameters()]

    def step():
        for p in params:
            p.grad = None
        module(x).backward(grad)

    result = {"T": steps, "method": method, **measure(step)}
    del module, x, grad, params, step
    gc.collect()
    return result


def inference(steps: int) -> dict:
    """Serial (O(k) state) vs parallel forward of one DynamicDecay layer, no grad, at T = ``steps``."""
    torch.manual_seed(0)
    module = module_for("dyndecay", steps)
    x = torch.randn(steps, BATCH, CHANNELS)
    with torch.no_grad():
        start = time.perf_counter()
        parallel = module(x)
        parallel_seconds = time.perf_counter() - start
        start = time.perf_counter()
        spikes, _ = module.serial(x)
        serial_seconds = time.perf_counter() - start
    return {"T": steps, "parallel_seconds": parallel_seconds, "serial_seconds": serial_seconds,
            "serial_us_per_step": serial_seconds / steps * 1e6,
            "spike_mismatches": int((spikes != parallel).sum()), "spikes_total": spikes.numel()}


def long_bar() -> dict:
    """Train / serially evaluate the long-sequence bar of ``tests/test_dyndecay_long.py``."""
    spec = importlib.util.spec_from_file_location("test_dyndecay_long", ROOT / "tests" / "test_dyndecay_long.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.run_long_bar()


def markdown(rows: list[dict], infer: dict, bar: dict | None, meta: dict) -> str:
    head = ["T", "dyndecay (ms)", "PSN (ms)", "PSN / dyndecay", "runs (dyndecay, PSN)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append(f"| {r['T']} | {r['dyndecay'] * 1e3:,.1f} | {r['PSN'] * 1e3:,.1f} | {r['ratio']:.2f}x | "
                     f"{r['runs']['dyndecay']}, {r['runs']['PSN']} |")
    text = (f"Forward + backward of one neuron layer, B={BATCH}, C={CHANNELS}, float32: DynamicDecay (order {ORDER}, "
            f"binary spikes, parallel scan) vs PSN (T x T matrix); median of the timed runs after one untimed run. "
            f"{os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads); load average "
            f"{meta['load_before']:.2f} before, {meta['load_after']:.2f} after (1-minute; above ~1 other processes "
            f"competed for the cores and the times are inflated). Wall time {meta['wall_seconds']:.0f} s.\n\n"
            + "\n".join(lines)
            + f"\n\nInference of the same layer at T = {infer['T']} (no grad): serial (`DynamicDecay.serial`, O(k) "
            f"state) {infer['serial_seconds']:.2f} s ({infer['serial_us_per_step']:.0f} us/step), parallel forward "
            f"{infer['parallel_seconds']:.2f} s; spikes differing between the two: {infer['spike_mismatches']} of "
            f"{infer['spikes_total']:,}.\n")
    if bar is not None:
        text += (f"\nLong-sequence bar (`tests/test_dyndecay_long.py`, `long` task, {bar['config']}): trained at "
                 f"T = {bar['train_steps']} in {bar['train_seconds']:.1f} s; accuracy {bar['acc_train_T']:.3f} at "
                 f"T = {bar['train_steps']} (parallel, {bar['test_samples']} test samples), {bar['acc_long_T']:.3f} at "
                 f"T = {bar['long_steps']} (serial, {bar['long_samples']} samples, {bar['serial_seconds']:.1f} s); "
                 f"chance {bar['chance']:.2f}.\n")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-bar", action="store_true", help="also train/evaluate the long-sequence bar (~1 min)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    results = []
    with Progress() as progress:
        task = progress.add_task("layers", total=len(STEPS) * len(METHODS) + 1 + args.long_bar)
        for steps in STEPS:
            for method in METHODS:
                progress.update(task, description=f"T={steps} {method}")
                results.append(train_step(method, steps))
                progress.advance(task)
        progress.update(task, description=f"serial T={SERIAL_STEPS}")
        infer = inference(SERIAL_STEPS)
        progress.advance(task)
        bar = None
        if args.long_bar:
            progress.update(task, description="long-sequence bar")
            bar = long_bar()
            progress.advance(task)
    rows = []
    for steps in STEPS:
        by = {r["method"]: r for r in results if r["T"] == steps}
        rows.append({"T": steps, **{m: by[m]["seconds"] for m in METHODS},
                     "runs": {m: by[m]["runs"] for m in METHODS},
                     "ratio": by["PSN"]["seconds"] / by["dyndecay"]["seconds"]})
    meta = {"load_before": load_before, "load_after": os.getloadavg()[0],
            "wall_seconds": time.perf_counter() - started}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "dyndecay",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads()},
        "batch": BATCH, "channels": CHANNELS, "order": ORDER, "dtype": "float32", **meta,
        "rows": rows, "measurements": results, "inference": infer, "long_bar": bar,
    }
    write_atomic(out / "dyndecay.json", json.dumps(payload, indent=1) + "\n")
    write_atomic(out / "dyndecay.md", markdown(rows, infer, bar, meta))
    console = Console(width=max(Console().width, 110))
    table = Table(title=f"forward + backward, B={BATCH} C={CHANNELS} float32: DynamicDecay (k={ORDER}) vs PSN")
    for col in ("T", "dyndecay ms", "PSN ms", "PSN / dyndecay"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["T"]), f"{r['dyndecay'] * 1e3:,.1f}", f"{r['PSN'] * 1e3:,.1f}", f"{r['ratio']:.2f}x")
    console.print(table)
    console.print(f"serial T={SERIAL_STEPS}: {infer['serial_us_per_step']:.0f} us/step "
                  f"({infer['serial_seconds']:.1f} s), parallel forward {infer['parallel_seconds']:.2f} s")
    if bar is not None:
        console.print(f"long bar: acc {bar['acc_train_T']:.3f} @ T={bar['train_steps']}, "
                      f"{bar['acc_long_T']:.3f} @ T={bar['long_steps']} (serial)")
    console.print(f"{time.perf_counter() - started:.0f} s; wrote {out / 'dyndecay.json'} and {out / 'dyndecay.md'}")


if __name__ == "__main__":
    main()
