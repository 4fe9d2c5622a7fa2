"""Quantization-aware synapse, pooling, input and readout layers.

Each layer mirrors one integer-model layer (``docs/semantics.md``) and works on
time-first tensors ``[T, B, C, L]`` (or ``[T, B, F]`` for vectors). Every layer
has ``forward(x, grid, dtype)``, ``out_unit(unit)`` (the power-of-two unit of
its output, see :mod:`shiftspike.quant.grid`) and ``to_integer(grid)`` (its
``shiftspike.sim`` layer, built from exactly the values the eval forward uses).
With ``quantize=False`` the synapses are plain float layers.

Synapse weights are ``bits``-bit integers times a power-of-two scale, per
output channel when the layer feeds a neuron (the neuron's per-channel
threshold absorbs it) and per tensor otherwise. Biases are integers on the
output grid ``scale * input_unit``. Accumulator widths are set to the maximum
here and fitted by the bound analysis at export.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shiftspike.sim import Conv1d, Dense, Readout, SumPool
from shiftspike.sim.fixed import MAX_ACC_WIDTH, signed_range

from .grid import Grid
from .quantizers import fake_int, int_values, ste, weight_ints

BIAS_BITS = 32


def _to(x: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    return x if dtype is None else x.to(dtype)


class QInput(nn.Module):
    """Input quantizer: ``x -> clamp(round(x / scale), lo, hi) * scale`` for ``int`` inputs of ``width`` bits.

    Spike inputs pass through (values must already be 0/1).
    """

    def __init__(self, kind: str, width: int, scale: float):
        super().__init__()
        self.kind, self.width, self.scale = kind, width, scale

    def extra_repr(self) -> str:
        return f"{self.kind}, width={self.width}, scale={self.scale}"

    def grid(self) -> Grid:
        if self.kind == "spike":
            return Grid.spikes()
        lo, hi = signed_range(self.width)
        return Grid(torch.tensor(self.scale, dtype=torch.float64), lo, hi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "spike":
            return x
        lo, hi = signed_range(self.width)
        return fake_int(x, self.scale, lo, hi)


class _QSynapse(nn.Module):
    """Shared quantization of dense and conv1d weights and biases."""

    def __init__(self, bits: int, pow2: bool, per_channel: bool, quantize: bool):
        super().__init__()
        if not 2 <= bits <= 16:
            raise ValueError(f"weight bits must be in [2, 16], got {bits}")
        self.bits, self.pow2, self.per_channel, self.quantize = bits, pow2, per_channel, quantize

    def ints(self, unit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """``(w_int, b_int, scale)`` float64 on input unit ``unit`` (0-d)."""
        w_int, scale = weight_ints(self.weight, self.bits, self.per_channel, self.pow2)
        b_int = None if self.bias is None else int_values(self.bias, scale * unit, *signed_range(BIAS_BITS))
        return w_int, b_int, scale

    def quantized(self, grid: Grid, where: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Fake-quantized ``(weight, bias)`` in the parameters' dtype, straight-through."""
        unit = grid.scalar_unit(where)
        w_int, b_int, scale = self.ints(unit)
        w_scale = scale.view(-1, *([1] * (self.weight.dim() - 1))) if self.per_channel else scale
        w = ste(self.weight, (w_int * w_scale).to(self.weight.dtype))
        b = None if b_int is None else ste(self.bias, (b_int * scale * unit).to(self.bias.dtype))
        return w, b

    def out_unit(self, unit: torch.Tensor) -> torch.Tensor:
        return unit * weight_ints(self.weight, self.bits, self.per_channel, self.pow2)[1]

    def _params(self, grid: Grid | None, dtype: torch.dtype | None):
        if not self.quantize:
            return self.weight, self.bias
        w, b = self.quantized(grid, type(self).__name__)
        return _to(w, dtype), None if b is None else _to(b, dtype)

    def _integer_arrays(self, grid: Grid):
        w_int, b_int, _ = self.ints(grid.scalar_unit(type(self).__name__))
        return w_int.to(torch.int64).numpy(), None if b_int is None else b_int.to(torch.int64).numpy()


class QDense(_QSynapse):
    """Fully connected synapse: ``[T, B, *features] -> [T, B, out_features]`` (input flattened channel-major)."""

    def __init__(self, in_features: int, out_features: int, *, bits: int = 8, pow2: bool = False,
                 per_channel: bool = True, bias: bool = True, quantize: bool = True):
        super().__init__(bits, pow2, per_channel, quantize)
        linear = nn.Linear(in_features, out_features, bias=bias)
        self.weight, self.bias = linear.weight, linear.bias

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]} -> {self.weight.shape[0]}, bits={self.bits}, pow2={self.pow2}, " \
               f"per_channel={self.per_channel}, quantize={self.quantize}"

    def forward(self, x: torch.Tensor, grid: Grid | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
        w, b = self._params(grid, dtype)
        return F.linear(_to(x.flatten(2), dtype), w, b)

    def to_integer(self, grid: Grid) -> Dense:
        w, b = self._integer_arrays(grid)
        return Dense(w, b, self.bits, MAX_ACC_WIDTH)


class QConv1d(_QSynapse):
    """1-D convolution over space: ``[T, B, C_in, L] -> [T, B, C_out, L_out]`` (same weights at every step)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, *, stride: int = 1, padding: int = 0,
                 bits: int = 8, pow2: bool = False, per_channel: bool = True, bias: bool = True,
                 quantize: bool = True):
        super().__init__(bits, pow2, per_channel, quantize)
        conv = nn.Conv1d(in_channels, out_channels, kernel, stride=stride, padding=padding, bias=bias)
        self.weight, self.bias = conv.weight, conv.bias
        self.stride, self.padding = stride, padding

    def extra_repr(self) -> str:
        c_out, c_in, k = self.weight.shape
        return f"{c_in} -> {c_out}, kernel={k}, stride={self.stride}, padding={self.padding}, bits={self.bits}, " \
               f"pow2={self.pow2}, per_channel={self.per_channel}, quantize={self.quantize}"

    def forward(self, x: torch.Tensor, grid: Grid | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
        w, b = self._params(grid, dtype)
        x = x if x.dim() == 4 else x.unsqueeze(-1)
        steps, batch = x.shape[:2]
        y = F.conv1d(_to(x.flatten(0, 1), dtype), w, b, stride=self.stride, padding=self.padding)
        return y.view(steps, batch, *y.shape[1:])

    def to_integer(self, grid: Grid) -> Conv1d:
        w, b = self._integer_arrays(grid)
        return Conv1d(w, b, self.bits, MAX_ACC_WIDTH, stride=self.stride, padding=self.padding)


class QSumPool(nn.Module):
    """Sum pooling over space: ``[T, B, C, L] -> [T, B, C, L // window]`` (the integer model's sumpool).

    A sum rather than an average keeps values on the integer grid; the factor
    ``window`` is absorbed by the next layer's weights.
    """

    def __init__(self, window: int):
        super().__init__()
        self.window = window

    def extra_repr(self) -> str:
        return f"window={self.window}"

    def forward(self, x: torch.Tensor, grid: Grid | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
        out = x.shape[-1] // self.window
        return _to(x[..., : out * self.window], dtype).unflatten(-1, (out, self.window)).sum(-1)

    def out_unit(self, unit: torch.Tensor) -> torch.Tensor:
        return unit

    def to_integer(self, grid: Grid) -> SumPool:
        return SumPool(self.window, MAX_ACC_WIDTH)


class QReadout(nn.Module):
    """Running sum over time: ``[T, B, *features] -> [T, B, F]``; ``M[T-1]`` are the class scores."""

    def forward(self, x: torch.Tensor, grid: Grid | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
        return torch.cumsum(_to(x.flatten(2), dtype), dim=0)

    def out_unit(self, unit: torch.Tensor) -> torch.Tensor:
        return unit

    def to_integer(self, grid: Grid) -> Readout:
        grid.scalar_unit("readout")
        return Readout(MAX_ACC_WIDTH)
