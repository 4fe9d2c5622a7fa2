"""The bar of the QAT stage: the eval-mode QAT network equals its exported integer model, exactly.

Every value of every layer (spikes, accumulators, pooled sums, readout sums on
the integer grid) of the Numba simulator run of the exported model must equal
the QAT network in eval mode: 0 mismatches, on the whole digits test set and
on random architectures. Each comparison is shown able to fail.
"""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from shiftspike.quant import config, presets
from shiftspike.quant.check import compare
from shiftspike.quant.data import InputInfo, SequenceData, load_dataset
from shiftspike.quant.network import SpikingNetwork
from shiftspike.sim import load, save


def _train(net: SpikingNetwork, data: SequenceData, steps: int, lr: float = 3e-3, batch: int = 64) -> None:
    opt = torch.optim.Adam(net.parameters(), lr)
    net.train()
    batches = iter(())
    for _ in range(steps):
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(data.batches(batch, shuffle=True, generator=torch.Generator().manual_seed(0)))
            x, y = next(batches)
        loss = F.cross_entropy(net.logits(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.fixture(scope="module")
def digits_run():
    torch.manual_seed(0)
    cfg = config.validate(presets.preset("digits", width=0.5))
    train = load_dataset("digits", "train")
    net = SpikingNetwork(cfg.model, train.info)
    _train(net, train, 60)
    return net, load_dataset("digits", "test")


def test_exported_digits_model_equals_qat_eval_on_the_whole_test_set(digits_run, tmp_path):
    net, test = digits_run
    save(net.integer_plan().model, tmp_path / "digits.ssm")
    model = load(tmp_path / "digits.ssm")
    result = compare(net, model, test)
    assert result.samples == len(test.y) == 360
    assert all(layer.values > 0 for layer in result.layers)
    assert result.mismatches == 0, result.first_mismatch
    assert result.qat_correct == result.integer_correct
    assert result.integer_correct / result.samples > 0.5


def test_one_lsb_weight_corruption_is_caught(digits_run):
    net, test = digits_run
    model = net.integer_plan().model
    dense = model.layers[0]
    weight = dense.weight.copy()
    weight[0, 3] += 1 if weight[0, 3] < 127 else -1
    corrupted = dataclasses.replace(model, layers=(dataclasses.replace(dense, weight=weight), *model.layers[1:]))
    result = compare(net, corrupted, test)
    assert result.layers[0].mismatches > 0
    assert result.first_mismatch["layer"] == 0


def _random_case(seed: int, conv: bool, kind: str, shift_max: int, window, pow2: bool, bits: int):
    """A small random architecture and dataset on the integer grid."""
    rng = np.random.default_rng(seed)
    steps, channels, length = int(rng.integers(3, 12)), int(rng.integers(1, 4)), int(rng.integers(4, 9))
    if not conv:
        channels, length = int(rng.integers(2, 10)), 1
    width = int(rng.integers(2, 10))
    scale = 1.0 if kind == "spike" else 2.0 ** -int(rng.integers(0, 6))
    info = InputInfo(kind, 1 if kind == "spike" else width, scale, channels, length, steps)
    lo, hi = info.value_range
    x_int = rng.integers(lo, hi + 1, size=(48, steps, channels, length))
    y = rng.integers(0, 3, size=48)
    data = SequenceData(torch.tensor(x_int * scale, dtype=torch.float32), torch.tensor(y), info, 3, "random")
    if conv:
        layers = [{"type": "conv", "channels": int(rng.integers(2, 6)), "kernel": int(rng.integers(1, 4))},
                  {"type": "neuron"}, {"type": "pool", "window": 2}]
    else:
        layers = [{"type": "dense", "features": int(rng.integers(2, 12))}, {"type": "neuron"},
                  {"type": "dropout", "p": 0.1}]
    layers += [{"type": "dense", "features": int(rng.integers(2, 12))}, {"type": "neuron"},
               {"type": "dense", "features": 3}, {"type": "readout"}]
    model = {"layers": layers, "taps": int(rng.integers(1, 6)), "dilation_period": int(rng.integers(1, 4)),
             "shift_max": shift_max, "exp_window": window, "pow2_weights": pow2, "weight_bits": bits}
    return config.validate({"model": model}).model, data


@settings(max_examples=12)
@given(seed=st.integers(0, 2**31), conv=st.booleans(), kind=st.sampled_from(["spike", "int"]),
       shift_max=st.integers(0, 22), window=st.sampled_from([None, (-4, 2), (-12, 6)]), pow2=st.booleans(),
       bits=st.integers(2, 10))
def test_random_architectures_export_exactly(seed, conv, kind, shift_max, window, pow2, bits):
    cfg, data = _random_case(seed, conv, kind, shift_max, window, pow2, bits)
    torch.manual_seed(seed % 1000)
    net = SpikingNetwork(cfg, data.info)
    _train(net, data, 4, lr=3e-2, batch=16)
    result = compare(net, net.integer_plan().model, data, batch_size=16)
    assert result.mismatches == 0, result.first_mismatch


def test_float64_where_the_bound_analysis_asks_for_it_and_float32_would_be_wrong():
    """Taps 2^24 apart on 9-bit inputs: H needs 34 bits, float32 rounds it, float64 does not."""
    info = InputInfo("int", 9, 1.0, 1, 1, 2)
    x = torch.zeros(512, 2, 1, 1)
    x[:, 0] = 1.0
    x[:, 1] = torch.arange(-256, 256, dtype=torch.float32).view(512, 1, 1)
    data = SequenceData(x, torch.zeros(512, dtype=torch.int64), info, 3, "edge")
    cfg = config.validate({"model": {"layers": [{"type": "neuron"}, {"type": "dense", "features": 3},
                                                {"type": "readout"}],
                                     "taps": 2, "exp_window": (-12, 12)}}).model
    net = SpikingNetwork(cfg, info).eval()
    neuron = net.layers[0]
    with torch.no_grad():
        # H = x[t] + 2^24 x[t-1] on the integer grid of unit 2^-12. At t = 1, H = 2^24 + x[1]; float32
        # rounds 2^24 + 35 up to 2^24 + 36 = theta, a spike the integer model does not fire.
        neuron.weight.copy_(torch.tensor([[2.0 ** -12, 2.0 ** 12]]) * (1 + neuron.eps) ** 0.5)
        neuron.beta.fill_(-(2 ** 24 + 36) * 2.0 ** -12)
    plan = net.integer_plan()
    assert plan.model.layers[0].theta.tolist() == [2 ** 24 + 36]
    assert plan.dtypes[0] == torch.float64
    assert compare(net, plan.model, data).mismatches == 0
    net._plan = dataclasses.replace(plan, dtypes=tuple(torch.float32 for _ in plan.dtypes))
    assert compare(net, plan.model, data).layers[0].mismatches > 0


def test_float_baselines_have_no_integer_model():
    cfg = config.validate(dict(presets.preset("digits"), model=dict(presets.preset("digits")["model"],
                                                                     neuron="psn")))
    net = SpikingNetwork(cfg.model, load_dataset("digits", "test").info)
    with pytest.raises(ValueError, match="only a quantized"):
        net.integer_plan()
