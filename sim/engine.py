"""The fast simulator: runs an integer model with the Numba kernels.

Modes with identical results: :func:`run` processes the whole sequence
layer by layer; a :class:`~shiftspike.sim.stream.Stream` takes the sequence
in chunks of any length (one compiled call per chunk), keeping only each
neuron's circular history and the readout sums; :class:`Stepper` is a stream
fed one step, or one whole sequence, at a time.
:func:`check_resources` (from :mod:`.resources`) says beforehand whether a run
fits in the memory available.
"""

from __future__ import annotations

import numpy as np

from . import fixed, kernels
from .model import Conv1d, Dense, IntegerModel, Layer, Neuron, Readout, TensorSpec
from .resources import check_resources, run_bytes
from .stream import Stream
from .trace import LayerActivity, Trace, check_input


class _Stateless:
    """Dense, conv1d and sum-pool kernels applied to rows ``[N, features]``."""

    def __init__(self, layer: Layer, inp: TensorSpec, out: TensorSpec):
        self.layer, self.inp, self.out = layer, inp, out
        self.saturate = getattr(layer, "overflow", fixed.WRAP) == fixed.SATURATE
        if isinstance(layer, Dense):
            self.wt = np.ascontiguousarray(layer.weight.T.astype(np.int64))
        if isinstance(layer, Conv1d):
            self.w = np.ascontiguousarray(layer.weight.astype(np.int64))
        if isinstance(layer, (Dense, Conv1d)):
            self.bias = kernels.acc_init(layer)

    def __call__(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``rows [N, features_in]`` -> ``(out [N, features_out], nonzero [N, L_in])``."""
        n = rows.shape[0]
        layer, inp, out = self.layer, self.inp, self.out
        if isinstance(layer, Dense):
            y = np.empty((n, out.features), out.dtype)
            nnz = np.empty(n, np.int64)
            kernels.dense(rows, self.wt, self.bias, layer.acc_width, self.saturate, y, nnz)
            return y, nnz[:, None]
        shaped = rows.reshape(n, inp.channels, inp.length)
        y = np.empty((n, out.channels, out.length), out.dtype)
        nnz = np.empty((n, inp.length), np.int64)
        if isinstance(layer, Conv1d):
            kernels.conv1d(shaped, self.w, self.bias, layer.stride, layer.padding, layer.acc_width,
                           self.saturate, y, nnz)
        else:
            kernels.sumpool(shaped, layer.window, layer.acc_width, self.saturate, y, nnz)
        return y.reshape(n, out.features), nnz


def _neuron_params(layer: Neuron, dtype=np.int64) -> tuple[np.ndarray, np.ndarray]:
    """``coef [k, C]`` and ``theta [C]`` per channel in ``dtype``: the kernels expand them per neuron block."""
    return np.ascontiguousarray(layer.coef.T, dtype), layer.theta.astype(dtype)


__all__ = ["Stepper", "Stream", "check_resources", "run", "run_bytes"]


def run(model: IntegerModel, x: np.ndarray, record_membranes: bool = False) -> Trace:
    """Run ``model`` on ``x [T, B, features]`` over the whole sequence.

    Returns every layer's output ``[T, B, features_i]`` in its storage dtype,
    the activity the op counts need and, with ``record_membranes``, each
    neuron layer's membrane ``[T, B, features_i]``.
    """
    cur = check_input(model, x)
    steps, batch, _ = cur.shape
    outputs, membranes, activity = [], {}, []
    for index, layer in enumerate(model.layers):
        inp, out = model.specs[index], model.specs[index + 1]
        saturate = getattr(layer, "overflow", fixed.WRAP) == fixed.SATURATE
        spikes = None
        if isinstance(layer, Neuron):
            coef, theta = _neuron_params(layer, kernels.neuron_lane_dtype(layer, inp))
            neurons = batch * out.features
            y = np.empty((steps, batch, out.features), out.dtype)
            mem_dtype = fixed.storage_dtype(layer.acc_width)
            mem = np.empty((steps, batch, out.features) if record_membranes else (1, 1, 1), mem_dtype)
            counts = np.empty((2, -(-neurons // kernels.NEURON_BLOCK), steps), np.int64)
            kernels.neuron(cur.reshape(steps, neurons), coef, theta, inp.length, layer.dilation, layer.acc_width,
                           saturate,
                           y.reshape(steps, neurons), mem.reshape(mem.shape[0], -1), record_membranes,
                           counts[0], counts[1])
            if record_membranes:
                membranes[index] = mem
            spikes, nonzero = counts.sum(axis=1)
            nonzero = nonzero[:, None]
        elif isinstance(layer, Readout):
            y = np.empty((steps, batch, out.features), out.dtype)
            nnz = np.empty((steps, batch), np.int64)
            kernels.readout(cur, layer.acc_width, saturate, y, nnz)
            nonzero = nnz.sum(axis=1)[:, None]
        else:
            rows, nnz = _Stateless(layer, inp, out)(cur.reshape(steps * batch, inp.features))
            y = rows.reshape(steps, batch, out.features)
            nonzero = nnz.reshape(steps, batch, -1).sum(axis=1)
        activity.append(LayerActivity(in_nonzero=nonzero, out_spikes=spikes))
        outputs.append(y)
        cur = y
    return Trace(outputs=outputs, membranes=membranes, activity=activity)


class Stepper(Stream):
    """Step-by-step inference: a :class:`~shiftspike.sim.stream.Stream` fed one time step ``x_t [B,
    features]`` at a time (:meth:`step`), or a whole sequence sized by its T (:meth:`run`)."""

    def step(self, x_t: np.ndarray, record_membranes: bool = False) -> Trace:
        """Advance one time step. ``x_t [B, features]``; returns a one-step ``Trace``."""
        return self.feed(np.asarray(x_t)[None], record_membranes)

    def run(self, x: np.ndarray, record_membranes: bool = False) -> Trace:
        """Reset (histories sized by T), then feed ``x [T, B, features]``, T >= 1; returns the whole trace."""
        x = check_input(self.model, x)
        self.reset(x.shape[0])
        return self.feed(x, record_membranes)
