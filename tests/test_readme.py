"""README.md's results tables are generated from benchmarks/results/*.json and must not drift from them.

``benchmarks/readme_tables.py`` regenerates every block between ``<!-- table:NAME -->``
markers; these tests run its check on the committed files, and show on copies in
``tmp_path`` that the check fails when a JSON number or a README table changes.
"""

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "readme_tables.py"
_spec = importlib.util.spec_from_file_location("readme_tables", SCRIPT)
readme_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_tables)


def test_readme_tables_match_the_committed_results():
    message = readme_tables.check(ROOT / "README.md", ROOT / "benchmarks" / "results")
    assert message is None, message


@pytest.fixture
def copy(tmp_path):
    """A copy of README.md and of the results folder, to corrupt."""
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copytree(ROOT / "benchmarks" / "results", tmp_path / "results")
    return tmp_path


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _times(obj: dict, key: str, factor: float) -> None:
    obj[key] *= factor


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=3600)


#: (results file, a change of one measured number, the tables that must then be stale)
CHANGES = [
    ("accuracy.json", lambda d: _times(d["rows"][0], "energy_pj_per_sample", 2), ["accuracy", "energy"]),
    ("accuracy.json", lambda d: _times(d["rows"][1], "test_accuracy", 0.9), ["accuracy"]),
    ("train_speed.json", lambda d: [_times(r["seconds"], "PSN-gemm", 2) for r in d["rows"]], ["train-speed"]),
    ("train_speed.json", lambda d: [_times(r["seconds"], "PSN", 2) for r in d["rows"]], ["train-speed-modules"]),
    ("dyndecay.json", lambda d: _times(d["rows"][0], "ratio", 2), ["dyndecay"]),
    ("saf_memory.json", lambda d: _times(d["rows"][-1]["BPTT"], "peak_saved_bytes", 2), ["saf-memory"]),
    ("sim_throughput.json", lambda d: _times(d["results"][0]["seconds"], "numba-seq", 2), ["sim-throughput"]),
    ("rtl_area.json", lambda d: _times(d["cores"][0], "logic_cells", 2), ["rtl-area"]),
    ("network_rtl.json", lambda d: _times(d["rows"][0], "latency_us", 2), ["network-rtl"]),
    ("first_run.json", lambda d: _times(d["rows"][1], "first_seconds", 2), ["first-run"]),
]


@pytest.mark.parametrize("filename, change, stale", CHANGES, ids=[f"{c[0]}-{'-'.join(c[2])}" for c in CHANGES])
def test_check_fails_when_a_json_number_changes(copy, filename, change, stale):
    _edit_json(copy / "results" / filename, change)
    _, changed = readme_tables.regenerate((copy / "README.md").read_text(), copy / "results")
    assert changed == stale
    message = readme_tables.check(copy / "README.md", copy / "results")
    assert message is not None and all(name in message for name in stale)


def test_check_fails_when_a_readme_table_is_edited_by_hand(copy):
    readme = copy / "README.md"
    text = readme.read_text()
    block = text.index("<!-- table:rtl-area -->")
    readme.write_text(text[:block] + text[block:].replace("| 16 | 4 | 1 | 4 |", "| 16 | 4 | 1 | 5 |", 1))
    assert "rtl-area" in readme_tables.check(readme, copy / "results")


def test_cli_check_then_rewrite_only_the_tables(copy):
    before = (copy / "README.md").read_text()
    _edit_json(copy / "results" / "dyndecay.json", lambda d: _times(d["rows"][0], "ratio", 2))
    stale = _run("--check", "--readme", str(copy / "README.md"), "--results", str(copy / "results"))
    assert stale.returncode == 1
    assert len(stale.stderr.strip().splitlines()) == 1 and "dyndecay" in stale.stderr

    rewrite = _run("--readme", str(copy / "README.md"), "--results", str(copy / "results"))
    assert rewrite.returncode == 0, rewrite.stderr
    after = (copy / "README.md").read_text()
    assert after != before and "4.78x" in after  # 2.39x doubled
    outside = readme_tables.MARKER.sub(lambda m: m["name"], before)
    assert readme_tables.MARKER.sub(lambda m: m["name"], after) == outside  # every other byte kept
    assert _run("--check", "--readme", str(copy / "README.md"), "--results", str(copy / "results")).returncode == 0
    assert not [p.name for p in copy.iterdir() if p.name.startswith(".README")]  # no temporary left behind


@pytest.mark.parametrize("breakage, named", [
    (lambda d: (d / "results" / "saf_memory.json").unlink(), "saf_memory.json"),
    (lambda d: (d / "results" / "rtl_area.json").write_text("{not json"), "rtl_area.json"),
    (lambda d: _edit_json(d / "results" / "accuracy.json", lambda a: a["rows"][0].pop("task")), "accuracy.json"),
    (lambda d: (d / "README.md").write_text((d / "README.md").read_text().replace("<!-- /table:energy -->", "")),
     "table:energy"),
], ids=["missing-file", "bad-json", "missing-field", "unclosed-marker"])
def test_bad_input_is_one_line_exit_2_and_leaves_readme_alone(copy, breakage, named):
    breakage(copy)
    before = (copy / "README.md").read_text()
    result = _run("--readme", str(copy / "README.md"), "--results", str(copy / "results"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and named in result.stderr
    assert (copy / "README.md").read_text() == before


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_readme_has_a_python_example():
    blocks = python_blocks((ROOT / "README.md").read_text())
    assert blocks and all("shiftspike" in block for block in blocks)


@pytest.mark.slow
@pytest.mark.rtl
def test_readme_python_example_runs(tmp_path, monkeypatch):
    """Every ```python block of README.md runs as written, in a fresh folder, in a fresh interpreter, and
    writes only what it asks for (``model.ssm``)."""
    monkeypatch.chdir(tmp_path)
    code = "\n".join(python_blocks((ROOT / "README.md").read_text()))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Energy table" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ssm"]
