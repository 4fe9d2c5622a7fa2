"""The first-order linear recurrence ``H[t] = a[t] * H[t-1] + b[t]`` (``H[-1] = 0``) with its gradient.

Every lane (all non-time axes) is independent, so the sequence is computed in one pass over time
per lane, lanes in parallel blocks (Numba ``prange``): ``O(T)`` work and one read of ``a``, ``b``
and one write of ``H``, where a parallel prefix scan (recursive doubling) does ``O(T log T)``
work and keeps ``log T`` full-size intermediates for backward. Backward is the same recurrence
run backwards: ``G[t] = g[t] + a[t+1] * G[t+1]``, ``da[t] = G[t] * H[t-1]``, ``db[t] = G[t]``.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from shiftspike.sim.jit import CACHE

#: Lanes per parallel block: contiguous in memory at every time step.
LANE_BLOCK = 64


@njit(parallel=True, cache=CACHE)
def _forward(a, b, h):
    steps, lanes = a.shape
    for block in prange((lanes + LANE_BLOCK - 1) // LANE_BLOCK):
        lo = block * LANE_BLOCK
        hi = min(lo + LANE_BLOCK, lanes)
        state = np.zeros(hi - lo, a.dtype)
        for t in range(steps):
            for n in range(lo, hi):
                state[n - lo] = a[t, n] * state[n - lo] + b[t, n]
                h[t, n] = state[n - lo]


@njit(parallel=True, cache=CACHE)
def _backward(a, h, g, da, db):
    steps, lanes = a.shape
    for block in prange((lanes + LANE_BLOCK - 1) // LANE_BLOCK):
        lo = block * LANE_BLOCK
        hi = min(lo + LANE_BLOCK, lanes)
        carry = np.zeros(hi - lo, a.dtype)
        for t in range(steps - 1, -1, -1):
            for n in range(lo, hi):
                total = g[t, n] + carry[n - lo]
                db[t, n] = total
                da[t, n] = total * h[t - 1, n] if t > 0 else 0.0
                carry[n - lo] = a[t, n] * total


class _LinearScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b):
        a2 = a.detach().contiguous().reshape(a.shape[0], -1)
        b2 = b.detach().contiguous().reshape(b.shape[0], -1)
        h = torch.empty_like(a2)
        _forward(a2.numpy(), b2.numpy(), h.numpy())
        ctx.save_for_backward(a2, h)
        ctx.shape = a.shape
        return h.view(a.shape)

    @staticmethod
    def backward(ctx, grad):
        a2, h = ctx.saved_tensors
        g = grad.contiguous().reshape(a2.shape)
        da, db = torch.empty_like(a2), torch.empty_like(a2)
        _backward(a2.numpy(), h.numpy(), g.numpy(), da.numpy(), db.numpy())
        return da.view(ctx.shape), db.view(ctx.shape)


def linear_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``H[t] = a[t] H[t-1] + b[t]`` for ``a, b [T, ...]`` (same shape, float32 or float64, CPU);
    differentiable in both."""
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ValueError(f"a and b must match: {tuple(a.shape)} {a.dtype} vs {tuple(b.shape)} {b.dtype}")
    return _LinearScan.apply(a, b)
