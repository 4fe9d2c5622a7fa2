"""Verification cases for the neuron core: a layer, core options and input sequences.

A case is written as ``shiftspike rtl`` writes a core (``<top>.v``, its sidecar
``<top>.json`` and the single-layer model ``<top>.ssm``), so the tests verify it
with :func:`shiftspike.rtl_gen.verify.verify_core`, the same testbench the CLI runs;
the expected spikes and membranes come from the Numba simulator (``sim.run``),
which the foundation tests hold to the NumPy reference.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shiftspike.rtl_gen.generate import generate
from shiftspike.sim import fixed, run, save
from shiftspike.sim.model import IntegerModel, Neuron, TensorSpec


@dataclass
class CoreCase:
    """``model``/``index``: the neuron layer; ``x``: its input ``[S, T, N]``; ``options``: of ``core_params``;
    ``initial``: for a loadable core, the layer the core is generated with before the real one is loaded."""

    name: str
    seed: int
    model: IntegerModel
    index: int
    x: np.ndarray
    options: dict = field(default_factory=dict)
    initial: Neuron | None = None

    @property
    def layer(self) -> Neuron:
        return self.model.layers[self.index]

    @property
    def inp(self) -> TensorSpec:
        return self.model.specs[self.index]

    def membranes(self, layer: Neuron) -> np.ndarray:
        """Simulator membranes ``[T, S, N]`` of ``layer`` on the case's input."""
        single = IntegerModel(self.inp, self.x.shape[1], (layer,))
        return run(single, self.currents.astype(self.inp.dtype), record_membranes=True).membranes[0]

    def overflows(self) -> bool:
        """Whether some membrane of this case differs from the unbounded sum (the overflow mode matters)."""
        wide = dataclasses.replace(self.layer, acc_width=fixed.MAX_ACC_WIDTH)
        return not np.array_equal(self.membranes(wide), self.membranes(self.layer))

    def verilog_model(self) -> IntegerModel:
        """The model the Verilog is generated from (with ``initial`` in place of the layer, if loadable)."""
        if self.initial is None:
            return self.model
        layers = list(self.model.layers)
        layers[self.index] = self.initial
        return IntegerModel(self.model.input, self.model.timesteps, tuple(layers))

    @property
    def currents(self) -> np.ndarray:
        """The layer's input as ``verify_core`` takes it, ``[T, S, N]`` (sequences as the batch)."""
        return np.ascontiguousarray(self.x.transpose(1, 0, 2))

    def write(self, folder: Path, layer: Neuron | None = None) -> str:
        """Write the core as ``shiftspike rtl`` does into ``folder`` (its single-layer model holds ``layer``,
        by default the case's, which a loadable core loads); return the top module name."""
        verilog, _ = generate(self.verilog_model(), self.index, folder, **self.options)
        save(IntegerModel(self.inp, self.x.shape[1], (layer or self.layer,)), verilog.with_suffix(".ssm"))
        return verilog.stem


def extreme_inputs(inp: TensorSpec, sequences: int, steps: int, rng: np.random.Generator) -> np.ndarray:
    """``[S, T, N]`` inputs over the whole declared range: a third at the extremes, a third 0,
    the rest uniform."""
    lo, hi = inp.value_range
    shape = (sequences, steps, inp.features)
    x = rng.integers(lo, hi, size=shape, endpoint=True)
    pick = rng.random(shape)
    x[pick < 0.15] = lo
    x[(pick >= 0.15) & (pick < 0.3)] = hi
    x[(pick >= 0.3) & (pick < 0.6)] = 0
    return x


def scrambled(layer: Neuron) -> Neuron:
    """A different layer of the same shape: signs negated, shifts mirrored, thresholds negated (clipped)."""
    lo, hi = fixed.signed_range(layer.acc_width)
    theta = np.clip(-layer.theta.astype(np.int64) + 1, lo, hi)
    return dataclasses.replace(layer, sign=-layer.sign, shift=layer.shift_max - layer.shift, theta=theta)


def briefly_trained_digits(width: float, epochs: int):
    """``(config, network)``: the mul-free ``digits`` preset at ``width`` trained for ``epochs`` epochs (Adam,
    seeded); for testbenches that need a real trained network without the full training run."""
    import torch
    import torch.nn.functional as F

    from shiftspike.quant import config, presets
    from shiftspike.quant.data import load_dataset
    from shiftspike.quant.network import SpikingNetwork

    torch.manual_seed(0)
    cfg = config.validate(presets.preset("digits", width=width))
    train = load_dataset("digits", "train")
    net = SpikingNetwork(cfg.model, train.info)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    net.train()
    for _ in range(epochs):
        for x, y in train.batches(64, shuffle=True, generator=torch.Generator().manual_seed(0)):
            loss = F.cross_entropy(net.logits(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return cfg, net
