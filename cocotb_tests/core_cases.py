"""Verification cases for the neuron core: a layer, core options, input sequences and the simulator's answer.

A case is written to a folder the testbench (``tb_neuron_core.py``) reads:
the generated Verilog and its sidecar, ``case.json`` and ``case.npz``. The
expected spikes and membranes come from the Numba simulator (``sim.run``),
which the foundation tests hold to the NumPy reference.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shiftspike.rtl_gen.generate import core_params, sidecar, to_verilog, top_name
from shiftspike.sim import fixed, run
from shiftspike.sim.model import IntegerModel, Neuron, TensorSpec

#: Valid/ready stall probabilities (input side, output side) of the stalled sequences.
STALLS = ((0.3, 0.3), (0.6, 0.1), (0.1, 0.6), (0.5, 0.5))


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

    def expected(self) -> tuple[np.ndarray, np.ndarray]:
        """Simulator spikes and membranes ``[S, T, N]`` (sequences run as the batch)."""
        single = IntegerModel(self.inp, self.x.shape[1], (self.layer,))
        trace = run(single, np.ascontiguousarray(self.x.transpose(1, 0, 2)).astype(self.inp.dtype),
                    record_membranes=True)
        return trace.outputs[0].transpose(1, 0, 2), trace.membranes[0].transpose(1, 0, 2)

    def overflows(self) -> bool:
        """Whether some membrane of this case differs from the unbounded sum (the overflow mode matters)."""
        wide = dataclasses.replace(self.layer, acc_width=fixed.MAX_ACC_WIDTH)
        single = IntegerModel(self.inp, self.x.shape[1], (wide,))
        exact = run(single, np.ascontiguousarray(self.x.transpose(1, 0, 2)).astype(self.inp.dtype),
                    record_membranes=True).membranes[0].transpose(1, 0, 2)
        return not np.array_equal(exact, self.expected()[1])

    def verilog_model(self) -> IntegerModel:
        """The model the Verilog is generated from (with ``initial`` in place of the layer, if loadable)."""
        if self.initial is None:
            return self.model
        layers = list(self.model.layers)
        layers[self.index] = self.initial
        return IntegerModel(self.model.input, self.model.timesteps, tuple(layers))

    def write(self, folder: Path) -> str:
        """Write Verilog, sidecar and case files into ``folder``; return the top module name."""
        model = self.verilog_model()
        params = core_params(model, self.index, **self.options)
        top = top_name(self.index, params)
        text = to_verilog(params, top)
        (folder / f"{top}.v").write_text(text)
        (folder / "core.json").write_text(json.dumps(sidecar(model, self.index, params, top, text), indent=1))
        spikes, membranes = self.expected()
        rng = np.random.default_rng(self.seed)
        beats = self.x.shape[1] * params.timing.groups
        arrays = {"x": self.x.astype(np.int64), "spikes": spikes.astype(np.int64),
                  "membranes": membranes.astype(np.int64),
                  "prefix": rng.integers(1, beats + 1, size=self.x.shape[0])}
        if self.initial is not None:
            layer = self.layer
            arrays |= {"load_sign": layer.sign, "load_shift": layer.shift, "load_coef": layer.coef,
                       "load_theta": layer.theta.astype(np.int64)}
        np.savez(folder / "case.npz", **arrays)
        (folder / "case.json").write_text(json.dumps({"name": self.name, "seed": self.seed, "stalls": STALLS}))
        return top


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
