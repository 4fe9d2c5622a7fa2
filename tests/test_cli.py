"""The command line: each verb works, and bad input gives one line and exit code 2, leaving nothing behind."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shiftspike.cli import build_parser, main
from shiftspike.sim import load, random_input, random_model, run, save
from shiftspike.sim.fileformat import to_bytes


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "m.ssm"
    save(random_model(3), path)
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
    """A model written by ``random`` is reported on: every layer in the JSON, the table on stdout."""
    code, out, err = cli("random", tmp_path / "r.ssm", "--seed", "9")
    assert code == 0, err
    model = load(tmp_path / "r.ssm")
    assert (tmp_path / "r.ssm").read_bytes() == to_bytes(random_model(seed=9))
    code, out, err = cli("report", tmp_path / "r.ssm", "--json", tmp_path / "r.json")
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert [entry["type"] for entry in report["layers"]] == [layer.type for layer in model.layers]
    assert report["run"]["timesteps"] == model.timesteps and report["run"]["batch"] == 16
    totals = report["totals"]["energy_pj_per_sample"]
    assert 0 < totals["mul_free"] < totals["psn"]
    assert "whole network" in out and f"{totals['psn']:,.0f}" in out


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


def leftovers(folder):
    """Hidden temporaries of the atomic writers left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_report_with_one_bad_output_writes_neither(model_file, tmp_path):
    """``--json ok --plot bad``: the plot's folder is missing, so the JSON is not written either."""
    out = tmp_path / "r.json"
    one_line_error(*cli("report", model_file, "--json", out, "--plot", tmp_path / "none" / "e.png"), "none")
    assert not out.exists() and not leftovers(tmp_path)
    (tmp_path / "d").mkdir()
    one_line_error(*cli("report", model_file, "--plot", tmp_path / "e.png", "--json", tmp_path / "d"), "directory")
    assert not (tmp_path / "e.png").exists() and not leftovers(tmp_path)


@pytest.mark.parametrize("target", ["input", "model", "input-link", "membranes"])
def test_sim_refuses_to_overwrite_its_own_input_or_model(model_file, tmp_path, target):
    model = load(model_file)
    x = tmp_path / "x.npy"
    np.save(x, random_input(model, batch=2))
    before = {p: p.read_bytes() for p in (x, model_file)}
    link = tmp_path / "link.npy"
    os.link(x, link)
    out = {"input": x, "model": model_file, "input-link": link, "membranes": tmp_path / "y.npy"}[target]
    extra = ["--membranes", tmp_path / "y.npy"] if target == "membranes" else []
    one_line_error(*cli("sim", model_file, "--input", x, "--out", out if target != "membranes" else tmp_path / "y.npy",
                        *extra), "same file")
    assert {p: p.read_bytes() for p in before} == before and not (tmp_path / "y.npy").exists()


def _slow_sim_input(model_file, tmp_path):
    """An input that keeps ``sim`` busy for seconds (random model 3, many samples)."""
    model = load(model_file)
    x = tmp_path / "x.npy"
    np.save(x, random_input(model, batch=20_000, timesteps=model.timesteps))
    return x


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_sim_leaves_no_temporaries(model_file, tmp_path, sig):
    """SIGTERM unwinds and removes the staged temporaries; a SIGKILLed writer's temporaries are removed by the
    next writer of the same file."""
    x = _slow_sim_input(model_file, tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "y.npy"
    proc = subprocess.Popen([sys.executable, "-m", "shiftspike", "sim", str(model_file), "--input", str(x),
                             "--out", str(out), "--membranes", str(out_dir / "m.npz")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while not leftovers(out_dir) and proc.poll() is None:  # the temporaries are staged before the work
        pass
    proc.send_signal(sig)
    proc.communicate()
    assert proc.returncode in ((128 + signal.SIGTERM,) if sig == signal.SIGTERM else (-signal.SIGKILL,))
    assert not out.exists()
    if sig == signal.SIGTERM:
        assert not leftovers(out_dir)
    else:
        assert leftovers(out_dir)
        small = tmp_path / "small.npy"
        np.save(small, random_input(load(model_file), batch=1))
        assert main(["sim", str(model_file), "--input", str(small), "--out", str(out),
                     "--membranes", str(out_dir / "m.npz")]) == 0
        assert not leftovers(out_dir)


def test_unwritable_destination_is_one_line(model_file, tmp_path):
    """A pseudo-filesystem (procfs) refuses new files even to root: one line, not an OSError traceback."""
    one_line_error(*cli("random", "/proc/m.ssm"), "/proc/m.ssm")
    one_line_error(*cli("report", model_file, "--json", "/proc/r.json"), "/proc/r.json")


def _npy(header: bytes, body: bytes = b"", version: bytes = b"\x01\x00") -> bytes:
    size = len(header).to_bytes(2 if version == b"\x01\x00" else 4, "little")
    return b"\x93NUMPY" + version + size + header + body


NPY_CASES = {
    "empty": b"",
    "magic only": b"\x93NUMPY",
    "terabytes": _npy(b"{'descr': '<i1', 'fortran_order': False, 'shape': (1000000, 1000000, 1000), }\n"),
    "long header": _npy(b"{'descr': '<i1', 'fortran_order': False, 'shape': (" + b"1, " * 40000 + b"), }\n",
                        version=b"\x02\x00"),
    "object dtype": _npy(b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n", b"\x00" * 8),
    "not a dict": _npy(b"[1, 2, 3]\n"),
    "negative shape": _npy(b"{'descr': '<i1', 'fortran_order': False, 'shape': (-1, 2), }\n"),
}


@pytest.mark.parametrize("name", NPY_CASES)
def test_bad_npy_input_is_one_line(model_file, tmp_path, name, capsys):
    bad = tmp_path / "x.npy"
    bad.write_bytes(NPY_CASES[name])
    for argv in (["sim", str(model_file), "--input", str(bad), "--out", str(tmp_path / "y.npy")],
                 ["report", str(model_file), "--input", str(bad)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "x.npy" in err, err
    assert not (tmp_path / "y.npy").exists() and leftovers(tmp_path) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.one_of(
    st.binary(max_size=300),
    st.builds(lambda descr, shape, order: f"{{'descr': {descr!r}, 'fortran_order': {order}, 'shape': {shape}, }}\n",
              st.sampled_from(["<i1", "<i8", "|b1", "<f4", "|O", "<U3", "|V0", "x"]),
              st.lists(st.integers(-2, 2**62), max_size=4).map(tuple), st.sampled_from(["True", "False", "1"]))
    .map(str.encode)), body=st.binary(max_size=64), v2=st.booleans())
def test_fuzzed_npy_input_never_a_traceback(model_file, tmp_path, capsys, header, body, v2):
    """Any header and body: ``sim`` runs (exit 0) or refuses with one line (exit 2); never a traceback."""
    bad = tmp_path / "x.npy"
    bad.write_bytes(_npy(header, body, b"\x02\x00" if v2 else b"\x01\x00"))
    code = main(["sim", str(model_file), "--input", str(bad), "--out", str(tmp_path / "y.npy")])
    err = capsys.readouterr().err
    assert code in (0, 2) and (code == 0 or len(err.strip().splitlines()) == 1), err


ABSURD = ["inf", "-inf", "nan", "1e999", "0", "-1", "1e30", "x", "65"]


@pytest.mark.parametrize("value", ABSURD)
def test_width_must_be_finite_and_sane(value, capsys):
    """Parsing only: a refused value never reaches the verb (which would start training)."""
    for verb in ("train", "flow", "init"):
        extra = ["--preset", "digits", "-o", "m.ssm"] if verb == "init" else []
        with pytest.raises(SystemExit) as exit_:
            build_parser().parse_args([verb, "--width", value, *extra])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "--width" in err and "Traceback" not in err, err


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from([("flow", "--samples"), ("flow", "--lanes"), ("flow", "--epochs"), ("flow", "--seed"),
                               ("train", "--epochs"), ("train", "--seed"), ("random", "--seed"),
                               ("inputs", "--samples"), ("rtl", "--lanes"), ("rtl", "--layer"),
                               ("verify", "--samples")]),
       value=st.one_of(st.integers(min_value=2**32), st.integers(max_value=-1),
                       st.integers(min_value=10**25).map(lambda v: str(v) * 3), st.floats().map(repr)))
def test_absurd_integer_arguments_are_one_line(option, value, capsys):
    """Parsing only, as above: huge, negative, over-long and float values of every integer option."""
    verb, flag = option
    positional = {"random": ["m.ssm"], "inputs": ["run", "-o", "x.npy"], "rtl": ["m.ssm", "-o", "o"],
                  "verify": ["rtl", "--model", "m.ssm", "--input", "x.npy"]}.get(verb, [])
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([verb, *positional, flag, str(value)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and flag in err, err


def test_init_then_report(tmp_path):
    """``init`` writes a preset's untrained integer model (no data, no training) that ``report`` prices."""
    code, out, err = cli("init", "--preset", "scifar", "--width", "0.0625", "--seed", "3", "-o", tmp_path / "m.ssm")
    assert code == 0, err
    model = load(tmp_path / "m.ssm")
    assert model.timesteps == 32 and len(model.neuron_layers()) == 7
    code, out, err = cli("report", tmp_path / "m.ssm", "--json", tmp_path / "r.json")
    assert code == 0, err
    assert json.loads((tmp_path / "r.json").read_text())["totals"]["energy_pj_per_sample"]["mul_free"] > 0


def test_flow_takes_the_data_path(tmp_path):
    """``flow --preset shd`` needs the dataset's location; a wrong one is one line naming it."""
    code, out, err = cli("flow", "--preset", "shd", "--width", "0.125", "--data-path", tmp_path / "nowhere",
                         "--out", tmp_path / "run", "--no-progress")
    one_line_error(code, out, err, "step train failed", "nowhere")


def test_train_options_are_refused_after_the_train_step(tmp_path):
    code, out, err = cli("flow", "--from", "report", "--epochs", "3", "--out", tmp_path / "run")
    one_line_error(code, out, err, "--epochs", "only the train step")
    code, out, err = cli("flow", "--from", "verify", "--to", "rtl", "--out", tmp_path / "run")
    one_line_error(code, out, err, "step verify comes after step rtl")
