"""Accuracy, training time and energy per sample of the neurons, side by side at the same budget.

For each sequential-digits task (row by row, T = 8; pixel by pixel, T = 64) it trains the
task's preset once per neuron (integer mul-free, float channel-wise twin, PSN, masked PSN,
sliding PSN, LIF, PSU, IPSU, RPSU, dynamic decay with binary and integer spikes, and LIF
trained by SAF), same architecture, epochs, optimizer and seed. The mul-free run is
exported and its accuracy is that of the *integer model* run by the Numba simulator on the
whole test split (the check also confirms 0 mismatches against QAT eval). Energy per sample
is the `shiftspike report` of the exported model on the real test inputs (horowitz45 table):
`mul_free` for the integer network, `mul_taps` (the same network with a multiplier per tap)
for the float channel-wise neuron, `psn` (a T x T matrix per neuron layer) for PSN; the report
does not model the other baselines.

    python benchmarks/accuracy.py [--quick] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from shiftspike.quant import config, presets
from shiftspike.quant.check import compare
from shiftspike.quant.data import load_dataset
from shiftspike.quant.train import train
from shiftspike.sim.energy import load_table
from shiftspike.sim.report import build_report
from shiftspike.sim.safe_io import write_atomic

NEURONS = ("mulfree", "float", "psn", "masked-psn", "sliding-psn", "lif", "psu", "ipsu", "rpsu", "dyndecay",
           "dyndecay-int", "saf")
TASKS = ("digits", "digits-pixels")
ENERGY_OF = {"mulfree": "mul_free", "float": "mul_taps", "psn": "psn"}


def _energy(net, test) -> dict:
    model = net.integer_plan().model
    x = test.info.to_int(test.x.transpose(0, 1))
    report = build_report(model, x, load_table("horowitz45"), f"the {test.name} test split")
    return report["totals"]["energy_pj_per_sample"]


def run_task(task: str, epochs: int | None, console: Console, workdir: Path) -> list[dict]:
    rows, energy = [], {}
    for neuron in NEURONS:
        raw = presets.preset(task)
        raw["model"]["neuron"] = neuron
        if epochs is not None:
            raw["train"]["epochs"] = epochs
        cfg = config.validate(raw)
        console.rule(f"{task}: {neuron}")
        summary = train(cfg, workdir / f"{task}-{neuron}", console=console, progress=False)
        row = {"task": task, "neuron": neuron, "epochs": cfg.train.epochs, "train_seconds": summary["train_seconds"],
               "test_accuracy": summary["test_accuracy"]}
        if neuron == "mulfree":
            from shiftspike.quant.export import load_network

            net, _ = load_network(workdir / f"{task}-{neuron}")
            test = load_dataset(cfg.data.name, "test")
            check = compare(net, net.integer_plan().model, test)
            row["integer_accuracy"] = check.integer_correct / check.samples
            row["mismatches"] = check.mismatches
            energy = _energy(net, test)
        rows.append(row)
    for row in rows:
        row["energy_pj_per_sample"] = energy.get(ENERGY_OF.get(row["neuron"], ""), None)
    mulfree = next(r for r in rows if r["neuron"] == "mulfree")
    twin = next(r for r in rows if r["neuron"] == "float")
    mulfree["gap_to_float_twin"] = twin["test_accuracy"] - mulfree["integer_accuracy"]
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [f"Sequential digits, same preset, epochs and seed per task; {meta['machine']}, "
             f"{meta['threads']} threads, torch {meta['torch']}. Accuracy on the whole test split (360 samples); "
             "for the mul-free neuron it is the exported integer model in the Numba simulator. Energy: "
             "`shiftspike report` (horowitz45) of the exported network on the test inputs.", "",
             "| task | neuron | test accuracy | train time (s) | energy (pJ/sample) |",
             "|---|---|---:|---:|---:|"]
    for r in rows:
        acc = r.get("integer_accuracy", r["test_accuracy"])
        name = {"mulfree": "integer mul-free (exported)", "float": "float channel-wise"}.get(r["neuron"], r["neuron"])
        energy = "n/a" if r["energy_pj_per_sample"] is None else f"{r['energy_pj_per_sample']:,.0f}"
        lines.append(f"| {r['task']} | {name} | {acc * 100:.2f}% | {r['train_seconds']:.1f} | {energy} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs per run (smoke test)")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    console = Console(stderr=True)
    meta = {"machine": f"{platform.machine()} {os.cpu_count()} cores", "threads": torch.get_num_threads(),
            "torch": torch.__version__, "quick": args.quick}
    rows = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        for task in TASKS:
            rows += run_task(task, 2 if args.quick else None, console, Path(work))
    meta["wall_seconds"] = time.perf_counter() - began
    table = Table(title="accuracy at the same budget")
    for column in ("task", "neuron", "accuracy", "train s", "pJ/sample"):
        table.add_column(column)
    for r in rows:
        energy = "n/a" if r["energy_pj_per_sample"] is None else f"{r['energy_pj_per_sample']:,.0f}"
        table.add_row(r["task"], r["neuron"], f"{r.get('integer_accuracy', r['test_accuracy']):.4f}",
                      f"{r['train_seconds']:.1f}", energy)
    Console().print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "accuracy.json", json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    write_atomic(out / "accuracy.md", markdown(rows, meta))


if __name__ == "__main__":
    main()
