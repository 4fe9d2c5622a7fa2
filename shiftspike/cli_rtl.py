"""The ``rtl`` and ``synth`` verbs: Verilog for the neuron layers of a model, and its area and speed.

``rtl`` writes ``<top>.v`` and ``<top>.json`` (the sidecar: ports, widths, lanes
and cycle model) per neuron layer and lints them with Verilator. ``synth``
runs Yosys (and nextpnr for iCE40) on every core of such a folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from .cli import CliError, _load_model, _write_json, atomic_path
from .cli_train import _positive


def _tables():
    """A rich console (wide enough for the tables when the output is not a terminal) and the table class."""
    import sys

    from rich.console import Console
    from rich.table import Table

    return Console(width=None if sys.stdout.isatty() else 160), Table


def cmd_rtl(args) -> None:
    from shiftspike.rtl_gen.generate import core_params, sidecar, to_verilog, top_name
    from shiftspike.rtl_gen.tools import LINT_WAIVERS, ToolError, lint

    model = _load_model(args.model)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise CliError(f"{out}: exists and is not a directory")
    neurons = model.neuron_layers()
    if not neurons:
        raise CliError(f"{args.model}: the model has no neuron layer")
    if args.layer is not None and args.layer not in neurons:
        raise CliError(f"--layer {args.layer} is not a neuron layer; the neuron layers are {neurons}")
    cores = []
    for index in neurons if args.layer is None else [args.layer]:
        features = model.specs[index].features
        if args.lanes is not None and args.lanes > features:
            raise CliError(f"--lanes {args.lanes} exceeds the {features} neurons of layer {index}")
        params = core_params(model, index, args.lanes, args.arith, args.loadable, not args.no_debug)
        name = top_name(index, params)
        text = to_verilog(params, name)
        cores.append((index, params, name, text, sidecar(model, index, params, name, text)))
    out.mkdir(parents=True, exist_ok=True)
    console, Table = _tables()
    table = Table(title=f"neuron cores of {args.model} ({args.arith})")
    for column in ("layer", "module", "neurons", "lanes", "cycles/step", "latency", "history", "lint"):
        table.add_column(column, justify="left" if column in ("module", "history", "lint") else "right")
    problems = []
    for index, params, name, text, meta in cores:
        with atomic_path(out / f"{name}.v", ".v") as tmp:
            tmp.write_text(text)
        _write_json(out / f"{name}.json", meta)
        try:
            warnings = lint(out / f"{name}.v", name)
        except ToolError as exc:
            raise CliError(str(exc)) from None
        problems += warnings
        timing = params.timing
        table.add_row(str(index), name, str(timing.neurons), str(timing.lanes), str(timing.cycles_per_step),
                      str(timing.latency), f"{timing.history} ({timing.history_bits} bits)",
                      "clean" if not warnings else f"{len(warnings)} warnings")
    console.print(table)
    print(f"wrote {len(cores)} cores to {out} (Verilog + JSON sidecar each); "
          f"Verilator lint -Wall with the waivers of {LINT_WAIVERS.name}")
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


def cmd_synth(args) -> None:
    from rich.progress import Progress

    from shiftspike.rtl_gen.synth import TARGETS, SynthError, synthesize

    if args.target not in TARGETS:
        raise CliError(f"unknown target {args.target!r}; choose one of {', '.join(TARGETS)}")
    cores = _sidecars(Path(args.folder))
    rows = []
    with Progress(transient=True, disable=args.no_progress) as progress:
        task = progress.add_task(f"synthesizing for {args.target}", total=len(cores))
        for verilog, meta in cores:
            try:
                rows.append(synth_row(meta, synthesize(verilog, meta["top"], args.target)))
            except SynthError as exc:
                raise CliError(f"{verilog.name}: {exc}") from None
            progress.advance(task)
    console, Table = _tables()
    table = Table(title=f"synthesis ({args.target})")
    for column in ("module", "LUTs", "FFs", "RAM", "multipliers", "Fmax MHz", "cycles/step", "updates/s"):
        table.add_column(column, justify="left" if column == "module" else "right")
    for row in rows:
        fmax, ups = row["fmax_mhz"], row["updates_per_second"]
        table.add_row(row["top"], str(row["luts"]), str(row["ffs"]), str(row["ram_blocks"]), str(row["multipliers"]),
                      "-" if fmax is None else f"{fmax:.1f}", str(row["cycles_per_step"]),
                      "-" if ups is None else f"{ups:.3g}")
    console.print(table)
    if args.json:
        _write_json(Path(args.json), {"target": args.target, "cores": rows})
        print(f"wrote {args.json}")


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
