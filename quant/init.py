"""An integer model of a preset's architecture without training or data: for sizing energy and hardware first.

:func:`preset_model` builds the QAT network of a preset (:mod:`.presets`) on the
input its dataset declares (``data.input_info``: nothing is loaded or
downloaded), fills every parameter from a NumPy generator seeded with ``seed``,
and reads the integer model out exactly as export does
(``SpikingNetwork.integer_plan``): power-of-two taps (sign and shift inside the
exponent window), integer thresholds clamped to the reachable membrane,
``weight_bits``-bit synapse weights, and every accumulator the smallest width
the bound analysis proves overflow-free. The same arguments give the same
model, byte for byte (``sim.fileformat.to_bytes``).

Random values (the network is untrained, its spiking activity is not
calibrated): synapse weights uniform in ``±1/sqrt(fan_in)``, biases uniform in
``±0.1/sqrt(fan_in)``; neuron taps a random sign times ``2^-u``, ``u`` uniform
in ``[0, shift_max]``; the threshold BatchNorm at mean 0, variance 1,
``gamma = 1`` and ``beta`` uniform in ``[-1.5, -0.5]``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from shiftspike.sim import IntegerModel

from . import presets
from .budget import check_budget
from .config import ConfigError, validate
from .data import input_info
from .network import SpikingNetwork
from .neurons import ChannelwiseNeuron


def _uniform(rng: np.random.Generator, like: torch.Tensor, bound: float) -> torch.Tensor:
    return torch.from_numpy(rng.uniform(-bound, bound, tuple(like.shape))).to(like.dtype)


def _randomize_synapse(module: nn.Module, rng: np.random.Generator) -> None:
    fan_in = module.weight[0].numel()
    module.weight.copy_(_uniform(rng, module.weight, fan_in ** -0.5))
    if module.bias is not None:
        module.bias.copy_(_uniform(rng, module.bias, 0.1 * fan_in ** -0.5))


def _randomize_neuron(module: ChannelwiseNeuron, rng: np.random.Generator) -> None:
    shape = tuple(module.weight.shape)
    sign = rng.choice([-1.0, 1.0], size=shape)
    module.weight.copy_(torch.from_numpy(sign * np.exp2(-rng.uniform(0, module.shift_max, shape))).float())
    module.gamma.fill_(1.0)
    module.beta.copy_(torch.from_numpy(-rng.uniform(0.5, 1.5, module.channels)).float())
    module.running_mean.zero_()
    module.running_var.fill_(1.0)


@torch.no_grad()
def randomize(net: SpikingNetwork, seed: int) -> SpikingNetwork:
    """Fill ``net``'s synapses and channel-wise neurons with the module docstring's random values; eval mode."""
    rng = np.random.default_rng(seed)
    for module in net.modules():
        if isinstance(module, ChannelwiseNeuron):
            _randomize_neuron(module, rng)
        elif isinstance(getattr(module, "weight", None), torch.Tensor) and hasattr(module, "bias"):
            _randomize_synapse(module, rng)
    return net.eval()


def preset_model(preset: str, width: float = 1.0, seed: int = 0, neuron_taps: int | None = None,
                 data_params: dict | None = None) -> IntegerModel:
    """The integer model of preset ``preset`` with hidden sizes times ``width``, random parameters from ``seed``.

    ``neuron_taps`` replaces the preset's taps per neuron (k); ``data_params`` its dataset parameters (e.g.
    ``{"timesteps": 50}`` for ``shd``). Bad arguments are a one-line :class:`ConfigError` (or ``DataError``).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed {seed!r} is not a non-negative integer")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not (math.isfinite(width) and width > 0):
        raise ConfigError(f"preset {preset}: width {width!r} is not a positive finite number")
    try:
        raw = presets.preset(preset, width)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if neuron_taps is not None:
        raw["model"]["taps"] = neuron_taps
    if data_params is not None:
        raw["data"]["params"] = {**raw["data"].get("params", {}), **data_params}
    raw["model"]["impl"] = "conv1d"  # the temporal convolution never runs here: no timing, no cache file
    cfg = validate(raw, f"preset {preset}")
    info = input_info(cfg.data.name, **cfg.data.params)
    check_budget(cfg.model, info)
    with torch.random.fork_rng(devices=[]):  # construction draws from torch's generator: leave the caller's alone
        net = SpikingNetwork(cfg.model, info)
    return randomize(net, seed).integer_plan().model
