"""The ``flow`` verb (also ``demo``: the whole job, ``flow.py``) and ``inputs`` (a run's integer test inputs,
the input of ``report`` and ``verify`` when the steps run alone).

Importing this module does not import torch; the verbs do.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .cli import CliError, _non_negative, atomic_path
from .cli_train import _positive, _positive_float, _resolve_config


def write_test_inputs(run_dir: Path, out: Path, labels: Path | None = None,
                      samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The test split of training run ``run_dir``'s dataset as integer-model input ``x [T, B, features]``
    (the first ``samples`` samples, default all) and labels ``y [B]`` int64; written to ``out`` (and
    ``labels``) as ``.npy``, atomically."""
    from shiftspike.quant import config
    from shiftspike.quant.data import load_dataset

    path = Path(run_dir) / "config.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise CliError(f"{path}: no such file (a run directory written by `shiftspike train`)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: not a JSON file ({exc})") from None
    cfg = config.validate(raw, str(path))
    data = load_dataset(cfg.data.name, "test", cfg.data.path, **cfg.data.params)
    xs, ys = [], []
    for x, y in data.batches(256, shuffle=False):
        xs.append(data.info.to_int(x))
        ys.append(y.numpy())
    x, y = np.concatenate(xs, axis=1)[:, :samples], np.concatenate(ys)[:samples]
    with atomic_path(Path(out), ".npy") as tmp:
        np.save(tmp, x, allow_pickle=False)
    if labels is not None:
        with atomic_path(Path(labels), ".npy") as tmp:
            np.save(tmp, y, allow_pickle=False)
    return x, y


def cmd_inputs(args) -> None:
    from shiftspike.quant.config import ConfigError
    from shiftspike.quant.data import DataError

    try:
        x, _ = write_test_inputs(Path(args.run), Path(args.output), Path(args.labels) if args.labels else None,
                                 args.samples)
    except (ConfigError, DataError) as error:
        raise CliError(str(error)) from None
    print(f"wrote {args.output}: {x.shape} {x.dtype}" + (f" and {args.labels}" if args.labels else ""))


def cmd_flow(args) -> None:
    from shiftspike.quant.config import ConfigError

    from .cli_rtl import _console
    from .flow import Flow, FlowError, FlowOptions

    try:
        cfg, name = _resolve_config(args)
    except ConfigError as error:
        raise CliError(str(error)) from None
    out = Path(args.out or f"runs/flow-{name}")
    if out.exists() and not out.is_dir():
        raise CliError(f"{out}: exists and is not a directory")
    options = FlowOptions(lanes=args.lanes, samples=args.samples, target=args.target, progress=not args.no_progress)
    try:
        Flow(cfg, out, options, _console()).run()
    except FlowError as error:
        raise CliError(str(error)) from None


def add_verbs(verbs) -> None:
    from shiftspike.quant.presets import PRESETS
    from shiftspike.rtl_gen.synth import TARGETS

    p = verbs.add_parser("flow", aliases=["demo"],
                         help="the whole job: train, export, report, Verilog, synthesis, RTL verification, summary")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=PRESETS, help="a published architecture (default: digits)")
    source.add_argument("--config", help="a TOML config file (see docs/training.md)")
    p.add_argument("--out", help="run directory (default: runs/flow-<preset or config name>)")
    p.add_argument("--epochs", type=_positive, help="override the config's epochs")
    p.add_argument("--seed", type=_non_negative, help="override the config's seed")
    p.add_argument("--width", type=_positive_float, default=1.0, help="scale the preset's hidden sizes")
    p.add_argument("--lanes", type=_positive, default=2,
                   help="datapaths per neuron core (default 2, capped at the layer's neurons; more lanes: fewer "
                        "cycles per time step, larger cores)")
    p.add_argument("--samples", type=_positive, default=8, help="test samples driven through each core (default 8)")
    p.add_argument("--target", choices=TARGETS, default="ice40-hx8k", help="synthesis target (default ice40-hx8k)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_flow, dataset=None, data_path=None, neuron=None)

    p = verbs.add_parser("inputs", help="write the test split of a training run's dataset as integer model input")
    p.add_argument("run", help="run directory written by `shiftspike train`")
    p.add_argument("-o", "--output", required=True, help="input .npy [T, B, features] to write")
    p.add_argument("--labels", help="also write the labels [B] here")
    p.add_argument("--samples", type=_positive, help="only the first N samples (default: all)")
    p.set_defaults(func=cmd_inputs)
