"""The op/energy report of a model on an input: a typed :class:`Report` with its JSON, markdown, text tables
and chart.

``docs/report.md`` documents every key. Counts are summed over the batch in
``ops`` and divided by the batch in ``*_per_sample``; energies are pJ per
sample. The comparison replaces every neuron layer by (a) the same
channel-wise neuron with a multiplier per tap (``mul_taps``) and (b) a PSN
neuron with a dense T x T float weight matrix (``psn``), keeping the synapses.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

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


def _fmt(value: float) -> str:
    """A number as the tables print it: thousands separators, 1 decimal below 100, 4 digits from 1e9."""
    if value == 0:
        return "0"
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}" if abs(value) < 1e9 else f"{value:.3e}"


@dataclass(frozen=True)
class Report(Mapping):
    """The report of one model on one input with one energy table.

    Fields are the JSON's top-level keys (``docs/report.md``); the report is
    also a read-only mapping of them (``report["totals"]``). Energies are pJ
    per sample.
    """

    schema: str
    model: dict
    run: dict
    energy_table: dict
    layers: tuple
    totals: dict
    predictions: list | None

    def __getitem__(self, key: str):
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    @staticmethod
    def _keys() -> tuple[str, ...]:
        return tuple(f.name for f in fields(Report))

    def to_json(self) -> dict:
        """The report as JSON-able data (a new dict each call)."""
        data = {key: copy.deepcopy(getattr(self, key)) for key in self._keys()}
        data["layers"] = list(data["layers"])
        return data

    def to_markdown(self, heading: str | None = None) -> str:
        """One markdown section: per neuron layer, for the neuron layers together and for the whole network,
        the mul-free network against the multiplier networks, pJ per sample. ``heading`` defaults to the
        energy table's name."""
        table = self.energy_table
        title = heading or f"Energy table `{table['name']}`"
        lines = [f"## {title} ({table['convention']} counting)", "", f"Input: {self.run['input']}.", "",
                 "| layer | type | mul-free (pJ/sample) | multiplier per tap | PSN (T x T) |", "|---|---|---:|---:|---:|"]
        for entry in self.layers:
            c = entry.get("compare_pj_per_sample")
            if c:
                lines.append(f"| {entry['index']} | {entry['type']} | {_fmt(c['mul_free'])} | {_fmt(c['mul_taps'])} "
                             f"| {_fmt(c['psn'])} |")
        for label, key in (("neuron layers", "neuron_layers_pj_per_sample"), ("whole network", "energy_pj_per_sample")):
            e = self.totals[key]
            lines.append(f"| | **{label}** | **{_fmt(e['mul_free'])}** | **{_fmt(e['mul_taps'])}** "
                         f"| **{_fmt(e['psn'])}** |")
        r = self.totals["ratio_to_mul_free"]
        lines += [f"| | ratio to mul-free (whole network) | 1.00x | {_ratio(r['mul_taps'])} | {_ratio(r['psn'])} |", ""]
        return "\n".join(lines)

    def plot(self, ax=None):
        """Draw the energy chart on ``ax`` (a new figure's if None) and return the Axes: per neuron layer, for
        the neuron layers together and for the whole network, the mul-free energy stacked by operation kind
        beside the multiplier networks' totals (pJ per sample)."""
        from .plot import draw_energy

        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(10, 4.5))
        draw_energy(self, ax)
        return ax


def _ratio(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def reports_markdown(reports: dict[str, Report]) -> str:
    """Markdown of several reports (``{table name: Report}``): a title, then one section per report."""
    lines = ["# Energy report", ""]
    for name, report in reports.items():
        lines.append(report.to_markdown(f"Energy table `{name}`"))
    return "\n".join(lines)


def build_report(model: IntegerModel, x: np.ndarray, table: EnergyTable, input_text: str) -> Report:
    """Run ``model`` on ``x [T, B, features]`` and account every operation and pJ."""
    trace = run(model, x)
    steps, batch = x.shape[:2]
    bounds = analyze(model, steps)
    layers, totals = [], {v: 0.0 for v in VARIANTS}
    neuron_totals = {v: 0.0 for v in VARIANTS}
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
                neuron_totals[v] += variants[v]
        for v in VARIANTS:
            totals[v] += variants.get(v, energy["total"])
        for k, n in ops.totals().items():
            op_totals[k] += n
        layers.append(entry)
    predictions = trace.predictions() if model.layers[-1].type == "readout" else None
    return Report(
        schema=SCHEMA,
        model={"timesteps": model.timesteps, "input": model.input.to_json(), "layers": len(model.layers)},
        run={"timesteps": steps, "batch": batch, "input": input_text},
        energy_table=table.to_json(),
        layers=tuple(layers),
        totals={
            "ops": {k: v for k, v in op_totals.items() if v},
            "ops_per_sample": {k: v / batch for k, v in op_totals.items() if v},
            "energy_pj_per_sample": totals,
            "ratio_to_mul_free": _ratios(totals),
            "neuron_layers_pj_per_sample": neuron_totals,
            "neuron_layers_ratio_to_mul_free": _ratios(neuron_totals),
            "may_overflow": [b.index for b in bounds if b.may_overflow],
        },
        predictions=None if predictions is None else predictions.tolist(),
    )


def _ratios(energies: dict) -> dict:
    base = energies["mul_free"]
    return {v: (energies[v] / base if base else None) for v in VARIANTS}


def _print_whole(console: Console, table: Table) -> None:
    """Print ``table`` at its natural width even on a narrower console, so that no number is cut or folded."""
    natural = console.measure(table, options=console.options.update_width(10_000)).maximum
    if natural <= console.width:
        console.print(table)
        return
    wide = Console(file=io.StringIO(), width=natural, force_terminal=console.is_terminal,
                   color_system=console.color_system or None)
    wide.print(table)
    console.print(Text.from_ansi(wide.file.getvalue()), soft_wrap=True, end="")


def render(report: Report, console: Console | None = None) -> None:
    """Print the report as text tables: per-layer ops and energy, then the multiplier comparison (per neuron
    layer, the neuron layers together, the whole network). Numbers are never truncated, whatever the width
    of ``console`` (default: stdout)."""
    console = console or Console()
    run_info, table_info = report.run, report.energy_table
    layers = Table(title=f"Ops per sample ({run_info['input']}); energy table {table_info['name']} "
                         f"({table_info['convention']} counting)")
    for name in ("#", "layer", "neurons", "acc bits (req)", "add", "shift", "mul", "cmp", "mem rd", "mem wr",
                 "spikes in", "spikes out", "energy pJ"):
        layers.add_column(name, justify="left" if name == "layer" else "right", no_wrap=True)
    for entry in report.layers:
        ops, bound = entry["ops_per_sample"], entry["bound"]
        reads = sum(ops.get(k, 0) for k in ("weight_read", "param_read", "buffer_read"))
        acc = f"{bound['declared_width']} ({bound['required_width']})" + (" !" if bound["may_overflow"] else "")
        layers.add_row(
            str(entry["index"]), entry["type"], str(entry["neurons"] or ""), acc,
            *(_fmt(ops.get(k, 0)) for k in ("add", "shift", "mul", "cmp")),
            _fmt(reads), _fmt(ops.get("buffer_write", 0)), _fmt(ops.get("spikes_in", 0)),
            _fmt(ops.get("spikes_out", 0)), _fmt(entry["energy_pj_per_sample"]["total"]),
        )
    _print_whole(console, layers)
    compare = Table(title="Energy per sample (pJ): this network against the same network with multiplying neurons")
    for name in ("#", "layer", "mul-free (ours)", "mul per tap", "PSN (T x T)"):
        compare.add_column(name, justify="left" if name == "layer" else "right", no_wrap=True)
    for entry in report.layers:
        c = entry.get("compare_pj_per_sample")
        if c:
            compare.add_row(str(entry["index"]), entry["type"], *(_fmt(c[v]) for v in VARIANTS))
    totals = report.totals
    for label, key, ratio_key in (("neuron layers", "neuron_layers_pj_per_sample", "neuron_layers_ratio_to_mul_free"),
                                  ("whole network", "energy_pj_per_sample", "ratio_to_mul_free")):
        compare.add_row("", label, *(_fmt(totals[key][v]) for v in VARIANTS), style="bold")
        compare.add_row("", "  ratio to ours", *(_ratio(totals[ratio_key][v]) for v in VARIANTS))
    _print_whole(console, compare)
    if totals["may_overflow"]:
        console.print(f"[yellow]Layers whose accumulator may overflow (declared < required width): "
                      f"{totals['may_overflow']}[/yellow]")
