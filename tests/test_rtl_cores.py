"""``rtl_gen.cores`` (a folder of cores) and ``rtl_gen.built`` (a core in memory): hostile sidecars get one
line, ``lanes`` is capped per layer, a core too large for the device is a type, and a testbench leaves the
calling process's environment as it found it."""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shiftspike.rtl_gen.built import synthesize_core, verify_built
from shiftspike.rtl_gen.cores import (CoreFolderError, Sidecar, layer_currents, read_folder, read_sidecar,
                                      synthesize_cores, verdict_json, verify_cores, write_cores)
from shiftspike.rtl_gen.generate import build_core, write_core
from shiftspike.rtl_gen.synth import DoesNotFit, SynthError, TooManyPins, synthesize
from shiftspike.rtl_gen.tools import environment
from shiftspike.rtl_gen.verify import VerifyError, load_core
from shiftspike.sim import fit_widths, random_input, random_model

pytestmark = pytest.mark.rtl


def two_layer_model():
    """Neuron layers of 16 neurons (layer 1, after a conv) and 8 (layer 4)."""
    return fit_widths(random_model(
        seed=7, input_kind="int", input_width=6, input_channels=1, input_length=4, timesteps=6, conv=True,
        neuron_layers=1, channels=4, classes=3, taps=3, dilation=2, shift_max=3, narrow=False,
    ))


def tiny_model():
    """Neuron layers of 1 (layer 1) and 3 (layer 3) neurons."""
    return random_model(seed=3)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    """A folder of the cores of :func:`tiny_model` (layers 1 and 3)."""
    folder = tmp_path_factory.mktemp("rtl")
    write_cores(tiny_model(), folder)
    return folder


# --- one typed sidecar reader -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_sidecar(tiny_folder) -> dict:
    return json.loads(next(p for p in sorted(tiny_folder.glob("*.json"))).read_text())


def test_read_sidecar_reads_what_generate_writes(tiny_folder, good_sidecar):
    sidecars = read_folder(tiny_folder)
    assert [s.layer for s in sidecars] == [1, 3]
    meta = sidecars[0]
    assert isinstance(meta, Sidecar) and meta.top == good_sidecar["top"]
    assert meta.timing.lanes == meta.lanes == good_sidecar["lanes"]
    assert meta.neuron.taps == good_sidecar["neuron"]["taps"] and meta.verilog.is_file()
    assert meta.raw == good_sidecar


def test_read_sidecar_skips_other_json(tmp_path):
    (tmp_path / "synth.json").write_text('{"target": "generic", "cores": []}')
    assert read_sidecar(tmp_path / "synth.json") is None


def _paths(value, prefix=()):
    """Every key path into nested dicts of ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix + (key,)
            yield from _paths(item, prefix + (key,))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


def _hostile_texts(good: dict):
    paths = sorted(_paths(good), key=repr)
    path = st.sampled_from(paths)

    def replaced(p, value):
        meta = copy.deepcopy(good)
        node = meta
        for key in p[:-1]:
            node = node[key]
        node[p[-1]] = value
        return json.dumps(meta)

    def removed(p):
        meta = copy.deepcopy(good)
        node = meta
        for key in p[:-1]:
            node = node[key]
        del node[p[-1]]
        return json.dumps(meta)

    return st.one_of(
        st.builds(replaced, path, JSON_VALUES),
        st.builds(removed, path),
        st.builds(lambda p, digits: replaced(p, 0).replace(": 0", ": " + "9" * digits, 1), path,
                  st.integers(41, 5000)),
        st.builds(lambda p, depth: replaced(p, 0).replace(": 0", ": " + "[" * depth + "]" * depth, 1), path,
                  st.integers(65, 50_000)),
        st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
        st.builds(lambda n: json.dumps(good)[:n], st.integers(0, 400)),
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_sidecar_is_one_line(tmp_path, good_sidecar, tiny_folder, data):
    """A mutated, truncated, deeply nested or non-JSON sidecar: the reader returns a Sidecar or None, or raises
    one line of CoreFolderError (verify's loader: VerifyError); never another exception."""
    text = data.draw(_hostile_texts(good_sidecar))
    folder = tmp_path / "hostile"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    top = good_sidecar["top"]
    for suffix in (".v", ".ssm"):
        shutil.copy(tiny_folder / f"{top}{suffix}", folder / f"{top}{suffix}")
    path = folder / f"{top}.json"
    path.write_text(text, encoding="latin-1")
    try:
        meta = read_sidecar(path)
        assert meta is None or isinstance(meta, Sidecar)
    except CoreFolderError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    try:
        load_core(folder, good_sidecar["layer"])
    except VerifyError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize("edit, words", [
    (lambda m: m.pop("timing"), ["no 'timing'"]),
    (lambda m: m.update(neuron=[1, 2]), ["'neuron' is list"]),
    (lambda m: m.update(lanes=True), ["'lanes' is bool"]),
    (lambda m: m["timing"].update(lanes="4"), ["timing", "'lanes' is str"]),
    (lambda m: m.update(version=2), ["version 2"]),
    (lambda m: m.update(top="a; rm -rf /"), ["not a module name"]),
    (lambda m: m["ports"]["inp"]["payload"].update(x={"offset": -1, "width": 1, "signed": False}), ["offset -1"]),
])
def test_malformed_sidecar_named(tmp_path, good_sidecar, edit, words):
    meta = copy.deepcopy(good_sidecar)
    edit(meta)
    path = tmp_path / "core.json"
    path.write_text(json.dumps(meta))
    with pytest.raises(CoreFolderError) as info:
        read_sidecar(path)
    assert all(word in str(info.value) for word in words), str(info.value)


def test_read_folder_errors(tmp_path, tiny_folder):
    with pytest.raises(CoreFolderError, match="no such directory"):
        read_folder(tmp_path / "nope")
    with pytest.raises(CoreFolderError, match="no core sidecars"):
        read_folder(tmp_path)
    copy_dir = tmp_path / "copy"
    shutil.copytree(tiny_folder, copy_dir)
    next(copy_dir.glob("*.v")).unlink()
    with pytest.raises(CoreFolderError, match="Verilog .* is missing"):
        read_folder(copy_dir)


# --- write_cores ------------------------------------------------------------------------------------------


def test_lanes_capped_per_layer(tmp_path):
    """``lanes`` above a layer's neurons gives that layer all its neurons as lanes, and the other layer
    still gets the lanes asked for (not the smallest layer's cap)."""
    model = two_layer_model()
    neurons = {i: model.specs[i].features for i in model.neuron_layers()}
    small, large = sorted(neurons.values())
    assert small < large
    lanes = (small + large) // 2
    written = write_cores(model, tmp_path, lanes=lanes, debug=False)
    assert {core.index: core.timing.lanes for core in written} == {i: min(lanes, n) for i, n in neurons.items()}
    assert {s.layer: s.lanes for s in read_folder(tmp_path)} == {i: min(lanes, n) for i, n in neurons.items()}
    assert all(not core.warnings for core in written)


@pytest.mark.parametrize("kwargs, words", [
    ({"layers": [0]}, "layer 0 is not a neuron layer"),
    ({"layers": [99]}, "layer 99 is not a neuron layer"),
    ({"lanes": 0}, "lanes must be a positive integer"),
    ({"arith": "float"}, "arith must be one of"),
])
def test_write_cores_refuses(tmp_path, kwargs, words):
    with pytest.raises(CoreFolderError, match=words):
        write_cores(tiny_model(), tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_write_cores_refuses_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(CoreFolderError, match="not a directory"):
        write_cores(tiny_model(), tmp_path / "file")


# --- typed synthesis errors -------------------------------------------------------------------------------

#: 33 block RAMs: one more than the iCE40 HX8K has.
BRAM33_V = """
(* blackbox *)
module SB_RAM40_4K(output [15:0] RDATA, input [10:0] RADDR, input RCLK, input RCLKE, input RE,
                   input [10:0] WADDR, input WCLK, input WCLKE, input WE, input [15:0] WDATA, input [15:0] MASK);
endmodule

module bram33(input clk, input [10:0] addr, input [15:0] din, input we, output [15:0] dout);
  wire [15:0] q [0:32];
  genvar i;
  generate for (i = 0; i < 33; i = i + 1) begin : m
    SB_RAM40_4K ram (.RDATA(q[i]), .RADDR(addr), .RCLK(clk), .RCLKE(1'b1), .RE(1'b1),
                     .WADDR(addr), .WCLK(clk), .WCLKE(1'b1), .WE(we), .WDATA(din ^ i), .MASK(16'h0));
  end endgenerate
  assign dout = q[addr[5:0]];
endmodule
"""

#: 211 input bits: more than the 206 I/O pins of the ct256 package.
PINS_V = """
module pins(input clk, input [209:0] a, output y);
  assign y = ^a;
endmodule
"""


def test_does_not_fit_is_a_type(tmp_path):
    (tmp_path / "bram33.v").write_text(BRAM33_V)
    with pytest.raises(DoesNotFit) as info:
        synthesize(tmp_path / "bram33.v", "bram33")
    error = info.value
    assert isinstance(error, SynthError)
    assert (error.resource, error.used, error.available, error.design) == ("ICESTORM_RAM", 33, 32, "bram33")
    assert "\n" not in str(error)


def test_too_many_pins_is_a_type(tmp_path):
    (tmp_path / "pins.v").write_text(PINS_V)
    with pytest.raises(TooManyPins) as info:
        synthesize(tmp_path / "pins.v", "pins")
    assert (info.value.used, info.value.available) == (212, 206)
    assert not isinstance(info.value, DoesNotFit)


def unfit_core():
    """A shift-add core whose history needs more block RAMs than the HX8K's 32: C = 8, k = 10, d = 64, P = 8,
    8-bit input (9 segments of 64 words of 64 bits, 4 blocks each); little logic, so Yosys is quick."""
    model = random_model(2026, input_kind="int", input_width=8, input_channels=8, input_length=1, timesteps=8,
                         direct=True, conv=False, neuron_layers=0, taps=10, dilation=64, shift_max=7, zero_taps=0.0,
                         narrow=False, overflow="wrap", readout=False)
    return build_core(model, 0, lanes=8, debug=False)


@pytest.mark.slow
def test_core_too_large_does_not_fit(tmp_path):
    """A generated core too large for the device: DoesNotFit from memory and from a folder, and with
    ``unfit_ok`` a row that says so, with no numbers."""
    core = unfit_core()
    with pytest.raises(DoesNotFit) as info:
        synthesize_core(core, "ice40-hx8k")
    assert (info.value.resource, info.value.used, info.value.available) == ("ICESTORM_RAM", 36, 32)
    write_core(core, tmp_path)
    calls = []
    [row] = synthesize_cores(tmp_path, "ice40-hx8k", unfit_ok=True, progress=lambda *a: calls.append(a))
    assert row["does_not_fit"].startswith(f"{core.top}: does not fit the device")
    assert row["logic_cells"] is None and row["fmax_mhz"] is None and row["updates_per_second"] is None
    assert calls == [(1, 1, core.top)]


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """The working directory and the temporary-file folder, both empty: what is left in them was left behind."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return tmp_path


def _left_behind(scratch: Path) -> list[Path]:
    return [p for p in scratch.rglob("*") if p != scratch / "tmp"]


def test_synthesize_core_from_memory(scratch):
    """A core built in memory, synthesized (generic target) with no file left behind."""
    core = build_core(tiny_model(), 3, lanes=3)
    row = synthesize_core(core, "generic")
    assert row["top"] == core.top and row["logic_cells"] > 0 and row["multipliers"] == 0
    assert row["lanes"] == 3 and row["fmax_mhz"] is None
    assert _left_behind(scratch) == []


def test_synthesize_cores_folder(tiny_folder):
    rows = synthesize_cores(tiny_folder, "generic")
    assert [row["layer"] for row in rows] == [1, 3]
    assert all(row["logic_cells"] > 0 and "luts" not in row for row in rows)
    with pytest.raises(CoreFolderError, match="unknown target"):
        synthesize_cores(tiny_folder, "xc7")


# --- verification and the environment ---------------------------------------------------------------------


def test_environment_restored_exactly():
    before = dict(os.environ)
    key = "SHIFTSPIKE_TEST_ENV_VARIABLE"
    with pytest.raises(RuntimeError):
        with environment({key: "1", "PATH": "/nowhere"}):
            assert os.environ[key] == "1" and os.environ["PATH"] == "/nowhere"
            os.environ["SHIFTSPIKE_ADDED_INSIDE"] = "x"
            raise RuntimeError
    assert dict(os.environ) == before


def _verify_tiny(simulator: str):
    model = tiny_model()
    x = random_input(model, batch=2, timesteps=4, seed=1)
    core = build_core(model, 3)
    return verify_built(core, layer_currents(model, x)[3], simulator)


def test_verify_built_icarus_leaves_environment(scratch):
    """A core built in memory and verified on Icarus: it passes, no file is left and os.environ is unchanged."""
    before = dict(os.environ)
    verdict = _verify_tiny("icarus")
    assert verdict.passed and verdict.samples == 2 and verdict.steps == 4
    assert dict(os.environ) == before
    assert _left_behind(scratch) == []


@pytest.mark.slow
def test_verify_built_verilator_leaves_environment():
    before = dict(os.environ)
    verdict = _verify_tiny("verilator")
    assert verdict.passed
    assert dict(os.environ) == before


def test_verify_cores_folder(tiny_folder, tmp_path):
    model = tiny_model()
    x = random_input(model, batch=2, timesteps=4, seed=2)
    calls = []
    verdicts = verify_cores(model, x, tiny_folder, ["icarus"], tmp_path, progress=lambda *a: calls.append(a))
    assert [v.layer for v in verdicts] == [1, 3] and all(v.passed for v in verdicts)
    assert [c[:2] for c in calls] == [(1, 2), (2, 2)]
    assert verdict_json(verdicts[0])["passed"] is True
    other = random_model(seed=4)
    with pytest.raises((CoreFolderError, VerifyError)):
        verify_cores(other, random_input(other, batch=1, timesteps=2, seed=0), tiny_folder, ["icarus"], tmp_path)


def test_layer_currents_shapes():
    model = tiny_model()
    x = random_input(model, batch=3, timesteps=5, seed=0)
    currents = layer_currents(model, x)
    assert sorted(currents) == model.neuron_layers()
    assert all(c.shape == (5, 3, model.specs[i].features) for i, c in currents.items())
