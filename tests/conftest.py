"""Shared test settings.

Hypothesis runs with no deadline (the first call of a Numba kernel compiles it, and nothing in the
suite may depend on speed) and one seed per pytest run, printed in the header::

    hypothesis seed: HYPOTHESIS_SEED=1234 (ci)

- Under CI (the environment variable ``CI`` is set; ``.ci/run`` exports ``CI=1``) the seed is
  :data:`CI_SEED` unless ``HYPOTHESIS_SEED`` names another, so every CI run draws the same examples.
- Locally the seed is random, so each run explores new examples.

To replay a run (CI or local), pass the printed seed back: ``HYPOTHESIS_SEED=1234 make test-fast``, or
``HYPOTHESIS_SEED=1234 .venv/bin/python -m pytest -n 2 tests/test_bounds.py``. A forced seed disables
Hypothesis's example database, so the replay does not depend on what earlier runs stored. A single
failing example can also be replayed from the ``@reproduce_failure(...)`` blob Hypothesis prints.

The seed reaches the pytest-xdist workers through the environment: the controlling process fixes
``HYPOTHESIS_SEED`` when it imports this file, before it starts the workers, and every process hands it
to Hypothesis as its ``--hypothesis-seed`` option. ``HYPOTHESIS_PROFILE`` (``ci`` or ``dev``) picks the
settings profile; the default is ``ci`` under CI, else ``dev``.
"""

import os
import random

import pytest

from hypothesis import HealthCheck, settings

#: The seed of CI runs when ``HYPOTHESIS_SEED`` is not set.
CI_SEED = 20261201

IN_CI = bool(os.environ.get("CI"))

if "HYPOTHESIS_SEED" not in os.environ:
    os.environ["HYPOTHESIS_SEED"] = str(CI_SEED if IN_CI else random.SystemRandom().randrange(2**32))
HYPOTHESIS_SEED = int(os.environ["HYPOTHESIS_SEED"])

settings.register_profile("ci", deadline=None, print_blob=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if IN_CI else "dev"))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Hand the run's seed to Hypothesis's pytest plugin (as ``--hypothesis-seed`` would)."""
    if config.getoption("hypothesis_seed", None) is None:
        config.option.hypothesis_seed = HYPOTHESIS_SEED


def pytest_report_header(config):
    seed = config.getoption("hypothesis_seed", None)
    where = "ci" if IN_CI else "local, random"
    return (f"hypothesis seed: HYPOTHESIS_SEED={seed} ({where}; replay with "
            f"HYPOTHESIS_SEED={seed} or --hypothesis-seed={seed})")


@pytest.fixture(scope="session", autouse=True)
def _private_autoselect_cache(tmp_path_factory):
    """Keep the temporal-convolution autoselect cache out of the user's home directory."""
    previous = os.environ.get("SHIFTSPIKE_CACHE_DIR")
    os.environ["SHIFTSPIKE_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        del os.environ["SHIFTSPIKE_CACHE_DIR"]
    else:
        os.environ["SHIFTSPIKE_CACHE_DIR"] = previous


@pytest.fixture
def private_autoselect(tmp_path, monkeypatch):
    """A fresh autoselect: its disk cache in this test's own folder (enabled), nothing remembered in memory."""
    from shiftspike.quant.temporal import autoselect

    monkeypatch.setenv("SHIFTSPIKE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SHIFTSPIKE_DISK_CACHE", raising=False)
    autoselect.reset()
    yield
    autoselect.reset()
