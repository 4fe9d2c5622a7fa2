"""SAF (spike accumulation forwarding): same spikes as an ordinary LIF net, same
gradients as OTTT, different from BPTT; the `--neuron saf` network layers give online SAF's gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from shiftspike.quant import config
from shiftspike.quant.data.base import InputInfo
from shiftspike.quant.layers import QDense
from shiftspike.quant.network import SpikingNetwork
from shiftspike.quant.neurons import SAFNeuron
from shiftspike.quant.saf import (OTTTNetwork, SAFNetwork, bptt_gradients, lif_spikes,
                                  ottt_gradients, saf_gradients)


def make(sizes, seed, T=8, B=5, tau=2.0, v_threshold=1.0):
    g = torch.Generator().manual_seed(seed)
    net = SAFNetwork(sizes, tau=tau, v_threshold=v_threshold).double()
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g, dtype=torch.float64)
                               * 2.0 / layer.in_features ** 0.5)
            layer.bias.copy_(0.3 * v_threshold + 0.2 * torch.randn(layer.bias.shape, generator=g, dtype=torch.float64))
    x = (torch.rand(T, B, sizes[0], generator=g, dtype=torch.float64) < 0.5).double() \
        * torch.rand(T, B, sizes[0], generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, sizes[-1], (B,), generator=g)
    return net, x, y


def loss_fn(out, y):
    return F.cross_entropy(out, y)


CASES = [([7, 9, 4], 0, 2.0, 1.0, 6), ([6, 12, 8, 3], 5, 3.0, 0.7, 10), ([5, 10, 10, 10, 4], 2, 1.5, 1.0, 8)]


@pytest.mark.parametrize("sizes,seed,tau,vth,T", CASES)
def test_saf_spikes_equal_lif(sizes, seed, tau, vth, T):
    net, x, _ = make(sizes, seed, T=T, tau=tau, v_threshold=vth)
    with torch.no_grad():
        out, saf_spk = net(x, return_spikes=True)
    ref = lif_spikes(net.weights, net.biases, x, tau, vth)
    assert len(saf_spk) == len(ref) == len(sizes) - 1
    for s, r in zip(saf_spk, ref):
        assert s.shape == r.shape
        assert torch.equal(s, r)
    for r in ref:  # non-trivial activity in every layer, output included
        assert 0.05 < r.mean() < 0.95, r.mean()
    # OTTT forward (detached-history LIF) produces the same output accumulations
    assert torch.allclose(OTTTNetwork(net)(x), out, rtol=0, atol=1e-12)


@pytest.mark.parametrize("sizes,seed,tau,vth,T", CASES)
def test_saf_gradients_equal_ottt(sizes, seed, tau, vth, T):
    net, x, y = make(sizes, seed, T=T, tau=tau, v_threshold=vth)
    g_saf = saf_gradients(net, x, y, loss_fn)
    g_ottt = ottt_gradients(net, x, y, loss_fn)
    assert len(g_saf) == len(g_ottt) == 2 * (len(sizes) - 1)
    for a, b in zip(g_saf, g_ottt):
        assert a.shape == b.shape
        assert a.abs().max() > 0  # every layer receives gradient
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
    # the comparison is able to fail
    bad = [g.clone() for g in g_ottt]
    bad[0].view(-1)[0] += 1e-6 * (1 + bad[0].abs().max())
    assert not all(torch.allclose(a, b, rtol=1e-9, atol=1e-12) for a, b in zip(g_saf, bad))


def test_saf_trained_weights_run_in_plain_lif():
    sizes, tau, vth = [8, 16, 4], 2.0, 1.0
    net, x, y = make(sizes, 3, T=8, B=16, tau=tau, v_threshold=vth)
    before = [w.detach().clone() for w in net.weights]
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    losses = [net.train_online(x, y, loss_fn, opt)["loss"] for _ in range(5)]
    assert any(not torch.equal(b, w) for b, w in zip(before, net.weights))
    assert losses[-1] < losses[0]
    with torch.no_grad():
        _, saf_spk = net(x, return_spikes=True)
        x2 = torch.rand_like(x)
        _, saf_spk2 = net(x2, return_spikes=True)
    for s, r in zip(saf_spk, lif_spikes(net.weights, net.biases, x, tau, vth)):
        assert torch.equal(s, r)
    for s, r in zip(saf_spk2, lif_spikes(net.weights, net.biases, x2, tau, vth)):
        assert torch.equal(s, r)


def test_bptt_differs_but_same_shapes():
    net, x, y = make([6, 12, 8, 3], 4, T=10)
    g_saf = saf_gradients(net, x, y, loss_fn)
    g_bptt, info = bptt_gradients(net, x, y, loss_fn)
    assert [g.shape for g in g_bptt] == [g.shape for g in g_saf]
    assert not all(torch.allclose(a, b, rtol=1e-3, atol=1e-6) for a, b in zip(g_saf, g_bptt))
    # same loss value (same forward), BPTT keeps a graph over all T steps
    online = net.train_online(x, y, loss_fn)
    assert info["loss"] == pytest.approx(online["loss"], rel=1e-12)
    assert info["saved_numel"] > online["peak_saved_numel"] * 2


def network_like(saf: SAFNetwork) -> SpikingNetwork:
    """A ``neuron = "saf"`` SpikingNetwork (dense -> neuron per layer, spike input) holding ``saf``'s weights."""
    sizes = saf.sizes
    layers = [layer for n in sizes[1:] for layer in ({"type": "dense", "features": n}, {"type": "neuron"})]
    cfg = config.validate({"model": {"neuron": "saf", "tau": saf.tau, "v_threshold": saf.v_threshold,
                                     "layers": [*layers, {"type": "readout"}]}})
    info = InputInfo("spike", 1, 1.0, sizes[0], 1, 8)
    net = SpikingNetwork(cfg.model, info).double()
    synapses = [m for m in net.layers if isinstance(m, QDense)]
    neurons = [m for m in net.layers if isinstance(m, SAFNeuron)]
    assert all(s.bias is None for s in synapses)  # the SAF neuron owns the bias
    with torch.no_grad():
        for layer, synapse, neuron in zip(saf.layers, synapses, neurons):
            synapse.weight.copy_(layer.weight)
            neuron.bias.copy_(layer.bias)
    return net


def spike_input(sizes, seed, T, B=5):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, sizes[0], 1, generator=g, dtype=torch.float64) < 0.5).double()


@pytest.mark.parametrize("sizes,seed,tau,vth,T", CASES)
def test_saf_network_layers_have_the_online_saf_gradients(sizes, seed, tau, vth, T):
    """The whole-sequence SAF layers of `--neuron saf` give the gradients of online, per-step SAF training."""
    saf, _, _ = make(sizes, seed, T=T, tau=tau, v_threshold=vth)
    x = spike_input(sizes, seed, T)
    g = torch.Generator().manual_seed(seed + 1)
    readout = torch.randn(x.shape[1], sizes[-1], generator=g, dtype=torch.float64)
    online = saf_gradients(saf, x[..., 0], readout, lambda out, weight: (out * weight).sum())
    net = network_like(saf)
    ((net(x)[-1] * readout).sum() / T).backward()
    synapses = [m for m in net.layers if isinstance(m, QDense)]
    neurons = [m for m in net.layers if isinstance(m, SAFNeuron)]
    whole = [g for s, n in zip(synapses, neurons) for g in (s.weight.grad, n.bias.grad)]
    assert len(whole) == len(online)
    for a, b in zip(whole, online):
        assert a.shape == b.shape and b.abs().max() > 0
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
    bad = online[-1].clone()
    bad.view(-1)[0] += 1e-6 * (1 + bad.abs().max())
    assert not torch.allclose(whole[-1], bad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("sizes,seed,tau,vth,T", CASES)
def test_saf_network_spikes_equal_plain_lif(sizes, seed, tau, vth, T):
    saf, _, _ = make(sizes, seed, T=T, tau=tau, v_threshold=vth)
    x = spike_input(sizes, seed, T)
    net = network_like(saf).eval()
    record = []
    with torch.no_grad():
        net(x, record=record)
    neurons = [m for m in net.layers if isinstance(m, SAFNeuron)]
    accumulations = [r for m, r in zip(net.layers, record) if isinstance(m, SAFNeuron)]
    reference = lif_spikes(saf.weights, saf.biases, x[..., 0], tau, vth)
    for neuron, a, r in zip(neurons, accumulations, reference):
        s = neuron.spikes(a)
        assert torch.allclose(s, torch.round(s), atol=1e-9)
        assert torch.equal(torch.round(s), r)
        assert 0.05 < r.mean() < 0.95
