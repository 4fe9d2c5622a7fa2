"""``temporal_conv``: the channel-wise causal dilated temporal convolution, one entry point.

``x [T, B, C, *rest]`` (float32 or float64), ``weight [C, k]`` of the same dtype, integer
``dilation >= 1``:

    H[t, b, c, r] = sum_{i=0..k-1} weight[c, i] * x[t - i*d, b, c, r],   x[t] = 0 for t < 0

Tap 0 multiplies the current step. ``H`` has the shape and dtype of ``x``; gradients flow
to ``x`` and ``weight``.
"""

from __future__ import annotations

import torch

from .autoselect import choose
from .impls import EXACT, IMPLEMENTATIONS


def _check(x: torch.Tensor, weight: torch.Tensor, dilation: int) -> None:
    if x.dim() < 3:
        raise ValueError(f"x must be [T, B, C, *rest], got shape {tuple(x.shape)}")
    if weight.dim() != 2 or weight.shape[0] != x.shape[2] or weight.shape[1] < 1:
        raise ValueError(f"weight must be [C={x.shape[2]}, k >= 1], got shape {tuple(weight.shape)}")
    if x.dtype not in (torch.float32, torch.float64) or weight.dtype != x.dtype:
        raise TypeError(f"x and weight must both be float32 or both float64, got {x.dtype} and {weight.dtype}")
    if isinstance(dilation, bool) or not isinstance(dilation, int) or dilation < 1:
        raise ValueError(f"dilation must be an int >= 1, got {dilation!r}")
    if x.numel() == 0:
        raise ValueError(f"x must not be empty, got shape {tuple(x.shape)}")


def temporal_conv(x: torch.Tensor, weight: torch.Tensor, dilation: int, impl: str = "auto",
                  exact: bool = False) -> torch.Tensor:
    """``H`` as above, computed by ``impl`` (a key of ``IMPLEMENTATIONS``) or, with ``"auto"``,
    by the fastest one for this shape (see ``autoselect``).

    ``exact=True`` allows only the implementations in ``EXACT`` (all but ``fft``): with
    integer-valued inputs times a power of two and power-of-two weights whose sums fit the
    mantissa (24 bits float32, 53 bits float64) they return the exact result bit for bit.
    """
    _check(x, weight, dilation)
    if impl == "auto":
        impl = choose(x, weight, dilation, exact)
    elif impl not in IMPLEMENTATIONS:
        raise ValueError(f"unknown impl {impl!r}; choose 'auto' or one of {sorted(IMPLEMENTATIONS)}")
    elif exact and impl not in EXACT:
        raise ValueError(f"impl {impl!r} is not exact; exact=True allows {sorted(EXACT)}")
    return IMPLEMENTATIONS[impl](x, weight, dilation)
