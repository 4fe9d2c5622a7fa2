"""Numba kernels of the fast simulator, one per layer type and mode.

Each kernel computes exactly what ``docs/semantics.md`` defines (and
``reference.py`` spells out in NumPy) and gathers, in the same pass, the
activity that the op counts need: non-zero inputs per row and position for
synapses, pooling and the readout, spikes per time step for neurons.

Arithmetic is int64 throughout. Under ``wrap`` the partial sums are exact in
int64 (the model limits in ``fixed`` guarantee it) and are reduced modulo
``2**width`` once at the end, which equals wrapping after every addition
because two's-complement addition is arithmetic modulo ``2**width``. Under
``saturate`` every addition is clamped in the documented order. A neuron tap
``sign * (x << shift)`` is evaluated as ``x * coef`` with
``coef = sign * 2**shift``; the two are the same integer.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Rows (samples x time steps) per parallel chunk of the stateless kernels.
ROW_CHUNK = 64
#: Neurons per parallel block of the neuron kernel: the block's history
#: (``depth`` rows of ``NEURON_BLOCK`` values) stays in L1/L2 while ``t`` advances.
NEURON_BLOCK = 256


def lane_dtype(acc_width: int, term_width: int, saturate: bool) -> np.dtype:
    """Integer type of the neuron kernel's accumulator lanes.

    int32 lanes (16 per AVX-512 vector) are exact when: under ``wrap``, the
    accumulator has at most 32 bits (the lanes wrap modulo 2**32, a multiple of
    2**acc_width); under ``saturate``, every clamped partial sum plus one term
    (at most ``term_width`` bits) stays inside int32. Otherwise int64.
    """
    fits = acc_width <= 32 if not saturate else max(acc_width, term_width) <= 30
    return np.dtype(np.int32 if fits else np.int64)


@njit(inline="always")
def _wrap(v, width):
    half = np.int64(1) << (width - 1)
    mask = (np.int64(1) << width) - 1
    return ((v + half) & mask) - half


@njit(inline="always")
def _clamp(v, lo, hi):
    return min(max(v, lo), hi)


@njit(inline="always")
def _count_by_position(x, n, nnz):
    """``nnz[n, pos]`` = non-zero values of row ``n`` of ``x [N, C, L]`` at each position."""
    for pos in range(x.shape[2]):
        count = 0
        for c in range(x.shape[1]):
            if x[n, c, pos] != 0:
                count += 1
        nnz[n, pos] = count


@njit(parallel=True, cache=True)
def dense(x, wt, bias, width, saturate, out, nnz):
    """``x [N, C_in]`` -> ``out [N, C_out]``; ``wt [C_in, C_out]`` int64; ``bias [C_out]`` int64.

    ``nnz[N]`` receives the number of non-zero inputs of each row.
    """
    n_rows, c_in = x.shape
    c_out = wt.shape[1]
    lo = -(np.int64(1) << (width - 1))
    hi = (np.int64(1) << (width - 1)) - 1
    n_chunks = (n_rows + ROW_CHUNK - 1) // ROW_CHUNK
    for chunk in prange(n_chunks):
        acc = np.empty(c_out, np.int64)
        for n in range(chunk * ROW_CHUNK, min(n_rows, (chunk + 1) * ROW_CHUNK)):
            acc[:] = bias
            count = 0
            for j in range(c_in):
                v = np.int64(x[n, j])
                if v != 0:
                    count += 1
                    if saturate:
                        for c in range(c_out):
                            acc[c] = _clamp(acc[c] + wt[j, c] * v, lo, hi)
                    else:
                        for c in range(c_out):
                            acc[c] += wt[j, c] * v
            for c in range(c_out):
                out[n, c] = acc[c] if saturate else _wrap(acc[c], width)
            nnz[n] = count


@njit(parallel=True, cache=True)
def conv1d(x, w, bias, stride, padding, width, saturate, out, nnz):
    """``x [N, C_in, L]`` -> ``out [N, C_out, L_out]``; ``w [C_out, C_in, K]`` int64.

    Terms are added in the order ``ci`` ascending, then ``j`` ascending.
    ``nnz[N, L]`` receives the non-zero inputs of each row per position.
    """
    n_rows, c_in, length = x.shape
    c_out, _, ksize = w.shape
    l_out = out.shape[2]
    lo = -(np.int64(1) << (width - 1))
    hi = (np.int64(1) << (width - 1)) - 1
    for n in prange(n_rows):
        _count_by_position(x, n, nnz)
        for c in range(c_out):
            for lo_pos in range(l_out):
                acc = bias[c]
                for ci in range(c_in):
                    for j in range(ksize):
                        pos = lo_pos * stride + j - padding
                        if 0 <= pos < length:
                            v = np.int64(x[n, ci, pos])
                            if v != 0:
                                acc = acc + w[c, ci, j] * v
                                if saturate:
                                    acc = _clamp(acc, lo, hi)
                out[n, c, lo_pos] = acc if saturate else _wrap(acc, width)


@njit(parallel=True, cache=True)
def sumpool(x, window, width, saturate, out, nnz):
    """``x [N, C, L]`` -> ``out [N, C, L // window]``; ``nnz[N, L]`` as for ``conv1d``."""
    n_rows, channels, length = x.shape
    l_out = out.shape[2]
    lo = -(np.int64(1) << (width - 1))
    hi = (np.int64(1) << (width - 1)) - 1
    for n in prange(n_rows):
        _count_by_position(x, n, nnz)
        for c in range(channels):
            for p in range(l_out):
                acc = np.int64(0)
                for j in range(window):
                    acc = acc + np.int64(x[n, c, p * window + j])
                    if saturate:
                        acc = _clamp(acc, lo, hi)
                out[n, c, p] = acc if saturate else _wrap(acc, width)


@njit(inline="always")
def _block_params(coef, theta, length, p0, n):
    """Per-neuron copies ``coef [k, n]`` and ``theta [n]`` of neurons ``p0 .. p0 + n`` of the flattened
    ``[B, C, L]`` layout, from the per-channel ``coef [k, C]`` and ``theta [C]``."""
    taps, channels = coef.shape
    positions = channels * length
    block_coef = np.empty((taps, n), coef.dtype)
    block_theta = np.empty(n, theta.dtype)
    for p in range(n):
        c = ((p0 + p) % positions) // length
        block_theta[p] = theta[c]
        for i in range(taps):
            block_coef[i, p] = coef[i, c]
    return block_coef, block_theta


@njit(parallel=True, cache=True)
def neuron(x, coef, theta, length, dilation, width, saturate, spikes, membrane, want_membrane, spike_counts,
           input_counts):
    """Whole-sequence neuron layer over ``N`` independent neurons.

    ``x [T, N]`` (N = batch x channels x length, flattened channel-major per
    sample), ``coef [k, C]`` (int32 or int64: the lane type, see
    ``lane_dtype``) and ``theta [C]`` per channel, ``length`` = L ->
    ``spikes [T, N]`` (0/1) and, if ``want_membrane``, ``membrane [T, N]``.
    ``spike_counts[blocks, T]`` and ``input_counts[blocks, T]`` receive the
    spikes and the non-zero inputs of each block of neurons per step.

    Each block of ``NEURON_BLOCK`` neurons expands its own ``coef [k, block]``
    and copies its inputs into a contiguous circular history
    ``[min(depth, T), block]`` as ``t`` advances, so the taps read rows that do
    not alias in the cache whatever the stride of ``x``; nothing is allocated
    per batch or position outside a block. Under ``wrap`` four taps are summed
    per pass (the sum is taken modulo the lane width and reduced to ``width``
    bits at the end, both exact); under ``saturate`` each tap is added and
    clamped in order.
    """
    steps, neurons = x.shape
    taps = coef.shape[0]
    depth = min((taps - 1) * dilation + 1, steps)
    lo = -(np.int64(1) << (width - 1))
    hi = (np.int64(1) << (width - 1)) - 1
    blocks = (neurons + NEURON_BLOCK - 1) // NEURON_BLOCK
    for job in prange(blocks):
        p0 = job * NEURON_BLOCK
        p1 = min(neurons, p0 + NEURON_BLOCK)
        n = p1 - p0
        block_coef, th = _block_params(coef, theta, length, p0, n)
        acc = np.zeros(n, coef.dtype)
        history = np.zeros((depth, n), x.dtype)
        for t in range(steps):
            active = min(taps, t // dilation + 1)
            head = t % depth
            x0, c0, row = x[t, p0:p1], block_coef[0], history[head]
            nonzero = 0
            for p in range(n):
                v = x0[p]
                row[p] = v
                acc[p] = c0[p] * v
                nonzero += 1 if v != 0 else 0
            input_counts[job, t] = nonzero
            i = 1
            if saturate:
                for p in range(n):
                    acc[p] = _clamp(acc[p], lo, hi)
                while i < active:
                    xa, ca = history[(t - i * dilation) % depth], block_coef[i]
                    for p in range(n):
                        acc[p] = _clamp(acc[p] + ca[p] * xa[p], lo, hi)
                    i += 1
            else:
                while i + 4 <= active:
                    xa, ca = history[(t - i * dilation) % depth], block_coef[i]
                    xb, cb = history[(t - (i + 1) * dilation) % depth], block_coef[i + 1]
                    xc, cc = history[(t - (i + 2) * dilation) % depth], block_coef[i + 2]
                    xd, cd = history[(t - (i + 3) * dilation) % depth], block_coef[i + 3]
                    for p in range(n):
                        acc[p] = acc[p] + ca[p] * xa[p] + cb[p] * xb[p] + cc[p] * xc[p] + cd[p] * xd[p]
                    i += 4
                while i < active:
                    xa, ca = history[(t - i * dilation) % depth], block_coef[i]
                    for p in range(n):
                        acc[p] = acc[p] + ca[p] * xa[p]
                    i += 1
            if not saturate:
                for p in range(n):
                    acc[p] = _wrap(np.int64(acc[p]), width)
            out = spikes[t, p0:p1]
            count = 0
            for p in range(n):
                s = np.int8(acc[p] >= th[p])
                out[p] = s
                count += s
            spike_counts[job, t] = count
            if want_membrane:
                mem = membrane[t, p0:p1]
                for p in range(n):
                    mem[p] = acc[p]


@njit(cache=True)
def neuron_step(history, t, x, coef, theta, length, dilation, width, saturate, spikes, membrane):
    """Time step ``t`` of a neuron layer from its circular history.

    ``history [R, B, P]`` holds the last ``R`` inputs (``R`` = the depth
    ``(k - 1) * dilation + 1``, or fewer when the run has fewer steps: tap
    ``i`` is read only while ``i * dilation <= t < R``); ``x [B, P]`` is
    written at row ``t mod R``, then tap ``i`` reads row ``(t - i * dilation)
    mod R``. ``coef [k, C]`` and ``theta [C]`` are per channel, ``length`` = L
    (P = C x L). Writes ``spikes [B, P]`` and ``membrane [B, P]``.
    """
    rows, batch, positions = history.shape
    taps = coef.shape[0]
    active = min(taps, t // dilation + 1)
    lo = -(np.int64(1) << (width - 1))
    hi = (np.int64(1) << (width - 1)) - 1
    history[t % rows] = x
    for b in range(batch):
        for p in range(positions):
            c = p // length
            acc = np.int64(0)
            for i in range(active):
                acc = acc + coef[i, c] * np.int64(history[(t - i * dilation) % rows, b, p])
                if saturate:
                    acc = _clamp(acc, lo, hi)
            h = acc if saturate else _wrap(acc, width)
            membrane[b, p] = h
            spikes[b, p] = 1 if h >= theta[c] else 0


@njit(parallel=True, cache=True)
def readout(x, width, saturate, out, nnz):
    """``x [T, B, F]`` -> running sums ``out [T, B, F]``; ``nnz[T, B]`` non-zero inputs."""
    steps, batch, features = x.shape
    lo = -(np.int64(1) << (width - 1))
    hi = (np.int64(1) << (width - 1)) - 1
    for b in prange(batch):
        for f in range(features):
            acc = np.int64(0)
            for t in range(steps):
                v = np.int64(x[t, b, f])
                acc = _clamp(acc + v, lo, hi) if saturate else _wrap(acc + v, width)
                out[t, b, f] = acc
        for t in range(steps):
            count = 0
            for f in range(features):
                if x[t, b, f] != 0:
                    count += 1
            nnz[t, b] = count
