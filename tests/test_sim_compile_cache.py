"""The compiled kernels are cached in shiftspike's own cache folder, keyed by its version, and the first
run says once that it compiles them (``sim/jit.py``; the training kernels of ``shiftspike.quant`` with
their own note); the whole-sequence kernels share their jobs out over threads (``kernels.job_ranges``).

The runs are subprocesses with a fresh cache folder, so the first one really compiles; only the readout
kernel is used (a one-layer model), which keeps each compile to a few seconds.
"""

import os
import stat
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shiftspike.sim import IntegerModel, Readout, TensorSpec, jit, kernels, save


@pytest.fixture
def files(tmp_path):
    """A one-layer model (a readout) and an input for it."""
    save(IntegerModel(TensorSpec("int", 4, 1), 3, (Readout(8),)), tmp_path / "m.ssm")
    np.save(tmp_path / "x.npy", np.ones((3, 2, 1), np.int8))
    return tmp_path


def _sim(files, **env) -> subprocess.CompletedProcess:
    """``shiftspike sim`` on the one-layer model, with Numba's cache folder unset unless given in ``env``."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("NUMBA_CACHE_DIR", "SHIFTSPIKE_CACHE_DIR", "SHIFTSPIKE_DISK_CACHE")}
    out = files / "out.npy"
    out.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-m", "shiftspike", "sim", str(files / "m.ssm"), "--input",
                           str(files / "x.npy"), "--out", str(out)], env=base | env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done


def _cached(folder) -> list:
    return sorted(p.name for p in folder.rglob("*.nbi"))


def test_first_run_says_once_that_it_compiles_and_a_warm_run_says_nothing(files):
    cache = files / "cache"
    first = _sim(files, SHIFTSPIKE_CACHE_DIR=str(cache))
    assert first.stderr == jit.COMPILE_NOTE + "\n"
    assert _cached(cache / "numba" / metadata.version("shiftspike"))
    assert stat.S_IMODE((cache / "numba" / metadata.version("shiftspike")).stat().st_mode) == 0o700
    assert _sim(files, SHIFTSPIKE_CACHE_DIR=str(cache)).stderr == ""


#: One forward pass of the fused training kernel (no gradient: the forward kernels only, a few seconds).
FUSED_FORWARD = ("import torch; from shiftspike.quant.temporal import temporal_conv\n"
                 "with torch.no_grad(): temporal_conv(torch.ones(4, 1, 2), torch.ones(2, 2), 1, impl='fused')")


def test_the_training_kernels_say_once_that_they_compile(tmp_path):
    from shiftspike import quant

    base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "SHIFTSPIKE_DISK_CACHE")}
    runs = [subprocess.run([sys.executable, "-c", FUSED_FORWARD], env=base | {"SHIFTSPIKE_CACHE_DIR": str(tmp_path)},
                           capture_output=True, text=True, timeout=600) for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr
    assert [run.stderr for run in runs] == [quant.COMPILE_NOTE + "\n", ""]
    assert _cached(tmp_path / "numba" / metadata.version("shiftspike"))


def test_a_user_set_numba_cache_dir_is_used(files):
    mine, theirs = files / "numba-mine", files / "shiftspike-cache"
    assert _sim(files, NUMBA_CACHE_DIR=str(mine), SHIFTSPIKE_CACHE_DIR=str(theirs)).stderr == jit.COMPILE_NOTE + "\n"
    assert _cached(mine) and not _cached(theirs)


def test_a_cache_folder_others_can_write_to_is_not_loaded(files):
    cache = files / "shared"
    folder = cache / "numba" / metadata.version("shiftspike")
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    for _ in range(2):
        lines = _sim(files, SHIFTSPIKE_CACHE_DIR=str(cache)).stderr.splitlines()
        assert lines == [f"not caching the compiled simulator: {folder} is writable by other users",
                         jit.COMPILE_NOTE]
    assert not _cached(cache)


def test_the_disk_cache_switch_turns_the_kernel_cache_off(files):
    cache = files / "cache"
    for _ in range(2):
        assert _sim(files, SHIFTSPIKE_CACHE_DIR=str(cache), SHIFTSPIKE_DISK_CACHE="0").stderr == (
            jit.COMPILE_NOTE + "\n")
    assert not cache.exists()


def test_the_kernel_cache_folder_is_keyed_by_version_under_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("SHIFTSPIKE_CACHE_DIR", raising=False)
    monkeypatch.delenv("SHIFTSPIKE_DISK_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert jit.numba_cache_dir() == tmp_path / "shiftspike" / "numba" / metadata.version("shiftspike")
    monkeypatch.setenv("SHIFTSPIKE_CACHE_DIR", str(tmp_path / "own"))
    assert jit.numba_cache_dir() == tmp_path / "own" / "numba" / metadata.version("shiftspike")


def test_a_private_folder_is_created_owner_only_and_a_group_writable_one_refused(tmp_path):
    assert jit.private_dir(tmp_path / "a" / "b") is None
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    (tmp_path / "g").mkdir(mode=0o770)
    (tmp_path / "g").chmod(0o770)
    assert jit.private_dir(tmp_path / "g") == f"{tmp_path / 'g'} is writable by other users"


@settings(max_examples=200)
@given(st.integers(0, 10_000), st.integers(1, 64))
def test_the_kernels_job_ranges_cover_every_job_once_in_near_equal_parts(jobs, parts):
    ranges = kernels.job_ranges(jobs, parts)
    assert [j for lo, hi in ranges for j in range(lo, hi)] == list(range(jobs))
    assert len(ranges) == max(1, min(jobs, parts))
    sizes = [hi - lo for lo, hi in ranges]
    assert max(sizes) - min(sizes) <= 1
