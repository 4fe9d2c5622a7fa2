"""Per-operation energy tables and the energy of counted operations.

A table gives, for each priced op kind, ``[bits, pJ]`` points, plus the
energy per bit of memory reads and writes. Energy at a width between two
points is interpolated linearly in log(bits)-log(pJ) space (power-law
scaling), and extrapolated from the nearest segment outside them; a kind
with a single point is flat (the same at every width). Tables are TOML or
JSON files; the presets ship in ``energy_tables/``.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import ShiftspikeError
from .opcount import CONVENTIONS, LayerOps

PRICED_OPS = ("add", "shift", "mul", "cmp", "fp_add", "fp_mul")
READS = ("weight_read", "param_read", "buffer_read")
WRITES = ("buffer_write",)


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
        """Energy in pJ of one ``kind`` operation at ``bits`` operand width."""
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


def _number(where: str, value, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EnergyTableError(f"{where}: must be a number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise EnergyTableError(f"{where}: must be {'positive' if positive else 'non-negative'}, got {value}")
    return float(value)


def parse_table(data: dict, origin: str) -> EnergyTable:
    """Validate a table given as a dict (parsed TOML/JSON)."""
    if not isinstance(data, dict):
        raise EnergyTableError(f"{origin}: must be a table/object")
    convention = data.get("convention", "exact")
    if convention not in CONVENTIONS:
        raise EnergyTableError(f"{origin}: convention must be one of {CONVENTIONS}, got {convention!r}")
    ops_in = data.get("ops")
    if not isinstance(ops_in, dict):
        raise EnergyTableError(f"{origin}: missing [ops] table")
    ops = {}
    for kind in PRICED_OPS:
        points = ops_in.get(kind)
        if not isinstance(points, list) or not points:
            raise EnergyTableError(f"{origin}: ops.{kind} must be a non-empty list of [bits, pJ] pairs")
        parsed = []
        for i, point in enumerate(points):
            if not isinstance(point, list) or len(point) != 2:
                raise EnergyTableError(f"{origin}: ops.{kind}[{i}] must be a [bits, pJ] pair")
            bits = point[0]
            if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 64:
                raise EnergyTableError(f"{origin}: ops.{kind}[{i}] bits must be a whole number from 1 to 64, "
                                       f"got {bits!r}")
            parsed.append((bits, _number(f"{origin}: ops.{kind}[{i}] pJ", point[1], True)))
        parsed.sort()
        if len({b for b, _ in parsed}) != len(parsed):
            raise EnergyTableError(f"{origin}: ops.{kind} lists a width twice")
        ops[kind] = tuple(parsed)
    unknown = sorted(set(ops_in) - set(PRICED_OPS))
    if unknown:
        raise EnergyTableError(f"{origin}: unknown op kind ops.{unknown[0]} (known: {', '.join(PRICED_OPS)})")
    memory = data.get("memory", {})
    if not isinstance(memory, dict):
        raise EnergyTableError(f"{origin}: [memory] must be a table")
    return EnergyTable(
        name=str(data.get("name", origin)),
        source=str(data.get("source", "")),
        convention=convention,
        ops=ops,
        read_pj_per_bit=_number(f"{origin}: memory.read_pj_per_bit", memory.get("read_pj_per_bit", 0.0), False),
        write_pj_per_bit=_number(f"{origin}: memory.write_pj_per_bit", memory.get("write_pj_per_bit", 0.0), False),
    )


def presets() -> list[str]:
    """Names of the shipped presets."""
    folder = resources.files(__package__) / "energy_tables"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_table(name_or_path: str) -> EnergyTable:
    """A preset by name (``horowitz45``, ``literature``) or a ``.toml``/``.json`` table file."""
    if name_or_path in presets():
        text = (resources.files(__package__) / "energy_tables" / f"{name_or_path}.toml").read_text()
        return parse_table(tomllib.loads(text), name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise EnergyTableError(
            f"{name_or_path}: neither a preset ({', '.join(presets())}) nor an existing table file"
        )
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EnergyTableError(f"{path}: cannot parse ({exc})") from None
    return parse_table(data, str(path))
