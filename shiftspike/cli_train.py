"""The ``train``, ``export`` and ``init`` verbs: QAT runs, their integer models, and the integer model of a
preset's architecture without training or data. Importing this module does not import torch; the verbs do."""

from __future__ import annotations

from pathlib import Path

from .cli_common import positive, positive_width, refuse_overwrite, seed, widths


def resolve_config(args):
    """The validated ``RunConfig`` of ``--config`` or ``--preset`` with the command line's overrides, and the
    run's name (the preset or the config file's stem)."""
    from shiftspike.quant import config, presets

    if args.config:
        raw = config.load(args.config).model_dump(mode="json")
        name = Path(args.config).stem
    else:
        name = args.preset or presets.DEFAULT
        try:
            raw = presets.preset(name, args.width)
        except ValueError as error:
            raise config.ConfigError(str(error)) from None
    if args.dataset:
        raw.setdefault("data", {})["name"] = args.dataset
    if args.data_path:
        raw.setdefault("data", {})["path"] = args.data_path
    for key, value in (("epochs", args.epochs), ("seed", args.seed)):
        if value is not None:
            raw.setdefault("train", {})[key] = value
    if args.neuron:
        raw["model"]["neuron"] = args.neuron
    if args.impl:
        raw["model"]["impl"] = args.impl
    return config.validate(raw, args.config or f"preset {name}"), name


def cmd_train(args) -> None:
    from shiftspike.quant.distributed import launch_rank
    from shiftspike.quant.train import train

    cfg, name = resolve_config(args)
    out = Path(args.out or f"runs/{name}")
    summary = train(cfg, out, resume=args.resume, progress=not args.no_progress)
    if launch_rank() == 0:
        print(f"test accuracy {summary['test_accuracy']:.4f} after {summary['epochs']} epochs "
              f"({summary['train_seconds']:.1f} s); run: {out}")


def export_table(result, out):
    """A rich table of an export: per layer its type, output, accumulator width against the bound, the QAT
    eval dtype and the check's mismatches."""
    from rich.table import Table

    table = Table(title=f"integer model {out}")
    for column in ("layer", "type", "output", "acc width", "required", "QAT eval", "mismatches"):
        table.add_column(column, justify="right" if column != "type" else "left")
    for i, (layer, bound) in enumerate(zip(result.model.layers, result.bounds)):
        spec = result.model.specs[i + 1]
        shape = f"{spec.kind} {spec.channels}x{spec.length}" + ("" if spec.kind == "spike" else f" int{spec.width}")
        dtype = str(result.plan.dtypes[i]).removeprefix("torch.")
        bad = "-" if result.check is None else f"{result.check.layers[i].mismatches}/{result.check.layers[i].values}"
        table.add_row(str(i), layer.type, shape, str(layer.acc_width), str(bound.required_width), dtype, bad)
    return table


def print_export(result, out, console) -> None:
    """The export table, the bound analysis and the check, on ``console``."""
    console.print(export_table(result, out))
    overflow = [b.index for b in result.bounds if b.may_overflow]
    console.print("bounds: " + (f"layers {overflow} may overflow (declared width < required)" if overflow
                                else "no overflow possible at the declared widths"), markup=False)
    if result.check is not None:
        c = result.check.to_json()
        console.print(f"check: {c['samples']} test samples, {c['mismatches']} mismatches; integer accuracy "
                      f"{c['integer_accuracy']:.4f}, QAT eval accuracy {c['qat_accuracy']:.4f}", markup=False)
        if c["first_mismatch"]:
            console.print(f"first mismatch: {c['first_mismatch']}", markup=False)


def cmd_export(args) -> None:
    from rich.console import Console

    from shiftspike.quant.checkpoint import FILENAME
    from shiftspike.quant.export import export
    from shiftspike.sim.safe_io import Outputs

    source = Path(args.source)
    refuse_overwrite({"-o": args.output}, {"source": str(source / FILENAME if source.is_dir() else source)})
    with Outputs() as outputs:
        tmp = outputs.stage(args.output, ".ssm")
        result = export(args.source, tmp, widths=args.widths, check=not args.no_check, data_path=args.data_path)
        print_export(result, args.output, Console(width=120))
        if result.check is not None and not result.check.exact:
            print(f"the check failed: {args.output} not written (--no-check writes it unchecked)")
            raise SystemExit(1)


def cmd_init(args) -> None:
    from shiftspike.quant.init import preset_model
    from shiftspike.sim import save
    from shiftspike.sim.safe_io import atomic_path

    with atomic_path(args.output, ".ssm") as tmp:
        model = preset_model(args.preset, width=args.width, seed=args.seed)
        save(model, tmp)
    print(f"wrote {args.output}: preset {args.preset} (random taps, untrained), {len(model.layers)} layers, "
          f"{len(model.neuron_layers())} neuron layers, input {model.input.channels}x{model.input.length}, "
          f"T={model.timesteps}")


def add_verbs(verbs) -> None:
    from shiftspike.quant.config import IMPLS, NEURONS
    from shiftspike.quant.presets import PRESETS

    p = verbs.add_parser("train", help="quantization-aware training of a spiking network")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=PRESETS, help="a published architecture (default: digits)")
    source.add_argument("--config", help="a TOML config file (see docs/training.md)")
    p.add_argument("--dataset", help="override the dataset name (digits, digits-pixels, long, shd, scifar)")
    p.add_argument("--data-path", help="directory or file of the dataset (shd, scifar)")
    p.add_argument("--epochs", type=positive)
    p.add_argument("--seed", type=seed)
    p.add_argument("--width", type=positive_width, default=1.0, help="scale the preset's hidden sizes")
    p.add_argument("--neuron", choices=NEURONS, help="override the neuron (float baselines do not export)")
    p.add_argument("--impl", choices=IMPLS,
                   help="override the temporal convolution (default fused; auto times the candidates on this "
                        "machine, which can train other weights elsewhere)")
    p.add_argument("--out", help="run directory (default: runs/<preset or config name>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = verbs.add_parser("export", help="write the integer model of a trained run and check it")
    p.add_argument("source", help="run directory or checkpoint.pt")
    p.add_argument("-o", "--output", required=True, help="integer model file to write")
    p.add_argument("--widths", type=widths, help="accumulator widths: one for all layers or one per layer "
                                                  "(default: the bound analysis, no overflow possible)")
    p.add_argument("--data-path", help="dataset location for the check, if not the one in the run's config")
    p.add_argument("--no-check", action="store_true", help="skip comparing against the test split")
    p.set_defaults(func=cmd_export)

    p = verbs.add_parser("init", help="an untrained integer model of a preset's architecture (random "
                                      "power-of-two taps), to size its energy and hardware before training")
    p.add_argument("--preset", choices=PRESETS, required=True)
    p.add_argument("--width", type=positive_width, default=1.0, help="scale the preset's hidden sizes")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("-o", "--output", required=True, help="integer model file to write")
    p.set_defaults(func=cmd_init)
