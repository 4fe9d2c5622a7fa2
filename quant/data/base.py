"""Shared types of the data module: the input declaration, a loaded split, errors, checks.

Every dataset holds ``x`` as float32 ``[N, T, C, L]`` whose values are exactly
``x_int * scale`` with ``scale`` a power of two and ``x_int`` inside the
declared integer range (``[0, 1]`` for spikes, the signed ``width``-bit range
otherwise). Multiplying a small integer by a power of two is exact in float32,
so the QAT model's input quantizer is the identity on real data and the
exported integer model sees exactly ``x / scale``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from shiftspike.sim.errors import ShiftspikeError

SPIKE = "spike"
INT = "int"
KINDS = (SPIKE, INT)

#: Default ceiling on the float32 ``x`` a loader may build (``N*T*C*L*4`` bytes);
#: pass ``max_bytes=`` to ``load_dataset`` to raise or lower it.
DEFAULT_MAX_BYTES = 4 << 30


class DataError(ShiftspikeError, ValueError):
    """A dataset could not be loaded; the message is one line naming the file/field and the problem."""


@dataclass(frozen=True)
class InputInfo:
    """How the model's input is declared: ``x = x_int * scale``.

    ``kind`` is ``"spike"`` (``x_int`` in {0, 1}, ``width`` 1, ``scale`` 1.0) or
    ``"int"`` (signed ``width``-bit ``x_int``). ``channels`` x ``length`` is the
    per-step feature shape, flattened channel-major for the integer model.
    """

    kind: str
    width: int
    scale: float
    channels: int
    length: int
    timesteps: int

    def __post_init__(self):
        if self.kind not in KINDS:
            raise DataError(f"input kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if isinstance(self.width, bool) or not isinstance(self.width, int) or not 1 <= self.width <= 32:
            raise DataError(f"input width {self.width!r} is not an integer in [1, 32]")
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)) or not self.scale > 0:
            raise DataError(f"input scale {self.scale!r} is not a positive power of two")
        if not math.isfinite(self.scale) or math.frexp(self.scale)[0] != 0.5:
            raise DataError(f"input scale {self.scale!r} is not a positive power of two")
        if self.kind == SPIKE and (self.width != 1 or self.scale != 1.0):
            raise DataError(f"spike input must have width 1 and scale 1.0, got {self.width} and {self.scale}")
        for name in ("channels", "length", "timesteps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DataError(f"input {name} {value!r} is not a positive integer")

    @property
    def features(self) -> int:
        """``channels * length``: the width of one step of the integer model's input."""
        return self.channels * self.length

    @property
    def value_range(self) -> tuple[int, int]:
        """Inclusive ``(lo, hi)`` of ``x_int``."""
        if self.kind == SPIKE:
            return 0, 1
        return -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1

    @property
    def int_dtype(self) -> np.dtype:
        """Smallest signed NumPy dtype holding ``x_int`` (int8 for spikes)."""
        for dtype in (np.int8, np.int16, np.int32):
            if self.width <= np.iinfo(dtype).bits:
                return np.dtype(dtype)
        return np.dtype(np.int64)  # pragma: no cover - width <= 32 is enforced

    def to_int(self, x: torch.Tensor) -> np.ndarray:
        """Time-first ``x [T, B, C, L]`` -> integer-model input ``[T, B, C*L]`` (channel-major).

        Raises DataError if a value is not an exact multiple of ``scale`` inside
        the declared range (the data would not be exactly representable).
        """
        if x.dim() != 4 or tuple(x.shape[2:]) != (self.channels, self.length):
            raise DataError(f"input shape {tuple(x.shape)} is not [T, B, {self.channels}, {self.length}]")
        q = x.detach().to(torch.float64) / self.scale
        rounded = torch.round(q)
        if not torch.equal(q, rounded):
            raise DataError(f"input holds a value that is not a multiple of scale {self.scale}")
        lo, hi = self.value_range
        if q.numel() and (rounded.min().item() < lo or rounded.max().item() > hi):
            raise DataError(f"input holds x_int outside the declared {self.kind} range [{lo}, {hi}]")
        return rounded.reshape(x.shape[0], x.shape[1], self.features).numpy().astype(self.int_dtype)


@dataclass(frozen=True, eq=False)
class SequenceData:
    """One split of a dataset: ``x [N, T, C, L]`` float32 (exact multiples of ``info.scale``), ``y [N]`` int64."""

    x: torch.Tensor
    y: torch.Tensor
    info: InputInfo
    classes: int
    name: str

    def __post_init__(self):
        i = self.info
        expected = (i.timesteps, i.channels, i.length)
        if self.x.dtype != torch.float32 or self.x.dim() != 4 or tuple(self.x.shape[1:]) != expected:
            want = ", ".join(map(str, expected))
            raise DataError(f"{self.name}: x is {self.x.dtype} {list(self.x.shape)}, expected float32 [N, {want}]")
        if self.y.dtype != torch.int64 or tuple(self.y.shape) != (self.x.shape[0],):
            n = self.x.shape[0]
            raise DataError(f"{self.name}: y is {self.y.dtype} {list(self.y.shape)}, expected int64 [{n}]")
        if not (isinstance(self.classes, int) and self.classes >= 1):
            raise DataError(f"{self.name}: classes {self.classes!r} is not a positive integer")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def batches(
        self, batch_size: int, shuffle: bool, generator: torch.Generator | None = None, *, rank: int = 0,
        world_size: int = 1,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x [T, B, C, L] float32 contiguous, y [B] int64)``; each sample once per pass.

        The last batch may be smaller. With ``shuffle`` the order is
        ``torch.randperm(N, generator=generator)`` (reproducible with a seeded
        generator); without it, the stored order. With ``world_size`` > 1 each
        global batch of ``batch_size`` samples is split into ``world_size``
        disjoint parts of near-equal size (``torch.tensor_split``, sizes differ
        by at most one, possibly 0 in a last batch smaller than ``world_size``)
        and part ``rank`` is yielded: with the same generator seed on every
        rank, the parts of all ranks are exactly the single-process batch.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise DataError(f"batch_size {batch_size!r} is not a positive integer")
        if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
            raise DataError(f"world_size {world_size!r} is not a positive integer")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
            raise DataError(f"rank {rank!r} is not an integer in [0, {world_size - 1}]")
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else None
        for start in range(0, n, batch_size):
            if order is None and world_size == 1:
                xb, yb = self.x[start : start + batch_size], self.y[start : start + batch_size]
            else:
                idx = torch.arange(start, min(start + batch_size, n)) if order is None \
                    else order[start : start + batch_size]
                if world_size > 1:
                    idx = idx.tensor_split(world_size)[rank]
                xb, yb = self.x[idx], self.y[idx]
            yield xb.permute(1, 0, 2, 3).contiguous(), yb


# ---------------------------------------------------------------------------------------------
# Helpers for the loaders.


def check_memory(name: str, shape: tuple[int, ...], max_bytes: int) -> None:
    """Refuse to build a float32 tensor of ``shape`` larger than ``max_bytes``."""
    need = 4 * math.prod(int(s) for s in shape)
    if need > max_bytes:
        raise DataError(
            f"{name}: x of shape {list(shape)} needs {format_bytes(need)} as float32, over the limit of "
            f"{format_bytes(max_bytes)} (pass max_bytes=... to raise it, or load fewer timesteps/samples)"
        )


def format_bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def int_param(dataset: str, name: str, value, lo: int, hi: int | None = None) -> int:
    """An integer parameter in ``[lo, hi]`` (bools and floats refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise DataError(f"{dataset}: parameter {name}={value!r} is not an integer")
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        bound = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise DataError(f"{dataset}: parameter {name}={value} is outside {bound}")
    return value


def float_param(dataset: str, name: str, value, lo: float, hi: float, lo_open: bool = False) -> float:
    """A finite real parameter in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DataError(f"{dataset}: parameter {name}={value!r} is not a number")
    value = float(value)
    if not math.isfinite(value) or value > hi or value < lo or (lo_open and value == lo):
        bound = f"({lo}, {hi}]" if lo_open else f"[{lo}, {hi}]"
        raise DataError(f"{dataset}: parameter {name}={value} is outside {bound}")
    return value


def existing_path(dataset: str, path) -> str:
    """``path`` as a string; DataError if it is missing or does not exist."""
    if path is None:
        raise DataError(f"{dataset}: needs path=... (the dataset is not downloaded; see docs/data.md)")
    if not isinstance(path, (str, os.PathLike)):
        raise DataError(f"{dataset}: path {path!r} is not a string or path")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"{dataset}: path {path} does not exist")
    return path


def to_float(x_int: np.ndarray, scale: float) -> torch.Tensor:
    """Integer array -> float32 tensor ``x_int * scale`` (exact: ``scale`` is a power of two)."""
    x = torch.from_numpy(np.ascontiguousarray(x_int)).to(torch.float32)
    if scale != 1.0:
        x.mul_(scale)
    return x
