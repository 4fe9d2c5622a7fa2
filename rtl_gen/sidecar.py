"""The typed JSON sidecar of one generated core, and its one reader.

``rtl_gen.generate`` writes the sidecar (``<top>.json`` next to ``<top>.v``);
everything that reads one (synthesis rows, verification, the folder tools of
``rtl_gen.cores``) goes through :func:`read_sidecar` or :func:`parse_sidecar`,
which check every field they use and raise a one-line :class:`CoreFolderError`
for anything malformed. Light: no amaranth.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from shiftspike.sim.cycles import CoreTiming
from shiftspike.sim.errors import FileFormatError, ShiftspikeError
from shiftspike.sim.safe_io import read_json

SIDECAR_FORMAT = "shiftspike-rtl"
SIDECAR_VERSION = 1


class CoreFolderError(ShiftspikeError, ValueError):
    """A core sidecar or a folder of cores is missing, malformed or inconsistent; one line naming the file."""


@dataclass(frozen=True)
class NeuronInfo:
    """The neuron layer a core computes: ``channels`` x ``length`` neurons, ``taps`` k, ``dilation`` d,
    ``shift_max``, ``coef_width`` (bits of a multiplier core's tap weight), ``acc_width`` (accumulator bits)
    and ``overflow`` (``"wrap"`` or ``"saturate"``)."""

    channels: int
    length: int
    taps: int
    dilation: int
    shift_max: int
    coef_width: int
    acc_width: int
    overflow: str


@dataclass(frozen=True)
class InputInfo:
    """The core's input: ``kind`` (``"spike"`` or ``"int"``), ``width`` bits per value, ``signed``."""

    kind: str
    width: int
    signed: bool


@dataclass(frozen=True)
class Sidecar:
    """One core's sidecar: ``path`` (the JSON file), ``top`` module, neuron ``layer`` index of the source
    model, ``arith`` (``"shift"``/``"mul"``), ``lanes`` P, ``loadable``, ``debug`` (membranes in the output
    beat), ``neuron``, ``input``, ``timing`` (the cycle model), ``ports`` (``{name: {direction,
    payload_width, payload: {field: {offset, width, signed}}}}``, bit offsets and widths),
    ``verilog_sha256`` and ``raw`` (the parsed JSON, as the testbench reads it)."""

    path: Path
    top: str
    layer: int
    arith: str
    lanes: int
    loadable: bool
    debug: bool
    neuron: NeuronInfo
    input: InputInfo
    timing: CoreTiming
    ports: dict
    verilog_sha256: str
    raw: dict = field(repr=False, compare=False)

    @property
    def verilog(self) -> Path:
        """``<top>.v`` next to the sidecar."""
        return self.path.with_name(f"{self.top}.v")

    @property
    def model_path(self) -> Path:
        """``<top>.ssm`` (the single-layer model) next to the sidecar."""
        return self.path.with_name(f"{self.top}.ssm")


def _get(meta: dict, key: str, kind: type | tuple, origin: str):
    """``meta[key]`` if it is of ``kind`` (a bool is no int here), else CoreFolderError."""
    if key not in meta:
        raise CoreFolderError(f"{origin}: malformed core sidecar (no {key!r})")
    value = meta[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise CoreFolderError(f"{origin}: malformed core sidecar ({key!r} is {type(value).__name__}, "
                              f"expected {' or '.join(k.__name__ for k in kinds)})")
    return value


def _dict(meta: dict, key: str, origin: str) -> dict:
    return _get(meta, key, dict, origin)


def _typed(cls, meta: dict, origin: str):
    """A dataclass ``cls`` from ``meta``'s keys of the same names, each of its annotated type."""
    types = {"int": int, "str": str, "bool": bool}
    return cls(**{f.name: _get(meta, f.name, types[f.type if isinstance(f.type, str) else f.type.__name__], origin)
                  for f in fields(cls)})


def _non_negative(value: int, what: str, origin: str, least: int = 0) -> int:
    if value < least:
        raise CoreFolderError(f"{origin}: malformed core sidecar ({what} {value} < {least})")
    return value


def _ports(meta: dict, origin: str) -> dict:
    ports = _dict(meta, "ports", origin)
    for name in ("inp", "out"):
        if name not in ports:
            raise CoreFolderError(f"{origin}: malformed core sidecar (no port {name!r})")
    for name, port in ports.items():
        where = f"{origin} port {name}"
        if not isinstance(port, dict):
            raise CoreFolderError(f"{where}: malformed core sidecar (not an object)")
        _get(port, "direction", str, where)
        _non_negative(_get(port, "payload_width", int, where), "payload_width", where, 1)
        for leaf, spec in _dict(port, "payload", where).items():
            if not isinstance(spec, dict):
                raise CoreFolderError(f"{where} field {leaf}: malformed core sidecar (not an object)")
            _non_negative(_get(spec, "offset", int, where), "offset", where)
            _non_negative(_get(spec, "width", int, where), "width", where, 1)
            _get(spec, "signed", bool, where)
    return ports


def is_sidecar(meta) -> bool:
    """Whether parsed JSON claims to be a core sidecar (an object whose ``format`` is :data:`SIDECAR_FORMAT`)."""
    return isinstance(meta, dict) and meta.get("format") == SIDECAR_FORMAT


def parse_sidecar(meta: dict, path: Path) -> Sidecar:
    """The :class:`Sidecar` of parsed JSON ``meta`` (read from, or standing for, ``path``)."""
    origin = str(path)
    if not is_sidecar(meta):
        raise CoreFolderError(f"{origin}: not a core sidecar (format is not {SIDECAR_FORMAT!r})")
    version = _get(meta, "version", int, origin)
    if version != SIDECAR_VERSION:
        raise CoreFolderError(f"{origin}: core sidecar version {version}, this shiftspike reads {SIDECAR_VERSION}")
    timing = _typed(CoreTiming, _dict(meta, "timing", origin), f"{origin} timing")
    for name in ("neurons", "lanes", "groups", "cycles_per_step"):
        _non_negative(getattr(timing, name), f"timing {name}", origin, 1)
    lanes = _non_negative(_get(meta, "lanes", int, origin), "lanes", origin, 1)
    if lanes != timing.lanes:
        raise CoreFolderError(f"{origin}: malformed core sidecar (lanes {lanes} != timing lanes {timing.lanes})")
    arith = _get(meta, "arith", str, origin)
    if arith not in ("shift", "mul"):
        raise CoreFolderError(f"{origin}: malformed core sidecar (arith {arith[:20]!r})")
    top = _get(meta, "top", str, origin)
    if not (top.isascii() and top.isidentifier()):
        raise CoreFolderError(f"{origin}: malformed core sidecar (top {top[:40]!r} is not a module name)")
    return Sidecar(
        path=Path(path), top=top, layer=_non_negative(_get(meta, "layer", int, origin), "layer", origin),
        arith=arith, lanes=lanes, loadable=_get(meta, "loadable", bool, origin),
        debug=_get(meta, "debug", bool, origin),
        neuron=_typed(NeuronInfo, _dict(meta, "neuron", origin), f"{origin} neuron"),
        input=_typed(InputInfo, _dict(meta, "input", origin), f"{origin} input"),
        timing=timing, ports=_ports(meta, origin), verilog_sha256=_get(meta, "verilog_sha256", str, origin),
        raw=meta,
    )


def read_sidecar(path) -> Sidecar | None:
    """The :class:`Sidecar` in JSON file ``path``; None if it is valid JSON but not a core sidecar (another
    JSON file in the folder). Unreadable or malformed: :class:`CoreFolderError`, one line."""
    path = Path(path)
    try:
        meta = read_json(path, "core sidecar")
    except FileFormatError as exc:
        raise CoreFolderError(str(exc)) from None
    return parse_sidecar(meta, path) if is_sidecar(meta) else None
