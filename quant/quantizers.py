"""Fake quantizers with power-of-two scales, all with straight-through gradients.

Every quantizer here is the identity in the backward pass (``dQ/dw = 1`` for
the whole quantizer, written ``w + (q - w).detach()``). The naive alternative,
differentiating through ``round(log2|w|)``, gives zero or NaN gradients.

Scales are powers of two so that folding them into the integer model is exact:
a value ``x_int * 2^s`` is represented without rounding in float32 as long as
``|x_int| <= 2^24`` (float64: ``2^53``).
"""

from __future__ import annotations

import torch


def ste(w: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``q`` in the forward pass, the identity in the backward pass."""
    return w + (q - w).detach()


def signed_limit(bits: int) -> int:
    """Largest magnitude used for ``bits``-bit weights: ``2^(bits-1) - 1`` (symmetric)."""
    return (1 << (bits - 1)) - 1


def int_values(x: torch.Tensor, scale: torch.Tensor | float, lo: int, hi: int) -> torch.Tensor:
    """``clamp(round(x / scale), lo, hi)`` in float64 (round half to even), detached."""
    return torch.clamp(torch.round(x.detach().to(torch.float64) / scale), lo, hi)


def fake_int(x: torch.Tensor, scale: torch.Tensor | float, lo: int, hi: int) -> torch.Tensor:
    """``int_values(x) * scale`` in ``x``'s dtype, straight-through."""
    return ste(x, (int_values(x, scale, lo, hi) * scale).to(x.dtype))


def pow2_exponents(weight: torch.Tensor) -> torch.Tensor:
    """``round(log2|w|)`` in float64 (``-inf`` where ``w == 0``), detached."""
    return torch.round(torch.log2(weight.detach().to(torch.float64).abs()))


def pow2_values(sign: torch.Tensor, exponent: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``sign * 2^exponent`` where ``keep``, else 0 (float64)."""
    return torch.where(keep, sign * torch.exp2(torch.where(keep, exponent, torch.zeros_like(exponent))), 0.0)


def weight_ints(weight: torch.Tensor, bits: int, per_channel: bool, pow2: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(w_int, scale)``: integer weights (float64, same shape) and their power-of-two scale.

    ``bits``-bit symmetric integers, or with ``pow2`` the integer powers of two
    ``{0, ±1, ±2, ..., ±2^(bits-2)}`` (rounded in the log domain; magnitudes
    below ``2^-0.5`` of the scale become 0) so every product is a shift.
    ``scale`` is ``[C_out]`` per output channel or 0-d per tensor.
    """
    top = (1 << (bits - 2)) if pow2 else signed_limit(bits)
    w = weight.detach().to(torch.float64)
    peak = w.abs().flatten(1).amax(dim=1) if per_channel else w.abs().amax()
    peak = torch.where(peak > 0, peak, torch.ones_like(peak))
    scale = torch.exp2(torch.ceil(torch.log2(peak / top)))
    scaled = w / (scale.view(-1, *([1] * (w.dim() - 1))) if per_channel else scale)
    if not pow2:
        return torch.clamp(torch.round(scaled), -top, top), scale
    e = pow2_exponents(scaled)
    keep = e >= 0
    return pow2_values(torch.sign(scaled), torch.clamp(e, max=bits - 2), keep), scale
