"""cocotb testbench: a generated neuron core equals the simulator, beat by beat, under stalls and resets.

The case folder (``CASE_DIR``) holds the core's sidecar (``core.json``: port
layouts, lanes, cycle model), ``case.json`` (seed, stall probabilities) and
``case.npz``: ``x [S, T, N]`` inputs, the simulator's ``spikes`` and
``membranes [S, T, N]``, ``prefix [S]`` (beats streamed before the reset that
starts each sequence, to reset in mid-stream) and, for a loadable core, the
parameters to load (``load_*``). The pytest side (``test_neuron_core.py``)
writes it.

Sequence 0 runs without stalls and its handshake cycles are held to the cycle
model; the others run with random valid/ready stalls on both sides and
random payloads on idle cycles.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from shiftspike.sim.cycles import CoreTiming
from shiftspike.sim.fixed import signed_range


def pack(fields: dict, values: dict) -> int:
    """Payload integer from ``{field: value}`` and the sidecar's ``{field: {offset, width}}``."""
    word = 0
    for name, value in values.items():
        spec = fields[name]
        word |= (int(value) & ((1 << spec["width"]) - 1)) << spec["offset"]
    return word


def unpack(fields: dict, name: str, word: int) -> int:
    spec = fields[name]
    value = (word >> spec["offset"]) & ((1 << spec["width"]) - 1)
    if spec["signed"] and value >> (spec["width"] - 1):
        value -= 1 << spec["width"]
    return value


class Case:
    def __init__(self, folder: Path):
        self.core = json.loads((folder / "core.json").read_text())
        self.meta = json.loads((folder / "case.json").read_text())
        with np.load(folder / "case.npz", allow_pickle=False) as arrays:
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

    def decode(self, words: list[int], steps: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Spikes and membranes ``[T, G * P]`` from the output payloads."""
        spikes = np.array([[(w >> p) & 1 for p in range(self.lanes)] for w in words], np.int64)
        spikes = spikes.reshape(steps, -1)
        if not self.core["debug"]:
            return spikes, None
        mem = np.array([[unpack(self.out, f"membrane[{p}]", w) for p in range(self.lanes)] for w in words], np.int64)
        return spikes, mem.reshape(steps, -1)


class Driver:
    """Drives and samples the DUT once per clock: inputs change at the falling edge,
    handshakes are read just before the rising edge."""

    def __init__(self, dut, case: Case, rng: np.random.Generator):
        self.dut, self.case, self.rng = dut, case, rng
        self.cycle = 0
        self.in_width = case.core["ports"]["inp"]["payload_width"]

    async def idle(self, cycles: int = 1, reset: bool = False) -> None:
        for _ in range(cycles):
            await FallingEdge(self.dut.clk)
            self.dut.rst.value = int(reset)
            self.dut.inp__valid.value = 0
            self.dut.out__ready.value = int(self.rng.random() < 0.5)
            if self.case.core["loadable"]:
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
                     limit: int | None = None):
        """Send ``beats``; with ``collect``, wait for as many output beats and return
        ``(outputs, in_cycles, out_cycles)``; else stop once ``limit`` beats are sent."""
        dut, rng = self.dut, self.rng
        sent, got, in_cycles, out_cycles = 0, [], [], []
        budget = 50 + 4 * len(beats) / max(1e-3, (1 - in_stall) * (1 - out_stall))
        start = self.cycle
        while (len(got) < len(beats)) if collect else (sent < limit):
            await FallingEdge(dut.clk)
            valid = sent < len(beats) and rng.random() >= in_stall
            ready = rng.random() >= out_stall
            dut.inp__valid.value = int(valid)
            dut.inp__payload.value = beats[sent] if valid else int(rng.integers(0, 1 << min(self.in_width, 62)))
            dut.out__ready.value = int(ready)
            await ReadOnly()
            if ready and dut.out__valid.value == 1:
                assert dut.out__payload.value.is_resolvable, f"unresolved output {dut.out__payload.value} at cycle {self.cycle}"
                got.append(int(dut.out__payload.value))
                out_cycles.append(self.cycle)
            if valid and dut.inp__ready.value == 1:
                in_cycles.append(self.cycle)
                sent += 1
            await RisingEdge(dut.clk)
            self.cycle += 1
            assert self.cycle - start < budget, f"no progress: {sent} beats sent, {len(got)} received"
        return got, in_cycles, out_cycles


def first_mismatch(case: Case, seq: int, what: str, expected: np.ndarray, got: np.ndarray) -> str | None:
    bad = np.argwhere(expected != got)
    if not bad.size:
        return None
    t, f = (int(v) for v in bad[0])
    lanes = case.lanes
    return (f"sequence {seq}: first mismatch at time step {t}, neuron {f} (group {f // lanes}, lane {f % lanes}): "
            f"{what} expected {int(expected[t, f])}, got {int(got[t, f])} "
            f"({len(bad)} mismatching values in this sequence)")


def expected_arrays(case: Case, seq: int) -> tuple[np.ndarray, np.ndarray]:
    """The simulator's spikes and membranes of sequence ``seq`` padded to ``G * P`` lanes
    (padding lanes: no spike, membrane 0). ``CORRUPT_EXPECTED=1`` changes one value, to show a test can fail."""
    spikes, mem = case.arrays["spikes"][seq], case.arrays["membranes"][seq]
    width = case.groups * case.lanes
    pad_s = np.zeros((spikes.shape[0], width), np.int64)
    pad_m = np.zeros((spikes.shape[0], width), np.int64)
    pad_s[:, : case.neurons], pad_m[:, : case.neurons] = spikes, mem
    if os.environ.get("CORRUPT_EXPECTED") == "1" and seq == 0:
        lo, hi = signed_range(case.core["neuron"]["acc_width"])
        pad_m[-1, 0] = lo if pad_m[-1, 0] != lo else hi
        pad_s[-1, 0] ^= int(not case.core["debug"])
    return pad_s, pad_m


def load_payloads(case: Case) -> list[int]:
    """One ``load`` beat per channel with the case's parameters."""
    fields = case.core["ports"]["load"]["payload"]
    arrays, taps = case.arrays, case.core["neuron"]["taps"]
    words = []
    for c in range(case.core["neuron"]["channels"]):
        values = {"channel": c, "theta": arrays["load_theta"][c]}
        names = ("sign", "shift") if case.core["arith"] == "shift" else ("coef",)
        for name in names:
            values |= {f"{name}[{i}]": arrays[f"load_{name}"][c, i] for i in range(taps)}
        words.append(pack(fields, values))
    return words


@cocotb.test()
async def core_equals_simulator(dut):
    case = Case(Path(os.environ["CASE_DIR"]))
    seed = case.meta["seed"]
    cocotb.log.info(f"case {case.meta['name']}: seed {seed}, {case.core['top']}, lanes {case.lanes}, "
                    f"groups {case.groups}")
    rng = np.random.default_rng(seed)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    drv = Driver(dut, case, rng)
    if case.core["loadable"]:
        dut.load__valid.value = 0
    await drv.idle(2, reset=True)
    if case.core["loadable"]:
        await drv.load(load_payloads(case))
    x = case.arrays["x"]
    timing = case.core["timing"]
    errors = []
    for seq in range(x.shape[0]):
        steps = x.shape[1]
        beats = [b for t in range(steps) for b in case.beats(x[seq, t])]
        if seq == 0:
            stalls = (0.0, 0.0)
        else:
            stalls = tuple(case.meta["stalls"][(seq - 1) % len(case.meta["stalls"])])
            prefix = int(case.arrays["prefix"][seq])
            noise = [int(rng.integers(0, 1 << min(drv.in_width, 62))) for _ in range(prefix)]
            await drv.stream(noise, *stalls, collect=False, limit=prefix)
            await drv.idle(1, reset=True)
        words, in_cycles, out_cycles = await drv.stream(beats, *stalls)
        spikes, mem = case.decode(words, steps)
        exp_s, exp_m = expected_arrays(case, seq)
        errors += [e for e in (first_mismatch(case, seq, "spike", exp_s, spikes),
                               mem is not None and first_mismatch(case, seq, "membrane", exp_m, mem)) if e]
        if seq == 0:
            lat = {o - i for i, o in zip(in_cycles, out_cycles)}
            total = out_cycles[-1] - in_cycles[0]
            per_step = (in_cycles[-1] - in_cycles[0] + 1) / steps
            cocotb.log.info(f"measured: {per_step:g} cycles per time step, latency {sorted(lat)}, "
                            f"{total} cycles for {steps} steps")
            assert lat == {timing["latency"]}, f"latency {sorted(lat)} != cycle model {timing['latency']}"
            assert per_step == timing["cycles_per_step"], \
                f"{per_step} cycles per time step != cycle model {timing['cycles_per_step']}"
            expected_total = CoreTiming(**timing).cycles(steps)
            assert total == expected_total, f"{total} cycles for {steps} steps != cycle model {expected_total}"
    assert not errors, "\n".join(errors)
    cocotb.log.info(f"{x.shape[0]} sequences x {x.shape[1]} steps x {case.neurons} neurons: all spikes "
                    f"{'and membranes ' if case.core['debug'] else ''}equal the simulator")
