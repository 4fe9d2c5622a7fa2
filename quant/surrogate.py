"""Heaviside spike function with surrogate gradients.

Forward: ``S = 1 if x >= 0 else 0`` (so a membrane exactly at the threshold
spikes, matching the integer model's ``H >= theta``). Backward: the derivative
of a smooth stand-in ``sigma(x)`` of the step:

* ``atan`` (default, alpha = 2): ``sigma'(x) = alpha / (2 * (1 + (pi/2 * alpha * x)^2))``;
* ``sigmoid``: ``sigma'(x) = alpha * s * (1 - s)`` with ``s = sigmoid(alpha * x)``;
* ``rect``: ``sigma'(x) = 1/alpha`` for ``|x| < alpha/2``, else 0 (a box of unit area).

``x`` is the membrane minus the threshold in the neuron's normalized units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SURROGATES = ("atan", "sigmoid", "rect")


def surrogate_grad(x: torch.Tensor, name: str, alpha: float) -> torch.Tensor:
    """``sigma'(x)`` of surrogate ``name`` with sharpness ``alpha`` (same shape/dtype as ``x``)."""
    if name == "atan":
        return alpha / (2 * (1 + (math.pi / 2 * alpha * x) ** 2))
    if name == "sigmoid":
        s = torch.sigmoid(alpha * x)
        return alpha * s * (1 - s)
    if name == "rect":
        return (x.abs() < alpha / 2).to(x.dtype) / alpha
    raise ValueError(f"unknown surrogate {name!r}; choose one of {', '.join(SURROGATES)}")


class _Heaviside(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, name, alpha):
        ctx.save_for_backward(x)
        ctx.name, ctx.alpha = name, alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * surrogate_grad(x, ctx.name, ctx.alpha), None, None


@dataclass(frozen=True)
class Surrogate:
    """A spike function: ``Surrogate("atan", 2.0)(x)`` -> spikes (0./1.) with surrogate gradients."""

    name: str = "atan"
    alpha: float = 2.0

    def __post_init__(self):
        if self.name not in SURROGATES:
            raise ValueError(f"unknown surrogate {self.name!r}; choose one of {', '.join(SURROGATES)}")
        if not self.alpha > 0:
            raise ValueError(f"surrogate alpha must be > 0, got {self.alpha}")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _Heaviside.apply(x, self.name, self.alpha)
