"""The fast subset's one generated-RTL check: a small random neuron core, generated as ``shiftspike rtl``
writes it, equals the simulator on Icarus, bit for bit and cycle for cycle (``make test-fast`` runs it;
the full matrix of cases and both simulators is ``test_neuron_core.py``, marked slow).

The layer wraps its narrow accumulator on these inputs, so the overflow rule is exercised too. The
case derives from ``SHIFTSPIKE_RTL_SEED`` (default 2026, printed in the pytest header).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from core_cases import CoreCase, extreme_inputs
from shiftspike.rtl_gen.verify import verify_core
from shiftspike.sim import random_model

pytestmark = pytest.mark.rtl

SEED = int(os.environ.get("SHIFTSPIKE_RTL_SEED", "2026"))
SEQUENCES, STEPS = 3, 10


def small_case() -> CoreCase:
    """One neuron layer of 5 channels, 4 taps at dilation 2, an 8-bit integer input and a narrow wrapping
    accumulator; its input ``[S, T, N]`` spans the declared range (a third at the extremes)."""
    model = random_model(SEED, input_kind="int", input_width=8, neuron_layers=1, channels=5, taps=4, dilation=2,
                         shift_max=7, narrow=True, direct=True, conv=False, zero_taps=0.1, overflow="wrap")
    x = extreme_inputs(model.specs[0], SEQUENCES, STEPS, np.random.default_rng(SEED))
    return CoreCase("fast-wrap", SEED, model, 0, x, {"lanes": 2})


def test_generated_core_equals_simulator_on_icarus(tmp_path):
    case = small_case()
    assert case.overflows(), "the case must exercise the wrap rule"
    case.write(tmp_path)
    verdict = verify_core(tmp_path, case.index, case.currents, "icarus", tmp_path / "run", seed=SEED)
    print(verdict)
    assert (verdict.samples, verdict.steps) == (SEQUENCES, STEPS)
    assert verdict.mismatches == 0, verdict.first_mismatch
    assert verdict.first_mismatch is None, verdict.first_mismatch
    assert verdict.cycles == verdict.expected_cycles, f"{verdict.cycles} cycles != model {verdict.expected_cycles}"
    assert verdict.passed
