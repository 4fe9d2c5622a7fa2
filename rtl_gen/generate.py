"""Verilog, its JSON sidecar and its single-layer model for the neuron layers of an integer model.

The sidecar is what a testbench or an integrator needs without reading the
Verilog: the ports with every field's bit offset and width, the layer's
parameters, and the cycle model (``sim/cycles.py``). The same model and
options give byte-identical files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from amaranth import Shape
from amaranth.back import verilog
from amaranth.lib import data

from shiftspike.sim.fileformat import save
from shiftspike.sim.model import IntegerModel, Neuron
from shiftspike.sim.safe_io import write_atomic, write_json

from .core import CoreParams, NeuronCore
from .sidecar import SIDECAR_FORMAT, SIDECAR_VERSION


def core_params(model: IntegerModel, index: int, lanes: int | None = None, arith: str = "shift",
                loadable: bool = False, debug: bool = True) -> CoreParams:
    """Core parameters of neuron layer ``index`` of ``model``; ``lanes`` defaults to the layer's channels
    (capped at its neurons)."""
    if not 0 <= index < len(model.layers) or not isinstance(model.layers[index], Neuron):
        raise ValueError(f"layer {index} is not a neuron layer (neuron layers: {model.neuron_layers()})")
    inp = model.specs[index]
    return CoreParams(model.layers[index], inp, inp.channels if lanes is None else lanes, arith, loadable, debug)


def top_name(index: int, params: CoreParams) -> str:
    return f"neuron_layer{index}_{params.arith}_p{params.lanes}"


def to_verilog(params: CoreParams, name: str) -> str:
    """Verilog text of the core; no source locations, so it does not depend on where it was generated."""
    return verilog.convert(NeuronCore(params), name=name, emit_src=False)


def _fields(layout, prefix: str = "", base: int = 0) -> dict:
    """Flat ``{name: {offset, width, signed}}`` of every leaf field of a payload layout
    (struct fields as ``a.b``, array elements as ``a[i]``; a plain array's elements as ``[i]``)."""
    if isinstance(layout, data.StructLayout):
        out = {}
        for name, field in layout:
            out |= _fields(field.shape, f"{prefix}.{name}" if prefix else name, base + field.offset)
        return out
    if isinstance(layout, data.ArrayLayout):
        size = Shape.cast(layout.elem_shape).width
        out = {}
        for i in range(layout.length):
            out |= _fields(layout.elem_shape, f"{prefix}[{i}]", base + i * size)
        return out
    shape = Shape.cast(layout)
    return {prefix: {"offset": base, "width": shape.width, "signed": shape.signed}}


def _port(direction: str, layout) -> dict:
    return {"direction": direction, "payload_width": data.Layout.cast(layout).size, "payload": _fields(layout)}


def sidecar(model: IntegerModel, index: int, params: CoreParams, name: str, verilog_text: str) -> dict:
    """The JSON description of one generated core."""
    layer, inp = params.layer, params.inp
    ports = {
        "inp": _port("in", data.ArrayLayout(params.in_shape, params.lanes)),
        "out": _port("out", params.out_layout()),
    }
    if params.loadable:
        ports["load"] = _port("in", params.load_layout()) | {"always_ready": True}
    return {
        "format": SIDECAR_FORMAT, "version": SIDECAR_VERSION,
        "top": name, "layer": index, "arith": params.arith, "lanes": params.lanes,
        "loadable": params.loadable, "debug": params.debug,
        "neuron": {
            "channels": inp.channels, "length": inp.length, "taps": layer.taps, "dilation": layer.dilation,
            "shift_max": layer.shift_max, "coef_width": layer.coef_width, "acc_width": layer.acc_width,
            "overflow": layer.overflow,
        },
        "input": {"kind": inp.kind, "width": inp.width, "signed": params.in_shape.signed},
        "timing": params.timing.to_json(),
        "clock": "clk", "reset": "rst (synchronous, active high)",
        "ports": ports,
        "verilog_sha256": hashlib.sha256(verilog_text.encode()).hexdigest(),
    }


@dataclass(frozen=True)
class Core:
    """One generated core, not yet written: its top module name, parameters, Verilog text, sidecar and
    single-layer integer model (the layer the core computes, which verification runs it against)."""

    top: str
    params: CoreParams
    verilog: str
    sidecar: dict
    model: IntegerModel


def build_core(model: IntegerModel, index: int, **options) -> Core:
    """The core of neuron layer ``index``; ``options``: ``lanes``, ``arith``, ``loadable``, ``debug`` of
    :func:`core_params`."""
    params = core_params(model, index, **options)
    name = top_name(index, params)
    text = to_verilog(params, name)
    single = IntegerModel(model.specs[index], model.timesteps, (model.layers[index],))
    return Core(name, params, text, sidecar(model, index, params, name, text), single)


def write_core(core: Core, out_dir: Path) -> tuple[Path, Path]:
    """Write ``<top>.v``, its sidecar ``<top>.json`` and its model ``<top>.ssm`` into ``out_dir``, each
    atomically; return the Verilog and sidecar paths."""
    out_dir = Path(out_dir)
    v_path, j_path = out_dir / f"{core.top}.v", out_dir / f"{core.top}.json"
    write_atomic(v_path, core.verilog.encode())
    write_json(j_path, core.sidecar)
    save(core.model, out_dir / f"{core.top}.ssm")
    return v_path, j_path


def generate(model: IntegerModel, index: int, out_dir: Path, **options) -> tuple[Path, Path]:
    """Build and write the core of neuron layer ``index`` (:func:`build_core`, :func:`write_core`)."""
    return write_core(build_core(model, index, **options), out_dir)
