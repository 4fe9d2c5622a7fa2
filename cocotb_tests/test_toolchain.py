"""The RTL toolchain works here: cocotb 2 runs a design on Icarus and on Verilator and checks it
exhaustively against the simulator's overflow rules (and a corrupted expectation fails)."""

from pathlib import Path

import pytest

from shiftspike.rtl_gen.verify import SIMULATORS, run_testbench

HERE = Path(__file__).resolve().parent

pytestmark = [pytest.mark.rtl, pytest.mark.slow]


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_overflow_rules_in_hdl(simulator, tmp_path_factory):
    build = tmp_path_factory.mktemp(f"acc_{simulator}")
    run_testbench(simulator, [HERE / "hdl" / "acc_overflow.v"], "acc_overflow", "tb_acc_overflow", build,
                  parameters={"W": 5}, extra_env={"ACC_WIDTH": "5"})


def test_a_wrong_expectation_fails(tmp_path_factory):
    build = tmp_path_factory.mktemp("acc_corrupt")
    with pytest.raises(SystemExit):
        run_testbench("icarus", [HERE / "hdl" / "acc_overflow.v"], "acc_overflow", "tb_acc_overflow", build,
                      parameters={"W": 4}, extra_env={"ACC_WIDTH": "4", "CORRUPT_EXPECTED": "1"})
