"""Verification of a whole-network accelerator: run it on Icarus or Verilator and hold it to the simulator.

:func:`verify_network` takes a generated accelerator (a folder written by
``write_network``: ``<top>.v`` and its sidecar ``<top>.json``, or the in-memory
``Network`` of ``build_network``), the integer model it is held to and samples
``x [T, B, F_in]``. It streams the samples with the cocotb driver
:mod:`shiftspike.rtl_gen.tb_network` and compares, with the Numba simulator
(``sim.run``): every layer's output at every time step (the ``dbg<i>`` pulses,
when the top has them), the output beat's ``sums`` (the last layer at step
``T-1``) and ``label`` (their argmax, lowest index on ties), and, in the
stall-free pass, every input and output handshake's cycle with the cycle model
(``sim.network_cycles.network_schedule``).

The plan: pass 1 runs all samples back to back with the input always valid and
the output always ready (the cycle check); with ``stalls``/``resets`` a second
pass runs them again in segments separated by resets, with random valid/ready
stalls, and with a reset in the middle of a sample (the samples it interrupts
are re-sent from step 0, and nothing of the interrupted attempt may appear).
:func:`verify_test_set` is the fast path for many samples: one stall-free pass,
classes, sums and cycles (layers optional).

A disagreement is a :class:`NetworkVerdict` that did not pass, with the first
mismatch on one line; a missing or malformed file, a model or input that does
not fit the accelerator, or a tool that cannot build raise :class:`VerifyError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shiftspike.sim import InputError, IntegerModel, ModelError, run
from shiftspike.sim.network_cycles import network_schedule
from shiftspike.sim.safe_io import atomic_path, read_json, write_atomic, write_json
from shiftspike.sim.trace import check_input

from .network_folder import NETWORK_FORMAT, read_network_folder
from .sidecar import CoreFolderError
from .tools import ToolError
from .verify import SIMULATORS, STALLS, VerifyError, run_testbench

#: The cocotb module that drives the accelerator (imported by the simulator's embedded Python).
TESTBENCH = "shiftspike.rtl_gen.tb_network"

#: Most samples per segment of the stalled pass (each segment starts with a reset).
SEGMENT_SAMPLES = 3


@dataclass(frozen=True)
class Design:
    """The accelerator under test: its Verilog file and its sidecar (``NETWORK.md``)."""

    verilog: Path
    sidecar: dict

    @property
    def top(self) -> str:
        return self.sidecar["top"]

    @property
    def steps(self) -> int:
        return int(self.sidecar["timesteps"])

    @property
    def lanes(self) -> list[int]:
        return [int(layer["lanes"]) for layer in self.sidecar["layers"]]


@dataclass(frozen=True)
class NetworkVerdict:
    """The outcome of one accelerator on one simulator.

    ``samples``: distinct samples, ``steps``: T; ``runs``: sample runs that completed (an output beat
    arrived), over both passes; ``class_exact``: samples whose every run gave the simulator's class;
    ``mismatching_classes``: samples with a run that gave another class; ``missing``: samples with a run
    that gave no (resolved) output beat; ``layers_compared``: whether the layers' outputs were compared
    (the top has debug ports and they were asked for); ``mismatches``: values (layer outputs, sums,
    labels) that differ, beats that are missing, extra or early; ``cycles``/``expected_cycles``: latency
    per sample of the stall-free pass (first input beat to output beat, clock cycles), measured and from
    the cycle model; ``cycle_deviations``: handshakes of that pass off the model's cycle;
    ``first_mismatch``: one line naming sample, step, layer, feature, expected and got (or the first cycle
    deviation), else None; ``seconds``: wall time of the whole verification.
    """

    simulator: str
    top: str
    samples: int
    steps: int
    runs: int
    class_exact: int
    mismatching_classes: int
    missing: int
    layers_compared: bool
    mismatches: int
    cycles: tuple[int, ...]
    expected_cycles: tuple[int, ...]
    cycle_deviations: int
    first_mismatch: str | None
    seconds: float

    @property
    def passed(self) -> bool:
        return (self.class_exact == self.samples and self.mismatches == 0 and self.cycle_deviations == 0
                and self.first_mismatch is None and self.cycles == self.expected_cycles)

    def summary(self) -> str:
        """One line: class-exact samples out of samples run, mismatches, cycles against the model."""
        cycles = (f"cycles per sample {min(self.cycles)}-{max(self.cycles)} "
                  f"{'equal to' if self.cycles == self.expected_cycles else 'differ from'} the cycle model"
                  if self.cycles else "no cycles measured")
        return (f"{self.top} on {self.simulator}: {self.class_exact}/{self.samples} samples class-exact, "
                f"{self.mismatching_classes} mismatching classes, {self.mismatches} mismatches"
                f"{'' if self.layers_compared else ' (layers not compared)'}, {cycles}, {self.seconds:.1f} s"
                + (f"; first: {self.first_mismatch}" if self.first_mismatch else ""))

    def to_json(self) -> dict:
        """The verdict as plain JSON (lists for the cycle tuples), with ``passed``."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)} | {"passed": self.passed}


def _check_sidecar(path, raw) -> dict:
    """The sidecar's keys the testbench relies on, checked; a problem is a one-line VerifyError."""
    try:
        if not isinstance(raw, dict) or raw.get("format") != NETWORK_FORMAT:
            raise ValueError(f"not a {NETWORK_FORMAT} sidecar")
        if raw.get("version") != 1:
            raise ValueError(f"version {raw.get('version')!r}, expected 1")
        for key, kind in (("top", str), ("timesteps", int), ("arith", str), ("debug", bool), ("input", dict),
                          ("layers", list), ("ports", dict), ("verilog_sha256", str)):
            if not isinstance(raw.get(key), kind):
                raise ValueError(f"'{key}' missing or not a {kind.__name__}")
        if not raw["layers"]:
            raise ValueError("no layers")
        for i, layer in enumerate(raw["layers"]):
            missing = [key for key in ("kind", "width", "features") if key not in layer["out"]]
            if missing or not isinstance(layer.get("lanes"), int):
                raise ValueError(f"layer {i}: 'lanes' or out {', '.join(missing) or 'fields'} missing")
        names = ["inp", "out"] + ([f"dbg{i}" for i in range(len(raw["layers"]))] if raw["debug"] else [])
        for name in names:
            port = raw["ports"][name]
            int(port["payload_width"])
            if not isinstance(port["payload"], dict):
                raise ValueError(f"port {name} has no payload fields")
    except (KeyError, TypeError, ValueError) as exc:
        raise VerifyError(f"{path}: malformed network sidecar ({exc.args[0] if exc.args else exc})") from None
    return raw


def load_design(source, workdir: Path) -> Design:
    """The accelerator of ``source``: a folder from ``write_network`` (read by ``read_network_folder``), or an
    in-memory ``Network`` (``.verilog``, ``.sidecar``), whose Verilog is written into ``workdir/design``."""
    if hasattr(source, "verilog") and hasattr(source, "sidecar"):
        sidecar = _check_sidecar("the network", source.sidecar)
        verilog = Path(workdir) / "design" / f"{sidecar['top']}.v"
        verilog.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(verilog, source.verilog)
    else:
        try:
            folder = read_network_folder(Path(source))
        except (CoreFolderError, ModelError) as exc:
            raise VerifyError(str(exc)) from None
        sidecar, verilog = _check_sidecar(folder.sidecar, folder.raw), folder.verilog
    if hashlib.sha256(verilog.read_bytes()).hexdigest() != sidecar["verilog_sha256"]:
        raise VerifyError(f"{verilog}: differs from the Verilog its sidecar describes (sha256)")
    return Design(verilog, sidecar)


def check_model(design: Design, model: IntegerModel) -> None:
    """``model`` must have the accelerator's shape: T, the input, and per layer its type and output."""
    if not isinstance(model, IntegerModel):
        raise VerifyError(f"model must be an IntegerModel, got {type(model).__name__}")
    meta = design.sidecar
    wrong = []
    if model.timesteps != meta["timesteps"]:
        wrong.append(f"timesteps {model.timesteps} != {meta['timesteps']}")
    have = {"kind": model.input.kind, "width": model.input.width, "features": model.input.features}
    if have != {k: meta["input"].get(k) for k in have}:
        wrong.append(f"input {have} != {meta['input']}")
    if len(model.layers) != len(meta["layers"]):
        wrong.append(f"{len(model.layers)} layers != {len(meta['layers'])}")
    else:
        for i, (layer, spec, side) in enumerate(zip(model.layers, model.specs[1:], meta["layers"])):
            out = {"kind": spec.kind, "width": spec.width, "features": spec.features}
            if layer.type != side.get("type") or out != {k: side["out"].get(k) for k in out}:
                wrong.append(f"layer {i} {layer.type} {out} != {side.get('type')} {side['out']}")
    if wrong:
        raise VerifyError(f"the model does not match the accelerator {design.top} ({'; '.join(wrong[:3])})")


def check_inputs(design: Design, model: IntegerModel, x) -> np.ndarray:
    """``x [T, B, F_in]`` as int64, refused (one line) if it does not fit the model or T."""
    if not isinstance(x, np.ndarray) or x.ndim != 3 or min(x.shape) < 1:
        raise VerifyError(f"x must be an integer array [T, B, features], got {getattr(x, 'shape', type(x).__name__)}")
    if x.shape[0] != design.steps:
        raise VerifyError(f"x has {x.shape[0]} time steps, the accelerator takes samples of exactly {design.steps}")
    try:
        return check_input(model, x).astype(np.int64)
    except InputError as exc:
        raise VerifyError(f"x: {exc}") from None


@dataclass(frozen=True)
class Expected:
    """The simulator's answer for ``x [T, B, F_in]``: ``outputs[i] [T, B, F_i]`` (int64) of every layer,
    ``sums [B, F_last]`` (the last layer at step T-1), ``labels [B]`` (argmax, lowest index on ties)."""

    outputs: list[np.ndarray]

    @property
    def sums(self) -> np.ndarray:
        return self.outputs[-1][-1]

    @property
    def labels(self) -> np.ndarray:
        return np.argmax(self.sums, axis=1)


def expected_outputs(model: IntegerModel, x: np.ndarray) -> Expected:
    """:class:`Expected` from ``sim.run(model, x)``."""
    return Expected([np.asarray(out, np.int64) for out in run(model, x).outputs])


def plan_segments(samples: int, steps: int, stalls: bool, resets: bool, rng: np.random.Generator) -> list[dict]:
    """The segments the driver runs (``tb_network``'s ``segments``): first every sample stall-free, back to
    back; then, with ``stalls`` or ``resets``, every sample again, with the stall probabilities of
    :data:`~shiftspike.rtl_gen.verify.STALLS` in turn and, with ``resets``, in segments of 1 to
    :data:`SEGMENT_SAMPLES` samples, about half of them (at least one) aborted by a reset in mid-sample
    (``abort_after`` input beats into the segment, inside a sample; with ``T = 1`` right after one, before
    its output beat may have arrived)."""
    plan = [{"samples": list(range(samples)), "stall_in": 0.0, "stall_out": 0.0, "abort_after": None}]
    if not (stalls or resets):
        return plan
    order = [int(b) for b in rng.permutation(samples)]
    chunks = [order]
    if resets:
        chunks, rest = [], order
        while rest:
            size = int(rng.integers(1, SEGMENT_SAMPLES + 1))
            chunks.append(rest[:size])
            rest = rest[size:]
    aborted = set()
    if resets:
        aborted = {i for i in range(len(chunks)) if rng.random() < 0.5} or {int(rng.integers(len(chunks)))}
    for i, chunk in enumerate(chunks):
        stall_in, stall_out = STALLS[i % len(STALLS)] if stalls else (0.0, 0.0)
        abort = None
        if i in aborted:
            victim = int(rng.integers(len(chunk)))
            abort = victim * steps + (int(rng.integers(1, steps)) if steps > 1 else 1)
        plan.append({"samples": chunk, "stall_in": stall_in, "stall_out": stall_out, "abort_after": abort})
    return plan


@dataclass
class _Findings:
    """Mismatches as they are found: the count and the first in (sample, segment, step, layer, feature) order."""

    count: int = 0
    first_key: tuple | None = None
    first_text: str | None = None

    def add(self, key: tuple, text: str, count: int = 1) -> None:
        self.count += count
        if self.first_key is None or key < self.first_key:
            self.first_key, self.first_text = key, text


def _run_name(segments: list[dict], seg: int) -> str:
    spec = segments[seg]
    if seg == 0:
        return "stall-free pass"
    stalls = f"stalls {spec['stall_in']:g}/{spec['stall_out']:g}"
    return f"segment {seg}, {stalls}" + (", aborted by a reset" if spec["aborted_after"] is not None else "")


class Judge:
    """Attributes the record's beats and pulses to sample runs and compares them with :class:`Expected`."""

    def __init__(self, design: Design, model: IntegerModel, expected: Expected, record: dict, segments: list[dict]):
        self.design, self.model, self.expected, self.rec, self.segments = design, model, expected, record, segments
        self.steps = design.steps
        self.found = _Findings()
        self.layers = len(model.layers)
        self.layers_compared = "dbg0_seg" in record
        self.completed: list[tuple[int, int]] = []   # (sample, segment) of every run with an output beat
        self.labels: dict[int, list[int | None]] = {}  # sample -> label of each completed run (None: unresolved)

    def _layer_name(self, i: int) -> str:
        return f"layer {i} ({self.model.layers[i].type})"

    def judge(self) -> None:
        for seg, spec in enumerate(self.segments):
            ins = self.rec["in_cycle"][self.rec["in_seg"] == seg]
            outs = np.flatnonzero(self.rec["out_seg"] == seg)
            samples = spec["samples"]
            done = self._outputs(seg, spec, samples, ins, outs)
            if self.layers_compared:
                for i in range(self.layers):
                    self._pulses(seg, spec, samples, i, len(ins), done)
        if self.layers_compared:
            for i in range(self.layers):
                early = int(np.count_nonzero(self.rec[f"dbg{i}_seg"] < 0))
                if early:
                    self.found.add((-1,), f"{self._layer_name(i)}: {early} debug pulses during the initial reset",
                                   early)
        if self.segments and self.segments[-1]["note"]:
            self.found.add((-1,), f"{_run_name(self.segments, len(self.segments) - 1)}: "
                                  f"{self.segments[-1]['note']}")

    def _outputs(self, seg: int, spec: dict, samples: list[int], ins: np.ndarray, outs: np.ndarray) -> int:
        """Output beat ``k`` of segment ``seg`` is the answer for ``samples[k]``, and counts only if it came
        after that sample's last input beat; return how many of the segment's samples completed."""
        steps, name, exp = self.steps, _run_name(self.segments, seg), self.expected
        done = 0
        finished = spec["aborted_after"] is None and spec["note"] is None
        for k, row in enumerate(outs):
            if k >= len(samples):
                self.found.add((samples[-1], seg, steps + 1), f"{name}: an extra output beat at cycle "
                                                              f"{int(self.rec['out_cycle'][row])}")
                continue
            b, cycle = samples[k], int(self.rec["out_cycle"][row])
            last = k * steps + steps - 1
            if last >= len(ins) or ins[last] >= cycle:
                self.found.add((b, seg, steps), f"sample {b} ({name}): an output beat at cycle {cycle} before "
                                                f"its last input beat")
                continue
            self.completed.append((b, seg))
            done += 1
            if not self.rec["out_resolved"][row]:
                self.labels.setdefault(b, []).append(None)
                self.found.add((b, seg, steps - 1, self.layers), f"sample {b} ({name}): the output beat had "
                                                                 f"unresolved bits (X/Z)", exp.sums.shape[1] + 1)
                continue
            got, want = self.rec["out_sums"][row], exp.sums[b]
            bad = np.flatnonzero(got != want)
            if bad.size:
                f = int(bad[0])
                self.found.add((b, seg, steps - 1, self.layers, f),
                               f"sample {b}, step {steps - 1}, sums (output of {self._layer_name(self.layers - 1)}), "
                               f"feature {f}: expected {int(want[f])}, got {int(got[f])} ({name}; {bad.size} sums "
                               f"differing)", int(bad.size))
            label = int(self.rec["out_label"][row])
            self.labels.setdefault(b, []).append(label)
            if label != int(exp.labels[b]):
                self.found.add((b, seg, steps - 1, self.layers + 1),
                               f"sample {b}: expected class {int(exp.labels[b])}, got {label} ({name})")
        if finished and len(outs) < len(samples):
            for b in samples[len(outs):]:
                self.labels.setdefault(b, []).append(None)
            b = samples[len(outs)]
            self.found.add((b, seg, steps), f"sample {b} ({name}): no output beat "
                                            f"({len(samples) - len(outs)} of {len(samples)} missing)",
                           len(samples) - len(outs))
        return done

    def _pulses(self, seg: int, spec: dict, samples: list[int], i: int, sent: int, done: int) -> None:
        """Layer ``i``'s pulses in segment ``seg``: pulse ``j`` is step ``j % T`` of ``samples[j // T]``; every
        step of the ``done`` samples with an output beat must be there, and none beyond the ``sent`` beats."""
        steps, name = self.steps, _run_name(self.segments, seg)
        rows = np.flatnonzero(self.rec[f"dbg{i}_seg"] == seg)
        limit = min(sent, len(samples) * steps)
        if len(rows) > limit:
            j = limit
            b = samples[min(j // steps, len(samples) - 1)]
            self.found.add((b, seg, j % steps if j < len(samples) * steps else steps, i),
                           f"{self._layer_name(i)} ({name}): {len(rows)} debug pulses, more than the {limit} input "
                           f"beats", len(rows) - limit)
            rows = rows[:limit]
        if len(rows) < done * steps:
            j = len(rows)
            b = samples[j // steps]
            self.found.add((b, seg, j % steps, i), f"sample {b}, step {j % steps}, {self._layer_name(i)}: no debug "
                                                   f"pulse ({name}; {done * steps - len(rows)} missing)",
                           done * steps - len(rows))
        if not len(rows):
            return
        j = np.arange(len(rows))
        order = np.array(samples, np.int64)[j // steps]
        step = j % steps
        want = self.expected.outputs[i][step, order]
        got = self.rec[f"dbg{i}_values"][rows]
        resolved = self.rec[f"dbg{i}_resolved"][rows]
        bad = (got != want) | ~resolved[:, None]
        if not bad.any():
            return
        r = int(np.flatnonzero(bad.any(axis=1))[0])
        b, t, f = int(order[r]), int(step[r]), int(np.flatnonzero(bad[r])[0])
        what = f"expected {int(want[r, f])}, got {int(got[r, f])}" if resolved[r] else "its bits were unresolved (X/Z)"
        self.found.add((b, seg, t, i, f), f"sample {b}, step {t}, {self._layer_name(i)}, feature {f}: {what} "
                                          f"({name}; {int(bad.sum())} differing in this layer)", int(bad.sum()))

    def classes(self, samples: int) -> tuple[int, int, int]:
        """``(class_exact, mismatching, missing)`` samples over every completed run."""
        labels = self.expected.labels
        exact = mismatching = missing = 0
        for b in range(samples):
            got = self.labels.get(b, [])
            if not got or None in got:
                missing += 1
            if any(g is not None and g != int(labels[b]) for g in got):
                mismatching += 1
            if got and all(g == int(labels[b]) for g in got):
                exact += 1
        return exact, mismatching, missing


def cycle_check(design: Design, model: IntegerModel, x: np.ndarray, record: dict
                ) -> tuple[tuple[int, ...], tuple[int, ...], int, str | None]:
    """The stall-free pass (segment 0) against the cycle model: measured and modelled latency per sample, the
    handshakes off the model's cycle and the first of them."""
    schedule = network_schedule(model, design.lanes, design.sidecar["arith"], x)
    want_in, want_out = np.asarray(schedule.in_cycles, np.int64), np.asarray(schedule.out_cycles, np.int64)
    expected = tuple(int(v) for v in schedule.latency)
    ins = record["in_cycle"][record["in_seg"] == 0]
    outs = record["out_cycle"][record["out_seg"] == 0]
    steps, samples = design.steps, x.shape[1]
    if len(ins) != len(want_in) or len(outs) != len(want_out):
        return (), expected, 1, (f"stall-free pass: {len(ins)} input and {len(outs)} output handshakes, "
                                 f"expected {len(want_in)} and {len(want_out)}")
    ins, outs = ins - ins[0], outs - ins[0]
    measured = tuple(int(outs[b] - ins[b * steps]) for b in range(samples))
    bad_in, bad_out = np.flatnonzero(ins != want_in), np.flatnonzero(outs != want_out)
    deviations = int(bad_in.size + bad_out.size)
    first = None
    if bad_in.size and (not bad_out.size or bad_in[0] // steps <= bad_out[0]):
        u = int(bad_in[0])
        first = (f"sample {u // steps}, step {u % steps}: input handshake at cycle {int(ins[u])}, cycle model "
                 f"{int(want_in[u])} (stall-free pass; {deviations} handshakes off the model)")
    elif bad_out.size:
        b = int(bad_out[0])
        first = (f"sample {b}: output handshake at cycle {int(outs[b])}, cycle model {int(want_out[b])} "
                 f"(latency {measured[b]}, model {expected[b]}; stall-free pass; {deviations} handshakes off)")
    return measured, expected, deviations, first


def drive(design: Design, x: np.ndarray, segments: list[dict], simulator: str, workdir: Path, *, debug: bool,
          seed: int, latency: int) -> tuple[dict, list[dict]]:
    """Write the stimulus, build and run the testbench; return the record (arrays) and the segments as run.
    ``latency``: the cycle model's longest sample latency, which sizes the driver's budget for a stuck run."""
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("observed.npz", "observed.json"):
        (workdir / stale).unlink(missing_ok=True)
    with atomic_path(workdir / "stimulus.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, x=np.ascontiguousarray(x.transpose(1, 0, 2)))
    per_beat = -(-latency // design.steps) + 4
    write_json(workdir / "stimulus.json", {"network": design.sidecar, "seed": seed, "debug": debug,
                                           "budget_base": 2 * latency + 100, "budget_per_beat": per_beat,
                                           "segments": segments})
    try:
        run_testbench(simulator, [design.verilog.resolve()], design.top, TESTBENCH, (workdir / "build").resolve(),
                      extra_env={"SHIFTSPIKE_STIMULUS": str(workdir.resolve())}, log_dir=workdir)
    except (RuntimeError, ToolError) as exc:
        raise VerifyError(f"{simulator} could not build or run {design.verilog.name} ({exc}); "
                          f"see {workdir / 'build.log'}") from None
    except SystemExit:
        pass  # the driver's record (or its absence) decides below
    return load_record(workdir, simulator, design.top)


def load_record(workdir: Path, simulator: str = "the simulator", top: str = "the accelerator"
                ) -> tuple[dict, list[dict]]:
    """The record the driver left in ``workdir``: ``observed.npz`` arrays and the segments of ``observed.json``."""
    if not (workdir / "observed.json").is_file() or not (workdir / "observed.npz").is_file():
        raise VerifyError(f"{simulator} run of {top} left no record; see {workdir / 'sim.log'}")
    with np.load(workdir / "observed.npz", allow_pickle=False) as arrays:
        record = {k: arrays[k] for k in arrays.files}
    return record, read_json(workdir / "observed.json", "testbench record")["segments"]


def judge(design: Design, model: IntegerModel, x: np.ndarray, expected: Expected, record: dict,
          segments: list[dict], simulator: str, seconds: float) -> NetworkVerdict:
    """The verdict on a record: layer values, sums, labels and, for the stall-free pass, cycles."""
    judged = Judge(design, model, expected, record, segments)
    judged.judge()
    exact, mismatching, missing = judged.classes(x.shape[1])
    cycles, expected_cycles, deviations, cycle_problem = cycle_check(design, model, x, record)
    return NetworkVerdict(
        simulator=simulator, top=design.top, samples=x.shape[1], steps=design.steps, runs=len(judged.completed),
        class_exact=exact, mismatching_classes=mismatching, missing=missing,
        layers_compared=judged.layers_compared, mismatches=judged.found.count, cycles=cycles,
        expected_cycles=expected_cycles, cycle_deviations=deviations,
        first_mismatch=judged.found.first_text or cycle_problem, seconds=seconds)


def verify_network(network, model: IntegerModel, x: np.ndarray, simulator: str, workdir, *, stalls: bool = True,
                   resets: bool = True, seed: int = 0, layers: bool = True) -> NetworkVerdict:
    """Run the accelerator ``network`` (a folder from ``write_network`` or a ``Network``) on ``x [T, B, F_in]``
    under ``simulator`` (``icarus``/``verilator``) and hold it to ``model``: every layer at every step (with
    ``layers`` and the top's debug ports), the sums, the class, and the stall-free pass's cycles.

    ``stalls``/``resets``: the second pass (see the module docstring; ``seed`` draws its plan and the stalls).
    ``workdir`` receives the stimulus, the record, the build (``build/``) and the logs (``build.log``,
    ``sim.log``).
    """
    began = time.perf_counter()
    if simulator not in SIMULATORS:
        raise VerifyError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    workdir = Path(workdir)
    design = load_design(network, workdir)
    check_model(design, model)
    x = check_inputs(design, model, x)
    expected = expected_outputs(model, x)
    schedule = network_schedule(model, design.lanes, design.sidecar["arith"], x)
    segments = plan_segments(x.shape[1], design.steps, stalls, resets, np.random.default_rng(seed))
    record, ran = drive(design, x, segments, simulator, workdir, debug=layers, seed=seed,
                        latency=int(np.max(schedule.latency)))
    return judge(design, model, x, expected, record, ran, simulator, time.perf_counter() - began)


def verify_test_set(network, model: IntegerModel, x: np.ndarray, workdir, *, simulator: str = "verilator",
                    layers: bool = False) -> NetworkVerdict:
    """The fast path for many samples (a whole test set): every sample of ``x [T, B, F_in]`` in one simulator
    run, back to back without stalls or resets; classes, sums and cycles compared (``layers`` adds every
    layer's output)."""
    return verify_network(network, model, x, simulator, workdir, stalls=False, resets=False, layers=layers)
