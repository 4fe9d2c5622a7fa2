"""Hostile configs: mutated TOML and run ``config.json`` text, lax types, huge sizes.

Whatever the text, reading a config gives a ``RunConfig`` or one one-line ``ConfigError``;
a network over the parameter budget is refused before anything is allocated.
"""

import json
import math
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shiftspike.quant import budget, config, presets
from shiftspike.quant.config import ConfigError
from shiftspike.quant.data import InputInfo, input_info
from shiftspike.quant.network import SpikingNetwork

FUZZ = settings(max_examples=60, deadline=None)
VALID_TOML = """[data]
name = "digits"
[model]
taps = 4
dilations = [1, 2]
exp_window = [-8, 2]
surrogate = { name = "atan", alpha = 2.0 }
layers = [
  { type = "conv", channels = 4, kernel = 3 }, { type = "neuron" }, { type = "pool", window = 1 },
  { type = "dense", features = 8 }, { type = "neuron" }, { type = "dropout", p = 0.2 },
  { type = "dense", features = 10 }, { type = "readout" },
]
[train]
epochs = 2
batch_size = 16
lr = 0.001
"""
NOISE = st.sampled_from(['"', "'", "[", "]", "{", "}", "=", ",", "\n", "#", "1" * 50, "-", ".", "e", "true",
                         "inf", "nan", "\\", "\x00", "é", "[" * 200, "{a=" * 100, "999999999999999999999"])


def expect_config_or_error(read, text: str):
    try:
        return read(text)
    except ConfigError as error:
        assert "\n" not in str(error)
        return None


def read_toml(text: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.toml"
        path.write_text(text, encoding="utf-8")
        return config.load(path)


def read_run(text: str):
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / config.RUN_CONFIG).write_text(text, encoding="utf-8")
        return config.read_run_config(folder)


def test_the_valid_texts_load():
    cfg = read_toml(VALID_TOML)
    assert cfg.model.exp_window == (-8, 2) and cfg.train.epochs == 2
    assert read_run(json.dumps(cfg.model_dump(mode="json"))) == cfg


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 6), NOISE), min_size=1, max_size=5))
def test_mutated_toml_is_a_config_or_one_line_error(edits):
    text = VALID_TOML
    for at, cut, noise in edits:
        at %= len(text) + 1
        text = text[:at] + noise + text[at + cut:]
    expect_config_or_error(read_toml, text)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 6), NOISE), min_size=1, max_size=5))
def test_mutated_run_config_json_is_a_config_or_one_line_error(edits):
    text = json.dumps(read_toml(VALID_TOML).model_dump(mode="json"))
    for at, cut, noise in edits:
        at %= len(text) + 1
        text = text[:at] + noise + text[at + cut:]
    expect_config_or_error(read_run, text)


@pytest.mark.parametrize("text, message", [
    ("[" * 5000 + "]" * 5000, "nested deeper"),
    ('{"train": {"epochs": ' + "9" * 5000 + "}}", "digits"),
    ('{"train": {"epochs": NaN}}', "not a number"),
    (b"\xff\xfe".decode("latin-1"), "config"),
    ("", "not valid JSON"),
])
def test_hostile_run_configs_are_one_line_errors(text, message):
    with pytest.raises(ConfigError, match=message) as caught:
        read_run(text)
    assert "\n" not in str(caught.value)


def test_a_missing_run_config_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="config.json: no such file"):
        config.read_run_config(tmp_path)


INT_KEYS = [("train", "epochs"), ("train", "batch_size"), ("train", "seed"), ("model", "taps"),
            ("model", "dilation_period"), ("model", "shift_max"), ("model", "weight_bits"), ("model", "max_spikes")]


@FUZZ
@given(key=st.sampled_from(INT_KEYS), value=st.sampled_from(["1", "2", True, False, 1.0, 2.0, [1], {"a": 1}, None]))
def test_integer_keys_take_integers_only(key, value):
    raw = presets.preset("digits")
    raw.setdefault(key[0], {})[key[1]] = value
    with pytest.raises(ConfigError, match=".".join(key)):
        config.validate(raw)


@pytest.mark.parametrize("key, value", [(("model", "pow2_weights"), 1), (("model", "neuron"), 1),
                                        (("train", "lr"), "0.1"), (("train", "lr"), True),
                                        (("model", "exp_window"), ["-8", 2]), (("model", "layers", 0, "features"),
                                                                               "128")])
def test_other_lax_values_are_refused(key, value):
    raw = presets.preset("digits")
    target = raw
    for part in key[:-1]:
        target = target[part]
    target[key[-1]] = value
    with pytest.raises(ConfigError):
        config.validate(raw)


def test_floats_still_take_integers():
    raw = presets.preset("digits")
    raw["train"]["lr"] = 1
    assert config.validate(raw).train.lr == 1.0


LAYER = st.one_of(
    st.builds(lambda f: {"type": "dense", "features": f}, st.integers(1, 1 << 16)),
    st.builds(lambda c, k: {"type": "conv", "channels": c, "kernel": k}, st.integers(1, 1 << 12), st.integers(1, 64)),
    st.just({"type": "neuron"}),
    st.builds(lambda w: {"type": "pool", "window": w}, st.integers(1, 4)),
)


@FUZZ
@given(layers=st.lists(LAYER, min_size=1, max_size=8), taps=st.integers(1, 1024),
       neuron=st.sampled_from(config.NEURONS), timesteps=st.integers(1, 1 << 14), length=st.integers(1, 64))
def test_the_budget_refuses_huge_networks_without_allocating_them(layers, taps, neuron, timesteps, length):
    """Any architecture inside the keys' limits is counted on the meta device: within the budget, the real
    network has exactly the counted parameters; over it, a one-line ConfigError."""
    raw = {"model": {"neuron": neuron, "taps": taps, "layers": [*layers, {"type": "readout"}]}}
    cfg = expect_config_or_error(config.validate, raw)
    if cfg is None:
        return
    info = InputInfo("spike", 1, 1.0, channels=3, length=length, timesteps=timesteps)
    try:
        net = budget.check_budget(cfg.model, info)
    except ConfigError as error:
        assert "\n" not in str(error)
        return
    count = sum(math.prod(t.shape) for t in net.state_dict().values())
    assert count <= budget.MAX_PARAMETERS
    if count <= 1 << 16:
        real = SpikingNetwork(cfg.model, info).state_dict()
        assert {k: (v.shape, v.dtype) for k, v in real.items()} == \
            {k: (v.shape, v.dtype) for k, v in net.state_dict().items()}


@pytest.mark.parametrize("raw_model, info", [
    ({"layers": [{"type": "dense", "features": 1 << 16}, {"type": "neuron"}, {"type": "dense", "features": 1 << 16},
                 {"type": "neuron"}, {"type": "dense", "features": 10}, {"type": "readout"}]}, input_info("digits")),
    ({"neuron": "psn", "layers": [{"type": "dense", "features": 10}, {"type": "neuron"}, {"type": "readout"}]},
     input_info("long", timesteps=1 << 14)),
    ({"layers": [{"type": "conv", "channels": 4096, "kernel": 64}, {"type": "neuron"},
                 {"type": "conv", "channels": 4096, "kernel": 64}, {"type": "readout"}]}, input_info("scifar")),
])
def test_networks_over_the_budget_are_refused(raw_model, info):
    cfg = config.validate({"model": raw_model})
    with pytest.raises(ConfigError, match="over the limit of 67,108,864"):
        budget.check_budget(cfg.model, info)


def test_every_preset_fits_the_budget():
    for name in presets.PRESETS:
        cfg = config.validate(presets.preset(name))
        net = budget.check_budget(cfg.model, input_info(cfg.data.name, **cfg.data.params))
        assert all(t.device == torch.device("meta") for t in net.state_dict().values())
