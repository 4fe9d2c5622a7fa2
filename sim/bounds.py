"""Interval (bound) analysis: which accumulators can overflow, and the smallest safe widths.

For every layer the analysis computes the interval ``[lo, hi]`` that every
partial sum of its accumulator can reach for any input in the declared input
range (and, for the readout, any sequence of up to ``timesteps`` steps). Every
term interval of a layer contains 0 (inputs are signed or spikes, taps beyond
the start of the sequence read zeros), so the partial sums are bounded by the
full sum of the negative term bounds and the full sum of the positive ones;
bias and theta values must be representable too. The required width is the
smallest signed width holding that interval. A layer whose declared width is
at least the required one can never overflow, so its output interval is the
computed one; otherwise it is the declared range (wrap can reach any value).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import fixed
from .model import SPIKE, Conv1d, Dense, IntegerModel, Layer, Neuron, SumPool


@dataclass(frozen=True)
class LayerBound:
    """Bound of one layer's accumulator.

    ``lo``/``hi``: reachable partial-sum interval (integers, no overflow
    assumed); ``required_width``: smallest safe accumulator width (bits);
    ``declared_width``: the model's; ``may_overflow``: declared < required.
    """

    index: int
    type: str
    lo: int
    hi: int
    required_width: int
    declared_width: int

    @property
    def may_overflow(self) -> bool:
        return self.declared_width < self.required_width

    def to_json(self) -> dict:
        return {
            "index": self.index, "type": self.type, "lo": self.lo, "hi": self.hi,
            "required_width": self.required_width, "declared_width": self.declared_width,
            "may_overflow": self.may_overflow,
        }


def term_sums(weights: np.ndarray, lo: int, hi: int, axes) -> tuple[np.ndarray, np.ndarray]:
    """Sum over ``axes`` (every axis but the first) of the negative and positive bounds of ``w * x`` for x in [lo, hi].

    Computed in int64 (8 bytes per weight) when every sum provably fits, which the model limits
    (``MAX_TERM_WIDTH``, ``MAX_TERMS`` in ``sim/fixed.py``) guarantee for a valid model; else in Python ints.
    """
    wmax = max(abs(int(weights.min())), abs(int(weights.max()))) if weights.size else 0
    terms = weights.size // weights.shape[0] if weights.size else 1  # the sums run over all axes but the first
    exact = wmax * max(abs(lo), abs(hi)) * terms < 2**62
    w = weights.astype(np.int64 if exact else object)
    a, b = w * lo, w * hi
    neg = np.minimum(np.minimum(a, b), 0).sum(axis=axes)
    pos = np.maximum(np.maximum(a, b), 0).sum(axis=axes)
    return neg, pos


def layer_interval(layer: Layer, lo: int, hi: int, timesteps: int) -> tuple[int, int]:
    """Partial-sum interval of ``layer`` for inputs in ``[lo, hi]`` (Python ints, exact)."""
    if isinstance(layer, (Dense, Conv1d)):
        neg, pos = term_sums(layer.weight, lo, hi, tuple(range(1, layer.weight.ndim)))
        bias = np.zeros(layer.weight.shape[0], object) if layer.bias is None else layer.bias.astype(object)
        return int(min(bias + neg)), int(max(bias + pos))
    if isinstance(layer, Neuron):
        neg, pos = term_sums(layer.coef, lo, hi, 1)
        theta = layer.theta.astype(object)
        return int(min(min(neg), min(theta))), int(max(max(pos), max(theta)))
    count = layer.window if isinstance(layer, SumPool) else timesteps
    return min(lo, 0) * count, max(hi, 0) * count


def required_width(lo: int, hi: int) -> int:
    """Smallest accumulator width (at least 2 bits) holding ``[lo, hi]``."""
    return max(2, fixed.width_for_range(lo, hi))


def _walk(model: IntegerModel, timesteps: int | None) -> tuple[list[LayerBound], tuple[int, int]]:
    steps = model.timesteps if timesteps is None else timesteps
    lo, hi = model.input.value_range
    bounds = []
    for index, layer in enumerate(model.layers):
        alo, ahi = layer_interval(layer, lo, hi, steps)
        bound = LayerBound(index, layer.type, alo, ahi, required_width(alo, ahi), layer.acc_width)
        bounds.append(bound)
        spec = model.specs[index + 1]
        if spec.kind == SPIKE:
            lo, hi = 0, 1
        elif bound.may_overflow:
            lo, hi = spec.value_range
        else:
            lo, hi = alo, ahi
    return bounds, (lo, hi)


def analyze(model: IntegerModel, timesteps: int | None = None) -> list[LayerBound]:
    """Bounds of every layer of ``model``; the readout assumes ``timesteps`` (default: the model's)."""
    return _walk(model, timesteps)[0]


def output_interval(model: IntegerModel, timesteps: int | None = None) -> tuple[int, int]:
    """Interval of the model's output values as the analysis propagates it."""
    return _walk(model, timesteps)[1]


def fit_widths(model: IntegerModel, timesteps: int | None = None) -> IntegerModel:
    """Copy of ``model`` whose every accumulator has its smallest overflow-free width.

    Layers are fitted in order, so each sees its input at the fitted width;
    bias and theta tensors are re-stored in the dtype of the new width.
    """
    steps = model.timesteps if timesteps is None else timesteps
    layers: list[Layer] = []
    for layer in model.layers:
        lo, hi = output_interval(IntegerModel(model.input, model.timesteps, tuple(layers)), timesteps) \
            if layers else model.input.value_range
        width = required_width(*layer_interval(layer, lo, hi, steps))
        changes: dict = {"acc_width": width}
        dtype = fixed.storage_dtype(width)
        if isinstance(layer, (Dense, Conv1d)) and layer.bias is not None:
            changes["bias"] = layer.bias.astype(dtype)
        if isinstance(layer, Neuron):
            changes["theta"] = layer.theta.astype(dtype)
        layers.append(replace(layer, **changes))
    return IntegerModel(model.input, model.timesteps, tuple(layers))
