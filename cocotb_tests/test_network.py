"""The generated whole-network accelerator equals the simulator on Icarus and on Verilator: every layer at every
time step, the readout sums, the class, and the cycle model's handshake cycles.

Every case is generated with ``build_network``, written as ``write_network`` writes it and verified with
``shiftspike.rtl_gen.verify_network.verify_network`` (the testbench the CLI and the flow run): built once per
simulator, it streams the case's samples back to back without stalls (held to the cycle model to the cycle),
then again in segments separated by resets, with random valid/ready stalls and a reset in the middle of a
sample. The cases: a briefly trained, exported digits network on real test samples, and random integer models
(conv1d, sumpool, readout; spike and integer inputs; wrap and saturate at widths that do overflow; k = 1; both
arithmetic variants). Random cases derive from ``SHIFTSPIKE_RTL_SEED`` (default 2026, printed in the pytest
header by ``conftest.py``).

The fast subset (``-m "not slow"``) runs one wrapping conv case on Icarus, the corrupted-expectation checks on
its record and the refusals; the rest is marked slow: the trained network and two named cases on both
simulators, the other cases on Icarus.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from network_cases import NetworkCase, overflowing_layers, random_case
from shiftspike.rtl_gen import tb_network
from shiftspike.rtl_gen.verify import SIMULATORS, VerifyError
from shiftspike.rtl_gen.verify_network import (Expected, NetworkVerdict, expected_outputs, judge, load_design,
                                               load_record, plan_segments, verify_network)
from shiftspike.sim import Conv1d, Dense, IntegerModel

pytestmark = pytest.mark.rtl

BASE_SEED = int(os.environ.get("SHIFTSPIKE_RTL_SEED", "2026"))
SAMPLES = 3
RANDOM_CASES = 2


def named_cases() -> dict[str, NetworkCase]:
    s = BASE_SEED
    cases = [
        random_case("conv-int-wrap", s, SAMPLES, {"lanes": 2}, overflow_needed=True, conv=True, input_kind="int",
                    input_width=4, overflow="wrap", narrow=True, taps=3, dilation=2, neuron_layers=0,
                    head="readout"),
        random_case("conv-spike-saturate-k1-mul", s + 1, SAMPLES, {"lanes": 3, "arith": "mul"},
                    overflow_needed=True, conv=True, input_kind="spike", overflow="saturate", narrow=True, taps=1,
                    neuron_layers=0, head="dense", channels=2),
        random_case("readout-head-mul", s + 2, SAMPLES, {"arith": "mul"}, overflow_needed=True, conv=False,
                    input_kind="int", input_width=6, head="readout", overflow="saturate", narrow=True, taps=2),
    ]
    return {c.name: c for c in cases}


def unconstrained_case(k: int) -> NetworkCase:
    """Anything ``random_model`` draws (at the small size), with drawn lanes and arithmetic."""
    seed = BASE_SEED + 100 + k
    rng = np.random.default_rng(seed)
    options = {"lanes": int(rng.integers(1, 5)), "arith": str(rng.choice(["shift", "mul"]))}
    return random_case(f"random-{seed}", seed, SAMPLES, options)


NAMED = named_cases()
#: The cases also run on Verilator (a build there costs about a minute): between them and the trained network
#: every layer type, both inputs, both overflow modes, k = 1 and both arithmetic variants.
ON_VERILATOR = ("conv-int-wrap", "conv-spike-saturate-k1-mul")
CASES = {**NAMED, **{c.name: c for c in (unconstrained_case(k) for k in range(RANDOM_CASES))}}
FAST = "conv-int-wrap"


def test_named_cases_cover_the_model_space():
    """Between them the named cases hold conv1d, sumpool and readout layers, spike and integer inputs, k = 1,
    both arithmetic variants, and layers that really wrap and really saturate on their samples."""
    named = list(NAMED.values())
    assert {"conv1d", "sumpool", "dense", "neuron", "readout"} <= set().union(*(c.layer_types() for c in named))
    assert {c.model.input.kind for c in named} == {"spike", "int"}
    assert any(layer.taps == 1 for c in named for layer in c.model.layers if layer.type == "neuron")
    assert {c.options.get("arith", "shift") for c in named} == {"shift", "mul"}
    for c in named:
        hit = overflowing_layers(c.model, c.x)
        assert hit, f"{c.name}: no layer overflows"
        assert {c.model.layers[i].overflow for i in hit} == {"wrap" if "wrap" in c.name else "saturate"}


def verify(case: NetworkCase, simulator: str, folder, model: IntegerModel | None = None) -> NetworkVerdict:
    """Write the case's accelerator into ``folder`` and verify it against ``model`` (default: the case's)."""
    case.write(folder)
    print(f"case {case.name}: seed {case.seed}, options {case.options}, {simulator}, folder {folder}")
    verdict = verify_network(folder, model or case.model, case.x, simulator, folder / "run", seed=case.seed)
    print(verdict)
    return verdict


def assert_passed(verdict: NetworkVerdict, samples: int) -> None:
    assert verdict.first_mismatch is None, verdict.first_mismatch
    assert verdict.mismatches == 0
    assert verdict.layers_compared
    assert (verdict.samples, verdict.class_exact, verdict.mismatching_classes, verdict.missing) == (samples,) * 2 + (0, 0)
    assert verdict.runs >= 2 * samples, "every sample runs in both passes"
    assert verdict.cycles == verdict.expected_cycles and verdict.cycle_deviations == 0
    assert verdict.passed


def _matrix():
    """Every case on Icarus, those of :data:`ON_VERILATOR` on Verilator too; the fast case on Icarus is
    ``test_fast_case_equals_simulator_on_icarus``."""
    for name in CASES:
        for simulator in SIMULATORS if name in ON_VERILATOR else ("icarus",):
            if (name, simulator) != (FAST, "icarus"):
                yield pytest.param(name, simulator, id=f"{name}-{simulator}")


@pytest.mark.slow
@pytest.mark.parametrize("name, simulator", list(_matrix()))
def test_network_equals_simulator(name, simulator, tmp_path):
    case = CASES[name]
    assert_passed(verify(case, simulator, tmp_path), SAMPLES)


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """The fast case verified once on Icarus, given as the in-memory ``Network`` (its folder is written too,
    for the tests that re-read it): (case, folder, verdict); the record stays in ``folder/run``."""
    case = CASES[FAST]
    folder = tmp_path_factory.mktemp("fast")
    network = case.write(folder)
    verdict = verify_network(network, case.model, case.x, "icarus", folder / "run", seed=case.seed)
    print(verdict)
    return case, folder, verdict


def test_fast_case_equals_simulator_on_icarus(fast_run):
    _, _, verdict = fast_run
    assert_passed(verdict, SAMPLES)
    assert json.loads(json.dumps(verdict.to_json()))["passed"] is True
    assert f"{SAMPLES}/{SAMPLES} samples class-exact, 0 mismatching classes, 0 mismatches" in verdict.summary()


def _rejudge(fast_run, expected: Expected, design=None) -> NetworkVerdict:
    case, folder, _ = fast_run
    record, segments = load_record(folder / "run")
    design = design or load_design(folder, folder / "run")
    return judge(design, case.model, case.x.astype(np.int64), expected, record, segments, "icarus", 0.0)


@pytest.mark.parametrize("layer", [0, 1, 3])
def test_a_corrupted_expectation_is_named_exactly(fast_run, layer):
    """One expected value changed (sample 1, step 2, feature 0 of ``layer``): the verdict fails and its first
    mismatch names exactly that sample, step, layer, feature, the expected and the observed value."""
    case = fast_run[0]
    expected = expected_outputs(case.model, case.x.astype(np.int64))
    clean = _rejudge(fast_run, expected)
    assert clean.passed, clean.first_mismatch
    outputs = [o.copy() for o in expected.outputs]
    got = int(outputs[layer][2, 1, 0])
    outputs[layer][2, 1, 0] = 1 - got if case.model.specs[layer + 1].kind == "spike" else got + 1
    verdict = _rejudge(fast_run, Expected(outputs))
    kind = case.model.layers[layer].type
    assert not verdict.passed
    assert verdict.first_mismatch.startswith(
        f"sample 1, step 2, layer {layer} ({kind}), feature 0: expected {int(outputs[layer][2, 1, 0])}, got {got} "
        f"(stall-free pass;"), verdict.first_mismatch
    assert verdict.mismatches >= 2, "sample 1 runs in both passes"


def test_a_corrupted_sum_and_class_fail(fast_run):
    """The last layer's output at the last step changed for sample 2: the sums and the class mismatch."""
    case = fast_run[0]
    expected = expected_outputs(case.model, case.x.astype(np.int64))
    outputs = [o.copy() for o in expected.outputs]
    steps, label = case.model.timesteps, int(expected.labels[2])
    other = (label + 1) % outputs[-1].shape[2]
    outputs[-1][steps - 1, 2, other] = outputs[-1][steps - 1, 2, label] + 1
    verdict = _rejudge(fast_run, Expected(outputs))
    assert verdict.mismatching_classes == 1 and verdict.class_exact == SAMPLES - 1
    assert not verdict.passed and f"sample 2, step {steps - 1}" in verdict.first_mismatch


def test_the_cycle_check_can_fail(fast_run):
    """Held to the cycle model of other lanes, the stall-free pass's handshakes deviate and are named."""
    case, folder, _ = fast_run
    design = load_design(folder, folder / "run")
    sidecar = dict(design.sidecar, layers=[dict(layer, lanes=1) for layer in design.sidecar["layers"]])
    verdict = _rejudge(fast_run, expected_outputs(case.model, case.x.astype(np.int64)),
                       dataclasses.replace(design, sidecar=sidecar))
    assert not verdict.passed and verdict.cycle_deviations > 0
    assert verdict.cycles != verdict.expected_cycles
    assert "cycle model" in verdict.first_mismatch and verdict.first_mismatch.startswith("sample ")


def _aborted(segments: list[dict]) -> tuple[int, dict]:
    """The first segment of the stalled pass that a reset cut short."""
    return next((i, seg) for i, seg in enumerate(segments) if seg["aborted_after"] is not None)


def _judge_record(fast_run, record: dict, segments: list[dict]) -> NetworkVerdict:
    case, folder, _ = fast_run
    x = case.x.astype(np.int64)
    return judge(load_design(folder, folder / "run"), case.model, x, expected_outputs(case.model, x), record,
                 segments, "icarus", 0.0)


def _append(record: dict, prefix: str, **values) -> dict:
    """``record`` with one more row of the ``prefix`` arrays (``out`` or ``dbg<i>``)."""
    out = dict(record)
    for name, value in values.items():
        key = f"{prefix}_{name}"
        out[key] = np.concatenate([record[key], np.asarray([value], record[key].dtype)])
    return out


def test_an_interrupted_samples_output_is_caught(fast_run):
    """A correct output beat for the sample a reset interrupted, appearing in the aborted segment: reported
    as an output before its last input beat (the interrupted attempt's results must not appear)."""
    case, folder, _ = fast_run
    record, segments = load_record(folder / "run")
    seg, spec = _aborted(segments)
    victim = spec["samples"][spec["aborted_after"] // case.model.timesteps]
    x = case.x.astype(np.int64)
    expected = expected_outputs(case.model, x)
    last_in = int(record["in_cycle"][record["in_seg"] == seg].max())
    forged = _append(record, "out", seg=seg, cycle=last_in + 1, sums=expected.sums[victim],
                     label=int(expected.labels[victim]), resolved=True)
    order = np.argsort(forged["out_seg"], kind="stable")
    forged |= {k: v[order] for k, v in forged.items() if k.startswith("out_")}
    verdict = _judge_record(fast_run, forged, segments)
    assert not verdict.passed
    assert f"sample {victim} (segment {seg}" in verdict.first_mismatch, verdict.first_mismatch
    assert "before its last input beat" in verdict.first_mismatch, verdict.first_mismatch


def test_missing_extra_and_unresolved_beats_are_caught(fast_run):
    """A debug pulse dropped from the stall-free pass, a (correct) pulse beyond the input beats of an aborted
    segment and an output beat with unresolved bits: each one fails the verdict with its own first mismatch."""
    case, folder, _ = fast_run
    record, segments = load_record(folder / "run")
    last = len(case.model.layers) - 1
    dropped = {k: (v[1:] if k.startswith(f"dbg{last}_") else v) for k, v in record.items()}
    verdict = _judge_record(fast_run, dropped, segments)
    assert not verdict.passed and verdict.first_mismatch.startswith(f"sample 0, step 0, layer {last} "), \
        verdict.first_mismatch
    seg, spec = _aborted(segments)
    steps, outputs = case.model.timesteps, expected_outputs(case.model, case.x.astype(np.int64)).outputs
    extra = record
    for j in range(int(np.count_nonzero(record["dbg0_seg"] == seg)), spec["aborted_after"] + 1):
        b = spec["samples"][min(j // steps, len(spec["samples"]) - 1)]
        extra = _append(extra, "dbg0", seg=seg, cycle=10**6, values=outputs[0][j % steps, b], resolved=True)
    order = np.argsort(extra["dbg0_seg"], kind="stable")
    extra |= {k: v[order] for k, v in extra.items() if k.startswith("dbg0_")}
    verdict = _judge_record(fast_run, extra, segments)
    assert not verdict.passed and "more than the" in verdict.first_mismatch, verdict.first_mismatch
    blurred = dict(record, out_resolved=record["out_resolved"].copy())
    blurred["out_resolved"][1] = False
    verdict = _judge_record(fast_run, blurred, segments)
    assert not verdict.passed and verdict.missing == 1 and verdict.class_exact == SAMPLES - 1
    assert verdict.first_mismatch == "sample 1 (stall-free pass): the output beat had unresolved bits (X/Z)"


def _one_line(excinfo, *fragments):
    text = str(excinfo.value)
    assert "\n" not in text, text
    for fragment in fragments:
        assert fragment in text, text


def test_refusals_are_one_line(fast_run, tmp_path):
    """A missing folder or Verilog, a tampered Verilog, a malformed sidecar, a model or input that does not fit,
    an unknown simulator: a one-line VerifyError before any simulator runs."""
    case, folder, _ = fast_run
    work = tmp_path / "w"
    with pytest.raises(VerifyError) as e:
        verify_network(tmp_path / "nothing", case.model, case.x, "icarus", work)
    _one_line(e, "no such directory")
    with pytest.raises(VerifyError) as e:
        verify_network(folder, case.model, case.x, "modelsim", work)
    _one_line(e, "unknown simulator")
    with pytest.raises(VerifyError) as e:
        verify_network(folder, CASES["readout-head-mul"].model, case.x, "icarus", work)
    _one_line(e, "does not match the accelerator")
    with pytest.raises(VerifyError) as e:
        verify_network(folder, case.model, case.x[:-1], "icarus", work)
    _one_line(e, "time steps")
    with pytest.raises(VerifyError) as e:
        verify_network(folder, case.model, case.x.astype(np.float32), "icarus", work)
    _one_line(e, "dtype")
    big = case.x.astype(np.int64)
    big[0, 0, 0] = 1 << 20
    with pytest.raises(VerifyError) as e:
        verify_network(folder, case.model, big, "icarus", work)
    _one_line(e, "outside")
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.glob("network_*"):
        (copy / path.name).write_bytes(path.read_bytes())
    verilog = next(copy.glob("*.v"))
    verilog.write_text(verilog.read_text() + "\n// edited\n")
    with pytest.raises(VerifyError) as e:
        verify_network(copy, case.model, case.x, "icarus", work)
    _one_line(e, "sha256")
    verilog.unlink()
    with pytest.raises(VerifyError) as e:
        verify_network(copy, case.model, case.x, "icarus", work)
    _one_line(e, "is missing")
    network = case.write(tmp_path / "again")
    for broken, fragment in ((dict(network.sidecar, format="shiftspike-rtl"), "not a shiftspike-network"),
                             (dict(network.sidecar, layers=[{"out": {}}]), "layer 0"),
                             ({k: v for k, v in network.sidecar.items() if k != "ports"}, "'ports' missing"),
                             (dict(network.sidecar, verilog_sha256="0" * 64), "sha256")):
        with pytest.raises(VerifyError) as e:
            verify_network(dataclasses.replace(network, sidecar=broken), case.model, case.x, "icarus", work)
        _one_line(e, fragment)
    assert not (work / "observed.json").exists()


@pytest.mark.slow
def test_a_wrong_model_fails_end_to_end(tmp_path):
    """Held to a model whose first synapse layer's bias is one off on channel 0 (the layers wrap, so every
    output of that channel changes), the accelerator is reported to differ at that layer, feature 0, from the
    first step of the first sample."""
    case = CASES[FAST]
    index = next(i for i, layer in enumerate(case.model.layers) if isinstance(layer, (Dense, Conv1d)))
    layer = case.model.layers[index]
    bias = np.zeros(layer.weight.shape[0], np.int64) if layer.bias is None else layer.bias.astype(np.int64)
    bias[0] += 1 if bias[0] < 0 else -1
    layers = list(case.model.layers)
    layers[index] = dataclasses.replace(layer, bias=bias)
    wrong = IntegerModel(case.model.input, case.model.timesteps, tuple(layers))
    verdict = verify(case, "icarus", tmp_path, wrong)
    assert not verdict.passed and verdict.mismatches > 0
    assert verdict.first_mismatch.startswith(f"sample 0, step 0, layer {index} ({layer.type}), feature 0: "), \
        verdict.first_mismatch


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 9), st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
def test_the_plan_runs_every_sample_and_aborts_mid_sample(samples, steps, stalls, resets, seed):
    """Segment 0 runs every sample stall-free; the second pass runs every sample again; with resets at least
    one segment is aborted after a step inside a sample (not at its start, nor after its end; with T = 1
    right after a sample)."""
    plan = plan_segments(samples, steps, stalls, resets, np.random.default_rng(seed))
    assert plan[0] == {"samples": list(range(samples)), "stall_in": 0.0, "stall_out": 0.0, "abort_after": None}
    if not (stalls or resets):
        assert len(plan) == 1
        return
    assert sorted(b for seg in plan[1:] for b in seg["samples"]) == list(range(samples))
    aborts = [seg for seg in plan[1:] if seg["abort_after"] is not None]
    assert bool(aborts) == resets
    for seg in aborts:
        assert 1 <= seg["abort_after"] <= len(seg["samples"]) * steps
        if steps > 1:
            assert seg["abort_after"] % steps != 0, "the reset comes inside a sample"
    assert all(0 <= seg["stall_in"] < 1 and 0 <= seg["stall_out"] < 1 for seg in plan)
    assert stalls or all(seg["stall_in"] == seg["stall_out"] == 0 for seg in plan)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_payload_packing_round_trips(data):
    """tb_network's pack/unpack of a payload of signed and unsigned fields at any offsets (wider than 64 bits)."""
    widths = data.draw(st.lists(st.integers(1, 20), min_size=1, max_size=12))
    signed = data.draw(st.lists(st.booleans(), min_size=len(widths), max_size=len(widths)))
    layout, offset = [], data.draw(st.integers(0, 7))
    for w, s in zip(widths, signed):
        layout.append((offset, w, s))
        offset += w
    values = [data.draw(st.integers(-(1 << (w - 1)), (1 << (w - 1)) - 1) if s else st.integers(0, (1 << w) - 1))
              for w, s in zip(widths, signed)]
    assert tb_network.unpack(layout, tb_network.pack(layout, values)) == values


@pytest.fixture(scope="module")
def trained_digits():
    """A digits network (preset at quarter width: 8 -> 32 -> 32 -> 10, so that Verilator builds it in about a
    minute; the flow verifies the full-size one) trained for two epochs, exported, and 4 real test samples as
    integer inputs ``[T, 4, 8]`` (``quant.inputs.test_split``)."""
    pytest.importorskip("torch")
    from core_cases import briefly_trained_digits

    from shiftspike.quant.inputs import test_split

    cfg, net = briefly_trained_digits(0.25, 2)
    model = net.integer_plan().model
    x, _ = test_split(cfg, 4)
    return NetworkCase("trained-digits", BASE_SEED, model, x)


@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_trained_digits_network_equals_simulator(trained_digits, simulator, tmp_path):
    """Real test samples through the whole exported digits network (dense on integer pixels, neuron layers,
    readout): every layer, the sums, the class and the cycles."""
    case = trained_digits
    assert {"dense", "neuron", "readout"} <= case.layer_types() and case.model.input.kind == "int"
    assert_passed(verify(case, simulator, tmp_path), case.x.shape[1])
