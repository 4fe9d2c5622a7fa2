"""Implementations of the temporal convolution, all with the signature ``f(x, weight, dilation)``.

``x [T, B, C, *rest]`` float32 or float64, ``weight [C, k]`` of the same dtype, ``dilation >= 1``;
the result ``H[t] = sum_i weight[:, i] * x[t - i*d]`` (zeros before ``t = 0``, tap 0 = current
step) has the shape and dtype of ``x`` and is contiguous. All are differentiable w.r.t.
``x`` and ``weight``.

* ``conv1d``: grouped dilated ``torch.nn.functional.conv1d`` on a time-last copy
  ``[B*prod(rest), C, T]``, left padded by ``(k-1)*d``, kernel flipped (conv1d correlates).
* ``taploop``: ``k`` shifted multiply-adds on time-first slices, no layout change.
* ``toeplitz``: one banded ``T x T`` matrix per channel built from ``weight`` (by indexing, so
  differentiable) and one batched matmul. Memory ``C*T*T``: refused above
  ``TOEPLITZ_MAX_STEPS`` steps.
* ``fft``: ``rfft`` over time against the zero-stuffed dilated kernel, length at least
  ``T + (k-1)*d`` so the circular wrap never reaches the kept ``T`` outputs. Not exact
  (the transform rounds), so ``exact=True`` excludes it.
* ``fused``: the fused Numba kernel (``fused.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .fused import fused

#: ``toeplitz`` refuses longer sequences: its ``C x T x T`` matrix (and the gradient of it)
#: would take 512 MiB per 128 channels at T = 1024 in float32, and its matmul T times
#: the work of the direct sum.
TOEPLITZ_MAX_STEPS = 1024


def conv1d(x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    steps, channels, taps = x.shape[0], x.shape[2], weight.shape[1]
    to_time_last = (1, *range(3, x.dim()), 2, 0)  # [T, B, C, *rest] -> [B, *rest, C, T]
    lanes = x.permute(to_time_last)
    time_last_shape = lanes.shape
    lanes = lanes.reshape(-1, channels, steps)
    kernel = weight.flip(1).unsqueeze(1)  # [C, 1, k], kernel[..., -1] meets the current step
    h = F.conv1d(F.pad(lanes, ((taps - 1) * dilation, 0)), kernel, dilation=dilation, groups=channels)
    back = [0] * x.dim()
    for new, old in enumerate(to_time_last):
        back[old] = new
    return h.reshape(time_last_shape).permute(back).contiguous()


def taploop(x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    steps, taps = x.shape[0], weight.shape[1]
    per_tap = weight.t().reshape(taps, 1, x.shape[2], *([1] * (x.dim() - 3)))  # broadcasts over [B, C, *rest]
    h = x * per_tap[0]
    for i in range(1, min(taps, (steps - 1) // dilation + 1)):
        shift = i * dilation
        h[shift:] += per_tap[i] * x[: steps - shift]
    return h


def _stuffed(weight: torch.Tensor, dilation: int, length: int) -> torch.Tensor:
    """``[C, length]``: tap ``i`` at lag ``i*d``, zeros between and after (cut at ``length``)."""
    channels, taps = weight.shape
    kernel = torch.cat([weight.unsqueeze(2), weight.new_zeros(channels, taps, dilation - 1)], dim=2)
    kernel = kernel.reshape(channels, taps * dilation)[:, : min(length, taps * dilation)]
    return F.pad(kernel, (0, length - kernel.shape[1]))


def toeplitz(x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    steps, channels = x.shape[0], x.shape[2]
    if steps > TOEPLITZ_MAX_STEPS:
        raise ValueError(f"toeplitz: T = {steps} > TOEPLITZ_MAX_STEPS = {TOEPLITZ_MAX_STEPS} "
                         f"(its C x T x T matrix grows as T^2); use another implementation")
    # by lag t - s from T-1 down to -(T-1): the kernel reversed, then T-1 zeros (no future taps)
    lags = torch.cat([_stuffed(weight, dilation, steps).flip(1), weight.new_zeros(channels, steps - 1)], dim=1)
    # windows [C, T, T]: row u, column s holds lag (T-1-u) - s, i.e. the matrix with its rows reversed
    reversed_rows = lags.unfold(1, steps, 1)
    lanes = x.movedim(2, 0)  # [C, T, B, *rest]
    h = torch.bmm(reversed_rows, lanes.reshape(channels, steps, -1)).flip(1)
    return h.reshape(lanes.shape).movedim(0, 2).contiguous()


def _fast_length(n: int) -> int:
    """Smallest ``m >= n`` with no prime factor above 5 (a fast size for the FFT)."""
    m = n
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


def fft(x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    steps, channels, taps = x.shape[0], x.shape[2], weight.shape[1]
    span = (taps - 1) * dilation + 1
    length = _fast_length(steps + span - 1)
    spectrum = torch.fft.rfft(_stuffed(weight, dilation, span), n=length, dim=1)  # [C, F]
    spectrum = spectrum.t().reshape(-1, 1, channels, *([1] * (x.dim() - 3)))
    h = torch.fft.irfft(torch.fft.rfft(x, n=length, dim=0) * spectrum, n=length, dim=0)
    return h[:steps].contiguous()


IMPLEMENTATIONS = {
    "fused": fused,
    "conv1d": conv1d,
    "taploop": taploop,
    "toeplitz": toeplitz,
    "fft": fft,
}

#: Implementations whose result is exact whenever every product and partial sum is
#: exactly representable (``exact=True`` chooses among these).
EXACT = frozenset({"fused", "conv1d", "taploop", "toeplitz"})


def applicable(name: str, steps: int) -> bool:
    """Whether ``name`` accepts a sequence of ``steps`` steps."""
    return name != "toeplitz" or steps <= TOEPLITZ_MAX_STEPS

