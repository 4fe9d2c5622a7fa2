"""Dynamic-decay spiking neuron: parallel training, serial inference.

After Huang et al., "Parallel Training in Spiking Neural Networks" (arXiv 2602.01133). The
published idea: drop the reset, which blocks parallel training, and hand its two jobs (the
nonlinearity, and control of the membrane over short and long spans) to an input-dependent
decay. This module implements that idea in the following form (ours, documented as such):

* ``beta[t, c] = sigmoid(sum_{i<k} w[c, i] * X[t - i, c] + bias[c])`` (a per-channel causal kernel
  of order ``k`` over the input; ``X = 0`` before ``t = 0``);
* ``H[t] = beta[t] * H[t-1] + (1 - beta[t]) * X[t]``, ``H[-1] = 0``;
* binary spikes ``S[t] = Heaviside(H[t] - V_th)``, or integer spikes: ``S[t] = clamp(floor(H[t] / V_th), 0, D)``
  during training (straight-through gradient inside ``[0, D]``), emitted at inference as up to ``D``
  binary events per step (:func:`events`).

``beta`` depends on ``X`` only, so ``H`` is linear in its own past: the whole sequence is the linear
recurrence ``H[t] = a[t] H[t-1] + b[t]`` over ``(a, b) = (beta, (1 - beta) X)``, whose terms are all known
before it runs. It is computed (and differentiated) in one pass over time for all lanes at once
(``temporal.scan.linear_scan``): no per-step Python, no graph over time. Step by step it needs ``O(k)``
state: the last ``k - 1`` inputs and ``H``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..surrogate import Surrogate
from ..temporal import temporal_conv
from ..temporal.scan import linear_scan

SPIKE_MODES = ("binary", "integer")


class _IntegerSpikes(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ratio, limit):
        ctx.save_for_backward(ratio)
        ctx.limit = limit
        return torch.clamp(torch.floor(ratio), 0, limit)

    @staticmethod
    def backward(ctx, grad):
        (ratio,) = ctx.saved_tensors
        return grad * ((ratio >= 0) & (ratio <= ctx.limit)).to(grad.dtype), None


def events(counts: torch.Tensor, limit: int) -> torch.Tensor:
    """Integer spike counts ``[T, ...]`` in ``[0, limit]`` -> binary events ``[T, limit, ...]``
    (sub-step ``j`` fires when ``count > j``)."""
    steps = torch.arange(limit, device=counts.device).view(1, limit, *([1] * (counts.dim() - 1)))
    return (counts.unsqueeze(1) > steps).to(counts.dtype)


class DynamicDecay(nn.Module):
    """Dynamic-decay neuron over ``channels`` (axis 2 of ``x [T, B, C, *rest]``).

    ``order``: k taps of the decay kernel; ``spikes``: ``"binary"`` or ``"integer"`` (``max_spikes`` = D);
    ``impl``: the temporal-convolution implementation of the decay kernel (see ``quant.temporal``).
    """

    def __init__(self, channels: int, order: int = 4, v_threshold: float = 0.5, *, spikes: str = "binary",
                 max_spikes: int = 4, surrogate: Surrogate = Surrogate(), impl: str = "auto"):
        super().__init__()
        if spikes not in SPIKE_MODES:
            raise ValueError(f"spikes must be one of {', '.join(SPIKE_MODES)}, got {spikes!r}")
        self.channels, self.order, self.v_threshold = channels, order, v_threshold
        self.spikes, self.max_spikes, self.surrogate, self.impl = spikes, max_spikes, surrogate, impl
        self.weight = nn.Parameter(torch.zeros(channels, order))
        self.bias = nn.Parameter(torch.zeros(channels))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, order={self.order}, v_threshold={self.v_threshold}, spikes={self.spikes}"

    def _per_channel(self, x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """``values [..., C]`` broadcast to the channel axis (2) of ``x``."""
        return values.view(*values.shape[:-1], self.channels, *([1] * (x.dim() - 3)))

    def decay(self, x: torch.Tensor) -> torch.Tensor:
        """``beta [T, B, C, ...]``: sigmoid of the causal order-k kernel over ``x`` plus the bias. The kernel is
        the product's per-channel temporal convolution (``temporal_conv``, dilation 1)."""
        return torch.sigmoid(temporal_conv(x, self.weight, 1, impl=self.impl) + self._per_channel(x, self.bias))

    def membrane(self, x: torch.Tensor) -> torch.Tensor:
        """Parallel form: ``H`` of the same shape as ``x``, by one pass of the linear recurrence over time (``linear_scan``)."""
        beta = self.decay(x)
        return linear_scan(beta, (1 - beta) * x)

    def fire(self, h: torch.Tensor) -> torch.Tensor:
        if self.spikes == "binary":
            return self.surrogate(h - self.v_threshold)
        return _IntegerSpikes.apply(h / self.v_threshold, self.max_spikes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fire(self.membrane(x))

    @torch.no_grad()
    def serial(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Step by step with ``O(k)`` state per neuron (the last ``k - 1`` inputs and ``H``):
        ``(spikes, H)`` shaped like ``x``. Works for any ``T``; memory does not grow with ``T``."""
        history = torch.zeros((self.order, *x.shape[1:]), dtype=x.dtype, device=x.device)
        h = torch.zeros_like(x[0])
        weight = self.weight.to(x.dtype)
        shape = (self.channels, *([1] * (x.dim() - 3)))
        spikes, membranes = [], []
        for x_t in x:
            history = torch.cat([x_t.unsqueeze(0), history[:-1]])  # history[i] = x[t - i]
            drive = sum(history[i] * weight[:, i].view(shape) for i in range(self.order))
            beta = torch.sigmoid(drive + self.bias.to(x.dtype).view(shape))
            h = beta * h + (1 - beta) * x_t
            membranes.append(h)
            spikes.append(self.fire(h))
        return torch.stack(spikes), torch.stack(membranes)
