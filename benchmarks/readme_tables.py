"""Regenerate the results tables of README.md from the committed benchmark JSON.

Every results table in the README sits between two marker comments::

    <!-- table:NAME -->
    ...generated from benchmarks/results/<file>.json...
    <!-- /table:NAME -->

This script rewrites what is between the markers (the table and the one-line
summaries that quote its ratios) and leaves every other byte of the README as
it is, so no number typed by hand can drift from the measurements. It reads
JSON only (no torch, no Numba), so it is fast enough for the test suite.

    python benchmarks/readme_tables.py            # rewrite README.md in place (atomically)
    python benchmarks/readme_tables.py --check    # exit 1, naming the stale tables, if README.md differs
    python benchmarks/readme_tables.py --readme PATH --results DIR [--check]

Exit codes: 0 up to date / rewritten, 1 stale (``--check``), 2 bad input (a
missing or malformed JSON file or field, a missing or unknown marker), with
one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Callable

from shiftspike.sim.safe_io import write_atomic

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RESULTS = ROOT / "benchmarks" / "results"

MARKER = re.compile(r"<!-- table:(?P<name>[a-z0-9-]+) -->\n(?P<body>.*?)<!-- /table:(?P=name) -->", re.DOTALL)
OPENING = re.compile(r"<!-- table:([a-z0-9-]+) -->")

#: Display names of neurons in the accuracy table; any other neuron shows its ``--neuron`` name.
NEURON_NAMES = {"mulfree": "integer mul-free (exported)", "float": "float channel-wise"}
#: What the energy of an accuracy.json row prices (see benchmarks/accuracy.py, ENERGY_OF).
ENERGY_NAMES = {"mulfree": "integer mul-free network (shift-add taps)",
                "float": "same network, a multiplier per tap",
                "psn": "same network, a PSN T x T matrix per neuron layer"}
ENERGY_SHORT = {"float": "a multiplier per tap", "psn": "PSN matrices"}
#: Simulator implementations that are modes of our own simulator, not references to compare against.
SIM_OURS = "numba-seq"
SIM_OWN_MODES = ("numba-seq", "numba-step", "stream", "stream-chunk", "numpy-ref")
#: The train_speed.json layout these tables read (benchmarks/train_speed.py, LAYOUT).
SPEED_LAYOUT = 2
#: train_speed.json ratio a goal tests -> (its label, a row field quoted with it or None, that field's label)
SPEED_GOALS = {"vs_psn": ("PSN-gemm / ours", "work_bound", "work bound"),
               "vs_conv1d": ("grouped conv1d / ours", None, None),
               "vs_floor": ("ours / floor", None, None)}
#: The PSN-family modules of the module table, as train_speed.json names them.
SPEED_MODULES = ("PSN", "MaskedPSN", "SlidingPSN", "LIF")
HX8K_LOGIC_CELLS = 7680


class ResultsError(ValueError):
    """A missing or malformed results file, field or README marker; one line."""


# ---------------------------------------------------------------- number formatting


def _decimals(value: float, digits: int = 3) -> int:
    """Decimals that show ``value`` to ``digits`` significant figures (none for large values)."""
    if value == 0 or not math.isfinite(value):
        return 0
    return max(0, digits - 1 - math.floor(math.log10(abs(value))))


def num(value: float | None, digits: int = 3) -> str:
    """``value`` to ``digits`` significant figures with thousands separators; ``n/a`` for None."""
    if value is None:
        return "n/a"
    return f"{value:,.{_decimals(value, digits)}f}"


def times(value: float | None) -> str:
    """A ratio as ``2.64x``, ``17.5x``, ``745x``."""
    return "n/a" if value is None else f"{num(value)}x"


def span(values: list[float], fmt: Callable[[float], str] = times) -> str:
    """``a to b`` over ``values`` (just ``a`` if all equal)."""
    lo, hi = fmt(min(values)), fmt(max(values))
    return lo if lo == hi else f"{lo} to {hi}"


def percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{fraction * 100:.2f}%"


def table(head: list[str], rows: list[list[str]], right: int = 0) -> str:
    """A markdown table; the last ``right`` columns are right-aligned (numbers)."""
    rule = ["---"] * (len(head) - right) + ["---:"] * right
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def bullets(lines: list[str]) -> str:
    return "".join(f"- {line}\n" for line in lines)


# ---------------------------------------------------------------- tables


def _tasks(rows: list[dict]) -> dict[str, list[dict]]:
    """accuracy.json rows grouped by task, tasks and rows in JSON order."""
    tasks: dict[str, list[dict]] = {}
    for row in rows:
        tasks.setdefault(row["task"], []).append(row)
    return tasks


def _accuracy(row: dict) -> float | None:
    """The reported accuracy: the exported integer model's where there is one."""
    return row.get("integer_accuracy", row["test_accuracy"])


def accuracy_table(data: dict) -> str:
    """Accuracy, train time and energy per task x neuron (accuracy.json), then one line per task."""
    rows = [[r["task"], NEURON_NAMES.get(r["neuron"], r["neuron"]), percent(_accuracy(r)),
             "n/a" if r.get("train_seconds") is None else f"{r['train_seconds']:,.1f}",
             "n/a" if r.get("energy_pj_per_sample") is None else f"{r['energy_pj_per_sample']:,.0f}"]
            for r in data["rows"]]
    text = table(["task", "neuron", "test accuracy", "train time (s)", "energy (pJ/sample)"], rows, right=3)
    lines = []
    for task, group in _tasks(data["rows"]).items():
        epochs = sorted({r["epochs"] for r in group})
        budget = f"{epochs[0]} epochs each" if len(epochs) == 1 else f"{epochs[0]} to {epochs[-1]} epochs"
        parts = []
        ours = next((r for r in group if r["neuron"] == "mulfree"), None)
        twin = next((r for r in group if r["neuron"] == "float"), None)
        if ours is not None:
            part = f"integer model {percent(_accuracy(ours))}"
            if "mismatches" in ours:
                part += f" ({ours['mismatches']} mismatches against QAT eval)"
            if twin is not None:
                gap = (_accuracy(ours) - twin["test_accuracy"]) * 100
                part += (f", float twin {percent(twin['test_accuracy'])} "
                         f"(integer {abs(gap):.2f} points {'above' if gap >= 0 else 'below'})")
            parts.append(part)
        others = [r for r in group if r["neuron"] not in NEURON_NAMES and r["test_accuracy"] is not None]
        if others:
            best = max(others, key=lambda r: r["test_accuracy"])
            parts.append(f"best other neuron {best['neuron']} {percent(best['test_accuracy'])}")
        lines.append(f"`{task}` ({budget}): " + "; ".join(parts) + ".")
    return text + "\n" + bullets(lines)


def energy_table(data: dict) -> str:
    """Energy per sample of the mul-free network against its multiplier and PSN versions (accuracy.json)."""
    rows, ratios = [], {}
    for task, group in _tasks(data["rows"]).items():
        priced = [r for r in group if r.get("energy_pj_per_sample") is not None]
        base = next((r["energy_pj_per_sample"] for r in priced if r["neuron"] == "mulfree"), None)
        for r in priced:
            ratio = None if base is None else r["energy_pj_per_sample"] / base
            rows.append([task, ENERGY_NAMES.get(r["neuron"], r["neuron"]), f"{r['energy_pj_per_sample']:,.0f}",
                         times(ratio)])
            if r["neuron"] != "mulfree" and ratio is not None:
                ratios.setdefault(r["neuron"], []).append(f"{times(ratio)} ({task})")
    if not rows:
        raise ResultsError("accuracy.json: no row has an energy_pj_per_sample")
    text = table(["task", "network", "energy (pJ/sample)", "x integer mul-free"], rows, right=2)
    summary = [f"{ENERGY_SHORT.get(neuron, neuron)}: {', '.join(found)}" for neuron, found in ratios.items()]
    if summary:
        text += "\nEnergy relative to the integer mul-free network: " + "; ".join(summary) + ".\n"
    return text


def _speed_excerpt(data: dict) -> tuple[int, int, list[dict]]:
    """(k, d, rows) of train_speed.json at its largest k and smallest d; an older layout is a ResultsError."""
    if data.get("layout") != SPEED_LAYOUT:
        raise ResultsError(f"train_speed.json: layout {data.get('layout')!r}, expected {SPEED_LAYOUT} (written by an "
                           "older benchmarks/train_speed.py); rerun it")
    rows = data["rows"]
    taps, dilation = max(r["k"] for r in rows), min(r["d"] for r in rows)
    return taps, dilation, [r for r in rows if r["k"] == taps and r["d"] == dilation]


def _ms(row: dict, method: str) -> str:
    seconds = row["seconds"].get(method)
    return num(None if seconds is None else seconds * 1e3)


def _speed_goal_line(goal: dict, rows: list[dict]) -> str:
    """One goal of train_speed.json: pass/fail, shapes met, the ratio's span, where it was missed."""
    if goal["ratio"] not in SPEED_GOALS:
        raise ResultsError(f"train_speed.json: goal {goal['goal']!r} tests {goal['ratio']!r}, "
                           f"none of {list(SPEED_GOALS)}")
    label, companion, companion_label = SPEED_GOALS[goal["ratio"]]
    flag, ratio = goal["flag"], goal["ratio"]
    tested = [r for r in rows if r[flag] is not None]
    met = [r for r in tested if r[flag]]
    measured = [r[ratio] for r in tested if r[ratio] is not None]
    line = (f"{goal['goal']}: **{'pass' if goal['pass'] else 'FAIL'}**, {len(met)} of {len(tested)} shapes "
            f"({label} {span(measured) if measured else 'n/a'}")
    if companion:
        line += f"; {companion_label} {span([r[companion] for r in tested])}"
    line += ")"
    missed = [r for r in tested if not r[flag]]
    if 0 < len(missed) <= 3:
        line += "; missed at " + ", ".join(f"T = {r['T']}, k = {r['k']}, d = {r['d']} ({times(r[ratio])})"
                                           for r in missed)
    elif missed:
        per_k = {k: sum(1 for r in met if r["k"] == k) for k in sorted({r["k"] for r in tested})}
        per_k_total = Counter(r["k"] for r in tested)
        line += "; met by k: " + ", ".join(f"k = {k}: {n} of {per_k_total[k]}" for k, n in per_k.items())
    return line + "."


def train_speed_table(data: dict) -> str:
    """Operator against operator at the largest k and smallest d (train_speed.json), then the goals over every shape."""
    taps, dilation, excerpt = _speed_excerpt(data)
    body = [[str(r["T"]), r.get("auto_impl", "n/a"), _ms(r, "auto"), _ms(r, "PSN-gemm"), times(r["vs_psn"]),
             times(r["work_bound"]), times(r["vs_conv1d"]), times(r["vs_floor"])] for r in excerpt]
    text = (f"k = {taps}, d = {dilation}, B = {data['batch']}, C = {data['channels']}, {data['dtype']}; "
            "milliseconds per forward + backward of the operator alone:\n\n")
    text += table(["T", "auto chose", "ours (ms)", "PSN-gemm (ms)", "PSN-gemm / ours", "work bound",
                   "grouped conv1d / ours", "ours / floor"], body, right=6)
    rows = data["rows"]
    chosen = Counter(r["auto_impl"] for r in rows if "auto_impl" in r)
    lines = ["`auto` chose " + ", ".join(f"`{impl}` at {n}" for impl, n in chosen.most_common())
             + f" of {len(rows)} shapes."]
    lines += [_speed_goal_line(goal, rows) for goal in data["goals"]]
    return text + "\n" + bullets(lines)


def train_speed_modules_table(data: dict) -> str:
    """Whole neuron module against whole neuron module at the largest k and smallest d (train_speed.json),
    then where ours wins over every shape and what its time is made of."""
    taps, dilation, excerpt = _speed_excerpt(data)
    impl = data["module_impl"]
    body = [[str(r["T"]), _ms(r, "mulfree"), _ms(r, "mulfree-frozen"), _ms(r, "PSN"),
             *(times(r["module_vs"][m]) for m in SPEED_MODULES), times(r["module_over_operator"])] for r in excerpt]
    text = (f"k = {taps}, d = {dilation}, B = {data['batch']}, C = {data['channels']}, {data['dtype']}; "
            f"milliseconds per forward + backward of the whole neuron, spike function included, every module on "
            f"`temporal_conv` `{impl}`:\n\n")
    text += table(["T", "ours (ms)", "ours, frozen statistics (ms)", "PSN (ms)",
                   *(f"{m} / ours" for m in SPEED_MODULES), f"ours / its operator ({impl})"], body, right=8)
    rows = data["rows"]
    compared = [r for r in rows if r["module_vs"]["PSN"] is not None]
    won = [r for r in compared if r["module_vs"]["PSN"] > 1]
    lines = [f"Our module is faster than the PSN module at {len(won)} of {len(compared)} shapes "
             f"(PSN / ours {span([r['module_vs']['PSN'] for r in compared])})."]
    splits = [r["module_split"] for r in rows if r["module_split"]]
    if splits:
        def share(part):
            return span([s[part] for s in splits], lambda v: f"{v * 100:.0f}%")
        lines.append(f"Our module's time over all shapes: one operator pass {share('operator')}, the "
                     f"batch-statistics pass (a second operator pass and the moments) {share('statistics')}, the "
                     f"rest (quantizing taps and threshold, the spike function) {share('other')}.")
    return text + "\n" + bullets(lines)


def sim_throughput_table(data: dict) -> str:
    """Million neuron-updates/s per implementation, our speed-up over each reference, and our time over the
    floor: max(memory floor, compute floor), both measured in the same run."""
    results = data["results"]
    found = list(dict.fromkeys(name for r in results for name in r["seconds"]))
    references = [name for name in found if name not in SIM_OWN_MODES]
    impls = [name for name in SIM_OWN_MODES if name in found] + references
    bandwidth, adds = data["machine"]["copy_bandwidth_gb_s"], data["machine"]["int32_add_rate_g_s"]
    head = ["C", "k", "d", "T", "B", *impls, *(f"{SIM_OURS} / {ref}" for ref in references),
            "G tap-ops/s", "floor", "x floor"]
    body, speedups, floors = [], {ref: [] for ref in references}, []
    for r in results:
        sec = r["seconds"]
        rates = [f"{r['neuron_updates'] / sec[i] / 1e6:,.1f}" if i in sec else "-" for i in impls]
        ratios = []
        for ref in references:
            ratio = sec[ref] / sec[SIM_OURS] if ref in sec and SIM_OURS in sec else None
            ratios.append("-" if ratio is None else times(ratio))
            if ratio is not None:
                speedups[ref].append(ratio)
        memory, compute = r["floor_bytes"] / (bandwidth * 1e9), r["tap_ops"] / (adds * 1e9)
        floor = sec[SIM_OURS] / max(memory, compute)
        floors.append(floor)
        body.append([str(r[key]) for key in ("C", "k", "d", "T", "B")] + rates + ratios
                    + [f"{r['tap_ops'] / sec[SIM_OURS] / 1e9:.2f}", "compute" if compute >= memory else "memory",
                       times(floor)])
    text = (f"Million neuron-updates per second, {data['input_width']}-bit input currents; "
            f"copy bandwidth {bandwidth:.1f} GB/s and int32 additions {adds:.1f} G/s (one operand from L1, "
            "every lane and core) measured in the same run:\n\n")
    text += table(head, body, right=len(head) - 5)
    lines = [f"`{SIM_OURS}` against `{ref}`: {span(found)} faster on the same work." for ref, found in speedups.items()
             if found]
    lines.append(f"`{SIM_OURS}` time over max(memory floor, compute floor): {span(floors)}.")
    return text + "\n" + bullets(lines)


def _cell(value, fmt: str = "") -> str:
    return "does not fit" if value is None else format(value, fmt)


def rtl_area_table(data: dict) -> str:
    """Shift-add against multiplier cores, paired per configuration (rtl_area.json)."""
    pairs: dict[tuple, dict] = {}
    for core in data["cores"]:
        key = (core["channels"], core["taps"], core["dilation"], core["lanes"], core["loadable"])
        pairs.setdefault(key, {})[core["arith"]] = core
    body, cells, fmax, misfits = [], [], [], []
    for (c, k, d, p, loadable), pair in pairs.items():
        s, m = pair["shift"], pair["mul"]
        config = f"C = {c}, k = {k}, d = {d}, P = {p}{' (loadable)' if loadable else ''}"
        both = None not in (s["logic_cells"], m["logic_cells"])
        if both:
            cells.append(s["logic_cells"] / m["logic_cells"])
            fmax.append(s["fmax_mhz"] / m["fmax_mhz"])
        else:
            misfits.append((config, "shift-add" if s["logic_cells"] is None else "multiplier"))
        body.append([str(c), str(k), str(d), str(p), "loadable" if loadable else "constant", str(s["cycles_per_step"]),
                     f"{_cell(s['logic_cells'])} / {_cell(m['logic_cells'])}",
                     f"{s['logic_cells'] / m['logic_cells']:.2f}" if both else "-",
                     f"{_cell(s['fmax_mhz'], '.1f')} / {_cell(m['fmax_mhz'], '.1f')}",
                     f"{_cell(s['multipliers'])} / {_cell(m['multipliers'])}", _cell(s["ram_blocks"]),
                     "does not fit" if s["updates_per_second"] is None else f"{s['updates_per_second'] / 1e6:,.0f}"])
    text = table(["C", "k", "d", "P", "taps", "cycles/step", "logic cells shift / mul", "shift / mul cells",
                  "Fmax MHz shift / mul", "multipliers shift / mul", "RAM blocks", "M updates/s (shift)"],
                 body, right=0)
    shift_mults = sum(pair["shift"]["multipliers"] or 0 for pair in pairs.values())
    lines = [f"Logic cells: nextpnr's used ICESTORM_LC (the HX8K has {HX8K_LOGIC_CELLS:,}); "
             "\"does not fit\": the core needs more than that."]
    if cells:
        lines.append(f"Where both fit, the shift-add core takes {span(cells, lambda v: f'{v:.2f}x')} the logic cells "
                     f"of the multiplier core and reaches {span(fmax, lambda v: f'{v:.2f}x')} its Fmax; "
                     f"multiplier cells in all shift-add cores together: {shift_mults}.")
    lines += [f"The {variant} core does not fit the HX8K at {config}." for config, variant in misfits]
    return text + "\n" + bullets(lines)


def dyndecay_table(data: dict) -> str:
    """Dynamic-decay neuron against PSN per training step, and its serial inference (dyndecay.json)."""
    body = [[str(r["T"]), num(r["dyndecay"] * 1e3), num(r["PSN"] * 1e3), times(r["ratio"]),
             f"{r['runs']['dyndecay']}, {r['runs']['PSN']}"] for r in data["rows"]]
    text = (f"B = {data['batch']}, C = {data['channels']}, order {data['order']}, {data['dtype']}; "
            "milliseconds per forward + backward (median of the timed runs):\n\n")
    text += table(["T", "dyndecay (ms)", "PSN (ms)", "PSN / dyndecay", "timed runs (dyndecay, PSN)"],
                  body, right=4)
    steps = [r["T"] for r in data["rows"]]
    infer = data["inference"]
    lines = [f"Dynamic decay trains {span([r['ratio'] for r in data['rows']])} faster than PSN per step "
             f"at T = {min(steps)} to {max(steps)}.",
             f"Inference at T = {infer['T']}: serial (O(k) state) {infer['serial_seconds']:.2f} s "
             f"({infer['serial_us_per_step']:.0f} us/step), parallel forward {infer['parallel_seconds']:.2f} s; "
             f"spikes differing between the two: {infer['spike_mismatches']:,} of {infer['spikes_total']:,}."]
    bar = data.get("long_bar")
    if bar is not None:
        lines.append(f"Long-sequence bar: trained at T = {bar['train_steps']}, accuracy {percent(bar['acc_train_T'])} "
                     f"there and {percent(bar['acc_long_T'])} run serially at T = {bar['long_steps']} "
                     f"(chance {percent(bar['chance'])}).")
    return text + "\n" + bullets(lines)


def saf_memory_table(data: dict) -> str:
    """Autograd graph memory and time per step of SAF, OTTT and BPTT against T (saf_memory.json)."""
    methods = ("SAF", "OTTT", "BPTT")
    rows = data["rows"]
    body = [[str(r["T"])] + [f"{r[m]['peak_saved_bytes'] / 1e6:.3f}" for m in methods]
            + [times(r["bptt_over_saf_memory"])] + [f"{r[m]['ms_per_step']:.3f}" for m in methods] for r in rows]
    meta = data["meta"]
    sizes = ", ".join(str(n) for n in meta["sizes"])
    text = (f"LIF network [{sizes}], batch {meta['batch']}, Bernoulli({meta['spike_p']}) input spikes; "
            "graph memory is the peak of the live autograd saved tensors:\n\n")
    text += table(["T", *(f"{m} graph (MB)" for m in methods), "BPTT / SAF memory",
                   *(f"{m} ms/step" for m in methods)], body, right=8)
    last = max(rows, key=lambda r: r["T"])
    saf_mb = [r["SAF"]["peak_saved_bytes"] / 1e6 for r in rows]
    bptt_mb, last_saf_mb = last["BPTT"]["peak_saved_bytes"] / 1e6, last["SAF"]["peak_saved_bytes"] / 1e6
    lines = [f"At T = {last['T']} BPTT keeps {times(last['bptt_over_saf_memory'])} the graph memory of SAF "
             f"({bptt_mb:.1f} MB against {last_saf_mb:.3f} MB); "
             f"SAF's graph over all T: {span(saf_mb, lambda v: f'{v:.3f} MB')}, "
             f"SAF / OTTT graph memory {span([r['saf_over_ottt_memory'] for r in rows], lambda v: f'{v:.2f}')}.",
             "Time per step, SAF / BPTT: "
             f"{span([r['saf_over_bptt_time'] for r in rows], lambda v: f'{v:.2f}')}; "
             f"SAF / OTTT: {span([r['saf_over_ottt_time'] for r in rows], lambda v: f'{v:.2f}')}."]
    return text + "\n" + bullets(lines)


#: Published whole-network figures of the tools users compare with (the issue's anchors): data set, network,
#: device, LUTs (None: not stated), µs per sample.
ANCHORS = (
    ("Spiker+ (LIF)", "MNIST", "published network", "Xilinx FPGA", None, 780.0),
    ("Spiker+ (LIF)", "SHD", "published network", "Xilinx FPGA", None, 54.0),
    ("snn-fpga compiler (LIF)", "MNIST", "published network", "Artix-7 at 100 MHz, 40.5 BRAM", 6358, 520.0),
)


def network_rtl_table(data: dict) -> str:
    """Whole-network accelerators, shift-add against multipliers, and the published anchors (network_rtl.json)."""
    rows = data["rows"]
    body = []
    for r in rows:
        check = r.get("verilator")
        verdict = "-" if check is None else (f"{check['class_exact']}/{check['samples']}, cycles "
                                             f"{'=' if check['cycles_equal_model'] else '!='} model")
        body.append([r["network"], r["arith"], r["target"], ",".join(map(str, r["lanes"])), _cell(r["logic_cells"]),
                     _cell(r["ffs"]), _cell(r["ram_blocks"]), _cell(r["dsps"]), _cell(r["fmax_mhz"], ".1f"),
                     f"{r['cycles_per_sample']:,.0f}", _cell(r["latency_us"], ".1f"),
                     _cell(r["samples_per_second"], ",.0f"), f"{r['energy_nj_per_sample']:.1f}", verdict])
    text = ("Nextpnr out of context, seed 1; cycles per sample from the cycle model (a sample run alone), µs per "
            "sample at Fmax, samples/s streamed back to back; Verilator: test samples class-exact against the "
            "simulator, and cycles against the model:\n\n")
    text += table(["network", "variant", "target", "lanes per layer", "logic cells", "FFs", "DP16KD", "DSPs",
                   "Fmax MHz", "cycles/sample", "µs/sample", "samples/s", "nJ/sample", "Verilator"], body, right=0)
    pairs: dict[tuple, dict] = {}
    for r in rows:
        pairs.setdefault((r["network"], r["lanes_target"], r["target"]), {})[r["arith"]] = r
    fits = [p for p in pairs.values() if len(p) == 2 and None not in (p["shift"]["logic_cells"], p["mul"]["logic_cells"])]
    lines = []
    if fits:
        cells = [p["shift"]["logic_cells"] / p["mul"]["logic_cells"] for p in fits]
        speed = [p["mul"]["latency_us"] / p["shift"]["latency_us"] for p in fits]
        dsps = [p["mul"]["dsps"] for p in fits]
        lines.append(f"Same target and lanes, shift-add against multipliers: {span(cells, lambda v: f'{v:.2f}x')} the "
                     f"logic cells, with 0 DSPs against {span(dsps, lambda v: f'{v:.0f}')} (on the ECP5 a multiplier "
                     "goes to a DSP block, so the multiplier networks' logic cells leave their multipliers out); the "
                     f"multiplier network takes {span(speed, lambda v: f'{v:.2f}x')} the shift-add network's µs per "
                     "sample.")
    lines += [f"The {r['arith']} {r['network']} network at {','.join(map(str, r['lanes']))} lanes does not fit the "
              f"{r['target']}: {r['does_not_fit'].split(': ', 1)[-1]}." for r in rows if r.get("does_not_fit")]
    text += "\n" + bullets(lines)
    digits = [r for r in rows if r["network"] == "digits" and r["arith"] == "shift" and r["latency_us"] is not None]
    if digits:
        best = min(digits, key=lambda r: r["latency_us"])
        anchors = [["shiftspike (above: the fastest shift-add digits network)", "sequential 8x8 digits, 360 test samples",
                    f"{best['weights']:,} weights, {len(best['lanes'])} layers", best["target"],
                    _cell(best["logic_cells"]), f"{best['latency_us']:.1f}"]]
        anchors += [[name, dataset, size, device, "-" if luts is None else f"{luts:,}", f"{us:g}"]
                    for name, dataset, size, device, luts, us in ANCHORS]
        text += ("\nAgainst the published whole-network figures of other tools (their data sets and networks "
                 "differ from ours; their LUTs are Xilinx 6-input LUTs, ours ECP5 4-input LUT slots):\n\n")
        text += table(["tool", "data set", "network", "device", "LUTs / logic cells", "µs per sample"], anchors,
                      right=2)
    return text


def first_run_table(data: dict) -> str:
    """First run on an empty cache against warm runs of each verb (first_run.json)."""
    meta, rows = data["meta"], data["rows"]
    body = [[f"`{r['verb']}`", r["case"], f"{'yes' if r['first_noted'] else 'no'}, {'yes' if r['warm_noted'] else 'no'}",
             f"{r['first_seconds']:.1f}", f"{r['warm_seconds']:.1f}", times(r["first_seconds"] / r["warm_seconds"])]
            for r in rows]
    text = (f"Wall seconds of one `shiftspike` process, the first on an empty cache, warm the median of "
            f"{meta['warm_runs']} runs after it ({meta['machine']}; load average {meta['load_before']:.2f} before, "
            f"{meta['load_after']:.2f} after):\n\n")
    return text + table(["verb", "case", "compile note (first, warm)", "first run (s)", "warm (s)",
                         "first / warm"], body, right=3)


#: table name -> (results file, renderer). The README must hold exactly these blocks.
TABLES: dict[str, tuple[str, Callable[[dict], str]]] = {
    "accuracy": ("accuracy.json", accuracy_table),
    "energy": ("accuracy.json", energy_table),
    "train-speed": ("train_speed.json", train_speed_table),
    "train-speed-modules": ("train_speed.json", train_speed_modules_table),
    "dyndecay": ("dyndecay.json", dyndecay_table),
    "saf-memory": ("saf_memory.json", saf_memory_table),
    "sim-throughput": ("sim_throughput.json", sim_throughput_table),
    "rtl-area": ("rtl_area.json", rtl_area_table),
    "network-rtl": ("network_rtl.json", network_rtl_table),
    "first-run": ("first_run.json", first_run_table),
}


# ---------------------------------------------------------------- README blocks


def load_results(results: Path, name: str) -> dict:
    """One results file, parsed; a missing or malformed file is a ResultsError."""
    path = Path(results) / name
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object at the top")
    return data


def render_block(name: str, results: Path) -> str:
    """The text between the markers of table ``name``: a blank line, the generated markdown, a blank line."""
    filename, renderer = TABLES[name]
    data = load_results(results, filename)
    try:
        return "\n" + renderer(data) + "\n"
    except ResultsError:
        raise
    except (KeyError, TypeError, IndexError, ValueError, ZeroDivisionError) as exc:
        raise ResultsError(f"{Path(results) / filename}: missing or malformed field for table "
                           f"{name!r} ({type(exc).__name__}: {exc})") from None


def blocks(text: str, where: str) -> dict[str, re.Match]:
    """The README's table blocks by name; every table exactly once, no unknown or unclosed marker."""
    found: dict[str, re.Match] = {}
    for match in MARKER.finditer(text):
        name = match["name"]
        if name not in TABLES:
            raise ResultsError(f"{where}: unknown table marker {name!r} (known: {', '.join(TABLES)})")
        if name in found:
            raise ResultsError(f"{where}: table {name!r} appears twice")
        found[name] = match
    for name in OPENING.findall(text):
        if name not in found:
            raise ResultsError(f"{where}: <!-- table:{name} --> has no closing <!-- /table:{name} -->")
    missing = [name for name in TABLES if name not in found]
    if missing:
        raise ResultsError(f"{where}: no <!-- table:{missing[0]} --> ... <!-- /table:{missing[0]} --> block")
    return found


def regenerate(text: str, results: Path, where: str = "README.md") -> tuple[str, list[str]]:
    """``text`` with every table block regenerated from ``results``, and the names of the blocks that changed."""
    found = blocks(text, where)
    out, changed, pos = [], [], 0
    for match in sorted(found.values(), key=lambda m: m.start()):
        body = render_block(match["name"], results)
        if body != match["body"]:
            changed.append(match["name"])
        out += [text[pos:match.start("body")], body]
        pos = match.end("body")
    out.append(text[pos:])
    return "".join(out), changed


def read_readme(readme: Path) -> str:
    try:
        return Path(readme).read_text()
    except OSError as exc:
        raise ResultsError(f"{readme}: cannot read ({exc.strerror})") from None


def check(readme: Path = README, results: Path = RESULTS) -> str | None:
    """None if every table of ``readme`` equals what ``results`` gives, else a one-line message naming them."""
    _, stale = regenerate(read_readme(readme), results, str(readme))
    if not stale:
        return None
    files = ", ".join(sorted({TABLES[name][0] for name in stale}))
    return (f"{readme}: stale table{'s' if len(stale) > 1 else ''} {', '.join(stale)} (differs from {files} in "
            f"{results}); run python benchmarks/readme_tables.py")




def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if a table is stale")
    parser.add_argument("--readme", type=Path, default=README, help="the README to update (default: README.md)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="directory of the benchmark JSON (default: benchmarks/results)")
    args = parser.parse_args(argv)
    try:
        if not args.results.is_dir():
            raise ResultsError(f"{args.results}: no such results directory")
        if args.check:
            message = check(args.readme, args.results)
            if message:
                print(message, file=sys.stderr)
                return 1
            print(f"{args.readme}: all {len(TABLES)} tables match {args.results}")
            return 0
        new, changed = regenerate(read_readme(args.readme), args.results, str(args.readme))
    except ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if changed:
        write_atomic(args.readme, new)
        print(f"{args.readme}: regenerated {', '.join(changed)}")
    else:
        print(f"{args.readme}: all {len(TABLES)} tables already match {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
