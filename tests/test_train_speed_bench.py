"""The summarising arithmetic of benchmarks/train_speed.py (work, work bound, goals, floors, module split) on
hand-computed numbers; the bare PSN-family operators and the time-last conv1d against what they mirror; every
timed case runs a step; and benchmarks/readme_tables.py refusing a train_speed.json of the older layout.

Nothing here times anything: the summaries get made-up measurements, the cases tiny shapes.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from shiftspike.quant.neurons import MaskedPSN
from shiftspike.quant.temporal import temporal_conv

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


train_speed = _load("train_speed")
readme_tables = _load("readme_tables")


def test_our_work_at_T32_k16_d1_counts_the_taps_each_step_has():
    # steps 0..15 have 1..16 taps (sum 136), steps 16..31 all 16 (256)
    assert train_speed.our_macs(32, 16, 1) == sum(min(t + 1, 16) for t in range(32)) == 392
    assert train_speed.psn_macs(32) == 528
    assert train_speed.work_bound(32, 16, 1) == pytest.approx(528 / 392)


def test_dilation_delays_when_the_taps_fill():
    # t // 4 + 1 runs 1..8, four steps each: 4 * 36
    assert train_speed.our_macs(32, 16, 4) == 144
    assert train_speed.work_bound(32, 16, 4) == pytest.approx(528 / 144)


@pytest.mark.parametrize("steps, taps, dilation", [(1024, 16, 4), (4096, 8, 1), (64, 2, 4)])
def test_once_the_taps_fill_our_work_is_kT_less_the_missing_taps(steps, taps, dilation):
    missing = dilation * taps * (taps - 1) // 2  # sum over j < k of j*d steps without tap j
    assert train_speed.our_macs(steps, taps, dilation) == taps * steps - missing


def test_one_tap_is_one_multiply_add_a_step_and_a_bound_of_T_plus_1_over_2():
    assert train_speed.our_macs(100, 1, 3) == 100
    assert train_speed.work_bound(100, 1, 3) == pytest.approx(50.5)


@pytest.mark.parametrize("vs_psn, bound, goal, within", [
    (2.0, 3.0, True, None),     # faster than PSN-gemm: the bound is not asked about
    (0.95, 3.0, False, False),  # slower where the bound allows 3x: fails, far from the bound
    (0.92, 1.0, True, True),    # bound 1: 0.92 >= 0.9 * 1
    (0.85, 0.9, True, True),    # bound below 1: 0.85 >= 0.81
    (0.7, 0.9, False, False),   # 0.7 < 0.81
    (1.2, 0.9, True, True),     # beating PSN-gemm passes; below a bound < 1 the nearness is told
    (None, 2.0, False, None),   # not measured
])
def test_psn_verdict(vs_psn, bound, goal, within):
    assert train_speed.psn_verdict(vs_psn, bound) == (goal, within)


def test_floor_is_the_larger_of_memory_and_compute():
    steps, taps = 32, 16
    tensor_bytes = steps * train_speed.BATCH * train_speed.CHANNELS * 4
    macs = 3 * train_speed.BATCH * train_speed.CHANNELS * 392
    memory_bound = train_speed.floors(steps, taps, 1, bandwidth=5 * tensor_bytes, mac_rate=macs * 10)
    assert memory_bound["memory_floor_seconds"] == pytest.approx(1.0)
    assert memory_bound["compute_floor_seconds"] == pytest.approx(0.1)
    assert (memory_bound["floor_seconds"], memory_bound["floor"]) == (pytest.approx(1.0), "memory")
    compute_bound = train_speed.floors(steps, taps, 1, bandwidth=5 * tensor_bytes, mac_rate=macs / 2)
    assert (compute_bound["floor_seconds"], compute_bound["floor"]) == (pytest.approx(2.0), "compute")


def test_module_split_adds_up_to_the_module():
    split = train_speed.module_split({"fused": 1.0, "mulfree-frozen": 2.5, "mulfree": 4.0})
    assert split == pytest.approx({"operator": 0.25, "statistics": 0.375, "other": 0.375})
    assert train_speed.module_split({"fused": 1.0, "mulfree": 4.0}) is None


def _measured(steps, taps, dilation, method, seconds):
    return {"T": steps, "k": taps, "d": dilation, "method": method, "seconds": seconds, "peak_bytes": 1,
            "runs": 3, **({"chose": "fused"} if method == "auto" else {})}


def test_summarize_shares_per_T_and_per_k_measurements_and_judges_each_row():
    results = [_measured(32, 8, d, "auto", 0.001 * d) for d in (1, 4)]
    results += [_measured(32, 8, 1, "PSN-gemm", 0.003), _measured(32, 8, 1, "PSN", 0.004),
                _measured(32, 8, 1, "conv1d-tl", 0.002), _measured(32, 8, 4, "conv1d-tl", 0.02)]
    results += [_measured(32, 8, d, m, s) for d in (1, 4) for m, s in
                (("mulfree", 0.008), ("mulfree-frozen", 0.005), ("fused", 0.002))]
    rows = train_speed.summarize(results, 1e10, 1e10, (32,), (8,), (1, 4))
    by_d = {r["d"]: r for r in rows}
    assert by_d[1]["vs_psn"] == pytest.approx(3.0) and by_d[4]["vs_psn"] == pytest.approx(0.75)
    assert (by_d[1]["goal_psn"], by_d[1]["within_bound"]) == (True, None)
    assert (by_d[4]["goal_psn"], by_d[4]["within_bound"]) == (False, False)  # bound 528/144, far off
    assert by_d[1]["vs_conv1d"] == pytest.approx(2.0) and by_d[1]["goal_conv1d"] is False
    assert by_d[4]["vs_conv1d"] == pytest.approx(5.0) and by_d[4]["goal_conv1d"] is True
    assert by_d[4]["module_vs"]["PSN"] == pytest.approx(0.5) and by_d[4]["module_vs"]["LIF"] is None
    assert by_d[1]["module_over_operator"] == pytest.approx(4.0)
    goals = {g["flag"]: g["pass"] for g in train_speed.goals(rows)}
    assert goals == {"goal_psn": False, "goal_conv1d": False, "goal_floor": False}


def test_readme_tables_refuses_the_older_layout_in_one_line(tmp_path):
    (tmp_path / "train_speed.json").write_text(json.dumps({"benchmark": "train_speed", "rows": [], "goals": {}}))
    for name in ("train-speed", "train-speed-modules"):
        with pytest.raises(readme_tables.ResultsError, match="layout None, expected 2") as error:
            readme_tables.render_block(name, tmp_path)
        assert "\n" not in str(error.value)


def test_bare_psn_operators_compute_what_their_modules_compute():
    steps, taps = 12, 3
    for method in ("PSN-gemm", "MaskedPSN-banded"):
        case = train_speed.build(method, steps, taps, 1)
        weight, bias = case.parameters
        assert torch.equal(weight, torch.tril(weight))  # causal
        matrix = weight * MaskedPSN(steps, taps).mask if method == "MaskedPSN-banded" else weight
        expected = torch.addmm(bias, matrix, case.input.flatten(1)).view(case.input.shape)
        torch.testing.assert_close(case.forward(case.input), expected)
    case = train_speed.build("SlidingPSN-conv", steps, taps, 4)
    weight, bias = case.parameters
    expected = temporal_conv(case.input, weight.expand(train_speed.CHANNELS, taps), 1, impl="taploop") + bias
    torch.testing.assert_close(case.forward(case.input), expected)


def test_conv1d_time_last_is_our_operator_with_the_kernel_reversed():
    case = train_speed.build("conv1d-tl", 12, 3, 2)
    (kernel,) = case.parameters
    x = case.input.permute(2, 0, 1)  # back to [T, B, C]
    expected = temporal_conv(x, kernel[:, 0].flip(1), 2, impl="taploop")
    torch.testing.assert_close(case.forward(case.input).permute(2, 0, 1), expected)


@pytest.mark.parametrize("method", [m for m in train_speed.OPERATORS + train_speed.MODULES if m != "auto"])
def test_every_case_steps_and_gives_its_input_a_gradient(method):
    case = train_speed.build(method, 8, 3, 2)
    case.step()
    assert case.input.grad is not None and case.input.grad.shape == case.input.shape
    assert all(p.grad is not None for p in case.parameters)
