"""The generated neuron core equals the simulator on Icarus and on Verilator, bit for bit and cycle for cycle.

Every case is written as ``shiftspike rtl`` writes a core and verified with
``shiftspike.rtl_gen.verify.verify_core`` (the testbench the CLI runs): built once
per simulator, it streams several sequences, the first without stalls (its
cycles are held to the cycle model), the others with random valid/ready stalls
on both sides, each after a reset in the middle of a stream. Random cases derive
from ``SHIFTSPIKE_RTL_SEED`` (default 2026, printed in the pytest header by
``conftest.py``); ``SHIFTSPIKE_WAVES=1`` dumps waveforms into each case's build
folder (Verilator: ``run/build/dump.vcd``, Icarus: ``run/build/<module>.fst``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from core_cases import CoreCase, extreme_inputs, scrambled
from shiftspike.rtl_gen.verify import SIMULATORS, Verdict, verify_core
from shiftspike.sim import random_input, random_model, run

pytestmark = [pytest.mark.rtl, pytest.mark.slow]

BASE_SEED = int(os.environ.get("SHIFTSPIKE_RTL_SEED", "2026"))
RANDOM_CASES = 8
SEQUENCES = 4


def _case(name: str, seed: int, model, index: int | None = None, steps: int | None = None, **options) -> CoreCase:
    """Sequence 0: the layer's real input from a run of the whole model; the others: extreme inputs."""
    rng = np.random.default_rng(seed)
    index = int(rng.choice(model.neuron_layers())) if index is None else index
    steps = int(rng.integers(6, 20)) if steps is None else steps
    x = extreme_inputs(model.specs[index], SEQUENCES, steps, rng)
    if index > 0:
        trace = run(model, random_input(model, batch=1, timesteps=steps, rate=0.5, seed=seed))
        x[0] = trace.outputs[index - 1][:, 0]
    return CoreCase(name, seed, model, index, x, options)


def random_case(k: int) -> CoreCase:
    seed = BASE_SEED + k
    rng = np.random.default_rng(seed + 10_000)
    model = random_model(seed=seed)
    index = int(rng.choice(model.neuron_layers()))
    options = {"lanes": int(rng.integers(1, model.specs[index].features + 1)),
               "arith": str(rng.choice(["shift", "mul"])), "loadable": bool(rng.random() < 0.25)}
    case = _case(f"random-{seed}", seed, model, index, **options)
    if options["loadable"]:
        case.initial = scrambled(case.layer)
    return case


def named_cases() -> dict[str, CoreCase]:
    s = BASE_SEED
    narrow = dict(input_kind="int", input_width=8, neuron_layers=1, channels=5, taps=4, dilation=2, shift_max=7,
                  narrow=True, direct=True, conv=False, zero_taps=0.1)
    cases = {
        "wrap-narrow": _case("wrap-narrow", s, random_model(s, overflow="wrap", **narrow), 0, 16, lanes=2),
        "saturate-narrow": _case("saturate-narrow", s, random_model(s, overflow="saturate", **narrow), 0, 16,
                                 lanes=3),
        "spike-input-k1": _case("spike-input-k1", s + 1, random_model(s + 1, input_kind="spike", direct=True, taps=1,
                                                                       input_channels=3), 0, 8, lanes=1),
        "lanes-1-d3": _case("lanes-1-d3", s + 2, random_model(s + 2, channels=5, taps=5, dilation=3, conv=False,
                                                               direct=False), None, 18, lanes=1),
        "lanes-all-registers": _case("lanes-all-registers", s + 3, random_model(s + 3, channels=8, taps=4, dilation=1,
                                                                                  conv=False, direct=False),
                                     None, 10, lanes=8),
        "lanes-ragged": _case("lanes-ragged", s + 4, random_model(s + 4, channels=16, taps=3, dilation=2, conv=False,
                                                                   direct=False, shift_max=7), None, 10, lanes=5),
        "conv-positions": _case("conv-positions", s + 5, random_model(s + 5, conv=True, input_length=8, taps=3,
                                                                       direct=False), 1, 10, lanes=3),
        "mul": _case("mul", s + 6, random_model(s + 6, channels=8, taps=4, dilation=2, conv=False, direct=False),
                     None, 12, lanes=4, arith="mul"),
        "no-debug": _case("no-debug", s + 7, random_model(s + 7, channels=8, taps=3, conv=False, direct=False),
                          None, 10, lanes=3, debug=False),
    }
    for arith in ("shift", "mul"):
        case = _case(f"loadable-{arith}", s + 8, random_model(s + 8, channels=5, taps=4, dilation=2, conv=False,
                                                             direct=False, zero_taps=0.2),
                     None, 12, lanes=2, arith=arith, loadable=True)
        case.initial = scrambled(case.layer)
        cases[case.name] = case
    return cases


CASES = {**named_cases(), **{c.name: c for c in (random_case(k) for k in range(RANDOM_CASES))}}


def test_narrow_cases_really_overflow():
    """The overflow cases exercise wrap and saturate: their membranes differ from the unbounded sums."""
    for name in ("wrap-narrow", "saturate-narrow"):
        assert CASES[name].overflows(), name


def verify(case: CoreCase, simulator: str, folder, expected_layer=None) -> Verdict:
    """Write the case's core into ``folder`` and verify it; ``expected_layer`` replaces the layer the
    simulator's answer is computed from (a wrong expectation)."""
    top = case.write(folder, expected_layer)
    waves = os.environ.get("SHIFTSPIKE_WAVES") == "1"
    print(f"case {case.name}: seed {case.seed}, {top} on {simulator}, folder {folder}")
    verdict = verify_core(folder, case.index, case.currents, simulator, folder / "run", seed=case.seed,
                          waves=waves)
    print(verdict)
    return verdict


def assert_passed(verdict: Verdict) -> None:
    assert verdict.mismatches == 0, verdict.first_mismatch
    assert verdict.first_mismatch is None, verdict.first_mismatch
    assert verdict.cycles == verdict.expected_cycles, \
        f"{verdict.cycles} cycles != cycle model {verdict.expected_cycles}"
    assert verdict.passed


#: The named cases also run on Verilator: both overflow modes at widths that overflow, the multiplier datapath,
#: the weight load port, conv positions and a ragged last lane group, which is where the two simulators' Verilog
#: semantics (two-state values, signed widths, memories) could differ. Every case runs on Icarus, where a build
#: takes seconds; a Verilator build costs about a minute.
ON_VERILATOR = ("wrap-narrow", "saturate-narrow", "mul", "loadable-shift", "conv-positions", "lanes-ragged")


def test_the_verilator_cases_are_named_cases():
    assert set(ON_VERILATOR) <= set(named_cases())


def _matrix():
    """Every case on Icarus; the cases of :data:`ON_VERILATOR` on Verilator too."""
    for name in CASES:
        for simulator in SIMULATORS if name in ON_VERILATOR else ("icarus",):
            yield pytest.param(name, simulator, id=f"{name}-{simulator}")


@pytest.mark.parametrize(("name", "simulator"), list(_matrix()))
def test_core_equals_simulator(name, simulator, tmp_path):
    case = CASES[name]
    verdict = verify(case, simulator, tmp_path)
    assert_passed(verdict)
    assert (verdict.samples, verdict.steps) == (SEQUENCES, case.x.shape[1])


def test_a_wrong_expectation_fails(tmp_path):
    """Expectations from a scrambled layer: the verdict counts the differences and names the first."""
    case = CASES["wrap-narrow"]
    verdict = verify(case, "icarus", tmp_path, scrambled(case.layer))
    assert not verdict.passed and verdict.mismatches > 0
    assert verdict.first_mismatch.startswith("sample 0, step ")
    assert "expected membrane" in verdict.first_mismatch or "expected spike" in verdict.first_mismatch


@pytest.fixture(scope="module")
def trained_digits():
    """A mul-free digits network trained briefly, exported, and the real currents of 4 test samples
    at the input of each of its neuron layers."""
    pytest.importorskip("torch")
    from core_cases import briefly_trained_digits

    from shiftspike.quant.data import load_dataset

    _, net = briefly_trained_digits(0.5, 1)
    test = load_dataset("digits", "test")
    model = net.integer_plan().model
    x, _ = next(iter(test.batches(SEQUENCES, shuffle=False)))
    trace = run(model, test.info.to_int(x))
    return model, trace


@pytest.mark.parametrize(("position", "simulator"), [(0, s) for s in SIMULATORS] + [(1, "icarus")])
def test_trained_model_layers_equal_simulator(trained_digits, position, simulator, tmp_path):
    """The neuron layers of an exported trained model, driven by the currents of real test samples: the first on
    both simulators, the second on Icarus (the whole trained network runs on both, cocotb_tests/test_network.py)."""
    model, trace = trained_digits
    index = model.neuron_layers()[position]
    x = trace.outputs[index - 1].transpose(1, 0, 2)
    case = CoreCase(f"trained-digits-layer{index}", BASE_SEED, model, index, np.ascontiguousarray(x),
                    {"lanes": 16})
    assert_passed(verify(case, simulator, tmp_path))
