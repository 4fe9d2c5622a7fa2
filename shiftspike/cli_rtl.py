"""The ``rtl``, ``synth`` and ``verify`` verbs: Verilog for the neuron layers of a model, its area and
speed, and its equality with the simulator.

``rtl`` writes ``<top>.v``, ``<top>.json`` (the sidecar: ports, widths, lanes
and cycle model) and ``<top>.ssm`` (the single-layer model the core computes)
per neuron layer and lints them with Verilator. ``synth`` runs Yosys (and
nextpnr for iCE40) on every core of such a folder. ``verify`` runs every core of
such a folder on Icarus and Verilator with the currents of a model input and
compares it with the simulator (``rtl_gen/verify.py``). The flow
(``flow.py``) calls the same functions.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from shiftspike.sim.cycles import CoreTiming

from .cli import CliError, _load_array, _load_model, _write_json
from .cli_train import _positive


def _console():
    """A rich console, wide enough for the tables when the output is not a terminal."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


@dataclass(frozen=True)
class WrittenCore:
    """One core ``write_cores`` wrote: neuron layer ``index``, its files and its Verilator lint lines."""

    index: int
    top: str
    verilog: Path
    timing: CoreTiming
    warnings: list[str]


def write_cores(model, out: Path, layers: list[int] | None = None, lanes: int | None = None, arith: str = "shift",
                loadable: bool = False, debug: bool = True) -> list[WrittenCore]:
    """Write ``<top>.v``, its sidecar ``<top>.json`` and its single-layer model ``<top>.ssm`` (the layer the
    core computes, which ``verify`` checks it against) for each neuron layer in ``layers`` (default: all)
    into ``out``, each file atomically, and lint every Verilog file."""
    from shiftspike.rtl_gen.generate import build_core, write_core
    from shiftspike.rtl_gen.tools import ToolError, lint

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CliError(f"{out}: exists and is not a directory")
    neurons = model.neuron_layers()
    if not neurons:
        raise CliError("the model has no neuron layer")
    for index in layers or []:
        if index not in neurons:
            raise CliError(f"--layer {index} is not a neuron layer; the neuron layers are {neurons}")
    cores = []
    for index in layers or neurons:
        features = model.specs[index].features
        if lanes is not None and lanes > features:
            raise CliError(f"--lanes {lanes} exceeds the {features} neurons of layer {index}")
        cores.append((index, build_core(model, index, lanes=lanes, arith=arith, loadable=loadable, debug=debug)))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for index, core in cores:
        verilog, _ = write_core(core, out)
        try:
            warnings = lint(verilog, core.top)
        except ToolError as exc:
            raise CliError(str(exc)) from None
        written.append(WrittenCore(index, core.top, verilog, core.params.timing, warnings))
    return written


def cores_table(cores: list[WrittenCore], title: str):
    """A rich table of written cores: layer, module, neurons, lanes, cycle model, history, lint."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("layer", "module", "neurons", "lanes", "cycles/step", "latency", "history", "lint"):
        table.add_column(column, justify="left" if column in ("module", "history", "lint") else "right")
    for core in cores:
        timing = core.timing
        table.add_row(str(core.index), core.top, str(timing.neurons), str(timing.lanes), str(timing.cycles_per_step),
                      str(timing.latency), f"{timing.history} ({timing.history_bits} bits)",
                      "clean" if not core.warnings else f"{len(core.warnings)} warnings")
    return table


def cmd_rtl(args) -> None:
    from shiftspike.rtl_gen.tools import LINT_WAIVERS

    model = _load_model(args.model)
    if not model.neuron_layers():
        raise CliError(f"{args.model}: the model has no neuron layer")
    cores = write_cores(model, Path(args.output), None if args.layer is None else [args.layer], args.lanes,
                        args.arith, args.loadable, not args.no_debug)
    _console().print(cores_table(cores, f"neuron cores of {args.model} ({args.arith})"))
    print(f"wrote {len(cores)} cores to {args.output} (Verilog, JSON sidecar and single-layer model each); "
          f"Verilator lint -Wall with the waivers of {LINT_WAIVERS.name}")
    problems = [line for core in cores for line in core.warnings]
    if problems:
        print("\n".join(problems))
        raise SystemExit(1)


def _sidecars(folder: Path) -> list[tuple[Path, dict]]:
    from shiftspike.rtl_gen.generate import SIDECAR_FORMAT

    if not folder.is_dir():
        raise CliError(f"{folder}: no such directory")
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            meta = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CliError(f"{path}: not a JSON file ({exc})") from None
        if isinstance(meta, dict) and meta.get("format") == SIDECAR_FORMAT:
            verilog = folder / f"{meta['top']}.v"
            if not verilog.is_file():
                raise CliError(f"{path}: its Verilog {verilog.name} is missing")
            found.append((verilog, meta))
    if not found:
        raise CliError(f"{folder}: no core sidecars (*.json written by `shiftspike rtl`)")
    return found


def synth_row(meta: dict, result: dict) -> dict:
    """One core's synthesis result with its cycle-model throughput at Fmax."""
    from shiftspike.sim.cycles import CoreTiming

    timing = CoreTiming(**meta["timing"])
    fmax = result.get("fmax_mhz")
    return {
        "top": meta["top"], "layer": meta["layer"], "arith": meta["arith"], "loadable": meta["loadable"],
        "neurons": timing.neurons, "lanes": timing.lanes, "taps": meta["neuron"]["taps"],
        "dilation": meta["neuron"]["dilation"], "cycles_per_step": timing.cycles_per_step,
        "latency": timing.latency, **result,
        "updates_per_second": None if fmax is None else timing.updates_per_second(fmax * 1e6),
    }


def synthesize_cores(folder: Path, target: str, progress: bool = True, unfit_ok: bool = False) -> list[dict]:
    """Synthesize every core of an ``rtl`` folder for ``target``; one :func:`synth_row` per core, in the
    folder's order. The cores run in parallel, one Yosys/nextpnr process per CPU core (each run is seeded,
    so the rows do not depend on the order they finish in). With ``unfit_ok`` a core too large for the
    device is a row with ``does_not_fit`` (the reason) and no numbers, as in the area benchmark, rather
    than an error."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from rich.progress import Progress

    from shiftspike.rtl_gen.synth import TARGETS, SynthError, synthesize

    if target not in TARGETS:
        raise CliError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    cores = _sidecars(Path(folder))

    def one(verilog: Path, meta: dict) -> dict:
        try:
            return synth_row(meta, synthesize(verilog, meta["top"], target))
        except SynthError as exc:
            if not (unfit_ok and str(exc).startswith("does not fit")):
                raise CliError(f"{verilog}: {exc}") from None
            return synth_row(meta, {"target": target, "top": meta["top"], "does_not_fit": str(exc)} | {
                key: None for key in ("luts", "ffs", "ram_blocks", "multipliers", "fmax_mhz")})

    workers = max(1, min(len(cores), os.cpu_count() or 1))
    with Progress(transient=True, disable=not progress) as bar, ThreadPoolExecutor(workers) as pool:
        task = bar.add_task(f"synthesizing for {target}", total=len(cores))
        futures = [pool.submit(one, verilog, meta) for verilog, meta in cores]
        for _ in as_completed(futures):
            bar.advance(task)
        return [future.result() for future in futures]


def synth_table(rows: list[dict], title: str):
    """A rich table of :func:`synth_row` rows: cells, Fmax, cycles per step, updates per second."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("module", "LUTs", "FFs", "RAM", "multipliers", "Fmax MHz", "cycles/step", "updates/s"):
        table.add_column(column, justify="left" if column == "module" else "right")
    for row in rows:
        fmax, ups = row["fmax_mhz"], row["updates_per_second"]
        cells = ["does not fit" if row.get("does_not_fit") else str(row[key])
                 for key in ("luts", "ffs", "ram_blocks", "multipliers")]
        table.add_row(row["top"], *cells, "-" if fmax is None else f"{fmax:.1f}", str(row["cycles_per_step"]),
                      "-" if ups is None else f"{ups:.3g}")
    return table


def cmd_synth(args) -> None:
    rows = synthesize_cores(Path(args.folder), args.target, progress=not args.no_progress)
    _console().print(synth_table(rows, f"synthesis ({args.target})"))
    if args.json:
        _write_json(Path(args.json), {"target": args.target, "cores": rows})
        print(f"wrote {args.json}")


def layer_currents(model, x: np.ndarray) -> dict[int, np.ndarray]:
    """Each neuron layer's integer input ``[T, B, features]`` when ``model`` runs on ``x [T, B, features]``."""
    from shiftspike.sim import run

    outputs = run(model, x).outputs
    return {i: x if i == 0 else outputs[i - 1] for i in model.neuron_layers()}


def _same_layer(a, b) -> bool:
    return type(a) is type(b) and all(np.array_equal(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))


def verify_cores(model, x: np.ndarray, rtl_dir: Path, simulators: list[str], workdir: Path,
                 progress: bool = True) -> list:
    """Verify every core of ``rtl_dir`` on each simulator with the currents of ``model`` run on
    ``x [T, B, features]``; each (core, simulator) builds in ``workdir/<top>/<simulator>``. Returns the
    :class:`~shiftspike.rtl_gen.verify.Verdict` list, in core then simulator order."""
    from rich.progress import Progress

    from shiftspike.rtl_gen.verify import VerifyError, load_core, verify_core

    currents = layer_currents(model, x)
    cores = []
    for _, meta in _sidecars(Path(rtl_dir)):
        layer = meta["layer"]
        try:
            core = load_core(Path(rtl_dir), layer, meta["top"])
        except VerifyError as exc:
            raise CliError(str(exc)) from None
        if layer not in currents or not _same_layer(core.layer, model.layers[layer]):
            raise CliError(f"{core.verilog}: was not generated from this model (its layer {layer} differs)")
        cores.append(core)
    verdicts = []
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task("verifying cores", total=len(cores) * len(simulators))
        for core in cores:
            for simulator in simulators:
                bar.update(task, description=f"{core.top} on {simulator}")
                try:
                    verdicts.append(verify_core(Path(rtl_dir), core.sidecar["layer"], currents[core.sidecar["layer"]],
                                                simulator, Path(workdir) / core.top / simulator, top=core.top))
                except VerifyError as exc:
                    raise CliError(str(exc)) from None
                bar.advance(task)
    return verdicts


def verdict_json(verdict) -> dict:
    """A :class:`~shiftspike.rtl_gen.verify.Verdict` as a JSON dict, with ``passed``."""
    return {f.name: (str(v) if isinstance(v := getattr(verdict, f.name), Path) else v) for f in fields(verdict)} | {
        "passed": verdict.passed}


def verdicts_table(verdicts: list, title: str):
    """A rich table of verdicts: module, simulator, samples x steps, mismatches, cycles against the model."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("layer", "module", "simulator", "samples x steps", "mismatches", "cycles (model)", "seconds",
                   "verdict"):
        table.add_column(column, justify="left" if column in ("module", "simulator", "verdict") else "right")
    for v in verdicts:
        table.add_row(str(v.layer), v.top, v.simulator, f"{v.samples} x {v.steps}", str(v.mismatches),
                      f"{v.cycles} ({v.expected_cycles})", f"{v.seconds:.1f}",
                      "[green]passed[/green]" if v.passed else "[red]FAILED[/red]")
    return table


def cmd_verify(args) -> None:
    from shiftspike.sim.trace import check_input

    model = _load_model(args.model)
    x = check_input(model, _load_array(args.input))[:, : args.samples]
    simulators = ["icarus", "verilator"] if args.simulator == "both" else [args.simulator]
    workdir = Path(args.workdir) if args.workdir else Path(args.rtl_dir) / "verify"
    verdicts = verify_cores(model, x, Path(args.rtl_dir), simulators, workdir, progress=not args.no_progress)
    _console().print(verdicts_table(verdicts, f"RTL against the simulator ({args.rtl_dir})"))
    if args.json:
        _write_json(Path(args.json), {"verdicts": [verdict_json(v) for v in verdicts]})
        print(f"wrote {args.json}")
    failed = [v for v in verdicts if not v.passed]
    for v in failed:
        print(f"{v.top} on {v.simulator}: {v.first_mismatch or f'{v.cycles} cycles != model {v.expected_cycles}'}")
    if failed:
        raise SystemExit(1)


def add_verbs(verbs) -> None:
    from shiftspike.rtl_gen import ARITHS
    from shiftspike.rtl_gen.synth import TARGETS

    p = verbs.add_parser("rtl", help="generate Verilog for the neuron layers of an integer model")
    p.add_argument("model", help="integer model file")
    p.add_argument("-o", "--output", required=True, help="directory for <module>.v and <module>.json")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--layer", type=int, help="only this layer (an index of a neuron layer)")
    which.add_argument("--all", action="store_true", help="every neuron layer (the default)")
    p.add_argument("--lanes", type=_positive, help="datapaths P, 1 <= P <= neurons (default: the layer's channels)")
    p.add_argument("--arith", choices=ARITHS, default="shift", help="shift-add (default) or true multipliers")
    p.add_argument("--loadable", action="store_true", help="taps and thresholds in registers behind a load port")
    p.add_argument("--no-debug", action="store_true", help="no membrane values in the output beats")
    p.set_defaults(func=cmd_rtl)

    p = verbs.add_parser("synth", help="synthesize the cores of an `rtl` folder: area, Fmax, cell counts")
    p.add_argument("folder", help="directory written by `shiftspike rtl`")
    p.add_argument("--target", default="ice40-hx8k", help=f"one of {', '.join(TARGETS)} (default: ice40-hx8k)")
    p.add_argument("--json", help="also write the results as JSON here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_synth)

    p = verbs.add_parser("verify", help="run the cores of an `rtl` folder on Icarus/Verilator against the simulator")
    p.add_argument("rtl_dir", help="directory written by `shiftspike rtl`")
    p.add_argument("--model", required=True, help="the integer model the cores were generated from")
    p.add_argument("--input", required=True, help="model input .npy [T, B, features]; each core gets its layer's input")
    p.add_argument("--samples", type=_positive, default=8, help="use the first N samples of the input (default 8)")
    p.add_argument("--simulator", choices=("icarus", "verilator", "both"), default="both")
    p.add_argument("--workdir", help="build and log folder (default: RTL_DIR/verify)")
    p.add_argument("--json", help="also write the verdicts as JSON here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_verify)
