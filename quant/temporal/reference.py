"""Float64 reference of the channel-wise causal dilated temporal convolution.

``x [T, B, C, *rest]`` (any float dtype), ``weight [C, k]``, dilation ``d >= 1``:

    H[t, b, c, r] = sum_{i=0..k-1} weight[c, i] * x[t - i*d, b, c, r],   x[t] = 0 for t < 0

Tap ``i = 0`` multiplies the current step. The result is float64 (differentiable through
autograd), written as the plainest loop over steps and taps; the tests compare every
implementation against it.
"""

from __future__ import annotations

import torch


def reference(x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    """``H`` in float64, shape of ``x``."""
    x64 = x.double()
    w64 = weight.double()
    channels = x.shape[2]
    per_channel = (channels,) + (1,) * (x.dim() - 3)
    rows = []
    for t in range(x.shape[0]):
        h = torch.zeros_like(x64[0])
        for i in range(w64.shape[1]):
            if t - i * dilation >= 0:
                h = h + w64[:, i].reshape(per_channel) * x64[t - i * dilation]
        rows.append(h)
    return torch.stack(rows)
