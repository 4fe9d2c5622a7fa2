"""NumPy reference simulator: ``docs/semantics.md`` in executable form.

Written for clarity, not speed: every addition is applied one term at a time
in the documented order, followed by the layer's overflow rule, over int64
arrays. The fast simulator (``engine``) must equal it bit for bit.
"""

from __future__ import annotations

import numpy as np

from . import fixed
from .model import Conv1d, Dense, IntegerModel, Neuron, Readout, SumPool, TensorSpec
from .trace import LayerActivity, Trace, check_input


def _dense(layer: Dense, x: np.ndarray) -> np.ndarray:
    """``x [T, B, C_in]`` -> ``[T, B, C_out]``: bias first, then inputs ``j`` ascending."""
    steps, batch, _ = x.shape
    acc = np.zeros((steps, batch, layer.weight.shape[0]), np.int64)
    if layer.bias is not None:
        acc += layer.bias.astype(np.int64)
    for j in range(layer.weight.shape[1]):
        term = x[:, :, j, None].astype(np.int64) * layer.weight[:, j].astype(np.int64)
        acc = fixed.apply_overflow(acc + term, layer.acc_width, layer.overflow)
    return acc


def _conv1d(layer: Conv1d, x: np.ndarray) -> np.ndarray:
    """``x [T, B, C_in, L]`` -> ``[T, B, C_out, L_out]``: bias, then ``ci`` ascending, ``j`` ascending."""
    steps, batch, _, length = x.shape
    c_out, c_in, ksize = layer.weight.shape
    l_out = (length + 2 * layer.padding - ksize) // layer.stride + 1
    padded = np.zeros((steps, batch, c_in, length + 2 * layer.padding), np.int64)
    padded[..., layer.padding : layer.padding + length] = x
    acc = np.zeros((steps, batch, c_out, l_out), np.int64)
    if layer.bias is not None:
        acc += layer.bias.astype(np.int64)[:, None]
    for ci in range(c_in):
        for j in range(ksize):
            window = padded[:, :, ci, j : j + layer.stride * (l_out - 1) + 1 : layer.stride]
            term = window[:, :, None, :] * layer.weight[:, ci, j].astype(np.int64)[:, None]
            acc = fixed.apply_overflow(acc + term, layer.acc_width, layer.overflow)
    return acc


def _sumpool(layer: SumPool, x: np.ndarray) -> np.ndarray:
    """``x [T, B, C, L]`` -> ``[T, B, C, L // window]``: positions in a window ascending."""
    l_out = x.shape[-1] // layer.window
    acc = np.zeros(x.shape[:-1] + (l_out,), np.int64)
    for j in range(layer.window):
        acc = fixed.apply_overflow(acc + x[..., j : l_out * layer.window : layer.window], layer.acc_width, layer.overflow)
    return acc


def _neuron(layer: Neuron, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x [T, B, C, L]`` -> spikes and membranes ``[T, B, C, L]``: taps ``i`` ascending."""
    steps = x.shape[0]
    h = np.zeros(x.shape, np.int64)
    for i in range(layer.taps):
        lag = i * layer.dilation
        delayed = np.zeros(x.shape, np.int64)
        if lag < steps:
            delayed[lag:] = x[: steps - lag]
        sign = layer.sign[:, i].astype(np.int64)[:, None]
        shift = layer.shift[:, i].astype(np.int64)[:, None]
        h = fixed.apply_overflow(h + sign * np.left_shift(delayed, shift), layer.acc_width, layer.overflow)
    spikes = (h >= layer.theta.astype(np.int64)[:, None]).astype(np.int64)
    return spikes, h


def _readout(layer: Readout, x: np.ndarray) -> np.ndarray:
    """``x [T, ...]`` -> running sums over time, overflow applied after every step."""
    out = np.zeros(x.shape, np.int64)
    acc = np.zeros(x.shape[1:], np.int64)
    for t in range(x.shape[0]):
        acc = fixed.apply_overflow(acc + x[t], layer.acc_width, layer.overflow)
        out[t] = acc
    return out


def _activity(layer, inp: TensorSpec, x: np.ndarray, out: np.ndarray) -> LayerActivity:
    length = inp.length if isinstance(layer, (Conv1d, SumPool)) else 1
    nonzero = (x.reshape(x.shape[0], -1, length) != 0).sum(axis=1).astype(np.int64)
    spikes = out.reshape(out.shape[0], -1).sum(axis=1) if isinstance(layer, Neuron) else None
    return LayerActivity(in_nonzero=nonzero, out_spikes=spikes)


def run_reference(model: IntegerModel, x: np.ndarray) -> Trace:
    """Run ``model`` on ``x [T, B, features]``; return every layer's output, membranes and activity."""
    cur = check_input(model, x).astype(np.int64)
    steps, batch, _ = cur.shape
    outputs, membranes, activity = [], {}, []
    for index, layer in enumerate(model.layers):
        inp, outp = model.specs[index], model.specs[index + 1]
        shaped = cur.reshape(steps, batch, inp.channels, inp.length)
        if isinstance(layer, Dense):
            out = _dense(layer, cur)
        elif isinstance(layer, Conv1d):
            out = _conv1d(layer, shaped)
        elif isinstance(layer, SumPool):
            out = _sumpool(layer, shaped)
        elif isinstance(layer, Neuron):
            out, membranes[index] = _neuron(layer, shaped)
            membranes[index] = membranes[index].reshape(steps, batch, -1).astype(fixed.storage_dtype(layer.acc_width))
        else:
            out = _readout(layer, cur)
        out = out.reshape(steps, batch, outp.features)
        activity.append(_activity(layer, inp, cur, out))
        outputs.append(out.astype(outp.dtype))
        cur = out
    return Trace(outputs=outputs, membranes=membranes, activity=activity)
