"""The exactness check: the QAT network in eval mode against its integer model in the Numba simulator.

For every sample, step and layer, the integer model's output must equal the
QAT layer's output on the integer grid: spikes identical, and every integer
value (synapse accumulators, pooled sums, readout sums) equal to the QAT value
divided by the layer's power-of-two unit. One mismatch anywhere is a failure;
there is no tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from shiftspike.sim import IntegerModel, run

from .data import SequenceData
from .network import SpikingNetwork


@dataclass
class LayerCheck:
    """One layer's comparison: ``values`` compared, ``mismatches`` among them."""

    index: int
    type: str
    values: int = 0
    mismatches: int = 0


@dataclass
class CheckResult:
    samples: int
    layers: list[LayerCheck]
    qat_correct: int = 0
    integer_correct: int = 0
    first_mismatch: dict = field(default_factory=dict)

    @property
    def mismatches(self) -> int:
        return sum(layer.mismatches for layer in self.layers)

    @property
    def exact(self) -> bool:
        return self.mismatches == 0

    def to_json(self) -> dict:
        return {
            "samples": self.samples, "mismatches": self.mismatches, "exact": self.exact,
            "qat_accuracy": self.qat_correct / max(self.samples, 1),
            "integer_accuracy": self.integer_correct / max(self.samples, 1),
            "layers": [layer.__dict__ for layer in self.layers], "first_mismatch": self.first_mismatch,
        }


def integer_view(qat: torch.Tensor, unit: torch.Tensor, length: int) -> np.ndarray:
    """QAT layer output ``[T, B, C*L]`` divided by its unit (``[C]`` per channel or 0-d), as float64."""
    unit = unit.repeat_interleave(length) if unit.dim() == 1 else unit
    return (qat.to(torch.float64) / unit).numpy()


@torch.no_grad()
def compare(net: SpikingNetwork, model: IntegerModel, data: SequenceData, batch_size: int = 256) -> CheckResult:
    """Run ``data`` through ``net`` (eval) and ``model`` (Numba) and count mismatches per layer."""
    net.eval()
    plan = net.integer_plan()
    result = CheckResult(0, [LayerCheck(i, layer.type) for i, layer in enumerate(model.layers)])
    for x, y in data.batches(batch_size, shuffle=False):
        record: list[torch.Tensor] = []
        net(x, record)
        trace = run(model, data.info.to_int(x))
        for i, (qat, ref) in enumerate(zip(record, trace.outputs)):
            spec = model.specs[i + 1]
            got = qat.numpy() if spec.kind == "spike" else integer_view(qat, plan.units[i], spec.length)
            bad = got != ref
            result.layers[i].values += bad.size
            result.layers[i].mismatches += int(bad.sum())
            if bad.any() and not result.first_mismatch:
                t, b, f = (int(v) for v in np.argwhere(bad)[0])
                result.first_mismatch = {"layer": i, "step": t, "sample": result.samples + b, "feature": f,
                                         "integer": int(ref[t, b, f]), "qat": float(got[t, b, f])}
        result.qat_correct += int((record[-1][-1].argmax(dim=1) == y).sum())
        result.integer_correct += int((torch.from_numpy(trace.predictions()) == y).sum())
        result.samples += len(y)
    return result
