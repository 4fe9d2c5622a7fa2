"""The RTL toolchain works here: cocotb 2 runs a design on Icarus and on Verilator and checks it
exhaustively against the simulator's overflow rules (and a corrupted expectation fails)."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cocotb_tools.runner import get_results
from shiftspike.rtl_gen.verify import SIMULATORS, run_testbench

HERE = Path(__file__).resolve().parent

pytestmark = [pytest.mark.rtl, pytest.mark.slow]


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_overflow_rules_in_hdl(simulator, tmp_path_factory):
    build = tmp_path_factory.mktemp(f"acc_{simulator}")
    run_testbench(simulator, [HERE / "hdl" / "acc_overflow.v"], "acc_overflow", "tb_acc_overflow", build,
                  parameters={"W": 5}, extra_env={"ACC_WIDTH": "5"})
    assert get_results(build / "results.xml") == (1, 0)


def test_a_wrong_expectation_fails(tmp_path_factory):
    """The runner's contract for a failed cocotb test under pytest: ``SystemExit(1)`` (the simulator itself
    exited 0), and the results file records the one test as failed on the corrupted wrap assertion."""
    build = tmp_path_factory.mktemp("acc_corrupt")
    with pytest.raises(SystemExit) as exit_info:
        run_testbench("icarus", [HERE / "hdl" / "acc_overflow.v"], "acc_overflow", "tb_acc_overflow", build,
                      parameters={"W": 4}, extra_env={"ACC_WIDTH": "4", "CORRUPT_EXPECTED": "1"})
    assert exit_info.value.code == 1
    results = build / "results.xml"
    assert get_results(results) == (1, 1)
    failures = [case for case in ET.parse(results).iter("testcase") if case.find("failure") is not None]
    assert [case.get("name") for case in failures] == ["every_operand_pair"]
    message = failures[0].find("failure").get("message") or failures[0].find("failure").text or ""
    assert "wrap: -8 + -8: expected 1, got 0" in message, message
