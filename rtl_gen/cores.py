"""A folder of cores: write, lint, synthesize and verify the neuron cores of a model, one folder at a time.

:func:`write_cores` writes per neuron layer ``<top>.v``, its sidecar
``<top>.json`` (:class:`Sidecar`) and ``<top>.ssm`` (the single-layer model the
core computes) and lints the Verilog; :func:`read_folder` reads such a folder
back; :func:`synthesize_cores` and :func:`verify_cores` run every core of it.
Every problem with the folder or the arguments is a one-line
:class:`CoreFolderError` (synthesis and verification failures keep their own
:class:`~shiftspike.rtl_gen.synth.SynthError` and
:class:`~shiftspike.rtl_gen.verify.VerifyError`). Progress is reported through
an optional callable ``progress(done, total, what)``; rendering it is the
caller's job. Importing this module is light (no amaranth until
:func:`write_cores` runs).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from shiftspike.sim import run
from shiftspike.sim.cycles import CoreTiming
from shiftspike.sim.errors import OutputError

from .sidecar import CoreFolderError, Sidecar, read_sidecar
from .synth import TARGETS, DoesNotFit, SynthError, TooManyPins, core_row, synthesize, unfit_result
from .verify import Verdict, load_core, verify_core

__all__ = ["CoreFolderError", "Sidecar", "WrittenCore", "layer_currents", "read_folder", "read_sidecar",
           "synthesize_cores", "verdict_json", "verify_cores", "write_cores"]

#: ``progress(done, total, what)``: ``done`` of ``total`` items finished, ``what`` the one under way or done.
OnProgress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class WrittenCore:
    """One core :func:`write_cores` wrote: neuron layer ``index``, its ``top`` module, ``verilog`` path, cycle
    model ``timing`` and its Verilator lint lines ``warnings`` (empty: clean)."""

    index: int
    top: str
    verilog: Path
    timing: CoreTiming
    warnings: list[str]


def _layers(model, layers: list[int] | None) -> list[int]:
    neurons = model.neuron_layers()
    if not neurons:
        raise CoreFolderError("the model has no neuron layer")
    for index in layers or []:
        if isinstance(index, bool) or not isinstance(index, int) or index not in neurons:
            raise CoreFolderError(f"layer {index!r} is not a neuron layer; the neuron layers are {neurons}")
    return list(layers or neurons)


def write_cores(model, out: Path, layers: list[int] | None = None, lanes: int | None = None, arith: str = "shift",
                loadable: bool = False, debug: bool = True) -> list[WrittenCore]:
    """Write ``<top>.v``, its sidecar ``<top>.json`` and its single-layer model ``<top>.ssm`` for each neuron
    layer in ``layers`` (indices into ``model.layers``; default: every neuron layer) into folder ``out``,
    each file atomically, and lint every Verilog file with Verilator.

    ``lanes`` P is capped per layer: each core gets ``min(lanes, its layer's neurons)`` datapaths
    (default: the layer's channels). ``arith``: ``"shift"`` or ``"mul"``; ``loadable``: taps and thresholds
    behind a load port; ``debug``: membranes in the output beats. Every core is built before any is
    written, so a bad layer writes nothing."""
    from . import ARITHS
    from .generate import build_core, write_core
    from .tools import lint

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CoreFolderError(f"{out}: exists and is not a directory")
    if lanes is not None and (isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1):
        raise CoreFolderError(f"lanes must be a positive integer, got {lanes!r}")
    if arith not in ARITHS:
        raise CoreFolderError(f"arith must be one of {', '.join(ARITHS)}, got {arith!r}")
    cores = []
    for index in _layers(model, layers):
        capped = None if lanes is None else min(lanes, model.specs[index].features)
        cores.append((index, build_core(model, index, lanes=capped, arith=arith, loadable=loadable, debug=debug)))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the folder ({exc.strerror or exc})") from None
    written = []
    for index, core in cores:
        verilog, _ = write_core(core, out)
        written.append(WrittenCore(index, core.top, verilog, core.params.timing, lint(verilog, core.top)))
    return written


def read_folder(folder: Path) -> list[Sidecar]:
    """The sidecars of every core in ``folder`` (a folder :func:`write_cores` wrote), sorted by file name;
    JSON files that are not core sidecars are skipped. No such folder, no sidecar, a malformed one or a
    missing Verilog file: :class:`CoreFolderError`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CoreFolderError(f"{folder}: no such directory")
    found = [meta for path in sorted(folder.glob("*.json")) if (meta := read_sidecar(path)) is not None]
    if not found:
        raise CoreFolderError(f"{folder}: no core sidecars (*.json written by `shiftspike rtl`)")
    for meta in found:
        if not meta.verilog.is_file():
            raise CoreFolderError(f"{meta.path}: its Verilog {meta.verilog.name} is missing")
    return found


def synthesize_cores(folder: Path, target: str, unfit_ok: bool = False, progress: OnProgress | None = None
                     ) -> list[dict]:
    """Synthesize every core of ``folder`` for ``target``; one :func:`~shiftspike.rtl_gen.synth.core_row` per
    core, in the folder's order (keys: ``logic_cells``, ``ffs``, ``ram_blocks``, ``multipliers``, ``fmax_mhz``
    MHz, ``updates_per_second``, ...). The cores run in parallel, one Yosys/nextpnr process per CPU core
    (each run is seeded, so the rows do not depend on the order they finish in). With ``unfit_ok`` a core
    too large for the device (:class:`~shiftspike.rtl_gen.synth.DoesNotFit`) is a row with ``does_not_fit``
    (the reason) and no numbers, as in the area benchmark, rather than an error."""
    if target not in TARGETS:
        raise CoreFolderError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    cores = read_folder(folder)

    def one(meta: Sidecar) -> dict:
        try:
            return core_row(meta, synthesize(meta.verilog, meta.top, target))
        except DoesNotFit as exc:
            if not unfit_ok:
                raise
            return core_row(meta, unfit_result(target, meta.top, exc))
        except TooManyPins:
            raise
        except SynthError as exc:
            raise SynthError(f"{meta.verilog}: {exc}") from None

    workers = max(1, min(len(cores), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(one, meta): meta for meta in cores}
        for done, future in enumerate(as_completed(futures), 1):
            if progress is not None:
                progress(done, len(cores), futures[future].top)
        return [future.result() for future in futures]


def layer_currents(model, x: np.ndarray) -> dict[int, np.ndarray]:
    """Each neuron layer's integer input ``[T, B, features]`` when ``model`` runs on ``x [T, B, features]``,
    keyed by layer index."""
    outputs = run(model, x).outputs
    return {i: x if i == 0 else outputs[i - 1] for i in model.neuron_layers()}


def _same_layer(a, b) -> bool:
    return type(a) is type(b) and all(np.array_equal(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))


def verify_cores(model, x: np.ndarray, rtl_dir: Path, simulators: list[str], workdir: Path,
                 progress: OnProgress | None = None) -> list[Verdict]:
    """Verify every core of ``rtl_dir`` on each simulator (``"icarus"``, ``"verilator"``) with the currents of
    ``model`` run on ``x [T, B, features]``; each (core, simulator) builds in ``workdir/<top>/<simulator>``.
    Returns the :class:`~shiftspike.rtl_gen.verify.Verdict` list, in core then simulator order. A core not
    generated from ``model``: :class:`CoreFolderError`."""
    rtl_dir = Path(rtl_dir)
    currents = layer_currents(model, x)
    cores = []
    for meta in read_folder(rtl_dir):
        core = load_core(rtl_dir, meta.layer, meta.top)
        if meta.layer not in currents or not _same_layer(core.layer, model.layers[meta.layer]):
            raise CoreFolderError(f"{core.verilog}: was not generated from this model (its layer {meta.layer} "
                                  "differs)")
        cores.append(core)
    total = len(cores) * len(simulators)
    verdicts = []
    for core in cores:
        for simulator in simulators:
            layer = core.sidecar.layer
            verdicts.append(verify_core(rtl_dir, layer, currents[layer], simulator,
                                        Path(workdir) / core.top / simulator, top=core.top))
            if progress is not None:
                progress(len(verdicts), total, f"{core.top} on {simulator}")
    return verdicts


def verdict_json(verdict: Verdict) -> dict:
    """A :class:`~shiftspike.rtl_gen.verify.Verdict` as a JSON dict (paths as strings), with ``passed``."""
    return {f.name: (str(v) if isinstance(v := getattr(verdict, f.name), Path) else v) for f in fields(verdict)} | {
        "passed": verdict.passed}
