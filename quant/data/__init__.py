"""Sequence datasets for training: digits, a synthetic long-dependency task, SHD and CIFAR-10.

``load_dataset(name, split, path=None, **params)`` returns a ``SequenceData``
with ``x [N, T, C, L]`` float32 holding exact multiples of a power-of-two
``info.scale`` and ``y [N]`` int64; ``SequenceData.batches`` yields time-first
``[T, B, C, L]`` batches; ``input_info(name, **params)`` is the input declaration
without loading anything. ``DATASETS`` lists the datasets; docs/data.md
describes them.
"""

from .base import DEFAULT_MAX_BYTES, DataError, InputInfo, SequenceData
from .registry import COMMON_PARAMS, DATASETS, SPLITS, Dataset, input_info, load_dataset

__all__ = [
    "COMMON_PARAMS",
    "DATASETS",
    "DEFAULT_MAX_BYTES",
    "DataError",
    "Dataset",
    "InputInfo",
    "SPLITS",
    "SequenceData",
    "input_info",
    "load_dataset",
]
