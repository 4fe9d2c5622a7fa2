"""Print the seed of the random RTL cases in the pytest header, so any run can be repeated; one build job
per simulator build, since pytest-xdist already runs one build per core."""

import os

from cocotb_tools import runner as cocotb_runner

cocotb_runner.MAX_PARALLEL_BUILD_JOBS = 1


def pytest_report_header(config):
    return f"shiftspike RTL cases: SHIFTSPIKE_RTL_SEED={os.environ.get('SHIFTSPIKE_RTL_SEED', '2026')}"
