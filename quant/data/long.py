"""``long``: a synthetic long-dependency task of any length (spike input).

A sample of length ``T = timesteps`` over ``C = channels`` input channels:

* steps ``[0, cue_steps)``: the cue, the class's fixed spike pattern on
  channels ``0 .. C-2`` (no noise);
* steps ``[cue_steps, T - marker_steps)``: noise, every (step, channel) of
  channels ``0 .. C-2`` spikes independently with probability ``noise_rate``;
* steps ``[T - marker_steps, T)``: the "answer now" marker, channel ``C-1`` spikes
  (it is silent everywhere else; the other channels are silent here).

The label is the cue's class. To answer, a network must carry the cue across
``T - cue_steps - marker_steps`` noise steps. Class patterns are distinct,
non-empty, and drawn from ``seed`` alone (the same for train and test); the
labels (exactly balanced up to one, in random order) and the noise come from
per-split seeds derived from ``seed``, so train and test differ and both are
reproducible.

Generation is vectorized and memory-light: the sample is built as uint8
(``N*T*C`` bytes) and noise positions are drawn as geometric gaps of a
Bernoulli process in bounded chunks, so the work is proportional to the number
of noise spikes. ``x`` is then materialized once as float32 (``4*N*T*C``
bytes, refused above ``max_bytes``); e.g. ``T = 16384`` with 8 channels and
1000 samples is 500 MiB.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .base import SPIKE, DataError, InputInfo, SequenceData, check_memory, float_param, int_param, to_float

NAME = "long"
DEFAULTS = {
    "timesteps": 256,
    "channels": 8,
    "classes": 4,
    "cue_steps": 4,
    "marker_steps": 1,
    "noise_rate": 0.05,
    "samples": (1000, 200),
    "seed": 0,
}
MAX_TIMESTEPS = 1 << 20
_CHUNK = 1 << 22  # noise spikes drawn per chunk
_SPLIT_STREAM = {"train": 1, "test": 2}  # SeedSequence entropy [seed, stream]; stream 0 = cue patterns


def cue_patterns(seed: int, classes: int, cue_steps: int, channels: int) -> np.ndarray:
    """uint8 ``[classes, cue_steps, channels - 1]``: distinct, non-empty class cues drawn from ``seed``."""
    cue_channels = channels - 1
    bits = cue_steps * cue_channels
    if bits < 63 and (1 << bits) - 1 < classes:
        raise DataError(
            f"{NAME}: cue_steps*(channels-1) = {bits} bits give only {(1 << bits) - 1} distinct cues "
            f"for {classes} classes (raise cue_steps or channels)"
        )
    rng = np.random.default_rng([seed, 0])
    if bits <= 24:
        codes = rng.choice((1 << bits) - 1, size=classes, replace=False) + 1
        flat = (codes[:, None] >> np.arange(bits)) & 1
    else:
        flat = rng.integers(0, 2, size=(classes, bits))
        while True:  # collisions have probability < classes^2 / 2^25; redraw the offending rows
            _, first = np.unique(flat, axis=0, return_index=True)
            bad = np.setdiff1d(np.arange(classes), first)
            bad = np.union1d(bad, np.flatnonzero(flat.sum(axis=1) == 0))
            if bad.size == 0:
                break
            flat[bad] = rng.integers(0, 2, size=(bad.size, bits))
    return flat.reshape(classes, cue_steps, cue_channels).astype(np.uint8)


def _params(params: dict) -> dict:
    p = {**DEFAULTS, **params}
    out = {
        "channels": int_param(NAME, "channels", p["channels"], 2, 1 << 20),
        "classes": int_param(NAME, "classes", p["classes"], 2, 1 << 16),
        "cue_steps": int_param(NAME, "cue_steps", p["cue_steps"], 1, MAX_TIMESTEPS),
        "marker_steps": int_param(NAME, "marker_steps", p["marker_steps"], 1, MAX_TIMESTEPS),
        "noise_rate": float_param(NAME, "noise_rate", p["noise_rate"], 0.0, 1.0),
        "seed": int_param(NAME, "seed", p["seed"], 0, None),
    }
    if 0.0 < out["noise_rate"] < 1e-12:
        raise DataError(f"{NAME}: parameter noise_rate={out['noise_rate']} is neither 0 nor >= 1e-12")
    floor = out["cue_steps"] + out["marker_steps"]
    out["timesteps"] = int_param(NAME, "timesteps", p["timesteps"], floor, MAX_TIMESTEPS)
    samples = p["samples"]
    if isinstance(samples, (tuple, list)):
        if len(samples) != 2:
            raise DataError(f"{NAME}: parameter samples={samples!r} is not an integer or a (train, test) pair")
        out["samples"] = tuple(int_param(NAME, "samples", s, 1, None) for s in samples)
    else:
        n = int_param(NAME, "samples", samples, 1, None)
        out["samples"] = (n, n)
    return out


def _add_noise(x: np.ndarray, rng: np.random.Generator, start: int, steps: int, rate: float) -> None:
    """Set each cell of ``x[:, start:start+steps, :-1]`` to 1 with probability ``rate``, in place."""
    n, T, C = x.shape
    per_sample = steps * (C - 1)
    total = n * per_sample
    if rate == 0.0 or total == 0:
        return
    flat = x.reshape(-1)
    last = -1  # position of the last spike drawn (positions index the noise cells in order)
    while last < total - 1:
        remaining = total - 1 - last
        mean = remaining * rate
        k = int(min(_CHUNK, mean + 6 * math.sqrt(mean) + 64))
        pos = last + np.cumsum(rng.geometric(rate, size=k))  # gaps of a Bernoulli process
        pos = pos[pos < total]
        if pos.size == 0:
            break
        last = int(pos[-1])
        if pos.size < k:  # the chunk ran past the end: every cell has been decided
            last = total - 1
        i, r = np.divmod(pos, per_sample)
        d, c = np.divmod(r, C - 1)
        flat[(i * T + start + d) * C + c] = 1


def describe(**params) -> InputInfo:
    """The input for ``params`` without generating it: ``timesteps`` steps of ``channels`` spike channels."""
    p = _params(params)
    return InputInfo(SPIKE, 1, 1.0, channels=p["channels"], length=1, timesteps=p["timesteps"])


def load(split: str, path=None, *, max_bytes: int, **params) -> SequenceData:
    p = _params(params)
    T, C, classes = p["timesteps"], p["channels"], p["classes"]
    cue, marker = p["cue_steps"], p["marker_steps"]
    n = p["samples"][0 if split == "train" else 1]
    check_memory(NAME, (n, T, C, 1), max_bytes)
    patterns = cue_patterns(p["seed"], classes, cue, C)
    rng = np.random.default_rng([p["seed"], _SPLIT_STREAM[split]])
    y = rng.permutation(np.arange(n, dtype=np.int64) % classes)
    x = np.zeros((n, T, C), np.uint8)
    x[:, :cue, : C - 1] = patterns[y]
    _add_noise(x, rng, cue, T - cue - marker, p["noise_rate"])
    x[:, T - marker :, C - 1] = 1
    info = InputInfo(SPIKE, 1, 1.0, channels=C, length=1, timesteps=T)
    return SequenceData(to_float(x, 1.0).unsqueeze(-1), torch.from_numpy(y), info, classes, NAME)
