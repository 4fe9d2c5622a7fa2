"""The whole network in hardware: area, Fmax, cycles and energy per sample, shift-add against multipliers.

Two networks: the trained ``digits`` network (row by row, T = 8; taken from a run folder, ``runs/demo`` by
default, which ``make demo`` writes) on its whole test split, and one random conv network (conv1d, sum
pooling, dense, readout; spike input) on random inputs. For each job of :data:`JOBS` (the lanes of the
costliest layer: 4 and 16 for the conv network and 32 for digits in both variants, 16 for the shift-add
digits network) the accelerator is generated without debug ports, its lanes balanced on the samples'
activity, and synthesized (Yosys ``synth_ecp5``, nextpnr out of context, seed 1) for the ECP5-45F, whose
72 DSPs hold the multiplier networks. Cycles per sample are the cycle model's on the samples; the shift-add
networks also run every sample on Verilator against the simulator (classes,
sums and every handshake cycle). Energy per sample is the report's (``sim.report``, table horowitz45).

Writes ``results/network_rtl.json`` and ``results/network_rtl.md``.
Run: ``.venv/bin/python benchmarks/network_rtl.py [--run runs/demo]`` (each place and route takes minutes).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.progress import Progress

from shiftspike.rtl_gen.network import build_network, write_network
from shiftspike.rtl_gen.network_folder import read_network_folder, synthesize_network
from shiftspike.rtl_gen.verify_network import verify_test_set
from shiftspike.sim import load, random_input, random_model
from shiftspike.sim.energy import load_table
from shiftspike.sim.report import build_report
from shiftspike.sim.safe_io import load_npy, write_atomic, write_json

RESULTS = Path(__file__).resolve().parent / "results"
#: The comparison target: an ECP5 with DSPs enough for the multiplier networks (the 25F has 28).
TARGET = "ecp5-45f-ooc"
VARIANTS = ("shift", "mul")
#: (network, lanes of the costliest layer, variant, target, the clock nextpnr is asked to meet in MHz): both
#: variants of the conv network at two lane settings and of the digits network at 32 lanes, and the shift-add
#: digits network at 16 lanes (each digits place and route takes about ten minutes). The multiplier digits
#: network needs 37 DSPs and does not fit the ECP5-25F's 28; `make demo` places the shift-add one there.
JOBS = [(name, lanes, arith, TARGET, 100.0) for name, lanes in (("digits", 32), ("random-conv", 4), ("random-conv", 16))
        for arith in VARIANTS] + [("digits", 16, "shift", TARGET, 100.0)]
SEED = 2026


def networks(run: Path) -> dict:
    """``{name: (model, x [T, B, F], what)}``: the demo run's digits network and its test split, and a random
    conv network with random spike inputs."""
    digits = load(run / "model.ssm"), load_npy(run / "test_inputs.npy")
    conv = random_model(SEED, input_kind="spike", conv=True, neuron_layers=1, channels=16, input_channels=4,
                        input_length=16, classes=10, head="dense")
    return {"digits": (*digits, f"trained digits network of {run}, its {digits[1].shape[1]} test samples"),
            "random-conv": (conv, random_input(conv, batch=32, seed=SEED), "random conv network, 32 random inputs")}


def one(name: str, lanes: int, arith: str, target: str, freq_mhz: float, model, x) -> dict:
    """One row: synthesis and the cycle model's figures; for the shift-add variant also every sample run back
    to back on Verilator against the simulator (classes, sums and cycles)."""
    accelerator = build_network(model, lanes, arith, debug=False, x=x)
    with tempfile.TemporaryDirectory(prefix="shiftspike-bench-") as tmp:
        write_network(accelerator, Path(tmp))
        row = synthesize_network(read_network_folder(Path(tmp)), target, x, unfit_ok=True, freq_mhz=freq_mhz)
        if arith == "shift" and target == TARGET:
            verdict = verify_test_set(accelerator, model, x, Path(tmp) / "verify")
            row["verilator"] = {"samples": verdict.samples, "class_exact": verdict.class_exact,
                                "mismatching_classes": verdict.mismatching_classes,
                                "cycles_equal_model": verdict.cycles == verdict.expected_cycles
                                and verdict.cycle_deviations == 0, "passed": verdict.passed}
    energy = build_report(model, x, load_table("horowitz45"), "benchmark input").totals["energy_pj_per_sample"]["mul_free"]
    return {"network": name, "lanes_target": lanes, **row, "energy_nj_per_sample": energy / 1e3,
            "weights": sum(int(getattr(layer, "weight").size) for layer in model.layers if hasattr(layer, "weight"))}


def _num(value, fmt: str) -> str:
    return "does not fit" if value is None else format(value, fmt)


def markdown(rows: list[dict], meta: dict) -> str:
    head = ("| network | variant | target | lanes per layer | logic cells | FFs | DP16KD | DSPs | Fmax MHz "
            "| cycles/sample | µs/sample | samples/s | nJ/sample | Verilator |")
    lines = [f"Whole-network accelerators (nextpnr, out of context, seed 1); {meta['machine']}.", "",
             head, "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lanes = ",".join(map(str, r["lanes"]))
        check = r.get("verilator")
        verdict = "-" if check is None else (f"{check['class_exact']}/{check['samples']} class-exact, cycles "
                                             f"{'=' if check['cycles_equal_model'] else '!='} model")
        lines.append(f"| {r['network']} | {r['arith']} | {r['target']} | {lanes} | {_num(r['logic_cells'], 'd')} "
                     f"| {_num(r['ffs'], 'd')} | {_num(r['ram_blocks'], 'd')} | {_num(r['dsps'], 'd')} "
                     f"| {_num(r['fmax_mhz'], '.1f')} | {r['cycles_per_sample']:.0f} | {_num(r['latency_us'], '.1f')} "
                     f"| {_num(r['samples_per_second'], ',.0f')} | {r['energy_nj_per_sample']:.1f} | {verdict} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/demo", help="run folder with model.ssm and test_inputs.npy")
    args = parser.parse_args()
    nets = networks(Path(args.run))
    with Progress() as progress, ThreadPoolExecutor(2) as pool:
        task = progress.add_task("place and route", total=len(JOBS))
        futures = [pool.submit(one, *job, *nets[job[0]][:2]) for job in JOBS]
        rows = []
        for future in futures:
            rows.append(future.result())
            progress.advance(task)
    meta = {"machine": f"{platform.machine()}, {platform.python_version()}", "target": TARGET,
            "networks": {name: what for name, (_, _, what) in nets.items()}}
    RESULTS.mkdir(exist_ok=True)
    write_json(RESULTS / "network_rtl.json", {"meta": meta, "rows": rows})
    write_atomic(RESULTS / "network_rtl.md", markdown(rows, meta))
    print(markdown(rows, meta))


if __name__ == "__main__":
    main()
