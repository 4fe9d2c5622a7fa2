"""The op/energy report of a model on an input: a dict for JSON, and a rich table.

``docs/report.md`` documents every key. Counts are summed over the batch in
``ops`` and divided by the batch in ``*_per_sample``; energies are pJ per
sample. The comparison replaces every neuron layer by (a) the same
channel-wise neuron with a multiplier per tap (``mul_taps``) and (b) a PSN
neuron with a dense T x T float weight matrix (``psn``), keeping the synapses.
"""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table

from .bounds import analyze
from .energy import EnergyTable
from .engine import run
from .model import IntegerModel, Neuron
from .opcount import OP_KINDS, LayerOps, layer_ops, neuron_ops, psn_ops
from .random_model import random_input

SCHEMA = "shiftspike.report/1"
DEFAULT_BATCH = 16
DEFAULT_RATE = 0.2
DEFAULT_SEED = 0
VARIANTS = ("mul_free", "mul_taps", "psn")


def default_input(model: IntegerModel) -> tuple[np.ndarray, str]:
    """The documented default input and its description."""
    x = random_input(model, batch=DEFAULT_BATCH, rate=DEFAULT_RATE, seed=DEFAULT_SEED)
    kind = "spikes" if model.input.kind == "spike" else "non-zero values uniform over the declared range"
    text = (f"random {kind} at rate {DEFAULT_RATE} (seed {DEFAULT_SEED}), "
            f"B={DEFAULT_BATCH}, T={model.timesteps}")
    return x, text


def _per_sample(values: dict, batch: int) -> dict:
    return {k: v / batch for k, v in values.items()}


def _ops_json(ops: LayerOps, batch: int) -> dict:
    totals = {k: v for k, v in ops.totals().items() if v}
    return {
        "ops": totals,
        "ops_per_sample": _per_sample(totals, batch),
        "ops_per_step": {k: ops.per_step[k].tolist() for k in totals},
        "bits": {k: ops.bits[k] for k in totals if k in ops.bits},
    }


def build_report(model: IntegerModel, x: np.ndarray, table: EnergyTable, input_text: str) -> dict:
    """Run ``model`` on ``x [T, B, features]`` and account every operation and pJ."""
    trace = run(model, x)
    steps, batch = x.shape[:2]
    bounds = analyze(model, steps)
    layers, totals = [], {v: 0.0 for v in VARIANTS}
    op_totals = {k: 0 for k in OP_KINDS}
    for index, layer in enumerate(model.layers):
        inp, out = model.specs[index], model.specs[index + 1]
        ops = layer_ops(model, index, trace, table.convention)
        energy = _per_sample(table.energy(ops), batch)
        entry = {
            "index": index,
            "type": layer.type,
            "neurons": out.features if isinstance(layer, Neuron) else 0,
            "input": inp.to_json(),
            "output": out.to_json(),
            "bound": bounds[index].to_json(),
            **_ops_json(ops, batch),
            "energy_pj_per_sample": energy,
        }
        variants = {"mul_free": energy["total"]}
        if isinstance(layer, Neuron):
            mul = neuron_ops(layer, inp, trace.activity[index], batch, table.convention, arith="mul")
            psn = psn_ops(inp, steps, batch, table.convention)
            variants["mul_taps"] = table.energy(mul)["total"] / batch
            variants["psn"] = table.energy(psn)["total"] / batch
            entry["compare_pj_per_sample"] = dict(variants)
        for v in VARIANTS:
            totals[v] += variants.get(v, energy["total"])
        for k, n in ops.totals().items():
            op_totals[k] += n
        layers.append(entry)
    mul_free = totals["mul_free"]
    predictions = trace.predictions() if model.layers[-1].type == "readout" else None
    return {
        "schema": SCHEMA,
        "model": {"timesteps": model.timesteps, "input": model.input.to_json(), "layers": len(model.layers)},
        "run": {"timesteps": steps, "batch": batch, "input": input_text},
        "energy_table": table.to_json(),
        "layers": layers,
        "totals": {
            "ops": {k: v for k, v in op_totals.items() if v},
            "ops_per_sample": {k: v / batch for k, v in op_totals.items() if v},
            "energy_pj_per_sample": totals,
            "ratio_to_mul_free": {v: (totals[v] / mul_free if mul_free else None) for v in VARIANTS},
            "may_overflow": [b.index for b in bounds if b.may_overflow],
        },
        "predictions": None if predictions is None else predictions.tolist(),
    }


#: Width used when printing to a file or pipe, so the tables are not folded.
PIPE_WIDTH = 140


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}" if abs(value) < 1e9 else f"{value:.3e}"


def render(report: dict, console: Console | None = None) -> None:
    """Print the report as tables: per-layer ops and energy, then the multiplier comparison."""
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=PIPE_WIDTH)
    run_info, table_info = report["run"], report["energy_table"]
    layers = Table(title=f"Ops per sample ({run_info['input']}); energy table {table_info['name']} "
                         f"({table_info['convention']} counting)")
    for name in ("#", "layer", "neurons", "acc bits (req)", "add", "shift", "mul", "cmp", "mem rd", "mem wr",
                 "spikes in", "spikes out", "energy pJ"):
        layers.add_column(name, justify="left" if name == "layer" else "right")
    for entry in report["layers"]:
        ops, bound = entry["ops_per_sample"], entry["bound"]
        reads = sum(ops.get(k, 0) for k in ("weight_read", "param_read", "buffer_read"))
        acc = f"{bound['declared_width']} ({bound['required_width']})" + (" !" if bound["may_overflow"] else "")
        layers.add_row(
            str(entry["index"]), entry["type"], str(entry["neurons"] or ""), acc,
            *(_fmt(ops.get(k, 0)) for k in ("add", "shift", "mul", "cmp")),
            _fmt(reads), _fmt(ops.get("buffer_write", 0)), _fmt(ops.get("spikes_in", 0)),
            _fmt(ops.get("spikes_out", 0)), _fmt(entry["energy_pj_per_sample"]["total"]),
        )
    console.print(layers)
    compare = Table(title="Energy per sample (pJ): this network against the same network with multiplying neurons")
    for name in ("#", "layer", "mul-free (ours)", "mul per tap", "PSN (T x T)"):
        compare.add_column(name, justify="left" if name == "layer" else "right")
    for entry in report["layers"]:
        c = entry.get("compare_pj_per_sample")
        if c:
            compare.add_row(str(entry["index"]), entry["type"], *(_fmt(c[v]) for v in VARIANTS))
    totals = report["totals"]
    compare.add_row("", "whole network", *(_fmt(totals["energy_pj_per_sample"][v]) for v in VARIANTS), style="bold")
    ratio = totals["ratio_to_mul_free"]
    compare.add_row("", "ratio to ours", *(f"{ratio[v]:.2f}x" if ratio[v] else "-" for v in VARIANTS))
    console.print(compare)
    if totals["may_overflow"]:
        console.print(f"[yellow]Layers whose accumulator may overflow (declared < required width): "
                      f"{totals['may_overflow']}[/yellow]")
