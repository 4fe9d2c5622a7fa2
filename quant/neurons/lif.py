"""Multi-step leaky integrate-and-fire neuron, the serial baseline.

``V[t] = V[t-1] + (x[t] - V[t-1]) / tau``; ``S[t] = Heaviside(V[t] - v_threshold)``;
then a ``hard`` reset (``V <- V * (1 - S)``, to 0) or a ``soft`` one
(``V <- V - S * v_threshold``). Input ``x [T, B, ...]``, spikes of the same shape.
The loop over time is sequential by nature.
"""

from __future__ import annotations

import torch
from torch import nn

from ..surrogate import Surrogate

RESETS = ("hard", "soft")


class LIF(nn.Module):
    def __init__(self, tau: float = 2.0, reset: str = "hard", v_threshold: float = 1.0, *,
                 surrogate: Surrogate = Surrogate()):
        super().__init__()
        if reset not in RESETS:
            raise ValueError(f"unknown reset {reset!r}; choose one of {', '.join(RESETS)}")
        self.tau, self.reset, self.v_threshold, self.surrogate = tau, reset, v_threshold, surrogate

    def extra_repr(self) -> str:
        return f"tau={self.tau}, reset={self.reset}, v_threshold={self.v_threshold}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(x[0])
        spikes = []
        for x_t in x:
            v = v + (x_t - v) / self.tau
            s = self.surrogate(v - self.v_threshold)
            v = v * (1 - s) if self.reset == "hard" else v - s * self.v_threshold
            spikes.append(s)
        return torch.stack(spikes)
