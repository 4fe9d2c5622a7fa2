"""The PSU family and the dynamic-decay neuron: parallel (training) and serial (inference) forms agree.

Float64 throughout, so "agree" means equal up to rounding; spikes must be equal wherever the
membrane is not within 1e-9 of the threshold.
"""

import pytest
import torch

from shiftspike.quant import config, presets
from shiftspike.quant.data import load_dataset
from shiftspike.quant.network import SpikingNetwork
from shiftspike.quant.neurons import IPSU, PSU, RPSU, DynamicDecay
from shiftspike.quant.neurons.dynamic_decay import events
from shiftspike.quant.neurons.psu import decay_matrices, soft_reset_lif
from shiftspike.quant.temporal.scan import linear_scan

torch.set_default_dtype(torch.float32)


def _inputs(steps=12, shape=(3, 5), seed=0, scale=1.5):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((steps, *shape), generator=g, dtype=torch.float64) * scale


def _same_spikes(s_parallel, s_serial, v_parallel, v_th):
    decided = (v_parallel - v_th).abs() > 1e-9
    assert torch.equal(s_parallel[decided], s_serial[decided])
    assert decided.float().mean() > 0.9


def test_decay_matrices():
    a, b = decay_matrices(4, 2.0, torch.float64)
    assert a[0, 0] == 0.5 and a[3, 0] == 0.5 ** 4 and a[0, 1] == 0
    assert b[0, 0] == 0 and b[1, 0] == -0.5 and b[3, 1] == -0.25 and b[1, 2] == 0


@pytest.mark.parametrize("tau, v_th", [(2.0, 0.5), (3.0, 0.3), (1.5, 1.0)])
def test_true_spikes_make_psu_a_soft_reset_lif(tau, v_th):
    x = _inputs(16, (4, 6), seed=1)
    h, s = soft_reset_lif(x, tau, v_th)
    a, b = decay_matrices(16, tau, torch.float64)
    flat = a @ x.reshape(16, -1) + v_th * (b @ s.reshape(16, -1))
    assert torch.allclose(flat.view_as(h), h, rtol=0, atol=1e-12)
    assert 0 < s.mean() < 1
    corrupted = flat.clone()
    corrupted[5, 3] += 1e-6
    assert not torch.allclose(corrupted.view_as(h), h, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cls", [PSU, IPSU, RPSU])
def test_psu_family_parallel_equals_serial(cls):
    torch.manual_seed(0)
    neuron = cls(12).double()
    if cls is not PSU:
        with torch.no_grad():
            neuron.weight.mul_(0.5)
            neuron.bias.uniform_(-0.2, 0.2)
    x = _inputs(12, (3, 5), seed=2)
    v = neuron.membrane(x.reshape(12, -1)).view_as(x)
    s = neuron(x)
    s_serial, v_serial = neuron.serial(x)
    assert torch.allclose(v, v_serial, rtol=0, atol=1e-10)
    _same_spikes(s, s_serial, v, neuron.v_threshold)


def test_psu_family_trains():
    for cls in (PSU, IPSU, RPSU):
        neuron = cls(8)
        x = torch.rand(8, 2, 4, requires_grad=True)
        neuron(x).sum().backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_linear_scan_equals_the_recurrence():
    g = torch.Generator().manual_seed(3)
    for steps in (1, 2, 7, 64, 100):
        a = torch.rand(steps, 3, generator=g, dtype=torch.float64)
        b = torch.randn(steps, 3, generator=g, dtype=torch.float64)
        h, expected = torch.zeros(3, dtype=torch.float64), []
        for t in range(steps):
            h = a[t] * h + b[t]
            expected.append(h)
        assert torch.allclose(linear_scan(a, b), torch.stack(expected), rtol=0, atol=1e-12)


def test_linear_scan_gradient():
    g = torch.Generator().manual_seed(6)
    a = torch.rand(9, 2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(9, 2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(linear_scan, (a, b))
    scan32 = linear_scan(a.detach().float(), b.detach().float())
    assert scan32.dtype == torch.float32 and torch.allclose(scan32.double(), linear_scan(a, b), atol=1e-5)


@pytest.mark.parametrize("spikes", ["binary", "integer"])
@pytest.mark.parametrize("shape", [(2, 4), (2, 4, 3)])
def test_dynamic_decay_parallel_equals_serial(spikes, shape):
    torch.manual_seed(1)
    neuron = DynamicDecay(4, order=3, spikes=spikes, max_spikes=3).double()
    with torch.no_grad():
        neuron.weight.normal_(0, 1)
        neuron.bias.normal_(0, 1)
    x = _inputs(40, shape, seed=4, scale=2.0)
    h = neuron.membrane(x)
    s = neuron(x)
    s_serial, h_serial = neuron.serial(x)
    assert torch.allclose(h, h_serial, rtol=0, atol=1e-10)
    if spikes == "binary":
        _same_spikes(s, s_serial, h, neuron.v_threshold)
    else:
        ratio = h / neuron.v_threshold
        decided = (ratio - ratio.round()).abs() > 1e-9
        assert torch.equal(s[decided], s_serial[decided])
        assert s.min() >= 0 and s.max() <= 3 and s.max() > 1


def test_dynamic_decay_kernel_is_causal():
    neuron = DynamicDecay(2, order=4).double()
    with torch.no_grad():
        neuron.weight.normal_(0, 1)
    x = _inputs(20, (1, 2), seed=5)
    later = x.clone()
    later[12:] += 1.0
    assert torch.equal(neuron.membrane(x)[:12], neuron.membrane(later)[:12])
    assert not torch.equal(neuron.membrane(x)[12:], neuron.membrane(later)[12:])


def test_integer_spikes_become_events():
    counts = torch.tensor([[0.0, 2.0], [3.0, 1.0]])
    ev = events(counts, 3)
    assert ev.shape == (2, 3, 2)
    assert torch.equal(ev.sum(1), counts)
    assert torch.equal(ev[1, :, 0], torch.tensor([1.0, 1.0, 1.0])) and torch.equal(ev[0, :, 1], torch.tensor([1.0, 1.0, 0.0]))


@pytest.mark.parametrize("neuron", ["psu", "ipsu", "rpsu", "dyndecay", "dyndecay-int", "saf"])
def test_new_neurons_build_and_train_in_the_digits_preset(neuron):
    torch.manual_seed(0)
    cfg = config.validate(presets.preset("digits", width=0.25))
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"neuron": neuron})})
    train = load_dataset("digits", "train")
    net = SpikingNetwork(cfg.model, train.info)
    x, y = next(iter(train.batches(16, shuffle=False)))
    loss = torch.nn.functional.cross_entropy(net.logits(x), y)
    loss.backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
