"""`shiftspike flow`: the whole job at a tiny size, its summary's facts, a slice of the steps (``--from``,
``--to``) on an existing run, stale inputs refused, each step's verb alone on the flow's files, and a failing
step as one line with exit code 2 that leaves no output behind.

The tiny network (one neuron layer of 8 neurons, 1 epoch) keeps the test near a minute on 2 cores:
synthesis uses the ``generic`` target (Yosys only; the iCE40 place and route takes several times
longer) and each core runs on Icarus and on Verilator, as in the real flow.
"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

# One worker runs the whole module: its module-scoped flow fixture is the costliest setup of the suite.
pytestmark = [pytest.mark.slow, pytest.mark.rtl, pytest.mark.xdist_group("flow")]

TINY = """\
[data]
name = "digits"

[model]
taps = 4
layers = [{ type = "dense", features = 8 }, { type = "neuron" }, { type = "dense", features = 10 },
          { type = "readout" }]

[train]
epochs = 1
batch_size = 64
"""


def cli(*args):
    """Run the real console entry point in a subprocess; return (code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "shiftspike", *map(str, args)], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def one_line_error(code, err, *fragments):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("flow")
    config = root / "tiny.toml"
    config.write_text(TINY)
    run = root / "run"
    code, out, err = cli("flow", "--config", config, "--out", run, "--lanes", "4", "--samples", "3",
                         "--target", "generic", "--network-samples", "20", "--network-comparison", "--no-progress")
    assert code == 0, err[-3000:]
    return config, run, out


def test_summary_states_the_facts(flow_run):
    _, run, out = flow_run
    facts = json.loads((run / "summary.json").read_text())
    assert facts["export"]["mismatches"] == 0 and facts["export"]["samples"] == 360
    assert facts["export"]["integer_accuracy"] == facts["export"]["qat_accuracy"]
    assert facts["report"]["ratio_to_mul_free"]["psn"] > 1
    assert [row["multipliers"] for row in facts["synth"]["shift"]] == [0]
    assert all(row["logic_cells"] > 0 for arith in ("shift", "mul") for row in facts["synth"][arith])
    verdicts = facts["verify"]["verdicts"]
    assert [(v["layer"], v["simulator"]) for v in verdicts] == [(1, "icarus"), (1, "verilator")]
    for v in verdicts:
        assert v["passed"] and v["mismatches"] == 0 and v["first_mismatch"] is None
        assert (v["samples"], v["steps"]) == (3, 8) and v["cycles"] == v["expected_cycles"] == 8 * 2 - 1 + 2
    network = facts["verify"]["network"]
    assert [(v["run"], v["simulator"]) for v in network] == [
        ("test set, back to back", "verilator"), ("stalls and resets, every layer", "icarus")]
    assert [v["samples"] for v in network] == [20, 3] and network[1]["layers_compared"]
    for v in network:
        assert v["passed"] and v["class_exact"] == v["samples"] and v["mismatching_classes"] == 0
        assert v["cycles"] == v["expected_cycles"] and len(v["cycles"]) == v["samples"]
    rows = facts["synth"]["network"]
    assert rows["target"] == "ecp5-25f-ooc" and rows["shift"]["multipliers"] == 0 and rows["mul"]["multipliers"] > 0
    for arith in ("shift", "mul"):
        assert rows[arith]["logic_cells"] > 0 and rows[arith]["fmax_mhz"] > 0 and rows[arith]["samples"] == 360
        assert rows[arith]["latency_us"] == pytest.approx(rows[arith]["cycles_per_sample"] / rows[arith]["fmax_mhz"])
    summary = (run / "summary.md").read_text()
    assert "**0 mismatches**" in summary and "2 of 2 passed" in summary and "FAILED" not in summary
    assert "## The whole network in hardware (ecp5-25f-ooc)" in summary
    for path in [line.split("`")[1] for line in summary.splitlines() if line.startswith("| `")]:
        assert (run / path).exists(), path
    for name in ("report/energy-horowitz45.png", "report/report.md", "rtl/shift/neuron_layer1_shift_p4.v",
                 "rtl/mul/neuron_layer1_mul_p4.v", "rtl/shift/neuron_layer1_shift_p4.ssm", "synth.json"):
        assert (run / name).stat().st_size > 0, name
    assert "step 7/7: summary" in out and "| logic cells |" in summary and "| LUTs |" not in summary
    for step in ("train", "export", "report", "rtl", "synth", "verify", "summary"):
        record = json.loads((run / "steps" / f"{step}.json").read_text())
        assert record["step"] == step and all(len(digest) == 64 for digest in record["writes"].values())


def test_each_step_has_a_verb(flow_run, tmp_path):
    """``inputs`` and ``verify`` rerun their steps alone on the flow's files and agree with it."""
    _, run, _ = flow_run
    code, _, err = cli("inputs", run / "train", "-o", tmp_path / "x.npy", "--samples", "3")
    assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "x.npy"), np.load(run / "test_inputs.npy")[:, :3])
    code, out, err = cli("verify", run / "rtl" / "shift", "--model", run / "model.ssm", "--input",
                         tmp_path / "x.npy", "--simulator", "icarus", "--workdir", tmp_path / "work",
                         "--json", tmp_path / "v.json", "--no-progress")
    assert code == 0, err
    assert "passed" in out
    [verdict] = json.loads((tmp_path / "v.json").read_text())["verdicts"]
    assert verdict["passed"] and verdict["samples"] == 3


def test_a_failing_step_stops_with_one_line(flow_run, tmp_path):
    """A corrupted checkpoint stops the flow at its first step; a Verilog file changed after generation
    stops ``verify``; both name the file to look at and exit 2."""
    config, run, _ = flow_run
    broken = tmp_path / "run"
    shutil.copytree(run / "train", broken / "train")
    (broken / "train" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    code, _, err = cli("flow", "--config", config, "--out", broken, "--no-progress")
    line = one_line_error(code, err, "shiftspike flow: error: step train failed", str(broken / "train"))
    assert "checkpoint.pt" in line
    assert not (broken / "model.ssm").exists() and not (broken / "steps" / "train.json").exists()

    rtl = tmp_path / "rtl"
    shutil.copytree(run / "rtl" / "shift", rtl)
    verilog = rtl / "neuron_layer1_shift_p4.v"
    verilog.write_text(verilog.read_text().replace("endmodule", "endmodule\n// edited", 1))
    code, _, err = cli("verify", rtl, "--model", run / "model.ssm", "--input", run / "test_inputs.npy",
                       "--simulator", "icarus", "--samples", "2", "--no-progress")
    one_line_error(code, err, "shiftspike verify: error:", str(verilog), "sha256")


def test_same_config_same_files(flow_run, tmp_path):
    """The flow is deterministic: a second run of the same config, up to synthesis, writes the same bytes
    (the verify step's facts are checked by the summary test below)."""
    config, run, _ = flow_run
    code, _, err = cli("flow", "--config", config, "--out", tmp_path / "again", "--to", "synth", "--lanes", "4",
                       "--target", "generic", "--network-comparison", "--no-progress")
    assert code == 0, err[-3000:]
    for name in ("model.ssm", "export.json", "test_inputs.npy", "report/report-horowitz45.json", "report/report.md",
                 "rtl/shift/neuron_layer1_shift_p4.v", "rtl/mul/neuron_layer1_mul_p4.json", "synth.json",
                 "rtl/network/shift/network_shift.v", "rtl/network/mul/network_mul.json"):
        assert (run / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


def copy_run(run, dest, *names):
    """A copy of the run folder ``run`` holding only ``names`` (files or folders) and their steps' records."""
    from shiftspike.build import producer

    (dest / "steps").mkdir(parents=True)
    for name in names:
        source = run / name.rstrip("/")
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, dest / name.rstrip("/"))
        step = producer(name).name
        shutil.copy(run / "steps" / f"{step}.json", dest / "steps" / f"{step}.json")
    return dest


TRAINED = ("train/checkpoint.pt", "train/config.json", "train/summary.json")


def test_from_export_to_synth_on_an_existing_run(flow_run, tmp_path):
    """The steps export to synth rerun on a run folder that holds only the training run; they write what the
    whole flow wrote, so the whole flow's verify record holds for them, and ``--from summary`` then writes
    the same summary."""
    _, run, _ = flow_run
    again = copy_run(run, tmp_path / "again", *TRAINED)
    code, out, err = cli("flow", "--from", "export", "--to", "synth", "--out", again, "--lanes", "4",
                         "--target", "generic", "--network-comparison", "--no-progress")
    assert code == 0, err[-3000:]
    assert "step 2/7: export" in out and "step 5/7: synth" in out and "step 1/7" not in out
    assert not (again / "summary.md").exists()
    for name in ("model.ssm", "export.json", "test_inputs.npy", "report/report.md", "synth.json",
                 "rtl/shift/neuron_layer1_shift_p4.v"):
        assert (again / name).read_bytes() == (run / name).read_bytes(), name
    shutil.copytree(run / "verify", again / "verify")
    shutil.copy(run / "steps" / "verify.json", again / "steps" / "verify.json")
    code, _, err = cli("flow", "--from", "summary", "--out", again, "--no-progress")
    assert code == 0, err
    assert (again / "summary.json").read_bytes() == (run / "summary.json").read_bytes()


def test_stale_inputs_are_refused(flow_run, tmp_path):
    """A later step refuses an input changed by hand, an input built from another model, and a missing step."""
    config, run, _ = flow_run
    stale = copy_run(run, tmp_path / "stale", *TRAINED, "model.ssm", "test_inputs.npy", "rtl/")
    model = stale / "model.ssm"
    original = model.read_bytes()
    model.write_bytes(original + b" ")
    code, _, err = cli("flow", "--from", "verify", "--to", "verify", "--out", stale, "--no-progress")
    one_line_error(code, err, "model.ssm changed since step export wrote it; rerun --from export")

    # as if export had rerun on another checkpoint: model.ssm is the export step's, rtl/ is not built from it
    from shiftspike.build import content_hash
    from shiftspike.sim import random_model, save

    save(random_model(seed=1), model)
    record = json.loads((stale / "steps" / "export.json").read_text())
    record["writes"]["model.ssm"] = content_hash(model)
    (stale / "steps" / "export.json").write_text(json.dumps(record))
    for first in ("synth", "verify"):
        code, _, err = cli("flow", "--from", first, "--out", stale, "--no-progress")
        one_line_error(code, err, "rtl/ was built from a different model.ssm; rerun --from rtl")

    (stale / "steps" / "rtl.json").unlink()
    code, _, err = cli("flow", "--from", "synth", "--out", stale, "--no-progress")
    one_line_error(code, err, "step synth needs rtl/", "rerun --from rtl")
    code, _, err = cli("flow", "--from", "rtl", "--config", config, "--out", stale, "--no-progress")
    one_line_error(code, err, "--config", "only the train step")


def test_a_failed_export_leaves_no_model(flow_run, tmp_path):
    """Export fails after the check (its labels cannot be written): no model.ssm, neither the earlier one
    nor a new one, no other output of the step, no record."""
    _, run, _ = flow_run
    failed = copy_run(run, tmp_path / "failed", *TRAINED, "model.ssm", "export.json")
    (failed / "test_labels.npy").mkdir()
    code, _, err = cli("flow", "--from", "export", "--to", "export", "--out", failed, "--no-progress")
    one_line_error(code, err, "step export failed", "test_labels.npy", "is a directory")
    for name in ("model.ssm", "export.json", "test_inputs.npy", "steps/export.json"):
        assert not (failed / name).exists(), name
    assert not [p.name for p in failed.iterdir() if p.name.startswith(".")]
    code, _, err = cli("flow", "--from", "report", "--out", failed, "--no-progress")
    one_line_error(code, err, "rerun --from export")


def test_inputs_with_one_bad_output_writes_neither(flow_run, tmp_path):
    _, run, _ = flow_run
    code, _, err = cli("inputs", run / "train", "-o", tmp_path / "x.npy", "--labels", tmp_path / "no" / "y.npy")
    one_line_error(code, err, "shiftspike inputs: error:", "no")
    assert not (tmp_path / "x.npy").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
