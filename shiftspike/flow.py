"""The whole flow as one sequence of steps: train, export, report, rtl, synth, verify, summary.

Each step calls the same function as its verb (``cli_train``, ``cli``,
``cli_rtl``, ``cli_flow``) and writes its files under the run directory; a
failure in any step raises :class:`FlowError`, one line naming the step and
the file to look at. ``docs/flow.md`` lists the files and how to run each step
alone.
"""

from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from shiftspike.sim.errors import ShiftspikeError

from .cli import CliError, _write_json, _write_plot, atomic_path

#: The steps, in order.
STEPS = ("train", "export", "report", "rtl", "synth", "verify", "summary")

#: Energy tables the report is priced with (``sim/energy_tables``); the first is the summary's.
ENERGY_TABLES = ("horowitz45", "literature")


class FlowError(ShiftspikeError):
    """A step failed: ``step``, the one-line ``reason`` and the ``file`` to look at."""

    def __init__(self, step: str, reason: str, file: Path):
        super().__init__(f"step {step} failed: {reason} (look at {file})")
        self.step, self.file = step, file


@dataclass(frozen=True)
class FlowOptions:
    """``lanes``: datapaths per core (capped at each layer's neurons); ``samples``: test samples driven
    through each core; ``target``: synthesis target; ``progress``: progress bars."""

    lanes: int = 2
    samples: int = 8
    target: str = "ice40-hx8k"
    progress: bool = True


class Paths:
    """Where each file of a run directory lives (relative names are what ``summary.md`` shows)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.train = self.root / "train"
        self.model = self.root / "model.ssm"
        self.export = self.root / "export.json"
        self.inputs = self.root / "test_inputs.npy"
        self.labels = self.root / "test_labels.npy"
        self.report = self.root / "report"
        self.rtl = self.root / "rtl"
        self.synth = self.root / "synth.json"
        self.verify = self.root / "verify"
        self.verdicts = self.root / "verify" / "verdicts.json"
        self.summary = self.root / "summary.md"
        self.facts = self.root / "summary.json"

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def _errors():
    """The exception types a step turns into a FlowError (user-facing, one line)."""
    from shiftspike.quant.checkpoint import CheckpointError
    from shiftspike.quant.config import ConfigError
    from shiftspike.quant.data import DataError
    from shiftspike.rtl_gen.tools import ToolError
    from shiftspike.sim import InputError, ModelError
    from shiftspike.sim.energy import EnergyTableError

    return (CliError, ConfigError, DataError, CheckpointError, ModelError, InputError, EnergyTableError, ToolError)


class Flow:
    """Runs the steps on ``cfg`` (a validated ``RunConfig``) into ``root``, printing on ``console``."""

    def __init__(self, cfg, root: Path, options: FlowOptions, console: Console | None = None):
        self.cfg, self.paths, self.options = cfg, Paths(root), options
        self.console = console or Console()
        self.facts: dict = {}

    @contextmanager
    def step(self, name: str, file: Path):
        """Announce step ``name``; turn its errors into a FlowError naming ``file``."""
        number = STEPS.index(name) + 1
        self.console.rule(f"[bold]step {number}/{len(STEPS)}: {name}")
        began = time.perf_counter()
        try:
            yield
        except _errors() as exc:
            hint = "; fewer --lanes make smaller cores" if "does not fit" in str(exc) or "I/O pins" in str(exc) else ""
            raise FlowError(name, f"{exc}{hint}", file) from None
        self.console.print(f"[green]done[/green]: {name} ({time.perf_counter() - began:.1f} s)")

    def run(self) -> dict:
        """All steps; returns the facts also written to ``summary.json``."""
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self.train()
        model, x = self.export()
        self.report(model, x)
        self.rtl(model)
        self.synth()
        self.verify(model, x)
        self.summary()
        return self.facts

    def train(self) -> None:
        from shiftspike.quant.train import train

        with self.step("train", self.paths.train):
            # resume: a finished run in the same directory is reused; a different config is refused
            summary = train(self.cfg, self.paths.train, resume=True, console=self.console,
                            progress=self.options.progress)
        self.facts["train"] = {"dataset": summary["dataset"], "epochs": summary["epochs"],
                               "qat_test_accuracy": summary["test_accuracy"]}

    def export(self):
        """The integer model, checked against the QAT model, and the integer test inputs it will run on."""
        from shiftspike.quant.export import export

        from .cli_flow import write_test_inputs
        from .cli_train import _print_export

        with self.step("export", self.paths.train / "checkpoint.pt"):
            with atomic_path(self.paths.model, ".ssm") as tmp:
                result = export(self.paths.train, tmp)
            _print_export(result, self.paths.model)
            check = result.check.to_json()
            _write_json(self.paths.export, {"check": check, "bounds": [b.to_json() for b in result.bounds]})
            if not result.check.exact:
                raise FlowError("export", f"{check['mismatches']} values of the integer model differ from the QAT "
                                          f"model; first: {check['first_mismatch']}", self.paths.export)
            x, _ = write_test_inputs(self.paths.train, self.paths.inputs, self.paths.labels)
        self.facts["export"] = {key: check[key] for key in ("samples", "mismatches", "qat_accuracy",
                                                            "integer_accuracy")}
        return result.model, x

    def report(self, model, x: np.ndarray) -> None:
        from shiftspike.sim.energy import load_table
        from shiftspike.sim.report import build_report, render

        folder = self.paths.report
        with self.step("report", self.paths.model):
            folder.mkdir(exist_ok=True)
            text = f"{self.facts['train']['dataset']} test split, B={x.shape[1]}, T={x.shape[0]}"
            reports = {}
            for name in ENERGY_TABLES:
                reports[name] = build_report(model, x, load_table(name), text)
                _write_json(folder / f"report-{name}.json", reports[name].to_json())
                _write_plot(folder / f"energy-{name}.png", reports[name])
            render(reports[ENERGY_TABLES[0]], self.console)
            with atomic_path(folder / "report.md", ".md") as tmp:
                tmp.write_text(report_markdown(reports))
        totals = reports[ENERGY_TABLES[0]]["totals"]
        self.facts["report"] = {name: r["totals"]["energy_pj_per_sample"] for name, r in reports.items()} | {
            "table": ENERGY_TABLES[0], "ratio_to_mul_free": totals["ratio_to_mul_free"],
            "may_overflow": totals["may_overflow"]}

    def lanes(self, model) -> int:
        return min([self.options.lanes] + [model.specs[i].features for i in model.neuron_layers()])

    def rtl(self, model) -> None:
        from .cli_rtl import cores_table, write_cores

        lanes = self.lanes(model)
        self.facts["rtl"] = {"lanes": lanes}
        with self.step("rtl", self.paths.model):
            for arith in ("shift", "mul"):
                folder = self.paths.rtl / arith
                shutil.rmtree(folder, ignore_errors=True)  # no core of an earlier run (other lanes) stays
                cores = write_cores(model, folder, lanes=lanes, arith=arith)
                self.console.print(cores_table(cores, f"neuron cores ({arith}, {lanes} lanes)"))
                for core in cores:
                    if core.warnings:
                        raise FlowError("rtl", f"Verilator lint: {core.warnings[0]}", core.verilog)
                self.facts["rtl"][arith] = [
                    {"layer": c.index, "top": c.top, "file": self.paths.rel(c.verilog),
                     "cycles_per_step": c.timing.cycles_per_step, "latency": c.timing.latency} for c in cores]

    def synth(self) -> None:
        from .cli_rtl import synth_table, synthesize_cores

        target = self.options.target
        rows = {}
        with self.step("synth", self.paths.rtl):
            for arith in ("shift", "mul"):
                # the comparison variant may not fit the device: that is a result, not a failure
                rows[arith] = synthesize_cores(self.paths.rtl / arith, target, self.options.progress,
                                               unfit_ok=arith == "mul")
                self.console.print(synth_table(rows[arith], f"synthesis ({arith}, {target})"))
            _write_json(self.paths.synth, {"target": target, **rows})
        self.facts["synth"] = {"target": target, **rows}

    def verify(self, model, x: np.ndarray) -> None:
        from shiftspike.rtl_gen.verify import SIMULATORS

        from .cli_rtl import verdict_json, verdicts_table, verify_cores

        with self.step("verify", self.paths.rtl / "shift"):
            samples = x[:, : self.options.samples]
            shutil.rmtree(self.paths.verify, ignore_errors=True)
            verdicts = verify_cores(model, samples, self.paths.rtl / "shift", list(SIMULATORS), self.paths.verify,
                                    progress=self.options.progress)
            self.console.print(verdicts_table(verdicts, "RTL (shift-add) against the simulator"))
            _write_json(self.paths.verdicts, {"verdicts": [verdict_json(v) for v in verdicts]})
            failed = [v for v in verdicts if not v.passed]
            if failed:
                v = failed[0]
                why = v.first_mismatch or f"{v.cycles} cycles != cycle model {v.expected_cycles}"
                raise FlowError("verify", f"{v.top} on {v.simulator}: {why}", self.paths.verdicts)
        # wall time and waveform paths stay in verdicts.json: the summary is the same for the same seed
        self.facts["verify"] = [{k: v for k, v in verdict_json(verdict).items() if k not in ("seconds", "waves")}
                                for verdict in verdicts]

    def summary(self) -> None:
        with self.step("summary", self.paths.summary):
            _write_json(self.paths.facts, self.facts)
            with atomic_path(self.paths.summary, ".md") as tmp:
                tmp.write_text(summary_markdown(self.facts, self.paths))
        self.console.print(f"summary: {self.paths.summary}")


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def report_markdown(reports: dict) -> str:
    """Markdown tables of the energy reports (``{table name: build_report dict}``): per neuron layer and
    for the whole network, the mul-free network against the multiplier networks, pJ per sample."""
    lines = ["# Energy report", ""]
    for name, report in reports.items():
        totals = report["totals"]
        lines += [f"## Energy table `{name}` ({report['energy_table']['convention']} counting)", "",
                  f"Input: {report['run']['input']}.", "",
                  "| layer | type | mul-free (pJ/sample) | multiplier per tap | PSN (T x T) |",
                  "|---|---|---:|---:|---:|"]
        for entry in report["layers"]:
            c = entry.get("compare_pj_per_sample")
            if c:
                lines.append(f"| {entry['index']} | {entry['type']} | {_fmt(c['mul_free'])} | {_fmt(c['mul_taps'])} "
                             f"| {_fmt(c['psn'])} |")
        e, r = totals["energy_pj_per_sample"], totals["ratio_to_mul_free"]
        lines += [f"| | **whole network** | **{_fmt(e['mul_free'])}** | **{_fmt(e['mul_taps'])}** "
                  f"| **{_fmt(e['psn'])}** |",
                  f"| | ratio to mul-free | 1.00x | {r['mul_taps']:.2f}x | {r['psn']:.2f}x |", ""]
    return "\n".join(lines)


def summary_markdown(facts: dict, paths: Paths) -> str:
    """``summary.md``: accuracy, exactness, energy, area, Fmax, cycles, verdicts and where each file is."""
    train, export, report, rtl = facts["train"], facts["export"], facts["report"], facts["rtl"]
    synth, verify = facts["synth"], facts["verify"]
    energy, ratio = report[report["table"]], report["ratio_to_mul_free"]
    passed = sum(v["passed"] for v in verify)
    lines = [
        "# shiftspike flow summary", "",
        f"Dataset `{train['dataset']}`, {train['epochs']} epochs of quantization-aware training of the "
        "multiplication-free network, exported to an integer model and turned into Verilog.", "",
        "## Accuracy and exactness", "",
        f"* QAT model (eval): test accuracy **{export['qat_accuracy']:.4f}**",
        f"* integer model (Numba simulator): test accuracy **{export['integer_accuracy']:.4f}**",
        f"* exactness: **{export['mismatches']} mismatches** between the integer model and the QAT model over "
        f"every layer's output on {export['samples']} test samples", "",
        f"## Energy (table `{report['table']}`, pJ per sample on the test split)", "",
        "| network | pJ/sample | relative to mul-free |", "|---|---:|---:|",
        f"| mul-free (this network) | {_fmt(energy['mul_free'])} | 1.00x |",
        f"| same network, multiplier per tap | {_fmt(energy['mul_taps'])} | {ratio['mul_taps']:.2f}x |",
        f"| same network, PSN neurons (T x T) | {_fmt(energy['psn'])} | {ratio['psn']:.2f}x |", "",
        f"## Hardware ({synth['target']}, {rtl['lanes']} lanes per core)", "",
        "| layer | variant | module | LUTs | FFs | RAM | multipliers | Fmax MHz | cycles/time step | updates/s |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for arith in ("shift", "mul"):
        for row in synth[arith]:
            fmax, ups = row["fmax_mhz"], row["updates_per_second"]
            cells = " | ".join("does not fit" if row.get("does_not_fit") else str(row[key])
                               for key in ("luts", "ffs", "ram_blocks", "multipliers"))
            lines.append(f"| {row['layer']} | {arith} | `{row['top']}` | {cells} | "
                         f"{'-' if fmax is None else f'{fmax:.1f}'} | {row['cycles_per_step']} | "
                         f"{'-' if ups is None else f'{ups:.3g}'} |")
    lines += ["", f"## RTL verification: {passed} of {len(verify)} passed", "",
              "Each shift-add core, driven by the currents of real test samples (first sample without stalls, "
              "the others with random stalls and a reset in mid-stream), against the simulator, time step by "
              "time step.", "",
              "| layer | module | simulator | samples x steps | mismatches | cycles (model) | verdict |",
              "|---:|---|---|---|---:|---|---|"]
    for v in verify:
        lines.append(f"| {v['layer']} | `{v['top']}` | {v['simulator']} | {v['samples']} x {v['steps']} | "
                     f"{v['mismatches']} | {v['cycles']} ({v['expected_cycles']}) | "
                     f"{'passed' if v['passed'] else 'FAILED: ' + str(v['first_mismatch'])} |")
    files = [
        (paths.train, "training run: config.json, metrics.jsonl, checkpoint.pt, summary.json"),
        (paths.model, "integer model (docs/model-format.md)"),
        (paths.export, "exactness check per layer and bound analysis"),
        (paths.inputs, "integer test inputs [T, B, features]; labels in test_labels.npy"),
        (paths.report, "report-*.json, report.md, energy-*.png (energy per layer by operation kind)"),
        (paths.rtl / "shift", "shift-add cores: <module>.v, sidecar .json, single-layer model .ssm"),
        (paths.rtl / "mul", "multiplier cores, for comparison"),
        (paths.synth, "synthesis results of both variants"),
        (paths.verdicts, "verification verdicts; builds and logs in verify/<module>/<simulator>/"),
        (paths.facts, "every number of this summary"),
    ]
    lines += ["", "## Files", "", "| path | what |", "|---|---|"]
    lines += [f"| `{paths.rel(path)}` | {what} |" for path, what in files]
    return "\n".join(lines) + "\n"
