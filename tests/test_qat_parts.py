"""QAT building blocks: quantizers, surrogates, the channel-wise neuron's BN fusion, the baselines."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shiftspike.quant.grid import Grid
from shiftspike.quant.neurons import LIF, PSN, ChannelwiseNeuron, MaskedPSN, SlidingPSN
from shiftspike.quant.quantizers import fake_int, pow2_exponents, weight_ints
from shiftspike.quant.surrogate import Surrogate
from shiftspike.quant.temporal import reference


def _is_pow2(t: torch.Tensor) -> torch.Tensor:
    m, _ = torch.frexp(t)
    return m == 0.5


@settings(max_examples=60)
@given(seed=st.integers(0, 2**31), bits=st.integers(2, 12), pow2=st.booleans(), per_channel=st.booleans(),
       spread=st.floats(1e-6, 1e3))
def test_weight_ints_fit_and_scale_is_a_power_of_two(seed, bits, pow2, per_channel, spread):
    w = torch.randn(5, 7, generator=torch.Generator().manual_seed(seed)) * spread
    w[2] = 0.0
    ints, scale = weight_ints(w, bits, per_channel, pow2)
    assert torch.equal(ints, torch.round(ints))
    assert ints.abs().max() <= (1 << (bits - 2) if pow2 else (1 << (bits - 1)) - 1)
    assert bool(_is_pow2(scale).all())
    if pow2:
        nz = ints[ints != 0].abs()
        assert bool(_is_pow2(nz).all())
    else:
        s = scale[:, None] if per_channel else scale
        assert bool(((ints * s - w.double()).abs() <= s / 2 + 1e-12).all())


def test_straight_through_gradient_is_identity():
    w = torch.randn(4, 3, requires_grad=True)
    fake_int(w, 2.0 ** -3, -7, 7).sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))


def test_pow2_exponent_rounding_edge_cases():
    w = torch.tensor([1.0, -2.0, 0.75, 2 ** -0.5 * 1.0001, 3.0, 0.0])
    e = pow2_exponents(w)
    assert e[:5].tolist() == [0.0, 1.0, 0.0, 0.0, 2.0]
    assert e[5] == -math.inf


POINTS = [-1.0, -1e-7, 0.0, 0.3, 2.0]


def _smooth_step(name: str, alpha: float, x: float) -> float:
    """The smooth stand-in sigma(x) whose derivative each surrogate uses, written from its definition."""
    if name == "atan":
        return math.atan(math.pi / 2 * alpha * x) / math.pi + 0.5
    if name == "sigmoid":
        return 1.0 / (1.0 + math.exp(-alpha * x))
    return min(1.0, max(0.0, x / alpha + 0.5))  # rect: a ramp of width alpha, slope 1/alpha


def _closed_form(name: str, alpha: float, x: float) -> float:
    if name == "atan":
        return alpha / (2 * (1 + (math.pi / 2 * alpha * x) ** 2))
    if name == "sigmoid":
        s = 1.0 / (1.0 + math.exp(-alpha * x))
        return alpha * s * (1.0 - s)
    return 1.0 / alpha if abs(x) < alpha / 2 else 0.0


#: The rect window by hand: 1/alpha where |x| < alpha/2, at the points -1, -1e-7, 0, 0.3, 2.
RECT = {1.0: [0.0, 1.0, 1.0, 1.0, 0.0], 4.0: [0.25, 0.25, 0.25, 0.25, 0.0], 0.5: [0.0, 2.0, 2.0, 0.0, 0.0]}


@pytest.mark.parametrize("name, alpha", [("atan", 2.0), ("atan", 5.0), ("sigmoid", 4.0), ("sigmoid", 1.0),
                                         ("rect", 1.0), ("rect", 4.0), ("rect", 0.5)])
def test_surrogate_forward_is_heaviside_with_a_spike_at_zero_and_named_gradient(name, alpha):
    x = torch.tensor(POINTS, dtype=torch.float64, requires_grad=True)
    s = Surrogate(name, alpha)(x)
    assert s.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    s.sum().backward()
    expected = RECT[alpha] if name == "rect" else [_closed_form(name, alpha, v) for v in POINTS]
    assert x.grad.tolist() == pytest.approx(expected, rel=1e-12, abs=1e-15)
    if name == "atan":
        assert x.grad[2] == pytest.approx(alpha / 2)


@pytest.mark.parametrize("name, alpha", [("atan", 2.0), ("atan", 5.0), ("sigmoid", 4.0), ("rect", 1.0),
                                         ("rect", 4.0)])
def test_surrogate_gradient_is_the_slope_of_its_smooth_step(name, alpha):
    """Central differences of sigma(x), away from the rect's corners at +-alpha/2."""
    h = 1e-6
    points = [v for v in (-1.3, -0.7, -0.2, 0.0, 0.1, 0.45, 0.9, 2.5) if abs(abs(v) - alpha / 2) > 10 * h]
    x = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    Surrogate(name, alpha)(x).sum().backward()
    slopes = [(_smooth_step(name, alpha, v + h) - _smooth_step(name, alpha, v - h)) / (2 * h) for v in points]
    assert x.grad.tolist() == pytest.approx(slopes, rel=1e-5, abs=1e-7)


def test_surrogate_rejects_unknown_name_and_bad_alpha():
    with pytest.raises(ValueError, match="unknown surrogate"):
        Surrogate("tanh")
    with pytest.raises(ValueError, match="alpha"):
        Surrogate("atan", 0.0)


def test_float_neuron_is_heaviside_of_batchnorm_of_the_membrane():
    torch.manual_seed(0)
    neuron = ChannelwiseNeuron(6, 3, 2, quantize=False, impl="taploop")
    with torch.no_grad():
        neuron.weight.normal_()
        neuron.gamma.uniform_(0.5, 2.0)
        neuron.beta.normal_()
    x = torch.randn(9, 4, 6, 5)
    h = reference(x.double(), neuron.weight.double(), 2)
    dims = (0, 1, 3)
    mu, var = h.mean(dims), h.var(dims, unbiased=False)
    pre = neuron.gamma.double().view(1, 1, -1, 1) * (h - mu.view(1, 1, -1, 1)) / torch.sqrt(
        var.view(1, 1, -1, 1) + neuron.eps) + neuron.beta.double().view(1, 1, -1, 1)
    spikes = neuron(x)
    far = pre.abs() > 1e-4
    assert torch.equal(spikes.double()[far], (pre >= 0).double()[far])
    n = h.numel() // 6
    assert torch.allclose(neuron.running_mean.double(), 0.1 * mu, atol=1e-6)
    assert torch.allclose(neuron.running_var.double(), 0.9 + 0.1 * var * n / (n - 1), atol=1e-5)


def test_quantized_neuron_taps_are_powers_of_two_in_the_window():
    torch.manual_seed(1)
    neuron = ChannelwiseNeuron(8, 6, 1, shift_max=3)
    with torch.no_grad():
        neuron.weight.normal_()
        neuron.running_var.uniform_(0.5, 3.0)
        neuron.running_mean.normal_()
    grid = Grid(torch.tensor(2.0 ** -4, dtype=torch.float64), -32, 31)
    ints = neuron.integer_params(grid)
    assert ints.shift.min() >= 0 and ints.shift.max() <= 3
    assert set(np.unique(ints.sign)) <= {-1, 0, 1}
    wf, _ = neuron.fused(neuron.running_mean, neuron.running_var)
    e = torch.round(torch.log2(wf.detach().double().abs()))
    top = e.amax(dim=1, keepdim=True)
    below = (e < top - 3).numpy()
    assert (ints.sign[below] == 0).all() and (ints.sign[~below] != 0).all()
    assert bool(_is_pow2(torch.from_numpy(ints.unit)).all())


def test_fixed_exponent_window_zeroes_small_taps_and_clamps_large_ones():
    neuron = ChannelwiseNeuron(1, 4, 1, exp_window=(-2, 1))
    with torch.no_grad():
        neuron.weight.copy_(torch.tensor([[8.0, 1.0, 0.1, -0.5]]))
    ints = neuron.integer_params(Grid.spikes())
    assert ints.sign.tolist() == [[1, 1, 0, -1]]
    assert ints.shift.tolist() == [[3, 2, 0, 1]]
    assert neuron.shift_max == 3


def test_eval_spikes_are_the_integer_threshold_test():
    torch.manual_seed(2)
    neuron = ChannelwiseNeuron(5, 4, 3)
    with torch.no_grad():
        neuron.weight.normal_()
        neuron.beta.normal_()
        neuron.running_mean.normal_()
    neuron.eval()
    grid = Grid(torch.tensor(2.0 ** -3, dtype=torch.float64), -64, 63)
    x_int = torch.randint(-64, 64, (20, 3, 5))
    spikes = neuron(x_int.float() * 2.0 ** -3, grid)
    ints = neuron.integer_params(grid)
    coef = torch.from_numpy(ints.sign.astype(np.int64) << ints.shift.astype(np.int64))
    h = torch.zeros_like(x_int)
    for i in range(4):
        h[3 * i:] += coef[:, i] * x_int[: 20 - 3 * i]
    expected = (h >= torch.from_numpy(ints.theta)).float()
    assert torch.equal(spikes, expected)
    assert not torch.equal(spikes, 1 - expected)


def test_psn_and_masked_psn_are_the_matrix_product():
    torch.manual_seed(3)
    x = torch.randn(6, 2, 3)
    psn, masked = PSN(6), MaskedPSN(6, 2)
    with torch.no_grad():
        masked.weight.copy_(psn.weight)
    h = torch.einsum("tj,jbc->tbc", psn.weight, x) + psn.bias.view(6, 1, 1)
    assert torch.equal(psn(x), (h >= 0).float())
    assert masked.mask.tolist()[3] == [0, 0, 1, 1, 0, 0]
    band = psn.weight * masked.mask
    h = torch.einsum("tj,jbc->tbc", band, x) + masked.bias.view(6, 1, 1)
    assert torch.equal(masked(x), (h >= 0).float())
    with pytest.raises(ValueError, match="T = 6"):
        psn(torch.randn(5, 2, 3))


def test_sliding_psn_shares_one_kernel_across_channels():
    torch.manual_seed(4)
    sliding = SlidingPSN(3)
    x = torch.randn(7, 2, 4)
    h = reference(x.double(), sliding.weight.double().expand(4, 3), 1) + sliding.bias.item()
    far = h.abs() > 1e-5
    assert torch.equal(sliding(x).double()[far], (h >= 0).double()[far])


@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_lif_reset_modes(reset):
    lif = LIF(tau=2.0, reset=reset)
    x = torch.tensor([3.0, 0.0, 3.0, 3.0]).view(4, 1)
    v, out = 0.0, []
    for x_t in x[:, 0].tolist():
        v = v + (x_t - v) / 2
        s = float(v >= 1.0)
        v = v * (1 - s) if reset == "hard" else v - s
        out.append(s)
    assert lif(x)[:, 0].tolist() == out
    with pytest.raises(ValueError, match="reset"):
        LIF(reset="none")
