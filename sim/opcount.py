"""Exact operation counts of a run, per layer and per time step.

Counts are summed over the batch and are exact integers derived from the
layer structure and the activity a simulator recorded (``LayerActivity``);
``docs/energy.md`` states every rule. Two counting conventions exist:

* ``exact``: what the integer model really does. A neuron tap is work only
  if it is non-zero and falls inside the sequence (``t - i*d >= 0``); a shift
  by 0 is not a shift. Synapses are event-driven: a weight is read and added
  (and, for non-binary input, multiplied) only for a non-zero input.
* ``literature``: the accounting published for parallel spiking neurons:
  every tap inside the sequence counts one shift and one add, whatever its
  value; the threshold counts as one comparison per neuron and step.

Op kinds (``OP_KINDS``): ``add`` (additions and subtractions), ``shift``
(non-zero shifts), ``mul`` (integer multiplications), ``fp_add``/``fp_mul``
(float operations, used by the PSN comparison), ``cmp`` (threshold
comparisons), ``weight_read`` (synaptic weights or neuron tap parameters),
``param_read`` (biases and thresholds), ``buffer_read``/``buffer_write``
(delay-buffer words), ``spikes_in`` (non-zero inputs: spikes for spike
inputs), ``spikes_out`` (spikes emitted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import INT, Conv1d, Dense, IntegerModel, Neuron, Readout, SumPool, TensorSpec
from .trace import LayerActivity, Trace

OP_KINDS = (
    "add", "shift", "mul", "fp_add", "fp_mul", "cmp",
    "weight_read", "param_read", "buffer_read", "buffer_write", "spikes_in", "spikes_out",
)
EXACT = "exact"
LITERATURE = "literature"
CONVENTIONS = (EXACT, LITERATURE)
#: Width of the float operations of the PSN comparison (fp32).
FP_BITS = 32


@dataclass(frozen=True)
class LayerOps:
    """Counts of one layer (or one variant of it) over a run.

    ``per_step[kind] [T]``: int64 counts per time step, summed over the batch.
    ``bits[kind]``: operand width in bits of that kind in this layer (for
    memory kinds, the word width read or written).
    """

    per_step: dict[str, np.ndarray]
    bits: dict[str, int]

    def total(self, kind: str) -> int:
        return int(self.per_step[kind].sum()) if kind in self.per_step else 0

    def totals(self) -> dict[str, int]:
        return {kind: self.total(kind) for kind in OP_KINDS}


def _ops(steps: int, bits: dict[str, int], **per_step) -> LayerOps:
    counts = {k: np.zeros(steps, np.int64) for k in OP_KINDS}
    for kind, value in per_step.items():
        counts[kind] = counts[kind] + np.asarray(value, np.int64)
    return LayerOps(counts, bits)


def active_taps(steps: int, taps: int, dilation: int) -> np.ndarray:
    """``m[t] = min(taps, t // dilation + 1)``: taps whose input lies inside the sequence ``[T]``."""
    return np.minimum(taps, np.arange(steps) // dilation + 1).astype(np.int64)


def _tap_prefix(mask: np.ndarray, steps: int, dilation: int) -> np.ndarray:
    """Per step, over channels, the taps selected by ``mask [C, k]`` that lie inside the sequence."""
    per_tap = mask.sum(axis=0).astype(np.int64)
    prefix = np.concatenate([[0], np.cumsum(per_tap)])
    return prefix[active_taps(steps, mask.shape[1], dilation)]


def conv_fanout(length: int, l_out: int, ksize: int, stride: int, padding: int) -> np.ndarray:
    """``f[l]``: how many (output position, kernel tap) pairs read input position ``l`` ``[L]`` int64.

    Output position ``o`` reads ``o * stride + j - padding`` for ``j < K``: for each tap ``j`` the positions
    read form a stride-``stride`` progression, added in one slice (O(K + L) NumPy work).
    """
    fan = np.zeros(length, np.int64)
    for j in range(ksize):
        # o ranges over [0, l_out); position o * stride + j - padding must lie in [0, length)
        first = max(0, -(-(padding - j) // stride))
        last = min(l_out - 1, (length - 1 + padding - j) // stride)
        if first <= last:
            start = first * stride + j - padding
            fan[start : start + (last - first) * stride + 1 : stride] += 1
    return fan


def tap_bits(layer: Neuron) -> int:
    """Bits of one stored tap: 2 for the sign, enough for a shift in ``[0, shift_max]``."""
    return 2 + max(1, int(layer.shift_max).bit_length())


def neuron_ops(layer: Neuron, inp: TensorSpec, activity: LayerActivity, batch: int, convention: str,
               arith: str = "shift") -> LayerOps:
    """Counts of a neuron layer; ``arith="mul"`` is the same neuron with a multiplier per tap."""
    spikes = activity.out_spikes
    steps = len(spikes)
    reps = batch * inp.length
    positions = reps * inp.channels
    if convention == LITERATURE:
        terms = positions * active_taps(steps, layer.taps, layer.dilation)
        shifts = terms
    else:
        terms = reps * _tap_prefix(layer.sign != 0, steps, layer.dilation)
        shifts = reps * _tap_prefix((layer.sign != 0) & (layer.shift != 0), steps, layer.dilation)
    weight_bits = layer.shift_max + 2 if arith == "mul" else tap_bits(layer)
    bits = {
        "add": layer.acc_width, "cmp": layer.acc_width, "shift": inp.width + layer.shift_max,
        "mul": max(inp.width, weight_bits), "weight_read": weight_bits, "param_read": layer.acc_width,
        "buffer_read": inp.width, "buffer_write": inp.width,
    }
    arith_ops = {"mul": terms} if arith == "mul" else {"shift": shifts}
    return _ops(steps, bits, add=terms, cmp=np.full(steps, positions), weight_read=terms,
                param_read=np.full(steps, positions), buffer_read=terms, buffer_write=np.full(steps, positions),
                spikes_in=activity.in_nonzero[:, 0], spikes_out=spikes, **arith_ops)


def psn_ops(inp: TensorSpec, steps: int, batch: int, convention: str) -> LayerOps:
    """A PSN-style neuron (dense T x T float32 weight matrix) in place of a neuron layer.

    Per neuron and step: ``T`` float multiplications and ``T + 1`` float
    additions (the matrix row and the bias), i.e. ``T^2`` and ``T^2 + T`` per
    sequence, as the literature counts them. Under the ``exact`` convention the
    memory traffic and threshold are counted as for our neuron: ``T`` weight
    reads (32 bits) and ``T`` input-history reads, one input write, one bias
    read and one comparison per neuron and step.
    """
    positions = batch * inp.features
    per_step = {"fp_mul": np.full(steps, positions * steps), "fp_add": np.full(steps, positions * (steps + 1))}
    bits = {"fp_add": FP_BITS, "fp_mul": FP_BITS}
    if convention == EXACT:
        per_step |= {"weight_read": np.full(steps, positions * steps), "buffer_read": np.full(steps, positions * steps),
                     "buffer_write": np.full(steps, positions), "param_read": np.full(steps, positions),
                     "cmp": np.full(steps, positions)}
        bits |= {"weight_read": FP_BITS, "buffer_read": inp.width, "buffer_write": inp.width,
                 "param_read": FP_BITS, "cmp": FP_BITS}
    return _ops(steps, bits, **per_step)


def layer_ops(model: IntegerModel, index: int, trace: Trace, convention: str = EXACT) -> LayerOps:
    """Counts of layer ``index`` of ``model`` over the run recorded in ``trace``."""
    layer, inp = model.layers[index], model.specs[index]
    activity = trace.activity[index]
    steps, batch = trace.outputs[index].shape[:2]
    if isinstance(layer, Neuron):
        return neuron_ops(layer, inp, activity, batch, convention)
    nonzero = activity.in_nonzero
    events = nonzero.sum(axis=1)
    if isinstance(layer, (Dense, Conv1d)):
        c_out = layer.weight.shape[0]
        out_positions = model.specs[index + 1].length
        if isinstance(layer, Conv1d):
            fan = conv_fanout(inp.length, out_positions, layer.weight.shape[2], layer.stride, layer.padding)
            synaptic = c_out * (nonzero @ fan)
        else:
            synaptic = c_out * events
        bits = {"add": layer.acc_width, "mul": max(inp.width, layer.weight_width),
                "weight_read": layer.weight_width, "param_read": layer.acc_width}
        bias_reads = 0 if layer.bias is None else batch * c_out * out_positions
        mul = synaptic if inp.kind == INT else 0
        return _ops(steps, bits, add=synaptic, mul=mul, weight_read=synaptic,
                    param_read=np.full(steps, bias_reads), spikes_in=events)
    if isinstance(layer, SumPool):
        kept = model.specs[index + 1].length * layer.window
        return _ops(steps, {"add": layer.acc_width}, add=nonzero[:, :kept].sum(axis=1), spikes_in=events)
    assert isinstance(layer, Readout)
    return _ops(steps, {"add": layer.acc_width}, add=events, spikes_in=events)
