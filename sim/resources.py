"""Memory a run, a step-by-step run or a report needs, counted before it starts.

:func:`run_bytes` adds up every array the simulators and the report
allocate for ``T`` steps of ``B`` samples: the input in its storage dtype,
every layer's output, recorded membranes, the activity the op counts keep,
each layer's temporaries (int64 weight copies, per-row non-zero counts, the
neuron kernel's per-thread block state), a stream's packed model and state
(its histories of ``min(depth, T)`` rows) and the report's per-step op lists. The model's own
tensors (already in memory) are not counted. :func:`check_resources` compares
the total with the memory available now and raises :class:`ResourceError`.
"""

from __future__ import annotations

import os

import numba

from . import fixed
from .errors import ResourceError
from .kernels import NEURON_BLOCK
from .model import Conv1d, Dense, IntegerModel, Neuron, SumPool
from .opcount import OP_KINDS
from .stream import stream_bytes

INT64 = 8
#: Bytes the report holds per (layer, op kind, time step): the int64 counts of three variants, the JSON
#: list's Python int and its text.
REPORT_BYTES_PER_COUNT = 3 * INT64 + 36 + 32
#: Python objects of a run whatever its size (array headers, traces, the report's dicts): a base and per layer.
BASE_BYTES = 64 * 1024
LAYER_BYTES = 8 * 1024


def _threads() -> int:
    return int(numba.config.NUMBA_NUM_THREADS)


def _layer_temporaries(model: IntegerModel, index: int, steps: int, batch: int) -> int:
    """Bytes a layer allocates while it runs and frees after (whole-sequence mode), kernel state included."""
    layer, inp, out = model.layers[index], model.specs[index], model.specs[index + 1]
    rows = steps * batch
    if isinstance(layer, Neuron):
        neurons = batch * out.features
        block = min(neurons, NEURON_BLOCK)
        blocks = -(-neurons // NEURON_BLOCK)
        rows_kept = min(layer.depth, steps)
        per_thread = block * (rows_kept * inp.dtype.itemsize + (layer.taps + 3) * INT64)
        return (layer.taps + 1) * inp.channels * INT64 + 2 * blocks * steps * INT64 + _threads() * per_thread
    if isinstance(layer, Dense):
        c_out = layer.weight.shape[0]
        return (layer.weight.size + c_out) * INT64 + rows * INT64 + _threads() * c_out * INT64
    if isinstance(layer, Conv1d):
        return (layer.weight.size + layer.weight.shape[0]) * INT64 + rows * inp.length * INT64
    if isinstance(layer, SumPool):
        return rows * inp.length * INT64
    return rows * INT64


def _step_state(model: IntegerModel, steps: int, batch: int) -> int:
    """Bytes a :class:`~shiftspike.sim.engine.Stepper` keeps for ``steps`` steps besides its outputs: the
    packed parameters, histories, readout sums and work space."""
    return stream_bytes(model, batch, steps)


def _report_bytes(model: IntegerModel, steps: int) -> int:
    """The report's per-step op lists, and the bound analysis's int64 copies of the weights."""
    weights = max((layer.weight.size if isinstance(layer, (Dense, Conv1d)) else
                   layer.sign.size if isinstance(layer, Neuron) else 0) for layer in model.layers)
    return len(model.layers) * len(OP_KINDS) * steps * REPORT_BYTES_PER_COUNT + 6 * weights * INT64


def run_bytes(model: IntegerModel, steps: int, batch: int, record_membranes: bool = False,
              step: bool = False) -> int:
    """Bytes a run of ``steps`` x ``batch`` needs at its peak: :func:`~shiftspike.sim.engine.run` (or, with
    ``step``, :meth:`Stepper.run <shiftspike.sim.engine.Stepper.run>`) followed by a report on its trace."""
    values = steps * batch
    total = values * model.input.features * model.input.dtype.itemsize
    for index, (layer, out) in enumerate(zip(model.layers, model.specs[1:])):
        total += values * out.features * out.dtype.itemsize
        if record_membranes and isinstance(layer, Neuron):
            total += values * out.features * fixed.storage_dtype(layer.acc_width).itemsize
        length = model.specs[index].length if isinstance(layer, (Conv1d, SumPool)) else 1
        total += steps * (length + 1) * INT64
    if step:
        total += _step_state(model, steps, batch)
    else:
        total += max(_layer_temporaries(model, i, steps, batch) for i in range(len(model.layers)))
    return total + _report_bytes(model, steps) + BASE_BYTES + LAYER_BYTES * len(model.layers)


def available_bytes() -> int:
    """Physical memory available now (``SC_AVPHYS_PAGES`` x page size)."""
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_resources(model: IntegerModel, timesteps: int, batch: int, record_membranes: bool = False,
                    step: bool = False, *, available: int | None = None) -> int:
    """Refuse, with a one-line :class:`ResourceError`, a run (``step``: step by step) or report of
    ``timesteps`` x ``batch`` whose :func:`run_bytes` exceed ``available`` (default: the memory available
    now). Returns the bytes needed."""
    need = run_bytes(model, timesteps, batch, record_membranes, step)
    free = available_bytes() if available is None else available
    if need > free:
        mode = "a step-by-step run" if step else "a run"
        raise ResourceError(f"{mode} of T={timesteps} x B={batch} on this model needs about {need / 2**30:.2f} GiB, "
                            f"more than the {free / 2**30:.2f} GiB available")
    return need
