"""The map, by exact module name: sim imports neither torch nor amaranth; quant and rtl_gen never import each
other; nothing imports a ``shiftspike.cli*`` module but the command line itself; no import cycle anywhere in
the package.

Every import counts: absolute and relative (``from .cli import x``, ``from .. import sim``), at module level
and inside functions, so a lazy import cannot hide an edge. The graph is built with :mod:`ast` from the
sources, nothing is imported.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Package name -> source folder, as ``pyproject.toml``'s ``package-dir`` maps them.
PACKAGES = {"shiftspike": "shiftspike", "shiftspike.sim": "sim", "shiftspike.quant": "quant",
            "shiftspike.rtl_gen": "rtl_gen"}


def test_importing_sim_pulls_in_no_torch_or_amaranth():
    code = "import sys, shiftspike.sim; print(sorted(m for m in ('torch', 'amaranth') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_importing_shiftspike_stays_light():
    """``import shiftspike`` (the Python API's entry) loads neither torch, amaranth, rich nor a CLI module."""
    code = ("import sys, shiftspike; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'amaranth', 'rich') or m.startswith('shiftspike.cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def package_modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> source file (``__init__.py`` for a package)."""
    modules = {}
    for package, folder in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join([package, *parts])
            if name not in modules:  # a subpackage folder mapped on its own (none today) wins
                modules[name] = path
    return modules


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name ``from ... import`` refers to, for ``node`` inside ``module``."""
    if node.level == 0:
        return node.module
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(source: str, module: str = "", is_package: bool = False, known: frozenset = frozenset()) -> set[str]:
    """Exact names ``source`` imports anywhere (module level, functions, relative). ``from a import b`` is the
    module ``a.b`` when that is in ``known``, else ``a``."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node)
            for alias in node.names:
                names.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (the edges the cycle check walks)."""
    modules = package_modules()
    known = frozenset(modules)
    graph = {}
    for name, path in modules.items():
        found = imports_of(path.read_text(), name, path.name == "__init__.py", known)
        graph[name] = {target for target in found if target in known and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as ``[a, b, ..., a]``, or None (depth-first search, colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_find_cycle_sees_cycles_through_relative_and_lazy_imports():
    """The checker itself: a cycle made of a relative import and a function-level import is found."""
    a = "from .b import helper\n"
    b = "def f():\n    from shiftspike.a import thing\n"
    known = frozenset({"shiftspike.a", "shiftspike.b"})
    graph = {"shiftspike.a": imports_of(a, "shiftspike.a", False, known) & known,
             "shiftspike.b": imports_of(b, "shiftspike.b", False, known) & known}
    assert graph == {"shiftspike.a": {"shiftspike.b"}, "shiftspike.b": {"shiftspike.a"}}
    assert find_cycle(graph) == ["shiftspike.a", "shiftspike.b", "shiftspike.a"]
    assert imports_of("from . import cli_rtl\n", "shiftspike", True, frozenset({"shiftspike.cli_rtl"})) == {
        "shiftspike.cli_rtl"}
    assert imports_of("from .. import sim\n", "shiftspike.quant.export", False) == {"shiftspike"}


def _is_cli(name: str) -> bool:
    parts = name.split(".")
    return len(parts) > 1 and parts[0] == "shiftspike" and parts[1].startswith("cli")


def _third_party(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize("package, forbidden_packages, forbidden_external", [
    ("shiftspike.sim", {"shiftspike.quant", "shiftspike.rtl_gen", "shiftspike.build"}, {"torch", "amaranth"}),
    ("shiftspike.quant", {"shiftspike.rtl_gen", "shiftspike.build"}, {"amaranth"}),
    ("shiftspike.rtl_gen", {"shiftspike.quant", "shiftspike.build"}, {"torch"}),
])
def test_import_direction(package, forbidden_packages, forbidden_external):
    modules = package_modules()
    for name, path in modules.items():
        if name != package and not name.startswith(package + "."):
            continue
        found = imports_of(path.read_text(), name, path.name == "__init__.py", frozenset(modules))
        wrong = {n for n in found if any(n == p or n.startswith(p + ".") for p in forbidden_packages)}
        wrong |= {n for n in found if _is_cli(n)} | (_third_party(found) & forbidden_external)
        assert not wrong, f"{name} ({path.relative_to(ROOT)}) imports {sorted(wrong)}"


def _library_sources():
    """(label, source) of every file that must not import a CLI module: the library modules of ``shiftspike/``
    (all but ``cli*`` and ``__main__``), the benchmarks and the notebooks' code cells."""
    for name, path in package_modules().items():
        if not _is_cli(name) and name != "shiftspike.__main__":
            yield name, name, path.name == "__init__.py", path.read_text()
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        yield f"benchmarks/{path.name}", "", False, path.read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        yield f"notebooks/{path.name}", "", False, "\n".join(l for l in code.splitlines() if not l.startswith(("%", "!")))


def test_nothing_but_the_command_line_imports_a_cli_module():
    """``shiftspike.build``, every other library module, the benchmarks and the notebooks use the library."""
    known = frozenset(package_modules())
    offenders = {}
    for label, module, is_package, source in _library_sources():
        cli = sorted(n for n in imports_of(source, module, is_package, known) if _is_cli(n))
        if cli:
            offenders[label] = cli
    assert not offenders, offenders


def test_the_flow_is_a_library_module():
    """The build exists, and imports only sim, quant, rtl_gen, numpy and the standard library."""
    modules = package_modules()
    assert "shiftspike.build" in modules
    found = imports_of(modules["shiftspike.build"].read_text(), "shiftspike.build", False, frozenset(modules))
    allowed = ("shiftspike.sim", "shiftspike.quant", "shiftspike.rtl_gen")
    inside = {n for n in found if n.split(".")[0] == "shiftspike"}
    assert all(any(n == a or n.startswith(a + ".") for a in allowed) for n in inside), sorted(inside)
    outside = _third_party(found - inside)
    assert outside <= set(sys.stdlib_module_names) | {"numpy"}, sorted(outside - set(sys.stdlib_module_names))
