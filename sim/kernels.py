"""Numba kernels of the fast simulator: one whole-sequence kernel per layer type, built from per-sample
(``*_row``) and per-step (``neuron_step``, ``accumulate``) parts that the streaming kernel of
``stream.py`` uses as well, so each operation is written once.

Each kernel computes exactly what ``docs/semantics.md`` defines (and
``reference.py`` spells out in NumPy) and gathers, in the same pass, the
activity that the op counts need: non-zero inputs per row and position for
synapses, pooling and the readout, spikes per time step for neurons.

A whole-sequence kernel is a serial ``nogil`` Numba function over a range of independent jobs (rows,
neuron blocks, samples) that :func:`in_parallel` splits over threads. Each is compiled once per argument
dtypes and cached on disk (``jit.py``). The row parts are separate functions, not inlined, so each is
compiled once into the kernel that calls it; ``neuron_step``, called once per block of neurons and step, is
inlined (a call there costs 3 to 13% of the neuron kernel's time).

Arithmetic is int64 throughout. Under ``wrap`` the partial sums are exact in
int64 (the model limits in ``fixed`` guarantee it) and are reduced modulo
``2**width`` once at the end, which equals wrapping after every addition
because two's-complement addition is arithmetic modulo ``2**width``. Under
``saturate`` every addition is clamped in the documented order. A neuron tap
``sign * (x << shift)`` is evaluated as ``x * coef`` with
``coef = sign * 2**shift``; the two are the same integer.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import config, njit

from . import fixed
from .jit import CACHE, note_compiles

note_compiles()

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


def neuron_lane_dtype(layer, inp) -> np.dtype:
    """Lane type of neuron ``layer`` (a ``Neuron``) on input spec ``inp``: a term ``sign * (x << shift)``
    has ``inp.width + shift_max + 1`` bits."""
    return lane_dtype(layer.acc_width, inp.width + layer.shift_max + 1, layer.overflow == fixed.SATURATE)


def acc_init(layer) -> np.ndarray:
    """Initial accumulator of a dense or conv1d ``layer`` per output channel: its bias, or zeros; int64
    ``[C_out]``."""
    c_out = layer.weight.shape[0]
    return np.zeros(c_out, np.int64) if layer.bias is None else layer.bias.astype(np.int64)


@njit(inline="always")
def _wrap(v, width):
    half = np.int64(1) << (width - 1)
    mask = (np.int64(1) << width) - 1
    return ((v + half) & mask) - half


@njit(inline="always")
def _clamp(v, lo, hi):
    return min(max(v, lo), hi)


@njit(inline="always")
def signed_bounds(width):
    """``(lo, hi)`` of a ``width``-bit signed integer, as int64."""
    return -(np.int64(1) << (width - 1)), (np.int64(1) << (width - 1)) - 1


@njit(inline="always")
def accumulate(acc, v, width, saturate):
    """``mode(acc + v)`` at ``width`` bits: one addition of a running sum."""
    lo, hi = signed_bounds(width)
    return _clamp(acc + v, lo, hi) if saturate else _wrap(acc + v, width)


@njit(inline="always")
def _count_by_position(x, nnz):
    """``nnz[pos]`` = non-zero values of ``x [C, L]`` at each position."""
    for pos in range(x.shape[1]):
        count = 0
        for c in range(x.shape[0]):
            if x[c, pos] != 0:
                count += 1
        nnz[pos] = count


@njit
def dense_row(x, wt, bias, width, saturate, acc, out):
    """One sample: ``x [C_in]`` -> ``out [C_out]``; ``wt [C_in, C_out]`` and ``bias [C_out]`` int64, ``acc
    [C_out]`` int64 work space. Returns the number of non-zero inputs."""
    c_in, c_out = wt.shape
    lo, hi = signed_bounds(width)
    acc[:] = bias
    count = 0
    for j in range(c_in):
        v = np.int64(x[j])
        if v != 0:
            count += 1
            if saturate:
                for c in range(c_out):
                    acc[c] = _clamp(acc[c] + wt[j, c] * v, lo, hi)
            else:
                for c in range(c_out):
                    acc[c] += wt[j, c] * v
    for c in range(c_out):
        out[c] = acc[c] if saturate else _wrap(acc[c], width)
    return count


@njit
def conv1d_row(x, w, bias, stride, padding, width, saturate, out, nnz):
    """One sample: ``x [C_in, L]`` -> ``out [C_out, L_out]``; ``w [C_out, C_in, K]`` and ``bias [C_out]``
    int64. Terms are added in the order ``ci`` ascending, then ``j`` ascending. ``nnz [L]`` receives the
    non-zero inputs per position."""
    c_in, length = x.shape
    c_out, _, ksize = w.shape
    lo, hi = signed_bounds(width)
    _count_by_position(x, nnz)
    for c in range(c_out):
        for lo_pos in range(out.shape[1]):
            acc = bias[c]
            for ci in range(c_in):
                for j in range(ksize):
                    pos = lo_pos * stride + j - padding
                    if 0 <= pos < length:
                        v = np.int64(x[ci, pos])
                        if v != 0:
                            acc = acc + w[c, ci, j] * v
                            if saturate:
                                acc = _clamp(acc, lo, hi)
            out[c, lo_pos] = acc if saturate else _wrap(acc, width)


@njit
def sumpool_row(x, window, width, saturate, out, nnz):
    """One sample: ``x [C, L]`` -> ``out [C, L // window]``; ``nnz [L]`` as for ``conv1d_row``."""
    lo, hi = signed_bounds(width)
    _count_by_position(x, nnz)
    for c in range(x.shape[0]):
        for p in range(out.shape[1]):
            acc = np.int64(0)
            for j in range(window):
                acc = acc + np.int64(x[c, p * window + j])
                if saturate:
                    acc = _clamp(acc, lo, hi)
            out[c, p] = acc if saturate else _wrap(acc, width)


def threads() -> int:
    """Threads the whole-sequence kernels split their work over: Numba's ``NUMBA_NUM_THREADS`` (by default
    the CPU count)."""
    return config.NUMBA_NUM_THREADS


@functools.cache
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="shiftspike-sim")


def in_parallel(kernel, jobs: int, *args) -> None:
    """``kernel(*args, lo, hi)`` over ``jobs`` independent jobs, split into :func:`threads` contiguous
    ranges ``[lo, hi)``, one per thread (the first in the calling thread); the kernels release the GIL.

    The kernels are serial Numba functions driven by Python threads rather than ``prange`` loops: a
    ``parallel=True`` kernel takes about twice as long to compile, and compiling is most of a first run.
    """
    (lo, hi), *others = job_ranges(jobs, threads())
    rest = [_pool(len(others)).submit(kernel, *args, *bounds) for bounds in others]
    kernel(*args, lo, hi)
    for job in rest:
        job.result()


def job_ranges(jobs: int, parts: int) -> list[tuple[int, int]]:
    """``jobs >= 0`` jobs cut into ``min(jobs, parts)`` contiguous ranges ``(lo, hi)`` whose sizes differ by
    at most one (one empty range when there are no jobs)."""
    parts = max(1, min(jobs, parts))
    bounds = [jobs * i // parts for i in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


@njit(nogil=True, cache=CACHE)
def _dense(x, wt, bias, width, saturate, out, nnz, lo, hi):
    acc = np.empty(wt.shape[1], np.int64)
    for n in range(lo, hi):
        nnz[n] = dense_row(x[n], wt, bias, width, saturate, acc, out[n])


def dense(x, wt, bias, width, saturate, out, nnz):
    """``x [N, C_in]`` -> ``out [N, C_out]``; ``wt [C_in, C_out]`` int64; ``bias [C_out]`` int64.

    ``nnz[N]`` receives the number of non-zero inputs of each row.
    """
    in_parallel(_dense, x.shape[0], x, wt, bias, width, saturate, out, nnz)


@njit(nogil=True, cache=CACHE)
def _conv1d(x, w, bias, stride, padding, width, saturate, out, nnz, lo, hi):
    for n in range(lo, hi):
        conv1d_row(x[n], w, bias, stride, padding, width, saturate, out[n], nnz[n])


def conv1d(x, w, bias, stride, padding, width, saturate, out, nnz):
    """``x [N, C_in, L]`` -> ``out [N, C_out, L_out]``; ``w [C_out, C_in, K]`` int64; ``nnz[N, L]``: see
    ``conv1d_row``."""
    in_parallel(_conv1d, x.shape[0], x, w, bias, stride, padding, width, saturate, out, nnz)


@njit(nogil=True, cache=CACHE)
def _sumpool(x, window, width, saturate, out, nnz, lo, hi):
    for n in range(lo, hi):
        sumpool_row(x[n], window, width, saturate, out[n], nnz[n])


def sumpool(x, window, width, saturate, out, nnz):
    """``x [N, C, L]`` -> ``out [N, C, L // window]``; ``nnz[N, L]`` as for ``conv1d``."""
    in_parallel(_sumpool, x.shape[0], x, window, width, saturate, out, nnz)


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


@njit(inline="always")
def neuron_step(history, t, dilation, coef, theta, x, width, saturate, acc, spikes, membrane, want_membrane):
    """Time step ``t`` of ``n`` neurons, ``G = n / P`` groups of ``P`` sharing their taps, from their
    circular history.

    ``history [R, n]`` holds the last ``R`` inputs (``R`` = the depth ``(k - 1) * dilation + 1``, or fewer
    when the sequence has fewer steps: tap ``i`` is read only while ``i * dilation <= t < R``); ``x [n]``
    is written at row ``t mod R``, then tap ``i`` reads row ``(t - i * dilation) mod R``. ``coef [k, P]``
    and ``theta [P]`` are those of neuron ``g * P + q`` for every group ``g``; they and the work space
    ``acc [n]`` are in the lane type (see ``lane_dtype``). Writes ``spikes [n]`` (0/1) and, if
    ``want_membrane``, ``membrane [n]``. Returns ``(non-zero inputs, spikes)``. Under ``wrap`` four taps
    are summed per pass (the sum is taken modulo the lane width and reduced to ``width`` bits at the end,
    both exact); under ``saturate`` each tap is added and clamped in order.
    """
    depth, n = history.shape
    taps, group = coef.shape
    groups = n // group
    lo, hi = signed_bounds(width)
    active = min(taps, t // dilation + 1)
    row, c0 = history[t % depth], coef[0]
    nonzero = 0
    for g in range(groups):
        o = g * group
        for q in range(group):
            v = x[o + q]
            row[o + q] = v
            acc[o + q] = c0[q] * v
            nonzero += 1 if v != 0 else 0
    i = 1
    if saturate:
        for p in range(n):
            acc[p] = _clamp(acc[p], lo, hi)
        while i < active:
            xa, ca = history[(t - i * dilation) % depth], coef[i]
            for g in range(groups):
                o = g * group
                for q in range(group):
                    acc[o + q] = _clamp(acc[o + q] + ca[q] * xa[o + q], lo, hi)
            i += 1
    else:
        while i + 4 <= active:
            xa, ca = history[(t - i * dilation) % depth], coef[i]
            xb, cb = history[(t - (i + 1) * dilation) % depth], coef[i + 1]
            xc, cc = history[(t - (i + 2) * dilation) % depth], coef[i + 2]
            xd, cd = history[(t - (i + 3) * dilation) % depth], coef[i + 3]
            for g in range(groups):
                o = g * group
                for q in range(group):
                    acc[o + q] = (acc[o + q] + ca[q] * xa[o + q] + cb[q] * xb[o + q] + cc[q] * xc[o + q]
                                  + cd[q] * xd[o + q])
            i += 4
        while i < active:
            xa, ca = history[(t - i * dilation) % depth], coef[i]
            for g in range(groups):
                o = g * group
                for q in range(group):
                    acc[o + q] = acc[o + q] + ca[q] * xa[o + q]
            i += 1
        for p in range(n):
            acc[p] = _wrap(np.int64(acc[p]), width)
    count = 0
    for g in range(groups):
        o = g * group
        for q in range(group):
            s = np.int8(acc[o + q] >= theta[q])
            spikes[o + q] = s
            count += s
    if want_membrane:
        for p in range(n):
            membrane[p] = acc[p]
    return nonzero, count


@njit(nogil=True, cache=CACHE)
def _neuron(x, coef, theta, length, dilation, width, saturate, spikes, membrane, want_membrane, spike_counts,
            input_counts, lo, hi):
    steps, neurons = x.shape
    taps = coef.shape[0]
    depth = min((taps - 1) * dilation + 1, steps)
    for job in range(lo, hi):
        p0 = job * NEURON_BLOCK
        p1 = min(neurons, p0 + NEURON_BLOCK)
        n = p1 - p0
        block_coef, th = _block_params(coef, theta, length, p0, n)
        acc = np.zeros(n, coef.dtype)
        history = np.zeros((depth, n), x.dtype)
        for t in range(steps):
            mem = membrane[t, p0:p1] if want_membrane else membrane[0, 0:0]
            input_counts[job, t], spike_counts[job, t] = neuron_step(
                history, t, dilation, block_coef, th, x[t, p0:p1], width, saturate, acc, spikes[t, p0:p1], mem,
                want_membrane)


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
    ``[min(depth, T), block]`` as ``t`` advances (``neuron_step``, one group), so
    the taps read rows that do not alias in the cache whatever the stride of
    ``x``; nothing is allocated per batch or position outside a block.
    """
    blocks = (x.shape[1] + NEURON_BLOCK - 1) // NEURON_BLOCK
    in_parallel(_neuron, blocks, x, coef, theta, length, dilation, width, saturate, spikes, membrane,
                want_membrane, spike_counts, input_counts)


def readout(x, width, saturate, out, nnz):
    """``x [T, B, F]`` -> running sums ``out [T, B, F]``; ``nnz[T, B]`` non-zero inputs."""
    in_parallel(_readout, x.shape[1], x, width, saturate, out, nnz)


@njit(nogil=True, cache=CACHE)
def _readout(x, width, saturate, out, nnz, lo, hi):
    steps, batch, features = x.shape
    for b in range(lo, hi):
        for f in range(features):
            acc = np.int64(0)
            for t in range(steps):
                acc = accumulate(acc, np.int64(x[t, b, f]), width, saturate)
                out[t, b, f] = acc
        for t in range(steps):
            count = 0
            for f in range(features):
                if x[t, b, f] != 0:
                    count += 1
            nnz[t, b] = count


# Streaming: every layer of a model, one time step after another, from the packed model of ``stream.py``.
# Layer kinds and the columns of its layer table (one int64 row per layer). X_AT, Y_AT, WORK_AT: the layer's
# input, output and work space (int64) in ``state``; PARAM_AT, THETA_AT: its weights (dense: [C_in, C_out],
# conv1d: [C_out, C_in, K], neuron: taps [k, GROUP] in the lane type, GROUP = C x L or B x C x L) and its
# bias (int64) or thresholds ([GROUP], lane type) in ``params``; KSIZE: conv1d's K or sumpool's window; a
# neuron's LANE_AT: accumulator lanes [B x C x L] (int64 if LANES64, else int32) and STATE_AT: history
# [ROWS, B x C x L] in the lane type (a readout's sums [B x F], int64), in ``state``;
# OUT_AT, MEM_AT, NZ_AT, SPIKES_AT: the output, membrane, non-zero-input and spike regions of an output
# block, in values per step, in the block buffer of dtype code OUT_DTYPE, MEM_DTYPE and int64. Offsets into
# ``params`` and ``state`` count int64 slots; a region of another dtype starts at a slot and is viewed in
# its dtype.
DENSE, CONV1D, SUMPOOL, NEURON, READOUT = range(5)
(KIND, BATCH, C_IN, L_IN, C_OUT, L_OUT, ACC_WIDTH, SATURATE, X_AT, Y_AT, WORK_AT, PARAM_AT, THETA_AT, KSIZE,
 STRIDE, PADDING, TAPS, DILATION, LANES64, LANE_AT, ROWS, STATE_AT, OUT_DTYPE, OUT_AT, MEM_DTYPE, MEM_AT,
 NZ_LEN, NZ_AT, SPIKES_AT, GROUP, COLUMNS) = range(31)
#: The dtypes of the codes OUT_DTYPE and MEM_DTYPE.
DTYPES = tuple(np.dtype(d) for d in (np.int8, np.int16, np.int32, np.int64))


@njit(cache=CACHE)
def advance(x, table, params, state, o8, o16, o32, o64, t, at, steps, want_membrane, lo, hi):
    """Time steps ``t .. t + n - 1`` of ``x [n, B, F]`` (the input's storage dtype) through every layer.

    ``table``, ``params`` and ``state`` are the packed model and its state (int64); the outputs go to steps
    ``at .. at + n - 1`` of a block of ``steps`` steps, buffers ``o8 .. o64`` by dtype. Returns 0, or the
    value of ``x`` outside ``[lo, hi]`` that made it refuse the chunk before changing anything (the
    minimum if it is below ``lo``, else the maximum).
    """
    xmin, xmax = lo, hi
    for v in x.reshape(x.size):
        xmin, xmax = min(xmin, v), max(xmax, v)
    if xmin < lo or xmax > hi:
        return xmin if xmin < lo else xmax
    first = table[0]
    size = first[BATCH] * first[C_IN] * first[L_IN]
    for s in range(x.shape[0]):
        _copy(x[s].reshape(size), state[first[X_AT]:first[X_AT] + size])
        _model_step(table, params, state, o8, o16, o32, o64, t + s, at + s, steps, want_membrane)
    return 0


@njit
def _model_step(table, params, state, o8, o16, o32, o64, t, at, steps, want_membrane):
    """Time step ``t`` through every layer, from the model input in ``state``; outputs at block step
    ``at``."""
    for i in range(table.shape[0]):
        row = table[i]
        kind = row[KIND]
        nz = o64[steps * row[NZ_AT] + at * row[NZ_LEN]:steps * row[NZ_AT] + (at + 1) * row[NZ_LEN]]
        if kind == NEURON:
            o64[steps * row[SPIKES_AT] + at] = _neuron_lanes(row, t, params, state, want_membrane, nz)
            if want_membrane:
                size = row[BATCH] * row[C_IN] * row[L_IN]
                _store(state[row[WORK_AT]:row[WORK_AT] + size], row[MEM_DTYPE], steps * row[MEM_AT] + at * size,
                       o8, o16, o32, o64)
        elif kind == DENSE:
            _dense_step(row, state, params, nz)
        elif kind == CONV1D:
            _conv1d_step(row, state, params, nz)
        elif kind == SUMPOOL:
            _sumpool_step(row, state, nz)
        else:
            _readout_step(row, state, nz)
        size = row[BATCH] * row[C_OUT] * row[L_OUT]
        _store(state[row[Y_AT]:row[Y_AT] + size], row[OUT_DTYPE], steps * row[OUT_AT] + at * size,
               o8, o16, o32, o64)


@njit(inline="always")
def _copy(src, dst):
    for j in range(src.size):
        dst[j] = src[j]


@njit(inline="always")
def _typed(buffer, at, count, dtype):
    """``count`` values of ``dtype`` from int64 slot ``at`` of ``buffer``."""
    return buffer[at:].view(dtype)[:count]


@njit
def _store(src, code, at, o8, o16, o32, o64):
    """Copy ``src`` (int64) to offset ``at`` of the block buffer of dtype code ``code``."""
    if code == 0:
        _copy(src, o8[at:at + src.size])
    elif code == 1:
        _copy(src, o16[at:at + src.size])
    elif code == 2:
        _copy(src, o32[at:at + src.size])
    else:
        _copy(src, o64[at:at + src.size])


@njit(inline="always")
def _rows(buffer, at, rows, cols):
    """``buffer[at : at + rows * cols]`` as ``[rows, cols]``."""
    return buffer[at:at + rows * cols].reshape(rows, cols)


@njit(inline="always")
def _samples(buffer, at, batch, channels, length):
    """``buffer[at : ...]`` as ``[batch, channels, length]``."""
    return buffer[at:at + batch * channels * length].reshape(batch, channels, length)


@njit(inline="always")
def _sum_rows(counts, nz):
    """``nz[j] = sum_b counts[b, j]``."""
    for j in range(nz.size):
        total = 0
        for b in range(counts.shape[0]):
            total += counts[b, j]
        nz[j] = total


@njit
def _dense_step(row, state, params, nz):
    batch, c_in, c_out = row[BATCH], row[C_IN] * row[L_IN], row[C_OUT]
    x, y = _rows(state, row[X_AT], batch, c_in), _rows(state, row[Y_AT], batch, c_out)
    wt, bias = _rows(params, row[PARAM_AT], c_in, c_out), params[row[THETA_AT]:row[THETA_AT] + c_out]
    acc = state[row[WORK_AT]:row[WORK_AT] + c_out]
    count = 0
    for b in range(batch):
        count += dense_row(x[b], wt, bias, row[ACC_WIDTH], row[SATURATE] != 0, acc, y[b])
    nz[0] = count


@njit
def _conv1d_step(row, state, params, nz):
    batch, c_in, c_out, ksize = row[BATCH], row[C_IN], row[C_OUT], row[KSIZE]
    x = _samples(state, row[X_AT], batch, c_in, row[L_IN])
    y = _samples(state, row[Y_AT], batch, c_out, row[L_OUT])
    w = params[row[PARAM_AT]:row[PARAM_AT] + c_out * c_in * ksize].reshape(c_out, c_in, ksize)
    bias = params[row[THETA_AT]:row[THETA_AT] + c_out]
    counts = _rows(state, row[WORK_AT], batch, row[L_IN])
    for b in range(batch):
        conv1d_row(x[b], w, bias, row[STRIDE], row[PADDING], row[ACC_WIDTH], row[SATURATE] != 0, y[b], counts[b])
    _sum_rows(counts, nz)


@njit
def _sumpool_step(row, state, nz):
    batch, channels = row[BATCH], row[C_IN]
    x = _samples(state, row[X_AT], batch, channels, row[L_IN])
    y = _samples(state, row[Y_AT], batch, channels, row[L_OUT])
    counts = _rows(state, row[WORK_AT], batch, row[L_IN])
    for b in range(batch):
        sumpool_row(x[b], row[KSIZE], row[ACC_WIDTH], row[SATURATE] != 0, y[b], counts[b])
    _sum_rows(counts, nz)


@njit
def _readout_step(row, state, nz):
    size = row[BATCH] * row[C_IN] * row[L_IN]
    x, y = state[row[X_AT]:row[X_AT] + size], state[row[Y_AT]:row[Y_AT] + size]
    sums = state[row[STATE_AT]:row[STATE_AT] + size]
    count = 0
    for j in range(size):
        count += x[j] != 0
        sums[j] = accumulate(sums[j], x[j], row[ACC_WIDTH], row[SATURATE] != 0)
        y[j] = sums[j]
    nz[0] = count


@njit
def _neuron_lanes(row, t, params, state, want_membrane, nz):
    """One step of a neuron layer in its lane type; returns the spikes."""
    if row[LANES64]:
        return _neuron_step(row, t, params, state, want_membrane, nz, np.int64)
    return _neuron_step(row, t, params, state, want_membrane, nz, np.int32)


@njit
def _neuron_step(row, t, params, state, want_membrane, nz, lanes):
    neurons, group = row[BATCH] * row[C_IN] * row[L_IN], row[GROUP]
    x, y = state[row[X_AT]:row[X_AT] + neurons], state[row[Y_AT]:row[Y_AT] + neurons]
    membrane = state[row[WORK_AT]:row[WORK_AT] + neurons]
    history = _typed(state, row[STATE_AT], row[ROWS] * neurons, lanes).reshape(row[ROWS], neurons)
    coef = _typed(params, row[PARAM_AT], row[TAPS] * group, lanes).reshape(row[TAPS], group)
    theta = _typed(params, row[THETA_AT], group, lanes)
    acc = _typed(state, row[LANE_AT], neurons, lanes)
    nz[0], spikes = neuron_step(history, t, row[DILATION], coef, theta, x, row[ACC_WIDTH], row[SATURATE] != 0,
                                acc, y, membrane, want_membrane)
    return spikes
