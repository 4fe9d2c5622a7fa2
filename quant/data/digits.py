"""scikit-learn's 8x8 handwritten digits as a sequence task (bundled with scikit-learn; no download).

* ``digits``: row by row, ``T = 8``; step ``t`` carries the 8 pixels of row ``t``
  (``C = 8``, ``L = 1``).
* ``digits-pixels``: pixel by pixel in row-major order, ``T = 64``, ``C = L = 1``.

Pixels are integers 0..16: ``x = pixel * 2^-4`` in ``[0, 1]``, declared as
signed 6-bit integers (5 bits hold only up to 15). Both use the same fixed
stratified split: ``train_test_split(test_size=0.2, stratify=y,
random_state=0)`` -> 1437 train / 360 test of 1797 images.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .base import INT, DataError, InputInfo, SequenceData, check_memory, to_float

SCALE = 2.0**-4
WIDTH = 6
CLASSES = 10
TEST_SIZE = 0.2
SPLIT_SEED = 0


@lru_cache(maxsize=1)
def _split() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (images uint8 [N, 8, 8], labels int64 [N]), "test": ...}`` (fixed split)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.astype(np.uint8)  # integral 0..16 stored as float64
    if not np.array_equal(images, digits.images):  # pragma: no cover - a changed scikit-learn
        raise DataError("digits: scikit-learn's images are not integers 0..16")
    labels = digits.target.astype(np.int64)
    idx_train, idx_test = train_test_split(
        np.arange(len(labels)), test_size=TEST_SIZE, stratify=labels, random_state=SPLIT_SEED
    )
    return {"train": (images[idx_train], labels[idx_train]), "test": (images[idx_test], labels[idx_test])}


def describe_rows() -> InputInfo:
    """The input of ``digits`` without loading it: T = 8 rows of 8 int6 pixels."""
    return InputInfo(INT, WIDTH, SCALE, channels=8, length=1, timesteps=8)


def describe_pixels() -> InputInfo:
    """The input of ``digits-pixels`` without loading it: T = 64 pixels, one int6 channel."""
    return InputInfo(INT, WIDTH, SCALE, channels=1, length=1, timesteps=64)


def _load(split: str, info: InputInfo, name: str, max_bytes: int) -> SequenceData:
    images, labels = _split()[split]
    shape = (len(labels), info.timesteps, info.channels, 1)
    check_memory(name, shape, max_bytes)
    x = to_float(images.reshape(shape), SCALE)
    return SequenceData(x, torch.from_numpy(labels.copy()), info, CLASSES, name)


def load_rows(split: str, path=None, *, max_bytes: int) -> SequenceData:
    """``digits``: ``x [N, 8, 8, 1]``, step ``t`` = row ``t``."""
    return _load(split, describe_rows(), "digits", max_bytes)


def load_pixels(split: str, path=None, *, max_bytes: int) -> SequenceData:
    """``digits-pixels``: ``x [N, 64, 1, 1]``, step ``t`` = pixel ``(t // 8, t % 8)``."""
    return _load(split, describe_pixels(), "digits-pixels", max_bytes)
