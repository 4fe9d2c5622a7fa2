"""Choosing the fastest implementation per layer shape, timed once and cached on disk.

The shape key is ``(T, B, C, rest, k, d, dtype, exact, torch thread count)``. At the first
call with a new key every applicable candidate (``impls.EXACT`` when ``exact``; not
``toeplitz`` above ``TOEPLITZ_MAX_STEPS``) runs forward + backward on random data of that
shape: one warm-up run, then ``REPEATS`` timed runs (more, up to ``MAX_REPEATS``, for
candidates faster than ``MIN_SECONDS / REPEATS``, so that a scheduler hiccup cannot sway the
median), the median counts. A candidate whose
warm-up took more than ``DROP_FACTOR`` times the best warm-up so far is not repeated (a
heuristic that bounds the selection time: such a candidate is all but certain to lose).
The timing is only as good as the machine is quiet: under heavy load from other processes
a choice may be off, and it stays in the cache until the file is removed. The choice is kept in memory and in ``<cache dir>/temporal_autoselect.json``:

* cache dir: ``$SHIFTSPIKE_CACHE_DIR``, default ``~/.cache/shiftspike``;
* ``SHIFTSPIKE_DISK_CACHE=0`` disables reading and writing the file (memory only);
* the file is written atomically (:func:`shiftspike.sim.safe_io.write_json`); an unreadable or corrupt file,
  or an entry naming an implementation that is not allowed for its key, is ignored and
  rewritten; a file that cannot be written only raises a warning.

``autoselect_report()`` gives the seconds spent timing in this process and the choices.
"""

from __future__ import annotations

import math
import os
import statistics
import time
import warnings
from pathlib import Path

import torch

from shiftspike.sim import safe_io

from .impls import EXACT, IMPLEMENTATIONS, applicable

CACHE_FILE = "temporal_autoselect.json"
FORMAT_VERSION = 1
REPEATS, MAX_REPEATS, MIN_SECONDS = 3, 25, 0.05  # timed runs: at least 3, more for fast ones
DROP_FACTOR = 4.0

_choices: dict[str, str] = {}  # by shape key (the report)
_by_shape: dict[tuple, str] = {}  # the same choices by a tuple, for the per-call lookup
_state = {"seconds": 0.0, "timed": 0, "from_disk": 0}


def shape_key(x_shape: tuple[int, ...], taps: int, dilation: int, dtype: torch.dtype, exact: bool) -> str:
    steps, batch, channels, *rest = x_shape
    return (f"T={steps} B={batch} C={channels} rest={'x'.join(map(str, rest)) or '-'} k={taps} d={dilation} "
            f"{str(dtype).removeprefix('torch.')} exact={int(exact)} threads={torch.get_num_threads()}")


def candidates(steps: int, exact: bool) -> list[str]:
    return [name for name in IMPLEMENTATIONS if (not exact or name in EXACT) and applicable(name, steps)]


def cache_path() -> Path | None:
    """The JSON cache file, or None when the disk cache is disabled."""
    root = safe_io.cache_dir()
    return None if root is None else root / CACHE_FILE


def _read(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    try:
        data = safe_io.read_json(path, "autoselect cache")
        choices = data["choices"] if data.get("version") == FORMAT_VERSION else {}
        return {k: v for k, v in choices.items() if isinstance(v, dict) and isinstance(v.get("impl"), str)}
    except (safe_io.FileFormatError, TypeError, KeyError, AttributeError):
        return {}


def _write(path: Path, key: str, entry: dict) -> None:
    choices = _read(path)
    choices[key] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    safe_io.write_json(path, {"version": FORMAT_VERSION, "choices": choices})


def _time(name: str, x: torch.Tensor, weight: torch.Tensor, dilation: int, grad: torch.Tensor,
          best_warmup: float) -> tuple[float, float]:
    """(warm-up seconds, median seconds) of forward + backward; median is inf when dropped."""
    fn = IMPLEMENTATIONS[name]

    def run() -> float:
        x.grad = weight.grad = None
        start = time.perf_counter()
        fn(x, weight, dilation).backward(grad)
        return time.perf_counter() - start

    warmup = run()
    if warmup > DROP_FACTOR * best_warmup:
        return warmup, float("inf")
    repeats = min(MAX_REPEATS, max(REPEATS, math.ceil(MIN_SECONDS / max(warmup, 1e-9))))
    return warmup, statistics.median(run() for _ in range(repeats))


def _measure(x_shape: tuple[int, ...], taps: int, dilation: int, dtype: torch.dtype, exact: bool) -> dict:
    gen = torch.Generator().manual_seed(0)
    with torch.enable_grad():
        x = torch.randn(x_shape, dtype=dtype, generator=gen).requires_grad_()
        weight = torch.randn(x_shape[2], taps, dtype=dtype, generator=gen).requires_grad_()
        grad = torch.randn(x_shape, dtype=dtype, generator=gen)
        seconds: dict[str, float] = {}
        best_warmup = float("inf")
        for name in candidates(x_shape[0], exact):
            warmup, seconds[name] = _time(name, x, weight, dilation, grad, best_warmup)
            best_warmup = min(best_warmup, warmup)
    # a dropped candidate (inf) is left out: the cache is plain JSON, which has no infinity
    return {"impl": min(seconds, key=seconds.get), "seconds": {k: v for k, v in seconds.items() if math.isfinite(v)}}


def choose(x: torch.Tensor, weight: torch.Tensor, dilation: int, exact: bool) -> str:
    """The implementation to use for this shape (timing it on first use)."""
    fast = (x.shape, weight.shape[1], dilation, x.dtype, exact, torch.get_num_threads())
    if fast in _by_shape:
        return _by_shape[fast]
    key = shape_key(tuple(x.shape), weight.shape[1], dilation, x.dtype, exact)
    allowed = candidates(x.shape[0], exact)
    path = cache_path()
    entry = _read(path).get(key) if path is not None else None
    if entry is not None and entry["impl"] in allowed:
        _state["from_disk"] += 1
    else:
        start = time.perf_counter()
        entry = _measure(tuple(x.shape), weight.shape[1], dilation, x.dtype, exact)
        _state["seconds"] += time.perf_counter() - start
        _state["timed"] += 1
        if path is not None:
            try:
                _write(path, key, entry)
            except OSError as err:  # an unwritable cache costs a re-timing next time, nothing more
                warnings.warn(f"autoselect: could not write {path}: {err}", RuntimeWarning, stacklevel=3)
    _choices[key] = _by_shape[fast] = entry["impl"]
    return entry["impl"]


def autoselect_report() -> dict:
    """Seconds spent timing in this process, how many keys were timed or read from disk, the
    choices by shape key, and a one-line ``summary`` for logs."""
    layers = "; ".join(f"[{key}]: {impl}" for key, impl in _choices.items())
    return {**_state, "choices": dict(_choices),
            "summary": f"autoselect: {_state['seconds']:.1f} s" + (f", {layers}" if layers else "")}


def reset() -> None:
    """Forget the in-process choices and counters (the disk cache is untouched)."""
    _choices.clear()
    _by_shape.clear()
    _state.update(seconds=0.0, timed=0, from_disk=0)
