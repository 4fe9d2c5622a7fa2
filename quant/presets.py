"""Presets: the published architectures, scaled by ``width`` (channels) so they train on a CPU.

Each preset is a plain config dict (the TOML layout of :mod:`shiftspike.quant.config`).
The ``BN`` of the published diagrams is the neuron's own threshold BatchNorm,
which the mul-free neuron fuses into its kernel; it is not a separate layer.

* ``digits`` (default): sequential 8x8 digits row by row (T = 8), MLP
  ``{FC128 - neuron - dropout} x 2 - FC10``, k = 8.
* ``digits-pixels``: pixel by pixel (T = 64), ``{FC128 - neuron - dropout} x 2 - FC128 - neuron - FC10``, k = 16.
* ``scifar``: sequential CIFAR-10 (one column per step, T = 32),
  ``{{conv128 k3 - neuron} x 3 - sumpool2} x 2 - FC256 - neuron - FC10``.
* ``shd``: Spiking Heidelberg Digits (T = 100, 700 inputs), ``{FC256 - neuron - dropout} x 2 - FC20``,
  arctan surrogate with alpha = 5 (the speech setting).
* ``long``: the synthetic long-dependency task, ``{FC64 - neuron} x 2 - FC``, k = 16, d sawtooth up to 4.
"""

from __future__ import annotations

PRESETS = ("digits", "digits-pixels", "scifar", "shd", "long")
DEFAULT = "digits"


def _fc(features: int) -> dict:
    return {"type": "dense", "features": features}


NEURON = {"type": "neuron"}
READOUT = {"type": "readout"}
DROPOUT = {"type": "dropout", "p": 0.2}


def _scaled(n: int, width: float) -> int:
    return max(1, round(n * width))


#: Largest hidden-size factor (a finite bound; the parameter budget of ``quant.budget`` still applies).
MAX_WIDTH = 64.0


def preset(name: str, width: float = 1.0) -> dict:
    """The raw config of preset ``name`` with hidden sizes multiplied by ``width``."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    if not 0 < width <= MAX_WIDTH:
        raise ValueError(f"width must be > 0 and at most {MAX_WIDTH}, got {width}")
    w = lambda n: _scaled(n, width)  # noqa: E731
    if name == "digits":
        layers = [_fc(w(128)), NEURON, DROPOUT, _fc(w(128)), NEURON, DROPOUT, _fc(10), READOUT]
        return {"data": {"name": "digits"},
                "model": {"layers": layers, "taps": 8, "dilation_period": 2},
                "train": {"epochs": 40, "batch_size": 32, "lr": 3e-3}}
    if name == "digits-pixels":
        layers = [_fc(w(128)), NEURON, DROPOUT, _fc(w(128)), NEURON, DROPOUT, _fc(w(128)), NEURON, _fc(10), READOUT]
        return {"data": {"name": "digits-pixels"},
                "model": {"layers": layers, "taps": 16, "dilation_period": 3},
                "train": {"epochs": 40, "batch_size": 32, "lr": 3e-3}}
    if name == "scifar":
        block = [{"type": "conv", "channels": w(128), "kernel": 3}, NEURON]
        stage = block * 3 + [{"type": "pool", "window": 2}]
        layers = stage * 2 + [_fc(w(256)), NEURON, _fc(10), READOUT]
        return {"data": {"name": "scifar"},
                "model": {"layers": layers, "taps": 8, "dilation_period": 3},
                "train": {"epochs": 20, "batch_size": 64, "lr": 1e-3}}
    if name == "shd":
        block = [_fc(w(256)), NEURON, {"type": "dropout", "p": 0.2}]
        return {"data": {"name": "shd"},
                "model": {"layers": block * 2 + [_fc(20), READOUT], "taps": 16, "dilation_period": 3,
                          "surrogate": {"name": "atan", "alpha": 5.0}},
                "train": {"epochs": 30, "batch_size": 64, "lr": 1e-3}}
    layers = [_fc(w(64)), NEURON, _fc(w(64)), NEURON, _fc(4), READOUT]
    return {"data": {"name": "long", "params": {"classes": 4}},
            "model": {"layers": layers, "taps": 16, "dilation_period": 4},
            "train": {"epochs": 20, "batch_size": 32, "lr": 2e-3}}
