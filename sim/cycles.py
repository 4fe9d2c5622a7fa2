"""Cycle model of the neuron core: what the generated RTL must take, in clock cycles.

The core (``rtl_gen/core.py``, described in ``docs/rtl.md``) realizes one
neuron layer of ``N = channels x length`` neurons on ``lanes`` (P) shift-add
datapaths. Neuron ``f`` is served by lane ``f % P`` in group ``f // P``; one
time step is ``G = ceil(N / P)`` stream beats, one beat per clock. A beat goes
through two registered stages (operand capture and history read, then the
tap sum and comparison), so its output beat completes ``LATENCY`` cycles
after its input beat.

This module is the one place these numbers live: the RTL generator writes
them into each core's sidecar and the cocotb tests measure the RTL against
them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .model import Neuron, TensorSpec

#: Clock edges from an input handshake to the handshake of its output beat,
#: when the output is ready: capture/read stage plus sum/compare stage.
LATENCY = 2

#: A history segment with more entries than this lives in a memory (which Yosys
#: may map to block RAM); one entry is a plain register.
REGISTER_ENTRIES = 1


@dataclass(frozen=True)
class CoreTiming:
    """Cycle and storage facts of one neuron core.

    ``neurons``: N = channels x length; ``lanes``: P; ``groups``: G = ceil(N / P)
    beats per time step; ``cycles_per_step``: clock cycles per time step at one
    beat per cycle (= G); ``latency``: cycles from input handshake to output
    handshake of one beat; ``segments``: k - 1 history segments, each a delay
    of ``dilation`` time steps; ``segment_entries``: d x G words per segment, each
    ``word_bits`` = P x input width bits; ``history``: ``"register"`` or
    ``"memory"``; ``history_bits``: total history storage in bits.
    """

    neurons: int
    lanes: int
    groups: int
    cycles_per_step: int
    latency: int
    segments: int
    segment_entries: int
    word_bits: int
    history: str
    history_bits: int

    def cycles(self, steps: int) -> int:
        """Cycles from the first input handshake to the last output handshake of ``steps`` time steps,
        with no stalls: ``steps * cycles_per_step - 1 + latency``."""
        return steps * self.cycles_per_step - 1 + self.latency

    def updates_per_second(self, clock_hz: float) -> float:
        """Neuron updates (one neuron, one time step) per second at ``clock_hz``: ``N * clock / G``."""
        return self.neurons * clock_hz / self.cycles_per_step

    def to_json(self) -> dict:
        return asdict(self)


def core_timing(layer: Neuron, inp: TensorSpec, lanes: int) -> CoreTiming:
    """Cycle model of ``layer`` (whose input spec is ``inp``) on ``lanes`` datapaths, 1 <= lanes <= N."""
    neurons = inp.features
    if not 1 <= lanes <= neurons:
        raise ValueError(f"lanes must be between 1 and {neurons} (the layer's neurons), got {lanes}")
    groups = -(-neurons // lanes)
    segments = layer.taps - 1
    entries = layer.dilation * groups
    word = lanes * inp.width
    return CoreTiming(
        neurons=neurons, lanes=lanes, groups=groups, cycles_per_step=groups, latency=LATENCY,
        segments=segments, segment_entries=entries, word_bits=word,
        history="register" if entries <= REGISTER_ENTRIES else "memory",
        history_bits=segments * entries * word,
    )
