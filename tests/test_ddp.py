"""Data-parallel training under ``torchrun``: two CPU ranks (gloo) train what one process trains.

Both runs use the same global batch of 64; the last batch (1437 = 22 * 64 + 29) splits
15 / 14, so the size-weighted loss is exercised. Dropout is off and the temporal
convolution pinned, so the only differences are float summation orders (gradients
summed in two halves, BatchNorm statistics all-reduced in float64): measured max abs
weight difference after 2 epochs 2.4e-7, asserted <= 1e-5. The eval path is the exact
integer model, so the test accuracies are equal.
"""

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from shiftspike.cli import main
from shiftspike.quant import checkpoint

# One worker runs the whole module: its module-scoped runs fixture trains twice (once under torchrun).
pytestmark = pytest.mark.xdist_group("ddp")

TOLERANCE = 1e-5

CONFIG = """
[data]
name = "digits"
[model]
taps = 8
dilation_period = 2
impl = "conv1d"
layers = [
  { type = "dense", features = 16 }, { type = "neuron" },
  { type = "dense", features = 16 }, { type = "neuron" },
  { type = "dense", features = 10 }, { type = "readout" },
]
[train]
epochs = 2
batch_size = %d
lr = 0.003
"""


def torchrun(*args):
    """``torchrun --standalone --nproc_per_node=2 -m shiftspike train ARGS`` -> (exit code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "shiftspike", "train", *map(str, args), "--no-progress"],
                          capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=3600)
    return proc.returncode, proc.stdout, proc.stderr


def weights(run) -> dict[str, torch.Tensor]:
    return checkpoint.load(run)[0]["model"]


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def accuracies(run) -> list[float]:
    return [json.loads(line)["test_accuracy"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Train in-process with one thread, as each torchrun worker does (and fast on a loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(config file, single-process run, 2-rank run with the captured stdout)."""
    root = tmp_path_factory.mktemp("ddp")
    config = root / "tiny.toml"
    config.write_text(CONFIG % 64)
    single, ddp = root / "single", root / "ddp"
    assert main(["train", "--config", str(config), "--out", str(single), "--no-progress"]) == 0
    code, stdout, stderr = torchrun("--config", config, "--out", ddp)
    assert code == 0, stderr
    return config, single, ddp, stdout


def test_two_ranks_train_the_weights_of_one_process(runs):
    _, single, ddp, _ = runs
    assert max_difference(weights(single), weights(ddp)) <= TOLERANCE
    assert accuracies(ddp) == accuracies(single)
    assert json.loads((ddp / "summary.json").read_text())["test_accuracy"] == accuracies(single)[-1]


def test_only_rank_0_writes_and_prints(runs):
    _, _, ddp, stdout = runs
    assert sorted(p.name for p in ddp.iterdir()) == ["checkpoint.pt", "config.json", "metrics.jsonl", "summary.json"]
    assert len(accuracies(ddp)) == 2
    assert stdout.count("test accuracy") == 1


def test_export_reads_the_ddp_run(runs, tmp_path, capsys):
    _, _, ddp, _ = runs
    assert main(["export", str(ddp), "-o", str(tmp_path / "m.ssm")]) == 0
    assert "0 mismatches" in capsys.readouterr().out


def test_two_ranks_resume_a_single_process_checkpoint(runs, tmp_path, monkeypatch):
    config, single, _, _ = runs
    interrupted = tmp_path / "interrupted"
    real_save = checkpoint.save

    def save_then_crash(path, *args):
        real_save(path, *args)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        main(["train", "--config", str(config), "--out", str(interrupted), "--no-progress"])
    monkeypatch.setattr(checkpoint, "save", real_save)
    assert checkpoint.load(interrupted)[0]["epoch"] == 1
    code, _, stderr = torchrun("--config", config, "--out", interrupted, "--resume")
    assert code == 0, stderr
    assert checkpoint.load(interrupted)[0]["epoch"] == 2
    assert max_difference(weights(single), weights(interrupted)) <= TOLERANCE
    assert accuracies(interrupted) == accuracies(single)


def test_a_global_batch_not_divisible_by_the_ranks_is_refused(tmp_path):
    config = tmp_path / "odd.toml"
    config.write_text(CONFIG % 63)
    out = tmp_path / "run"
    code, _, stderr = torchrun("--config", config, "--out", out)
    # A worker exits 2 (a user error, the CLI's contract) and torchrun exits 1 itself. The first worker to exit is
    # the root cause; torchrun may stop a sibling that had not yet exited with SIGTERM (-15).
    workers = re.findall(r"exitcode\s*:\s*(-?\d+)", stderr)
    root_cause = re.search(r"Root Cause.*?exitcode\s*:\s*(-?\d+)", stderr, re.S)
    assert code == 1 and root_cause and root_cause.group(1) == "2", stderr
    assert set(workers) <= {"2", "-15"}, stderr
    assert "train.batch_size 63 is the global batch and must be divisible by the 2 processes" in stderr
    assert not out.exists()
