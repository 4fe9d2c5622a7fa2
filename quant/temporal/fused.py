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
threads. Inside an item the rows are done four at a time (``t, t+d, t+2d, t+3d``; one at a
time below ``FORWARD_QUAD_TAPS`` / ``BACKWARD_QUAD_TAPS`` taps) and the taps four at a time
(then two, then one), so every history row and weight loaded feeds up to four outputs; the
innermost loop runs along the contiguous column axis and is vectorized by LLVM. The four output rows are accumulated in a scratch buffer placed half a
page away from the data rows (see ``_scratch``: rows ``N`` elements apart alias in the
low 12 address bits, and stores to one such row stall loads from the others).
``gW`` is accumulated lane-wise in the input dtype, flushed into a float64 partial per
thread every ``FLUSH`` rows, and the partials are summed at the end (deterministic for a
given thread count). ``H`` and ``gX`` are NumPy buffers recycled across steps
(``_BufferPool``).

Fastmath flags: ``contract`` (fused multiply-add) and ``reassoc`` (reorder the tap sums
so LLVM can interleave them). Both keep the exactness property of ``temporal_conv``:
when every product and every partial sum is exactly representable, an FMA rounds an
exact value and any summation order yields the same exact sum. The flags that assume no
NaN/inf (``nnan``, ``ninf``) are left out: a NaN or inf in training must propagate, not
be undefined behaviour; ``nsz``/``arcp``/``afn`` buy nothing here (no divisions, no
library calls).
"""

from __future__ import annotations

import functools
import math
import sys
import threading

import numba
import numpy as np
import torch
from numba import njit, prange

from shiftspike.sim.jit import CACHE

FASTMATH = {"contract", "reassoc"}
#: Bytes of one item's working set (history rows, weights, accumulators) kept per core.
CACHE_BYTES = 1536 * 1024
#: Rows between flushes of the lane-wise ``gW`` accumulators into the float64 partials.
FLUSH = 256
#: Rows go four at a time from this many taps on (forward, backward); with fewer taps one
#: row at a time is as fast (measured on the benchmark layer).
FORWARD_QUAD_TAPS = 4
BACKWARD_QUAD_TAPS = 2
#: Output buffers of at least this size are recycled, up to this total (see ``_BufferPool``).
POOL_MIN_BYTES = 1 << 20
POOL_MAX_BYTES = 512 << 20
#: Column blocks are multiples of this many elements (one 64-byte line of float32).
LANES = 16


@njit(fastmath=FASTMATH, cache=CACHE)
def _gather(w, n0, m, rest, channels, wb, chan):
    """Per-column weights ``wb[i, j] = w[c(n0 + j), i]`` and channels ``chan[j]`` (no divisions
    in the loop: the channel advances every ``rest`` columns and wraps after ``C``)."""
    c = n0 // rest % channels
    r = n0 % rest
    for j in range(m):
        chan[j] = c
        for i in range(w.shape[1]):
            wb[i, j] = w[c, i]
        r += 1
        if r == rest:
            r = 0
            c += 1
            if c == channels:
                c = 0


@njit(fastmath=FASTMATH, cache=CACHE)
def _item_bounds(item, n_seg, steps, cols, block):
    blk = item // n_seg
    seg = item % n_seg
    n0 = blk * block
    return n0, min(cols, n0 + block), seg * steps // n_seg, (seg + 1) * steps // n_seg


@njit(fastmath=FASTMATH, cache=CACHE)
def _scratch(rows, m, like, anchor, first):
    """``[rows, pitch >= m]`` scratch (dtype of ``like``, C-contiguous) whose row ``r`` starts at
    byte ``anchor + 2048 + 64*(first + r)`` modulo 4096.

    The rows of ``x``, ``gH``, ``H`` and ``gX`` are ``N`` elements apart, often a multiple of
    4 KiB, so they share their low 12 address bits; a load whose low 12 bits match an
    earlier store still in flight waits for it (4K aliasing), which makes a loop that writes
    one such row and reads another several times slower. Accumulators live here instead,
    half a page away from the data rows and 64 bytes apart from each other."""
    itemsize = like.itemsize
    pitch = ((m * itemsize + 4095) // 4096 * 4096 + 64) // itemsize
    buf = np.empty(rows * pitch + 8192 // itemsize, like.dtype)
    shift = ((anchor + 2048 + 64 * first - buf.ctypes.data) % 4096) // itemsize
    return buf[shift: shift + rows * pitch].reshape(rows, pitch)


@njit(fastmath=FASTMATH, cache=CACHE)
def _forward_row(x, wb, out, t, d, n0, n1):
    """``out[t]`` over columns ``n0:n1`` from the taps that reach ``t - i*d >= 0``, two per pass."""
    m = n1 - n0
    active = min(wb.shape[0], t // d + 1)
    acc = out[t, n0:n1]
    x0 = x[t, n0:n1]
    w0 = wb[0, :m]
    if active >= 2:
        x1 = x[t - d, n0:n1]
        w1 = wb[1, :m]
        for j in range(m):
            acc[j] = w0[j] * x0[j] + w1[j] * x1[j]
    else:
        for j in range(m):
            acc[j] = w0[j] * x0[j]
    i = 2
    while i + 2 <= active:
        xa = x[t - i * d, n0:n1]
        xb = x[t - (i + 1) * d, n0:n1]
        wa = wb[i, :m]
        wc = wb[i + 1, :m]
        for j in range(m):
            acc[j] += wa[j] * xa[j] + wc[j] * xb[j]
        i += 2
    if i < active:
        xa = x[t - i * d, n0:n1]
        wa = wb[i, :m]
        for j in range(m):
            acc[j] += wa[j] * xa[j]


@njit(fastmath=FASTMATH, cache=CACHE)
def _forward_quad(x, wb, acc, out, t, d, n0, n1):
    """``out`` rows ``t + a*d`` (a = 0..3) over ``n0:n1``, accumulated in ``acc [4, m]``;
    every tap in range (``t >= (k-1)*d``). Taps go four at a time, then two, then one."""
    m = n1 - n0
    taps = wb.shape[0]
    o0 = acc[0, :m]
    o1 = acc[1, :m]
    o2 = acc[2, :m]
    o3 = acc[3, :m]
    for j in range(m):
        o0[j] = 0
        o1[j] = 0
        o2[j] = 0
        o3[j] = 0
    i = 0
    while i + 4 <= taps:
        # r_q = x[t + (q - 3 - i)*d]; output a takes tap i + b from r_(3 + a - b)
        r0 = x[t - (i + 3) * d, n0:n1]
        r1 = x[t - (i + 2) * d, n0:n1]
        r2 = x[t - (i + 1) * d, n0:n1]
        r3 = x[t - i * d, n0:n1]
        r4 = x[t - (i - 1) * d, n0:n1]
        r5 = x[t - (i - 2) * d, n0:n1]
        r6 = x[t - (i - 3) * d, n0:n1]
        wa = wb[i, :m]
        wb1 = wb[i + 1, :m]
        wc = wb[i + 2, :m]
        wd = wb[i + 3, :m]
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
    if i + 2 <= taps:
        r0 = x[t - (i + 1) * d, n0:n1]
        r1 = x[t - i * d, n0:n1]
        r2 = x[t - (i - 1) * d, n0:n1]
        r3 = x[t - (i - 2) * d, n0:n1]
        r4 = x[t - (i - 3) * d, n0:n1]
        wa = wb[i, :m]
        wb1 = wb[i + 1, :m]
        for j in range(m):
            a = wa[j]
            b = wb1[j]
            o0[j] += a * r1[j] + b * r0[j]
            o1[j] += a * r2[j] + b * r1[j]
            o2[j] += a * r3[j] + b * r2[j]
            o3[j] += a * r4[j] + b * r3[j]
        i += 2
    if i < taps:
        s0 = x[t - i * d, n0:n1]
        s1 = x[t - (i - 1) * d, n0:n1]
        s2 = x[t - (i - 2) * d, n0:n1]
        s3 = x[t - (i - 3) * d, n0:n1]
        wi = wb[i, :m]
        for j in range(m):
            a = wi[j]
            o0[j] += a * s0[j]
            o1[j] += a * s1[j]
            o2[j] += a * s2[j]
            o3[j] += a * s3[j]
    _store_quad(acc, out, t, d, n0, n1)


@njit(fastmath=FASTMATH, cache=CACHE)
def _store_quad(acc, out, t, d, n0, n1):
    """``out[t + a*d, n0:n1] = acc[a]`` for a = 0..3."""
    m = n1 - n0
    p0 = out[t, n0:n1]
    p1 = out[t + d, n0:n1]
    p2 = out[t + 2 * d, n0:n1]
    p3 = out[t + 3 * d, n0:n1]
    a0 = acc[0, :m]
    a1 = acc[1, :m]
    a2 = acc[2, :m]
    a3 = acc[3, :m]
    for j in range(m):
        p0[j] = a0[j]
        p1[j] = a1[j]
        p2[j] = a2[j]
        p3[j] = a3[j]


@njit(parallel=True, fastmath=FASTMATH, cache=CACHE)
def forward_kernel(x, w, d, rest, channels, block, n_seg, out, n_chunks):
    """``x [T, N]``, ``w [C, k]`` -> ``out [T, N]`` (same dtype), work split as described above."""
    steps, cols = x.shape
    taps = w.shape[1]
    n_items = (cols + block - 1) // block * n_seg
    warm = (taps - 1) * d
    group = 4 * d
    anchor = x.ctypes.data % 4096
    for chunk in prange(n_chunks):
        wb = np.empty((taps, block), x.dtype)
        chan = np.empty(block, np.int64)
        acc = _scratch(4, block, x, anchor, 0)
        for item in range(chunk * n_items // n_chunks, (chunk + 1) * n_items // n_chunks):
            n0, n1, ta, tb = _item_bounds(item, n_seg, steps, cols, block)
            _gather(w, n0, n1 - n0, rest, channels, wb, chan)
            t = ta
            while t < min(tb, warm):
                _forward_row(x, wb, out, t, d, n0, n1)
                t += 1
            while taps >= FORWARD_QUAD_TAPS and t + group <= tb:
                for r in range(d):
                    _forward_quad(x, wb, acc, out, t + r, d, n0, n1)
                t += group
            while t < tb:
                _forward_row(x, wb, out, t, d, n0, n1)
                t += 1


@njit(fastmath=FASTMATH, cache=CACHE)
def _backward_row(x, gh, wb, acc, gx, t, d, n0, n1):
    """``gx[t]`` and ``acc += gW`` terms of row ``t`` from the taps with ``t + i*d < T``, two
    per pass."""
    m = n1 - n0
    active = min(wb.shape[0], (gh.shape[0] - 1 - t) // d + 1)
    g = gx[t, n0:n1]
    x0 = x[t, n0:n1]
    for j in range(m):
        g[j] = 0
    i = 0
    while i + 2 <= active:
        ga = gh[t + i * d, n0:n1]
        gb = gh[t + (i + 1) * d, n0:n1]
        wa = wb[i, :m]
        wc = wb[i + 1, :m]
        aa = acc[i, :m]
        ab = acc[i + 1, :m]
        for j in range(m):
            g[j] += wa[j] * ga[j] + wc[j] * gb[j]
        for j in range(m):
            aa[j] += ga[j] * x0[j]
            ab[j] += gb[j] * x0[j]
        i += 2
    if i < active:
        ga = gh[t + i * d, n0:n1]
        wa = wb[i, :m]
        aa = acc[i, :m]
        for j in range(m):
            g[j] += wa[j] * ga[j]
        for j in range(m):
            aa[j] += ga[j] * x0[j]


@njit(fastmath=FASTMATH, cache=CACHE)
def _backward_quad(x, gh, wb, acc, quad, gx, t, d, n0, n1):
    """Rows ``t + a*d`` (a = 0..3) of ``gx`` (accumulated in ``quad [4, m]``) and their ``gW``
    terms in ``acc``; every ``t + 3d + i*d < T``. Taps go four at a time, then two, then one.
    Loops that write the ``gx`` rows and loops that write the ``gW`` lanes are separate: one
    loop writing all of them would not vectorize."""
    m = n1 - n0
    taps = wb.shape[0]
    p0 = quad[0, :m]
    p1 = quad[1, :m]
    p2 = quad[2, :m]
    p3 = quad[3, :m]
    x0 = x[t, n0:n1]
    x1 = x[t + d, n0:n1]
    x2 = x[t + 2 * d, n0:n1]
    x3 = x[t + 3 * d, n0:n1]
    for j in range(m):
        p0[j] = 0
        p1[j] = 0
        p2[j] = 0
        p3[j] = 0
    i = 0
    while i + 4 <= taps:
        # r_q = gh[t + (i + q)*d]; output a takes tap i + b from r_(a + b)
        r0 = gh[t + i * d, n0:n1]
        r1 = gh[t + (i + 1) * d, n0:n1]
        r2 = gh[t + (i + 2) * d, n0:n1]
        r3 = gh[t + (i + 3) * d, n0:n1]
        r4 = gh[t + (i + 4) * d, n0:n1]
        r5 = gh[t + (i + 5) * d, n0:n1]
        r6 = gh[t + (i + 6) * d, n0:n1]
        wa = wb[i, :m]
        wb1 = wb[i + 1, :m]
        wc = wb[i + 2, :m]
        wd = wb[i + 3, :m]
        aa = acc[i, :m]
        ab = acc[i + 1, :m]
        ac = acc[i + 2, :m]
        ad = acc[i + 3, :m]
        for j in range(m):
            a = wa[j]
            b = wb1[j]
            c = wc[j]
            e = wd[j]
            p0[j] += a * r0[j] + b * r1[j] + c * r2[j] + e * r3[j]
            p1[j] += a * r1[j] + b * r2[j] + c * r3[j] + e * r4[j]
            p2[j] += a * r2[j] + b * r3[j] + c * r4[j] + e * r5[j]
            p3[j] += a * r3[j] + b * r4[j] + c * r5[j] + e * r6[j]
        for j in range(m):
            y0 = x0[j]
            y1 = x1[j]
            y2 = x2[j]
            y3 = x3[j]
            aa[j] += r0[j] * y0 + r1[j] * y1 + r2[j] * y2 + r3[j] * y3
            ab[j] += r1[j] * y0 + r2[j] * y1 + r3[j] * y2 + r4[j] * y3
            ac[j] += r2[j] * y0 + r3[j] * y1 + r4[j] * y2 + r5[j] * y3
            ad[j] += r3[j] * y0 + r4[j] * y1 + r5[j] * y2 + r6[j] * y3
        i += 4
    if i + 2 <= taps:
        r0 = gh[t + i * d, n0:n1]
        r1 = gh[t + (i + 1) * d, n0:n1]
        r2 = gh[t + (i + 2) * d, n0:n1]
        r3 = gh[t + (i + 3) * d, n0:n1]
        r4 = gh[t + (i + 4) * d, n0:n1]
        wa = wb[i, :m]
        wb1 = wb[i + 1, :m]
        aa = acc[i, :m]
        ab = acc[i + 1, :m]
        for j in range(m):
            a = wa[j]
            b = wb1[j]
            p0[j] += a * r0[j] + b * r1[j]
            p1[j] += a * r1[j] + b * r2[j]
            p2[j] += a * r2[j] + b * r3[j]
            p3[j] += a * r3[j] + b * r4[j]
        for j in range(m):
            y0 = x0[j]
            y1 = x1[j]
            y2 = x2[j]
            y3 = x3[j]
            aa[j] += r0[j] * y0 + r1[j] * y1 + r2[j] * y2 + r3[j] * y3
            ab[j] += r1[j] * y0 + r2[j] * y1 + r3[j] * y2 + r4[j] * y3
        i += 2
    if i < taps:
        s0 = gh[t + i * d, n0:n1]
        s1 = gh[t + (i + 1) * d, n0:n1]
        s2 = gh[t + (i + 2) * d, n0:n1]
        s3 = gh[t + (i + 3) * d, n0:n1]
        wi = wb[i, :m]
        ai = acc[i, :m]
        for j in range(m):
            a = wi[j]
            p0[j] += a * s0[j]
            p1[j] += a * s1[j]
            p2[j] += a * s2[j]
            p3[j] += a * s3[j]
        for j in range(m):
            ai[j] += s0[j] * x0[j] + s1[j] * x1[j] + s2[j] * x2[j] + s3[j] * x3[j]
    _store_quad(quad, gx, t, d, n0, n1)


@njit(fastmath=FASTMATH, cache=CACHE)
def _flush(acc, chan, m, partial):
    """Add the lane accumulators into ``partial [C, k]`` (float64) and clear them."""
    for i in range(acc.shape[0]):
        ai = acc[i, :m]
        for j in range(m):
            partial[chan[j], i] += ai[j]
            ai[j] = 0


@njit(parallel=True, fastmath=FASTMATH, cache=CACHE)
def backward_kernel(x, gh, w, d, rest, channels, block, n_seg, gx, gw, n_chunks):
    """``x, gh [T, N]`` -> ``gx [T, N]`` and ``gw [C, k]`` (dtype of ``w``)."""
    steps, cols = x.shape
    taps = w.shape[1]
    n_items = (cols + block - 1) // block * n_seg
    cold = max(0, steps - (taps - 1) * d)  # rows below this see every tap
    group = 4 * d
    tile = max(group, FLUSH // group * group)
    anchor = x.ctypes.data % 4096
    partial = np.zeros((n_chunks, channels, taps), np.float64)
    for chunk in prange(n_chunks):
        wb = np.empty((taps, block), x.dtype)
        chan = np.empty(block, np.int64)
        quad = _scratch(4, block, x, anchor, 0)
        acc = _scratch(taps, block, x, anchor, 4)
        acc[:, :] = 0
        part = partial[chunk]
        for item in range(chunk * n_items // n_chunks, (chunk + 1) * n_items // n_chunks):
            n0, n1, ta, tb = _item_bounds(item, n_seg, steps, cols, block)
            m = n1 - n0
            _gather(w, n0, m, rest, channels, wb, chan)
            t = ta
            end = min(tb, cold)
            while taps >= BACKWARD_QUAD_TAPS and t + group <= end:
                t1 = min(t + tile, end - (end - t) % group)
                while t < t1:
                    for r in range(d):
                        _backward_quad(x, gh, wb, acc, quad, gx, t + r, d, n0, n1)
                    t += group
                _flush(acc, chan, m, part)
            while t < tb:
                _backward_row(x, gh, wb, acc, gx, t, d, n0, n1)
                t += 1
                if (tb - t) % FLUSH == 0:
                    _flush(acc, chan, m, part)
    for c in range(channels):
        for i in range(taps):
            total = 0.0
            for chunk in range(n_chunks):
                total += partial[chunk, c, i]
            gw[c, i] = total


@functools.lru_cache(maxsize=1024)
def _plan(shape: tuple[int, ...], taps: int, dilation: int, itemsize: int, n_chunks: int):
    """``(T, N, prod(rest), block, n_seg)``: the ``[T, N]`` view, the column block width and
    the number of time segments for ``n_chunks`` threads."""
    steps = shape[0]
    cols = math.prod(shape[1:])
    reach = min((taps - 1) * dilation, steps - 1)
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
    return steps, cols, math.prod(shape[3:]), block, n_seg


class _BufferPool:
    """Recycles the large NumPy output buffers once their tensors are gone.

    A training loop allocates the same ``H`` and ``gX`` shapes every step; fresh memory of
    that size costs a page fault and a kernel-side zeroing per page (about a third of the
    layer's time at T = 16384 on the benchmark machine). Buffers of at least
    ``POOL_MIN_BYTES`` are kept here (most recent last, ``POOL_MAX_BYTES`` in all) and handed
    out again when nothing but the pool refers to them; ``release_buffers()`` drops them.
    NumPy allocates them, asking the kernel for transparent huge pages on large buffers."""

    def __init__(self):
        self.buffers: list[np.ndarray] = []
        self.lock = threading.Lock()

    def empty_like(self, like: np.ndarray) -> np.ndarray:
        if like.nbytes < POOL_MIN_BYTES:
            return np.empty_like(like)
        with self.lock:
            for i in range(len(self.buffers)):
                buf = self.buffers[i]
                # free: referenced by the list, ``buf`` and getrefcount's argument only
                if buf.shape == like.shape and buf.dtype == like.dtype and sys.getrefcount(buf) == 3:
                    self.buffers.append(self.buffers.pop(i))
                    return buf
            buf = np.empty_like(like)
            self.buffers.append(buf)
            while sum(b.nbytes for b in self.buffers) > POOL_MAX_BYTES:
                self.buffers.pop(0)  # a buffer still in use lives on with its tensor
            return buf

    def release(self) -> None:
        with self.lock:
            self.buffers.clear()


_pool = _BufferPool()


def release_buffers() -> None:
    """Drop the recycled output buffers (see ``_BufferPool``)."""
    _pool.release()


def _launch(kernel, n_chunks: int, *args) -> None:
    """Run ``kernel`` on ``n_chunks`` Numba threads (torch's thread count), so a one-thread
    torch setting wakes no Numba worker; the caller's Numba setting is restored after."""
    previous = numba.get_num_threads()
    if previous == n_chunks:
        kernel(*args, n_chunks)
        return
    numba.set_num_threads(n_chunks)
    try:
        kernel(*args, n_chunks)
    finally:
        numba.set_num_threads(previous)


class FusedTemporalConv(torch.autograd.Function):
    """Autograd wrapper: one kernel pass forward, one pass backward (``gX`` and ``gW`` together).
    ``H`` and ``gX`` come from ``_pool``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
        xs = x.detach().contiguous()
        ws = weight.detach().contiguous()
        n_chunks = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
        steps, cols, rest, block, n_seg = _plan(tuple(xs.shape), ws.shape[1], dilation, xs.element_size(), n_chunks)
        xn = xs.numpy()
        out = _pool.empty_like(xn)  # N-d: torch.from_numpy(out) is cheaper than a .view
        _launch(forward_kernel, n_chunks, xn.reshape(steps, cols), ws.numpy(), dilation, rest, ws.shape[0], block,
                n_seg, out.reshape(steps, cols))
        ctx.save_for_backward(xs, ws)
        ctx.kernel_args = (dilation, rest, ws.shape[0], block, n_seg)
        ctx.n_chunks = n_chunks
        return torch.from_numpy(out)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        xs, ws = ctx.saved_tensors
        xn = xs.numpy()
        rows = (xn.shape[0], -1)
        gh = grad_out.detach().contiguous().numpy()
        wn = ws.numpy()
        gx = _pool.empty_like(xn)
        gw = np.empty_like(wn)
        _launch(backward_kernel, ctx.n_chunks, xn.reshape(rows), gh.reshape(rows), wn, *ctx.kernel_args,
                gx.reshape(rows), gw)
        return torch.from_numpy(gx), torch.from_numpy(gw), None


def fused(x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    """The fused Numba kernel (CPU tensors, float32 or float64)."""
    return FusedTemporalConv.apply(x, weight, dilation)
