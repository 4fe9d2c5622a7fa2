"""The ``flow`` verb (also ``demo``): the steps of ``shiftspike.build`` on a run folder, all of them or a
slice (``--from``/``--to``), each step's result rendered as it finishes; and ``inputs``: a run's test split as
integer model input. Importing this module does not import torch; the verbs do."""

from __future__ import annotations

import time
from pathlib import Path

from shiftspike.sim.errors import ShiftspikeError

from .cli_common import bounded_int, console, positive, positive_width, refuse_overwrite, seed
from .cli_rtl import (MAX_LANES, cores_table, network_synth_table, network_table, network_verdicts_table,
                      synth_table, verdicts_table)
from .cli_train import print_export, resolve_config


def cmd_inputs(args) -> None:
    import numpy as np

    from shiftspike.quant.inputs import run_test_split
    from shiftspike.sim.safe_io import Outputs

    refuse_overwrite({"-o": args.output, "--labels": args.labels}, {"run": str(Path(args.run) / "config.json")})
    with Outputs() as outputs:
        x_tmp = outputs.stage(args.output, ".npy")
        y_tmp = outputs.stage(args.labels, ".npy") if args.labels else None
        x, y = run_test_split(Path(args.run), samples=args.samples)
        np.save(x_tmp, x, allow_pickle=False)
        if y_tmp:
            np.save(y_tmp, y, allow_pickle=False)
    print(f"wrote {args.output}: {x.shape} {x.dtype}" + (f" and {args.labels}" if args.labels else ""))


def _render(result, out) -> None:
    """Show a step's result: its tables, as the verbs of the steps show them."""
    data = result.data
    if result.step == "export":
        print_export(data["export"], "model.ssm", out)
    elif result.step == "report":
        from shiftspike.sim.report import render

        render(next(iter(data["reports"].values())), out)
    elif result.step == "rtl":
        for arith, cores in data["cores"].items():
            out.print(cores_table(cores, f"neuron cores ({arith})"))
        for arith, folder in data["networks"].items():
            out.print(network_table(folder, f"network accelerator ({arith})"))
    elif result.step == "synth":
        for arith, rows in data["rows"].items():
            out.print(synth_table(rows, f"synthesis ({arith}, {result.facts['target']})"))
        for arith, row in data["network"].items():
            out.print(network_synth_table(row, f"network synthesis ({arith}, {result.facts['network']['target']}; "
                                               "cycles of the test samples)"))
    elif result.step == "verify":
        out.print(verdicts_table(data["verdicts"], "RTL (shift-add) against the simulator"))
        out.print(network_verdicts_table(data["network"], "the network (shift-add) against the simulator"))
    elif result.step == "summary":
        out.print(f"summary: {data['summary']}", markup=False)


def cmd_flow(args) -> None:
    from shiftspike.build import STEP_NAMES, Build, BuildOptions, steps_between

    steps = steps_between(args.first, args.last)
    trains = steps[0].name == "train"
    if not trains:
        given = [f"--{name.replace('_', '-')}" for name in ("config", "epochs", "seed") if getattr(args, name)]
        if args.width != 1.0:
            given.append("--width")
        if given:
            raise ShiftspikeError(f"{', '.join(given)}: only the train step uses them, and --from {args.first} "
                                  f"skips it (the run's train/config.json holds its config)")
    cfg, name = resolve_config(args) if trains else (None, args.preset or "digits")
    root = Path(args.out or f"runs/flow-{name}")
    out = console()
    options = BuildOptions(lanes=args.lanes, samples=args.samples, target=args.target,
                           network_lanes=args.network_lanes, network_target=args.network_target,
                           network_samples=args.network_samples, network_comparison=args.network_comparison,
                           data_path=args.data_path,
                           console=out, train_progress=not args.no_progress)
    bar = StepProgress(out, not args.no_progress)
    began = {}

    def start(step, number):
        out.rule(f"[bold]step {number}/{len(STEP_NAMES)}: {step.name}")
        began[step.name] = time.perf_counter()

    def done(result):
        bar.close()
        _render(result, out)
        out.print(f"[green]done[/green]: {result.step} ({time.perf_counter() - began[result.step]:.1f} s)")

    try:
        Build(root, cfg, options, bar).run(args.first, args.last, start, done)
    finally:
        bar.close()


class StepProgress:
    """The ``progress(done, total, what)`` callback of the steps: a transient rich bar, started on the first
    call (the training loop shows its own) and closed when the step is done."""

    def __init__(self, out, enabled: bool):
        self.out, self.enabled, self.bar, self.task = out, enabled, None, None

    def __call__(self, done: int, total: int, what: str) -> None:
        from rich.progress import Progress

        if not self.enabled:
            return
        if self.bar is None:
            self.bar = Progress(console=self.out, transient=True)
            self.bar.start()
            self.task = self.bar.add_task(what, total=total)
        self.bar.update(self.task, completed=done, total=total, description=what)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def add_verbs(verbs) -> None:
    from shiftspike.build import STEP_NAMES
    from shiftspike.quant.presets import PRESETS
    from shiftspike.rtl_gen.synth import TARGETS

    p = verbs.add_parser("flow", aliases=["demo"],
                         help="the whole job: train, export, report, Verilog, synthesis, RTL verification, summary")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=PRESETS, help="a published architecture (default: digits)")
    source.add_argument("--config", help="a TOML config file (see docs/training.md)")
    p.add_argument("--out", help="run directory (default: runs/flow-<preset or config name>)")
    p.add_argument("--from", dest="first", choices=STEP_NAMES, default=STEP_NAMES[0],
                   help="first step to run, on the files the earlier steps left in --out (default: train)")
    p.add_argument("--to", dest="last", choices=STEP_NAMES, default=STEP_NAMES[-1],
                   help="last step to run (default: summary)")
    p.add_argument("--data-path", help="directory or file of the dataset (shd, scifar; docs/data.md)")
    p.add_argument("--epochs", type=positive, help="override the config's epochs")
    p.add_argument("--seed", type=seed, help="override the config's seed")
    p.add_argument("--width", type=positive_width, default=1.0, help="scale the preset's hidden sizes")
    p.add_argument("--lanes", type=bounded_int(1, MAX_LANES), default=2,
                   help="datapaths per neuron core (default 2, capped at each layer's neurons; more lanes: fewer "
                        "cycles per time step, larger cores)")
    p.add_argument("--samples", type=positive, default=8, help="test samples driven through each core (default 8)")
    p.add_argument("--target", choices=TARGETS, default="ice40-hx8k",
                   help="synthesis target of the cores (default ice40-hx8k)")
    p.add_argument("--network-lanes", type=bounded_int(1, MAX_LANES),
                   help="lanes of the network's costliest layer, the others balanced to it on the test samples' activity (default 32)")
    p.add_argument("--network-target", choices=TARGETS, default="ecp5-25f-ooc",
                   help="synthesis target of the network (default ecp5-25f-ooc: ECP5-25F, the network as a block without I/O pins)")
    p.add_argument("--network-comparison", action="store_true",
                   help="also synthesize the multiplier network, for the shift-add against multiplier comparison "
                        "(minutes of place and route)")
    p.add_argument("--network-samples", type=positive,
                   help="test samples the network runs on Verilator (default: all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_flow, dataset=None, neuron=None, impl=None)

    p = verbs.add_parser("inputs", help="write the test split of a training run's dataset as integer model input")
    p.add_argument("run", help="run directory written by `shiftspike train`")
    p.add_argument("-o", "--output", required=True, help="input .npy [T, B, features] to write")
    p.add_argument("--labels", help="also write the labels [B] here")
    p.add_argument("--samples", type=positive, help="only the first N samples (default: all)")
    p.set_defaults(func=cmd_inputs)
