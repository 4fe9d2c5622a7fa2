"""The ``report``, ``sim`` and ``random`` verbs: the integer model's energy report, its bit-accurate run,
and a random valid model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cli_common import load_input, refuse_overwrite, seed


def cmd_report(args) -> None:
    from shiftspike.sim import load
    from shiftspike.sim.energy import load_table
    from shiftspike.sim.plot import energy_chart
    from shiftspike.sim.report import DEFAULT_BATCH, build_report, default_input, render
    from shiftspike.sim.resources import check_resources
    from shiftspike.sim.safe_io import Outputs, write_json
    from shiftspike.sim.trace import check_input

    refuse_overwrite({"--json": args.json, "--plot": args.plot}, {"model": args.model, "--input": args.input})
    with Outputs() as outputs:
        json_tmp = outputs.stage(args.json) if args.json else None
        plot_tmp = outputs.stage(args.plot, ".png") if args.plot else None
        model = load(args.model)
        table = load_table(args.energy)
        if args.input:
            x, text = check_input(model, load_input(args.input)), args.input
            check_resources(model, x.shape[0], x.shape[1])
        else:
            check_resources(model, model.timesteps, DEFAULT_BATCH)
            x, text = default_input(model)
        report = build_report(model, x, table, text)
        if json_tmp:
            write_json(json_tmp, report.to_json())
        if plot_tmp:
            energy_chart(report, plot_tmp)
    render(report)


def cmd_sim(args) -> None:
    from shiftspike.sim import Stepper, load, run
    from shiftspike.sim.resources import check_resources
    from shiftspike.sim.safe_io import Outputs
    from shiftspike.sim.trace import check_input

    refuse_overwrite({"--out": args.out, "--membranes": args.membranes}, {"model": args.model, "--input": args.input})
    record = args.membranes is not None
    with Outputs() as outputs:
        out_tmp = outputs.stage(args.out, ".npy")
        membranes_tmp = outputs.stage(args.membranes, ".npz") if record else None
        model = load(args.model)
        x = check_input(model, load_input(args.input))
        check_resources(model, x.shape[0], x.shape[1], record_membranes=record, step=args.step)
        trace = Stepper(model, x.shape[1]).run(x, record) if args.step else run(model, x, record_membranes=record)
        np.save(out_tmp, trace.output, allow_pickle=False)
        if record:
            arrays = {f"layer{i}_output": o for i, o in enumerate(trace.outputs)}
            arrays |= {f"layer{i}_membrane": m for i, m in trace.membranes.items()}
            np.savez(membranes_tmp, **arrays)
    print(f"wrote {args.out} {trace.output.shape} {trace.output.dtype}"
          + (f" and {args.membranes}" if record else ""))


def cmd_random(args) -> None:
    from shiftspike.sim import random_model, save
    from shiftspike.sim.safe_io import atomic_path

    with atomic_path(Path(args.out), ".ssm") as tmp:
        model = random_model(seed=args.seed)
        save(model, tmp)
    print(f"wrote {args.out}: {len(model.layers)} layers, input {model.input.kind} "
          f"{model.input.channels}x{model.input.length}, T={model.timesteps}")


def add_verbs(verbs) -> None:
    p = verbs.add_parser("report", help="op counts and energy of a model on an input")
    p.add_argument("model", help="integer model file")
    p.add_argument("--input", help="input .npy [T, B, features] (default: random spikes at rate 0.2, B=16)")
    p.add_argument("--energy", default="horowitz45", help="preset (horowitz45, literature) or a TOML/JSON table")
    p.add_argument("--json", help="also write the report as JSON here")
    p.add_argument("--plot", help="also write a PNG chart of energy per layer and network here")
    p.set_defaults(func=cmd_report)

    p = verbs.add_parser("sim", help="run a model bit-accurately on an input")
    p.add_argument("model", help="integer model file")
    p.add_argument("--input", required=True, help="input .npy [T, B, features], integer dtype")
    p.add_argument("--out", required=True, help="output .npy: the last layer's output [T, B, features]")
    p.add_argument("--membranes", help="also write every layer's output and membrane to this .npz")
    p.add_argument("--step", action="store_true", help="run step by step (same result, streaming state)")
    p.set_defaults(func=cmd_sim)

    p = verbs.add_parser("random", help="write a random valid integer model")
    p.add_argument("out", help="model file to write")
    p.add_argument("--seed", type=seed, default=0)
    p.set_defaults(func=cmd_random)
