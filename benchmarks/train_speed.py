"""Training speed of one neuron layer, operator against operator and module against module, in one run.

Forward + backward (gradients w.r.t. the input and the parameters, from one fixed upstream
gradient) of one layer, input ``x [T, B, C]`` with B = 16, C = 128, float32, for
T in {32, 64, 256, 1024, 4096, 16384}, k in {2, 8, 16}, d in {1, 4}. Every configuration
draws ``x`` and the upstream gradient from the same seed, so all methods see the same data.

**Operators** (the linear temporal map alone, no threshold, no spike function):

* ours: ``temporal_conv(x, weight [C, k], d, impl=...)`` of ``shiftspike.quant.temporal`` for
  every implementation (``fused``, ``conv1d``, ``taploop``, ``toeplitz`` up to
  ``TOEPLITZ_MAX_STEPS``, ``fft``) and ``auto``, timed after its one-off selection (the
  selection cost is reported separately, from a fresh cache);
* ``conv1d-tl``: the grouped dilated ``torch.nn.functional.conv1d`` on data already time-last
  ``[B, C, T]`` (no layout change, its best case);
* the bare PSN-family operators in plain torch, each the linear part of its module in
  ``shiftspike.quant.neurons.psn``: ``PSN-gemm``, ``addmm(b [T, 1], W [T, T], x.reshape(T, B*C))``
  with a learnable lower-triangular ``W`` (a dense GEMM: it executes ``T^2`` multiply-adds per
  column whatever the zeros) and bias; ``MaskedPSN-banded``, the same with ``W * mask``, the
  mask a band of k taps, the multiply included; ``SlidingPSN-conv``, one k-tap kernel shared by
  all channels (no dilation, as SlidingPSN) with a scalar bias, by ``conv1d`` on the time-last
  layout ``[B*C, 1, T]``, both layout changes included (time-first in and out, as the module's
  input and output are).

The headline is ``PSN-gemm / auto`` per (T, k, d). **Work bound**: a causal k-tap filter with
dilation d takes ``sum_t #{j < k : t - j*d >= 0} = sum_t min(k, t // d + 1)`` multiply-adds per
channel and batch item over T steps, a causal PSN ``T (T + 1) / 2``; at the same multiply-add
rate ours cannot beat PSN by more than their ratio (PSN work / our work), the row's work bound.
Goal per row: **faster than PSN-gemm, or within 10% of the work bound where the bound makes
that impossible** (bound <= 1: ``PSN-gemm / auto >= 0.9 * bound``). Where the bound is below 1
or ours does not beat PSN-gemm, the row says whether ours is within 10% of the bound.

**Modules** (the whole neuron, spike function and surrogate gradient included on both sides),
each built as training builds it from a model config (``quant.network``, the config's default
surrogate and ``impl = "fused"``): ``mulfree``, our mul-free channel-wise neuron
(``ChannelwiseNeuron``, quantized, training mode with batch statistics, input grid unit 2^-8)
with k taps and dilation d; ``mulfree-frozen``, the same on frozen running statistics (the
final epochs of training); ``PSN(T)``, ``MaskedPSN(T, k)``, ``SlidingPSN(k)`` (itself our
``temporal_conv`` with its kernel broadcast over the channels) and ``LIF`` (tau 2, hard reset).
Ratio: the PSN module's time over ours. In training with batch statistics our module runs the
operator twice, forward and backward (once for the statistics, once for the membrane), and
quantizes its taps and threshold; the split of its time is measured, not guessed:
operator share ``fused / mulfree``, statistics pass ``(mulfree - mulfree-frozen) / mulfree``,
the rest (quantizers, threshold, spike function) ``(mulfree-frozen - fused) / mulfree``.

Time: the median of up to ``MAX_RUNS`` runs after a few untimed ones (one run when the first
takes longer than ``SLOW_SECONDS``). Peak memory: every (T, method) runs in a fresh subprocess; before
each measured run the process returns freed heap memory to the OS (``malloc_trim``) and
resets its peak-RSS counter (``/proc/self/clear_refs``) and the fused kernel drops its
recycled output buffers; the peak is ``VmHWM`` after the run minus ``VmRSS`` before it
(inputs, parameters and module state already allocated), so it counts every byte the
forward + backward touched, whichever allocator (torch, NumPy) it came from. The timed
runs that follow are steady state: the fused kernel reuses the buffers of the previous
step, as it does in a training loop.

Floors of our operator, both measured in the same run: memory, the forward reads X and writes
H, the backward reads gH and X and writes gX, ``5 * T*B*C*4`` bytes at the bandwidth of a plain
256 MiB ``torch`` tensor copy (bytes read + written / time, best of 10); compute, the forward
and the two backward products (gX, gW) take ``3 * B*C * sum_t min(k, t // d + 1)``
multiply-adds at the rate of a 2048 x 2048 float32 ``torch.matmul`` (MAC/s, best of 5).
floor = max(memory floor, compute floor).

Goals (pass/fail columns): the PSN-gemm goal above; ``auto`` at least 3x faster than
``conv1d-tl`` at T <= 256; ``auto`` within 3x of the floor.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from shiftspike.quant.config import ModelConfig
from shiftspike.quant.grid import Grid
from shiftspike.quant.network import _neuron
from shiftspike.quant.temporal import TOEPLITZ_MAX_STEPS, autoselect_report, temporal_conv
from shiftspike.quant.temporal.autoselect import choose
from shiftspike.quant.temporal.fused import release_buffers
from shiftspike.sim.safe_io import write_atomic

#: The layout of train_speed.json; benchmarks/readme_tables.py refuses any other.
LAYOUT = 2
BATCH, CHANNELS = 16, 128
STEPS = (32, 64, 256, 1024, 4096, 16384)
TAPS = (2, 8, 16)
DILATIONS = (1, 4)
QUICK_STEPS, QUICK_TAPS, QUICK_DILATIONS = (32, 1024), (8,), (1, 4)
SMOKE_STEPS, SMOKE_TAPS, SMOKE_DILATIONS = (32,), (8,), (1, 4)
OURS = ("auto", "fused", "conv1d", "taploop", "toeplitz", "fft")
BARE_PSN = ("PSN-gemm", "MaskedPSN-banded", "SlidingPSN-conv")
OPERATORS = OURS + ("conv1d-tl",) + BARE_PSN
OUR_MODULES = ("mulfree", "mulfree-frozen")
PSN_MODULES = ("PSN", "MaskedPSN", "SlidingPSN", "LIF")
MODULES = OUR_MODULES + PSN_MODULES
#: The model-config neuron name of each module.
NEURON = {"mulfree": "mulfree", "mulfree-frozen": "mulfree", "PSN": "psn", "MaskedPSN": "masked-psn",
          "SlidingPSN": "sliding-psn", "LIF": "lif"}
#: The temporal_conv implementation the modules use (the model config's default).
MODULE_IMPL = "fused"
PER_CONFIG = OURS + ("conv1d-tl",) + OUR_MODULES  # depend on (k, d)
PER_TAPS = ("MaskedPSN-banded", "SlidingPSN-conv", "MaskedPSN", "SlidingPSN")  # depend on k only
#: Methods with a T x T matrix, skipped where it would not fit MEMORY_BUDGET.
DENSE = ("PSN-gemm", "MaskedPSN-banded", "PSN", "MaskedPSN")
#: The unit of the mul-free module's input grid (a synapse's output in training has one unit per tensor).
INPUT_UNIT = 2.0 ** -8
#: Where PSN-gemm cannot be beaten at equal multiply-add rates, ours must reach this fraction of the bound.
WITHIN_BOUND = 0.9
MATMUL_SIZE = 2048
SLOW_SECONDS = 5.0
WARMUP_SECONDS, WARMUP_RUNS = 0.25, 50  # untimed runs after the memory run: this long, at most this many
TARGET_SECONDS, MAX_RUNS = 0.5, 200  # timed runs: enough to fill this, 3 to MAX_RUNS
#: Estimated bytes a PSN-style run may use before it is skipped (the machine has 24 GiB).
MEMORY_BUDGET = 16 << 30


# ---------------------------------------------------------------- measuring (in the child process)


def rss_bytes(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def fresh_peak() -> int:
    """Free what can be freed (the fused kernel's recycled output buffers too, so a measured
    run allocates them afresh), reset the peak-RSS counter; the current RSS."""
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


@dataclass
class Case:
    """One forward + backward to time: ``forward(input)``, then backward from ``grad`` (the output's
    shape); ``input`` and ``parameters`` receive gradients. ``extra``: facts to report with the time."""

    forward: Callable[[torch.Tensor], torch.Tensor]
    input: torch.Tensor
    grad: torch.Tensor
    parameters: list[torch.Tensor]
    extra: dict = field(default_factory=dict)

    def step(self) -> None:
        for p in (self.input, *self.parameters):
            p.grad = None
        self.forward(self.input).backward(self.grad)


def our_operator(impl: str, x: torch.Tensor, grad: torch.Tensor, taps: int, dilation: int) -> Case:
    """``temporal_conv(x [T, B, C], weight [C, k], d, impl)``; ``auto`` makes its selection here, untimed."""
    weight = (torch.randn(CHANNELS, taps) / taps).requires_grad_()
    extra = {}
    if impl == "auto":
        before = autoselect_report()["seconds"]
        extra = {"chose": choose(x, weight, dilation, False), "select_seconds": autoselect_report()["seconds"] - before}
    return Case(lambda v: temporal_conv(v, weight, dilation, impl=impl), x, grad, [weight], extra)


def conv1d_time_last(x: torch.Tensor, grad: torch.Tensor, taps: int, dilation: int) -> Case:
    """Grouped dilated conv1d on ``x`` already laid out ``[B, C, T]`` (the layout change untimed)."""
    series = x.detach().permute(1, 2, 0).contiguous().requires_grad_()
    kernel = (torch.randn(CHANNELS, 1, taps) / taps).requires_grad_()

    def forward(v):
        return F.conv1d(F.pad(v, ((taps - 1) * dilation, 0)), kernel, dilation=dilation, groups=CHANNELS)
    return Case(forward, series, grad.permute(1, 2, 0).contiguous(), [kernel])


def psn_parameters(steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """PSN's learnable ``W [T, T]`` (lower triangular: causal) and per-step bias ``b [T, 1]`` (init -1)."""
    weight = torch.tril(torch.randn(steps, steps) / math.sqrt(steps)).requires_grad_()
    return weight, torch.full((steps, 1), -1.0, requires_grad=True)


def psn_gemm(x: torch.Tensor, grad: torch.Tensor, taps: int, dilation: int) -> Case:
    """PSN's operator: ``b + W @ x.reshape(T, B*C)``, one dense GEMM."""
    weight, bias = psn_parameters(x.shape[0])
    return Case(lambda v: torch.addmm(bias, weight, v.flatten(1)).view(v.shape), x, grad, [weight, bias])


def masked_psn_banded(x: torch.Tensor, grad: torch.Tensor, taps: int, dilation: int) -> Case:
    """MaskedPSN's operator: ``b + (W * mask) @ x.reshape(T, B*C)``, mask 1 where ``0 <= t - j < k``."""
    steps = x.shape[0]
    weight, bias = psn_parameters(steps)
    lag = torch.arange(steps)[:, None] - torch.arange(steps)[None, :]
    mask = ((lag >= 0) & (lag < taps)).float()
    return Case(lambda v: torch.addmm(bias, weight * mask, v.flatten(1)).view(v.shape), x, grad, [weight, bias])


def sliding_psn_conv(x: torch.Tensor, grad: torch.Tensor, taps: int, dilation: int) -> Case:
    """SlidingPSN's operator: one k-tap kernel (tap i weighs ``x[t - i]``) and a scalar bias for every
    channel, ``conv1d`` over ``[B*C, 1, T]``; ``x [T, B, C]`` in and out, both layout changes timed."""
    weight = torch.exp2(-torch.arange(taps, dtype=torch.float32)).requires_grad_()
    bias = torch.tensor([-1.0], requires_grad=True)

    def forward(v):
        series = v.flatten(1).t().unsqueeze(1)
        h = F.conv1d(F.pad(series, (taps - 1, 0)), weight.flip(0).view(1, 1, taps), bias)
        return h.squeeze(1).t().reshape(v.shape)
    return Case(forward, x, grad, [weight, bias])


def neuron_module(method: str, x: torch.Tensor, grad: torch.Tensor, taps: int, dilation: int) -> Case:
    """The whole neuron ``method`` as training builds it from a model config (``quant.network``)."""
    cfg = ModelConfig.model_construct(neuron=NEURON[method], taps=taps, impl=MODULE_IMPL)
    module = _neuron(cfg, CHANNELS, dilation, x.shape[0])
    forward = module
    if method in OUR_MODULES:
        module.frozen_statistics = method == "mulfree-frozen"
        grid = Grid(torch.tensor(INPUT_UNIT, dtype=torch.float64))

        def forward(v):
            return module(v, grid)
    return Case(forward, x, grad, list(module.parameters()), {"impl": MODULE_IMPL})


BASELINES: dict[str, Callable[..., Case]] = {"conv1d-tl": conv1d_time_last, "PSN-gemm": psn_gemm,
                                             "MaskedPSN-banded": masked_psn_banded,
                                             "SlidingPSN-conv": sliding_psn_conv}


def build(method: str, steps: int, taps: int, dilation: int) -> Case:
    """The case of ``method`` at (T, k, d); ``x`` and the upstream gradient from seed 0."""
    torch.manual_seed(0)
    x = torch.randn(steps, BATCH, CHANNELS, requires_grad=True)
    grad = torch.randn(steps, BATCH, CHANNELS)
    if method in OURS:
        return our_operator(method, x, grad, taps, dilation)
    if method in MODULES:
        return neuron_module(method, x, grad, taps, dilation)
    return BASELINES[method](x, grad, taps, dilation)


def child(spec: dict) -> list[dict]:
    """Run one (T, method) over its (k, d) configs; results as dicts."""
    results = []
    for taps, dilation in spec["configs"]:
        case = build(spec["method"], spec["T"], taps, dilation)
        results.append({"T": spec["T"], "k": taps, "d": dilation, "method": spec["method"], **measure(case.step),
                        **case.extra})
        del case
    return results


# ---------------------------------------------------------------- machine rates (in the parent)


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


def matmul_mac_rate(size: int = MATMUL_SIZE, repeats: int = 5) -> float:
    """Multiply-adds per second of a ``size x size`` float32 ``torch.matmul``, best of ``repeats``."""
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=generator), torch.randn(size, size, generator=generator)
    torch.matmul(a, b)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return size ** 3 / best


# ---------------------------------------------------------------- running the grid


def jobs(steps_list, taps_list, dilations) -> list[dict]:
    configs = [(k, d) for k in taps_list for d in dilations]
    out = []
    for steps in steps_list:
        for method in OPERATORS + MODULES:
            if method in PER_CONFIG:
                todo = configs
            elif method in PER_TAPS:
                todo = [(k, 1) for k in taps_list]
            else:
                todo = [(taps_list[0], 1)]
            out.append({"T": steps, "method": method, "configs": todo})
    return out


def dense_bytes(steps: int, method: str) -> int:
    """Rough peak of a run with a T x T matrix: the matrix, its gradient and temporaries."""
    return (6 if "Masked" in method else 4) * steps * steps * 4 + 8 * steps * BATCH * CHANNELS * 4


def skip_reason(method: str, steps: int) -> str | None:
    if method == "toeplitz" and steps > TOEPLITZ_MAX_STEPS:
        return f"T > TOEPLITZ_MAX_STEPS = {TOEPLITZ_MAX_STEPS}"
    if method in DENSE and dense_bytes(steps, method) > MEMORY_BUDGET:
        return f"T x T matrix needs ~{dense_bytes(steps, method) / 2**30:.0f} GiB"
    return None


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


# ---------------------------------------------------------------- summarising (pure)


def our_macs(steps: int, taps: int, dilation: int) -> int:
    """Multiply-adds of a causal k-tap filter with dilation d over T steps, per channel and batch item:
    ``sum_t #{j < k : t - j*d >= 0}``."""
    return sum(min(taps, t // dilation + 1) for t in range(steps))


def psn_macs(steps: int) -> int:
    """Multiply-adds of a causal T x T matrix over T steps, per channel and batch item: ``T (T + 1) / 2``."""
    return steps * (steps + 1) // 2


def work_bound(steps: int, taps: int, dilation: int) -> float:
    """PSN work / our work: how much faster than PSN ours can be at the same multiply-add rate."""
    return psn_macs(steps) / our_macs(steps, taps, dilation)


def psn_verdict(vs_psn: float | None, bound: float) -> tuple[bool, bool | None]:
    """(goal met, within 10% of the bound) for ``vs_psn`` = PSN-gemm / ours and the work bound.

    The goal: ours faster than PSN-gemm, or within 10% of the bound where the bound is <= 1. Whether
    ours is within 10% of the bound is told (not None) only where the bound is below 1 or ours does
    not beat PSN-gemm."""
    if vs_psn is None:
        return False, None
    within = vs_psn >= WITHIN_BOUND * bound if bound < 1 or vs_psn <= 1 else None
    return vs_psn > 1 or (bound <= 1 and vs_psn >= WITHIN_BOUND * bound), within


def floors(steps: int, taps: int, dilation: int, bandwidth: float, mac_rate: float) -> dict:
    """Seconds our operator's forward + backward needs at least: moving ``5 * T*B*C*4`` bytes at
    ``bandwidth`` (bytes/s), and ``3 * B*C * our_macs`` multiply-adds at ``mac_rate`` (MAC/s)."""
    memory = 5 * steps * BATCH * CHANNELS * 4 / bandwidth
    compute = 3 * BATCH * CHANNELS * our_macs(steps, taps, dilation) / mac_rate
    return {"memory_floor_seconds": memory, "compute_floor_seconds": compute, "floor_seconds": max(memory, compute),
            "floor": "compute" if compute > memory else "memory"}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator and denominator else None


def module_split(seconds: dict) -> dict | None:
    """Shares of the mul-free module's time: one operator pass (``fused``), the batch-statistics pass
    (``mulfree - mulfree-frozen``) and the rest (``mulfree-frozen - fused``); None if one is missing."""
    if not all(m in seconds for m in (MODULE_IMPL, *OUR_MODULES)):
        return None
    total, frozen, operator = seconds["mulfree"], seconds["mulfree-frozen"], seconds[MODULE_IMPL]
    return {"operator": operator / total, "statistics": (total - frozen) / total, "other": (frozen - operator) / total}


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


def measured_row(results: list[dict], steps: int, taps: int, dilation: int) -> dict:
    """Times, peaks and skip reasons of every method at (T, k, d)."""
    row = {"T": steps, "k": taps, "d": dilation, "seconds": {}, "peak_bytes": {}, "skipped": {}}
    for method in OPERATORS + MODULES:
        r = lookup(results, steps, taps, dilation, method)
        if r is None:
            continue
        if "skipped" in r:
            row["skipped"][method] = r["skipped"]
            continue
        row["seconds"][method] = r["seconds"]
        row["peak_bytes"][method] = r["peak_bytes"]
        if method == "auto":
            row["auto_impl"] = r["chose"]
    return row


def judged_row(row: dict, bandwidth: float, mac_rate: float) -> dict:
    """``row`` with work, floors, ratios and goal flags added."""
    steps, taps, dilation, sec = row["T"], row["k"], row["d"], row["seconds"]
    auto = sec.get("auto")
    row.update(our_macs=our_macs(steps, taps, dilation), psn_macs=psn_macs(steps),
               work_bound=work_bound(steps, taps, dilation), **floors(steps, taps, dilation, bandwidth, mac_rate))
    row["vs_psn"] = ratio(sec.get("PSN-gemm"), auto)
    row["goal_psn"], row["within_bound"] = psn_verdict(row["vs_psn"], row["work_bound"])
    row["vs_conv1d"] = ratio(sec.get("conv1d-tl"), auto)
    row["goal_conv1d"] = None if steps > 256 else (row["vs_conv1d"] or 0) >= 3
    row["vs_floor"] = ratio(auto, row["floor_seconds"])
    row["goal_floor"] = row["vs_floor"] is not None and row["vs_floor"] <= 3
    row["module_vs"] = {m: ratio(sec.get(m), sec.get("mulfree")) for m in PSN_MODULES}
    row["module_over_operator"] = ratio(sec.get("mulfree"), sec.get(MODULE_IMPL))
    row["module_split"] = module_split(sec)
    return row


def summarize(results: list[dict], bandwidth: float, mac_rate: float, steps_list, taps_list, dilations) -> list[dict]:
    return [judged_row(measured_row(results, steps, taps, dilation), bandwidth, mac_rate)
            for steps in steps_list for taps in taps_list for dilation in dilations]


def goals(rows: list[dict]) -> list[dict]:
    """The run's goals: text, the row flag and ratio they test, pass."""
    def goal(text, flag, ratio_field, tested):
        return {"goal": text, "flag": flag, "ratio": ratio_field, "pass": all(r[flag] for r in tested)}
    return [goal("auto faster than PSN-gemm, or within 10% of the work bound where the bound makes that impossible",
                 "goal_psn", "vs_psn", rows),
            goal("auto >= 3x faster than conv1d-tl at T <= 256", "goal_conv1d", "vs_conv1d",
                 [r for r in rows if r["T"] <= 256]),
            goal("auto within 3x of the floor, max(memory, compute)", "goal_floor", "vs_floor", rows)]


# ---------------------------------------------------------------- output


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


def fmt_x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def fmt_share(split: dict | None, part: str) -> str:
    return "-" if split is None else f"{split[part] * 100:.0f}%"


def md_table(head: list[str], body: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(cells) + " |" for cells in body])


def operator_table(rows: list[dict]) -> str:
    head = ["T", "k", "d", "auto ->", *(f"{m} (ms)" for m in OPERATORS), "memory floor (ms)", "compute floor (ms)",
            "work bound", "PSN-gemm / auto", "within 10% of bound", "conv1d-tl / auto", "auto / floor",
            "PSN-gemm goal", ">= 3x conv1d-tl (T <= 256)", "<= 3x floor"]
    body = [[str(r["T"]), str(r["k"]), str(r["d"]), r.get("auto_impl", "-"), *(fmt_ms(r, m) for m in OPERATORS),
             f"{r['memory_floor_seconds'] * 1e3:,.3f}", f"{r['compute_floor_seconds'] * 1e3:,.3f}",
             fmt_x(r["work_bound"]), fmt_x(r["vs_psn"]),
             "-" if r["within_bound"] is None else ("yes" if r["within_bound"] else "no"),
             fmt_x(r["vs_conv1d"]), fmt_x(r["vs_floor"]),
             mark(r["goal_psn"]), mark(r["goal_conv1d"]), mark(r["goal_floor"])] for r in rows]
    return md_table(head, body)


def module_table(rows: list[dict]) -> str:
    head = ["T", "k", "d", *(f"{m} (ms)" for m in MODULES), *(f"{m} / mulfree" for m in PSN_MODULES),
            f"mulfree / {MODULE_IMPL} operator", "operator share", "statistics pass share", "other share"]
    body = [[str(r["T"]), str(r["k"]), str(r["d"]), *(fmt_ms(r, m) for m in MODULES),
             *(fmt_x(r["module_vs"][m]) for m in PSN_MODULES), fmt_x(r["module_over_operator"]),
             *(fmt_share(r["module_split"], part) for part in ("operator", "statistics", "other"))] for r in rows]
    return md_table(head, body)


def memory_table(rows: list[dict]) -> str:
    head = ["T", "k", "d", *(f"{m} (MiB)" for m in OPERATORS + MODULES)]
    body = [[str(r["T"]), str(r["k"]), str(r["d"]), *(fmt_mb(r, m) for m in OPERATORS + MODULES)] for r in rows]
    return md_table(head, body)


def span_of(values: list[float], fmt: Callable[[float], str]) -> str:
    return "-" if not values else f"{fmt(min(values))} to {fmt(max(values))}"


def module_findings(rows: list[dict]) -> str:
    """One paragraph: where the mul-free module beats the PSN module, and what its time is made of."""
    faster = [r for r in rows if r["module_vs"]["PSN"] is not None]
    won = [r for r in faster if r["module_vs"]["PSN"] > 1]
    splits = [r["module_split"] for r in rows if r["module_split"]]

    def share(part):
        return span_of([s[part] for s in splits], lambda v: f"{v * 100:.0f}%")
    return (f"The mulfree module is faster than the PSN module at {len(won)} of {len(faster)} shapes "
            f"(PSN / mulfree {span_of([r['module_vs']['PSN'] for r in faster], fmt_x)}). Its time, split: one "
            f"operator pass ({MODULE_IMPL}) {share('operator')}, the batch-statistics pass (mulfree minus "
            f"mulfree-frozen: a second operator pass and the moments) {share('statistics')}, the rest (quantizing "
            f"taps and threshold, the spike function) {share('other')}.")


def markdown(rows: list[dict], rates: dict, run_goals: list[dict], meta: dict) -> str:
    summary = "\n".join(f"- {g['goal']}: **{mark(g['pass'])}**" for g in run_goals)
    return (f"Forward + backward of one neuron layer, B={BATCH}, C={CHANNELS}, float32, {os.cpu_count()} cores, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads); memory copy bandwidth "
            f"{rates['bandwidth'] / 1e9:.1f} GB/s, float32 matmul {rates['mac_rate'] / 1e9:.1f} GMAC/s; load average "
            f"{meta['load_before']:.2f} before, {meta['load_after']:.2f} after (1-minute load average; above ~1 other "
            f"processes were competing for the cores and the times are inflated). Autoselect (auto ->) spent "
            f"{meta['select_seconds']:.1f} s timing {meta['selected']} shapes from a fresh cache. "
            f"Wall time {meta['wall_seconds']:.0f} s.\n\nGoals:\n{summary}\n\n"
            "Operators, time (ms, median); work bound = PSN work / our work, T(T+1)/2 over sum_t min(k, t//d + 1); "
            "floor = max(memory floor, compute floor):\n\n" + operator_table(rows)
            + f"\n\nModules, time (ms, median), spike function included; every module uses temporal_conv "
            f"impl={MODULE_IMPL!r}:\n\n" + module_table(rows) + "\n\n" + module_findings(rows)
            + "\n\nPeak memory above the inputs (MiB, peak RSS of a fresh process):\n\n" + memory_table(rows) + "\n")


def console_table(rows: list[dict]) -> Table:
    table = Table(title=f"forward + backward, B={BATCH} C={CHANNELS} float32: operators and modules")
    for col in ("T", "k", "d", "auto ->", "auto ms", "work bound", "PSN-gemm / auto", "conv1d-tl / auto",
                "auto / floor", "PSN / mulfree module"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["T"]), str(r["k"]), str(r["d"]), r.get("auto_impl", "-"), fmt_ms(r, "auto"),
                      fmt_x(r["work_bound"]),
                      *(f"{fmt_x(v)} {mark(ok)}" for v, ok in ((r["vs_psn"], r["goal_psn"]),
                                                                (r["vs_conv1d"], r["goal_conv1d"]),
                                                                (r["vs_floor"], r["goal_floor"]))),
                      fmt_x(r["module_vs"]["PSN"]))
    return table


def run_grid(todo: list[dict]) -> list[dict]:
    """Every job in its own subprocess, sharing one fresh autoselect cache; the measurements."""
    results = []
    with tempfile.TemporaryDirectory() as cache_dir, Progress() as progress:
        task = progress.add_task("layers", total=len(todo))
        for spec in todo:
            progress.update(task, description=f"T={spec['T']} {spec['method']}")
            results.extend(run_child(spec, cache_dir))
            progress.advance(task)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T in {32, 1024}, k = 8, d in {1, 4} (a few minutes)")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    grid, name = (((SMOKE_STEPS, SMOKE_TAPS, SMOKE_DILATIONS), "train_speed_smoke") if args.smoke else
                  ((QUICK_STEPS, QUICK_TAPS, QUICK_DILATIONS), "train_speed_quick") if args.quick else
                  ((STEPS, TAPS, DILATIONS), "train_speed"))
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    rates = {"bandwidth": copy_bandwidth(), "mac_rate": matmul_mac_rate()}
    results = run_grid(jobs(*grid))
    rows = summarize(results, rates["bandwidth"], rates["mac_rate"], *grid)
    run_goals = goals(rows)
    selections = [r["select_seconds"] for r in results if r["method"] == "auto" and "select_seconds" in r]
    meta = {"load_before": load_before, "load_after": os.getloadavg()[0], "select_seconds": sum(selections),
            "selected": len(selections), "wall_seconds": time.perf_counter() - started}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "train_speed", "layout": LAYOUT,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "copy_bandwidth_gb_s": rates["bandwidth"] / 1e9,
                    "matmul_gmac_s": rates["mac_rate"] / 1e9},
        "batch": BATCH, "channels": CHANNELS, "dtype": "float32", "module_impl": MODULE_IMPL, **meta,
        "goals": run_goals, "rows": rows, "measurements": results,
    }
    write_atomic(out / f"{name}.json", json.dumps(payload, indent=1) + "\n")
    write_atomic(out / f"{name}.md", markdown(rows, rates, run_goals, meta))
    console = Console(width=max(Console().width, 110))
    console.print(console_table(rows))
    for g in run_goals:
        console.print(f"{g['goal']}: {'[green]pass' if g['pass'] else '[red]FAIL'}")
    console.print(f"{time.perf_counter() - started:.0f} s; wrote {out / (name + '.json')} and {out / (name + '.md')}")


if __name__ == "__main__":
    main()
