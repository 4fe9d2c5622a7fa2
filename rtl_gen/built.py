"""A core built in memory (:func:`shiftspike.rtl_gen.generate.build_core`), synthesized or verified without
writing anything the caller did not ask for.

Each function writes the core's files into a private temporary folder, runs
the tools there and removes the folder before it returns, whether the run
succeeded or not. From a notebook::

    core = build_core(model, 0, lanes=4)
    row = synthesize_core(core, "generic")
    verdict = verify_built(core, layer_currents(model, x)[0], "icarus")
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .generate import Core, write_core
from .sidecar import parse_sidecar
from .synth import DoesNotFit, core_row, synthesize, unfit_result
from .verify import Verdict, verify_core


def synthesize_core(core: Core, target: str = "ice40-hx8k", unfit_ok: bool = False) -> dict:
    """Synthesize ``core`` for ``target``; the row :func:`~shiftspike.rtl_gen.synth.core_row` gives
    (``logic_cells``, ``ffs``, ``ram_blocks``, ``multipliers``, ``fmax_mhz`` MHz, ``updates_per_second``, ...).
    With ``unfit_ok`` a core too large for the device is a row with ``does_not_fit`` and no numbers."""
    with tempfile.TemporaryDirectory(prefix="shiftspike-core-") as tmp:
        verilog, sidecar_path = write_core(core, Path(tmp))
        sidecar = parse_sidecar(core.sidecar, sidecar_path)
        try:
            result = synthesize(verilog, core.top, target, workdir=Path(tmp) / "synth")
        except DoesNotFit as exc:
            if not unfit_ok:
                raise
            result = unfit_result(target, core.top, exc)
        return core_row(sidecar, result)


def verify_built(core: Core, currents: np.ndarray, simulator: str = "icarus", *, stalls: bool = True,
                 seed: int = 0) -> Verdict:
    """Run ``core`` on ``simulator`` (``"icarus"`` or ``"verilator"``) with its layer's integer inputs
    ``currents [T, B, features]`` and compare it with the simulator, as
    :func:`~shiftspike.rtl_gen.verify.verify_core` does for a written core (``stalls``, ``seed`` as there).
    The verdict's ``waves`` is None: the build folder is gone when this returns."""
    with tempfile.TemporaryDirectory(prefix="shiftspike-core-") as tmp:
        write_core(core, Path(tmp))
        return verify_core(Path(tmp), core.sidecar["layer"], currents, simulator, Path(tmp) / "run",
                           stalls=stalls, seed=seed, top=core.top)
