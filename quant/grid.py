"""The integer grid of an activation: how a QAT tensor maps onto integer-model values.

Between two layers every QAT tensor holds values ``x = x_int * unit[c]`` with
``x_int`` an integer in ``[lo, hi]``: ``unit`` is a power of two per channel
(shape ``[C]``) or one for the whole tensor (0-d), float64. Spikes have unit 1
and interval ``[0, 1]``. Layers read the grid of their input to choose their
integer parameters (bias grid, threshold grid) and return the grid of their
output. Power-of-two units make ``x_int * unit`` exact in floating point
whenever ``|x_int|`` fits the mantissa (2^24 in float32, 2^53 in float64).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SPIKES_UNIT = 1.0


@dataclass(frozen=True)
class Grid:
    """``unit``: float64 0-d or ``[C]``; ``lo``/``hi``: inclusive integer interval.

    During training only ``unit`` is tracked (``lo``/``hi`` are None); the
    interval is computed by the integer plan for the exact eval path.
    """

    unit: torch.Tensor
    lo: int | None = None
    hi: int | None = None

    @staticmethod
    def spikes() -> "Grid":
        return Grid(torch.tensor(SPIKES_UNIT, dtype=torch.float64), 0, 1)

    @property
    def per_channel(self) -> bool:
        return self.unit.dim() == 1

    def channel_units(self, channels: int) -> torch.Tensor:
        """``[channels]`` float64 units (a scalar unit broadcast)."""
        return self.unit.expand(channels) if self.unit.dim() == 0 else self.unit

    def scalar_unit(self, where: str) -> torch.Tensor:
        """The single unit of this tensor; a per-channel grid cannot feed a synapse exactly."""
        if self.per_channel:
            raise ValueError(f"{where}: the input has per-channel scales; a synapse needs one scale for its whole "
                             "input (put a neuron or a per-tensor-scaled synapse before it)")
        return self.unit
