"""Per-operation energy tables and the energy of counted operations.

A table gives, for each priced op kind, ``[bits, pJ]`` points, plus the
energy per bit of memory reads and writes. Energy at a width between two
points is interpolated linearly in log(bits)-log(pJ) space (power-law
scaling), and extrapolated from the nearest segment outside them; a kind
with a single point is flat (the same at every width). Tables are TOML or
JSON files read through ``safe_io``; the presets ship in ``energy_tables/``.

Bounds (``docs/energy.md``): every pJ figure is a finite number in
``[MIN_PJ, MAX_PJ]`` (memory prices may be 0), widths are whole numbers from
1 to 64, the power-law exponent between two points is at most ``MAX_SLOPE``
in magnitude, and the energy at every width from 1 to 64 bits, interpolated
or extrapolated, stays within ``MAX_PJ``. Any violation is one
:class:`EnergyTableError` line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import FileFormatError, ShiftspikeError
from .opcount import CONVENTIONS, LayerOps
from .safe_io import parse_toml, read_json, read_toml

PRICED_OPS = ("add", "shift", "mul", "cmp", "fp_add", "fp_mul")
READS = ("weight_read", "param_read", "buffer_read")
WRITES = ("buffer_write",)
#: Smallest and largest energy of one operation or one bit of memory traffic, in pJ.
MIN_PJ = 1e-6
MAX_PJ = 1e6
#: Widths a table may list and is evaluated at, in bits.
MIN_BITS, MAX_BITS = 1, 64
#: Largest magnitude of the power-law exponent d log(pJ) / d log(bits) between two points.
MAX_SLOPE = 8.0
TOP_KEYS = ("name", "source", "convention", "ops", "memory")
MEMORY_KEYS = ("read_pj_per_bit", "write_pj_per_bit")


class EnergyTableError(ShiftspikeError, ValueError):
    """An energy table file or preset name is invalid."""


@dataclass(frozen=True)
class EnergyTable:
    """``ops[kind]``: sorted ``(bits, pJ)`` points; memory prices in pJ per bit."""

    name: str
    source: str
    convention: str
    ops: dict[str, tuple[tuple[int, float], ...]]
    read_pj_per_bit: float
    write_pj_per_bit: float

    def op_energy(self, kind: str, bits: int) -> float:
        """Energy in pJ of one ``kind`` operation at ``bits`` operand width (see the module for the scaling)."""
        points = self.ops[kind]
        if len(points) == 1:
            return points[0][1]
        segment = next((i for i in range(len(points) - 1) if bits <= points[i + 1][0]), len(points) - 2)
        (b0, e0), (b1, e1) = points[segment], points[segment + 1]
        slope = math.log(e1 / e0) / math.log(b1 / b0)
        return e0 * (bits / b0) ** slope

    def energy(self, ops: LayerOps) -> dict[str, float]:
        """Energy in pJ by kind (``mem_read``, ``mem_write`` for memory) and ``total``."""
        out: dict[str, float] = {}
        for kind in PRICED_OPS:
            count = ops.total(kind)
            if count:
                out[kind] = count * self.op_energy(kind, ops.bits[kind])
        read = sum(ops.total(k) * ops.bits.get(k, 0) for k in READS) * self.read_pj_per_bit
        write = sum(ops.total(k) * ops.bits.get(k, 0) for k in WRITES) * self.write_pj_per_bit
        if read:
            out["mem_read"] = read
        if write:
            out["mem_write"] = write
        out["total"] = sum(out.values())
        return out

    def to_json(self) -> dict:
        return {
            "name": self.name, "source": self.source, "convention": self.convention,
            "ops": {k: [list(p) for p in v] for k, v in self.ops.items()},
            "read_pj_per_bit": self.read_pj_per_bit, "write_pj_per_bit": self.write_pj_per_bit,
        }


def _number(where: str, value, lo: float) -> float:
    """A pJ figure: a finite number in ``[lo, MAX_PJ]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EnergyTableError(f"{where}: must be a number, got {_show(value)}")
    try:
        value = float(value)
    except OverflowError:
        raise EnergyTableError(f"{where}: {str(value)[:20]}... is too large for a float") from None
    if not math.isfinite(value):
        raise EnergyTableError(f"{where}: must be finite, got {value}")
    if value < lo or value > MAX_PJ or (lo == 0 and value < 0):
        low = "0" if lo == 0 else f"{lo:g}"
        raise EnergyTableError(f"{where}: must be from {low} to {MAX_PJ:g} pJ, got {value:g}"
                               + (" (must be positive)" if value <= 0 < lo else ""))
    return value


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _unknown(where: str, obj: dict, known) -> None:
    extra = sorted(str(key) for key in obj if key not in known)
    if extra:
        raise EnergyTableError(f"{where}: unknown key {extra[0][:40]!r} (known: {', '.join(known)})")


def _points(origin: str, kind: str, points) -> tuple[tuple[int, float], ...]:
    """The sorted ``(bits, pJ)`` points of one op kind, checked as the module says."""
    if not isinstance(points, list) or not points:
        raise EnergyTableError(f"{origin}: ops.{kind} must be a non-empty list of [bits, pJ] pairs")
    parsed = []
    for i, point in enumerate(points):
        if not isinstance(point, list) or len(point) != 2:
            raise EnergyTableError(f"{origin}: ops.{kind}[{i}] must be a [bits, pJ] pair")
        bits = point[0]
        if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
            raise EnergyTableError(f"{origin}: ops.{kind}[{i}] bits must be a whole number from {MIN_BITS} to "
                                   f"{MAX_BITS}, got {_show(bits)}")
        parsed.append((bits, _number(f"{origin}: ops.{kind}[{i}] pJ", point[1], MIN_PJ)))
    parsed.sort()
    if len({b for b, _ in parsed}) != len(parsed):
        raise EnergyTableError(f"{origin}: ops.{kind} lists a width twice")
    for (b0, e0), (b1, e1) in zip(parsed, parsed[1:]):
        slope = math.log(e1 / e0) / math.log(b1 / b0)
        if abs(slope) > MAX_SLOPE:
            raise EnergyTableError(f"{origin}: ops.{kind} from {b0} to {b1} bits scales as bits^{slope:.3g}, "
                                   f"steeper than bits^{MAX_SLOPE:g}")
    table_points = tuple(parsed)
    worst = max(_log_energy(table_points, bits) for bits in range(MIN_BITS, MAX_BITS + 1))
    if worst > math.log(MAX_PJ):
        raise EnergyTableError(f"{origin}: ops.{kind} extrapolates to more than {MAX_PJ:g} pJ within "
                               f"{MIN_BITS} to {MAX_BITS} bits")
    return table_points


def _log_energy(points: tuple[tuple[int, float], ...], bits: int) -> float:
    """log(pJ) of one operation at ``bits``: log-log interpolation, extrapolation from the nearest segment."""
    if len(points) == 1:
        return math.log(points[0][1])
    segment = next((i for i in range(len(points) - 1) if bits <= points[i + 1][0]), len(points) - 2)
    (b0, e0), (b1, e1) = points[segment], points[segment + 1]
    slope = math.log(e1 / e0) / math.log(b1 / b0)
    return math.log(e0) + slope * math.log(bits / b0)


def parse_table(data: dict, origin: str) -> EnergyTable:
    """Validate a table given as a dict (parsed TOML/JSON)."""
    if not isinstance(data, dict):
        raise EnergyTableError(f"{origin}: must be a table/object")
    _unknown(origin, data, TOP_KEYS)
    convention = data.get("convention", "exact")
    if not isinstance(convention, str) or convention not in CONVENTIONS:
        raise EnergyTableError(f"{origin}: convention must be one of {CONVENTIONS}, got {_show(convention)}")
    for key in ("name", "source"):
        if not isinstance(data.get(key, ""), str):
            raise EnergyTableError(f"{origin}: {key} must be a string, got {_show(data[key])}")
    ops_in = data.get("ops")
    if not isinstance(ops_in, dict):
        raise EnergyTableError(f"{origin}: missing [ops] table")
    unknown = sorted(str(k) for k in set(ops_in) - set(PRICED_OPS))
    if unknown:
        raise EnergyTableError(f"{origin}: unknown op kind ops.{unknown[0][:40]} (known: {', '.join(PRICED_OPS)})")
    ops = {kind: _points(origin, kind, ops_in.get(kind)) for kind in PRICED_OPS}
    memory = data.get("memory", {})
    if not isinstance(memory, dict):
        raise EnergyTableError(f"{origin}: [memory] must be a table")
    _unknown(f"{origin}: memory", memory, MEMORY_KEYS)
    return EnergyTable(
        name=data.get("name", origin)[:200],
        source=data.get("source", "")[:1000],
        convention=convention,
        ops=ops,
        read_pj_per_bit=_number(f"{origin}: memory.read_pj_per_bit", memory.get("read_pj_per_bit", 0.0), 0),
        write_pj_per_bit=_number(f"{origin}: memory.write_pj_per_bit", memory.get("write_pj_per_bit", 0.0), 0),
    )


def presets() -> list[str]:
    """Names of the shipped presets."""
    folder = resources.files(__package__) / "energy_tables"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_table(name_or_path: str) -> EnergyTable:
    """A preset by name (``horowitz45``, ``literature``) or a ``.toml``/``.json`` table file."""
    if name_or_path in presets():
        text = (resources.files(__package__) / "energy_tables" / f"{name_or_path}.toml").read_text()
        return parse_table(parse_toml(text, name_or_path), name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise EnergyTableError(
            f"{str(name_or_path)[:200]}: neither a preset ({', '.join(presets())}) nor an existing table file"
        )
    try:
        data = read_json(path, "JSON energy table") if path.suffix == ".json" else read_toml(path, "energy table")
    except FileFormatError as exc:
        raise EnergyTableError(f"cannot parse {exc}") from None
    return parse_table(data, str(path))
