"""The dataset registry and ``load_dataset``."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

from . import cifar, digits, long, shd
from .base import DEFAULT_MAX_BYTES, DataError, InputInfo, SequenceData, int_param

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Dataset:
    """A registry entry: ``loader(split, path, max_bytes=..., **params)``; ``params`` maps names to defaults;
    ``describe(**params)`` is the input declaration without loading anything."""

    name: str
    loader: Callable[..., SequenceData]
    describe: Callable[..., InputInfo]
    description: str
    needs_path: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)


def _entries(*items: Dataset) -> dict[str, Dataset]:
    return {d.name: d for d in items}


DATASETS: dict[str, Dataset] = _entries(
    Dataset("digits", digits.load_rows, digits.describe_rows, "scikit-learn 8x8 digits row by row: T=8, C=8, L=1, int6 x 2^-4"),
    Dataset("digits-pixels", digits.load_pixels, digits.describe_pixels, "scikit-learn 8x8 digits pixel by pixel: T=64, C=1, L=1, int6 x 2^-4"),
    Dataset("long", long.load, long.describe, "synthetic cue / noise / marker task of any length, spikes", params=long.DEFAULTS),
    Dataset("shd", shd.load, shd.describe, "Spiking Heidelberg Digits HDF5: T bins x 700 channels, spikes", True, shd.DEFAULTS),
    Dataset("scifar", cifar.load, cifar.describe, "CIFAR-10 binary, one column per step: T=32, C=3, L=32, int9 x 2^-8", True),
)

#: Parameters every dataset accepts.
COMMON_PARAMS: Mapping[str, Any] = MappingProxyType({"max_bytes": DEFAULT_MAX_BYTES})


def _entry(name: str, params: dict) -> Dataset:
    """The registry entry of ``name``, after refusing unknown parameters."""
    entry = DATASETS.get(name) if isinstance(name, str) else None
    if entry is None:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    valid = [*entry.params, *COMMON_PARAMS]
    unknown = [k for k in params if k not in valid]
    if unknown:
        raise DataError(f"{name}: unknown parameter {unknown[0]!r}; valid parameters: {', '.join(valid)}")
    return entry


def input_info(name: str, **params) -> InputInfo:
    """The input declaration of dataset ``name`` with ``params`` (what ``load_dataset`` would give as ``.info``),
    without loading or downloading anything."""
    entry = _entry(name, params)
    params.pop("max_bytes", None)
    return entry.describe(**params)


def load_dataset(name: str, split: str, path: str | None = None, **params) -> SequenceData:
    """Load split ``"train"`` or ``"test"`` of dataset ``name`` (see ``DATASETS`` and docs/data.md).

    ``path`` locates downloaded data (``shd``, ``scifar``); ``params`` are the
    dataset's parameters plus ``max_bytes`` (the float32 ``x`` size limit).
    """
    entry = _entry(name, params)
    if split not in SPLITS:
        raise DataError(f"{name}: unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if not entry.needs_path and path is not None:
        raise DataError(f"{name}: takes no path (got {path!r}); it needs no download")
    max_bytes = int_param(name, "max_bytes", params.pop("max_bytes", DEFAULT_MAX_BYTES), 1)
    return entry.loader(split, path, max_bytes=max_bytes, **params)
