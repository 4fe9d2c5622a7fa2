"""The fast simulator: runs an integer model with the Numba kernels.

Two modes with identical results: :func:`run` processes the whole sequence
layer by layer; :class:`Stepper` processes one time step through every
layer, keeping only each neuron's circular history and the readout sums.
:func:`check_resources` (from :mod:`.resources`) says beforehand whether a run
fits in the memory available.
"""

from __future__ import annotations

import numpy as np

from . import fixed, kernels
from .model import Conv1d, Dense, IntegerModel, Layer, Neuron, Readout, SumPool, TensorSpec
from .resources import check_resources, run_bytes
from .trace import InputError, LayerActivity, Trace, check_input


def _bias(layer: Dense | Conv1d) -> np.ndarray:
    c_out = layer.weight.shape[0]
    return np.zeros(c_out, np.int64) if layer.bias is None else layer.bias.astype(np.int64)


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
            self.bias = _bias(layer)

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


def _lane_dtype(layer: Neuron, inp: TensorSpec) -> np.dtype:
    return kernels.lane_dtype(layer.acc_width, inp.width + layer.shift_max + 1, layer.overflow == fixed.SATURATE)


__all__ = ["Stepper", "check_resources", "run", "run_bytes"]


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
            coef, theta = _neuron_params(layer, _lane_dtype(layer, inp))
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


class Stepper:
    """Step-by-step inference: one time step ``x_t [B, features]`` at a time.

    State per neuron layer: a circular history ``[R, B, P]`` in the input's
    storage dtype, ``R = min(depth, timesteps)`` rows (``depth`` when
    ``timesteps`` is None: an unbounded stream); per readout: the running sums
    ``[B, F]``. ``timesteps`` is the most steps between two resets (a later step
    is refused); :meth:`run` sizes the history by its input's T. ``reset()``
    clears the state, so the next step is time step 0. Nothing is allocated
    before the first step.
    """

    def __init__(self, model: IntegerModel, batch: int, timesteps: int | None = None):
        self.model, self.batch, self.timesteps = model, batch, timesteps
        self._stateless = {
            i: _Stateless(layer, model.specs[i], model.specs[i + 1])
            for i, layer in enumerate(model.layers)
            if isinstance(layer, (Dense, Conv1d, SumPool))
        }
        self._neuron = {i: _neuron_params(layer) for i, layer in enumerate(model.layers) if isinstance(layer, Neuron)}
        self.history: dict[int, np.ndarray] | None = None
        self.t = 0

    def reset(self, timesteps: int | None = None) -> None:
        """Clear all state: the next step is time step 0. ``timesteps`` (default: the constructor's) bounds
        the steps until the next reset and sizes the histories."""
        self.limit = self.timesteps if timesteps is None else timesteps
        self.history, self.sums, self.t = {}, {}, 0
        for i, layer in enumerate(self.model.layers):
            spec = self.model.specs[i]
            if isinstance(layer, Neuron):
                rows = layer.depth if self.limit is None else min(layer.depth, self.limit)
                self.history[i] = np.zeros((rows, self.batch, spec.features), spec.dtype)
            elif isinstance(layer, Readout):
                self.sums[i] = np.zeros((self.batch, spec.features), np.int64)

    def _check(self, x: np.ndarray) -> np.ndarray:
        """Validate ``x [T, B, features]`` (model input spec and this stepper's batch)."""
        x = check_input(self.model, x)
        if x.shape[1] != self.batch:
            raise InputError(f"batch {x.shape[1]} does not match the stepper's batch {self.batch}")
        return x

    def step(self, x_t: np.ndarray, record_membranes: bool = False) -> Trace:
        """Advance one time step. ``x_t [B, features]``; returns a one-step ``Trace``."""
        x_t = self._check(np.asarray(x_t)[None])[0]
        if self.history is None:
            self.reset()
        if self.limit is not None and self.t >= self.limit:
            raise InputError(f"this stepper holds {self.limit} time steps; reset() before step {self.t}")
        return self._advance(x_t, record_membranes)

    def _advance(self, cur: np.ndarray, record_membranes: bool) -> Trace:
        """One step on a validated ``cur [B, features]`` in the input's storage dtype."""
        outputs, membranes, activity = [], {}, []
        for i, layer in enumerate(self.model.layers):
            inp, out = self.model.specs[i], self.model.specs[i + 1]
            spikes = None
            if isinstance(layer, Neuron):
                coef, theta = self._neuron[i]
                y = np.empty((self.batch, out.features), out.dtype)
                mem = np.empty((self.batch, out.features), fixed.storage_dtype(layer.acc_width))
                kernels.neuron_step(
                    self.history[i], self.t, np.ascontiguousarray(cur, inp.dtype), coef, theta, inp.length,
                    layer.dilation, layer.acc_width, layer.overflow == fixed.SATURATE, y, mem,
                )
                if record_membranes:
                    membranes[i] = mem[None]
                nonzero = np.array([[np.count_nonzero(cur)]], np.int64)
                spikes = np.array([int(y.sum())], np.int64)
            elif isinstance(layer, Readout):
                acc = fixed.apply_overflow(self.sums[i] + cur, layer.acc_width, layer.overflow)
                self.sums[i] = acc
                y = acc.astype(out.dtype)
                nonzero = np.array([[int(np.count_nonzero(cur))]], np.int64)
            else:
                y, nnz = self._stateless[i](np.ascontiguousarray(cur))
                nonzero = nnz.sum(axis=0)[None]
            activity.append(LayerActivity(in_nonzero=nonzero, out_spikes=spikes))
            outputs.append(y[None])
            cur = y
        self.t += 1
        return Trace(outputs=outputs, membranes=membranes, activity=activity)

    def run(self, x: np.ndarray, record_membranes: bool = False) -> Trace:
        """Reset (histories sized by T), then step through ``x [T, B, features]``; returns the whole trace.

        Outputs, membranes and activity are written into arrays allocated once for the T steps.
        """
        x = self._check(x)
        steps = x.shape[0]
        self.reset(steps)
        model = self.model
        outputs = [np.empty((steps, self.batch, spec.features), spec.dtype) for spec in model.specs[1:]]
        membranes = {i: np.empty((steps, self.batch, model.specs[i + 1].features),
                                 fixed.storage_dtype(model.layers[i].acc_width))
                     for i in model.neuron_layers()} if record_membranes else {}
        nonzero = [np.empty((steps, model.specs[i].length if isinstance(layer, (Conv1d, SumPool)) else 1), np.int64)
                   for i, layer in enumerate(model.layers)]
        spikes = {i: np.empty(steps, np.int64) for i in model.neuron_layers()}
        for t in range(steps):
            trace = self._advance(x[t], record_membranes)
            for i in range(len(model.layers)):
                outputs[i][t] = trace.outputs[i][0]
                nonzero[i][t] = trace.activity[i].in_nonzero[0]
                if i in spikes:
                    spikes[i][t] = trace.activity[i].out_spikes[0]
                if i in membranes:
                    membranes[i][t] = trace.membranes[i][0]
        return Trace(outputs=outputs, membranes=membranes,
                     activity=[LayerActivity(in_nonzero=nonzero[i], out_spikes=spikes.get(i))
                               for i in range(len(model.layers))])
