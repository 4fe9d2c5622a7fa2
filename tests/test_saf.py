"""SAF (spike accumulation forwarding): same spikes as an ordinary LIF net, same
gradients as OTTT, different from BPTT."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

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
