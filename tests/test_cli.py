"""The command line: each verb works, and bad input gives one line and exit code 2."""

import json
import subprocess
import sys

import numpy as np
import pytest

from shiftspike.cli import main
from shiftspike.sim import load, random_input, random_model, run


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "m.ssm"
    random_model(3).save(path)
    return path


def cli(*args):
    """Run the real console entry point in a subprocess; return (code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "shiftspike", *map(str, args)], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def test_report_writes_json_and_table(model_file, tmp_path):
    out = tmp_path / "r.json"
    assert main(["report", str(model_file), "--json", str(out), "--energy", "literature"]) == 0
    report = json.loads(out.read_text())
    assert report["schema"] == "shiftspike.report/1"
    assert report["energy_table"]["name"] == "literature"
    assert report["run"]["batch"] == 16
    neuron = next(layer for layer in report["layers"] if layer["type"] == "neuron")
    assert set(neuron["compare_pj_per_sample"]) == {"mul_free", "mul_taps", "psn"}
    assert report["totals"]["energy_pj_per_sample"]["psn"] > report["totals"]["energy_pj_per_sample"]["mul_free"]


def test_report_plot(model_file, tmp_path):
    png = tmp_path / "e.png"
    assert main(["report", str(model_file), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_report_is_deterministic(model_file, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    main(["report", str(model_file), "--json", str(a)])
    main(["report", str(model_file), "--json", str(b)])
    assert a.read_bytes() == b.read_bytes()


def test_sim_matches_library(model_file, tmp_path):
    model = load(model_file)
    x = random_input(model, batch=3, rate=0.4)
    np.save(tmp_path / "x.npy", x)
    for extra in ([], ["--step"]):
        out = tmp_path / "y.npy"
        assert main(["sim", str(model_file), "--input", str(tmp_path / "x.npy"), "--out", str(out),
                     "--membranes", str(tmp_path / "m.npz"), *extra]) == 0
        assert np.array_equal(np.load(out), run(model, x).output)
        with np.load(tmp_path / "m.npz") as mem:
            i = model.neuron_layers()[0]
            assert np.array_equal(mem[f"layer{i}_membrane"], run(model, x, record_membranes=True).membranes[i])


def one_line_error(code, out, err, *fragments):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_missing_model_file(tmp_path):
    one_line_error(*cli("report", tmp_path / "absent.ssm"), "no such file")


def test_malformed_model_file(tmp_path):
    bad = tmp_path / "bad.ssm"
    bad.write_bytes(b"\x05\x00")
    one_line_error(*cli("report", bad), "truncated")


def test_wrong_input_shape(model_file, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 2, 999), np.int8))
    out = tmp_path / "y.npy"
    one_line_error(*cli("sim", model_file, "--input", tmp_path / "x.npy", "--out", out), "shape")
    assert not out.exists() and not list(tmp_path.glob(".y.npy*"))


def test_input_out_of_declared_range(model_file, tmp_path):
    model = load(model_file)
    x = np.full((2, 1, model.input.features), 100, np.int16)
    np.save(tmp_path / "x.npy", x)
    one_line_error(*cli("sim", model_file, "--input", tmp_path / "x.npy", "--out", tmp_path / "y.npy"), "range")


def test_pickled_input_is_refused(model_file, tmp_path):
    np.save(tmp_path / "x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    one_line_error(*cli("sim", model_file, "--input", tmp_path / "x.npy", "--out", tmp_path / "y.npy"), "x.npy")


def test_bad_energy_table(model_file):
    one_line_error(*cli("report", model_file, "--energy", "nope"), "neither a preset")


def test_output_directory_missing(model_file, tmp_path):
    one_line_error(*cli("random", tmp_path / "no" / "dir" / "m.ssm"), "does not exist")


def test_random_then_report(tmp_path):
    code, out, err = cli("random", tmp_path / "r.ssm", "--seed", "9")
    assert code == 0, err
    assert load(tmp_path / "r.ssm") is not None


def test_output_path_is_a_directory(model_file, tmp_path):
    model = load(model_file)
    np.save(tmp_path / "x.npy", random_input(model, batch=1))
    (tmp_path / "d").mkdir()
    one_line_error(*cli("sim", model_file, "--input", tmp_path / "x.npy", "--out", tmp_path / "d"), "is a directory")
    one_line_error(*cli("report", model_file, "--json", tmp_path / "d"), "is a directory")


def test_flow_out_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    for verb in ("flow", "demo"):
        one_line_error(*cli(verb, "--out", tmp_path / "f"), "not a directory")


def test_negative_seed(tmp_path):
    code, _, err = cli("random", tmp_path / "r.ssm", "--seed", "-1")
    assert code == 2 and "must be >= 0" in err and "Traceback" not in err


def test_float_and_two_dimensional_inputs(model_file, tmp_path):
    model = load(model_file)
    np.save(tmp_path / "f.npy", np.zeros((2, 1, model.input.features), np.float32))
    one_line_error(*cli("sim", model_file, "--input", tmp_path / "f.npy", "--out", tmp_path / "y.npy"), "integer")
    np.save(tmp_path / "2d.npy", np.zeros((2, model.input.features), np.int8))
    one_line_error(*cli("sim", model_file, "--input", tmp_path / "2d.npy", "--out", tmp_path / "y.npy"), "shape")
