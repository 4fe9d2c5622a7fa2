"""Cycle model of the whole-network accelerator: what the generated top module must take, to the cycle.

The accelerator (``rtl_gen/network.py``, ``docs/rtl.md``) runs every layer of an
integer model as its own engine. Layer ``i`` reads the output register ``O[i-1]``
of the layer before it (``O[-1]`` is the input register), computes one time step
into its working register ``W[i]``, and publishes ``W[i]`` into ``O[i]`` once layer
``i+1`` has finished with the previous step there. Two registers per layer let
step ``t`` of layer ``i`` overlap step ``t-1`` of layer ``i+1``.

Engines and their cycles per time step, ``E`` being the non-zero values of the
layer's input at that step (the events; the RTL skips a zero, which is exact):

* ``synapse`` (dense, conv1d): ``P`` lanes over the output channels, ``G =
  ceil(C_out / P)`` groups; per event, per kernel tap ``K`` and group, ``B`` cycles,
  where ``B`` is the input width for an integer input in the shift-add variant
  (bit-serial, most significant bit first) and 1 otherwise. ``N = E * K * G * B``
  operations take ``N + 2`` cycles (weight-memory read, then the add), 1 if ``N = 0``.
* ``sumpool``: one event per cycle, ``E + 1``.
* ``neuron``: the neuron core (``sim/cycles.py``) on ``P`` lanes, ``G + LATENCY + 1``.
* ``readout``: all features at once, 1.

Handshake rules, with every flag a register (``docs/rtl.md`` has the timing
diagram). Cycle numbers count rising clock edges; 0 is the first input handshake:

* input beat ``u`` (global step ``u = b * T + t``): ``H(u) = max(H(u-1) + 1,
  D[0](u-1) + 1)`` with the input always valid;
* layer ``i`` starts ``S[i](u) = max(P[i-1](u) + 1, P[i](u-1) + 1)`` (with
  ``P[-1] = H``), is done ``D[i](u) = S[i](u) + cost``, and publishes ``P[i](u) =
  max(D[i](u) + 1, D[i+1](u-1) + 1)``; the last layer instead waits, at a sample's
  last step, for the previous sample's output beat: ``max(D + 1, Q(b-1) + 1)``;
* the output beat of sample ``b`` is handshaken at ``Q(b) = P[last](b*T + T-1) + 1``
  with ``out.ready`` always high.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cycles import LATENCY
from .engine import run
from .model import SPIKE, Conv1d, Dense, IntegerModel, Neuron, Readout, SumPool

#: The engine realizing each layer type.
ENGINES = {Dense: "synapse", Conv1d: "synapse", SumPool: "sumpool", Neuron: "neuron", Readout: "readout"}

#: Layers whose lanes can be chosen (the others have one fixed datapath).
LANED = ("synapse", "neuron")

#: Lanes the balancing aims at for the costliest layer when no lanes are given.
DEFAULT_LANES = 32


@dataclass(frozen=True)
class EngineTiming:
    """Cycle facts of one layer's engine.

    ``engine``: ``synapse``/``sumpool``/``neuron``/``readout``; ``lanes``: P (1 for sumpool and readout);
    ``cap``: the most lanes the layer can use (its output channels, or neurons); ``groups``: G =
    ceil(cap / P); ``taps``: K (a synapse's kernel size, 1 for dense); ``bits``: B, cycles per operation
    (``input width`` for a bit-serial synapse, else 1); ``inputs``: values of the layer's input per step
    (the most events a step can have).
    """

    index: int
    engine: str
    lanes: int
    cap: int
    groups: int
    taps: int
    bits: int
    inputs: int

    def cost(self, events):
        """Cycles from start to done of one step with ``events`` non-zero inputs (an int or an int array)."""
        events = np.asarray(events, np.int64)
        if self.engine == "synapse":
            ops = events * (self.taps * self.groups * self.bits)
            return np.where(ops == 0, 1, ops + 2)
        if self.engine == "sumpool":
            return events + 1
        if self.engine == "neuron":
            return np.full_like(events, self.groups + LATENCY + 1)
        return np.ones_like(events)

    @property
    def worst_cost(self) -> int:
        """Cycles of a step in which every input value is non-zero."""
        return int(self.cost(self.inputs))

    def mean_cost(self, events: np.ndarray | None) -> float:
        """Mean cycles per step over ``events`` (this layer's non-zero inputs per step, any shape), or
        :attr:`worst_cost` without events."""
        return float(self.worst_cost) if events is None else float(np.mean(self.cost(events)))

    def to_json(self) -> dict:
        return {"index": self.index, "engine": self.engine, "lanes": self.lanes, "groups": self.groups,
                "taps": self.taps, "bits": self.bits, "worst_cycles_per_step": self.worst_cost}


@dataclass(frozen=True)
class NetworkPlan:
    """The engines of a model's accelerator: ``arith`` (``shift``/``mul``), ``engines[i]`` per layer,
    ``timesteps`` T per sample."""

    arith: str
    timesteps: int
    engines: tuple[EngineTiming, ...]

    @property
    def lanes(self) -> tuple[int, ...]:
        return tuple(e.lanes for e in self.engines)

    def to_json(self) -> dict:
        return {"arith": self.arith, "timesteps": self.timesteps, "engines": [e.to_json() for e in self.engines]}


def _engine(model: IntegerModel, index: int, lanes: int, arith: str) -> EngineTiming:
    layer, inp, out = model.layers[index], model.specs[index], model.specs[index + 1]
    engine = ENGINES[type(layer)]
    cap = {"synapse": out.channels, "neuron": inp.features}.get(engine, 1)
    lanes = min(max(1, lanes), cap)
    taps = layer.weight.shape[2] if isinstance(layer, Conv1d) else 1
    bits = inp.width if engine == "synapse" and inp.kind != SPIKE and arith == "shift" else 1
    return EngineTiming(index, engine, lanes, cap, -(-cap // lanes), taps, bits, inp.features)


def plan_network(model: IntegerModel, lanes=None, arith: str = "shift", events: np.ndarray | None = None
                 ) -> NetworkPlan:
    """Lanes per layer. ``lanes`` an int P (default :data:`DEFAULT_LANES`): the costliest layer at P lanes
    sets the target cycles per step, and every other laned layer gets the fewest lanes that meet it; the
    cost of a step is its mean over ``events [L, B, T]`` (:func:`layer_events` of sample inputs, such as the
    test split) or, without events, that of a step whose every input is non-zero. A sequence: the lanes of
    each layer as given (capped per layer; ignored for sumpool and readout)."""
    count = len(model.layers)
    if lanes is not None and not isinstance(lanes, (int, np.integer)):
        lanes = list(lanes)
        if len(lanes) != count:
            raise ValueError(f"lanes: {len(lanes)} values given for {count} layers")
        return NetworkPlan(arith, model.timesteps, tuple(_engine(model, i, p, arith) for i, p in enumerate(lanes)))
    target_lanes = DEFAULT_LANES if lanes is None else int(lanes)
    if target_lanes < 1:
        raise ValueError(f"lanes must be at least 1, got {target_lanes}")
    if events is not None and events.shape[0] != count:
        raise ValueError(f"events: {events.shape[0]} layers given for {count} layers")
    layer_events_of = (lambda i: None) if events is None else (lambda i: events[i])
    at_target = [_engine(model, i, target_lanes, arith) for i in range(count)]
    laned = [e for e in at_target if e.engine in LANED]
    target = max((e.mean_cost(layer_events_of(e.index)) for e in laned), default=0.0)
    engines = []
    for e in at_target:
        if e.engine in LANED:
            fewest = next(p for p in range(1, e.cap + 1)
                          if _engine(model, e.index, p, arith).mean_cost(layer_events_of(e.index)) <= target
                          or p == e.cap)
            e = _engine(model, e.index, fewest, arith)
        engines.append(e)
    return NetworkPlan(arith, model.timesteps, tuple(engines))


def layer_events(model: IntegerModel, x: np.ndarray, outputs: list[np.ndarray]) -> np.ndarray:
    """``[L, B, T]`` non-zero input values of every layer at every step of every sample, from the input
    ``x [T, B, F]`` and the simulator's ``outputs[i] [T, B, F_i]`` (``sim.run(model, x).outputs``)."""
    inputs = [x] + list(outputs[:-1])
    return np.stack([np.count_nonzero(a, axis=2).T for a in inputs]).astype(np.int64)


@dataclass(frozen=True)
class Schedule:
    """Handshake cycles of a back-to-back run of ``B`` samples, counted from the first input handshake.

    ``in_cycles [B*T]``: input beats; ``publish [L, B*T]``: the cycle layer ``i`` publishes each step (its
    debug beat is valid one cycle later); ``out_cycles [B]``: output beats; ``latency [B]``: from a sample's
    first input beat to its output beat."""

    in_cycles: np.ndarray
    publish: np.ndarray
    out_cycles: np.ndarray

    @property
    def latency(self) -> np.ndarray:
        steps = len(self.in_cycles) // len(self.out_cycles)
        return self.out_cycles - self.in_cycles[::steps]


def schedule(plan: NetworkPlan, events: np.ndarray) -> Schedule:
    """The cycle model's schedule of the samples of ``events [L, B, T]`` (:func:`layer_events`) run back to
    back, input always valid, output always ready."""
    layers, samples, steps = events.shape
    costs = np.stack([plan.engines[i].cost(events[i].reshape(-1)) for i in range(layers)])
    total = samples * steps
    start_in, publish = np.zeros(total, np.int64), np.zeros((layers, total), np.int64)
    done = np.zeros((layers, total), np.int64)
    out = np.zeros(samples, np.int64)
    never = -(1 << 40)
    for u in range(total):
        start_in[u] = 0 if u == 0 else max(start_in[u - 1] + 1, done[0, u - 1] + 1)
        ready = start_in[u]
        for i in range(layers):
            own = publish[i, u - 1] + 1 if u else never
            start = max(ready + 1, own)
            done[i, u] = start + costs[i, u]
            if i + 1 < layers:
                freed = done[i + 1, u - 1] + 1 if u else never
            else:
                b = u // steps
                freed = out[b - 1] + 1 if u % steps == steps - 1 and b else never
            publish[i, u] = max(done[i, u] + 1, freed)
            ready = publish[i, u]
        if u % steps == steps - 1:
            out[u // steps] = publish[layers - 1, u] + 1
    return Schedule(start_in, publish, out)


def sample_cycles(plan: NetworkPlan, events: np.ndarray) -> np.ndarray:
    """``[B]`` cycles from the first input beat to the output beat of each sample of ``events [L, B, T]``
    run alone (the accelerator idle before it): the latency per sample."""
    return np.array([schedule(plan, events[:, b:b + 1]).latency[0] for b in range(events.shape[1])], np.int64)


def performance(plan: NetworkPlan, events: np.ndarray, clock_mhz: float | None) -> dict:
    """Figures of merit of the samples of ``events [L, B, T]`` at ``clock_mhz`` (None: cycles only).

    ``cycles_per_sample`` (mean) and ``max_cycles_per_sample``: a sample run alone, first input beat to
    output beat; ``interval_cycles``: mean cycles between output beats when the samples stream back to back;
    ``latency_us``: mean cycles per sample at the clock in µs; ``samples_per_second``: back to back."""
    alone = sample_cycles(plan, events)
    stream = schedule(plan, events)
    samples = events.shape[1]
    interval = float(stream.out_cycles[-1] + 1) / samples
    figures = {"samples": samples, "cycles_per_sample": float(alone.mean()), "max_cycles_per_sample": int(alone.max()),
               "interval_cycles": interval, "latency_us": None, "samples_per_second": None}
    if clock_mhz:
        figures |= {"latency_us": figures["cycles_per_sample"] / clock_mhz,
                    "samples_per_second": clock_mhz * 1e6 / interval}
    return figures


def network_schedule(model: IntegerModel, lanes, arith: str, x: np.ndarray) -> Schedule:
    """The schedule of the samples of ``x [T, B, F]`` run back to back on the accelerator of ``model`` with
    ``lanes`` (as :func:`plan_network` takes them) and ``arith``: the simulator's trace gives the events."""
    return schedule(plan_network(model, lanes, arith), layer_events(model, x, run(model, x).outputs))
