"""Random integer models and inputs for tests, benchmarks and RTL verification.

Every argument is optional; an argument left as None is drawn from the seeded
generator, so ``random_model(seed=s)`` explores the whole space of models the
format allows (spike or integer input, conv and pooling or not, several neuron
layers, k = 1, d > 1, zero taps, shift 0 and ``shift_max``, both overflow
modes, widths from overflow-free down to narrow enough to wrap or saturate).
"""

from __future__ import annotations

import numpy as np

from . import fixed
from .bounds import layer_interval, output_interval, required_width
from .model import INT, SPIKE, Conv1d, Dense, IntegerModel, Layer, Neuron, Readout, SumPool, TensorSpec


def _pick(rng: np.random.Generator, value, choices):
    return choices[rng.integers(len(choices))] if value is None else value


def _acc_width(rng, inp: TensorSpec, steps: int, layers: list[Layer], layer: Layer, narrow: bool | None,
               acc_width: int | None) -> int:
    """``acc_width`` if given, else the required width of ``layer`` after ``layers``,
    made narrower by 1-4 bits when ``narrow``."""
    if acc_width is not None:
        return acc_width
    lo, hi = output_interval(IntegerModel(inp, steps, tuple(layers))) if layers else inp.value_range
    required = required_width(*layer_interval(layer, lo, hi, steps))
    narrow = bool(rng.random() < 0.35) if narrow is None else narrow
    return max(2, required - int(rng.integers(1, 5))) if narrow else required


def _finish(rng, inp: TensorSpec, steps: int, layers: list[Layer], layer: Layer, narrow, overflow,
            acc_width) -> None:
    """Append ``layer`` with its accumulator width chosen from the bound analysis."""
    width = _acc_width(rng, inp, steps, layers, layer, narrow, acc_width)
    mode = _pick(rng, overflow, fixed.OVERFLOW_MODES)
    fields = {k: v for k, v in vars(layer).items()}
    fields.update(acc_width=width, overflow=mode)
    dtype = fixed.storage_dtype(width)
    lo, hi = fixed.signed_range(width)
    for name in ("bias", "theta"):
        if fields.get(name) is not None:
            fields[name] = np.clip(fields[name].astype(np.int64), lo, hi).astype(dtype)
    layers.append(type(layer)(**fields))


def _weights(rng, shape, width: int, density: float) -> np.ndarray:
    lo, hi = fixed.signed_range(width)
    w = rng.integers(lo, hi + 1, size=shape)
    w[rng.random(shape) >= density] = 0
    return w.astype(fixed.storage_dtype(width))


def _neuron(rng, inp: TensorSpec, taps, dilation, shift_max, zero_taps) -> Neuron:
    shift_max = int(_pick(rng, shift_max, [0, 1, 2, 3, 5, 7]))
    taps = int(_pick(rng, taps, [1, 2, 3, 4, 5, 8]))
    dilation = int(_pick(rng, dilation, [1, 1, 2, 3, 4]))
    shape = (inp.channels, taps)
    sign = rng.choice(np.array([-1, 1], np.int8), size=shape)
    sign[rng.random(shape) < _pick(rng, zero_taps, [0.0, 0.1, 0.3])] = 0
    shift = rng.integers(0, shift_max + 1, size=shape).astype(np.int8)
    shift.flat[rng.integers(shift.size)] = shift_max
    lo, hi = inp.value_range
    scale = max(1, (hi - lo) * (1 << shift_max) * taps // 8)
    theta = rng.integers(-scale, scale + 1, size=inp.channels)
    return Neuron(sign, shift, theta.astype(np.int64), dilation, shift_max, acc_width=2)


def random_model(
    seed: int = 0,
    *,
    input_kind: str | None = None,
    input_width: int | None = None,
    input_channels: int | None = None,
    input_length: int | None = None,
    timesteps: int | None = None,
    conv: bool | None = None,
    neuron_layers: int | None = None,
    channels: int | None = None,
    classes: int | None = None,
    taps: int | None = None,
    dilation: int | None = None,
    shift_max: int | None = None,
    weight_width: int | None = None,
    zero_taps: float | None = None,
    overflow: str | None = None,
    narrow: bool | None = None,
    acc_width: int | None = None,
    direct: bool | None = None,
    head: str | None = None,
    readout: bool = True,
) -> IntegerModel:
    """Draw a valid integer model.

    Structure: input -> [neuron] (if ``direct``: a neuron on the raw input) ->
    [conv1d -> neuron -> sumpool] (if ``conv``) -> ``neuron_layers`` x
    (dense -> neuron) -> [dense(``classes``)] (if ``head="dense"``; with
    ``head="readout"`` the readout sums the last layer directly) -> readout.
    ``channels``: width of every neuron layer; ``taps``/``dilation``/``shift_max``:
    of every neuron layer; ``narrow=True`` makes every accumulator 1-4 bits
    narrower than the bound analysis requires, ``False`` overflow-free, None
    either at random per layer; ``acc_width`` fixes every accumulator's width
    instead. ``overflow`` fixes the mode of every layer. Inputs come from
    :func:`random_input` (sparse or dense by its ``rate``).
    """
    rng = np.random.default_rng(seed)
    kind = _pick(rng, input_kind, [SPIKE, INT])
    width = 1 if kind == SPIKE else int(_pick(rng, input_width, [2, 3, 4, 6, 8, 12, 16]))
    conv = bool(_pick(rng, conv, [False, True]))
    length = int(_pick(rng, input_length, [4, 6, 8] if conv else [1, 2, 4]))
    inp = TensorSpec(kind, width, int(_pick(rng, input_channels, [1, 2, 3])), length)
    steps = int(_pick(rng, timesteps, [4, 8, 16, 32]))
    wwidth = int(_pick(rng, weight_width, [2, 3, 4, 8]))
    n_neuron = int(_pick(rng, neuron_layers, [1, 2, 3]))
    layers: list[Layer] = []

    def spec() -> TensorSpec:
        return IntegerModel(inp, steps, tuple(layers)).output if layers else inp

    def neuron_layer() -> None:
        _finish(rng, inp, steps, layers, _neuron(rng, spec(), taps, dilation, shift_max, zero_taps),
                narrow, overflow, acc_width)

    if _pick(rng, direct, [False, False, True]):
        neuron_layer()
    if conv:
        ksize = int(rng.integers(1, 4))
        c_out = int(_pick(rng, channels, [2, 3, 4]))
        w = _weights(rng, (c_out, inp.channels, ksize), wwidth, rng.uniform(0.5, 1.0))
        bias = rng.integers(-4, 5, size=c_out) if rng.random() < 0.5 else None
        layer = Conv1d(w, bias, wwidth, 2, stride=int(rng.integers(1, 4)), padding=int(rng.integers(0, ksize)))
        _finish(rng, inp, steps, layers, layer, narrow, overflow, acc_width)
        neuron_layer()
        window = int(rng.integers(2, 4))
        if spec().length >= window:
            _finish(rng, inp, steps, layers, SumPool(window, 2), narrow, overflow, acc_width)
    for _ in range(n_neuron):
        c = int(_pick(rng, channels, [1, 3, 5, 8, 16]))
        w = _weights(rng, (c, spec().features), wwidth, rng.uniform(0.3, 1.0))
        bias = rng.integers(-8, 9, size=c) if rng.random() < 0.5 else None
        _finish(rng, inp, steps, layers, Dense(w, bias, wwidth, 2), narrow, overflow, acc_width)
        neuron_layer()
    if not readout or _pick(rng, head, ["dense", "dense", "dense", "readout"]) == "dense":
        n_classes = int(_pick(rng, classes, [2, 3, 10]))
        w = _weights(rng, (n_classes, spec().features), wwidth, 0.8)
        _finish(rng, inp, steps, layers, Dense(w, None, wwidth, 2), narrow, overflow, acc_width)
    if readout:
        _finish(rng, inp, steps, layers, Readout(2), narrow, overflow, acc_width)
    return IntegerModel(inp, steps, tuple(layers))


def random_input(
    model: IntegerModel, batch: int = 4, timesteps: int | None = None, rate: float = 0.2, seed: int = 0
) -> np.ndarray:
    """Input ``[T, B, features]``: each element is non-zero with probability ``rate``.

    A non-zero element is 1 for spike inputs and uniform over the declared
    range without 0 for integer inputs (extremes included). ``rate=1`` with
    spike input gives all-one input; ``rate=0`` all-zero input.
    """
    rng = np.random.default_rng(seed)
    steps = model.timesteps if timesteps is None else timesteps
    out = np.empty((steps, batch, model.input.features), model.input.dtype)
    for t in range(steps):  # one step at a time: the same draws as one call, without [T, B, F] temporaries
        out[t] = rng.random(out.shape[1:]) < rate
    if model.input.kind == INT:
        lo, hi = model.input.value_range
        for t in range(steps):
            values = rng.integers(lo, hi, size=out.shape[1:], endpoint=True)
            values[values == 0] = hi
            out[t] = np.where(out[t] != 0, values, 0)
    return out
