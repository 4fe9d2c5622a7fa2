"""`shiftspike rtl` and `shiftspike synth`: files, determinism, lint, zero multipliers, and bad input.

The cores' behaviour is verified against the simulator in ``cocotb_tests/``;
here: what the verbs write and refuse, the cycle model's arithmetic, and the
synthesis facts the issue names (no multiplier cell in the shift-add core).
"""

import json

import numpy as np
import pytest

from shiftspike.cli import main
from shiftspike.rtl_gen.generate import core_params, to_verilog, top_name
from shiftspike.rtl_gen.tools import lint
from shiftspike.sim import fit_widths, load, random_model, save
from shiftspike.sim.cycles import LATENCY, core_timing


def demo_model(seed: int = 2026):
    """A small integer model: conv1d -> neuron -> sumpool -> 2 x (dense -> neuron) -> dense -> readout."""
    return fit_widths(random_model(
        seed=seed, input_kind="int", input_width=6, input_channels=1, input_length=8, timesteps=8,
        conv=True, neuron_layers=2, channels=16, classes=10, taps=4, dilation=2, shift_max=3, narrow=False,
    ))


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.ssm"
    save(random_model(seed=5), path)
    return path


def _one_line_error(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for word in words:
        assert word in err, err


def test_cycle_model_counts_groups_and_storage():
    model = random_model(seed=3, channels=10, taps=4, dilation=3, conv=False, direct=False, neuron_layers=1)
    index = model.neuron_layers()[0]
    layer, inp = model.layers[index], model.specs[index]
    timing = core_timing(layer, inp, 3)
    assert (timing.groups, timing.cycles_per_step, timing.latency) == (4, 4, LATENCY)
    assert (timing.segments, timing.segment_entries, timing.history) == (3, 12, "memory")
    assert timing.history_bits == 3 * 12 * 3 * inp.width
    assert timing.cycles(5) == 5 * 4 - 1 + LATENCY
    assert timing.updates_per_second(100e6) == pytest.approx(10 * 100e6 / 4)
    one = core_timing(layer, inp, 10)
    assert one.history == ("register" if layer.dilation == 1 else "memory")
    for lanes in (0, 11):
        with pytest.raises(ValueError, match="lanes"):
            core_timing(layer, inp, lanes)


def test_rtl_writes_verilog_and_sidecars_byte_identically(model_file, tmp_path, capsys):
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["rtl", str(model_file), "-o", str(out), "--lanes", "1"]) == 0
        runs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert runs[0] == runs[1]
    model = random_model(seed=5)
    assert len(runs[0]) == 3 * len(model.neuron_layers())
    for name, content in runs[0].items():
        if name.endswith(".json"):
            meta = json.loads(content)
            assert meta["lanes"] == 1 and meta["timing"]["groups"] == meta["timing"]["neurons"]
            assert f"module {meta['top']}" in runs[0][f"{meta['top']}.v"].decode()
            assert meta["ports"]["inp"]["payload_width"] == meta["input"]["width"]
            single = load(tmp_path / "a" / f"{meta['top']}.ssm")
            index = meta["layer"]
            assert single.input == model.specs[index] and len(single.layers) == 1
            assert np.array_equal(single.layers[0].theta, model.layers[index].theta)
    assert "clean" in capsys.readouterr().out


def test_lanes_are_capped_per_layer(tmp_path, capsys):
    """``--lanes 12`` on layers of 8 and 16 neurons: 8 lanes for the first core, 12 for the second."""
    model = random_model(seed=5)
    path = tmp_path / "m.ssm"
    save(model, path)
    assert main(["rtl", str(path), "-o", str(tmp_path / "o"), "--lanes", "12"]) == 0
    lanes = {meta["layer"]: meta["lanes"] for meta in (json.loads(p.read_text()) for p in (tmp_path / "o").glob("*.json"))}
    assert sorted(lanes.values()) == [8, 12]


def test_verilog_has_no_source_paths():
    params = core_params(demo_model(), demo_model().neuron_layers()[0], lanes=4)
    text = to_verilog(params, "core")
    assert "src =" not in text and "/work" not in text and "site-packages" not in text


@pytest.mark.parametrize("options", [
    {"lanes": 1}, {"lanes": 5, "loadable": True}, {"lanes": 2, "arith": "mul", "debug": False},
    {"lanes": 16, "arith": "mul", "loadable": True},
])
def test_lint_is_clean_and_waivers_only_cover_their_rules(options, tmp_path):
    model = demo_model()
    index = model.neuron_layers()[1]
    params = core_params(model, index, **options)
    name = top_name(index, params)
    path = tmp_path / f"{name}.v"
    path.write_text(to_verilog(params, name))
    assert lint(path, name) == []
    waived = {"WIDTHEXPAND", "WIDTHTRUNC", "PROCASSINIT", "UNUSEDSIGNAL"}
    raw = lint(path, name, waivers=False)
    rules = {line.split(":")[0].removeprefix("%Warning-") for line in raw if line.startswith("%Warning-")}
    assert raw and rules <= waived, rules - waived


def test_rtl_bad_input_exits_2_with_one_line(model_file, tmp_path, capsys):
    assert main(["rtl", str(tmp_path / "missing.ssm"), "-o", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, "missing.ssm")
    assert main(["rtl", str(model_file), "-o", str(tmp_path / "o"), "--layer", "1"]) == 2
    _one_line_error(capsys, "layer 1", "neuron layers")
    assert not (tmp_path / "o").exists()
    for absurd in ("0", "-3", "70000", str(10**30), "1e3"):
        with pytest.raises(SystemExit) as exit_:
            main(["rtl", str(model_file), "-o", str(tmp_path / "o"), "--lanes", absurd])
        assert exit_.value.code == 2
        _one_line_error(capsys, "--lanes")
    assert not (tmp_path / "o").exists()
    garbage = tmp_path / "garbage.ssm"
    garbage.write_bytes(b"not a model")
    assert main(["rtl", str(garbage), "-o", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, "garbage.ssm")


def test_synth_bad_input_exits_2_with_one_line(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "nowhere")]) == 2
    _one_line_error(capsys, "nowhere")
    assert main(["synth", str(tmp_path)]) == 2
    _one_line_error(capsys, "no core sidecars")
    assert main(["synth", str(tmp_path), "--target", "vivado"]) == 2
    _one_line_error(capsys, "vivado")


@pytest.mark.slow
@pytest.mark.rtl
def test_synth_of_demo_model_has_no_multiplier_in_the_shift_core(tmp_path, capsys):
    """On the demo model: the shift-add cores have zero multiplier cells, the multiplier cores have some (Yosys
    only: place and route and Fmax are tests/test_synth.py's)."""
    model_path = tmp_path / "demo.ssm"
    save(demo_model(), model_path)
    rows = {}
    for arith in ("shift", "mul"):
        out = tmp_path / arith
        assert main(["rtl", str(model_path), "-o", str(out), "--lanes", "4", "--arith", arith]) == 0
        assert main(["synth", str(out), "--target", "generic", "--json", str(tmp_path / f"{arith}.json"),
                     "--no-progress"]) == 0
        rows[arith] = json.loads((tmp_path / f"{arith}.json").read_text())["cores"]
    assert len(rows["shift"]) == len(rows["mul"]) == len(demo_model().neuron_layers())
    for shift, mul in zip(rows["shift"], rows["mul"]):
        assert shift["multipliers"] == 0 and "$mul" not in shift["coarse_cells"]
        assert mul["multipliers"] > 0
        for row in (shift, mul):
            assert row["logic_cells"] > 0 and row["fmax_mhz"] is None and row["updates_per_second"] is None
    assert "neuron_layer" in capsys.readouterr().out
    assert np.all([r["cycles_per_step"] > 1 for r in rows["shift"]])


@pytest.mark.slow
@pytest.mark.rtl
def test_rtl_and_generic_synth_of_a_random_model(model_file, tmp_path):
    out = tmp_path / "rtl"
    assert main(["rtl", str(model_file), "-o", str(out), "--lanes", "2", "--loadable"]) == 0
    assert main(["synth", str(out), "--target", "generic", "--json", str(tmp_path / "s.json"), "--no-progress"]) == 0
    cores = json.loads((tmp_path / "s.json").read_text())["cores"]
    assert len(cores) == len(random_model(seed=5).neuron_layers())
    for row in cores:
        assert row["logic_cells"] > 0 and row["multipliers"] == 0 and row["fmax_mhz"] is None


def test_verify_bad_input_exits_2_with_one_line(model_file, tmp_path, capsys):
    """Refusals that need no simulator: a missing folder, input of the wrong shape, another model's cores."""
    model = random_model(seed=5)
    np.save(tmp_path / "x.npy", np.zeros((4, 2, model.input.features), model.input.dtype))
    assert main(["verify", str(tmp_path / "nowhere"), "--model", str(model_file), "--input",
                 str(tmp_path / "x.npy")]) == 2
    _one_line_error(capsys, "nowhere")
    assert main(["rtl", str(model_file), "-o", str(tmp_path / "rtl")]) == 0
    np.save(tmp_path / "wide.npy", np.zeros((4, 2, model.input.features + 1), np.int8))
    assert main(["verify", str(tmp_path / "rtl"), "--model", str(model_file), "--input",
                 str(tmp_path / "wide.npy")]) == 2
    _one_line_error(capsys, "shape")
    other = tmp_path / "other.ssm"
    save(random_model(seed=6), other)
    np.save(tmp_path / "y.npy", np.zeros((4, 2, load(other).input.features), load(other).input.dtype))
    assert main(["verify", str(tmp_path / "rtl"), "--model", str(other), "--input", str(tmp_path / "y.npy")]) == 2
    _one_line_error(capsys, "not generated from this model")
