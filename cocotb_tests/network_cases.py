"""Verification cases for the whole-network accelerator: an integer model, its generator options and samples.

A case's accelerator is generated with ``build_network`` and written as
``write_network`` writes it, so the tests verify it with
:func:`shiftspike.rtl_gen.verify_network.verify_network`, the testbench the CLI
and the flow run; the expected layer outputs come from the Numba simulator
(``sim.run``), which the foundation tests hold to the NumPy reference.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core_cases import extreme_inputs
from shiftspike.sim import IntegerModel, fixed, random_model, run


@dataclass
class NetworkCase:
    """``model``: the integer model; ``x [T, B, F_in]``: its samples; ``options``: of ``build_network``
    (``lanes``, ``arith``)."""

    name: str
    seed: int
    model: IntegerModel
    x: np.ndarray
    options: dict = field(default_factory=dict)

    def write(self, folder: Path):
        """Generate the accelerator, write it into ``folder`` (``<top>.v``, ``.json``, ``.ssm``) and return
        it (the in-memory ``Network``)."""
        from shiftspike.rtl_gen.network import build_network, write_network

        network = build_network(self.model, **self.options)
        write_network(network, folder)
        return network

    def layer_types(self) -> set[str]:
        return {layer.type for layer in self.model.layers}


def overflowing_layers(model: IntegerModel, x: np.ndarray) -> list[int]:
    """Layers whose output on ``x [T, B, F_in]`` differs from the same layer with a 48-bit accumulator
    given the same input: where the overflow mode (wrap or saturate) decides the answer."""
    trace = run(model, x)
    found = []
    for i, layer in enumerate(model.layers):
        if not hasattr(layer, "acc_width"):
            continue
        inp = x if i == 0 else trace.outputs[i - 1]
        wide = dataclasses.replace(layer, acc_width=fixed.MAX_ACC_WIDTH)
        own = run(IntegerModel(model.specs[i], model.timesteps, (layer,)), inp).outputs[0]
        unbounded = run(IntegerModel(model.specs[i], model.timesteps, (wide,)), inp).outputs[0]
        if not np.array_equal(own.astype(np.int64), unbounded.astype(np.int64)):
            found.append(i)
    return found


def samples(model: IntegerModel, count: int, rng: np.random.Generator) -> np.ndarray:
    """``[T, count, F_in]`` samples over the input's whole range (a third at the extremes, a third 0)."""
    return np.ascontiguousarray(extreme_inputs(model.input, count, model.timesteps, rng).transpose(1, 0, 2)
                                ).astype(model.input.dtype)


#: Kept small so that a case builds and runs in seconds: few steps, few channels, few classes.
SMALL = dict(timesteps=6, channels=4, classes=3, neuron_layers=1, input_channels=2, input_length=4)


def random_case(name: str, seed: int, count: int, options: dict | None = None, overflow_needed: bool = False,
                tries: int = 40, **model_args) -> NetworkCase:
    """A case from ``random_model(seed, **SMALL | model_args)``; with ``overflow_needed`` the first seed from
    ``seed`` (at most ``tries`` on) whose samples make some layer wrap or saturate."""
    for s in range(seed, seed + tries):
        model = random_model(s, **(SMALL | model_args))
        x = samples(model, count, np.random.default_rng(s))
        if not overflow_needed or overflowing_layers(model, x):
            return NetworkCase(name, s, model, x, dict(options or {}))
    raise AssertionError(f"{name}: no seed in [{seed}, {seed + tries}) makes a layer overflow")
