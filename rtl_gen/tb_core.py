"""cocotb driver of a generated neuron core: streams sequences beat by beat, under stalls and resets,
and records what the core answered. :mod:`shiftspike.rtl_gen.verify` writes the stimulus, runs this
module on Icarus or Verilator and compares the record with the simulator.

The stimulus folder (``SHIFTSPIKE_STIMULUS``) holds ``stimulus.json`` (the core's
sidecar, the seed, the valid/ready stall probabilities, whether to stall) and
``stimulus.npz``: ``x [S, T, N]`` inputs, ``prefix [S]`` (beats streamed before the
reset that starts each stalled sequence, to reset in mid-stream) and, for a
loadable core, the parameters to load (``load_sign``/``load_shift`` or ``load_coef``
``[C, k]``, ``load_theta [C]``).

Sequence 0 runs without stalls and its handshake cycles are recorded for the
cycle model; with stalls, the others run with random valid/ready stalls on both
sides and random payloads on idle cycles. The record, ``observed.npz``:
``spikes`` and ``membranes [S, T, G * P]`` (lanes of every group, padding
included; membranes only with the debug port), ``received [S, T * G]`` (the beat
arrived with resolved bits), ``in_cycles`` and ``out_cycles`` of sequence 0; and
``observed.json``: ``notes`` (why a sequence stopped early, if it did).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

#: Environment variable naming the stimulus folder.
STIMULUS_ENV = "SHIFTSPIKE_STIMULUS"


def pack(fields: dict, values: dict) -> int:
    """Payload integer from ``{field: value}`` and the sidecar's ``{field: {offset, width}}``."""
    word = 0
    for name, value in values.items():
        spec = fields[name]
        word |= (int(value) & ((1 << spec["width"]) - 1)) << spec["offset"]
    return word


def unpack(fields: dict, name: str, word: int) -> int:
    """Field ``name`` of payload ``word``, sign-extended if the field is signed."""
    spec = fields[name]
    value = (word >> spec["offset"]) & ((1 << spec["width"]) - 1)
    if spec["signed"] and value >> (spec["width"] - 1):
        value -= 1 << spec["width"]
    return value


class Stimulus:
    """The stimulus folder: sidecar, seed, stall settings and arrays."""

    def __init__(self, folder: Path):
        meta = json.loads((folder / "stimulus.json").read_text())
        self.core, self.seed, self.stalls, self.stalled = meta["core"], meta["seed"], meta["stalls"], meta["stalled"]
        with np.load(folder / "stimulus.npz", allow_pickle=False) as arrays:
            self.arrays = {k: arrays[k] for k in arrays.files}
        timing = self.core["timing"]
        self.lanes, self.groups, self.neurons = timing["lanes"], timing["groups"], timing["neurons"]
        self.inp = self.core["ports"]["inp"]["payload"]
        self.out = self.core["ports"]["out"]["payload"]

    def beats(self, x_t: np.ndarray) -> list[int]:
        """The ``G`` input payloads of one time step ``x_t [N]`` (padding lanes 0)."""
        padded = np.zeros(self.groups * self.lanes, np.int64)
        padded[: self.neurons] = x_t
        return [pack(self.inp, {f"[{p}]": padded[g * self.lanes + p] for p in range(self.lanes)})
                for g in range(self.groups)]

    def decode(self, word: int) -> tuple[list[int], list[int]]:
        """Spikes and membranes (zeros without the debug port) of the ``P`` lanes of one output payload."""
        spikes = [(word >> p) & 1 for p in range(self.lanes)]
        if not self.core["debug"]:
            return spikes, [0] * self.lanes
        return spikes, [unpack(self.out, f"membrane[{p}]", word) for p in range(self.lanes)]

    def load_payloads(self) -> list[int]:
        """One ``load`` beat per channel with the layer's parameters."""
        fields = self.core["ports"]["load"]["payload"]
        taps = self.core["neuron"]["taps"]
        names = ("sign", "shift") if self.core["arith"] == "shift" else ("coef",)
        words = []
        for c in range(self.core["neuron"]["channels"]):
            values = {"channel": c, "theta": self.arrays["load_theta"][c]}
            for name in names:
                values |= {f"{name}[{i}]": self.arrays[f"load_{name}"][c, i] for i in range(taps)}
            words.append(pack(fields, values))
        return words


class Driver:
    """Drives and samples the DUT once per clock: inputs change at the falling edge,
    handshakes are read just before the rising edge."""

    def __init__(self, dut, stimulus: Stimulus, rng: np.random.Generator):
        self.dut, self.stimulus, self.rng = dut, stimulus, rng
        self.cycle = 0
        self.in_width = stimulus.core["ports"]["inp"]["payload_width"]

    def noise(self) -> int:
        return int(self.rng.integers(0, 1 << min(self.in_width, 62)))

    async def idle(self, cycles: int = 1, reset: bool = False) -> None:
        for _ in range(cycles):
            await FallingEdge(self.dut.clk)
            self.dut.rst.value = int(reset)
            self.dut.inp__valid.value = 0
            self.dut.out__ready.value = int(self.rng.random() < 0.5)
            if self.stimulus.core["loadable"]:
                self.dut.load__valid.value = 0
            await RisingEdge(self.dut.clk)
            self.cycle += 1
        self.dut.rst.value = 0

    async def load(self, payloads: list[int]) -> None:
        for word in payloads:
            await FallingEdge(self.dut.clk)
            self.dut.load__valid.value = 1
            self.dut.load__payload.value = word
            await RisingEdge(self.dut.clk)
            self.cycle += 1
        await FallingEdge(self.dut.clk)
        self.dut.load__valid.value = 0

    async def stream(self, beats: list[int], in_stall: float, out_stall: float, collect: bool = True,
                     limit: int = 0):
        """Send ``beats``; with ``collect``, wait for as many output beats and return
        ``(outputs, in_cycles, out_cycles, note)`` (an output is None if its bits were unresolved; ``note``
        says why the stream stopped early); without ``collect``, stop once ``limit`` beats are sent."""
        dut, rng = self.dut, self.rng
        sent, got, in_cycles, out_cycles = 0, [], [], []
        budget = 50 + 4 * len(beats) / max(1e-3, (1 - in_stall) * (1 - out_stall))
        start = self.cycle
        while (len(got) < len(beats)) if collect else (sent < limit):
            await FallingEdge(dut.clk)
            valid = sent < len(beats) and rng.random() >= in_stall
            ready = rng.random() >= out_stall
            dut.inp__valid.value = int(valid)
            dut.inp__payload.value = beats[sent] if valid else self.noise()
            dut.out__ready.value = int(ready)
            await ReadOnly()
            if ready and dut.out__valid.value == 1:
                payload = dut.out__payload.value
                got.append(int(payload) if payload.is_resolvable else None)
                out_cycles.append(self.cycle)
            if valid and dut.inp__ready.value == 1:
                in_cycles.append(self.cycle)
                sent += 1
            await RisingEdge(dut.clk)
            self.cycle += 1
            if self.cycle - start >= budget:
                return got, in_cycles, out_cycles, (f"no progress after {self.cycle - start} cycles: "
                                                    f"{sent} beats sent, {len(got)} received")
        return got, in_cycles, out_cycles, None


@cocotb.test()
async def drive_core(dut):
    """Stream every sequence of the stimulus through the core and record its answer."""
    folder = Path(os.environ[STIMULUS_ENV])
    stimulus = Stimulus(folder)
    core = stimulus.core
    cocotb.log.info(f"{core['top']}: seed {stimulus.seed}, lanes {stimulus.lanes}, groups {stimulus.groups}")
    rng = np.random.default_rng(stimulus.seed)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    drv = Driver(dut, stimulus, rng)
    if core["loadable"]:
        dut.load__valid.value = 0
    await drv.idle(2, reset=True)
    if core["loadable"]:
        await drv.load(stimulus.load_payloads())
    x = stimulus.arrays["x"]
    sequences, steps = x.shape[:2]
    beats_per_sequence = steps * stimulus.groups
    spikes = np.zeros((sequences, beats_per_sequence, stimulus.lanes), np.int64)
    membranes = np.zeros_like(spikes)
    received = np.zeros((sequences, beats_per_sequence), bool)
    cycles: dict[str, list[int]] = {"in_cycles": [], "out_cycles": []}
    notes = {}
    for seq in range(sequences):
        beats = [b for t in range(steps) for b in stimulus.beats(x[seq, t])]
        stalls = (0.0, 0.0)
        if seq > 0:
            if stimulus.stalled:
                stalls = tuple(stimulus.stalls[(seq - 1) % len(stimulus.stalls)])
                prefix = int(stimulus.arrays["prefix"][seq])
                await drv.stream([drv.noise() for _ in range(prefix)], *stalls, collect=False, limit=prefix)
            await drv.idle(1, reset=True)
        words, in_cycles, out_cycles, note = await drv.stream(beats, *stalls)
        if note:
            notes[str(seq)] = note
        for beat, word in enumerate(words):
            if word is not None:
                spikes[seq, beat], membranes[seq, beat] = stimulus.decode(word)
                received[seq, beat] = True
        if seq == 0:
            cycles = {"in_cycles": in_cycles, "out_cycles": out_cycles}
        if note:
            break
    width = stimulus.groups * stimulus.lanes
    np.savez(folder / "observed.npz", spikes=spikes.reshape(sequences, steps, width),
             membranes=membranes.reshape(sequences, steps, width), received=received,
             in_cycles=np.array(cycles["in_cycles"], np.int64), out_cycles=np.array(cycles["out_cycles"], np.int64))
    (folder / "observed.json").write_text(json.dumps({"notes": notes}))
    cocotb.log.info(f"{sequences} sequences x {steps} steps recorded")
