"""The command line against a hostile user: every verb that reads files, fed mutated, truncated, absurd or
missing files and unwritable outputs, must end with exit code 0 or 2 (``verify``: also 1, a failed check).

Each case runs IN-PROCESS through ``shiftspike.cli.main(argv)`` in a fresh folder, under an address-space
cap (``RLIMIT_AS``: the process's current size plus :data:`MEMORY_HEADROOM`; no shrinking, so a failure is reported
as drawn, quickly), and holds the run to the
contract of the project's guide:

- no exception escapes ``main`` (a ``MemoryError`` under the cap is a memory blow-up);
- on exit 2, stderr is exactly one line, ``shiftspike VERB: error: ...``, and no ``Traceback`` anywhere
  (a usage error from argparse may print its usage lines first);
- no input file changes (``sim --out`` naming its own input must be refused, not obeyed);
- no new file in the case folder other than the requested outputs after a success, none at all after a
  failure (the ``verify`` work folder excepted), and never a hidden temporary (a name starting with ``.``
  or holding ``.shiftspike-tmp``).

Hostile inputs: valid files (models from ``sim.random_model``, ``.npy`` from ``np.save``, TOML energy
tables and train configs, a tiny trained run and its checkpoint, an ``rtl`` folder) mutated by bytes
(truncation, flips, insertions, an empty file) or by structure (a value of the JSON/TOML/.npy header
replaced by a 5000-digit integer, inf, nan, a huge size, a wrong type, 10^5 levels of nesting, a missing
or unknown key); a directory, ``/dev/zero`` or a missing path instead of a file. Hostile outputs: a path
under a regular file, a missing folder, an existing directory, ``/proc/self/...``, a full file system (a
64 KiB tmpfs, when this process may mount one), the input file itself.

The fast part runs :data:`FAST_EXAMPLES` examples per verb; the ``slow`` part :data:`SLOW_EXAMPLES`.
``SHIFTSPIKE_FUZZ_EXAMPLES=N`` sets both (a long one-off run); ``SHIFTSPIKE_FUZZ_WATCHDOG=SECONDS`` turns a
case that runs longer into a failure (off by default: nothing in the suite may depend on speed). The
examples come from the run's Hypothesis seed (see ``conftest.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import resource
import signal
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from shiftspike.cli import main
from shiftspike.sim import random_input, random_model, save

ENV_EXAMPLES = os.environ.get("SHIFTSPIKE_FUZZ_EXAMPLES")
FAST_EXAMPLES = int(ENV_EXAMPLES or 20)
SLOW_EXAMPLES = int(ENV_EXAMPLES or 60)
WATCHDOG = int(os.environ.get("SHIFTSPIKE_FUZZ_WATCHDOG", "0"))
MEMORY_HEADROOM = 3 << 29  # bytes of address space a case may add (1.5 GiB)
TMP_MARK = ".shiftspike-tmp"

ENERGY_TOML = Path(__file__).resolve().parents[1] / "sim" / "energy_tables" / "horowitz45.toml"

TRAIN_CONFIG = {
    "data": {"name": "digits"},
    "model": {"neuron": "mulfree", "taps": 2, "dilation_period": 1, "shift_max": 3, "impl": "taploop",
              "layers": [{"type": "dense", "features": 6}, {"type": "neuron"}, {"type": "dense", "features": 10},
                         {"type": "readout"}]},
    "train": {"epochs": 1, "batch_size": 512, "lr": 0.01},
}


# ---------------------------------------------------------------------------------------------
# Hostile values and mutations


class Raw(str):
    """Text put into a JSON or TOML document as it is (a 5000-digit integer, ``NaN``, deep nesting)."""


def _raw_values(fmt: str) -> list[Raw]:
    deep = 100_000
    nan, inf = ("NaN", "Infinity") if fmt == "json" else ("nan", "inf")
    return [Raw("9" * 5000), Raw("-" + "9" * 5000), Raw(nan), Raw(inf), Raw("-" + inf), Raw("1e999"),
            Raw("[" * deep + "]" * deep), Raw("1" + "0" * 30), Raw("-0.0"), Raw("4.9e-324")]


PLAIN_VALUES = [0, -1, 1, 2, 3, 7, 64, 1 << 31, 1 << 40, (1 << 63) + 1, -(1 << 63), 0.5, -2.5, 1e300, "", "x",
                "wrap", "int", "spike", None, True, False, [], [1, 2], {}, {"a": 1}]


def hostile_value(data, fmt: str):
    values = PLAIN_VALUES + _raw_values(fmt)
    if fmt == "toml":
        values = [v for v in values if v is not None]
    return data.draw(st.sampled_from(values), label="value")


def _paths(tree, prefix=()):
    """Every (path to a container, key) inside a JSON-like tree."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else []
    for key, value in items:
        yield prefix + (key,)
        yield from _paths(value, prefix + (key,))


def mutate_tree(data, tree, fmt: str):
    """A deep copy of ``tree`` with one to three edits: a value replaced, a key deleted or an unknown key."""
    tree = json.loads(json.dumps(tree))
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        paths = list(_paths(tree))
        if not paths:
            return hostile_value(data, fmt)
        path = data.draw(st.sampled_from(paths), label="path")
        parent = tree
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "replace", "delete", "unknown"]), label="edit")
        if action == "replace":
            parent[path[-1]] = hostile_value(data, fmt)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent["zz_unknown"] = hostile_value(data, fmt)
        else:
            parent.append(hostile_value(data, fmt))
    return tree


def to_json(tree) -> str:
    raws: list[str] = []

    def encode(value):
        if isinstance(value, Raw):
            raws.append(value)
            return f"@@RAW{len(raws) - 1}@@"
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [encode(v) for v in value]
        return value

    text = json.dumps(encode(tree))
    for i, raw in enumerate(raws):
        text = text.replace(f'"@@RAW{i}@@"', raw)
    return text


def _toml_value(value) -> str:
    if isinstance(value, Raw):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None) + "}"
    raise TypeError(value)


def to_toml(tree) -> str:
    """A TOML document of a dict: top-level dicts as tables, everything else as values (None dropped)."""
    if not isinstance(tree, dict):
        return f"value = {_toml_value(tree)}\n"
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in tree.items() if not isinstance(v, dict) and v is not None]
    for key, table in tree.items():
        if isinstance(table, dict):
            lines.append(f"[{json.dumps(key)}]")
            lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"


def mutate_bytes(data, blob: bytes) -> bytes:
    """``blob`` truncated, with bytes flipped, inserted or deleted, or emptied."""
    kind = data.draw(st.sampled_from(["truncate", "flip", "insert", "delete", "empty"]), label="bytes")
    if kind == "empty" or not blob:
        return b""
    at = data.draw(st.integers(0, len(blob) - 1), label="at")
    if kind == "truncate":
        return blob[:at]
    if kind == "flip":
        flips = data.draw(st.lists(st.tuples(st.integers(0, len(blob) - 1), st.integers(1, 255)), min_size=1,
                                   max_size=8), label="flips")
        out = bytearray(blob)
        for i, x in flips:
            out[i] ^= x
        return bytes(out)
    if kind == "insert":
        return blob[:at] + data.draw(st.binary(min_size=1, max_size=64), label="inserted") + blob[at:]
    return blob[:at] + blob[at + data.draw(st.integers(1, 64), label="deleted"):]


# ---------------------------------------------------------------------------------------------
# Valid files and their hostile variants


def model_bytes(seed: int) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.ssm"
        save(random_model(seed), path)
        return path.read_bytes()


def mutate_model(data, blob: bytes) -> bytes:
    """A ``.ssm`` (safetensors) with its shiftspike header, its tensor table or its length field mutated."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    kind = data.draw(st.sampled_from(["meta", "meta", "meta", "tensors", "length", "bytes"]), label="model")
    if kind == "bytes":
        return mutate_bytes(data, blob)
    if kind == "length":
        value = data.draw(st.sampled_from([0, 1, n - 1, n + 1, 1 << 40, (1 << 64) - 1]), label="length")
        return struct.pack("<Q", value) + blob[8:]
    if kind == "meta":
        meta = json.loads(header["__metadata__"]["shiftspike"])
        header["__metadata__"]["shiftspike"] = to_json(mutate_tree(data, meta, "json"))
    else:
        names = sorted(k for k in header if k != "__metadata__")
        name = data.draw(st.sampled_from(names), label="tensor")
        field_ = data.draw(st.sampled_from(["shape", "dtype", "data_offsets"]), label="field")
        header[name][field_] = data.draw(st.sampled_from(
            {"shape": [[], [0], [1 << 40, 1 << 40], [-1], [3, 3, 3, 3]],
             "dtype": ["F64", "BOOL", "U64", "I64", "F16", "X"],
             "data_offsets": [[0, 1 << 40], [5, 1], [0, 0]]}[field_]), label="tensor value")
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + blob[8 + n:]


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def mutate_npy(data, array: np.ndarray) -> bytes:
    """A ``.npy`` whose header declares another shape (terabytes), dtype (objects: pickle) or order, whose
    header length or version is absurd, or whose bytes are mutated; or a valid array of another dtype/shape."""
    blob = npy_bytes(array)
    kind = data.draw(st.sampled_from(["header", "header", "array", "length", "bytes"]), label="npy")
    if kind == "bytes":
        return mutate_bytes(data, blob)
    if kind == "array":
        other = data.draw(st.sampled_from(["float", "nan", "bool", "uint64", "2d", "0d", "empty", "huge-values",
                                           "complex", "fortran"]), label="array")
        arrays = {"float": array.astype(np.float32), "nan": np.full(array.shape, np.nan),
                  "bool": array.astype(bool), "uint64": array.astype(np.uint64), "2d": array.reshape(array.shape[0], -1),
                  "0d": np.array(3), "empty": array[:, :0], "huge-values": np.full(array.shape, 1 << 62, np.int64),
                  "complex": array.astype(np.complex64), "fortran": np.asfortranarray(array)}
        return npy_bytes(arrays[other])
    version, length = blob[6], struct.unpack("<H", blob[8:10])[0]
    if kind == "length":
        value = data.draw(st.sampled_from([0, 1, length + 7, 0xFFFF]), label="header length")
        return blob[:8] + struct.pack("<H", value) + blob[10:]
    assert version == 1
    header = blob[10:10 + length].decode("latin1")
    replacement = data.draw(st.sampled_from([
        ("'shape': ", "'shape': (1099511627776, 1048576), 'x': "),
        ("'shape': ", f"'shape': ({'9' * 5000},), 'x': "),
        ("'shape': ", "'shape': (-1,), 'x': "),
        ("'descr': ", "'descr': '|O', 'x': "),
        ("'descr': ", "'descr': '<U99999999', 'x': "),
        ("'descr': ", "'descr': [('a', '<i8', (1 << 30,))], 'x': "),
        ("'fortran_order': False", "'fortran_order': True"),
        ("{", "{'extra': " + "[" * 5000 + "]" * 5000 + ", "),
    ]), label="header edit")
    text = header.replace(*replacement, 1).rstrip()
    text = text + " " * (-(10 + len(text) + 1) % 64) + "\n"
    if len(text) > 0xFFFF:
        return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(text)) + text.encode("latin1") + blob[10 + length:]
    return blob[:8] + struct.pack("<H", len(text)) + text.encode("latin1") + blob[10 + length:]


def mutate_text(data, tree, fmt: str) -> bytes:
    """A JSON or TOML document of ``tree`` mutated by structure, or its text mutated by bytes."""
    render = to_json if fmt == "json" else to_toml
    if data.draw(st.booleans(), label="structured"):
        return render(mutate_tree(data, tree, fmt)).encode()
    return mutate_bytes(data, render(tree).encode())


# ---------------------------------------------------------------------------------------------
# The case folder, its inputs and outputs


@dataclass
class Case:
    """A fresh folder with the case's input files; ``outputs`` are the paths the verb is asked to write."""

    root: Path
    inputs: list[Path] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    work: list[Path] = field(default_factory=list)  # folders a verb may fill even when it fails (verify)
    capped: bool = True  # run under the address-space cap (not for verbs that start tools: see ``guarded``)

    def add_input(self, name: str, blob: bytes, read: bool = True) -> Path:
        """Write ``blob`` as ``name``; a file the verb reads (``read``) must not change."""
        path = self.root / name
        path.write_bytes(blob)
        if read:
            self.inputs.append(path)
        return path


def hostile_path(data, case: Case, name: str, blob: bytes) -> str:
    """Usually ``blob`` written as ``name``; sometimes a missing path, a directory, ``/dev/zero`` or an
    empty file instead."""
    kinds = ["file"] * 6 + ["missing", "directory", "empty"] + (["dev-zero"] if case.capped else [])
    kind = data.draw(st.sampled_from(kinds), label=f"{name} path")
    path = case.root / name
    if kind == "missing":
        return str(path)
    if kind == "directory":
        path.mkdir()
        return str(path)
    if kind == "dev-zero":
        return "/dev/zero"
    return str(case.add_input(name, b"" if kind == "empty" else blob))


def output_path(data, case: Case, name: str, full_fs: Path | None, is_dir: bool = False) -> str:
    """Where the verb is asked to write ``name``: usually a fresh path in the case folder; sometimes under a
    regular file, in a missing folder, onto an existing directory (or file), in procfs, on a full file
    system or onto one of the case's inputs."""
    kinds = ["fresh"] * 5 + ["under-file", "missing-folder", "existing-dir", "proc"]
    kinds += ["full-fs"] if full_fs is not None else []
    kinds += ["input"] if case.inputs else []
    kind = data.draw(st.sampled_from(kinds), label=f"{name} output")
    if kind == "fresh":
        path = case.root / name
    elif kind == "under-file":
        blocker = case.root / "a-file"
        blocker.write_bytes(b"x")
        path = blocker / name
    elif kind == "missing-folder":
        path = case.root / "missing" / name
    elif kind == "existing-dir":
        path = case.root / name
        if is_dir:
            path.write_bytes(b"not a folder")
        else:
            path.mkdir()
    elif kind == "proc":
        path = Path("/proc/self") / f"shiftspike-fuzz-{name}"
    elif kind == "full-fs":
        path = full_fs / name
    else:
        path = data.draw(st.sampled_from(case.inputs), label="input as output")
    case.outputs.append(path)
    return str(path)


# ---------------------------------------------------------------------------------------------
# Running a case and checking the contract


def _files(roots: list[Path]) -> dict[Path, str]:
    found = {}
    for root in roots:
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                path = Path(dirpath) / name
                found[path] = _digest(path)
    return found


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "special"
    except OSError as exc:
        return f"unreadable {exc.errno}"


def _address_space() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


#: The argv, exit code and stderr of the last case (for a report of findings).
LAST_CASE: dict = {}


class Hang(Exception):
    """A case ran longer than SHIFTSPIKE_FUZZ_WATCHDOG seconds."""


@contextlib.contextmanager
def guarded(capped: bool = True):
    """The case's address space capped at its current size plus :data:`MEMORY_HEADROOM` (and the optional
    watchdog). The cap is inherited by child processes, and Yosys (run in wasmtime, which reserves gigabytes of
    address space) cannot start under it, so the verbs that start tools (rtl, synth, verify) run uncapped and
    are never handed ``/dev/zero``; their files are read by the same loaders as the capped verbs'."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if capped:
        resource.setrlimit(resource.RLIMIT_AS, (_address_space() + MEMORY_HEADROOM, hard))

    def alarm(_signum, _frame):
        raise Hang(f"case still running after {WATCHDOG} s")

    previous = signal.signal(signal.SIGALRM, alarm) if WATCHDOG else None
    signal.alarm(WATCHDOG)
    try:
        yield
    finally:
        signal.alarm(0)
        if WATCHDOG:
            signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_cli(argv: list[str], capped: bool = True) -> tuple[int, str]:
    """``main(argv)`` in this process -> (exit code, stderr); an exception other than SystemExit escapes."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), guarded(capped):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, err.getvalue()


def check_case(case: Case, argv: list[str], full_fs: Path | None, codes=(0, 2)) -> int:
    """Run ``argv`` and hold it to the module's contract; return the exit code."""
    verb = argv[0]
    LAST_CASE.update(argv=argv, stderr=None)
    roots = [case.root] + ([full_fs] if full_fs is not None else [])
    before = _files(roots)
    code, err = run_cli(argv, case.capped)
    LAST_CASE.update(stderr=err, code=code)
    assert "Traceback" not in err, err
    assert code in codes, f"exit code {code!r}; stderr: {err!r}"
    if code == 2:
        lines = err.strip().splitlines()
        usage = bool(lines) and lines[0].startswith("usage: shiftspike")
        message = [line for line in lines if not usage or not line.startswith(("usage:", " "))]
        assert len(message) == 1, f"expected one line, got {err!r}"
        assert message[0].startswith(f"shiftspike {verb}: error: "), message[0]
    after = _files(roots)
    changed = [p for p in case.inputs if before.get(p) != after.get(p)]
    assert not changed, f"inputs changed: {changed} (exit {code})"
    new = sorted(set(after) - set(before))
    hidden = [p for p in new if TMP_MARK in p.name or any(part.startswith(".") for part in p.relative_to(
        next(r for r in roots if p.is_relative_to(r))).parts)]
    assert not hidden, f"hidden temporaries left: {hidden}"
    allowed = case.work + (case.outputs if code in (0, 1) else [])
    stray = [p for p in new if not any(p == out or p.is_relative_to(out) for out in allowed)]
    assert not stray, f"files left that were not asked for (exit {code}): {stray}"
    if code == 0:
        missing = [p for p in case.outputs if not p.exists()]
        assert not missing, f"exit 0 but outputs missing: {missing}"
    return code


# ---------------------------------------------------------------------------------------------
# Fixtures: the valid files, a tiny trained run, an rtl folder, a full file system


@contextlib.contextmanager
def mounted_full_fs(mount: Path):
    """A 64 KiB tmpfs at ``mount`` filled to the last byte; None where this process may not mount one."""
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        yield None
        return
    try:
        with contextlib.suppress(OSError), open(mount / "filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def make_valid() -> dict:
    """The valid material the cases mutate (numba kernels compiled before any cap)."""
    from shiftspike.sim import load, run

    models = {seed: model_bytes(seed) for seed in range(4)}
    arrays = {}
    with tempfile.TemporaryDirectory() as folder:
        for seed, blob in models.items():
            path = Path(folder) / "m.ssm"
            path.write_bytes(blob)
            model = load(path)
            arrays[seed] = random_input(model, batch=2, timesteps=min(model.timesteps, 6), seed=seed)
            run(model, arrays[seed], record_membranes=True)
    import tomllib

    return {"models": models, "inputs": arrays, "energy": tomllib.loads(ENERGY_TOML.read_text())}


def make_trained(root: Path) -> dict:
    """A tiny trained run in ``root`` (one epoch of a 6-unit digits network): its files by name, its
    exported model, two test inputs and its config (torch imported before any cap)."""
    config = root / "tiny.toml"
    config.write_text(to_toml(TRAIN_CONFIG))
    run_dir = root / "run"
    assert main(["train", "--config", str(config), "--out", str(run_dir), "--no-progress"]) == 0
    assert main(["export", str(run_dir), "-o", str(root / "m.ssm"), "--no-check"]) == 0
    assert main(["inputs", str(run_dir), "-o", str(root / "x.npy"), "--samples", "2"]) == 0
    files = {name: (run_dir / name).read_bytes() for name in ("checkpoint.pt", "config.json", "metrics.jsonl",
                                                               "summary.json")}
    return files | {"model": (root / "m.ssm").read_bytes(), "x": np.load(root / "x.npy"),
                    "config": json.loads((run_dir / "config.json").read_text())}


def make_rtl_folder(root: Path) -> dict:
    """The files ``shiftspike rtl`` writes for one small core, by name, and its model and an input."""
    model = random_model(2, input_kind="int", input_width=4, neuron_layers=1, channels=3, taps=2, dilation=1,
                         conv=False, direct=True, readout=True)
    save(model, root / "m.ssm")
    assert main(["rtl", str(root / "m.ssm"), "-o", str(root / "rtl"), "--lanes", "1"]) == 0
    return {"files": {p.name: p.read_bytes() for p in (root / "rtl").iterdir() if p.is_file()},
            "model": (root / "m.ssm").read_bytes(), "x": random_input(model, batch=1, timesteps=4, seed=2)}


@pytest.fixture(scope="module")
def full_fs(tmp_path_factory):
    with mounted_full_fs(tmp_path_factory.mktemp("full-fs")) as mount:
        yield mount


@pytest.fixture(scope="module")
def valid():
    return make_valid()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    pytest.importorskip("torch")
    return make_trained(tmp_path_factory.mktemp("trained"))


@pytest.fixture(scope="module")
def rtl_folder(tmp_path_factory):
    return make_rtl_folder(tmp_path_factory.mktemp("rtl"))


FUZZ = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate])


def fuzz(examples: int, case_fn, *fixtures) -> None:
    """Run ``case_fn(data, case_root, *fixtures)`` on ``examples`` Hypothesis examples, each in a fresh folder."""

    @settings(max_examples=examples, **FUZZ)
    @given(st.data())
    def property_(data):
        with tempfile.TemporaryDirectory(prefix="shiftspike-fuzz-") as folder:
            try:
                case_fn(data, Case(Path(folder).resolve()), *fixtures)
            finally:
                for path in Path(folder).rglob("*"):
                    with contextlib.suppress(OSError):
                        path.chmod(0o700)

    property_()


SIZES = [pytest.param(FAST_EXAMPLES, id="fast"), pytest.param(SLOW_EXAMPLES, id="slow", marks=pytest.mark.slow)]


# ---------------------------------------------------------------------------------------------
# The verbs


def model_input(data, case: Case, valid) -> str:
    seed = data.draw(st.sampled_from(sorted(valid["models"])), label="model seed")
    blob = valid["models"][seed]
    if data.draw(st.integers(0, 3), label="mutate model") == 0:
        blob = mutate_model(data, blob)
    return hostile_path(data, case, "m.ssm", blob), seed


def npy_input(data, case: Case, array: np.ndarray, name: str = "x.npy", p_valid: int = 1) -> str:
    blob = npy_bytes(array) if data.draw(st.integers(0, 3), label=f"mutate {name}") < p_valid \
        else mutate_npy(data, array)
    return hostile_path(data, case, name, blob)


def case_report(data, case: Case, valid, full_fs):
    model, seed = model_input(data, case, valid)
    argv = ["report", model]
    if data.draw(st.booleans(), label="--input"):
        argv += ["--input", npy_input(data, case, valid["inputs"][seed])]
    energy = data.draw(st.sampled_from(["preset", "toml", "json", "none"]), label="--energy")
    if energy == "preset":
        argv += ["--energy", data.draw(st.sampled_from(["horowitz45", "literature", "nonesuch"]))]
    elif energy != "none":
        blob = mutate_text(data, valid["energy"], energy)
        argv += ["--energy", hostile_path(data, case, f"table.{energy}", blob)]
    if data.draw(st.booleans(), label="--json"):
        argv += ["--json", output_path(data, case, "r.json", full_fs)]
    if data.draw(st.booleans(), label="--plot"):
        argv += ["--plot", output_path(data, case, "r.png", full_fs)]
    check_case(case, argv, full_fs)


def case_sim(data, case: Case, valid, full_fs):
    model, seed = model_input(data, case, valid)
    argv = ["sim", model, "--input", npy_input(data, case, valid["inputs"][seed]),
            "--out", output_path(data, case, "y.npy", full_fs)]
    if data.draw(st.booleans(), label="--membranes"):
        argv += ["--membranes", output_path(data, case, "mem.npz", full_fs)]
    if data.draw(st.booleans(), label="--step"):
        argv.append("--step")
    check_case(case, argv, full_fs)


def case_rtl(data, case: Case, valid, full_fs):
    case.capped = False
    model, _ = model_input(data, case, valid)
    argv = ["rtl", model, "-o", output_path(data, case, "rtl", full_fs, is_dir=True)]
    argv += data.draw(st.sampled_from([[], ["--lanes", "1"], ["--lanes", "999999"], ["--layer", "0"],
                                       ["--layer", "-1"], ["--arith", "mul"], ["--loadable"]]), label="options")
    check_case(case, argv, full_fs)


def rtl_dir(data, case: Case, rtl_folder, reads_models: bool) -> str:
    """The rtl folder with one of its files mutated (sidecar by structure or bytes, Verilog or model by
    bytes), deleted, or left valid; its single-layer models count as inputs only if ``reads_models``."""
    folder = case.root / "rtl"
    folder.mkdir()
    files = dict(rtl_folder["files"])
    name = data.draw(st.sampled_from(sorted(files)), label="rtl file")
    action = data.draw(st.sampled_from(["mutate", "mutate", "mutate", "delete", "keep"]), label="rtl action")
    if action == "delete":
        del files[name]
    elif action == "mutate":
        files[name] = mutate_text(data, json.loads(files[name]), "json") if name.endswith(".json") \
            else mutate_model(data, files[name]) if name.endswith(".ssm") else mutate_bytes(data, files[name])
    for file_name, blob in files.items():
        case.add_input(f"rtl/{file_name}", blob, read=reads_models or not file_name.endswith(".ssm"))
    return str(folder)


def case_synth(data, case: Case, rtl_folder, full_fs):
    case.capped = False
    argv = ["synth", rtl_dir(data, case, rtl_folder, reads_models=False), "--no-progress"]
    argv += data.draw(st.sampled_from([[], ["--target", "nonesuch"]]), label="target")
    if data.draw(st.booleans(), label="--json"):
        argv += ["--json", output_path(data, case, "synth.json", full_fs)]
    check_case(case, argv, full_fs)


def case_verify(data, case: Case, rtl_folder, full_fs):
    case.capped = False
    folder = rtl_dir(data, case, rtl_folder, reads_models=True)
    model = rtl_folder["model"]
    if data.draw(st.booleans(), label="mutate model"):
        model = mutate_model(data, model)
    argv = ["verify", folder, "--model", hostile_path(data, case, "m.ssm", model),
            "--input", npy_input(data, case, rtl_folder["x"], p_valid=2), "--simulator", "icarus",
            "--samples", "1", "--no-progress"]
    case.work.append(Path(folder) / "verify")
    if data.draw(st.booleans(), label="--json"):
        argv += ["--json", output_path(data, case, "verify.json", full_fs)]
    check_case(case, argv, full_fs, codes=(0, 1, 2))


def mutate_checkpoint(data, blob: bytes) -> bytes:
    """A checkpoint with one field (or one field of a nested dict: a weight of ``model``, a layer of ``config``)
    replaced by a hostile value or a tensor of another shape, or deleted; or its bytes mutated (a broken zip or
    pickle stream)."""
    import torch

    if data.draw(st.booleans(), label="checkpoint bytes"):
        return mutate_bytes(data, blob)
    checkpoint = torch.load(io.BytesIO(blob), weights_only=True)
    target, key = checkpoint, data.draw(st.sampled_from(sorted(checkpoint)), label="checkpoint key")
    if isinstance(target[key], dict) and target[key] and data.draw(st.booleans(), label="nested"):
        target, key = target[key], data.draw(st.sampled_from(sorted(target[key])), label="nested key")
    value = data.draw(st.sampled_from(["delete", None, -2, 0, 10**30, 1e309, "x", [], {}, "tensor-0", "tensor-big",
                                       "tensor-wrong", "tensor-nan"]), label="checkpoint value")
    if value == "delete":
        del target[key]
    else:
        tensors = {"tensor-0": torch.zeros(0), "tensor-big": torch.zeros(1, 1).expand(1 << 20, 1 << 20),
                   "tensor-wrong": torch.zeros(3, 5, 7), "tensor-nan": torch.full((6, 64), float("nan"))}
        target[key] = tensors.get(value, value) if isinstance(value, str) else value
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return buffer.getvalue()


def run_folder(data, case: Case, trained, mutate: set[str]) -> Path:
    """A copy of the tiny trained run with one of the files in ``mutate`` (the ones the verb reads) mutated or
    deleted, or none."""
    folder = case.root / "run"
    folder.mkdir()
    choice = data.draw(st.sampled_from(sorted(mutate) + ["none"]), label="run file")
    for name in ("checkpoint.pt", "config.json", "metrics.jsonl", "summary.json"):
        blob = trained[name]
        if name == choice:
            if name == "config.json":
                blob = mutate_text(data, trained["config"], "json")
            elif name == "checkpoint.pt":
                blob = mutate_checkpoint(data, blob)
            else:
                blob = mutate_bytes(data, blob)
            if data.draw(st.integers(0, 5), label="delete") == 0:
                continue
        case.add_input(f"run/{name}", blob, read=name in mutate)
    return folder


def case_export(data, case: Case, trained, full_fs):
    folder = run_folder(data, case, trained, {"checkpoint.pt"})  # the config is inside the checkpoint
    source = str(folder / "checkpoint.pt") if data.draw(st.booleans(), label="checkpoint") else str(folder)
    argv = ["export", source, "-o", output_path(data, case, "m.ssm", full_fs)]
    argv += data.draw(st.sampled_from([["--no-check"], ["--no-check"], [], ["--no-check", "--widths", "1"],
                                       ["--no-check", "--widths", "64"], ["--no-check", "--widths", "9" * 5000]]),
                      label="options")
    check_case(case, argv, full_fs)


def case_inputs(data, case: Case, trained, full_fs):
    folder = run_folder(data, case, trained, {"config.json"})
    argv = ["inputs", str(folder), "-o", output_path(data, case, "x.npy", full_fs), "--samples", "3"]
    if data.draw(st.booleans(), label="--labels"):
        argv += ["--labels", output_path(data, case, "y.npy", full_fs)]
    check_case(case, argv, full_fs)


def case_train(data, case: Case, trained, full_fs):
    """A hostile config (a valid one trains the tiny network for an epoch)."""
    fmt_tree = mutate_text(data, TRAIN_CONFIG, "toml") if data.draw(st.integers(0, 9), label="valid config") \
        else to_toml(TRAIN_CONFIG).encode()
    argv = ["train", "--config", hostile_path(data, case, "c.toml", fmt_tree),
            "--out", output_path(data, case, "run", full_fs, is_dir=True), "--no-progress"]
    argv += data.draw(st.sampled_from([[], [], ["--epochs", "1"], ["--width", "inf"], ["--width", "nan"],
                                       ["--width", "1e-300"], ["--seed", "9" * 5000]]), label="options")
    check_case(case, argv, full_fs)


@pytest.mark.parametrize("examples", SIZES)
def test_fuzz_report(examples, valid, full_fs):
    fuzz(examples, case_report, valid, full_fs)


@pytest.mark.parametrize("examples", SIZES)
def test_fuzz_sim(examples, valid, full_fs):
    fuzz(examples, case_sim, valid, full_fs)


@pytest.mark.parametrize("examples", SIZES)
def test_fuzz_rtl(examples, valid, full_fs):
    fuzz(max(1, examples // 3), case_rtl, valid, full_fs)


@pytest.mark.rtl
@pytest.mark.parametrize("examples", SIZES)
def test_fuzz_synth(examples, rtl_folder, full_fs):
    fuzz(max(1, examples // 5), case_synth, rtl_folder, full_fs)


@pytest.mark.rtl
@pytest.mark.parametrize("examples", SIZES)
def test_fuzz_verify(examples, rtl_folder, full_fs):
    fuzz(max(1, examples // 5), case_verify, rtl_folder, full_fs)


@pytest.mark.parametrize("examples", SIZES)
def test_fuzz_export(examples, trained, full_fs):
    fuzz(examples, case_export, trained, full_fs)


@pytest.mark.parametrize("examples", SIZES)
def test_fuzz_inputs(examples, trained, full_fs):
    fuzz(examples, case_inputs, trained, full_fs)


@pytest.mark.parametrize("examples", SIZES)
def test_fuzz_train(examples, trained, full_fs):
    fuzz(max(1, examples // 3), case_train, trained, full_fs)


# ---------------------------------------------------------------------------------------------
# The harness itself: it passes on a clean run and fails on a traceback, a two-line error or a stray file


def test_harness_passes_a_clean_run(valid, tmp_path):
    case = Case(tmp_path)
    model = case.add_input("m.ssm", valid["models"][0])
    out = tmp_path / "r.json"
    case.outputs.append(out)
    assert check_case(case, ["report", str(model), "--json", str(out)], None) == 0
    case = Case(tmp_path / "second")
    case.root.mkdir()
    assert check_case(case, ["report", str(case.root / "absent.ssm")], None) == 2


def test_harness_fails_on_a_traceback(valid, tmp_path, monkeypatch):
    import shiftspike.sim as sim  # the report verb reads its model through shiftspike.sim.load

    def crash(_path):
        raise IndexError("boom")

    monkeypatch.setattr(sim, "load", crash)
    case = Case(tmp_path)
    model = case.add_input("m.ssm", valid["models"][0])
    with pytest.raises(IndexError):
        check_case(case, ["report", str(model)], None)


def test_harness_fails_on_a_stray_or_hidden_file(valid, tmp_path, monkeypatch):
    import shiftspike.sim as sim  # the report verb reads its model through shiftspike.sim.load

    real = sim.load

    def litter(path):
        (Path(path).parent / f".m.ssm.1.abcd{TMP_MARK}").write_bytes(b"half")
        return real(path)

    monkeypatch.setattr(sim, "load", litter)
    case = Case(tmp_path)
    model = case.add_input("m.ssm", valid["models"][0])
    with pytest.raises(AssertionError, match="hidden temporaries"):
        check_case(case, ["report", str(model)], None)


def test_harness_refuses_a_two_line_error(valid, tmp_path, monkeypatch):
    import shiftspike.sim as sim  # the report verb reads its model through shiftspike.sim.load
    from shiftspike.sim.errors import ShiftspikeError

    def two_lines(_path):
        print("a warning on stderr", file=sys.stderr)
        raise ShiftspikeError("the error")

    monkeypatch.setattr(sim, "load", two_lines)
    case = Case(tmp_path)
    model = case.add_input("m.ssm", valid["models"][0])
    with pytest.raises(AssertionError, match="expected one line"):
        check_case(case, ["report", str(model)], None)


def test_harness_refuses_a_changed_input(valid, tmp_path):
    """``sim --out`` onto a file the case declares as an input: the harness sees the input change."""
    case = Case(tmp_path)
    model = case.add_input("m.ssm", valid["models"][0])
    np.save(tmp_path / "x.npy", valid["inputs"][0])
    victim = case.add_input("victim.npy", b"old")
    case.outputs.append(victim)
    with pytest.raises(AssertionError, match="inputs changed"):
        check_case(case, ["sim", str(model), "--input", str(tmp_path / "x.npy"), "--out", str(victim)], None)


def test_hostile_documents_are_what_they_claim():
    """The renderers write what the mutations mean: 5000 digits, NaN, TOML tables that parse back."""
    import tomllib

    text = to_json({"a": Raw("9" * 5000), "b": Raw("NaN"), "c": [1, {"d": None}]})
    assert text == '{"a": ' + "9" * 5000 + ', "b": NaN, "c": [1, {"d": null}]}'
    assert tomllib.loads(to_toml(TRAIN_CONFIG)) == TRAIN_CONFIG
    assert to_toml({"t": {"x": Raw("nan")}}) == '["t"]\n"x" = nan\n'
