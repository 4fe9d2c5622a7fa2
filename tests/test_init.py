"""`quant.init.preset_model`: a random but valid integer model of every preset, with no data and no training."""

import numpy as np
import pytest
import torch

from shiftspike.quant import config, presets
from shiftspike.quant.config import ConfigError
from shiftspike.quant.init import preset_model
from shiftspike.sim import analyze, fileformat, random_input, run
from shiftspike.sim.energy import load_table
from shiftspike.sim.fixed import signed_range
from shiftspike.sim.report import build_report

WIDTH = 0.25


@pytest.fixture(scope="module", params=presets.PRESETS)
def preset_and_model(request):
    return request.param, preset_model(request.param, WIDTH, seed=3)


def test_the_model_is_the_presets_architecture(preset_and_model):
    name, model = preset_and_model
    cfg = config.validate(presets.preset(name, WIDTH))
    kinds = {"dense": "dense", "conv": "conv1d", "pool": "sumpool", "neuron": "neuron", "readout": "readout"}
    assert [layer.type for layer in model.layers] == [kinds[layer.type] for layer in cfg.model.layers
                                                      if layer.type != "dropout"]
    neurons = [model.layers[i] for i in model.neuron_layers()]
    assert [layer.dilation for layer in neurons] == cfg.model.dilation_schedule()
    for layer in neurons:
        assert layer.sign.shape[1] == cfg.model.taps
        assert set(np.unique(layer.sign)) <= {-1, 0, 1} and (layer.sign != 0).any()
        assert 0 <= layer.shift.min() and layer.shift.max() <= cfg.model.shift_max
    for layer in model.layers:
        if layer.type in ("dense", "conv1d"):
            lo, hi = signed_range(cfg.model.weight_bits)
            assert lo <= layer.weight.min() and layer.weight.max() <= hi and layer.weight.any()


def test_the_widths_are_the_bound_analysis_and_nothing_can_overflow(preset_and_model):
    _, model = preset_and_model
    bounds = analyze(model)
    assert [layer.acc_width for layer in model.layers] == [b.required_width for b in bounds]
    assert not any(b.may_overflow for b in bounds)


def test_the_model_round_trips_runs_and_reports(preset_and_model):
    _, model = preset_and_model
    data = fileformat.to_bytes(model)
    again = fileformat.from_bytes(data)
    assert fileformat.to_bytes(again) == data
    x = random_input(again, batch=2)
    trace = run(again, x)
    assert trace.output.shape == (model.timesteps, 2, model.layers[-2].weight.shape[0])
    report = build_report(again, x, load_table("literature"), "random")
    energy = report["totals"]["energy_pj_per_sample"]
    assert len(report["layers"]) == len(model.layers) and all(np.isfinite(v) and v > 0 for v in energy.values())


@pytest.mark.parametrize("name", presets.PRESETS)
def test_the_same_seed_gives_the_same_bytes_and_another_seed_others(name):
    state = torch.get_rng_state()
    one = fileformat.to_bytes(preset_model(name, 0.125, seed=7))
    assert torch.equal(torch.get_rng_state(), state)  # the caller's generator is left alone
    assert fileformat.to_bytes(preset_model(name, 0.125, seed=7)) == one
    assert fileformat.to_bytes(preset_model(name, 0.125, seed=8)) != one


def test_taps_and_dataset_parameters_can_be_changed():
    model = preset_model("shd", 0.125, neuron_taps=4, data_params={"timesteps": 20})
    assert model.timesteps == 20 and all(model.layers[i].sign.shape[1] == 4 for i in model.neuron_layers())


@pytest.mark.parametrize("kwargs, message", [
    (dict(preset="mnist"), "unknown preset"),
    (dict(preset="digits", width=float("inf")), "preset digits"),
    (dict(preset="digits", width=0.0), "width"),
    (dict(preset="digits", seed=-1), "seed"),
    (dict(preset="digits", neuron_taps=0), "taps"),
    (dict(preset="digits", neuron_taps="8"), "taps"),
    (dict(preset="scifar", width=20.0), "over the limit"),
])
def test_bad_arguments_are_one_line_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message) as caught:
        preset_model(**kwargs)
    assert "\n" not in str(caught.value)
