"""Run configuration: data, architecture and training, validated with clear one-line errors.

A config is a TOML file (or a preset, :mod:`shiftspike.quant.presets`) with
three tables::

    [data]            # name = "digits" | "digits-pixels" | "long" | "shd" | "scifar", path, params
    [model]           # neuron kind, layer list, taps, dilation schedule, quantization
    [train]           # epochs, batch_size, lr, optimizer, schedule, seed

Unknown keys are errors, and types are strict: ``epochs = "1"`` or ``epochs = true``
is refused (a float key accepts an integer). ``docs/training.md`` lists every key.
A run directory's ``config.json`` (written by training) is read back with
:func:`read_run_config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from shiftspike.sim import safe_io
from shiftspike.sim.errors import FileFormatError, ShiftspikeError

NEURONS = ("mulfree", "float", "psn", "masked-psn", "sliding-psn", "lif", "lif-soft", "psu", "ipsu", "rpsu",
           "dyndecay", "dyndecay-int", "saf")
#: The temporal-convolution implementations a config may name (``quant.temporal``), and ``auto``.
IMPLS = ("fused", "auto", "conv1d", "taploop", "toeplitz", "fft")


#: Most layers a model may list.
MAX_LAYERS = 256
#: File name of the resolved config in a run directory.
RUN_CONFIG = "config.json"


class ConfigError(ShiftspikeError, ValueError):
    """A configuration is invalid; the message is one line naming the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DenseLayer(_Strict):
    type: Literal["dense"]
    features: int = Field(ge=1, le=1 << 16)


class ConvLayer(_Strict):
    """1-D convolution over space; ``padding`` defaults to ``kernel // 2`` (same length for odd kernels)."""

    type: Literal["conv"]
    channels: int = Field(ge=1, le=1 << 12)
    kernel: int = Field(ge=1, le=64)
    stride: int = Field(default=1, ge=1, le=64)
    padding: int | None = Field(default=None, ge=0)


class PoolLayer(_Strict):
    type: Literal["pool"]
    window: int = Field(ge=1, le=64)


class NeuronLayer(_Strict):
    type: Literal["neuron"]


class DropoutLayer(_Strict):
    type: Literal["dropout"]
    p: float = Field(ge=0.0, lt=1.0)


class ReadoutLayer(_Strict):
    type: Literal["readout"]


Layer = Annotated[Union[DenseLayer, ConvLayer, PoolLayer, NeuronLayer, DropoutLayer, ReadoutLayer],
                  Field(discriminator="type")]


class SurrogateConfig(_Strict):
    name: Literal["atan", "sigmoid", "rect"] = "atan"
    alpha: float = Field(default=2.0, gt=0)


class DataConfig(_Strict):
    name: str = "digits"
    path: str | None = None
    params: dict[str, int | float | str] = Field(default_factory=dict)


class ModelConfig(_Strict):
    """``neuron``: ``mulfree`` (quantized, exportable) or a float baseline; ``layers`` ends with a readout."""

    neuron: Literal[NEURONS] = "mulfree"
    layers: list[Layer] = Field(min_length=2, max_length=MAX_LAYERS)
    taps: int = Field(default=8, ge=1, le=1024)
    dilation_period: int = Field(default=3, ge=1, le=4096)
    dilations: list[Annotated[int, Field(ge=1, le=4096)]] | None = Field(default=None, max_length=MAX_LAYERS)
    shift_max: int = Field(default=7, ge=0, le=24)
    #: ``[e_min, e_max]``; a TOML or JSON list, so the tuple itself is not strict (its integers are).
    exp_window: tuple[int, int] | None = Field(default=None, strict=False)
    weight_bits: int = Field(default=8, ge=2, le=16)
    pow2_weights: bool = False
    surrogate: SurrogateConfig = SurrogateConfig()
    tau: float = Field(default=2.0, gt=1.0)
    #: Threshold of the PSU family, the dynamic-decay neuron and the SAF-trained LIF (the PSU authors'
    #: default 0.5; 0.3 for speech).
    v_threshold: float = Field(default=0.5, gt=0.0)
    #: Most spikes per step of ``dyndecay-int``.
    max_spikes: int = Field(default=4, ge=1, le=64)
    #: The temporal convolution. Its summation order is part of the float arithmetic, so the default is one
    #: fixed implementation: the same seed trains the same weights on every machine. ``auto`` times the
    #: candidates and may pick another (faster here, rounded differently) on a loaded or other machine.
    impl: Literal[IMPLS] = "fused"

    @model_validator(mode="after")
    def _check(self) -> "ModelConfig":
        if self.layers[-1].type != "readout" or any(layer.type == "readout" for layer in self.layers[:-1]):
            raise ValueError("layers: exactly one readout, as the last layer")
        neurons = sum(layer.type == "neuron" for layer in self.layers)
        if self.dilations is not None and len(self.dilations) != neurons:
            raise ValueError(f"dilations: {len(self.dilations)} given for {neurons} neuron layers")
        if self.exp_window is not None and self.exp_window[0] > self.exp_window[1]:
            raise ValueError("exp_window: e_min must be <= e_max")
        return self

    @property
    def quantize(self) -> bool:
        return self.neuron == "mulfree"

    def dilation_schedule(self) -> list[int]:
        """Dilation per neuron layer: explicit, or sawtooth 1, 2, .., period, 1, 2, .."""
        neurons = sum(layer.type == "neuron" for layer in self.layers)
        return list(self.dilations) if self.dilations is not None else \
            [i % self.dilation_period + 1 for i in range(neurons)]


class TrainConfig(_Strict):
    epochs: int = Field(default=20, ge=1, le=100000)
    batch_size: int = Field(default=64, ge=1, le=1 << 16)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    schedule: Literal["cosine", "constant"] = "cosine"
    seed: int = Field(default=0, ge=0)


class RunConfig(_Strict):
    data: DataConfig = DataConfig()
    model: ModelConfig
    train: TrainConfig = TrainConfig()


def _one_line(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "config"
    return f"{source}: {where}: {first['msg']}" + (f" (and {error.error_count() - 1} more)"
                                                   if error.error_count() > 1 else "")


def validate(raw: dict, source: str = "config") -> RunConfig:
    """A :class:`RunConfig` from plain data, or :class:`ConfigError` naming the first bad key."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_one_line(error, source)) from None


def load(path: str | Path) -> RunConfig:
    """Read and validate a TOML config file (guarded: size, nesting, integer length)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    try:
        raw = safe_io.read_toml(path, "TOML config")
    except FileFormatError as error:
        raise ConfigError(str(error)) from None
    return validate(raw, str(path))


def read_run_config(run_dir: str | Path) -> RunConfig:
    """The validated config of run directory ``run_dir`` (its ``config.json``, written by training)."""
    path = Path(run_dir) / RUN_CONFIG
    if not path.exists():
        raise ConfigError(f"{path}: no such file (a run directory written by `shiftspike train`)")
    try:
        raw = safe_io.read_json(path, "run config")
    except FileFormatError as error:
        raise ConfigError(str(error)) from None
    return validate(raw, str(path))
