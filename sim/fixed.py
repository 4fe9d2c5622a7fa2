"""Two's-complement integer rules shared by every stage.

Every number in an integer model is a signed two's-complement integer of a
declared bit width ``w`` (range ``[-2**(w-1), 2**(w-1) - 1]``), except spike
tensors, whose values are 0 or 1. The exporter, the simulators and the RTL
generator all read widths, ranges, overflow behaviour and storage dtypes from
here so that there is exactly one definition of each.
"""

from __future__ import annotations

import numpy as np

WRAP = "wrap"
SATURATE = "saturate"
OVERFLOW_MODES = (WRAP, SATURATE)

#: Widest accumulator a model may declare. Partial sums of up to ``MAX_TERMS``
#: terms of at most ``MAX_TERM_WIDTH`` bits then stay exact in int64.
MAX_ACC_WIDTH = 48
MAX_TERM_WIDTH = 48
MAX_TERMS = 1 << 14
#: Widest input, weight or current a model may declare.
MAX_VALUE_WIDTH = 32
#: Largest left shift of a neuron tap.
MAX_SHIFT = 24
#: Structural limits of a model (docs/model-format.md lists them all).
MAX_FEATURES = 1 << 20  # channels x length of any activation
MAX_TAPS = 1024
MAX_DILATION = 4096
MAX_KERNEL = 1024  # conv1d K
MAX_STRIDE = 1024
MAX_TIMESTEPS = 1 << 20
MAX_LAYERS = 1024


def signed_range(width: int) -> tuple[int, int]:
    """Return ``(lo, hi)``, the inclusive range of a ``width``-bit signed integer."""
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def width_for_range(lo: int, hi: int) -> int:
    """Smallest signed width (>= 1) whose range contains ``[lo, hi]``."""
    width = 1
    while True:
        rlo, rhi = signed_range(width)
        if rlo <= lo and hi <= rhi:
            return width
        width += 1


def wrap(value, width: int):
    """Reduce ``value`` (Python int or int64 array) modulo ``2**width`` into the signed range."""
    half = 1 << (width - 1)
    if isinstance(value, np.ndarray):
        mask = np.int64((1 << width) - 1)
        return ((value.astype(np.int64) + np.int64(half)) & mask) - np.int64(half)
    return ((int(value) + half) & ((1 << width) - 1)) - half


def saturate(value, width: int):
    """Clamp ``value`` (Python int or int64 array) to the signed range of ``width`` bits."""
    lo, hi = signed_range(width)
    if isinstance(value, np.ndarray):
        return np.clip(value.astype(np.int64), lo, hi)
    return min(max(int(value), lo), hi)


def apply_overflow(value, width: int, mode: str):
    """Apply the declared overflow ``mode`` (``"wrap"`` or ``"saturate"``) at ``width`` bits."""
    if mode == WRAP:
        return wrap(value, width)
    if mode == SATURATE:
        return saturate(value, width)
    raise ValueError(f"unknown overflow mode {mode!r}")


def storage_dtype(width: int) -> np.dtype:
    """Smallest signed NumPy dtype holding a ``width``-bit value (spikes use width 2 -> int8)."""
    for dtype in (np.int8, np.int16, np.int32, np.int64):
        if width <= np.iinfo(dtype).bits:
            return np.dtype(dtype)
    raise ValueError(f"width {width} exceeds 64 bits")
