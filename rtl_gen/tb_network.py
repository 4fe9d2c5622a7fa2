"""cocotb driver of a generated whole-network accelerator: streams samples one time step per beat, under
stalls and resets, and records every handshake and debug pulse as observed. :mod:`shiftspike.rtl_gen.verify_network`
writes the stimulus, runs this module on Icarus or Verilator and judges the record against the simulator.

The stimulus folder (``SHIFTSPIKE_STIMULUS``) holds ``stimulus.npz`` with ``x [B, T, F_in]`` (the
samples) and ``stimulus.json``: ``network`` (the top's sidecar, ``NETWORK.md``), ``seed`` (of the
stall and noise draws), ``debug`` (record the ``dbg<i>`` pulses), ``budget_base`` and ``budget_per_beat``
(a segment of ``n`` beats counts as stuck after ``budget_base + 4 n budget_per_beat`` cycles, divided by
the chance that a cycle is not stalled) and ``segments``, the plan: a list of
``{"samples": [b, ...], "stall_in": p, "stall_out": p, "abort_after": n or null}``.

Every segment starts with a one-cycle reset and streams its samples back to back (``T`` beats each),
``inp.valid`` dropped with probability ``stall_in`` and ``out.ready`` with ``stall_out`` on every
cycle (random payloads on idle cycles). A segment ends when all its output beats arrived (then a few
idle cycles catch late debug pulses), or, with ``abort_after = n``, a few random cycles after its
``n``-th input handshake, by the next segment's reset: the samples of such a segment whose output beat
had not arrived are re-sent, from step 0, at the head of the next segment (a new one if it was last).

Output beats and debug pulses are caught by monitors that wake only while their ``valid`` is high; a
stall-free segment's input is fed the same way, once per beat (so a long stall-free run costs little
Python time); stalled and aborted segments are driven cycle by cycle.

The record, ``observed.npz`` (edge indices number the rising clock edges by simulation time, edge ``k``
at ``k * PERIOD_NS``; a handshake is valid and ready sampled high just before that edge): ``in_seg``/``in_cycle [n_in]``; ``out_seg``,
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
from cocotb.simtime import get_sim_time
from cocotb.triggers import Event, FallingEdge, First, ReadOnly, RisingEdge, Timer

from shiftspike.sim.safe_io import atomic_path, write_json

#: Environment variable naming the stimulus folder.
STIMULUS_ENV = "SHIFTSPIKE_STIMULUS"

#: Clock period; rising edge ``k`` is at ``k * PERIOD_NS``.
PERIOD_NS = 10

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


def _high(handle) -> bool:
    """A 1-bit signal is resolved and 1."""
    value = handle.value
    return value.is_resolvable and int(value) == 1


class Driver:
    """Drives the DUT at falling clock edges and reads it just before the rising edge (``ReadOnly``).

    Edges are numbered by simulation time (rising edge ``k`` at ``k * PERIOD_NS``), so the event-driven
    parts agree: the output and debug monitors run for the whole test and wake only while their ``valid``
    is high (else on its rising edge); a stall-free segment feeds the input the same way, waking once per
    input beat; a stalled or aborted segment runs cycle by cycle."""

    def __init__(self, dut, layouts: Layouts, x: np.ndarray, rng: np.random.Generator):
        self.dut, self.layouts, self.rng = dut, layouts, rng
        self.beats = [[pack(layouts.inp, x[b, t]) for t in range(x.shape[1])] for b in range(x.shape[0])]
        self.steps = x.shape[1]
        self.record = Record(layouts)
        self.seg = -1
        self.received: dict[int, int] = {}
        self.target: tuple[int, int] | None = None
        self.all_received = Event()
        self.resetting = False
        self.noise_bytes = (layouts.in_width + 7) // 8

    @staticmethod
    def edge() -> int:
        """Index of the coming rising edge (called in ``ReadOnly`` after a falling edge)."""
        return int(round(get_sim_time("ns") / PERIOD_NS + 0.5))

    def noise(self) -> int:
        return int.from_bytes(self.rng.bytes(self.noise_bytes), "little") & ((1 << self.layouts.in_width) - 1)

    def start_monitors(self) -> None:
        cocotb.start_soon(self._watch_out())
        for i, layout in enumerate(self.layouts.dbg):
            cocotb.start_soon(self._watch_dbg(i, layout))

    async def _watch_out(self) -> None:
        dut, lay = self.dut, self.layouts
        while True:
            await FallingEdge(dut.clk)
            await ReadOnly()
            if not _high(dut.out__valid):
                await RisingEdge(dut.out__valid)
                continue
            if not _high(dut.out__ready):
                continue
            word = dut.out__payload.value
            if word.is_resolvable:
                self.record.outputs.append((self.seg, self.edge(), unpack(lay.sums, int(word)),
                                            unpack(lay.label, int(word))[0], True))
            else:
                self.record.outputs.append((self.seg, self.edge(), [0] * len(lay.sums), 0, False))
            self.received[self.seg] = self.received.get(self.seg, 0) + 1
            if self.target == (self.seg, self.received[self.seg]):
                self.all_received.set()

    async def _watch_dbg(self, i: int, layout) -> None:
        valid, payload = getattr(self.dut, f"dbg{i}__valid"), getattr(self.dut, f"dbg{i}__payload")
        while True:
            await FallingEdge(self.dut.clk)
            await ReadOnly()
            if not _high(valid):
                await RisingEdge(valid)
                continue
            values, resolved = _read(payload, layout)
            self.record.pulses[i].append((self.seg, self.edge(), values, resolved))

    async def drive_edge(self, seg: int) -> None:
        """Wait for the next falling edge; there, end a reset and enter segment ``seg``."""
        await FallingEdge(self.dut.clk)
        if self.resetting:
            self.dut.rst.value = 0
            self.resetting = False
        self.seg = seg

    async def reset(self) -> None:
        """One cycle with ``rst`` high, no input valid and no output ready (debug pulses of that cycle count
        for the segment the reset ends); the next driven edge lowers ``rst``."""
        dut = self.dut
        await FallingEdge(dut.clk)
        dut.rst.value = 1
        dut.inp__valid.value = 0
        dut.inp__payload.value = self.noise()
        dut.out__ready.value = 0
        self.resetting = True

    async def free_segment(self, seg: int, samples: list[int], budget: int) -> str | None:
        """Stream ``samples`` with the input always valid and the output always ready, waking once per input
        beat; return a note if the output beats did not all arrive within ``budget`` cycles."""
        dut, rec = self.dut, self.record
        beats = [word for b in samples for word in self.beats[b]]
        self.target, self.all_received = (seg, len(samples)), Event()
        await self.drive_edge(seg)
        dut.out__ready.value = 1
        start = None
        for word in beats:
            while True:
                dut.inp__valid.value = 1
                dut.inp__payload.value = word
                await ReadOnly()
                start = self.edge() if start is None else start
                if self.edge() - start > budget:
                    return self._stuck(seg, start, len(rec.inputs), len(beats), len(samples))
                handshake = _high(dut.inp__ready)
                if handshake:
                    rec.inputs.append((seg, self.edge()))
                else:
                    await First(RisingEdge(dut.inp__ready), Timer(budget * PERIOD_NS, unit="ns"))
                await self.drive_edge(seg)
                if handshake:
                    break
        dut.inp__valid.value = 0
        if self.received.get(seg, 0) < len(samples):
            left = budget - (self.edge() - start)
            await First(self.all_received.wait(), Timer(max(1, left) * PERIOD_NS, unit="ns"))
        if self.received.get(seg, 0) < len(samples):
            return self._stuck(seg, start, len(beats), len(beats), len(samples))
        await self.trail(seg)
        return None

    def _stuck(self, seg: int, start: int, sent: int, beats: int, samples: int) -> str:
        return (f"stuck after {self.edge() - start} cycles: {sent} of {beats} beats sent, "
                f"{self.received.get(seg, 0)} of {samples} output beats received")

    async def trail(self, seg: int) -> None:
        """:data:`TRAIL` idle cycles (output still ready) for debug pulses that trail the last output beat."""
        for _ in range(TRAIL):
            await self.drive_edge(seg)
            self.dut.inp__valid.value = 0

    async def stalled_segment(self, seg: int, samples: list[int], stall_in: float, stall_out: float,
                              abort_after: int | None, budget: int) -> tuple[int | None, str | None]:
        """Stream ``samples`` cycle by cycle with random stalls (random payloads on idle cycles); with
        ``abort_after``, stop sending after that many input beats and return a few random cycles later,
        before the reset that ends the segment. Return the input beats sent if aborted (else None) and a
        note if the output beats did not all arrive within ``budget`` cycles."""
        dut, rng, rec = self.dut, self.rng, self.record
        beats = [word for b in samples for word in self.beats[b]]
        self.target = None
        sent, linger, start = 0, -1, None
        while True:
            await self.drive_edge(seg)
            if abort_after is not None and sent >= abort_after:
                if linger < 0:
                    linger = int(rng.integers(0, LINGER + 1))
                if linger == 0:
                    dut.inp__valid.value = 0
                    return sent, None
                linger -= 1
            if self.received.get(seg, 0) >= len(samples):
                dut.inp__valid.value = 0
                await self.trail(seg)
                return None, None
            valid = sent < len(beats) and (abort_after is None or sent < abort_after) and rng.random() >= stall_in
            dut.inp__valid.value = int(valid)
            dut.inp__payload.value = beats[sent] if valid else self.noise()
            dut.out__ready.value = int(rng.random() >= stall_out)
            await ReadOnly()
            start = self.edge() if start is None else start
            if valid and _high(dut.inp__ready):
                rec.inputs.append((seg, self.edge()))
                sent += 1
            if self.edge() - start >= budget:
                return None, self._stuck(seg, start, sent, len(beats), len(samples))


async def run_plan(drv: Driver, plan: list[dict], budget_per_beat: int, budget_base: int) -> None:
    """Run every segment of ``plan`` in turn, each after a reset, re-sending the unfinished samples of an
    aborted one at the head of the next (a new segment if it was the last)."""
    carry: list[int] = []
    plan = [dict(s) for s in plan]
    seg = 0
    while seg < len(plan):
        spec = plan[seg]
        samples = carry + list(spec["samples"])
        abort = spec.get("abort_after")
        stall_in, stall_out = spec["stall_in"], spec["stall_out"]
        slowdown = max(1e-3, (1 - stall_in) * (1 - stall_out))
        budget = int(budget_base + 4 * len(samples) * drv.steps * budget_per_beat / slowdown)
        await drv.reset()
        if stall_in == stall_out == 0 and abort is None:
            aborted, note = None, await drv.free_segment(seg, samples, budget)
        else:
            aborted, note = await drv.stalled_segment(seg, samples, stall_in, stall_out, abort, budget)
        drv.record.segments.append({"samples": samples, "stall_in": stall_in, "stall_out": stall_out,
                                    "aborted_after": aborted, "note": note})
        if note:
            return
        carry = samples[drv.received.get(seg, 0):] if aborted is not None else []
        if carry and seg == len(plan) - 1:
            plan.append({"samples": [], "stall_in": stall_in, "stall_out": stall_out})
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
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    drv = Driver(dut, layouts, x, np.random.default_rng(meta["seed"]))
    dut.rst.value = 1
    dut.inp__valid.value = 0
    dut.out__ready.value = 0
    await FallingEdge(dut.clk)
    drv.start_monitors()
    try:
        await run_plan(drv, meta["segments"], int(meta["budget_per_beat"]), int(meta["budget_base"]))
    finally:
        drv.record.save(folder)
    cocotb.log.info(f"{len(drv.record.outputs)} output beats, {len(drv.record.inputs)} input beats recorded")
