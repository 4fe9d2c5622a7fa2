"""Choosing the fastest implementation per layer shape, timed once, cached on disk, re-checked on load.

The key is ``(T, B, C, rest, k, d, dtype, exact, torch thread count, CPU model)``: the CPU model
is the first ``model name`` of ``/proc/cpuinfo``, else ``platform.processor()``, else
``platform.machine()``, else ``unknown``. The *default* of a key is the first of its
candidates, ``fused`` (always applicable and exact; it also wins ties).

**Full timing.** At the first call with a new key every applicable candidate (``impls.EXACT``
when ``exact``; not ``toeplitz`` above ``TOEPLITZ_MAX_STEPS``) runs forward + backward on random
data of that shape: one warm-up run, then ``REPEATS`` timed runs (more, up to ``MAX_REPEATS``,
for candidates faster than ``MIN_SECONDS / REPEATS``, so that a scheduler hiccup cannot sway the
median); the smallest median wins. A candidate whose warm-up took more than ``DROP_FACTOR``
times the best warm-up so far is not repeated (a heuristic that bounds the selection time: such
a candidate is all but certain to lose).

**Noisy timings are not cached.** A *contender* is a timed candidate whose fastest run is
below ``NOISE_RATIO`` times the winner's median (the winner is one). The timing is *noisy*
when the runs of some contender disagree: their median is more than ``NOISE_RATIO`` times their
fastest run. A noisy choice is used in this process but not written to the file, so the next
process times again. Two contenders whose runs agree are a clear choice however close they
are: either is fast, and caching keeps repeated runs on one machine reproducible.

**A cached choice is re-checked.** A choice read from the file that is not the default gets
one warm-up and one timed run, and so does the default; when the cached choice took more than
``RECHECK_MARGIN`` times the default's time it is stale (timed on a busy machine, say): the
key is timed fully again and the file entry replaced (unless that timing is noisy). A cached
default is used as it is: there is nothing to compare it with.

The choice is kept in memory and in ``<cache dir>/temporal_autoselect.json``:

* cache dir: ``$SHIFTSPIKE_CACHE_DIR``, default ``~/.cache/shiftspike``;
* ``SHIFTSPIKE_DISK_CACHE=0`` disables reading and writing the file (memory only);
* the file is untrusted input, read through :func:`shiftspike.sim.safe_io.read_json`: a file
  that is unreadable, malformed, of another ``FORMAT_VERSION`` (version 1 had no CPU model in
  its keys) or not exactly ``{"version", "choices": {key: {"impl": name, "seconds": {name:
  seconds >= 0}}}}`` is ignored, and so is an entry that is malformed or names an
  implementation not allowed for its key; they are timed again and rewritten;
* the file is written atomically (:func:`shiftspike.sim.safe_io.write_json`); a file that
  cannot be written only raises a warning.

Every run is timed by :func:`timed_run`, the one hook tests replace with fake durations.
``autoselect_report()`` gives the seconds spent choosing in this process, the choices and why
they were made, and a one-line ``summary``.
"""

from __future__ import annotations

import functools
import math
import platform
import statistics
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from shiftspike.sim import safe_io

from .impls import EXACT, IMPLEMENTATIONS, applicable

CACHE_FILE = "temporal_autoselect.json"
CPUINFO = "/proc/cpuinfo"  # read for the CPU model where it exists (Linux)
FORMAT_VERSION = 2  # 2: keys name the CPU model
REPEATS, MAX_REPEATS, MIN_SECONDS = 3, 25, 0.05  # timed runs: at least 3, more for fast ones
DROP_FACTOR = 4.0
NOISE_RATIO = 1.5  # runs of one contender whose median exceeds this times their fastest are noisy
RECHECK_MARGIN = 2.0  # a cached choice slower than this times the default is timed again

#: Why a choice was made (the ``why`` of a :class:`Decision`).
TIMED, NOISY, CACHED, RECHECKED, STALE = ("timed", "noisy so not cached", "cached", "cached and re-checked",
                                          "stale so re-timed")


@dataclass(frozen=True)
class Decision:
    """The implementation chosen for one key, why (one of the labels above), the shape as people read it,
    and the seconds per run it rests on: medians of a full timing, or the re-check's single runs."""

    impl: str
    why: str
    shape: str
    seconds: dict[str, float] = field(default_factory=dict)
    stale: str | None = None  # the cached implementation a STALE decision replaced


_decisions: dict[str, Decision] = {}  # by shape key (the report)
_by_shape: dict[tuple, str] = {}  # the chosen implementations by a tuple, for the per-call lookup
_state = {"seconds": 0.0, "timed": 0, "from_disk": 0}


@functools.cache
def cpu_model() -> str:
    """The CPU's model name (see the module docstring); never fails."""
    try:
        with open(CPUINFO, encoding="utf-8", errors="replace") as info:
            for line in info:
                name, sep, value = line.partition(":")
                if sep and name.strip() == "model name" and value.strip():
                    return " ".join(value.split())[:100]
    except OSError:
        pass
    return " ".join((platform.processor() or platform.machine() or "unknown").split())[:100]


def shape_key(x_shape: tuple[int, ...], taps: int, dilation: int, dtype: torch.dtype, exact: bool) -> str:
    steps, batch, channels, *rest = x_shape
    return (f"T={steps} B={batch} C={channels} rest={'x'.join(map(str, rest)) or '-'} k={taps} d={dilation} "
            f"{str(dtype).removeprefix('torch.')} exact={int(exact)} threads={torch.get_num_threads()} "
            f"cpu={cpu_model()}")


def describe(x_shape: tuple[int, ...], taps: int, dilation: int, dtype: torch.dtype, exact: bool) -> str:
    """The layer shape for people: ``[T=64, B=16, C=128, k=16, d=1]``, then rest, float64 and exact if so."""
    steps, batch, channels, *rest = x_shape
    parts = [f"T={steps}", f"B={batch}", f"C={channels}", f"k={taps}", f"d={dilation}"]
    parts += [f"rest={'x'.join(map(str, rest))}"] * bool(rest)
    parts += ["float64"] * (dtype == torch.float64) + ["exact"] * exact
    return f"[{', '.join(parts)}]"


def candidates(steps: int, exact: bool) -> list[str]:
    return [name for name in IMPLEMENTATIONS if (not exact or name in EXACT) and applicable(name, steps)]


def cache_path() -> Path | None:
    """The JSON cache file, or None when the disk cache is disabled."""
    root = safe_io.cache_dir()
    return None if root is None else root / CACHE_FILE


def _is_seconds(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf


def _valid_entry(entry) -> bool:
    """Whether ``entry`` is exactly ``{"impl": name, "seconds": {name: seconds >= 0}}``."""
    return (isinstance(entry, dict) and entry.keys() == {"impl", "seconds"}
            and isinstance(entry["impl"], str) and entry["impl"] in IMPLEMENTATIONS
            and isinstance(entry["seconds"], dict)
            and all(name in IMPLEMENTATIONS and _is_seconds(s) for name, s in entry["seconds"].items()))


def _read(path: Path) -> dict[str, dict]:
    """The valid entries of the cache file by key; nothing when the file is missing or not one of ours."""
    if not path.is_file():
        return {}
    try:
        data = safe_io.read_json(path, "autoselect cache")
    except safe_io.FileFormatError:
        return {}
    if (not isinstance(data, dict) or data.keys() != {"version", "choices"} or type(data["version"]) is not int
            or data["version"] != FORMAT_VERSION or not isinstance(data["choices"], dict)):
        return {}
    return {key: entry for key, entry in data["choices"].items() if _valid_entry(entry)}


def _write(path: Path, key: str, entry: dict) -> None:
    choices = _read(path)
    choices[key] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    safe_io.write_json(path, {"version": FORMAT_VERSION, "choices": choices})


def _persist(path: Path | None, key: str, entry: dict) -> None:
    if path is None:
        return
    try:
        _write(path, key, entry)
    except OSError as err:  # an unwritable cache costs a re-timing next time, nothing more
        warnings.warn(f"autoselect: could not write {path}: {err}", RuntimeWarning, stacklevel=4)


def timed_run(name: str, x: torch.Tensor, weight: torch.Tensor, dilation: int, grad: torch.Tensor) -> float:
    """Seconds of one forward + backward of implementation ``name`` (the hook tests replace)."""
    x.grad = weight.grad = None
    start = time.perf_counter()
    IMPLEMENTATIONS[name](x, weight, dilation).backward(grad)
    return time.perf_counter() - start


def _layer(x_shape: tuple[int, ...], taps: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random ``x`` and ``weight`` requiring gradients and an output gradient, for a layer of this shape."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(x_shape, dtype=dtype, generator=gen).requires_grad_()
    weight = torch.randn(x_shape[2], taps, dtype=dtype, generator=gen).requires_grad_()
    return x, weight, torch.randn(x_shape, dtype=dtype, generator=gen)


def _runs(name: str, layer: tuple, dilation: int, best_warmup: float) -> tuple[float, list[float]]:
    """(warm-up seconds, the timed runs' seconds) of ``name``; no timed runs when it is dropped."""
    x, weight, grad = layer
    warmup = timed_run(name, x, weight, dilation, grad)
    if warmup > DROP_FACTOR * best_warmup:
        return warmup, []
    repeats = min(MAX_REPEATS, max(REPEATS, math.ceil(MIN_SECONDS / max(warmup, 1e-9))))
    return warmup, [timed_run(name, x, weight, dilation, grad) for _ in range(repeats)]


def noisy(runs: dict[str, list[float]]) -> bool:
    """Whether some contender's timed runs (seconds, by candidate) disagree; see the module docstring."""
    timed = {name: r for name, r in runs.items() if r}
    best = min(statistics.median(r) for r in timed.values())
    contenders = [r for r in timed.values() if min(r) < NOISE_RATIO * best]
    return any(statistics.median(r) > NOISE_RATIO * min(r) for r in contenders)


def _measure(x_shape: tuple[int, ...], taps: int, dilation: int, dtype: torch.dtype,
             exact: bool) -> tuple[str, dict[str, float], bool]:
    """Time every candidate: (the winner, the median seconds of those not dropped, whether noisy)."""
    with torch.enable_grad():
        layer = _layer(x_shape, taps, dtype)
        runs: dict[str, list[float]] = {}
        best_warmup = math.inf
        for name in candidates(x_shape[0], exact):
            warmup, runs[name] = _runs(name, layer, dilation, best_warmup)
            best_warmup = min(best_warmup, warmup)
    medians = {name: statistics.median(r) for name, r in runs.items() if r}
    return min(medians, key=medians.get), medians, noisy(runs)


def _recheck(cached: str, default: str, x_shape: tuple[int, ...], taps: int, dilation: int,
             dtype: torch.dtype) -> dict[str, float]:
    """Seconds of one timed run of ``cached`` and of ``default``, each after one warm-up run (which
    absorbs first-call costs such as loading the Numba kernels)."""
    with torch.enable_grad():
        x, weight, grad = _layer(x_shape, taps, dtype)
        for name in (cached, default):
            timed_run(name, x, weight, dilation, grad)
        return {name: timed_run(name, x, weight, dilation, grad) for name in (cached, default)}


def _decide(key: str, x_shape: tuple[int, ...], taps: int, dilation: int, dtype: torch.dtype,
            exact: bool) -> Decision:
    """The decision for a key not yet chosen in this process: from the file, re-checked, or timed."""
    shape = describe(x_shape, taps, dilation, dtype, exact)
    allowed = candidates(x_shape[0], exact)
    default = allowed[0]
    path = cache_path()
    entry = _read(path).get(key) if path is not None else None
    cached = entry["impl"] if entry is not None and entry["impl"] in allowed else None
    if cached == default:
        _state["from_disk"] += 1
        return Decision(cached, CACHED, shape)
    if cached is not None:
        checked = _recheck(cached, default, x_shape, taps, dilation, dtype)
        if checked[cached] <= RECHECK_MARGIN * checked[default]:
            _state["from_disk"] += 1
            return Decision(cached, RECHECKED, shape, checked)
    impl, medians, is_noisy = _measure(x_shape, taps, dilation, dtype, exact)
    _state["timed"] += 1
    if not is_noisy:
        _persist(path, key, {"impl": impl, "seconds": medians})
    why = NOISY if is_noisy else STALE if cached is not None else TIMED
    return Decision(impl, why, shape, medians, cached)


def choose(x: torch.Tensor, weight: torch.Tensor, dilation: int, exact: bool) -> str:
    """The implementation to use for this shape (read, re-checked or timed on first use)."""
    fast = (x.shape, weight.shape[1], dilation, x.dtype, exact, torch.get_num_threads())
    if fast in _by_shape:
        return _by_shape[fast]
    key = shape_key(tuple(x.shape), weight.shape[1], dilation, x.dtype, exact)
    start = time.perf_counter()
    decision = _decide(key, tuple(x.shape), weight.shape[1], dilation, x.dtype, exact)
    _state["seconds"] += time.perf_counter() - start
    _decisions[key] = decision
    _by_shape[fast] = decision.impl
    return decision.impl


def _milliseconds(seconds: float) -> str:
    """``0.6 ms``, ``7.5 ms``, ``120 ms``: two significant digits below 100 ms."""
    ms = seconds * 1e3
    return f"{ms:.2g} ms" if ms < 100 else f"{ms:.0f} ms"


def _one_line(decision: Decision) -> str:
    """One decision: ``fused for [T=.., ...] (timed: fused 0.6 ms, fft 7.5 ms)``, fastest first."""
    times = ", ".join(f"{name} {_milliseconds(s)}" for name, s in sorted(decision.seconds.items(), key=lambda i: i[1]))
    why = f"cached {decision.stale} too slow so re-timed" if decision.why == STALE else decision.why
    return f"{decision.impl} for {decision.shape} ({why}{': ' + times if times else ''})"


def summary() -> str:
    """One line for logs: the one decision in full, or per implementation how many shapes chose it and
    why; empty when nothing was chosen automatically."""
    decisions = list(_decisions.values())
    if not decisions:
        return ""
    if len(decisions) == 1:
        return f"autoselect in {_state['seconds']:.1f} s: {_one_line(decisions[0])}"
    groups = []
    for impl, count in Counter(d.impl for d in decisions).most_common():
        whys = Counter(d.why for d in decisions if d.impl == impl)
        groups.append(f"{impl} for {count} ({', '.join(f'{n} {why}' for why, n in whys.most_common())})")
    return f"autoselect in {_state['seconds']:.1f} s, {len(decisions)} shapes: " + "; ".join(groups)


def autoselect_report() -> dict:
    """Seconds spent choosing in this process, how many keys were timed fully or taken from disk, the
    choices by shape key, the decisions (why, seconds per run) and the one-line ``summary``."""
    return {**_state, "choices": {key: d.impl for key, d in _decisions.items()},
            "decisions": {key: asdict(d) for key, d in _decisions.items()}, "summary": summary()}


def reset() -> None:
    """Forget the in-process choices and counters (the disk cache is untouched)."""
    _decisions.clear()
    _by_shape.clear()
    _state.update(seconds=0.0, timed=0, from_disk=0)
