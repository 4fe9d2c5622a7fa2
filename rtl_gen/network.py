"""The whole-network accelerator: one top-level module for an integer model.

Every layer is an engine (``engines.py``) with a working register ``W`` (its ``y``) and an output
register ``O``; layer ``i`` reads ``O[i-1]``, so step ``t`` of layer ``i`` overlaps step ``t-1`` of
layer ``i+1``, and each layer waits when the next one has not yet released ``O`` (back-pressure,
down to the input's ``ready``). The handshake rules and the cycles they give are those of
``sim/network_cycles.py``; ``docs/rtl.md`` has the diagram.

Ports (Verilog names): ``inp`` (stream, one time step of the model input per beat, feature ``f``
at bits ``[f*w, (f+1)*w)``), ``out`` (stream, one beat per sample of ``T = model.timesteps``
steps: ``sums``, the last layer's output at step ``T-1``, and ``label``, its argmax, lowest index on
ties), and with ``debug`` ``dbg<i>`` (``valid``, ``payload``; never stalls) for every layer: its
output vector, one pulse per step. ``rst`` (synchronous) clears a sample in flight; the next input
beat is step 0. It clears the handshake state (full, busy, hold, step counters), not the data registers
(input, ``W``, ``O``): each is written before it is read again, and a flip-flop with no reset to obey
spends no LUT on its engine's own start-of-step value.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.back import verilog
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from shiftspike.sim.fileformat import save
from shiftspike.sim.model import IntegerModel
from shiftspike.sim.engine import run
from shiftspike.sim.network_cycles import NetworkPlan, layer_events, plan_network
from shiftspike.sim.safe_io import write_atomic, write_json

from . import ARITHS
from .engines import NeuronEngine, ReadoutEngine, SumPoolEngine, SynapseEngine, vector_layout
from .generate import _fields

SIDECAR_FORMAT = "shiftspike-network"
SIDECAR_VERSION = 1


def debug_signature(layout) -> wiring.Signature:
    """A debug port: ``valid`` (one cycle per beat, no ready) and ``payload``."""
    return wiring.Signature({"valid": Out(1), "payload": Out(layout)})


def out_layout(model: IntegerModel) -> data.StructLayout:
    """The output beat: ``sums`` (the last layer's output vector) and ``label`` (its argmax)."""
    classes = model.output.features
    return data.StructLayout({"sums": vector_layout(model.output),
                              "label": unsigned(max(1, (classes - 1).bit_length()))})


class NetworkTop(wiring.Component):
    """The accelerator of ``model`` with the engines of ``plan`` (see the module docstring)."""

    def __init__(self, model: IntegerModel, plan: NetworkPlan, debug: bool = True):
        if plan.arith not in ARITHS:
            raise ValueError(f"arith must be one of {', '.join(ARITHS)}, got {plan.arith!r}")
        self.model, self.plan, self.debug = model, plan, debug
        ports = {"inp": In(stream.Signature(vector_layout(model.input))),
                 "out": Out(stream.Signature(out_layout(model)))}
        if debug:
            for i, spec in enumerate(model.specs[1:]):
                ports[f"dbg{i}"] = Out(debug_signature(vector_layout(spec)))
        super().__init__(ports)

    def _engine(self, i: int):
        model, timing = self.model, self.plan.engines[i]
        layer, inp, out = model.layers[i], model.specs[i], model.specs[i + 1]
        if timing.engine == "synapse":
            return SynapseEngine(layer, inp, out, timing, self.plan.arith)
        if timing.engine == "neuron":
            return NeuronEngine(layer, inp, out, timing, self.plan.arith)
        if timing.engine == "sumpool":
            return SumPoolEngine(layer, inp, out, timing)
        return ReadoutEngine(layer, inp, out, timing)

    def elaborate(self, platform):
        m = Module()
        model, steps = self.model, self.model.timesteps
        count = len(model.layers)
        in_full, in_reg = Signal(), Signal(vector_layout(model.input), reset_less=True)
        m.d.comb += self.inp.ready.eq(~in_full)
        with m.If(self.inp.valid & ~in_full):
            m.d.sync += [in_reg.eq(self.inp.payload), in_full.eq(1)]
        with m.If(self.out.valid & self.out.ready):
            m.d.sync += self.out.valid.eq(0)

        prev_full, prev_reg = in_full, in_reg
        for i in range(count):
            engine = self._engine(i)
            m.submodules[f"layer{i}"] = engine
            last = i == count - 1
            busy, hold = Signal(name=f"busy{i}"), Signal(name=f"hold{i}")
            step = Signal(range(max(2, steps)), name=f"step{i}")
            start = ~busy & ~hold & prev_full
            m.d.comb += [engine.x.eq(prev_reg), engine.start.eq(start), engine.first.eq(step == 0)]
            with m.If(start):
                m.d.sync += busy.eq(1)
            with m.If(engine.done):
                m.d.sync += [busy.eq(0), hold.eq(1), prev_full.eq(0)]
            sample_end = step == steps - 1
            full = Signal(name=f"full{i}")
            publish = hold & (~(sample_end & self.out.valid) if last else ~full)
            out_reg = (Signal(vector_layout(model.specs[i + 1]), reset_less=True, name=f"o{i}")
                       if self.debug or not last else None)
            with m.If(publish):
                m.d.sync += [hold.eq(0), step.eq(Mux(sample_end, 0, step + 1))]
                if out_reg is not None:
                    m.d.sync += out_reg.eq(engine.y)
                if not last:
                    m.d.sync += full.eq(1)
                else:
                    with m.If(sample_end):
                        m.d.sync += [self.out.valid.eq(1), self.out.payload.sums.eq(engine.y),
                                     self.out.payload.label.eq(self._argmax(m, engine.y))]
            if self.debug:
                port = getattr(self, f"dbg{i}")
                m.d.sync += port.valid.eq(publish)
                m.d.comb += port.payload.eq(out_reg)
            prev_full, prev_reg = full, out_reg
        return m

    def _argmax(self, m: Module, values) -> Signal:
        """Index of the largest of ``values``, the lowest index on ties, in two levels of logic: every pair is
        compared once, value ``f`` wins when it is larger than every value before it and at least every value
        after it, and exactly one value wins."""
        features = self.model.output.features
        greater = {(f, g): Signal(name=f"gt{f}_{g}") for f in range(features) for g in range(features) if f != g}
        for f in range(features):
            for g in range(f + 1, features):
                m.d.comb += [greater[f, g].eq(values[f] > values[g]), greater[g, f].eq(values[g] > values[f])]
        wins = []
        for f in range(features):
            win = Signal(name=f"wins{f}")
            m.d.comb += win.eq(Cat(*[greater[f, g] for g in range(f)], *[~greater[g, f] for g in range(f + 1, features)],
                                   Const(1, 1)).all())
            wins.append(win)
        label = Signal(unsigned(max(1, (features - 1).bit_length())), name="label")
        m.d.comb += label.eq(0)
        for f, win in enumerate(wins):
            with m.If(win):
                m.d.comb += label.eq(f)
        return label


@dataclass(frozen=True)
class Network:
    """A generated accelerator: ``verilog`` (text), ``top`` (module name), ``sidecar`` (JSON-able dict),
    ``model`` and ``plan``."""

    verilog: str
    top: str
    sidecar: dict
    model: IntegerModel
    plan: NetworkPlan


def top_name(plan: NetworkPlan) -> str:
    return f"network_{plan.arith}"


def _sidecar(model: IntegerModel, plan: NetworkPlan, top: str, debug: bool, component: NetworkTop,
             text: str) -> dict:
    ports = {}
    for name, member in component.signature.members.items():
        if member.is_port:
            continue
        shape = member.signature.members["payload"].shape
        ports[name] = {"direction": "in" if member.flow == In else "out",
                       "payload_width": data.Layout.cast(shape).size if isinstance(shape, data.Layout)
                       else shape.width, "payload": _fields(shape)}
    layers = [{"index": i, "type": layer.type, "engine": plan.engines[i].engine, "lanes": plan.engines[i].lanes,
               "out": {"kind": spec.kind, "width": spec.width, "features": spec.features}}
              for i, (layer, spec) in enumerate(zip(model.layers, model.specs[1:]))]
    return {"format": SIDECAR_FORMAT, "version": SIDECAR_VERSION, "top": top, "timesteps": model.timesteps,
            "arith": plan.arith, "debug": debug,
            "input": {"kind": model.input.kind, "width": model.input.width, "features": model.input.features},
            "layers": layers, "plan": plan.to_json(), "ports": ports,
            "label_width": out_layout(model)["label"].shape.width,
            "verilog_sha256": hashlib.sha256(text.encode()).hexdigest()}


def build_network(model: IntegerModel, lanes=None, arith: str = "shift", debug: bool = True,
                  name: str | None = None, x=None) -> Network:
    """Generate the accelerator of ``model`` (lanes as :func:`~shiftspike.sim.network_cycles.plan_network`
    takes them, balanced on the activity of sample inputs ``x [T, B, F]`` if given). The same arguments give
    byte-identical Verilog."""
    events = None if x is None else layer_events(model, x, run(model, x).outputs)
    plan = plan_network(model, lanes, arith, events)
    top = name or top_name(plan)
    component = NetworkTop(model, plan, debug)
    text = verilog.convert(component, name=top, emit_src=False)
    return Network(text, top, _sidecar(model, plan, top, debug, component, text), model, plan)


def write_network(network: Network, out_dir: Path) -> tuple[Path, Path]:
    """Write ``<top>.v``, its sidecar ``<top>.json`` and the model ``<top>.ssm`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    verilog_path, sidecar_path = out_dir / f"{network.top}.v", out_dir / f"{network.top}.json"
    write_atomic(verilog_path, network.verilog)
    write_json(sidecar_path, network.sidecar)
    save(network.model, out_dir / f"{network.top}.ssm")
    return verilog_path, sidecar_path
