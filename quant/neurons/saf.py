"""The LIF neuron trained by spike accumulation forwarding (SAF), as a network layer.

Saiin et al., arXiv 2310.02772; the equations, the equivalence with an ordinary
soft-reset LIF network and the gradient argument are in :mod:`shiftspike.quant.saf`.
In a :class:`~shiftspike.quant.network.SpikingNetwork` with ``neuron = "saf"``
every tensor between layers is a spike *accumulation* ``a[t] = lam a[t-1] + s[t]``
(``lam = 1 - 1/tau``), the network input included, and the synapse feeding a SAF
neuron has no bias of its own: the neuron owns it and adds its accumulation
``b * beta[t]`` (``beta[t] = 1 + lam + .. + lam^t``). So the synapse's output is
``W a_prev[t]`` and the neuron computes::

    U[t] = W a_prev[t] + b beta[t]
    s[t] = H(U[t] - V (lam a[t-1] + 1))
    a[t] = lam a[t-1] + s[t]          (a[t-1] detached: gradients through U[t] only)

The synapses run time-batched (one matrix product over all ``T`` steps); the
recurrence over ``a`` is elementwise. The gradients are SAF's: the same as
summing :meth:`~shiftspike.quant.saf.SAFNetwork.train_online`'s per-step
gradients, since every step's graph is separate (``tests/test_saf.py``). This
whole-sequence form keeps each step's activations for the backward pass; the
online form in :mod:`shiftspike.quant.saf` keeps one step's.
"""

from __future__ import annotations

import torch
from torch import nn

from ..saf import leak, saf_fire
from ..surrogate import Surrogate


def accumulate(x: torch.Tensor, lam: float) -> torch.Tensor:
    """``a [T, ...]`` with ``a[t] = lam a[t-1] + x[t]``, ``a[-1] = 0``, for ``x [T, ...]`` (the input's accumulation)."""
    a, out = torch.zeros_like(x[0]), []
    for x_t in x:
        a = lam * a + x_t
        out.append(a)
    return torch.stack(out)


class SAFNeuron(nn.Module):
    """SAF LIF layer: synapse output ``W a_prev [T, B, C, *rest]`` -> accumulations ``a`` of the same shape.

    ``bias [C]`` is the neuron's (the LIF input current's) bias. :meth:`spikes` recovers
    ``s[t] = a[t] - lam a[t-1]`` from the accumulations.
    """

    def __init__(self, channels: int, tau: float = 2.0, v_threshold: float = 0.5, *,
                 surrogate: Surrogate = Surrogate()):
        super().__init__()
        self.channels, self.tau, self.lam, self.v_threshold = channels, tau, leak(tau), v_threshold
        self.surrogate = surrogate
        self.bias = nn.Parameter(torch.zeros(channels))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, tau={self.tau}, v_threshold={self.v_threshold}"

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        bias = self.bias.to(current.dtype).view(self.channels, *([1] * (current.dim() - 3)))
        a, beta, out = torch.zeros_like(current[0]), 0.0, []
        for current_t in current:
            beta = self.lam * beta + 1.0
            _, a = saf_fire(current_t + bias * beta, a, self.lam, self.v_threshold, self.surrogate)
            out.append(a)
        return torch.stack(out)

    def spikes(self, a: torch.Tensor) -> torch.Tensor:
        """Binary spikes ``s [T, ...]`` of accumulations ``a [T, ...]``."""
        return a - self.lam * torch.cat([torch.zeros_like(a[:1]), a[:-1]])
