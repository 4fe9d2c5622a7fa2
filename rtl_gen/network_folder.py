"""A network folder: write, lint and synthesize the whole-network accelerator of a model.

:func:`write_network_folder` writes ``<top>.v``, its sidecar ``<top>.json`` and the model ``<top>.ssm``
(``network.py``) and lints the Verilog; :func:`read_network_folder` reads it back through one typed
reader; :func:`synthesize_network` gives the area, Fmax and the cycle model's figures per sample.
Problems with the folder are one-line :class:`~shiftspike.rtl_gen.sidecar.CoreFolderError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shiftspike.sim import load, run
from shiftspike.sim.errors import FileFormatError, OutputError
from shiftspike.sim.model import IntegerModel
from shiftspike.sim.network_cycles import NetworkPlan, layer_events, performance, plan_network
from shiftspike.sim.safe_io import read_json

from .sidecar import CoreFolderError

#: ``format`` of a network sidecar (``network.py`` writes it).
NETWORK_FORMAT = "shiftspike-network"


@dataclass(frozen=True)
class NetworkFolder:
    """A folder :func:`write_network_folder` wrote: ``verilog``, ``sidecar`` paths, ``top``, ``model`` (read
    from ``<top>.ssm``), ``plan`` (re-derived from the model and the sidecar's lanes), ``debug``, ``raw`` (the
    parsed sidecar) and ``warnings`` (Verilator lint lines; empty: clean, or not linted)."""

    verilog: Path
    sidecar: Path
    top: str
    model: IntegerModel
    plan: NetworkPlan
    debug: bool
    raw: dict
    warnings: tuple[str, ...] = ()


def write_network_folder(model: IntegerModel, out: Path, lanes=None, arith: str = "shift",
                         debug: bool = True, x: np.ndarray | None = None) -> NetworkFolder:
    """Generate the accelerator of ``model`` (``lanes``: an int P to balance at, on the activity of sample
    inputs ``x [T, B, F]`` if given, or one value per layer), write it into ``out`` and lint it with
    Verilator."""
    from . import ARITHS
    from .network import build_network, write_network
    from .tools import lint

    if arith not in ARITHS:
        raise CoreFolderError(f"arith must be one of {', '.join(ARITHS)}, got {arith!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CoreFolderError(f"{out}: exists and is not a directory")
    try:
        network = build_network(model, lanes, arith, debug, x=x)
    except ValueError as exc:
        raise CoreFolderError(str(exc)) from None
    try:
        verilog, sidecar = write_network(network, out)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the network ({exc.strerror or exc})") from None
    return NetworkFolder(verilog, sidecar, network.top, model, network.plan, debug, network.sidecar,
                         tuple(lint(verilog, network.top)))


def is_network_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a network sidecar (rather than neuron cores)."""
    return bool(_sidecars(Path(folder)))


def _sidecars(folder: Path) -> list[tuple[Path, dict]]:
    """``(path, parsed JSON)`` of every network sidecar in ``folder``; other or unreadable JSON is skipped."""
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            raw = read_json(path)
        except FileFormatError:
            continue
        if isinstance(raw, dict) and raw.get("format") == NETWORK_FORMAT:
            found.append((path, raw))
    return found


def read_network_folder(folder: Path) -> NetworkFolder:
    """The network in ``folder``: its sidecar checked against the model next to it (same top, lanes, arith);
    anything missing or inconsistent is a :class:`CoreFolderError` naming the file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CoreFolderError(f"{folder}: no such directory")
    found = _sidecars(folder)
    if len(found) != 1:
        raise CoreFolderError(f"{folder}: expected one network sidecar (written by `shiftspike rtl --network`), "
                              f"found {len(found)}")
    path, raw = found[0]
    try:
        top, arith, debug = raw["top"], raw["arith"], raw["debug"]
        lanes = [layer["lanes"] for layer in raw["layers"]]
    except (KeyError, TypeError):
        raise CoreFolderError(f"{path}: not a complete network sidecar") from None
    if not isinstance(top, str) or not top.isidentifier():
        raise CoreFolderError(f"{path}: top must be a Verilog identifier")
    verilog, model_path = folder / f"{top}.v", folder / f"{top}.ssm"
    for needed in (verilog, model_path):
        if not needed.is_file():
            raise CoreFolderError(f"{path}: {needed.name} is missing")
    model = load(model_path)
    try:
        plan = plan_network(model, lanes, arith)
    except (ValueError, TypeError) as exc:
        raise CoreFolderError(f"{path}: {exc}") from None
    if list(plan.lanes) != lanes or raw.get("plan") != plan.to_json():
        raise CoreFolderError(f"{path}: its lanes do not match the model {model_path.name}")
    return NetworkFolder(verilog, path, top, model, plan, bool(debug), raw)


def synthesize_network(folder: NetworkFolder, target: str | None, x: np.ndarray | None = None,
                       unfit_ok: bool = False, freq_mhz: float = 100.0) -> dict:
    """Synthesize the network for ``target`` (``rtl_gen.synth.synthesize``: logic cells, FFs, block RAM,
    DSPs, Fmax) and add the cycle model's figures at Fmax for the samples of ``x [T, B, F]`` (default: one
    sample of every input value non-zero, the slowest case): ``cycles_per_sample``, ``latency_us``,
    ``samples_per_second`` (see :func:`~shiftspike.sim.network_cycles.performance`). With ``unfit_ok`` a
    network too large for the device is a row with ``does_not_fit`` (the reason), no area and no times.
    ``target`` None: no synthesis, the row holds the cycle model's figures only (``synthesized`` False).
    ``freq_mhz``: the clock nextpnr is asked to meet (the row's Fmax is the one it achieves)."""
    from .synth import DoesNotFit, synthesize, unfit_result

    model = folder.model
    if x is None:
        hi = 1 if model.input.kind == "spike" else model.input.value_range[1]
        x = np.full((model.timesteps, 1, model.input.features), hi, model.input.dtype)
    try:
        result = ({"synthesized": False} if target is None
                  else synthesize(folder.verilog, folder.top, target, freq_mhz=freq_mhz))
    except DoesNotFit as exc:
        if not unfit_ok:
            raise
        result = unfit_result(target, folder.top, exc)
    events = layer_events(model, x, run(model, x).outputs)
    return {"top": folder.top, "arith": folder.plan.arith, "lanes": list(folder.plan.lanes), **result,
            **performance(folder.plan, events, result.get("fmax_mhz"))}
