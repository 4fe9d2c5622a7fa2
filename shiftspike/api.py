"""The Python API of the product, for a notebook or a script: train, export, report and hardware, from
memory, with nothing written to disk unless asked (``out=``).

>>> import shiftspike
>>> trained = shiftspike.train("digits", width=0.125, epochs=1)   # doctest: +SKIP
>>> model = shiftspike.export(trained)                            # the integer model, checked, in memory
>>> report = shiftspike.report(model)                             # a typed report: .to_markdown(), .plot(ax=)
>>> cores = shiftspike.cores(model, lanes=4)                      # Verilog per neuron layer, in memory

Synthesis and verification run external tools on files; :func:`synthesize` and :func:`verify` give them a
temporary folder that is removed afterwards (``shiftspike.rtl_gen.built``). Errors are :class:`~shiftspike.sim.errors.ShiftspikeError`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from shiftspike.sim.errors import ShiftspikeError


class ExactnessError(ShiftspikeError):
    """The integer model differs from the QAT model it was exported from."""


@dataclass
class Trained:
    """A trained network (``shiftspike.quant.network.SpikingNetwork``, eval mode), the validated config it
    was trained with and the training summary (accuracy, epochs, seconds)."""

    network: object
    config: object
    summary: dict


def _config(cfg_or_preset, width: float, epochs: int | None, seed: int | None, data_path: str | None):
    from shiftspike.quant import config, presets

    if isinstance(cfg_or_preset, config.RunConfig):
        raw = cfg_or_preset.model_dump(mode="json")
    elif isinstance(cfg_or_preset, dict):
        raw = dict(cfg_or_preset)
    elif isinstance(cfg_or_preset, str) and cfg_or_preset in presets.PRESETS:
        raw = presets.preset(cfg_or_preset, width)
    else:
        raise config.ConfigError(f"{cfg_or_preset!r}: neither a RunConfig, a config dict nor a preset "
                                 f"({', '.join(presets.PRESETS)})")
    for section, key, value in (("train", "epochs", epochs), ("train", "seed", seed), ("data", "path", data_path)):
        if value is not None:
            raw[section] = dict(raw.get(section, {})) | {key: value}
    return config.validate(raw, "shiftspike.train")


def train(cfg_or_preset, *, width: float = 1.0, epochs: int | None = None, seed: int | None = None,
          data_path: str | None = None, out: str | Path | None = None, progress: bool = False,
          console=None) -> Trained:
    """Train a preset (by name, scaled by ``width``), a config dict or a ``RunConfig``. With ``out`` the run
    folder is kept there (resumable, as ``shiftspike train`` writes it); without, it lives in a temporary
    folder that is removed before returning."""
    from shiftspike.quant.export import load_network
    from shiftspike.quant.train import train as run_training

    cfg = _config(cfg_or_preset, width, epochs, seed, data_path)
    if out is not None:
        summary = run_training(cfg, out, resume=True, console=console, progress=progress)
        return Trained(load_network(out)[0], cfg, summary)
    with tempfile.TemporaryDirectory(prefix="shiftspike-train-") as tmp:
        summary = run_training(cfg, tmp, console=console, progress=progress)
        return Trained(load_network(tmp)[0], cfg, summary)


def _network(source):
    """(network, config or None) of a :class:`Trained`, a network, or a run folder / checkpoint path."""
    from shiftspike.quant.export import load_network
    from shiftspike.quant.network import SpikingNetwork

    if isinstance(source, Trained):
        return source.network, source.config
    if isinstance(source, SpikingNetwork):
        return source, None
    if isinstance(source, (str, Path)):
        return load_network(source)
    raise ShiftspikeError(f"cannot export a {type(source).__name__}: give shiftspike.train's result, a "
                          "network or a run folder")


def export(source, *, check: bool = True, data_path: str | None = None):
    """The integer model (``shiftspike.sim.IntegerModel``) of a trained network, in memory: ``source`` is
    :func:`train`'s result, a ``SpikingNetwork`` or a run folder (or its ``checkpoint.pt``). With ``check``
    the QAT network and the integer model run the whole test split and must agree on every value of every
    layer, else :class:`ExactnessError`; a bare network has no dataset to check on (pass ``check=False``)."""
    from shiftspike.quant.check import compare
    from shiftspike.quant.config import ConfigError
    from shiftspike.quant.data import load_dataset

    net, cfg = _network(source)
    if not net.quantize:
        raise ConfigError(f"neuron {net.cfg.neuron!r} is a float baseline; only \"mulfree\" networks export")
    model = net.integer_plan().model
    if check:
        if cfg is None:
            raise ShiftspikeError("a bare network has no test split to check on; pass check=False, or the "
                                  "result of shiftspike.train or a run folder")
        data = load_dataset(cfg.data.name, "test", data_path or cfg.data.path, **cfg.data.params)
        result = compare(net, model, data)
        if not result.exact:
            raise ExactnessError(f"{result.mismatches} values of the integer model differ from the QAT model; "
                                 f"first: {result.first_mismatch}")
    return model


def _model(model):
    from shiftspike.sim import IntegerModel, load

    return model if isinstance(model, IntegerModel) else load(model)


def report(model, x=None, energy: str = "horowitz45", input_text: str | None = None):
    """The op and energy report (``shiftspike.sim.report.Report``) of ``model`` (an ``IntegerModel`` or a
    model file) on ``x [T, B, features]`` (default: the documented random input), priced with ``energy`` (a
    preset name, a table file or an ``EnergyTable``)."""
    from shiftspike.sim.energy import EnergyTable, load_table
    from shiftspike.sim.report import build_report, default_input
    from shiftspike.sim.resources import check_resources
    from shiftspike.sim.trace import check_input

    model = _model(model)
    table = energy if isinstance(energy, EnergyTable) else load_table(energy)
    if x is None:
        x, text = default_input(model)
    else:
        x, text = check_input(model, x), "the given input"
    check_resources(model, x.shape[0], x.shape[1])
    return build_report(model, x, table, input_text or text)


def cores(model, *, layers: list[int] | None = None, lanes: int | None = None, arith: str = "shift",
          loadable: bool = False, debug: bool = True) -> list:
    """The cores (``shiftspike.rtl_gen.generate.Core``: Verilog text, sidecar, single-layer model) of
    ``model``'s neuron layers ``layers`` (default all), in memory; ``lanes`` is capped at each layer's
    neurons (default: one lane per neuron)."""
    from shiftspike.rtl_gen.generate import build_core

    model = _model(model)
    neurons = model.neuron_layers()
    chosen = neurons if layers is None else list(layers)
    wrong = [i for i in chosen if i not in neurons]
    if wrong or not chosen:
        raise ShiftspikeError(f"layers {wrong or chosen}: not neuron layers of the model; they are {neurons}")
    return [build_core(model, i, lanes=None if lanes is None else min(lanes, model.specs[i].features), arith=arith,
                       loadable=loadable, debug=debug) for i in chosen]


def synthesize(cores_or_model, *, target: str = "ice40-hx8k", unfit_ok: bool = False, **options) -> list[dict]:
    """Synthesis rows (logic cells, FFs, RAM, multipliers, Fmax MHz, cycles per step) of in-memory cores (from
    :func:`cores`), or of every neuron layer's core of a model (``options`` as :func:`cores` takes them); each
    core is synthesized in a temporary folder that is removed afterwards."""
    from shiftspike.rtl_gen.built import synthesize_core

    built = cores_or_model if isinstance(cores_or_model, list) else cores(cores_or_model, **options)
    return [synthesize_core(core, target, unfit_ok) for core in built]


def verify(model, x, *, simulators: tuple[str, ...] | None = None, **options) -> list:
    """Verdicts (``shiftspike.rtl_gen.verify.Verdict``, ``.passed``) of every neuron layer's core of ``model``
    (``options`` as :func:`cores` takes them) on each simulator (default all), driven by the layer's input
    when ``model`` runs on ``x [T, B, features]`` and compared with the simulator; each run lives in a
    temporary folder that is removed afterwards."""
    from shiftspike.rtl_gen.built import verify_built
    from shiftspike.rtl_gen.cores import layer_currents
    from shiftspike.rtl_gen.verify import SIMULATORS
    from shiftspike.sim.trace import check_input

    model = _model(model)
    currents = layer_currents(model, check_input(model, x))
    return [verify_built(core, currents[core.sidecar["layer"]], simulator)
            for core in cores(model, **options) for simulator in (simulators or SIMULATORS)]


def network(model, *, lanes=None, arith: str = "shift", debug: bool = True):
    """The whole-network accelerator of ``model`` in memory (``shiftspike.rtl_gen.network.Network``: Verilog
    text, top, sidecar, plan); ``lanes`` an int (the costliest layer's lanes, the others balanced to it) or
    one value per layer."""
    from shiftspike.rtl_gen.network import build_network

    try:
        return build_network(_model(model), lanes, arith, debug)
    except ValueError as exc:
        raise ShiftspikeError(str(exc)) from None


def synthesize_network(accelerator, *, target: str = "ecp5-25f-ooc", x=None) -> dict:
    """Synthesis of an accelerator from :func:`network` (logic cells, FFs, block RAM, DSPs, Fmax MHz) with the
    cycle model's cycles per sample, µs per sample and samples per second for ``x [T, B, features]`` (default:
    the slowest sample); in a temporary folder that is removed afterwards."""
    from shiftspike.rtl_gen.network import write_network
    from shiftspike.rtl_gen.network_folder import read_network_folder, synthesize_network as synthesize_folder

    with tempfile.TemporaryDirectory(prefix="shiftspike-network-") as tmp:
        write_network(accelerator, Path(tmp))
        return synthesize_folder(read_network_folder(Path(tmp)), target, x)


def verify_network(accelerator, x, *, simulators: tuple[str, ...] | None = None, stalls: bool = True,
                   seed: int = 0) -> list:
    """Verdicts (``shiftspike.rtl_gen.verify_network.NetworkVerdict``, ``.passed``) of an accelerator from
    :func:`network` on each simulator (default all), driven by ``x [T, B, features]`` and compared with the
    simulator layer by layer, class by class and cycle by cycle; each run lives in a temporary folder."""
    from shiftspike.rtl_gen.verify import SIMULATORS
    from shiftspike.rtl_gen.verify_network import verify_network as verify_one

    verdicts = []
    for simulator in simulators or SIMULATORS:
        with tempfile.TemporaryDirectory(prefix="shiftspike-verify-") as tmp:
            verdicts.append(verify_one(accelerator, accelerator.model, x, simulator, Path(tmp), stalls=stalls,
                                       resets=stalls, seed=seed))
    return verdicts
