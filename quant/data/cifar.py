"""``scifar``: CIFAR-10 (binary version) as a sequence task, one image column per step.

``path`` is the ``cifar-10-batches-bin`` directory (or a directory containing
it) with ``data_batch_1.bin`` .. ``data_batch_5.bin`` (train, 50000 images) and
``test_batch.bin`` (test, 10000). Each record is 3073 bytes: the label (0..9),
then 1024 red, 1024 green and 1024 blue bytes, each plane 32x32 row-major.

Step ``t`` carries image column ``t``: ``x[n, t, c, l] = plane_c[row l, column t] * 2^-8``
(``T = 32``, ``C = 3``, ``L = 32``), declared as signed 9-bit integers (0..255).
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .base import INT, DataError, InputInfo, SequenceData, check_memory, existing_path, to_float

NAME = "scifar"
DIRNAME = "cifar-10-batches-bin"
FILES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)}
RECORD = 3073
SIDE = 32
CLASSES = 10
SCALE = 2.0**-8
WIDTH = 9


def resolve(path, split: str) -> list[str]:
    """The batch files of ``split`` under ``path`` (the ``cifar-10-batches-bin`` directory or its parent)."""
    path = existing_path(NAME, path)
    if not os.path.isdir(path):
        raise DataError(f"{NAME}: path {path} is not a directory (expected {DIRNAME}/)")
    inner = os.path.join(path, DIRNAME)
    if not os.path.isfile(os.path.join(path, FILES[split][0])) and os.path.isdir(inner):
        path = inner
    files = [os.path.join(path, f) for f in FILES[split]]
    for file in files:
        if not os.path.isfile(file):
            raise DataError(f"{NAME}: {file} not found")
    return files


def read(file: str) -> tuple[np.ndarray, np.ndarray]:
    """``(labels uint8 [N], planes uint8 [N, 3, 32, 32])`` of one batch file, validated."""
    try:
        raw = np.fromfile(file, dtype=np.uint8)
    except OSError as e:
        raise DataError(f"{file}: cannot read ({e.strerror or e})") from None
    if raw.size == 0 or raw.size % RECORD:
        raise DataError(
            f"{file}: size {raw.size} bytes is not a positive multiple of the {RECORD}-byte record (truncated?)"
        )
    records = raw.reshape(-1, RECORD)
    labels = records[:, 0]
    bad = np.flatnonzero(labels >= CLASSES)
    if bad.size:
        raise DataError(f"{file}: record {bad[0]} has label {labels[bad[0]]}, outside 0..{CLASSES - 1}")
    return labels, records[:, 1:].reshape(-1, 3, SIDE, SIDE)


def describe() -> InputInfo:
    """The input without loading it: T = 32 columns, 3 colour channels of 32 int9 rows."""
    return InputInfo(INT, WIDTH, SCALE, channels=3, length=SIDE, timesteps=SIDE)


def load(split: str, path=None, *, max_bytes: int) -> SequenceData:
    files = resolve(path, split)
    sizes = [os.path.getsize(f) for f in files]
    check_memory(NAME, (sum(s // RECORD for s in sizes), SIDE, 3, SIDE), max_bytes)
    parts = [read(f) for f in files]
    labels = np.concatenate([p[0] for p in parts]).astype(np.int64)
    planes = np.concatenate([p[1] for p in parts])  # [N, c, row, column]
    x = to_float(planes.transpose(0, 3, 1, 2), SCALE)  # [N, column (t), c, row (l)]
    return SequenceData(x, torch.from_numpy(labels), describe(), CLASSES, NAME)
