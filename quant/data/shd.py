"""``shd``: Spiking Heidelberg Digits from its HDF5 files (spike input, 700 channels, 20 classes).

``path`` is a directory holding ``shd_train.h5`` / ``shd_test.h5`` (gunzipped)
or one such file (then used for whichever split is asked for). Each file holds
``spikes/times`` (variable-length float arrays, seconds), ``spikes/units``
(variable-length integer arrays, channels 0..699) and ``labels`` (integers
0..19), one entry per sample.

Binning: ``T = timesteps`` bins over ``[0, max_time)`` with edges
``np.linspace(0, max_time, T + 1)`` (float64); a spike at time ``t`` falls in
bin ``k`` with ``edges[k] <= t < edges[k + 1]`` (a spike exactly on an edge
opens the later bin). Spikes at ``t >= max_time`` are dropped. A
(bin, channel) with one or more spikes is 1, else 0. Fully vectorized.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .base import SPIKE, DataError, InputInfo, SequenceData, check_memory, existing_path, float_param, int_param

NAME = "shd"
CHANNELS = 700
CLASSES = 20
DEFAULTS = {"timesteps": 100, "max_time": 1.4}
FILES = {"train": "shd_train.h5", "test": "shd_test.h5"}


def resolve(path, split: str) -> str:
    """The HDF5 file for ``split``: ``path`` itself, or ``path/shd_<split>.h5`` for a directory."""
    path = existing_path(NAME, path)
    if not os.path.isdir(path):
        return path
    file = os.path.join(path, FILES[split])
    if not os.path.isfile(file):
        hint = " (gunzip the .gz first)" if os.path.isfile(file + ".gz") else ""
        raise DataError(f"{NAME}: {file} not found{hint}")
    return file


def _dataset(f, file: str, key: str, vlen: bool):
    import h5py

    try:
        obj = f.get(key)
    except (KeyError, TypeError, ValueError, OSError) as e:
        raise DataError(f"{file}: cannot open {key!r} ({e})") from None
    if obj is None:
        raise DataError(f"{file}: missing dataset {key!r}")
    if not isinstance(obj, h5py.Dataset) or obj.ndim != 1:
        raise DataError(f"{file}: {key!r} is not a 1-D dataset")
    base = h5py.check_vlen_dtype(obj.dtype)
    if vlen and base is None:
        raise DataError(f"{file}: {key!r} is not a variable-length dataset (dtype {obj.dtype})")
    element = base if vlen else obj.dtype
    real = key.endswith("times")
    if element.kind not in ("fiu" if real else "iu"):
        expected = "real" if real else "integer"
        raise DataError(f"{file}: {key!r} has element dtype {element}, expected {expected}")
    try:
        return obj[()]
    except (OSError, ValueError, TypeError) as e:
        raise DataError(f"{file}: cannot read {key!r} ({e})") from None


def read(file: str) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """``(times, units, labels)`` of one SHD file, structurally validated (lengths match)."""
    import h5py

    try:
        f = h5py.File(file, "r")
    except OSError as e:
        raise DataError(f"{file}: not a readable HDF5 file ({str(e).splitlines()[0]})") from None
    with f:
        times = _dataset(f, file, "spikes/times", vlen=True)
        units = _dataset(f, file, "spikes/units", vlen=True)
        labels = _dataset(f, file, "labels", vlen=False)
    n = len(labels)
    if len(times) != n or len(units) != n:
        raise DataError(
            f"{file}: lengths differ: spikes/times {len(times)}, spikes/units {len(units)}, labels {n}"
        )
    if n == 0:
        raise DataError(f"{file}: holds no samples")
    return list(times), list(units), np.asarray(labels)


def bin_spikes(
    times, units, timesteps: int, max_time: float, file: str = NAME, chunk: int = 256, dtype=np.uint8
) -> np.ndarray:
    """``[N, timesteps, 700]`` of ``dtype``: 1 where a channel spiked in a bin (see the module docstring).

    Works on ``chunk`` samples at a time so temporaries stay proportional to their spikes.
    """
    n = len(times)
    if len(units) != n:
        raise DataError(f"{file}: {n} spike-time arrays but {len(units)} unit arrays")
    edges = np.linspace(0.0, max_time, timesteps + 1)
    x = np.zeros((n, timesteps, CHANNELS), dtype)
    for lo in range(0, n, chunk):
        _bin_chunk(x[lo : lo + chunk].reshape(-1), times[lo : lo + chunk], units[lo : lo + chunk], lo, edges, file)
    return x


def _bin_chunk(out: np.ndarray, times, units, offset: int, edges: np.ndarray, file: str) -> None:
    n, timesteps, max_time = len(times), len(edges) - 1, edges[-1]
    times = [np.asarray(a).reshape(-1) for a in times]
    units = [np.asarray(a).reshape(-1) for a in units]
    lengths = np.fromiter((a.size for a in times), np.int64, count=n)
    unit_lengths = np.fromiter((a.size for a in units), np.int64, count=n)
    if not np.array_equal(lengths, unit_lengths):
        i = int(np.flatnonzero(lengths != unit_lengths)[0])
        raise DataError(f"{file}: sample {offset + i} has {lengths[i]} spike times but {unit_lengths[i]} units")
    sample = np.repeat(np.arange(n, dtype=np.int64), lengths)
    t_stored = np.concatenate(times)  # for messages: values as stored
    t = t_stored.astype(np.float64, copy=False)
    u = np.concatenate(units).astype(np.int64, copy=False)

    def refuse(mask: np.ndarray, what: str, values: np.ndarray) -> None:
        if mask.any():
            j = int(np.flatnonzero(mask)[0])
            raise DataError(f"{file}: sample {offset + sample[j]} has {what} {values[j]!s}")

    refuse(~np.isfinite(t), "a non-finite spike time", t_stored)
    refuse(t < 0, "a negative spike time", t_stored)
    refuse((u < 0) | (u >= CHANNELS), f"a unit outside 0..{CHANNELS - 1}:", u)
    keep = t < max_time
    b = np.searchsorted(edges, t[keep], side="right") - 1
    out[(sample[keep] * timesteps + b) * CHANNELS + u[keep]] = 1


def describe(**params) -> InputInfo:
    """The input for ``params`` without loading it: ``timesteps`` bins of 700 spike channels."""
    timesteps = int_param(NAME, "timesteps", {**DEFAULTS, **params}["timesteps"], 1, 1 << 20)
    return InputInfo(SPIKE, 1, 1.0, channels=CHANNELS, length=1, timesteps=timesteps)


def load(split: str, path=None, *, max_bytes: int, **params) -> SequenceData:
    p = {**DEFAULTS, **params}
    info = describe(**params)
    timesteps = info.timesteps
    max_time = float_param(NAME, "max_time", p["max_time"], 0.0, 1e9, lo_open=True)
    file = resolve(path, split)
    times, units, labels = read(file)
    bad = (labels < 0) | (labels >= CLASSES)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{file}: label {labels[i]} of sample {i} is outside 0..{CLASSES - 1}")
    check_memory(f"{NAME} ({file})", (len(labels), timesteps, CHANNELS, 1), max_bytes)
    x = bin_spikes(times, units, timesteps, max_time, file, dtype=np.float32)  # binned straight into float32
    y = torch.from_numpy(labels.astype(np.int64))
    return SequenceData(torch.from_numpy(x).unsqueeze(-1), y, info, CLASSES, NAME)
