"""A training run's test split as integer-model input: what ``report``, ``sim`` and ``verify`` are driven with.

Nothing is written here; the caller decides where the arrays go.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import ConfigError, RunConfig, read_run_config
from .data import load_dataset

BATCH = 256


def test_split(cfg: RunConfig, samples: int | None = None, data_path=None) -> tuple[np.ndarray, np.ndarray]:
    """``(x [T, B, features], y [B] int64)``: the first ``samples`` test samples (default all) of ``cfg``'s dataset.

    ``x`` holds the integer-model input (``InputInfo.to_int``: int8/int16/int32, the smallest signed type of
    the input width; features channel-major). ``data_path`` replaces the config's data path (``shd``, ``scifar``).
    """
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
        raise ConfigError(f"samples {samples!r} is not a positive integer")
    data = load_dataset(cfg.data.name, "test", data_path or cfg.data.path, **cfg.data.params)
    xs, ys = [], []
    for x, y in data.batches(BATCH, shuffle=False):
        xs.append(data.info.to_int(x))
        ys.append(y.numpy())
        if samples is not None and sum(len(part) for part in ys) >= samples:
            break
    return np.concatenate(xs, axis=1)[:, :samples], np.concatenate(ys)[:samples]


def run_test_split(run_dir: str | Path, samples: int | None = None,
                   data_path=None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`test_split` of the run in ``run_dir`` (its ``config.json``, :func:`~.config.read_run_config`)."""
    return test_split(read_run_config(run_dir), samples, data_path)
