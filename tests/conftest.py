"""Shared test settings: Hypothesis runs derandomized (seeded, reproducible) with no deadline
(the first call of a Numba kernel compiles it)."""

import os

import pytest

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
