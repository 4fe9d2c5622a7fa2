"""The ``rtl``, ``synth`` and ``verify`` verbs: Verilog for the neuron layers of a model, its area and
speed, and its equality with the simulator. The work is ``shiftspike.rtl_gen.cores``'s; this module parses,
renders tables and progress bars."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from shiftspike.sim.errors import ShiftspikeError

from .cli_common import bounded_int, console, core_files, lanes_list, load_input, positive, refuse_overwrite

#: Most lanes an argument may ask for (a core has at most as many lanes as its layer has neurons).
MAX_LANES = 2**16
#: Largest layer index an argument may name (a model file holds at most a few thousand layers).
MAX_LAYER = 2**16


@contextmanager
def progress_bar(enabled: bool = True):
    """A transient rich progress bar; yields the ``progress(done, total, what)`` callback the library takes."""
    from rich.progress import Progress

    with Progress(transient=True, disable=not enabled) as bar:
        task = bar.add_task("", total=None)

        def update(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        yield update


def cores_table(cores, title: str):
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


def synth_table(rows: list[dict], title: str):
    """A rich table of synthesis rows: nextpnr logic cells (Yosys LUTs on ``generic``), FFs, RAM, DSPs,
    multipliers, Fmax, cycles per step, updates per second."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("module", "logic cells", "FFs", "RAM", "DSPs", "multipliers", "Fmax MHz", "cycles/step",
                   "updates/s"):
        table.add_column(column, justify="left" if column == "module" else "right")
    for row in rows:
        fmax, ups = row["fmax_mhz"], row["updates_per_second"]
        cells = ["does not fit" if row.get("does_not_fit") else str(row[key])
                 for key in ("logic_cells", "ffs", "ram_blocks", "dsps", "multipliers")]
        table.add_row(row["top"], *cells, "-" if fmax is None else f"{fmax:.1f}", str(row["cycles_per_step"]),
                      "-" if ups is None else f"{ups:.3g}")
    return table


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


def network_table(folder, title: str):
    """A rich table of a network's engines: layer, type, engine, lanes, groups, cycles per step at most."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("layer", "type", "engine", "lanes", "groups", "bits/op", "cycles/step (at most)"):
        table.add_column(column, justify="left" if column in ("type", "engine") else "right")
    for layer, engine in zip(folder.model.layers, folder.plan.engines):
        table.add_row(str(engine.index), layer.type, engine.engine, str(engine.lanes), str(engine.groups),
                      str(engine.bits), str(engine.worst_cost))
    return table


def network_verdicts_table(runs: list, title: str):
    """A rich table of the network's verification runs: run, simulator, samples, class-exact, values
    differing, cycles against the model, verdict."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("run", "simulator", "samples", "class-exact", "values differing", "cycles = model", "seconds",
                   "verdict"):
        table.add_column(column, justify="left" if column in ("run", "simulator", "verdict") else "right")
    for run, v in runs:
        table.add_row(run, v.simulator, str(v.samples), str(v.class_exact), str(v.mismatches),
                      "yes" if v.cycles == v.expected_cycles and not v.cycle_deviations else "no", f"{v.seconds:.1f}",
                      "[green]passed[/green]" if v.passed else "[red]FAILED[/red]")
    return table


def cmd_rtl_network(args, model) -> None:
    from shiftspike.rtl_gen.network_folder import write_network_folder
    from shiftspike.rtl_gen.tools import LINT_WAIVERS

    if args.layer is not None or args.loadable:
        raise ShiftspikeError("--network generates the whole model: --layer and --loadable do not apply")
    from shiftspike.sim.trace import check_input

    lanes = args.layer_lanes if args.layer_lanes is not None else args.lanes
    x = None if args.input is None else check_input(model, load_input(args.input))
    folder = write_network_folder(model, Path(args.output), lanes, args.arith, not args.no_debug, x)
    console().print(network_table(folder, f"network accelerator of {args.model} ({args.arith})"))
    print(f"wrote {folder.verilog} (module {folder.top}), its sidecar and model to {args.output}; "
          f"Verilator lint -Wall with the waivers of {LINT_WAIVERS.name}")
    if folder.warnings:
        print("\n".join(folder.warnings))
        raise SystemExit(1)


def cmd_rtl(args) -> None:
    from shiftspike.rtl_gen.cores import write_cores
    from shiftspike.rtl_gen.tools import LINT_WAIVERS
    from shiftspike.sim import load

    model = load(args.model)
    if args.network:
        return cmd_rtl_network(args, model)
    if args.layer_lanes is not None or args.input is not None:
        raise ShiftspikeError("--layer-lanes and --input apply to --network only")
    cores = write_cores(model, Path(args.output), None if args.layer is None else [args.layer], args.lanes,
                        args.arith, args.loadable, not args.no_debug)
    console().print(cores_table(cores, f"neuron cores of {args.model} ({args.arith})"))
    print(f"wrote {len(cores)} cores to {args.output} (Verilog, JSON sidecar and single-layer model each); "
          f"Verilator lint -Wall with the waivers of {LINT_WAIVERS.name}")
    problems = [line for core in cores for line in core.warnings]
    if problems:
        print("\n".join(problems))
        raise SystemExit(1)


def network_synth_table(row: dict, title: str):
    """A rich table of one network's synthesis row with its cycle-model figures at Fmax."""
    from rich.table import Table

    table = Table(title=title)
    columns = {"logic cells": "logic_cells", "FFs": "ffs", "block RAM": "ram_blocks", "DSPs": "dsps",
               "Fmax MHz": "fmax_mhz", "cycles/sample": "cycles_per_sample", "µs/sample": "latency_us",
               "samples/s": "samples_per_second"}
    table.add_column("module")
    for column in columns:
        table.add_column(column, justify="right")
    cells = [row.get(key) for key in columns.values()]
    table.add_row(row["top"], *("-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v) for v in cells))
    return table


def cmd_synth_network(args) -> None:
    from shiftspike.rtl_gen.network_folder import read_network_folder, synthesize_network
    from shiftspike.sim.safe_io import write_json
    from shiftspike.sim.trace import check_input

    folder = read_network_folder(Path(args.folder))
    x = None if args.input is None else check_input(folder.model, load_input(args.input))
    row = synthesize_network(folder, args.target, x)
    what = "the input's samples" if x is not None else "the slowest sample (every input value non-zero)"
    console().print(network_synth_table(row, f"network synthesis ({args.target}); cycles for {what}"))
    if args.json:
        write_json(args.json, {"target": args.target, "network": row})
        print(f"wrote {args.json}")


def cmd_synth(args) -> None:
    from shiftspike.rtl_gen.cores import synthesize_cores
    from shiftspike.rtl_gen.network_folder import is_network_folder
    from shiftspike.sim.safe_io import check_writable, write_json

    refuse_overwrite({"--json": args.json}, core_files("folder", args.folder) | {"--input": args.input})
    if args.json:
        check_writable(args.json)
    if Path(args.folder).is_dir() and is_network_folder(Path(args.folder)):
        return cmd_synth_network(args)
    if args.input is not None:
        raise ShiftspikeError("--input applies to a network folder (`shiftspike rtl --network`) only")
    with progress_bar(not args.no_progress) as progress:
        rows = synthesize_cores(Path(args.folder), args.target, progress=progress)
    console().print(synth_table(rows, f"synthesis ({args.target})"))
    if args.json:
        write_json(args.json, {"target": args.target, "cores": rows})
        print(f"wrote {args.json}")


def cmd_verify(args) -> None:
    from shiftspike.rtl_gen.cores import verdict_json, verify_cores
    from shiftspike.rtl_gen.network_folder import is_network_folder
    from shiftspike.rtl_gen.verify import SIMULATORS
    from shiftspike.sim import load
    from shiftspike.sim.safe_io import check_writable, write_json
    from shiftspike.sim.trace import check_input

    refuse_overwrite({"--json": args.json},
                     {"--model": args.model, "--input": args.input} | core_files("rtl_dir", args.rtl_dir))
    if args.json:
        check_writable(args.json)
    model = load(args.model)
    x = check_input(model, load_input(args.input))[:, : args.samples]
    simulators = list(SIMULATORS) if args.simulator == "both" else [args.simulator]
    workdir = Path(args.workdir) if args.workdir else Path(args.rtl_dir) / "verify"
    if Path(args.rtl_dir).is_dir() and is_network_folder(Path(args.rtl_dir)):
        return verify_network_folder(args, model, x, simulators, workdir)
    with progress_bar(not args.no_progress) as progress:
        verdicts = verify_cores(model, x, Path(args.rtl_dir), simulators, workdir, progress=progress)
    console().print(verdicts_table(verdicts, f"RTL against the simulator ({args.rtl_dir})"))
    if args.json:
        write_json(args.json, {"verdicts": [verdict_json(v) for v in verdicts]})
        print(f"wrote {args.json}")
    failed = [v for v in verdicts if not v.passed]
    for v in failed:
        print(f"{v.top} on {v.simulator}: {v.first_mismatch or f'{v.cycles} cycles != model {v.expected_cycles}'}")
    if failed:
        raise SystemExit(1)


def verify_network_folder(args, model, x, simulators: list[str], workdir: Path) -> None:
    """``verify`` on a network folder: every simulator, random stalls and resets, every layer compared."""
    from shiftspike.rtl_gen.verify_network import verify_network
    from shiftspike.sim.safe_io import write_json

    runs = [("stalls and resets, every layer", verify_network(Path(args.rtl_dir), model, x, simulator,
                                                              workdir / simulator)) for simulator in simulators]
    console().print(network_verdicts_table(runs, f"the network against the simulator ({args.rtl_dir})"))
    if args.json:
        write_json(args.json, {"network": [v.to_json() | {"run": run} for run, v in runs]})
        print(f"wrote {args.json}")
    failed = [v for _, v in runs if not v.passed]
    for v in failed:
        print(f"{v.top} on {v.simulator}: {v.first_mismatch or 'cycles differ from the cycle model'}")
    if failed:
        raise SystemExit(1)


def add_verbs(verbs) -> None:
    from shiftspike.rtl_gen import ARITHS
    from shiftspike.rtl_gen.synth import TARGETS

    p = verbs.add_parser("rtl", help="generate Verilog for the neuron layers of an integer model")
    p.add_argument("model", help="integer model file")
    p.add_argument("-o", "--output", required=True, help="directory for <module>.v and <module>.json")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--layer", type=bounded_int(0, MAX_LAYER), help="only this layer (an index of a neuron layer)")
    which.add_argument("--all", action="store_true", help="every neuron layer (the default)")
    p.add_argument("--lanes", type=bounded_int(1, MAX_LANES),
                   help="datapaths P per core, capped at each layer's neurons (default: the layer's neurons)")
    p.add_argument("--arith", choices=ARITHS, default="shift", help="shift-add (default) or true multipliers")
    p.add_argument("--loadable", action="store_true", help="taps and thresholds in registers behind a load port")
    p.add_argument("--no-debug", action="store_true",
                   help="no membrane values in the output beats (with --network: no per-layer debug ports)")
    p.add_argument("--network", action="store_true",
                   help="one top-level module for the whole model: streaming input, class output; --lanes then "
                        "sets the lanes the costliest layer gets, and the others are balanced to it")
    p.add_argument("--input", help="with --network: sample inputs .npy [T, B, features] whose activity the lanes are "
                                   "balanced on (default: every input value non-zero)")
    p.add_argument("--layer-lanes", type=lanes_list, metavar="P0,P1,...",
                   help="with --network: the lanes of every layer, one value per layer (overrides the balancing)")
    p.set_defaults(func=cmd_rtl)

    p = verbs.add_parser("synth", help="synthesize the cores of an `rtl` folder: logic cells, RAM, Fmax")
    p.add_argument("folder", help="directory written by `shiftspike rtl`")
    p.add_argument("--target", default="ice40-hx8k", help=f"one of {', '.join(TARGETS)} (default: ice40-hx8k)")
    p.add_argument("--json", help="also write the results as JSON here")
    p.add_argument("--input", help="network folder only: model input .npy [T, B, features] whose samples give "
                                   "the cycles per sample (default: the slowest sample)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_synth)

    p = verbs.add_parser("verify", help="run the cores of an `rtl` folder on Icarus/Verilator against the simulator")
    p.add_argument("rtl_dir", help="directory written by `shiftspike rtl`")
    p.add_argument("--model", required=True, help="the integer model the cores were generated from")
    p.add_argument("--input", required=True, help="model input .npy [T, B, features]; each core gets its layer's input")
    p.add_argument("--samples", type=positive, default=8, help="use the first N samples of the input (default 8)")
    p.add_argument("--simulator", choices=("icarus", "verilator", "both"), default="both")
    p.add_argument("--workdir", help="build and log folder (default: RTL_DIR/verify)")
    p.add_argument("--json", help="also write the verdicts as JSON here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_verify)
