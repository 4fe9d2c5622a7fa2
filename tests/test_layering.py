"""The map: sim imports neither torch nor amaranth; quant and rtl_gen never import each other."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_importing_sim_pulls_in_no_torch_or_amaranth():
    code = "import sys, shiftspike.sim; print(sorted(m for m in ('torch', 'amaranth') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def imported_modules(folder: str) -> set[str]:
    names = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
    return names


def _top(names: set[str]) -> set[str]:
    return {n.removeprefix("shiftspike.").split(".")[0] for n in names}


@pytest.mark.parametrize("folder, forbidden", [
    ("sim", {"torch", "amaranth", "quant", "rtl_gen", "cli"}),
    ("quant", {"rtl_gen", "amaranth", "cli"}),
    ("rtl_gen", {"quant", "torch", "cli"}),
])
def test_import_direction(folder, forbidden):
    assert not _top(imported_modules(folder)) & forbidden
