"""Fused Numba CPU kernel of the temporal convolution, wrapped in a ``torch.autograd.Function``.

Shapes and convention as in ``reference``: ``x [T, B, C, *rest]`` (float32 or float64),
``weight [C, k]``, ``H[t] = sum_i weight[:, i] * x[t - i*d]`` with zeros before ``t = 0``.
The kernels see the flattened ``[T, N]`` view (``N = B*C*prod(rest)``); column ``n`` belongs
to channel ``(n // prod(rest)) % C``.

* Forward: one pass over ``x`` writing ``H``.
* Backward: one pass over ``gH`` and ``x`` writing ``gX[t] = sum_i w_i * gH[t + i*d]`` and
  accumulating ``gW[c, i] = sum gH[t + i*d] * x[t]`` in the same sweep.

Work is split into items (a block of columns x a segment of time). A block is as wide as
fits the per-core cache together with its ``(k-1)*d`` rows of history, the per-column
weights and the accumulators (whole rows when they fit, so memory is streamed row after
row); time segments give each thread its own share when there are fewer blocks than
threads. Inside an item the rows are done four at a time (``t, t+d, t+2d, t+3d``) and the
taps four at a time, so every history row and weight loaded feeds up to four outputs; the
innermost loop runs along the contiguous column axis and is vectorized by LLVM.
``gW`` is accumulated lane-wise in the input dtype, flushed into a float64 partial per
thread every ``FLUSH`` rows, and the partials are summed at the end (deterministic for a
given thread count).

Fastmath flags: ``contract`` (fused multiply-add) and ``reassoc`` (reorder the tap sums
so LLVM can interleave them). Both keep the exactness property of ``temporal_conv``:
when every product and every partial sum is exactly representable, an FMA rounds an
exact value and any summation order yields the same exact sum. The flags that assume no
NaN/inf (``nnan``, ``ninf``) are left out: a NaN or inf in training must propagate, not
be undefined behaviour; ``nsz``/``arcp``/``afn`` buy nothing here (no divisions, no
library calls).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from numba import njit, prange

FASTMATH = {"contract", "reassoc"}
#: Bytes of one item's working set (history rows, weights, accumulators) kept per core.
CACHE_BYTES = 768 * 1024
#: Rows between flushes of the lane-wise ``gW`` accumulators into the float64 partials.
FLUSH = 256
#: Column blocks are multiples of this many elements (one 64-byte line of float32).
LANES = 16


@njit(inline="always")
def _gather(w, n0, m, rest, channels, wb, chan):
    """Per-column weights ``wb[i, j] = w[c(n0 + j), i]`` and channels ``chan[j]``."""
    for j in range(m):
        c = ((n0 + j) // rest) % channels
        chan[j] = c
        for i in range(w.shape[1]):
            wb[i, j] = w[c, i]


@njit(inline="always")
def _item_bounds(item, n_seg, steps, cols, block):
    blk = item // n_seg
    seg = item % n_seg
    n0 = blk * block
    return n0, min(cols, n0 + block), seg * steps // n_seg, (seg + 1) * steps // n_seg


@njit(inline="always")
def _forward_row(x, wb, out, t, d, n0, n1):
    """``out[t]`` over columns ``n0:n1`` from the taps that reach ``t - i*d >= 0``."""
    m = n1 - n0
    active = min(wb.shape[0], t // d + 1)
    acc = out[t, n0:n1]
    x0 = x[t, n0:n1]
    w0 = wb[0]
    for j in range(m):
        acc[j] = w0[j] * x0[j]
    for i in range(1, active):
        xi = x[t - i * d, n0:n1]
        wi = wb[i]
        for j in range(m):
            acc[j] += wi[j] * xi[j]


@njit(inline="always")
def _forward_quad(x, wb, out, t, d, n0, n1):
    """``out`` rows ``t + a*d`` (a = 0..3) over ``n0:n1``; every tap in range (``t >= (k-1)*d``)."""
    m = n1 - n0
    taps = wb.shape[0]
    o0 = out[t, n0:n1]
    o1 = out[t + d, n0:n1]
    o2 = out[t + 2 * d, n0:n1]
    o3 = out[t + 3 * d, n0:n1]
    x0 = x[t, n0:n1]
    x1 = x[t + d, n0:n1]
    x2 = x[t + 2 * d, n0:n1]
    x3 = x[t + 3 * d, n0:n1]
    w0 = wb[0]
    for j in range(m):
        o0[j] = w0[j] * x0[j]
        o1[j] = w0[j] * x1[j]
        o2[j] = w0[j] * x2[j]
        o3[j] = w0[j] * x3[j]
    i = 1
    while i + 4 <= taps:
        # r_q = x[t + (q - 3 - i)*d]; output a takes tap i + b from r_(3 + a - b)
        r0 = x[t - (i + 3) * d, n0:n1]
        r1 = x[t - (i + 2) * d, n0:n1]
        r2 = x[t - (i + 1) * d, n0:n1]
        r3 = x[t - i * d, n0:n1]
        r4 = x[t - (i - 1) * d, n0:n1]
        r5 = x[t - (i - 2) * d, n0:n1]
        r6 = x[t - (i - 3) * d, n0:n1]
        wa = wb[i]
        wb1 = wb[i + 1]
        wc = wb[i + 2]
        wd = wb[i + 3]
        for j in range(m):
            a = wa[j]
            b = wb1[j]
            c = wc[j]
            e = wd[j]
            o0[j] += a * r3[j] + b * r2[j] + c * r1[j] + e * r0[j]
            o1[j] += a * r4[j] + b * r3[j] + c * r2[j] + e * r1[j]
            o2[j] += a * r5[j] + b * r4[j] + c * r3[j] + e * r2[j]
            o3[j] += a * r6[j] + b * r5[j] + c * r4[j] + e * r3[j]
        i += 4
    while i < taps:
        s0 = x[t - i * d, n0:n1]
        s1 = x[t - (i - 1) * d, n0:n1]
        s2 = x[t - (i - 2) * d, n0:n1]
        s3 = x[t - (i - 3) * d, n0:n1]
        wi = wb[i]
        for j in range(m):
            a = wi[j]
            o0[j] += a * s0[j]
            o1[j] += a * s1[j]
            o2[j] += a * s2[j]
            o3[j] += a * s3[j]
        i += 1


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def forward_kernel(x, w, d, rest, channels, block, n_seg, out, n_chunks):
    """``x [T, N]``, ``w [C, k]`` -> ``out [T, N]`` (same dtype), work split as described above."""
    steps, cols = x.shape
    taps = w.shape[1]
    n_items = (cols + block - 1) // block * n_seg
    warm = (taps - 1) * d
    group = 4 * d
    for chunk in prange(n_chunks):
        wb = np.empty((taps, block), x.dtype)
        chan = np.empty(block, np.int64)
        for item in range(chunk * n_items // n_chunks, (chunk + 1) * n_items // n_chunks):
            n0, n1, ta, tb = _item_bounds(item, n_seg, steps, cols, block)
            wcols = wb[:, : n1 - n0]
            _gather(w, n0, n1 - n0, rest, channels, wcols, chan)
            t = ta
            while t < min(tb, warm):
                _forward_row(x, wcols, out, t, d, n0, n1)
                t += 1
            while t + group <= tb:
                for r in range(d):
                    _forward_quad(x, wcols, out, t + r, d, n0, n1)
                t += group
            while t < tb:
                _forward_row(x, wcols, out, t, d, n0, n1)
                t += 1


@njit(inline="always")
def _backward_row(x, gh, wb, acc, gx, t, d, n0, n1):
    """``gx[t]`` and ``acc += gW`` terms of row ``t`` from the taps with ``t + i*d < T``."""
    m = n1 - n0
    active = min(wb.shape[0], (gh.shape[0] - 1 - t) // d + 1)
    g = gx[t, n0:n1]
    x0 = x[t, n0:n1]
    g0 = gh[t, n0:n1]
    w0 = wb[0]
    a0 = acc[0]
    for j in range(m):
        g[j] = w0[j] * g0[j]
        a0[j] += g0[j] * x0[j]
    for i in range(1, active):
        gi = gh[t + i * d, n0:n1]
        wi = wb[i]
        ai = acc[i]
        for j in range(m):
            g[j] += wi[j] * gi[j]
            ai[j] += gi[j] * x0[j]


@njit(inline="always")
def _backward_quad(x, gh, wb, acc, gx, t, d, n0, n1):
    """Rows ``t + a*d`` (a = 0..3) of ``gx`` and their ``gW`` terms; every ``t + 3d + i*d < T``."""
    m = n1 - n0
    taps = wb.shape[0]
    p0 = gx[t, n0:n1]
    p1 = gx[t + d, n0:n1]
    p2 = gx[t + 2 * d, n0:n1]
    p3 = gx[t + 3 * d, n0:n1]
    x0 = x[t, n0:n1]
    x1 = x[t + d, n0:n1]
    x2 = x[t + 2 * d, n0:n1]
    x3 = x[t + 3 * d, n0:n1]
    g0 = gh[t, n0:n1]
    g1 = gh[t + d, n0:n1]
    g2 = gh[t + 2 * d, n0:n1]
    g3 = gh[t + 3 * d, n0:n1]
    w0 = wb[0]
    a0 = acc[0]
    for j in range(m):
        c = w0[j]
        p0[j] = c * g0[j]
        p1[j] = c * g1[j]
        p2[j] = c * g2[j]
        p3[j] = c * g3[j]
        a0[j] += g0[j] * x0[j] + g1[j] * x1[j] + g2[j] * x2[j] + g3[j] * x3[j]
    i = 1
    while i + 4 <= taps:
        # r_q = gh[t + (i + q)*d]; output a takes tap i + b from r_(a + b)
        r0 = gh[t + i * d, n0:n1]
        r1 = gh[t + (i + 1) * d, n0:n1]
        r2 = gh[t + (i + 2) * d, n0:n1]
        r3 = gh[t + (i + 3) * d, n0:n1]
        r4 = gh[t + (i + 4) * d, n0:n1]
        r5 = gh[t + (i + 5) * d, n0:n1]
        r6 = gh[t + (i + 6) * d, n0:n1]
        wa = wb[i]
        wb1 = wb[i + 1]
        wc = wb[i + 2]
        wd = wb[i + 3]
        aa = acc[i]
        ab = acc[i + 1]
        ac = acc[i + 2]
        ad = acc[i + 3]
        for j in range(m):
            a = wa[j]
            b = wb1[j]
            c = wc[j]
            e = wd[j]
            y0 = x0[j]
            y1 = x1[j]
            y2 = x2[j]
            y3 = x3[j]
            p0[j] += a * r0[j] + b * r1[j] + c * r2[j] + e * r3[j]
            p1[j] += a * r1[j] + b * r2[j] + c * r3[j] + e * r4[j]
            p2[j] += a * r2[j] + b * r3[j] + c * r4[j] + e * r5[j]
            p3[j] += a * r3[j] + b * r4[j] + c * r5[j] + e * r6[j]
            aa[j] += r0[j] * y0 + r1[j] * y1 + r2[j] * y2 + r3[j] * y3
            ab[j] += r1[j] * y0 + r2[j] * y1 + r3[j] * y2 + r4[j] * y3
            ac[j] += r2[j] * y0 + r3[j] * y1 + r4[j] * y2 + r5[j] * y3
            ad[j] += r3[j] * y0 + r4[j] * y1 + r5[j] * y2 + r6[j] * y3
        i += 4
    while i < taps:
        s0 = gh[t + i * d, n0:n1]
        s1 = gh[t + (i + 1) * d, n0:n1]
        s2 = gh[t + (i + 2) * d, n0:n1]
        s3 = gh[t + (i + 3) * d, n0:n1]
        wi = wb[i]
        ai = acc[i]
        for j in range(m):
            a = wi[j]
            p0[j] += a * s0[j]
            p1[j] += a * s1[j]
            p2[j] += a * s2[j]
            p3[j] += a * s3[j]
            ai[j] += s0[j] * x0[j] + s1[j] * x1[j] + s2[j] * x2[j] + s3[j] * x3[j]
        i += 1


@njit(inline="always")
def _flush(acc, chan, m, partial):
    """Add the lane accumulators into ``partial [C, k]`` (float64) and clear them."""
    for i in range(acc.shape[0]):
        ai = acc[i]
        for j in range(m):
            partial[chan[j], i] += ai[j]
            ai[j] = 0


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def backward_kernel(x, gh, w, d, rest, channels, block, n_seg, gx, partial, n_chunks):
    """``x, gh [T, N]`` -> ``gx [T, N]``; ``partial [n_chunks, C, k]`` (float64, zeroed) += ``gW``."""
    steps, cols = x.shape
    taps = w.shape[1]
    n_items = (cols + block - 1) // block * n_seg
    cold = max(0, steps - (taps - 1) * d)  # rows below this see every tap
    group = 4 * d
    tile = max(group, FLUSH // group * group)
    for chunk in prange(n_chunks):
        wb = np.empty((taps, block), x.dtype)
        acc = np.zeros((taps, block), x.dtype)
        chan = np.empty(block, np.int64)
        part = partial[chunk]
        for item in range(chunk * n_items // n_chunks, (chunk + 1) * n_items // n_chunks):
            n0, n1, ta, tb = _item_bounds(item, n_seg, steps, cols, block)
            m = n1 - n0
            wcols = wb[:, :m]
            lanes = acc[:, :m]
            _gather(w, n0, m, rest, channels, wcols, chan)
            t = ta
            end = min(tb, cold)
            while t + group <= end:
                t1 = min(t + tile, end - (end - t) % group)
                while t < t1:
                    for r in range(d):
                        _backward_quad(x, gh, wcols, lanes, gx, t + r, d, n0, n1)
                    t += group
                _flush(lanes, chan, m, part)
            while t < tb:
                _backward_row(x, gh, wcols, lanes, gx, t, d, n0, n1)
                t += 1
            _flush(lanes, chan, m, part)


def _plan(steps: int, cols: int, taps: int, dilation: int, itemsize: int, n_chunks: int) -> tuple[int, int]:
    """Column block width and number of time segments for ``n_chunks`` threads."""
    reach = min((taps - 1) * dilation, max(steps - 1, 0))
    rows = reach + 1 + 4 * dilation + 2 * taps + 8  # history + quad lookahead + weights/acc + outputs
    block = max(LANES, CACHE_BYTES // (rows * itemsize) // LANES * LANES)
    n_blocks = -(-cols // block)
    n_seg = 1
    if n_blocks % n_chunks:
        segments = n_chunks // math.gcd(n_blocks, n_chunks)
        if steps >= segments * max(64, 4 * (reach + 1)):
            n_seg = segments
        else:
            n_blocks = min(-(-n_blocks // n_chunks) * n_chunks, -(-cols // LANES))
    block = -(-(-(-cols // n_blocks)) // LANES) * LANES
    return block, n_seg


def _threads() -> int:
    return max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))


def _launch(kernel, n_chunks: int, *args) -> None:
    """Run ``kernel`` on ``n_chunks`` Numba threads (torch's thread count), so a one-thread
    torch setting wakes no Numba worker; the caller's Numba setting is restored after."""
    previous = numba.get_num_threads()
    numba.set_num_threads(n_chunks)
    try:
        kernel(*args, n_chunks)
    finally:
        numba.set_num_threads(previous)


def _empty_like(x: torch.Tensor) -> torch.Tensor:
    """Uninitialized tensor like contiguous ``x``, allocated by NumPy: NumPy asks the kernel for
    transparent huge pages on large buffers, which makes first touch several times cheaper
    than ``torch.empty`` (4 KiB page faults) for the tens-of-MB outputs of long sequences."""
    return torch.from_numpy(np.empty(tuple(x.shape), dtype=x.numpy().dtype))


def _layout(x: torch.Tensor, weight: torch.Tensor, dilation: int):
    steps = x.shape[0]
    cols = x.numel() // steps
    rest = math.prod(x.shape[3:])
    n_chunks = _threads()
    block, n_seg = _plan(steps, cols, weight.shape[1], dilation, x.element_size(), n_chunks)
    return steps, cols, rest, block, n_seg, n_chunks


class FusedTemporalConv(torch.autograd.Function):
    """Autograd wrapper: one kernel pass forward, one pass backward (``gX`` and ``gW`` together)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
        xs = x.detach().contiguous()
        ws = weight.detach().contiguous()
        steps, cols, rest, block, n_seg, n_chunks = _layout(xs, ws, dilation)
        out = _empty_like(xs)
        _launch(forward_kernel, n_chunks, xs.view(steps, cols).numpy(), ws.numpy(), dilation, rest, ws.shape[0],
                block, n_seg, out.view(steps, cols).numpy())
        ctx.save_for_backward(xs, ws)
        ctx.dilation = dilation
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        xs, ws = ctx.saved_tensors
        dilation = ctx.dilation
        steps, cols, rest, block, n_seg, n_chunks = _layout(xs, ws, dilation)
        gh = grad_out.detach().contiguous()
        gx = _empty_like(xs)
        partial = np.zeros((n_chunks, *ws.shape), np.float64)
        _launch(backward_kernel, n_chunks, xs.view(steps, cols).numpy(), gh.view(steps, cols).numpy(), ws.numpy(),
                dilation, rest, ws.shape[0], block, n_seg, gx.view(steps, cols).numpy(), partial)
        gw = torch.from_numpy(partial.sum(axis=0)).to(ws.dtype)
        return gx, gw, None


def fused(x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    """The fused Numba kernel (CPU tensors, float32 or float64)."""
    return FusedTemporalConv.apply(x, weight, dilation)
