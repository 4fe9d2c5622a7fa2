"""The ``shiftspike`` command line.

Every verb turns a bad input (missing file, malformed model, wrong shape,
impossible width) into one line on stderr and exit code 2; outputs are
written to a temporary name and renamed into place, so a failed run leaves
nothing half-written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from shiftspike.sim.errors import ShiftspikeError

EXIT_USAGE = 2


class CliError(ShiftspikeError):
    """A user-facing error: printed as one line, exit code 2."""


@contextmanager
def atomic_path(path: Path, suffix: str = ""):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    if not path.parent.is_dir():
        raise CliError(f"{path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise CliError(f"{path}: is a directory, expected a file name")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _write_json(path: Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _write_plot(path: Path, report: dict) -> None:
    from shiftspike.sim.plot import energy_chart

    with atomic_path(path, ".png") as tmp:
        energy_chart(report, tmp)


def _load_array(path: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except (ValueError, OSError) as exc:
        raise CliError(f"{path}: not a readable .npy array ({exc})") from None


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _check_memory(model, x_shape: tuple, record_membranes: bool = False) -> None:
    """Refuse a run whose arrays would not fit in the memory available now."""
    from shiftspike.sim.engine import run_bytes

    need = run_bytes(model, x_shape[0], x_shape[1], record_membranes)
    free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if need > free:
        raise CliError(f"a run of T={x_shape[0]} x B={x_shape[1]} on this model needs about "
                       f"{need / 2**30:.1f} GiB, more than the {free / 2**30:.1f} GiB available")


def _load_model(path: str):
    from shiftspike.sim import load

    return load(path)


def cmd_report(args) -> None:
    from shiftspike.sim.energy import load_table
    from shiftspike.sim.report import DEFAULT_BATCH, build_report, default_input, render
    from shiftspike.sim.trace import check_input

    model = _load_model(args.model)
    table = load_table(args.energy)
    if args.input:
        x, text = _load_array(args.input), f"{args.input}"
        check_input(model, x)
        _check_memory(model, x.shape)
    else:
        _check_memory(model, (model.timesteps, DEFAULT_BATCH))
        x, text = default_input(model)
    report = build_report(model, x, table, text)
    if args.json:
        _write_json(Path(args.json), report.to_json())
    if args.plot:
        _write_plot(Path(args.plot), report)
    render(report)


def cmd_sim(args) -> None:
    from shiftspike.sim import Stepper, run
    from shiftspike.sim.trace import check_input

    model = _load_model(args.model)
    x = _load_array(args.input)
    check_input(model, x)
    _check_memory(model, x.shape, args.membranes is not None)
    trace = Stepper(model, x.shape[1]).run(x, args.membranes is not None) if args.step \
        else run(model, x, record_membranes=args.membranes is not None)
    out = Path(args.out)
    with atomic_path(out, ".npy") as tmp:
        np.save(tmp, trace.output, allow_pickle=False)
        if args.membranes:
            arrays = {f"layer{i}_output": o for i, o in enumerate(trace.outputs)}
            arrays |= {f"layer{i}_membrane": m for i, m in trace.membranes.items()}
            with atomic_path(Path(args.membranes), ".npz") as mtmp:
                np.savez(mtmp, **arrays)
    print(f"wrote {out} {trace.output.shape} {trace.output.dtype}"
          + (f" and {args.membranes}" if args.membranes else ""))


def cmd_random(args) -> None:
    from shiftspike.sim import random_model

    model = random_model(seed=args.seed)
    out = Path(args.out)
    with atomic_path(out) as tmp:
        model.save(tmp)
    print(f"wrote {out}: {len(model.layers)} layers, input {model.input.kind} "
          f"{model.input.channels}x{model.input.length}, T={model.timesteps}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shiftspike", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)

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
    p.add_argument("--seed", type=_non_negative, default=0)
    p.set_defaults(func=cmd_random)

    from . import cli_flow, cli_rtl, cli_train

    cli_train.add_verbs(verbs)
    cli_rtl.add_verbs(verbs)
    cli_flow.add_verbs(verbs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ShiftspikeError as exc:
        print(f"shiftspike {args.verb}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
