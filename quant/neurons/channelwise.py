"""The multiplication-free channel-wise parallel spiking neuron (Xue et al., arXiv 2501.14490).

Input ``x [T, B, C, *rest]`` (time first). Channel ``c`` has a ``k``-tap causal
kernel ``W[c]`` with the layer's dilation ``d``:
``H[t, c] = sum_i W[c, i] * x[t - i*d, c]`` (zeros before t = 0), no reset.
The threshold is a BatchNorm over the membrane,
``S = Heaviside(gamma * (H - mu) / sqrt(var + eps) + beta)`` (gamma = 1,
beta = -1 initially; batch statistics in training, running statistics with
momentum 0.1 at eval; under data-parallel training the batch statistics of
the global batch, all-reduced over the ranks; with ``frozen_statistics`` the
running ones in training too, not updated), fused into the kernel before
quantization:
``Wf = W * gamma / sqrt(var + eps)``, ``bf = beta - gamma * mu / sqrt(var + eps)``.

With ``quantize=True`` (the mul-free neuron) the fused taps become powers of two,
``Q(w) = sign(w) * 2^round(log2|w|)``, straight-through, with the exponents
clamped to a window: by default per channel ``[e_top - shift_max, e_top]``
where ``e_top`` is the channel's largest exponent (taps below the window become
0, signs are {-1, 0, +1}); or a fixed ``exp_window = (e_min, e_max)`` for the
whole layer. The bias is snapped to the integer threshold grid: with input grid
unit ``u[c]`` the membrane's integer unit is ``u[c] * 2^e_min[c]`` and
``theta = ceil(-bf / unit)``, so ``S = (H_int >= theta)`` exactly as in the
integer model. With ``quantize=False`` it is the float channel-wise neuron
(the unquantized twin).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from shiftspike.sim.bounds import term_sums

from ..distributed import batch_moments
from ..grid import Grid
from ..quantizers import pow2_exponents, pow2_values, ste
from ..surrogate import Surrogate
from ..temporal import temporal_conv

THETA_LIMIT = 2.0 ** 46


@dataclass(frozen=True)
class NeuronInts:
    """Integer parameters of a quantized neuron layer (numpy, ready for ``sim.Neuron``).

    ``sign`` int8 ``[C, k]``, ``shift`` int8 ``[C, k]`` in ``[0, shift_max]``,
    ``theta`` int64 ``[C]``; ``unit`` float64 ``[C]``: value of one membrane LSB.
    """

    sign: np.ndarray
    shift: np.ndarray
    theta: np.ndarray
    unit: np.ndarray


def _channel_view(v: torch.Tensor, ndim: int) -> torch.Tensor:
    """``[C]`` -> shape broadcasting against ``[T, B, C, *rest]`` of ``ndim`` dims."""
    return v.view(1, 1, -1, *([1] * (ndim - 3)))


class ChannelwiseNeuron(nn.Module):
    """Channel-wise dilated parallel spiking neuron with a fused-BatchNorm threshold.

    ``channels`` C, ``taps`` k, ``dilation`` d. Forward: ``x [T, B, C, *rest]``
    float -> spikes of the same shape (float 0/1). ``impl`` picks the temporal
    convolution (see :mod:`shiftspike.quant.temporal`).
    """

    def __init__(self, channels: int, taps: int, dilation: int = 1, *, quantize: bool = True, shift_max: int = 7,
                 exp_window: tuple[int, int] | None = None, surrogate: Surrogate = Surrogate(),
                 momentum: float = 0.1, eps: float = 1e-5, impl: str = "auto"):
        super().__init__()
        if taps < 1 or dilation < 1 or shift_max < 0:
            raise ValueError("taps and dilation must be >= 1 and shift_max >= 0")
        if exp_window is not None and exp_window[0] > exp_window[1]:
            raise ValueError(f"exp_window {exp_window}: e_min must be <= e_max")
        self.channels, self.taps, self.dilation = channels, taps, dilation
        self.quantize, self.surrogate, self.momentum, self.eps, self.impl = quantize, surrogate, momentum, eps, impl
        self.shift_max = shift_max if exp_window is None else exp_window[1] - exp_window[0]
        self.exp_window = exp_window
        # LIF-like start: tap i weighs 2^-i (a leaky integrator with tau = 2).
        self.weight = nn.Parameter(torch.exp2(-torch.arange(taps, dtype=torch.float32)).repeat(channels, 1))
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(-torch.ones(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        #: Train on the running statistics (kept fixed) instead of the batch's: the quantized kernel and
        #: threshold are then those of eval mode, so QAT trains the integer model itself.
        self.frozen_statistics = False

    def extra_repr(self) -> str:
        window = self.exp_window or f"top-{self.shift_max}"
        return f"{self.channels}, taps={self.taps}, dilation={self.dilation}, quantize={self.quantize}, " \
               f"exp_window={window}"

    def _statistics(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch statistics of the unfused membrane (training) or the running ones (eval, frozen).

        Under data-parallel training the batch is the global one: the statistics
        are all-reduced over the ranks (:func:`~shiftspike.quant.distributed.batch_moments`).
        """
        if not self.training or self.frozen_statistics:
            return self.running_mean, self.running_var
        h = temporal_conv(x, self.weight, self.dilation, impl=self.impl)
        mean, var, n = batch_moments(h, [i for i in range(h.dim()) if i != 2])
        with torch.no_grad():
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(var.detach() * n / max(n - 1, 1), self.momentum)
        return mean, var

    def fused(self, mean: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Wf [C, k], bf [C])``: the BatchNorm folded into kernel and bias."""
        inv = self.gamma / torch.sqrt(var + self.eps)
        return self.weight * inv[:, None], self.beta - mean * inv

    def _exponent_window(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(e_min [C], e_max [C])`` float64 for exponents ``e [C, k]``."""
        if self.exp_window is not None:
            lo, hi = self.exp_window
            return torch.full((e.shape[0],), float(lo), dtype=torch.float64), \
                torch.full((e.shape[0],), float(hi), dtype=torch.float64)
        top = e.amax(dim=1)
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        return top - self.shift_max, top

    def _pow2(self, wf: torch.Tensor, grid: Grid) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(q float64 [C, k], sign, shift, unit [C])`` of the power-of-two fused kernel on ``grid``."""
        e = pow2_exponents(wf)
        e_min, e_max = self._exponent_window(e)
        keep = e >= e_min[:, None]
        e = torch.minimum(e, e_max[:, None])
        sign = torch.where(keep, torch.sign(wf.detach().to(torch.float64)), 0.0)
        shift = torch.where(keep, e - e_min[:, None], 0.0)
        unit = grid.channel_units(self.channels) * torch.exp2(e_min)
        return pow2_values(sign, e, keep), sign, shift, unit

    @staticmethod
    def _theta(bf: torch.Tensor, unit: torch.Tensor) -> torch.Tensor:
        """``ceil(-bf / unit)`` float64 ``[C]``, kept finite."""
        return torch.clamp(torch.ceil(-bf.detach().to(torch.float64) / unit), -THETA_LIMIT, THETA_LIMIT)

    def integer_params(self, grid: Grid) -> NeuronInts:
        """Eval-mode integer parameters on input ``grid``; ``theta`` clamped to the reachable membrane.

        Clamping ``theta`` into ``[H_min, H_max + 1]`` (the membrane interval
        for inputs in ``[grid.lo, grid.hi]``) keeps every spike unchanged and
        keeps the threshold as narrow as the membrane.
        """
        wf, bf = self.fused(self.running_mean, self.running_var)
        _, sign, shift, unit = self._pow2(wf, grid)
        coef = (sign * torch.exp2(shift)).to(torch.int64).numpy()
        neg, pos = term_sums(coef, grid.lo, grid.hi, 1)
        theta = self._theta(bf, unit).to(torch.int64).numpy().astype(object)
        theta = np.minimum(np.maximum(theta, neg), pos + 1).astype(np.int64)
        return NeuronInts(sign.to(torch.int8).numpy(), shift.to(torch.int8).numpy(), theta, unit.numpy())

    def forward(self, x: torch.Tensor, grid: Grid | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Spikes ``[T, B, C, *rest]``. ``grid`` (the input's integer grid) is required when quantized.

        In eval mode with ``quantize`` the membrane is computed exactly in
        ``dtype`` (float32 or float64, chosen by the bound analysis).
        """
        if x.dim() < 3 or x.shape[2] != self.channels:
            raise ValueError(f"expected x [T, B, {self.channels}, ...], got {list(x.shape)}")
        if not self.quantize:
            wf, bf = self.fused(*self._statistics(x))
            h = temporal_conv(x, wf, self.dilation, impl=self.impl)
            return self.surrogate(h + _channel_view(bf, x.dim()))
        if grid is None:
            raise ValueError("a quantized neuron needs the integer grid of its input")
        if not self.training:
            ints = self.integer_params(grid)
            dtype = dtype or x.dtype
            scale = ints.unit / grid.channel_units(self.channels).numpy()
            q = torch.from_numpy(ints.sign * np.exp2(ints.shift.astype(np.float64)) * scale[:, None]).to(dtype)
            h = temporal_conv(x.to(dtype), q, self.dilation, impl=self.impl, exact=True)
            threshold = torch.from_numpy(ints.theta * ints.unit).to(dtype)
            return (h >= _channel_view(threshold, x.dim())).to(x.dtype)
        wf, bf = self.fused(*self._statistics(x))
        q, _, _, unit = self._pow2(wf, grid)
        wq = ste(wf, q.to(wf.dtype))
        b = ste(bf, (-self._theta(bf, unit) * unit).to(bf.dtype))
        h = temporal_conv(x, wq, self.dilation, impl=self.impl)
        return self.surrogate(h + _channel_view(b, x.dim()))
