"""Simulator throughput on one neuron layer, side by side in one run.

For each layer size (C channels, k taps, dilation d, T steps, batch B) it times:

* ``numpy-ref``: the NumPy reference simulator (``run_reference``);
* ``numba-seq``: the Numba simulator over the whole sequence (``run``), op counting included;
* ``numba-step``: ``Stepper.run``, the streaming simulator fed the whole sequence in one call, op counting
  included;
* ``stream``: the streaming simulator (``Stream``) fed one step per call, ``feed(x[t:t + 1])``;
* ``stream-chunk``: the same fed ``STREAM_CHUNK`` steps per call;
* ``torch-f32``: PyTorch float32 doing the same arithmetic: a grouped dilated ``conv1d``
  (time-last, left zero padding) and the threshold compare, under ``no_grad``.

Inputs are 16-bit integer currents (values exact in float32); every implementation
gets the same data and all results are checked equal before timing. Throughput is
neuron-updates/s (T*B*C per run) and tap-ops/s (T*B*C*k).

The floor of a layer is max(memory floor, compute floor), both measured in the same run:

* memory floor: the time to read X once and write S once at the bandwidth a plain NumPy
  copy reaches;
* compute floor: the time for one int32 addition per tap (T*B*C*k additions) at the rate
  :func:`add_rate` measures: a Numba kernel on every core whose inner loop is nothing but
  int32 additions over all SIMD lanes, each with one operand loaded from L1 (a tap needs
  its input value, so an addition without a load is not one the simulator can do). It
  leaves out the shift (or multiply) by the tap, the compare, the circular history and
  the op counting, so no kernel of this layer can reach it.

What keeps ``numba-seq`` above the compute floor (``x floor``) is measured in the committed
run (2 cores shared with place-and-route jobs, load average 5 to 18; ratios within a run
only): 1.7x to 2.6x at k = 16 and 32, 3.5x to 3.8x at k = 8, 6.2x at k = 4. The bare tap
loop (:func:`_tap_passes`: the per-lane coefficient load, the multiply, the 16-to-32-bit
widening and the add) ran at 0.94x the add rate, so the tap itself is not what costs; the
ratio falls as k grows, so the excess is a cost per neuron update, not per tap, that the
floor does not count: the history write and the first tap, the reduction of the lanes to
the accumulator width, the compare with the threshold and the spike store, the spike and
non-zero counts and the op counting (``layer_ops``, included in ``numba-seq``), and the
accumulator row stored and reloaded every 4 taps. At k = 4 that is more work than the 4
additions. A kernel within 2x at small k would have to keep a lane block's k coefficients
and history in registers over the steps, which Numba cannot unroll for a k known only at
run time.

    python benchmarks/sim_throughput.py [--quick] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import Progress
from numba import njit, prange
from rich.table import Table

from shiftspike.sim import IntegerModel, Neuron, Stepper, Stream, TensorSpec, run, run_reference
from shiftspike.sim.opcount import layer_ops

IN_WIDTH = 16
SIZES = [  # C, k, d, T, B
    (64, 4, 1, 256, 16),
    (128, 16, 1, 1024, 16),
    (128, 16, 4, 4096, 16),
    (512, 8, 2, 1024, 64),
    (512, 32, 8, 1024, 16),
    (256, 8, 1, 16384, 8),
    (32, 32, 8, 16384, 64),
]
QUICK_SIZES = [(64, 4, 1, 256, 16), (128, 16, 4, 1024, 8)]
REFERENCE_MAX_TAP_OPS = 1 << 28
STEP_MAX_STEPS = 4096
STREAM_CHUNK = 64
#: The add-rate kernel: per job, a ring of ADD_ROWS rows of ADD_LANES int32 values (16 KiB, in L1) of
#: which each pass adds ADD_TAPS rows into an accumulator row; ADD_PASSES passes per job.
ADD_ROWS, ADD_TAPS, ADD_LANES, ADD_PASSES = 32, 16, 128, 4096


def layer(channels: int, taps: int, dilation: int, steps: int, seed: int) -> IntegerModel:
    rng = np.random.default_rng(seed)
    sign = rng.choice(np.array([-1, 1], np.int8), size=(channels, taps))
    shift = rng.integers(0, 4, size=(channels, taps)).astype(np.int8)
    theta = rng.integers(-1000, 1000, size=channels)
    neuron = Neuron(sign, shift, theta, dilation, 3, IN_WIDTH + 3 + taps.bit_length() + 1)
    return IntegerModel(TensorSpec("int", IN_WIDTH, channels), steps, (neuron,))


def best_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


@njit(parallel=True, fastmath=True, cache=True)
def _add_passes(ring, acc, passes):
    """``acc[job] += sum of ADD_TAPS rows of ring[job]`` (rows ``p .. p + ADD_TAPS - 1`` mod ADD_ROWS in
    pass ``p``), ``passes`` times per job; ``ring [jobs, ADD_ROWS, ADD_LANES]``, ``acc [jobs, ADD_LANES]``
    int32. The rows move with the pass, so nothing can be hoisted out of the pass loop."""
    for job in prange(ring.shape[0]):
        rows, out = ring[job], acc[job]
        for p in range(passes):
            for j in range(ADD_LANES):
                total = out[j]
                for i in range(ADD_TAPS):  # unrolled: the lane loop is the vectorized one
                    total += rows[(p + i) % ADD_ROWS, j]
                out[j] = total


@njit(parallel=True, fastmath=True, cache=True)
def _tap_passes(ring, coef, acc, passes):
    """:func:`_add_passes` with each addition a whole tap, ``coef * x`` on 16-bit inputs widened to int32
    lanes and per-lane int32 coefficients ``coef [jobs, ADD_TAPS, ADD_LANES]``: the neuron kernel's inner
    loop without its compare, membrane store and history bookkeeping."""
    for job in prange(ring.shape[0]):
        rows, taps, out = ring[job], coef[job], acc[job]
        for p in range(passes):
            for j in range(ADD_LANES):
                total = out[j]
                for i in range(ADD_TAPS):
                    total += taps[i, j] * np.int32(rows[(p + i) % ADD_ROWS, j])
                out[j] = np.int32(total)


def tap_rate() -> float:
    """Taps (multiply-adds) per second of :func:`_tap_passes`, set up and timed as :func:`add_rate`."""
    jobs = 8 * (os.cpu_count() or 1)
    ring = np.arange(jobs * ADD_ROWS * ADD_LANES, dtype=np.int16).reshape(jobs, ADD_ROWS, ADD_LANES)
    coef = np.full((jobs, ADD_TAPS, ADD_LANES), -4, np.int32)
    acc = np.zeros((jobs, ADD_LANES), np.int32)
    seconds = best_time(lambda: _tap_passes(ring, coef, acc, ADD_PASSES), 5)
    return jobs * ADD_PASSES * ADD_TAPS * ADD_LANES / seconds


def add_rate() -> float:
    """int32 additions per second on every core, each with one operand from L1: :func:`_add_passes` over
    8 jobs per core, best of 5."""
    jobs = 8 * (os.cpu_count() or 1)
    ring = np.arange(jobs * ADD_ROWS * ADD_LANES, dtype=np.int32).reshape(jobs, ADD_ROWS, ADD_LANES)
    acc = np.zeros((jobs, ADD_LANES), np.int32)
    seconds = best_time(lambda: _add_passes(ring, acc, ADD_PASSES), 5)
    return jobs * ADD_PASSES * ADD_TAPS * ADD_LANES / seconds


def copy_bandwidth() -> float:
    """Bytes per second moved (read + write) by a 512 MiB NumPy copy, best of 5."""
    src = np.ones(1 << 26, np.float64)
    dst = np.empty_like(src)
    seconds = best_time(lambda: np.copyto(dst, src), 5)
    return 2 * src.nbytes / seconds


def torch_layer(model: IntegerModel):
    neuron = model.layers[0]
    coef = torch.tensor(neuron.coef, dtype=torch.float32)  # [C, k], tap i multiplies x[t - i*d]
    weight = coef.flip(1).unsqueeze(1).contiguous()  # conv1d correlates: reverse taps -> [C, 1, k]
    theta = torch.tensor(neuron.theta.astype(np.float32)).view(1, -1, 1)
    pad = (neuron.taps - 1) * neuron.dilation
    channels = weight.shape[0]

    def forward(x_bct: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.conv1d(torch.nn.functional.pad(x_bct, (pad, 0)), weight,
                                       dilation=neuron.dilation, groups=channels)
        return h >= theta

    return forward


def measure(size, repeat: int, seed: int) -> dict:
    channels, taps, dilation, steps, batch = size
    model = layer(channels, taps, dilation, steps, seed)
    rng = np.random.default_rng(seed)
    lo, hi = model.input.value_range
    x = rng.integers(lo // 64, hi // 64, size=(steps, batch, channels), endpoint=True).astype(np.int16)
    x_torch = torch.from_numpy(x.astype(np.float32)).permute(1, 2, 0).contiguous()  # [B, C, T]
    forward = torch_layer(model)

    expected = run(model, x).output
    with torch.no_grad():
        got = forward(x_torch).permute(2, 0, 1).numpy().astype(np.int8)
    assert np.array_equal(expected, got), "torch and the simulator disagree"

    def numba_seq():
        trace = run(model, x)
        layer_ops(model, 0, trace)

    stepper = Stepper(model, batch)

    def numba_step():
        trace = stepper.run(x)
        layer_ops(model, 0, trace)

    stream = Stream(model, batch, timesteps=steps)

    def stream_feed(chunk: int):
        stream.reset()
        for t in range(0, steps, chunk):
            stream.feed(x[t:t + chunk])

    def torch_f32():
        with torch.no_grad():
            forward(x_torch)

    updates = steps * batch * channels
    result = {"C": channels, "k": taps, "d": dilation, "T": steps, "B": batch, "neuron_updates": updates,
              "tap_ops": updates * taps, "seconds": {}}
    result["seconds"]["numba-seq"] = best_time(numba_seq, repeat)
    result["seconds"]["torch-f32"] = best_time(torch_f32, repeat)
    if steps <= STEP_MAX_STEPS:
        assert np.array_equal(stepper.run(x).output, expected)
        result["seconds"]["numba-step"] = best_time(numba_step, 1)
    stream.reset()
    fed = np.concatenate([stream.feed(x[t:t + 1]).output for t in range(steps)])
    assert np.array_equal(fed, expected), "the stream and the whole sequence disagree"
    result["seconds"]["stream"] = best_time(lambda: stream_feed(1), repeat)
    result["seconds"]["stream-chunk"] = best_time(lambda: stream_feed(STREAM_CHUNK), repeat)
    if updates * taps <= REFERENCE_MAX_TAP_OPS:
        assert np.array_equal(run_reference(model, x).output, expected)
        result["seconds"]["numpy-ref"] = best_time(lambda: run_reference(model, x), 1)
    result["floor_bytes"] = x.nbytes + expected.nbytes
    return result


def floors(r: dict, bandwidth: float, adds: float) -> tuple[float, float]:
    """``(memory floor, compute floor)`` of result ``r`` in seconds."""
    return r["floor_bytes"] / bandwidth, r["tap_ops"] / adds


IMPLS = ("numba-seq", "numba-step", "stream", "stream-chunk", "numpy-ref", "torch-f32")


def markdown(results: list[dict], bandwidth: float, adds: float) -> str:
    lines = [
        "| C | k | d | T | B | " + " | ".join(f"{i} (M upd/s)" for i in IMPLS)
        + " | numba-seq / torch | stream / numba-seq | numba-seq G tap-ops/s | memory floor (ms)"
        " | compute floor (ms) | x floor |",
        "|" + "---|" * (5 + len(IMPLS) + 6),
    ]
    for r in results:
        rates = [r["neuron_updates"] / r["seconds"][i] / 1e6 if i in r["seconds"] else None for i in IMPLS]
        ratio = r["seconds"]["torch-f32"] / r["seconds"]["numba-seq"]
        memory, compute = floors(r, bandwidth, adds)
        lines.append(
            f"| {r['C']} | {r['k']} | {r['d']} | {r['T']} | {r['B']} | "
            + " | ".join("-" if v is None else f"{v:,.1f}" for v in rates)
            + f" | {ratio:.2f}x | {r['seconds']['numba-seq'] / r['seconds']['stream']:.0%}"
            + f" | {r['tap_ops'] / r['seconds']['numba-seq'] / 1e9:.2f}"
            + f" | {memory * 1e3:.2f} | {compute * 1e3:.2f}"
            + f" | {r['seconds']['numba-seq'] / max(memory, compute):.1f}x |"
        )
    return "\n".join(lines) + "\n"


def floor_note(results: list[dict], bandwidth: float, adds: float, taps: float) -> str:
    """What keeps numba-seq above the floor, from the run: the bare tap loop against the adds, and
    numba-seq / floor per k (falling with k: a cost per neuron update, not per tap)."""
    by_k: dict[int, list[float]] = {}
    for r in results:
        by_k.setdefault(r["k"], []).append(r["seconds"]["numba-seq"] / max(floors(r, bandwidth, adds)))
    spans = ", ".join(f"k = {k}: {min(v):.1f}x to {max(v):.1f}x" for k, v in sorted(by_k.items()))
    return (f"The bare tap loop (coefficient load, multiply, widening, add) runs at {taps / adds:.2f}x the add "
            f"rate. numba-seq / floor by k: {spans}: the excess is a cost per neuron update (history write, "
            "lane reduction, compare, spike store, counts, op counting), not per tap.\n")


def report(results: list[dict], bandwidth: float, adds: float, taps: float) -> str:
    """The markdown file: the conditions, the table and :func:`floor_note`."""
    return (f"Neuron-layer simulation throughput, {os.cpu_count()} cores, int{IN_WIDTH} currents; "
            f"memory copy bandwidth {bandwidth / 1e9:.1f} GB/s, int32 additions {adds / 1e9:.1f} G/s "
            f"(one operand from L1, every lane and core), bare taps {taps / 1e9:.1f} G/s.\n\n"
            + markdown(results, bandwidth, adds) + "\n" + floor_note(results, bandwidth, adds, taps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small sizes (a smoke run)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    sizes = QUICK_SIZES if args.quick else SIZES
    bandwidth, adds, taps = copy_bandwidth(), add_rate(), tap_rate()
    results = []
    with Progress() as progress:
        task = progress.add_task("layer sizes", total=len(sizes))
        for size in sizes:
            results.append(measure(size, args.repeat, args.seed))
            progress.advance(task)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "sim_throughput_quick" if args.quick else "sim_throughput"
    payload = {
        "benchmark": "sim_throughput",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "copy_bandwidth_gb_s": bandwidth / 1e9,
                    "int32_add_rate_g_s": adds / 1e9, "int32_tap_rate_g_s": taps / 1e9},
        "input_width": IN_WIDTH,
        "results": results,
    }
    (out / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (out / f"{name}.md").write_text(report(results, bandwidth, adds, taps))
    console = Console()
    summary = Table(title="million neuron-updates per second")
    for col in ("C", "k", "d", "T", "B", *IMPLS, "seq/torch", "seq/floor"):
        summary.add_column(col, justify="right")
    for r in results:
        summary.add_row(*(str(r[c]) for c in ("C", "k", "d", "T", "B")),
                        *(f"{r['neuron_updates'] / r['seconds'][i] / 1e6:,.1f}" if i in r["seconds"] else "-"
                          for i in IMPLS),
                        f"{r['seconds']['torch-f32'] / r['seconds']['numba-seq']:.2f}x",
                        f"{r['seconds']['numba-seq'] / max(floors(r, bandwidth, adds)):.1f}x")
    console.print(summary)
    console.print(floor_note(results, bandwidth, adds, taps), end="")
    console.print(f"wrote {out / (name + '.json')} and {out / (name + '.md')}")


if __name__ == "__main__":
    main()
