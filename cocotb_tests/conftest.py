"""Print the seed of the random RTL cases in the pytest header, so any run can be repeated."""

import os


def pytest_report_header(config):
    return f"shiftspike RTL cases: SHIFTSPIKE_RTL_SEED={os.environ.get('SHIFTSPIKE_RTL_SEED', '2026')}"
