"""What a simulator run returns, and the check every simulator applies to its input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ShiftspikeError
from .model import IntegerModel, TensorSpec


class InputError(ShiftspikeError, ValueError):
    """The input array does not fit the model (shape, dtype or value range)."""


@dataclass(frozen=True)
class LayerActivity:
    """Data-dependent activity of one layer over a run, summed over the batch.

    ``in_nonzero``: non-zero input values per time step (the events an
    event-driven layer processes), ``[T, L_in]`` by spatial position for conv1d
    and sum pooling, ``[T, 1]`` for the others. ``out_spikes [T]``: spikes
    emitted per time step (neuron layers only, else None).
    """

    in_nonzero: np.ndarray
    out_spikes: np.ndarray | None


@dataclass(frozen=True)
class Trace:
    """Result of a run on ``x [T, B, features]``.

    ``outputs[i] [T, B, features_i]``: output of layer ``i`` in its storage
    dtype; ``membranes[i] [T, B, features_i]``: membrane H of neuron layer
    ``i`` (present when recorded); ``activity[i]``: what the op counts need.
    """

    outputs: list[np.ndarray]
    membranes: dict[int, np.ndarray]
    activity: list[LayerActivity]

    @property
    def output(self) -> np.ndarray:
        return self.outputs[-1]

    def predictions(self) -> np.ndarray:
        """Class per sample: argmax of the last output at the last step (lowest index on ties)."""
        return np.argmax(self.outputs[-1][-1], axis=-1)


def check_input(model: IntegerModel, x, min_steps: int = 1) -> np.ndarray:
    """Validate ``x [T, B, features]`` against the model's input spec; return it in the spec's storage dtype.

    Any signed or unsigned integer dtype is accepted, and ``bool`` as the integers 0 and 1 (a spike input's
    natural type); every value must lie in the spec's range (so ``True`` is refused by a 1-bit ``int``
    input, whose range is [-1, 0]). Floats, complex and object arrays are refused. ``T`` must be at least
    ``min_steps``.
    """
    check_shape(model, x, min_steps)
    lo, hi = model.input.value_range
    xmin, xmax = (int(x.min()), int(x.max())) if x.size else (lo, hi)
    if xmin < lo or xmax > hi:
        raise range_error(model.input, xmin if xmin < lo else xmax)
    return np.ascontiguousarray(x, model.input.dtype)


def check_shape(model: IntegerModel, x, min_steps: int = 1) -> None:
    """The checks of :func:`check_input` that do not read the values: an integer or bool NumPy array
    ``[T, B, features]`` with ``T >= min_steps`` and ``B >= 1``."""
    if not isinstance(x, np.ndarray):
        raise InputError(f"input must be a NumPy array, got {type(x).__name__}")
    if x.dtype.kind not in "iub":
        raise InputError(f"input dtype {x.dtype} is not an integer or bool type")
    features = model.input.features
    if x.ndim != 3 or x.shape[2] != features or x.shape[0] < min_steps or x.shape[1] < 1:
        raise InputError(f"input shape {x.shape} does not match [T, B, {features}]")


def range_error(spec: TensorSpec, value: int) -> InputError:
    """The error for an input ``value`` outside ``spec``'s range."""
    lo, hi = spec.value_range
    return InputError(f"input value {value} outside the declared {spec.kind} range [{lo}, {hi}]")
