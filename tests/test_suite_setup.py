"""The suite's own set-up: `make test` runs pytest-xdist with ``--dist loadgroup`` so that every test of an
``xdist_group`` (the flow's, whose module fixture runs a whole flow) runs on one worker, which sets its
fixture up once. A pytest that pytest-xdist cannot group for would silently double that cost; this runs a
small grouped module on two workers and requires every test of the group on the same one."""

import re
import subprocess
import sys

GROUPED = """\
import pytest

pytestmark = pytest.mark.xdist_group("flow")


@pytest.mark.parametrize("case", range(8))
def test_case(case):
    pass
"""


def test_an_xdist_group_runs_on_one_worker(tmp_path):
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p",
                           "no:cacheprovider", "-c", "/dev/null", "--rootdir", str(tmp_path), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:]
    ran = re.findall(r"\[(gw\d)\] .*PASSED \S+::test_case\[\d\](@flow)?", done.stdout)
    assert len(ran) == 8, done.stdout[-2000:]
    assert all(group == "@flow" for _, group in ran), "the tests lost their xdist_group"
    assert len({worker for worker, _ in ran}) == 1, ran
