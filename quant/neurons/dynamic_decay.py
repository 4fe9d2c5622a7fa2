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

``beta`` depends on ``X`` only, so ``H`` is linear in its own past: the whole sequence is an associative
scan over the pairs ``(a, b) = (beta, (1 - beta) X)`` with ``(a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2)``,
computed in ``ceil(log2 T)`` doubling steps (:func:`linear_scan`). Step by step it needs ``O(k)`` state:
the last ``k - 1`` inputs and ``H``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..surrogate import Surrogate

SPIKE_MODES = ("binary", "integer")


def linear_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``H[t] = a[t] H[t-1] + b[t]`` (``H[-1] = 0``) for ``a, b [T, ...]``, by recursive doubling
    (Hillis-Steele): ``ceil(log2 T)`` elementwise steps, differentiable."""
    steps = a.shape[0]
    shift = 1
    while shift < steps:
        b = torch.cat([b[:shift], a[shift:] * b[:-shift] + b[shift:]])
        a = torch.cat([a[:shift], a[shift:] * a[:-shift]])
        shift *= 2
    return b


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

    ``order``: k taps of the decay kernel; ``spikes``: ``"binary"`` or ``"integer"`` (``max_spikes`` = D).
    """

    def __init__(self, channels: int, order: int = 4, v_threshold: float = 0.5, *, spikes: str = "binary",
                 max_spikes: int = 4, surrogate: Surrogate = Surrogate()):
        super().__init__()
        if spikes not in SPIKE_MODES:
            raise ValueError(f"spikes must be one of {', '.join(SPIKE_MODES)}, got {spikes!r}")
        self.channels, self.order, self.v_threshold = channels, order, v_threshold
        self.spikes, self.max_spikes, self.surrogate = spikes, max_spikes, surrogate
        self.weight = nn.Parameter(torch.zeros(channels, order))
        self.bias = nn.Parameter(torch.zeros(channels))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, order={self.order}, v_threshold={self.v_threshold}, spikes={self.spikes}"

    def _per_channel(self, x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """``values [..., C]`` broadcast to the channel axis (2) of ``x``."""
        return values.view(*values.shape[:-1], self.channels, *([1] * (x.dim() - 3)))

    def decay(self, x: torch.Tensor) -> torch.Tensor:
        """``beta [T, B, C, ...]``: sigmoid of the causal order-k kernel over ``x`` plus the bias."""
        steps = x.shape[0]
        padded = F.pad(x.movedim(0, -1), (self.order - 1, 0))  # [B, C, ..., T + k - 1]
        windows = padded.unfold(-1, self.order, 1)  # [B, C, ..., T, k]; window[j] = x[t - k + 1 + j]
        kernel = self.weight.flip(-1).view(self.channels, *([1] * (x.dim() - 3)), 1, self.order)
        drive = (windows * kernel).sum(-1).movedim(-1, 0)[:steps]
        return torch.sigmoid(drive + self._per_channel(x, self.bias))

    def membrane(self, x: torch.Tensor) -> torch.Tensor:
        """Parallel form: ``H`` of the same shape as ``x``, by an associative scan over time."""
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
