"""cocotb driver of a generated whole-network accelerator: streams samples one time step per beat, under
stalls and resets, and records every handshake and debug pulse as observed. :mod:`shiftspike.rtl_gen.verify_network`
writes the stimulus, runs this module on Icarus or Verilator and judges the record against the simulator.

The stimulus folder (``SHIFTSPIKE_STIMULUS``) holds ``stimulus.npz`` with ``x [B, T, F_in]`` (the
samples) and ``stimulus.json``: ``network`` (the top's sidecar, ``NETWORK.md``), ``seed`` (of the
stall and noise draws), ``debug`` (record the ``dbg<i>`` pulses), ``budget_per_beat`` (cycles one beat
may take before the run counts as stuck) and ``segments``, the plan: a list of
``{"samples": [b, ...], "stall_in": p, "stall_out": p, "abort_after": n or null}``.

Every segment starts with a one-cycle reset and streams its samples back to back (``T`` beats each),
``inp.valid`` dropped with probability ``stall_in`` and ``out.ready`` with ``stall_out`` on every
cycle (random payloads on idle cycles). A segment ends when all its output beats arrived (then a few
idle cycles catch late debug pulses), or, with ``abort_after = n``, a few random cycles after its
``n``-th input handshake, by the next segment's reset: the samples of such a segment whose output beat
had not arrived are re-sent, from step 0, at the head of the next segment (a new one if it was last).

The record, ``observed.npz`` (edge indices count rising clock edges from the initial reset, a handshake
being valid and ready sampled high at that edge): ``in_seg``/``in_cycle [n_in]``; ``out_seg``,
``out_cycle [n_out]``, ``out_sums [n_out, F_last]``, ``out_label [n_out]``, ``out_resolved [n_out]``
(False: the payload had X/Z bits, the values are 0); with ``debug``, per layer ``i``: ``dbg<i>_seg``,
``dbg<i>_cycle [n_i]``, ``dbg<i>_values [n_i, F_i]``, ``dbg<i>_resolved [n_i]``. ``observed.json``:
``segments``, the segments as run (``samples`` attempted in order, ``stall_in``, ``stall_out``,
``aborted_after`` (input handshakes before the reset, or null) and ``note`` (why a stuck segment stopped,
or null)).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from shiftspike.sim.safe_io import atomic_path, write_json

#: Environment variable naming the stimulus folder.
STIMULUS_ENV = "SHIFTSPIKE_STIMULUS"

#: Idle cycles after a segment's last output beat, for debug pulses that trail it.
TRAIL = 8

#: The most random cycles between an aborted segment's last input beat and its reset.
LINGER = 3


def vector_fields(fields: dict, prefix: str, count: int) -> list[tuple[int, int, bool]]:
    """``(offset, width, signed)`` of elements ``prefix[0]`` .. ``prefix[count-1]`` of a sidecar payload
    (``{name: {offset, width, signed}}``); a missing element is a ``KeyError`` naming it."""
    out = []
    for f in range(count):
        name = f"{prefix}[{f}]"
        if name not in fields:
            raise KeyError(f"payload field {name} missing (fields: {', '.join(sorted(fields)[:4])} ...)")
        spec = fields[name]
        out.append((int(spec["offset"]), int(spec["width"]), bool(spec["signed"])))
    return out


def pack(layout: list[tuple[int, int, bool]], values) -> int:
    """The payload integer of ``values`` (one per element of ``layout``), two's complement per field."""
    word = 0
    for (offset, width, _), value in zip(layout, values):
        word |= (int(value) & ((1 << width) - 1)) << offset
    return word


def unpack(layout: list[tuple[int, int, bool]], word: int) -> list[int]:
    """The values of payload ``word``, one per element of ``layout``, sign-extended where signed."""
    values = []
    for offset, width, signed in layout:
        value = (word >> offset) & ((1 << width) - 1)
        if signed and value >> (width - 1):
            value -= 1 << width
        values.append(value)
    return values


class Layouts:
    """Field layouts of the top's ports from its sidecar: ``inp`` (``F_in`` elements), ``sums`` and
    ``label`` of ``out``, and ``dbg[i]`` per layer (empty without ``debug`` or without the debug ports)."""

    def __init__(self, sidecar: dict, debug: bool = True):
        ports = sidecar["ports"]
        self.in_width = int(ports["inp"]["payload_width"])
        self.inp = vector_fields(ports["inp"]["payload"], "", int(sidecar["input"]["features"]))
        out = ports["out"]["payload"]
        self.sums = vector_fields(out, "sums", int(sidecar["layers"][-1]["out"]["features"]))
        label = out["label"]
        self.label = [(int(label["offset"]), int(label["width"]), False)]
        self.dbg = []
        if debug and sidecar["debug"]:
            self.dbg = [vector_fields(ports[f"dbg{i}"]["payload"], "", int(layer["out"]["features"]))
                        for i, layer in enumerate(sidecar["layers"])]


class Record:
    """What the DUT did, appended as it happens (see the module docstring for the saved arrays)."""

    def __init__(self, layouts: Layouts):
        self.layouts = layouts
        self.inputs: list[tuple[int, int]] = []
        self.outputs: list[tuple[int, int, list[int], int, bool]] = []
        self.pulses: list[list[tuple[int, int, list[int], bool]]] = [[] for _ in layouts.dbg]
        self.segments: list[dict] = []

    def arrays(self) -> dict[str, np.ndarray]:
        lay = self.layouts
        out = {"in_seg": np.array([s for s, _ in self.inputs], np.int64),
               "in_cycle": np.array([c for _, c in self.inputs], np.int64),
               "out_seg": np.array([o[0] for o in self.outputs], np.int64),
               "out_cycle": np.array([o[1] for o in self.outputs], np.int64),
               "out_sums": np.array([o[2] for o in self.outputs], np.int64).reshape(-1, len(lay.sums)),
               "out_label": np.array([o[3] for o in self.outputs], np.int64),
               "out_resolved": np.array([o[4] for o in self.outputs], bool)}
        for i, pulses in enumerate(self.pulses):
            out[f"dbg{i}_seg"] = np.array([p[0] for p in pulses], np.int64)
            out[f"dbg{i}_cycle"] = np.array([p[1] for p in pulses], np.int64)
            out[f"dbg{i}_values"] = np.array([p[2] for p in pulses], np.int64).reshape(-1, len(lay.dbg[i]))
            out[f"dbg{i}_resolved"] = np.array([p[3] for p in pulses], bool)
        return out

    def save(self, folder: Path) -> None:
        with atomic_path(folder / "observed.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **self.arrays())
        write_json(folder / "observed.json", {"segments": self.segments})


def _read(handle, layout) -> tuple[list[int], bool]:
    """The values of a payload signal and whether its bits were all resolved (zeros if not)."""
    value = handle.value
    if not value.is_resolvable:
        return [0] * len(layout), False
    return unpack(layout, int(value)), True


class Driver:
    """Drives the DUT once per clock: inputs change at the falling edge; handshakes and pulses are read just
    before the rising edge (``ReadOnly``), which is edge number ``cycle``."""

    def __init__(self, dut, layouts: Layouts, x: np.ndarray, rng: np.random.Generator):
        self.dut, self.layouts, self.rng = dut, layouts, rng
        self.beats = [[pack(layouts.inp, x[b, t]) for t in range(x.shape[1])] for b in range(x.shape[0])]
        self.steps = x.shape[1]
        self.record = Record(layouts)
        self.dbg = [(getattr(dut, f"dbg{i}__valid"), getattr(dut, f"dbg{i}__payload"), layout)
                    for i, layout in enumerate(layouts.dbg)]
        self.cycle = 0
        self.resetting = False
        self.noise_bytes = (layouts.in_width + 7) // 8

    def noise(self) -> int:
        return int.from_bytes(self.rng.bytes(self.noise_bytes), "little") & ((1 << self.layouts.in_width) - 1)

    def _sample_pulses(self, seg: int) -> None:
        for i, (valid, payload, layout) in enumerate(self.dbg):
            if valid.value.is_resolvable and int(valid.value) == 1:
                values, resolved = _read(payload, layout)
                self.record.pulses[i].append((seg, self.cycle, values, resolved))

    async def reset(self, seg: int) -> None:
        """One cycle with ``rst`` high, no input valid and no output ready (debug pulses still recorded,
        for segment ``seg``, the one the reset ends); the next cycle driven lowers ``rst``."""
        dut = self.dut
        await FallingEdge(dut.clk)
        dut.rst.value = 1
        dut.inp__valid.value = 0
        dut.inp__payload.value = self.noise()
        dut.out__ready.value = 0
        await ReadOnly()
        self._sample_pulses(seg)
        self.cycle += 1
        self.resetting = True

    async def segment(self, seg: int, samples: list[int], stall_in: float, stall_out: float,
                      abort_after: int | None, budget: int) -> tuple[int, int | None, str | None]:
        """Stream ``samples`` as segment ``seg`` (after its reset); return the output beats received, the input
        beats sent if aborted (else None) and a note if the segment got stuck."""
        dut, rng, rec = self.dut, self.rng, self.record
        beats = [word for b in samples for word in self.beats[b]]
        sent, received, linger, trail = 0, 0, -1, -1
        start = self.cycle
        while True:
            if abort_after is not None and sent >= abort_after:
                if linger < 0:
                    linger = int(rng.integers(0, LINGER + 1))
                if linger == 0:
                    return received, sent, None
                linger -= 1
            if received == len(samples):
                if trail < 0:
                    trail = TRAIL
                if trail == 0:
                    return received, None, None
                trail -= 1
            if self.cycle - start >= budget:
                return received, None, (f"stuck after {self.cycle - start} cycles: {sent} of {len(beats)} beats "
                                        f"sent, {received} of {len(samples)} output beats received")
            await FallingEdge(dut.clk)
            if self.resetting:
                dut.rst.value = 0
                self.resetting = False
            valid = sent < len(beats) and (abort_after is None or sent < abort_after) and rng.random() >= stall_in
            ready = rng.random() >= stall_out
            dut.inp__valid.value = int(valid)
            dut.inp__payload.value = beats[sent] if valid else self.noise()
            dut.out__ready.value = int(ready)
            await ReadOnly()
            if ready and dut.out__valid.value.is_resolvable and int(dut.out__valid.value) == 1:
                word = dut.out__payload.value
                if word.is_resolvable:
                    sums = unpack(self.layouts.sums, int(word))
                    label = unpack(self.layouts.label, int(word))[0]
                    rec.outputs.append((seg, self.cycle, sums, label, True))
                else:
                    rec.outputs.append((seg, self.cycle, [0] * len(self.layouts.sums), 0, False))
                received += 1
            self._sample_pulses(seg)
            if valid and dut.inp__ready.value.is_resolvable and int(dut.inp__ready.value) == 1:
                rec.inputs.append((seg, self.cycle))
                sent += 1
            self.cycle += 1


async def run_plan(drv: Driver, plan: list[dict], budget_per_beat: int) -> None:
    """Run every segment of ``plan`` in turn, re-sending the unfinished samples of an aborted one."""
    carry: list[int] = []
    plan = [dict(s) for s in plan]
    seg = 0
    while seg < len(plan):
        spec = plan[seg]
        samples = carry + list(spec["samples"])
        abort = spec.get("abort_after")
        beats = len(samples) * drv.steps
        stalls = max(1e-3, (1 - spec["stall_in"]) * (1 - spec["stall_out"]))
        budget = int(100 + 4 * beats * budget_per_beat / stalls)
        await drv.reset(seg - 1)
        received, aborted, note = await drv.segment(seg, samples, spec["stall_in"], spec["stall_out"], abort, budget)
        drv.record.segments.append({"samples": samples, "stall_in": spec["stall_in"], "stall_out": spec["stall_out"],
                                    "aborted_after": aborted, "note": note})
        if note:
            return
        carry = samples[received:] if aborted is not None else []
        if carry and seg == len(plan) - 1:
            plan.append({"samples": [], "stall_in": spec["stall_in"], "stall_out": spec["stall_out"]})
        seg += 1


@cocotb.test()
async def drive_network(dut):
    """Stream the stimulus's samples through the accelerator as its plan says and record what it answered."""
    folder = Path(os.environ[STIMULUS_ENV])
    meta = json.loads((folder / "stimulus.json").read_text())
    with np.load(folder / "stimulus.npz", allow_pickle=False) as arrays:
        x = arrays["x"]
    sidecar = meta["network"]
    layouts = Layouts(sidecar, bool(meta["debug"]))
    cocotb.log.info(f"{sidecar['top']}: {x.shape[0]} samples x {x.shape[1]} steps, seed {meta['seed']}, "
                    f"{len(meta['segments'])} segments")
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    drv = Driver(dut, layouts, x, np.random.default_rng(meta["seed"]))
    dut.rst.value = 1
    dut.inp__valid.value = 0
    dut.out__ready.value = 0
    await FallingEdge(dut.clk)
    try:
        await run_plan(drv, meta["segments"], int(meta["budget_per_beat"]))
    finally:
        drv.record.save(folder)
    cocotb.log.info(f"{len(drv.record.outputs)} output beats, {len(drv.record.inputs)} input beats recorded")
