"""The integer model: the in-memory form of the contract shared by every stage.

A model is a feed-forward chain of layers applied at every time step to an
input of shape ``[T, B, channels * length]``. Activations between layers are
``TensorSpec``-described: either spikes (values 0/1) or signed integers of a
declared width, laid out channel-major (``features = channels * length``).

All validation lives here: constructing a layer or a model with an
inconsistent shape, value or width raises :class:`ModelError` naming the
offending field. Integer arrays of any dtype are accepted and stored in the
dtype of their declared width (``tensor_dtype``); the file loader, in
addition, requires the stored dtype to be exactly that one. ``docs/semantics.md`` defines what each layer computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from . import fixed
from .errors import ShiftspikeError

SPIKE = "spike"
INT = "int"


class ModelError(ShiftspikeError, ValueError):
    """A model (or model file) is malformed. ``field`` names the offending item."""

    def __init__(self, field_name: str, problem: str):
        self.field = field_name
        super().__init__(f"{field_name}: {problem}")


@dataclass(frozen=True)
class TensorSpec:
    """Type and shape of one activation at one time step.

    ``kind`` is ``"spike"`` (values 0/1, ``width`` 1) or ``"int"`` (signed,
    ``width`` bits). ``channels`` x ``length`` is the per-sample feature shape.
    """

    kind: str
    width: int
    channels: int
    length: int = 1

    @property
    def features(self) -> int:
        return self.channels * self.length

    @property
    def value_range(self) -> tuple[int, int]:
        """Inclusive ``(lo, hi)`` of the values this tensor may hold."""
        return (0, 1) if self.kind == SPIKE else fixed.signed_range(self.width)

    @property
    def dtype(self) -> np.dtype:
        """Storage dtype: int8 for spikes, the smallest signed dtype otherwise."""
        return np.dtype(np.int8) if self.kind == SPIKE else fixed.storage_dtype(self.width)

    def to_json(self) -> dict:
        return {"kind": self.kind, "width": self.width, "channels": self.channels, "length": self.length}

    @classmethod
    def from_json(cls, where: str, obj) -> "TensorSpec":
        """Parse a file header's spec: every key of :data:`SPEC_KEYS` required, no other key; a spike's
        ``width`` is 1."""
        check_keys(where, obj, SPEC_KEYS)
        kind = _choice(f"{where}.kind", obj["kind"], (SPIKE, INT))
        if kind == SPIKE:
            width = _int(f"{where}.width", obj["width"], 1, 1)
        else:
            width = _int(f"{where}.width", obj["width"], 1, fixed.MAX_VALUE_WIDTH)
        return cls(
            kind,
            width,
            _int(f"{where}.channels", obj["channels"], 1, fixed.MAX_FEATURES),
            _int(f"{where}.length", obj["length"], 1, fixed.MAX_FEATURES),
        )


#: Keys of a tensor spec in a file header, all required.
SPEC_KEYS = ("kind", "width", "channels", "length")


def check_keys(where: str, obj, keys) -> None:
    """Require ``obj`` to be a JSON object holding exactly ``keys``; else :class:`ModelError` naming the first
    missing or unknown key."""
    if not isinstance(obj, dict):
        raise ModelError(where, "must be an object")
    missing = [key for key in keys if key not in obj]
    if missing:
        raise ModelError(f"{where}.{missing[0]}", "missing (every key is required)")
    unknown = sorted(str(key) for key in obj if key not in keys)
    if unknown:
        raise ModelError(f"{where}.{unknown[0][:40]}", f"unknown key (allowed: {', '.join(keys)})")


def _show(value) -> str:
    """``repr(value)`` cut to 40 characters, for messages about untrusted values."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _int(where: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ModelError(where, f"must be an integer, got {_show(value)}")
    if not lo <= int(value) <= hi:
        raise ModelError(where, f"{int(value)} out of range [{lo}, {hi}]")
    return int(value)


def _choice(where: str, value, options) -> str:
    if value not in options:
        raise ModelError(where, f"must be one of {', '.join(map(repr, options))}, got {_show(value)}")
    return value


def _tensor(where: str, array, shape: tuple, dtype: np.dtype, lo: int, hi: int) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise ModelError(where, f"must be a NumPy array, got {type(array).__name__}")
    if array.dtype.kind not in "iu":
        raise ModelError(where, f"dtype {array.dtype} is not an integer type")
    if array.shape != shape:
        raise ModelError(where, f"shape {array.shape} does not match expected {shape}")
    if array.size:
        amin, amax = int(array.min()), int(array.max())
        if amin < lo or amax > hi:
            bad = amin if amin < lo else amax
            raise ModelError(where, f"value {bad} out of range [{lo}, {hi}]")
    array = np.ascontiguousarray(array, dtype)
    array.setflags(write=False)
    return array


def tensor_dtype(where: str, name: str, params: dict) -> np.dtype:
    """Storage dtype of tensor ``name`` of the layer at ``where`` whose header is ``params``."""
    if name in ("sign", "shift"):
        return np.dtype(np.int8)
    if name == "weight":
        return fixed.storage_dtype(_int(f"{where}.weight_width", params.get("weight_width"), 2, fixed.MAX_VALUE_WIDTH))
    return fixed.storage_dtype(_int(f"{where}.acc_width", params.get("acc_width"), 2, fixed.MAX_ACC_WIDTH))


@dataclass(frozen=True, eq=False)
class Layer:
    """Base of all layers. Subclasses define ``type``, scalar ``params`` and ``tensors``."""

    type: ClassVar[str]

    def out_spec(self, where: str, inp: TensorSpec) -> TensorSpec:
        """Validate this layer against its input spec; return the output spec."""
        raise NotImplementedError

    def params(self) -> dict:
        """Scalar parameters as JSON-able values (file header)."""
        raise NotImplementedError

    def tensors(self) -> dict[str, np.ndarray]:
        """Named integer tensors (file body)."""
        raise NotImplementedError


def _check_acc(where: str, acc_width: int, overflow: str) -> None:
    _int(f"{where}.acc_width", acc_width, 2, fixed.MAX_ACC_WIDTH)
    _choice(f"{where}.overflow", overflow, fixed.OVERFLOW_MODES)


@dataclass(frozen=True, eq=False)
class _Synapse(Layer):
    """Shared fields and checks of the weighted layers (dense, conv1d)."""

    weight: np.ndarray
    bias: np.ndarray | None
    weight_width: int
    acc_width: int
    overflow: str = fixed.WRAP

    def _check_synapse(self, where: str, inp: TensorSpec, ndim: int, in_shape: tuple) -> int:
        """Validate widths, ``weight [C_out, *in_shape]`` and ``bias [C_out]``; return ``C_out``."""
        _check_acc(where, self.acc_width, self.overflow)
        _int(f"{where}.weight_width", self.weight_width, 2, fixed.MAX_VALUE_WIDTH)
        if not isinstance(self.weight, np.ndarray) or self.weight.ndim != ndim:
            raise ModelError(f"{where}.weight", f"must be a {ndim}-D array")
        c_out = _int(f"{where}.weight.shape[0]", self.weight.shape[0], 1, fixed.MAX_FEATURES)
        lo, hi = fixed.signed_range(self.weight_width)
        object.__setattr__(
            self, "weight",
            _tensor(f"{where}.weight", self.weight, (c_out, *in_shape), fixed.storage_dtype(self.weight_width), lo, hi),
        )
        if self.bias is not None:
            lo, hi = fixed.signed_range(self.acc_width)
            object.__setattr__(
                self, "bias", _tensor(f"{where}.bias", self.bias, (c_out,), fixed.storage_dtype(self.acc_width), lo, hi)
            )
        if inp.width + self.weight_width > fixed.MAX_TERM_WIDTH:
            raise ModelError(f"{where}.weight_width", "input width + weight width exceeds the exact int64 range")
        return c_out

    def params(self) -> dict:
        return {"weight_width": self.weight_width, "acc_width": self.acc_width, "overflow": self.overflow}

    def tensors(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight} | ({} if self.bias is None else {"bias": self.bias})


@dataclass(frozen=True, eq=False)
class Dense(_Synapse):
    """Fully connected synapse: ``I[c] = bias[c] + sum_j weight[c, j] * x[j]``.

    ``weight``: ``[C_out, C_in]`` of ``weight_width``-bit ints; ``bias``: ``[C_out]``
    of ``acc_width``-bit ints or None. Output: ``int<acc_width>``, ``C_out`` channels.
    """

    type: ClassVar[str] = "dense"

    def out_spec(self, where: str, inp: TensorSpec) -> TensorSpec:
        if inp.features > fixed.MAX_TERMS:
            raise ModelError(f"{where}.weight", "C_in exceeds the maximum number of accumulated terms")
        return TensorSpec(INT, self.acc_width, self._check_synapse(where, inp, 2, (inp.features,)), 1)


@dataclass(frozen=True, eq=False)
class Conv1d(_Synapse):
    """1-D convolution over space (the ``length`` axis), zero padded, applied at every step.

    ``weight``: ``[C_out, C_in, K]``; ``bias``: ``[C_out]`` or None.
    ``I[c, l] = bias[c] + sum_{ci, j} weight[c, ci, j] * x[ci, l * stride + j - padding]``.
    Output: ``int<acc_width>``, ``C_out`` x ``(L + 2 padding - K) // stride + 1``.
    """

    stride: int = 1
    padding: int = 0
    type: ClassVar[str] = "conv1d"

    def out_spec(self, where: str, inp: TensorSpec) -> TensorSpec:
        _int(f"{where}.stride", self.stride, 1, fixed.MAX_STRIDE)
        if not isinstance(self.weight, np.ndarray) or self.weight.ndim != 3:
            raise ModelError(f"{where}.weight", "must be a 3-D array [C_out, C_in, K]")
        ksize = _int(f"{where}.weight.shape[2]", self.weight.shape[2], 1, fixed.MAX_KERNEL)
        _int(f"{where}.padding", self.padding, 0, ksize - 1)
        if inp.channels * ksize > fixed.MAX_TERMS:
            raise ModelError(f"{where}.weight", "C_in * K exceeds the maximum number of accumulated terms")
        c_out = self._check_synapse(where, inp, 3, (inp.channels, ksize))
        length = (inp.length + 2 * self.padding - ksize) // self.stride + 1
        if length < 1:
            raise ModelError(f"{where}.weight", f"kernel {ksize} longer than the padded input length {inp.length}")
        return TensorSpec(INT, self.acc_width, c_out, length)

    def params(self) -> dict:
        return super().params() | {"stride": self.stride, "padding": self.padding}


@dataclass(frozen=True, eq=False)
class SumPool(Layer):
    """Sum pooling over space: ``y[c, l] = sum_{j < window} x[c, l * window + j]``.

    Non-overlapping windows; trailing positions that do not fill a window are dropped.
    Output: ``int<acc_width>``, ``C`` x ``L // window``.
    """

    window: int
    acc_width: int
    overflow: str = fixed.WRAP
    type: ClassVar[str] = "sumpool"

    def out_spec(self, where: str, inp: TensorSpec) -> TensorSpec:
        _check_acc(where, self.acc_width, self.overflow)
        _int(f"{where}.window", self.window, 1, min(inp.length, fixed.MAX_TERMS))
        return TensorSpec(INT, self.acc_width, inp.channels, inp.length // self.window)

    def params(self) -> dict:
        return {"window": self.window, "acc_width": self.acc_width, "overflow": self.overflow}

    def tensors(self) -> dict[str, np.ndarray]:
        return {}


@dataclass(frozen=True, eq=False)
class Neuron(Layer):
    """Multiplication-free channel-wise parallel spiking neuron (no reset).

    ``sign``: ``[C, k]`` int8 in {-1, 0, +1}; ``shift``: ``[C, k]`` int8 in
    ``[0, shift_max]``; ``theta``: ``[C]`` of ``acc_width``-bit ints.
    ``H[t, c] = sum_i sign[c, i] * (X[t - i * dilation, c] << shift[c, i])``
    (X = 0 before t = 0), accumulated at ``acc_width`` bits;
    ``S[t, c] = H[t, c] >= theta[c]``. The same parameters serve every spatial
    position of channel ``c``. Output: spikes, same shape as the input.
    """

    sign: np.ndarray
    shift: np.ndarray
    theta: np.ndarray
    dilation: int
    shift_max: int
    acc_width: int
    overflow: str = fixed.WRAP
    type: ClassVar[str] = "neuron"

    @property
    def taps(self) -> int:
        return int(self.sign.shape[1])

    @property
    def depth(self) -> int:
        """Inputs of history one channel keeps: ``(taps - 1) * dilation + 1``."""
        return (self.taps - 1) * self.dilation + 1

    @property
    def coef_width(self) -> int:
        """Signed width holding every tap weight ``sign * 2**shift``: ``shift_max + 2`` bits."""
        return self.shift_max + 2

    @property
    def coef(self) -> np.ndarray:
        """``sign * 2**shift`` as int64 ``[C, k]``: the tap weights the shifts realize."""
        return self.sign.astype(np.int64) << self.shift.astype(np.int64)

    def out_spec(self, where: str, inp: TensorSpec) -> TensorSpec:
        _check_acc(where, self.acc_width, self.overflow)
        _int(f"{where}.dilation", self.dilation, 1, fixed.MAX_DILATION)
        _int(f"{where}.shift_max", self.shift_max, 0, fixed.MAX_SHIFT)
        if not isinstance(self.sign, np.ndarray) or self.sign.ndim != 2:
            raise ModelError(f"{where}.sign", "must be a 2-D array [C, taps]")
        taps = _int(f"{where}.sign.shape[1]", self.sign.shape[1], 1, fixed.MAX_TAPS)
        shape = (inp.channels, taps)
        object.__setattr__(self, "sign", _tensor(f"{where}.sign", self.sign, shape, np.dtype(np.int8), -1, 1))
        object.__setattr__(
            self, "shift", _tensor(f"{where}.shift", self.shift, shape, np.dtype(np.int8), 0, self.shift_max)
        )
        lo, hi = fixed.signed_range(self.acc_width)
        object.__setattr__(
            self, "theta",
            _tensor(f"{where}.theta", self.theta, (inp.channels,), fixed.storage_dtype(self.acc_width), lo, hi),
        )
        if inp.width + self.shift_max + 1 > fixed.MAX_TERM_WIDTH:
            raise ModelError(f"{where}.shift_max", "input width + shift_max exceeds the exact int64 range")
        return TensorSpec(SPIKE, 1, inp.channels, inp.length)

    def params(self) -> dict:
        return {
            "dilation": self.dilation, "shift_max": self.shift_max,
            "acc_width": self.acc_width, "overflow": self.overflow,
        }

    def tensors(self) -> dict[str, np.ndarray]:
        return {"sign": self.sign, "shift": self.shift, "theta": self.theta}


@dataclass(frozen=True, eq=False)
class Readout(Layer):
    """Integer readout: ``M[t, f] = sum_{u <= t} x[u, f]`` at ``acc_width`` bits.

    The class of a sample is ``argmax_f M[T - 1, f]`` (lowest index on ties).
    Must be the last layer. Output: ``int<acc_width>``, same shape as the input.
    """

    acc_width: int
    overflow: str = fixed.WRAP
    type: ClassVar[str] = "readout"

    def out_spec(self, where: str, inp: TensorSpec) -> TensorSpec:
        _check_acc(where, self.acc_width, self.overflow)
        return TensorSpec(INT, self.acc_width, inp.channels, inp.length)

    def params(self) -> dict:
        return {"acc_width": self.acc_width, "overflow": self.overflow}

    def tensors(self) -> dict[str, np.ndarray]:
        return {}


LAYER_TYPES: dict[str, type[Layer]] = {cls.type: cls for cls in (Dense, Conv1d, SumPool, Neuron, Readout)}


@dataclass(frozen=True, eq=False)
class IntegerModel:
    """A validated integer model.

    ``input``: spec of one time step of input; ``timesteps``: the nominal sequence
    length T (used by the bound analysis, the default report input and the
    per-sample energy); ``layers``: the chain. ``specs[i]`` is the input spec of
    layer ``i`` and ``specs[-1]`` the model output spec.
    """

    input: TensorSpec
    timesteps: int
    layers: tuple[Layer, ...]
    specs: tuple[TensorSpec, ...] = field(init=False)

    def __post_init__(self):
        if not isinstance(self.input, TensorSpec):
            raise ModelError("input", "must be a TensorSpec")
        _int("timesteps", self.timesteps, 1, fixed.MAX_TIMESTEPS)
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise ModelError("layers", "a model needs at least one layer")
        if len(self.layers) > fixed.MAX_LAYERS:
            raise ModelError("layers", f"{len(self.layers)} layers, more than the limit of {fixed.MAX_LAYERS}")
        specs = [self.input]
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise ModelError(f"layers[{i}]", f"not a layer: {type(layer).__name__}")
            if isinstance(layer, Readout) and i != len(self.layers) - 1:
                raise ModelError(f"layers[{i}]", "a readout must be the last layer")
            specs.append(layer.out_spec(f"layers[{i}]", specs[-1]))
        for i, spec in enumerate(specs):
            if spec.features > fixed.MAX_FEATURES:
                where = "input" if i == 0 else f"layers[{i - 1}]"
                raise ModelError(where, f"{spec.channels} x {spec.length} = {spec.features} values per step "
                                        f"exceeds the limit of {fixed.MAX_FEATURES}")
        object.__setattr__(self, "specs", tuple(specs))

    @property
    def output(self) -> TensorSpec:
        return self.specs[-1]

    def neuron_layers(self) -> list[int]:
        """Indices of the neuron layers."""
        return [i for i, layer in enumerate(self.layers) if isinstance(layer, Neuron)]
