"""The Parallel Spiking Neuron family (Fang et al., NeurIPS 2023), float baselines.

All take ``x [T, B, C, *rest]`` (time first) and return spikes of the same shape.

* :class:`PSN`: ``H = W @ X + b`` over time with a learnable ``W [T, T]`` and a
  per-step threshold ``b [T]`` (init -1); ``S = Heaviside(H)``. Cost ``T^2`` per channel.
* :class:`MaskedPSN`: the same with ``W`` masked to a band of order ``k``
  (``W[t, j] = 0`` unless ``0 <= t - j < k``).
* :class:`SlidingPSN`: one ``k``-tap kernel shared by every channel, sliding
  over time (no dilation), scalar threshold ``b`` (init -1).

No quantization: these are the side-by-side references for the mul-free neuron.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..surrogate import Surrogate
from ..temporal import temporal_conv


class PSN(nn.Module):
    """Parallel spiking neuron with a full learnable ``[T, T]`` temporal matrix."""

    def __init__(self, timesteps: int, *, surrogate: Surrogate = Surrogate()):
        super().__init__()
        self.timesteps, self.surrogate = timesteps, surrogate
        self.weight = nn.Parameter(torch.empty(timesteps, timesteps))
        self.bias = nn.Parameter(torch.full((timesteps, 1), -1.0))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def matrix(self) -> torch.Tensor:
        return self.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != self.timesteps:
            raise ValueError(f"{type(self).__name__} was built for T = {self.timesteps}, got T = {x.shape[0]}")
        h = torch.addmm(self.bias, self.matrix(), x.flatten(1))
        return self.surrogate(h).view(x.shape)


class MaskedPSN(PSN):
    """PSN whose matrix is restricted to the last ``order`` steps (a causal band)."""

    def __init__(self, timesteps: int, order: int, *, surrogate: Surrogate = Surrogate()):
        super().__init__(timesteps, surrogate=surrogate)
        self.order = order
        lag = torch.arange(timesteps)[:, None] - torch.arange(timesteps)[None, :]
        self.register_buffer("mask", ((lag >= 0) & (lag < order)).float())

    def matrix(self) -> torch.Tensor:
        return self.weight * self.mask


class SlidingPSN(nn.Module):
    """One ``order``-tap kernel shared by all channels; tap ``i`` weighs ``x[t - i]``.

    Initialised like a LIF with tau = 2 (tap ``i`` = ``2^-i``).
    """

    def __init__(self, order: int, *, surrogate: Surrogate = Surrogate(), impl: str = "auto"):
        super().__init__()
        self.order, self.surrogate, self.impl = order, surrogate, impl
        self.weight = nn.Parameter(torch.exp2(-torch.arange(order, dtype=torch.float32)))
        self.bias = nn.Parameter(torch.tensor(-1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = temporal_conv(x, self.weight.expand(x.shape[2], self.order), 1, impl=self.impl)
        return self.surrogate(h + self.bias)
