"""`shiftspike train` and `shiftspike export`: runs, determinism, resume, checkpoints and bad input."""

import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from shiftspike.cli import main
from shiftspike.quant import checkpoint, config, presets
from shiftspike.quant.data import InputInfo
from shiftspike.quant.temporal import autoselect
from shiftspike.quant.network import SpikingNetwork
from shiftspike.sim import load


def cli(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "shiftspike", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)
    return proc.returncode, proc.stdout, proc.stderr


def _train(out, *extra):
    return main(["train", "--preset", "digits", "--width", "0.25", "--epochs", "2", "--out", str(out),
                 "--no-progress", *extra])


def _train_on_40_columns(out, *extra) -> str:
    """Train into ``out`` on a 40-column console; what it printed to stderr."""
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(io.StringIO()) as stderr:
        patch.setenv("COLUMNS", "40")
        assert _train(out, *extra) == 0
    return stderr.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A short run of the digits preset: its folder and what it printed to stderr on a 40-column console."""
    out = tmp_path_factory.mktemp("runs") / "digits"
    return out, _train_on_40_columns(out)


@pytest.fixture(scope="module")
def run_dir(trained):
    return trained[0]


def test_the_default_implementation_is_fixed_and_prints_no_autoselect_line(trained):
    out, stderr = trained
    assert json.loads((out / "config.json").read_text())["model"]["impl"] == "fused"
    assert "autoselect" not in stderr


def test_the_default_training_never_times_the_implementations(tmp_path, monkeypatch):
    """What the default config trains cannot depend on how busy the machine is: nothing is timed."""

    def refuse(*args):
        raise AssertionError("the default config timed an implementation")

    autoselect.reset()
    monkeypatch.setattr(autoselect, "timed_run", refuse)
    assert _train(tmp_path / "fixed", "--epochs", "1") == 0


def test_a_run_reports_only_its_own_autoselect_choices(tmp_path, private_autoselect):
    """A choice made earlier in the same process (another run, or a call of ``impl="auto"``) is not this
    run's: a default run after it prints no autoselect line and records no choice."""
    from shiftspike.quant.temporal import temporal_conv

    temporal_conv(torch.ones(4, 1, 2), torch.ones(2, 2), 1, impl="auto")
    assert autoselect.autoselect_report()["choices"]
    stderr = _train_on_40_columns(tmp_path / "after", "--epochs", "1")
    assert "autoselect" not in stderr
    assert json.loads((tmp_path / "after" / "summary.json").read_text())["autoselect"]["choices"] == {}


def test_train_with_impl_auto_prints_one_autoselect_line(tmp_path):
    out = tmp_path / "auto"
    stderr = _train_on_40_columns(out, "--impl", "auto", "--epochs", "1")
    assert json.loads((out / "config.json").read_text())["model"]["impl"] == "auto"
    line = json.loads((out / "summary.json").read_text())["autoselect"]["summary"]
    assert line.startswith("autoselect in ") and (" for [T=" in line or " shapes: " in line)
    assert [text for text in stderr.splitlines() if "autoselect" in text] == [line]  # whole, not wrapped


def test_train_writes_metrics_checkpoint_and_summary(run_dir):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2]
    assert {"train_loss", "train_accuracy", "test_accuracy", "seconds", "samples_per_s"} <= lines[0].keys()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["test_accuracy"] == lines[-1]["test_accuracy"]
    payload, cfg, info = checkpoint.load(run_dir)
    assert payload["epoch"] == 2 and cfg.model.neuron == "mulfree" and info.timesteps == 8


def test_a_run_interrupted_and_resumed_equals_the_straight_run(run_dir, tmp_path, monkeypatch):
    interrupted = tmp_path / "interrupted"
    real_save = checkpoint.save

    def save_then_crash(path, *args):
        real_save(path, *args)
        if args[3] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        _train(interrupted)
    monkeypatch.setattr(checkpoint, "save", real_save)
    assert checkpoint.load(interrupted)[0]["epoch"] == 1
    assert _train(interrupted, "--resume") == 0
    a = checkpoint.load(run_dir)[0]["model"]
    b = checkpoint.load(interrupted)[0]["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["layers.0.weight"], torch.zeros_like(a["layers.0.weight"]))
    metrics = [json.loads(line) for line in (interrupted / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]


def test_resume_with_another_config_is_refused(run_dir):
    assert main(["train", "--preset", "digits", "--width", "0.5", "--epochs", "2", "--out", str(run_dir),
                 "--no-progress", "--resume"]) == 2


def test_export_writes_the_model_and_a_clean_check(run_dir, tmp_path):
    out = tmp_path / "digits.ssm"
    code, stdout, stderr = cli("export", run_dir, "-o", out)
    assert code == 0, stderr
    assert "0 mismatches" in stdout and "no overflow possible" in stdout
    model = load(out)
    assert [layer.type for layer in model.layers] == ["dense", "neuron", "dense", "neuron", "dense", "readout"]


def test_export_with_narrow_widths_reports_possible_overflow(run_dir, tmp_path):
    assert cli("export", run_dir, "-o", tmp_path / "fit.ssm", "--no-check")[0] == 0
    widths = [layer.acc_width for layer in load(tmp_path / "fit.ssm").layers]
    widths[0] -= 3
    code, stdout, stderr = cli("export", run_dir, "-o", tmp_path / "w.ssm", "--no-check",
                               "--widths", ",".join(map(str, widths)))
    assert code == 0, stderr
    assert "layers [0] may overflow" in stdout
    assert load(tmp_path / "w.ssm").layers[0].acc_width == widths[0]
    code, stdout, stderr = cli("export", run_dir, "-o", tmp_path / "n.ssm", "--widths", "1,2")
    assert code == 2 and "widths" in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "n.ssm").exists()


def test_checkpoints_load_weights_only(run_dir, tmp_path, monkeypatch):
    calls = []
    real = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    checkpoint.load(run_dir)
    assert calls == [True]


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize("case, message", [
    ("missing", "no such checkpoint"),
    ("garbage", "not a readable checkpoint"),
    ("pickle", "not a readable checkpoint"),
    ("foreign", "not a shiftspike checkpoint"),
    ("version", "checkpoint version"),
])
def test_bad_checkpoints_are_one_line_errors(tmp_path, case, message):
    path = tmp_path / "c.pt"
    if case == "garbage":
        path.write_bytes(b"not a zip")
    elif case == "pickle":
        torch.save({"x": _Evil()}, path)
    elif case == "foreign":
        torch.save({"weights": torch.zeros(2)}, path)
    elif case == "version":
        torch.save({"format": checkpoint.FORMAT, "version": 99}, path)
    code, stdout, stderr = cli("export", path, "-o", tmp_path / "m.ssm")
    assert code == 2, stderr
    assert message in stderr and len(stderr.strip().splitlines()) == 1 and "pwned" not in stdout
    assert not (tmp_path / "m.ssm").exists()


@pytest.mark.parametrize("text, message", [
    ("model = [", "not valid TOML"),
    ("[model]\nlayers = [{type = 'dense', features = 4}, {type = 'readout'}]\nbogus = 1", "model.bogus"),
    ("[model]\nlayers = [{type = 'dense', features = 4}]", "at least 2"),
    ("[model]\nlayers = [{type = 'neuron'}, {type = 'dense', features = 10}, {type = 'readout'}]\n"
     "[train]\nepochs = 0", "train.epochs"),
    ("[data]\nname = 'mnist'\n[model]\nlayers = [{type = 'dense', features = 10}, {type = 'readout'}]", "mnist"),
    ("[model]\nlayers = [{type = 'dense', features = 7}, {type = 'readout'}]", "10 classes"),
])
def test_bad_configs_are_one_line_errors_and_write_nothing(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    out = tmp_path / "run"
    code, _, stderr = cli("train", "--config", path, "--out", out, "--no-progress")
    assert code == 2, stderr
    assert message in stderr and len(stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_config_and_existing_run_are_errors(run_dir, tmp_path):
    code, _, stderr = cli("train", "--config", tmp_path / "nope.toml")
    assert code == 2 and "no such config file" in stderr
    assert _train(run_dir) == 2


def test_config_file_round_trip(tmp_path):
    path = tmp_path / "mlp.toml"
    path.write_text("[data]\nname = 'digits'\n[model]\ntaps = 2\nlayers = [\n  {type = 'dense', features = 8},\n"
                    "  {type = 'neuron'},\n  {type = 'dense', features = 10},\n  {type = 'readout'},\n]\n"
                    "[train]\nepochs = 1\nbatch_size = 128\n")
    cfg = config.load(path)
    assert cfg.model.taps == 2 and cfg.train.batch_size == 128 and cfg.model.dilation_schedule() == [1]
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "r"), "--no-progress"]) == 0


def test_float_baseline_trains_but_does_not_export(tmp_path):
    out = tmp_path / "lif"
    assert _train(out, "--neuron", "lif", "--epochs", "1") == 0
    code, _, stderr = cli("export", out, "-o", tmp_path / "m.ssm")
    assert code == 2 and "float baseline" in stderr


PRESET_INPUTS = {
    "digits": InputInfo("int", 6, 2.0 ** -4, 8, 1, 8),
    "digits-pixels": InputInfo("int", 6, 2.0 ** -4, 1, 1, 64),
    "scifar": InputInfo("int", 9, 2.0 ** -8, 3, 32, 32),
    "shd": InputInfo("spike", 1, 1.0, 700, 1, 100),
    "long": InputInfo("spike", 1, 1.0, 8, 1, 256),
}


@pytest.mark.parametrize("name", presets.PRESETS)
def test_every_preset_builds_trains_a_step_and_has_an_integer_model(name):
    cfg = config.validate(presets.preset(name, width=0.125))
    info = PRESET_INPUTS[name]
    torch.manual_seed(0)
    net = SpikingNetwork(cfg.model, info)
    lo, hi = info.value_range
    x = torch.randint(lo, hi + 1, (info.timesteps, 4, info.channels, info.length)).float() * info.scale
    loss = net.logits(x).logsumexp(dim=1).mean()
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    net.eval()
    model = net.integer_plan().model
    assert len(model.neuron_layers()) == sum(layer.type == "neuron" for layer in cfg.model.layers)
    assert [model.layers[i].dilation for i in model.neuron_layers()] == cfg.model.dilation_schedule()
    assert net(x).shape == (info.timesteps, 4, net.classes)


def test_sawtooth_dilation_schedule():
    assert config.validate(presets.preset("scifar")).model.dilation_schedule() == [1, 2, 3, 1, 2, 3, 1]
    assert config.validate(presets.preset("long")).model.dilation_schedule() == [1, 2]


def _epochs(run) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_run_stopped_between_its_metrics_and_its_checkpoint_resumes_without_a_repeated_epoch(tmp_path,
                                                                                                monkeypatch):
    """Epoch 2's metrics line is written, its checkpoint is not; the resume drops the line and trains epoch 2
    again, so the log holds 1, 2 once each (appending gave 1, 2, 2)."""
    run = tmp_path / "stopped"
    real_save = checkpoint.save

    def stop_before_epoch_2s_checkpoint(path, *args):
        if args[3] == 2:
            raise KeyboardInterrupt
        real_save(path, *args)

    monkeypatch.setattr(checkpoint, "save", stop_before_epoch_2s_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        _train(run)
    monkeypatch.setattr(checkpoint, "save", real_save)
    assert _epochs(run) == [1, 2] and checkpoint.load(run)[0]["epoch"] == 1
    assert _train(run, "--resume") == 0
    assert _epochs(run) == [1, 2]
    assert checkpoint.load(run)[0]["epoch"] == 2


def test_a_resume_whose_log_misses_an_epoch_is_refused(run_dir, tmp_path):
    run = tmp_path / "lost"
    run.mkdir()
    for name in ("config.json", "checkpoint.pt"):
        (run / name).write_bytes((run_dir / name).read_bytes())
    (run / "metrics.jsonl").write_text((run_dir / "metrics.jsonl").read_text().splitlines()[1] + "\n")
    code, _, stderr = cli("train", "--preset", "digits", "--width", "0.25", "--epochs", "2", "--out", run,
                          "--no-progress", "--resume")
    assert code == 2 and "does not hold epochs 1..2 once each" in stderr and len(stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("out", ["/proc/shiftspike-run", "/proc/self/status/run"])
def test_an_unwritable_run_directory_is_one_line(out):
    code, _, stderr = cli("train", "--preset", "digits", "--width", "0.25", "--epochs", "1", "--out", out,
                          "--no-progress")
    assert code == 2, stderr
    assert out in stderr and len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


def test_a_network_over_the_parameter_budget_is_refused_before_training(tmp_path):
    path = tmp_path / "huge.toml"
    path.write_text("[model]\nlayers = [{type = 'dense', features = 65536}, {type = 'neuron'},\n"
                    "  {type = 'dense', features = 65536}, {type = 'neuron'}, {type = 'dense', features = 10},\n"
                    "  {type = 'readout'}]\n")
    code, _, stderr = cli("train", "--config", path, "--out", tmp_path / "run", "--no-progress")
    assert code == 2 and "over the limit of 67,108,864" in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_the_test_split_of_a_run_as_integer_inputs(run_dir):
    from shiftspike.quant.data import load_dataset
    from shiftspike.quant.inputs import run_test_split

    x, y = run_test_split(run_dir)
    data = load_dataset("digits", "test")
    assert x.dtype == np.int8 and x.shape == (8, len(data), 8) and y.dtype == np.int64
    assert np.array_equal(x, (data.x.permute(1, 0, 2, 3).flatten(2) * 16).numpy().astype(np.int8))
    assert np.array_equal(y, data.y.numpy())
    x5, y5 = run_test_split(run_dir, samples=5)
    assert np.array_equal(x5, x[:, :5]) and np.array_equal(y5, y[:5])
    with pytest.raises(config.ConfigError, match="config.json: no such file"):
        run_test_split(run_dir / "nothing")
