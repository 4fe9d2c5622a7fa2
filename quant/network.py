"""A spiking network built from a :class:`ModelConfig`: the QAT model and its integer plan.

``SpikingNetwork`` maps ``x [T, B, C, L]`` (time first, the data's input grid)
to the readout's running sums ``[T, B, classes]``; ``M[T-1] / T`` are the
training logits. For ``neuron = "mulfree"`` every layer is quantization-aware
and :meth:`SpikingNetwork.integer_plan` gives the integer model it computes:
in eval mode the forward pass *is* that integer model evaluated in floating
point, each layer in float32 when the bound analysis proves every partial sum
fits 2^24 units, else in float64 (``docs/training.md``, "Exactness").
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from shiftspike.sim import IntegerModel, Neuron, TensorSpec
from shiftspike.sim.bounds import analyze, layer_interval, required_width
from shiftspike.sim.fixed import MAX_ACC_WIDTH

from .config import ModelConfig
from .data.base import InputInfo
from .grid import Grid
from .layers import QConv1d, QDense, QInput, QReadout, QSumPool
from .neurons import IPSU, LIF, PSN, PSU, RPSU, ChannelwiseNeuron, DynamicDecay, MaskedPSN, SAFNeuron, SlidingPSN
from .neurons.saf import accumulate
from .saf import leak
from .surrogate import Surrogate

PSU_FAMILY = {"psu": PSU, "ipsu": IPSU, "rpsu": RPSU}

FROZEN_STATISTICS_FRACTION = 0.25
"""Share of the epochs, at the end of training, with the neurons' BatchNorm statistics frozen."""

FLOAT32_EXACT_WIDTH = 25
"""Signed integers of at most this many bits (|v| <= 2^24) are exact in float32."""


@dataclass(frozen=True)
class IntegerPlan:
    """The integer model of a quantized network and how its eval forward reproduces it.

    ``model``: widths fitted by the bound analysis; ``grids[i]`` and ``dtypes[i]``:
    input grid and exact compute dtype of ``model.layers[i]``; ``units[i]``: the
    float64 value of one LSB of that layer's output (``[C]`` or 0-d).
    """

    model: IntegerModel
    grids: tuple[Grid, ...]
    dtypes: tuple[torch.dtype, ...]
    units: tuple[torch.Tensor, ...]


def _neuron(cfg: ModelConfig, channels: int, dilation: int, timesteps: int) -> nn.Module:
    surrogate = Surrogate(cfg.surrogate.name, cfg.surrogate.alpha)
    if cfg.neuron in ("mulfree", "float"):
        return ChannelwiseNeuron(channels, cfg.taps, dilation, quantize=cfg.neuron == "mulfree",
                                 shift_max=cfg.shift_max, exp_window=cfg.exp_window, surrogate=surrogate,
                                 impl=cfg.impl)
    if cfg.neuron == "psn":
        return PSN(timesteps, surrogate=surrogate)
    if cfg.neuron == "masked-psn":
        return MaskedPSN(timesteps, cfg.taps, surrogate=surrogate)
    if cfg.neuron == "sliding-psn":
        return SlidingPSN(cfg.taps, surrogate=surrogate, impl=cfg.impl)
    if cfg.neuron in PSU_FAMILY:
        return PSU_FAMILY[cfg.neuron](timesteps, cfg.tau, cfg.v_threshold, surrogate=surrogate)
    if cfg.neuron in ("dyndecay", "dyndecay-int"):
        return DynamicDecay(channels, cfg.taps, cfg.v_threshold, surrogate=surrogate, max_spikes=cfg.max_spikes,
                            spikes="binary" if cfg.neuron == "dyndecay" else "integer", impl=cfg.impl)
    if cfg.neuron == "saf":
        return SAFNeuron(channels, cfg.tau, cfg.v_threshold, surrogate=surrogate)
    return LIF(cfg.tau, "hard" if cfg.neuron == "lif" else "soft", surrogate=surrogate)


def _feeds_neuron(layers: list, index: int) -> bool:
    """Whether the layer after ``index`` (skipping dropout) is a neuron."""
    rest = [layer.type for layer in layers[index + 1:] if layer.type != "dropout"]
    return bool(rest) and rest[0] == "neuron"


class SpikingNetwork(nn.Module):
    """Input quantizer, then the configured layers; ``forward(x) -> [T, B, classes]`` running sums."""

    def __init__(self, cfg: ModelConfig, inp: InputInfo):
        super().__init__()
        self.cfg, self.inp, self.quantize = cfg, inp, cfg.quantize
        self.input_quant = QInput(inp.kind, inp.width, inp.scale)
        dilations = iter(cfg.dilation_schedule())
        channels, length, flat = inp.channels, inp.length, False
        layers: list[nn.Module] = []
        for index, spec in enumerate(cfg.layers):
            where = f"model.layers[{index}]"
            per_channel = _feeds_neuron(cfg.layers, index)
            bias = not (per_channel and cfg.neuron == "saf")  # a SAF neuron owns its bias
            if spec.type == "dense":
                layers.append(QDense(channels * length, spec.features, bits=cfg.weight_bits, pow2=cfg.pow2_weights,
                                     per_channel=per_channel, bias=bias, quantize=self.quantize))
                channels, length, flat = spec.features, 1, True
            elif spec.type == "conv":
                if flat:
                    raise ValueError(f"{where}: a conv layer cannot follow a dense layer")
                padding = spec.kernel // 2 if spec.padding is None else spec.padding
                if padding >= spec.kernel:
                    raise ValueError(f"{where}.padding: must be < kernel")
                layers.append(QConv1d(channels, spec.channels, spec.kernel, stride=spec.stride, padding=padding,
                                      bits=cfg.weight_bits, pow2=cfg.pow2_weights, per_channel=per_channel,
                                      bias=bias, quantize=self.quantize))
                length = (length + 2 * padding - spec.kernel) // spec.stride + 1
                channels = spec.channels
            elif spec.type == "pool":
                layers.append(QSumPool(spec.window))
                length //= spec.window
            elif spec.type == "neuron":
                layers.append(_neuron(cfg, channels, next(dilations), inp.timesteps))
            elif spec.type == "dropout":
                layers.append(nn.Dropout(spec.p))
            else:
                layers.append(QReadout())
            if length < 1:
                raise ValueError(f"{where}: the spatial length drops below 1")
        self.layers = nn.ModuleList(layers)
        self.classes = channels * length
        self._plan_key: tuple | None = None
        self._plan: IntegerPlan | None = None

    def schedule_epoch(self, epoch: int, epochs: int) -> None:
        """Set up epoch ``epoch`` (0-based) of ``epochs``: the last ``floor(FROZEN_STATISTICS_FRACTION * epochs)``
        epochs train the channel-wise neurons on frozen running statistics.

        With batch statistics every batch quantizes a slightly different fused kernel and threshold
        (a change of the variance moves taps across power-of-two rounding boundaries), while eval and
        the exported integer model use the running ones. Freezing them for the final epochs (the BN
        freeze of Jacob et al., CVPR 2018) trains exactly the kernel and threshold that are exported.
        The float twin gets the same schedule, so the two stay comparable.
        """
        frozen = epoch >= epochs - int(FROZEN_STATISTICS_FRACTION * epochs)
        for module in self.layers:
            if isinstance(module, ChannelwiseNeuron):
                module.frozen_statistics = frozen

    def _integer_layers(self) -> list[nn.Module]:
        return [m for m in self.layers if not isinstance(m, nn.Dropout)]

    def integer_plan(self) -> IntegerPlan:
        """The integer model this (quantized) network computes in eval mode, widths fitted; cached."""
        if not self.quantize:
            raise ValueError(f"only a quantized (neuron = \"mulfree\") network has an integer model, "
                             f"this one uses {self.cfg.neuron!r}")
        key = tuple((t.data_ptr(), t._version) for t in (*self.parameters(), *self.buffers()))
        if key == self._plan_key:
            return self._plan
        grid = self.input_quant.grid()
        grids, units, layers = [], [], []
        for module in self._integer_layers():
            grids.append(grid)
            if isinstance(module, ChannelwiseNeuron):
                ints = module.integer_params(grid)
                layer = Neuron(ints.sign, ints.shift, ints.theta, module.dilation, module.shift_max, MAX_ACC_WIDTH)
                units.append(torch.from_numpy(ints.unit))
            else:
                layer = module.to_integer(grid)
                units.append(module.out_unit(grid.unit))
            lo, hi = layer_interval(layer, grid.lo, grid.hi, self.inp.timesteps)
            layers.append(replace(layer, acc_width=required_width(lo, hi)))
            grid = Grid.spikes() if isinstance(module, ChannelwiseNeuron) else Grid(units[-1], lo, hi)
        spec = TensorSpec(self.inp.kind, 1 if self.inp.kind == "spike" else self.inp.width, self.inp.channels,
                          self.inp.length)
        model = IntegerModel(spec, self.inp.timesteps, tuple(layers))
        dtypes = []
        for bound, in_spec in zip(analyze(model), model.specs):
            widest = max(bound.required_width, in_spec.width)
            dtypes.append(torch.float32 if widest <= FLOAT32_EXACT_WIDTH else torch.float64)
        self._plan = IntegerPlan(model, tuple(grids), tuple(dtypes), tuple(units))
        self._plan_key = key
        return self._plan

    def forward(self, x: torch.Tensor, record: list | None = None) -> torch.Tensor:
        """``x [T, B, C, L]`` -> readout running sums ``[T, B, classes]``.

        With ``record`` (a list) in eval mode, appends every integer layer's
        output ``[T, B, features]`` (in the layer's exact compute dtype).
        """
        x = self.input_quant(x)
        if self.cfg.neuron == "saf":
            x = accumulate(x, leak(self.cfg.tau))
        plan = self.integer_plan() if self.quantize and not self.training else None
        grid = self.input_quant.grid() if self.quantize else None
        index = 0
        for module in self.layers:
            if isinstance(module, nn.Dropout):
                x = module(x)
                continue
            if plan is not None:
                x = module(x, plan.grids[index], plan.dtypes[index])
            elif self.quantize:
                x = module(x, grid)
                grid = Grid.spikes() if isinstance(module, ChannelwiseNeuron) else Grid(module.out_unit(grid.unit))
            else:
                x = module(x)
            if record is not None:
                record.append(x.flatten(2))
            index += 1
        return x

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, classes]``: the readout's final sums divided by T (the training loss input)."""
        return self.forward(x)[-1] / x.shape[0]
