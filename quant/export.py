"""Export a trained quantized network to the integer model file, and check it.

Widths come from the bound analysis (every accumulator the smallest width that
cannot overflow) unless given: one width for every layer or one per layer.
All scales are powers of two and were folded during QAT (BatchNorm into the
taps, weight and input scales into the thresholds and biases), so export is a
read-out of integers the eval forward already uses — nothing is re-rounded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from shiftspike.sim import IntegerModel, LayerBound, analyze, save

from . import checkpoint
from .check import CheckResult, compare
from .config import ConfigError, RunConfig
from .data import load_dataset
from .network import IntegerPlan, SpikingNetwork


@dataclass
class Export:
    model: IntegerModel
    plan: IntegerPlan
    bounds: list[LayerBound]
    check: CheckResult | None


def load_network(source: str | Path) -> tuple[SpikingNetwork, RunConfig]:
    """The network of a checkpoint (or run directory) in eval mode, and its run config."""
    payload, cfg, info = checkpoint.load(source)
    net = SpikingNetwork(cfg.model, info)
    try:
        net.load_state_dict(payload["model"])
    except RuntimeError as error:
        raise checkpoint.CheckpointError(f"{source}: weights do not fit the config: "
                                         f"{str(error).splitlines()[0]}") from None
    net.eval()
    return net, cfg


def with_widths(model: IntegerModel, widths: list[int]) -> IntegerModel:
    """``model`` with the given accumulator widths: one for all layers or one per layer."""
    if len(widths) == 1:
        widths = widths * len(model.layers)
    if len(widths) != len(model.layers):
        raise ConfigError(f"widths: {len(widths)} given for {len(model.layers)} layers")
    layers = tuple(replace(layer, acc_width=width) for layer, width in zip(model.layers, widths))
    return IntegerModel(model.input, model.timesteps, layers)


def export(source: str | Path, out: str | Path, *, widths: list[int] | None = None, check: bool = True,
           data_path: str | None = None) -> Export:
    """Write the integer model of checkpoint ``source`` to ``out``; with ``check``, compare on the test split."""
    net, cfg = load_network(source)
    if not net.quantize:
        raise ConfigError(f"{source}: neuron {net.cfg.neuron!r} is a float baseline; only \"mulfree\" networks "
                          "export to an integer model")
    plan = net.integer_plan()
    model = plan.model if widths is None else with_widths(plan.model, widths)
    result = None
    if check:
        data = load_dataset(cfg.data.name, "test", data_path or cfg.data.path, **cfg.data.params)
        result = compare(net, model, data)
    save(model, out)
    return Export(model, plan, analyze(model), result)
