"""Streaming inference compiled over the whole model: the state carries across calls.

:class:`Stream` takes a chunk ``x [n, B, features]`` of ``n >= 0`` time steps per call and advances every
layer through it in one Numba call, :func:`~.kernels.advance`, from the model packed into flat arrays
(:class:`_Layout`; the columns of the table are defined with the kernel in :mod:`.kernels`):

* the layer table ``[layers, COLUMNS]`` int64: one row per layer holding everything its step needs (kind,
  shapes, widths, and the offsets of its parameters, state, work space and outputs);
* the parameters ``params``: int64 dense and conv1d weights and biases; each neuron layer's taps ``[k, C x
  L]`` and thresholds ``[C x L]`` per position (or per neuron ``B x C x L`` for a small layer, see
  :data:`BATCH_TAPS_BYTES`) in its lane type (int32 or int64, see :func:`~.kernels.lane_dtype`);
* the state ``state``: one step's activations (int64), each layer's work space, each neuron layer's
  history ``[R, B x C x L]`` and accumulator lanes in its lane type (``R = min(depth, timesteps)`` rows,
  ``depth = (k - 1) * dilation + 1`` when the stream is unbounded), each readout's sums ``[B, F]``
  (int64);
* the outputs: a :class:`_Block` of steps allocated ahead, one flat buffer per storage dtype (int8, int16,
  int32, int64), from which each call hands out views.

``params`` and ``state`` are int64 buffers; a region of another dtype starts at an int64 slot and is
viewed in its dtype. The arithmetic is that of the whole-sequence simulator (``dense_row``,
``conv1d_row``, ``sumpool_row``, ``neuron_step``, ``accumulate`` in :mod:`.kernels`).
"""

from __future__ import annotations

import numpy as np

from . import fixed, kernels
from .kernels import (
    ACC_WIDTH, BATCH, C_IN, C_OUT, COLUMNS, CONV1D, DENSE, DILATION, DTYPES, GROUP, KIND, KSIZE, L_IN,
    L_OUT, LANE_AT, LANES64, MEM_AT, MEM_DTYPE, NEURON, NZ_AT, NZ_LEN, OUT_AT, OUT_DTYPE, PADDING, PARAM_AT,
    READOUT, ROWS, SATURATE, SPIKES_AT, STATE_AT, STRIDE, SUMPOOL, TAPS, THETA_AT, WORK_AT, X_AT, Y_AT,
)
from .model import Conv1d, Dense, IntegerModel, Neuron, Readout, SumPool
from .trace import InputError, LayerActivity, Trace, check_input, check_shape, range_error

#: Steps of outputs an unbounded stream allocates at a time (a bounded one: at most its remaining steps).
BLOCK_STEPS = 64
#: A neuron layer whose taps for every neuron of the batch take at most this many bytes keeps them so (one
#: long loop per tap); a larger one keeps them per position, shared by the samples (read once per step).
BATCH_TAPS_BYTES = 1 << 16
INT64 = DTYPES.index(np.dtype(np.int64))
KINDS = {Dense: DENSE, Conv1d: CONV1D, SumPool: SUMPOOL, Neuron: NEURON, Readout: READOUT}


class _Flat:
    """An int64 buffer being laid out: :meth:`take` reserves values of a dtype from an int64 slot on,
    :meth:`put` reserves and fills them."""

    def __init__(self, size: int = 0):
        self.size, self.parts = size, []

    def take(self, count: int, dtype=np.int64) -> int:
        """Reserve ``count`` values of ``dtype``; return their first slot."""
        at = self.size
        self.size += -(-count * np.dtype(dtype).itemsize // 8)
        return at

    def put(self, count: int, dtype, values) -> int:
        """Reserve ``count`` values of ``dtype`` filled by ``values()`` (called by :meth:`array`)."""
        at = self.take(count, dtype)
        self.parts.append((at, count, dtype, values))
        return at

    def array(self) -> np.ndarray:
        """The int64 buffer: zeros, then each :meth:`put` part."""
        out = np.zeros(self.size, np.int64)
        for at, count, dtype, values in self.parts:
            out[at:].view(dtype)[:count] = np.asarray(values()).ravel()
        return out


class _Layout:
    """Where everything of ``model`` at batch ``batch`` lives: the layer table, the parameters and the
    per-step sizes of the state and of the output blocks (counted in values of each block buffer's dtype).
    Laid out without allocating the parameters."""

    def __init__(self, model: IntegerModel, batch: int):
        self.model, self.batch = model, batch
        self.table = np.zeros((len(model.layers), COLUMNS), np.int64)
        self.params, self.state = _Flat(), _Flat()
        self.outputs = [_Flat() for _ in DTYPES]
        self.activity = _Flat()
        self.membranes = [_Flat() for _ in DTYPES]
        acts = [self.state.take(batch * spec.features) for spec in model.specs]
        for i, layer in enumerate(model.layers):
            self._layer(self.table[i], layer, i, acts)
        self._place_regions()

    def _layer(self, row: np.ndarray, layer, index: int, acts: list[int]) -> None:
        inp, out = self.model.specs[index], self.model.specs[index + 1]
        row[[KIND, BATCH, C_IN, L_IN, C_OUT, L_OUT, ACC_WIDTH, SATURATE, X_AT, Y_AT]] = (
            KINDS[type(layer)], self.batch, inp.channels, inp.length, out.channels, out.length, layer.acc_width,
            layer.overflow == fixed.SATURATE, acts[index], acts[index + 1])
        row[OUT_DTYPE] = DTYPES.index(out.dtype)
        row[OUT_AT] = self.outputs[row[OUT_DTYPE]].take(self.batch * out.features)
        row[NZ_LEN] = inp.length if isinstance(layer, (Conv1d, SumPool)) else 1
        row[NZ_AT] = self.activity.take(row[NZ_LEN])
        if isinstance(layer, (Dense, Conv1d)):
            self._synapse(row, layer, inp)
        elif isinstance(layer, SumPool):
            row[KSIZE] = layer.window
            row[WORK_AT] = self.state.take(self.batch * inp.length)
        elif isinstance(layer, Neuron):
            self._neuron(row, layer, inp)

    def _synapse(self, row: np.ndarray, layer: Dense | Conv1d, inp) -> None:
        weight = layer.weight
        if isinstance(layer, Dense):
            row[PARAM_AT] = self.params.put(weight.size, np.int64, lambda: weight.T)
            row[WORK_AT] = self.state.take(weight.shape[0])
        else:
            row[[KSIZE, STRIDE, PADDING]] = weight.shape[2], layer.stride, layer.padding
            row[PARAM_AT] = self.params.put(weight.size, np.int64, lambda: weight)
            row[WORK_AT] = self.state.take(self.batch * inp.length)
        row[THETA_AT] = self.params.put(weight.shape[0], np.int64, lambda: kernels.acc_init(layer))

    def _neuron(self, row: np.ndarray, layer: Neuron, inp) -> None:
        lanes = kernels.neuron_lane_dtype(layer, inp)
        neurons = self.batch * inp.features
        per_batch = layer.taps * neurons * lanes.itemsize <= BATCH_TAPS_BYTES
        copies = self.batch if per_batch else 1
        row[[TAPS, DILATION, LANES64, GROUP]] = layer.taps, layer.dilation, lanes == np.int64, copies * inp.features
        row[PARAM_AT] = self.params.put(layer.taps * row[GROUP], lanes,
                                        lambda: np.tile(np.repeat(layer.coef.T, inp.length, axis=1), copies))
        row[THETA_AT] = self.params.put(row[GROUP], lanes, lambda: np.tile(np.repeat(layer.theta, inp.length), copies))
        row[LANE_AT] = self.state.take(neurons, lanes)
        row[WORK_AT] = self.state.take(neurons)
        row[MEM_DTYPE] = DTYPES.index(fixed.storage_dtype(layer.acc_width))
        row[MEM_AT] = self.membranes[row[MEM_DTYPE]].take(neurons)
        row[SPIKES_AT] = self.activity.take(1)

    def _place_regions(self) -> None:
        """Per dtype buffer of a block: the outputs, then (int64) the activity, then the membranes."""
        starts = [flat.size for flat in self.outputs]
        neurons = self.table[:, KIND] == NEURON
        self.table[:, NZ_AT] += starts[INT64]
        self.table[neurons, SPIKES_AT] += starts[INT64]
        starts[INT64] += self.activity.size
        self.table[neurons, MEM_AT] += np.array(starts)[self.table[neurons, MEM_DTYPE]]
        self.block_sizes = starts
        self.membrane_sizes = [flat.size for flat in self.membranes]

    def _state_table(self, limit: int | None) -> tuple[np.ndarray, int]:
        """The table with the history rows and state offsets for sequences of at most ``limit`` steps
        (None: unbounded), and the int64 slots of the state."""
        table = self.table.copy()
        state = _Flat(self.state.size)
        for row, layer in zip(table, self.model.layers):
            values = self.batch * row[C_IN] * row[L_IN]
            if isinstance(layer, Neuron):
                row[ROWS] = layer.depth if limit is None else min(layer.depth, limit)
                row[STATE_AT] = state.take(row[ROWS] * values, np.int32 if row[LANES64] == 0 else np.int64)
            elif isinstance(layer, Readout):
                row[STATE_AT] = state.take(values)
        return table, state.size

    def state_for(self, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Zero state for sequences of at most ``limit`` steps: ``(table, state)``."""
        table, size = self._state_table(limit)
        return table, np.zeros(size, np.int64)

    def nbytes(self, limit: int | None) -> int:
        """Bytes a stream of this layout holds for ``limit`` steps: its tables, the parameters (and the
        largest part while they are packed) and the state."""
        table, size = self._state_table(limit)
        packing = 8 * max((count for _, count, _, _ in self.params.parts), default=0)
        return 2 * table.nbytes + 8 * self.params.size + packing + 8 * size


class _Block:
    """The outputs of ``steps`` time steps (with membranes if ``membranes``), written once each by the
    kernel and handed out as views ``[n, ...]`` of the arrays ``[steps, ...]`` below."""

    def __init__(self, layout: _Layout, steps: int, membranes: bool):
        self.steps, self.used, self.membranes_kept = steps, 0, membranes
        sizes = np.add(layout.block_sizes, layout.membrane_sizes) if membranes else layout.block_sizes
        self.buffers = tuple(np.empty(steps * size, dtype) for size, dtype in zip(sizes, DTYPES))
        model = layout.model
        self.outputs = [self._view(row[OUT_DTYPE], row[OUT_AT], (layout.batch, spec.features))
                        for row, spec in zip(layout.table, model.specs[1:])]
        self.membranes = {i: self._view(row[MEM_DTYPE], row[MEM_AT], (layout.batch, model.specs[i].features))
                          for i, row in enumerate(layout.table) if membranes and row[KIND] == NEURON}
        self.activity = [(self._view(INT64, row[NZ_AT], (row[NZ_LEN],)),
                          self._view(INT64, row[SPIKES_AT], ()) if row[KIND] == NEURON else None)
                         for row in layout.table]

    def _view(self, code: int, at: int, shape: tuple) -> np.ndarray:
        size = int(np.prod(shape, dtype=np.int64))
        return self.buffers[code][self.steps * at:self.steps * (at + size)].reshape(self.steps, *shape)

    def room(self, steps: int, membranes: bool) -> bool:
        return self.steps - self.used >= steps and (self.membranes_kept or not membranes)

    def trace(self, start: int, stop: int, membranes: bool) -> Trace:
        """Steps ``start .. stop - 1`` of this block."""
        steps = slice(start, stop)
        return Trace(outputs=[out[steps] for out in self.outputs],
                     membranes={i: m[steps] for i, m in self.membranes.items()} if membranes else {},
                     activity=[LayerActivity(nz[steps], None if spikes is None else spikes[steps])
                               for nz, spikes in self.activity])


class Stream:
    """Streaming inference: chunks ``x [n, B, features]`` of a sequence fed one call after another.

    ``feed(x[t0:t1])`` returns the trace of steps ``t0 .. t1 - 1``, equal to those steps of
    :func:`~shiftspike.sim.engine.run` on the sequence since the last reset, however it is chunked.
    ``timesteps`` is the most steps between two resets (a chunk going past it is refused; None: an
    unbounded stream) and sizes the neuron histories: ``min(depth, timesteps)`` rows of ``B x C x L``
    values in the layer's lane type (int32 or int64). ``reset()`` starts a new sequence; nothing is
    allocated but the packed parameters before the first feed.
    """

    def __init__(self, model: IntegerModel, batch: int, timesteps: int | None = None):
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise InputError(f"batch must be a positive integer, got {batch!r}")
        self.model, self.batch, self.timesteps = model, batch, _steps_bound(timesteps)
        spec = model.input
        self._dtype, self._step_shape = spec.dtype, (batch, spec.features)
        self._lo, self._hi = spec.value_range
        self._layout = _Layout(model, batch)
        self._params = self._layout.params.array()
        self._table = self._block = None
        self.t = 0

    def reset(self, timesteps: int | None = None) -> None:
        """Start a new sequence: zero histories and sums, the next step is time step 0. ``timesteps``
        (default: the constructor's) bounds the steps until the next reset and sizes the histories."""
        self.limit = self.timesteps if timesteps is None else _steps_bound(timesteps)
        self._table, self._state = self._layout.state_for(self.limit)
        self.t = 0

    def feed(self, x: np.ndarray, record_membranes: bool = False) -> Trace:
        """Advance through the chunk ``x [n, B, features]``, ``n >= 0``, in any integer or bool dtype with
        values in the model input's declared range (a one-line :class:`InputError` otherwise, the state
        unchanged). Returns the chunk's :class:`Trace`: ``outputs[i] [n, B, features_i]`` in their storage
        dtypes, with ``record_membranes`` each neuron layer's membrane ``[n, B, features_i]`` in the
        storage dtype of its ``acc_width``, and the activity (``in_nonzero [n, L_in or 1]``, ``out_spikes
        [n]``, int64). An empty chunk returns an empty trace. The arrays are views of a block of outputs
        allocated ahead; each step's values are written once, never reused.
        """
        x = self._chunk(x)
        steps = x.shape[0]
        if self._table is None:
            self.reset()
        if self.limit is not None and self.t + steps > self.limit:
            raise InputError(f"this stream holds {self.limit} time steps; {steps} more from step {self.t} "
                             f"pass them: reset() starts a new sequence")
        if steps == 0:
            return _Block(self._layout, 0, record_membranes).trace(0, 0, record_membranes)
        block = self._block
        if block is None or not block.room(steps, record_membranes):
            block = self._new_block(steps, record_membranes)
        bad = kernels.advance(x, self._table, self._params, self._state, *block.buffers, self.t, block.used,
                              block.steps, record_membranes, self._lo, self._hi)
        if bad:
            raise range_error(self.model.input, int(bad))
        block.used += steps
        self.t += steps
        return block.trace(block.used - steps, block.used, record_membranes)

    def _chunk(self, x) -> np.ndarray:
        """``x`` checked as :func:`check_input` does; in the input's storage dtype it is passed on as is and
        the kernel checks its values."""
        if (type(x) is np.ndarray and x.dtype == self._dtype and x.shape[1:] == self._step_shape
                and x.flags.c_contiguous):
            return x
        check_shape(self.model, x, min_steps=0)
        if x.dtype != self.model.input.dtype or not x.flags.c_contiguous:
            x = check_input(self.model, x, min_steps=0)
        if x.shape[1] != self.batch:
            raise InputError(f"batch {x.shape[1]} does not match the stream's batch {self.batch}")
        return x

    def _new_block(self, steps: int, membranes: bool) -> _Block:
        """A block for ``steps`` steps or more: up to :data:`BLOCK_STEPS`, within the steps left."""
        ahead = BLOCK_STEPS if self.limit is None else min(BLOCK_STEPS, self.limit - self.t)
        self._block = _Block(self._layout, max(steps, ahead), membranes)
        return self._block


def _steps_bound(timesteps):
    """``timesteps`` if it is None or a positive integer, else a one-line :class:`InputError`."""
    if timesteps is not None and (isinstance(timesteps, bool) or not isinstance(timesteps, (int, np.integer))
                                  or timesteps < 1):
        raise InputError(f"timesteps must be a positive integer or None, got {timesteps!r}")
    return timesteps


def stream_bytes(model: IntegerModel, batch: int, timesteps: int | None) -> int:
    """Bytes a :class:`Stream` of ``batch`` sized for ``timesteps`` steps keeps (outputs not counted)."""
    return _Layout(model, batch).nbytes(timesteps)
