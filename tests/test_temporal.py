"""The temporal convolution: every implementation against the float64 reference (forward and
both gradients) and bit-exactness of the exact ones on power-of-two data (the automatic choice:
``test_autoselect.py``). The disk cache lives in a per-test temporary directory, never the user's home."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from shiftspike.quant.temporal import (
    EXACT,
    IMPLEMENTATIONS,
    TOEPLITZ_MAX_STEPS,
    reference,
    temporal_conv,
)
from shiftspike.quant.temporal.fused import fused, release_buffers

pytestmark = pytest.mark.usefixtures("private_autoselect")

DTYPES = (torch.float32, torch.float64)


@st.composite
def layers(draw, max_steps=24):
    """(shape [T, B, C, *rest], k, d, dtype, seed); T < (k-1)*d and T = 1 included."""
    steps = draw(st.integers(1, max_steps))
    batch = draw(st.integers(1, 3))
    channels = draw(st.integers(1, 5))
    rest = draw(st.sampled_from([(), (1,), (3,), (2, 2)]))
    taps = draw(st.integers(1, 6))
    dilation = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from(DTYPES))
    return (steps, batch, channels, *rest), taps, dilation, dtype, draw(st.integers(0, 2**16))


def tolerance(dtype: torch.dtype, scale: float) -> dict:
    eps = 1e-4 if dtype == torch.float32 else 1e-11
    return {"rtol": eps, "atol": eps * max(1.0, scale)}


def forward_backward(fn, x, weight, dilation, grad):
    x = x.detach().clone().requires_grad_()
    weight = weight.detach().clone().requires_grad_()
    out = fn(x, weight, dilation)
    out.backward(grad.to(out.dtype))
    return out.detach(), x.grad, weight.grad


@settings(max_examples=40)
@given(layers())
def test_all_implementations_match_reference(layer):
    shape, taps, dilation, dtype, seed = layer
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    weight = torch.randn(shape[2], taps, generator=gen, dtype=torch.float64)
    grad = torch.randn(shape, generator=gen, dtype=torch.float64)
    expected = forward_backward(reference, x, weight, dilation, grad)
    for name, fn in IMPLEMENTATIONS.items():
        got = forward_backward(fn, x.to(dtype), weight.to(dtype), dilation, grad)
        for what, g, e in zip(("H", "grad x", "grad weight"), got, expected):
            assert g.dtype == dtype and g.shape == e.shape, (name, what)
            scale = e.abs().max().item() if e.numel() else 1.0
            torch.testing.assert_close(g.double(), e, **tolerance(dtype, scale), msg=f"{name}: {what}")


@pytest.mark.parametrize("shape, taps, dilation", [
    ((600, 4, 40, 20), 16, 4),  # several column blocks, flushes of the weight-gradient lanes
    ((700, 3, 7), 5, 3),  # time segments across threads
    ((257, 2, 3, 5), 1, 1),
])
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_long_sequences(shape, taps, dilation, threads):
    """Paths that small shapes do not reach, against ``taploop`` (itself checked above)."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    weight = torch.randn(shape[2], taps, generator=gen, dtype=torch.float64)
    grad = torch.randn(shape, generator=gen, dtype=torch.float64)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = forward_backward(IMPLEMENTATIONS["fused"], x, weight, dilation, grad)
    finally:
        torch.set_num_threads(before)
    expected = forward_backward(IMPLEMENTATIONS["taploop"], x, weight, dilation, grad)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-11, atol=1e-9)


def test_fused_recycles_output_buffers_only_once_free():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(64, 32, 128, generator=gen)  # 1 MiB: large enough to be recycled
    weight = torch.randn(128, 3, generator=gen)
    release_buffers()
    first = fused(x, weight, 2)
    address = first.data_ptr()
    second = fused(x, weight, 2)
    assert second.data_ptr() != address  # the first output is alive
    expected = second.clone()
    del first
    third = fused(x, weight, 2)
    assert third.data_ptr() == address  # recycled once free
    assert torch.equal(third, expected) and torch.equal(second, expected)
    release_buffers()


@st.composite
def exact_layers(draw):
    """Integer inputs times 2^-s and +-2^e weights whose sums fit the dtype's mantissa."""
    shape, taps, dilation, dtype, seed = draw(layers(max_steps=40))
    int_bits = 8 if dtype == torch.float32 else 30
    shift = draw(st.integers(0, 6))
    return shape, taps, dilation, dtype, seed, int_bits, shift


@settings(max_examples=40)
@given(exact_layers())
def test_exact_implementations_are_bit_exact(layer):
    shape, taps, dilation, dtype, seed, int_bits, shift = layer
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(-(2**int_bits), 2**int_bits + 1, shape, generator=gen).to(dtype) * 2.0**-shift
    sign = torch.randint(0, 2, (shape[2], taps), generator=gen) * 2 - 1
    weight = (sign * 2.0 ** torch.randint(-4, 5, (shape[2], taps), generator=gen)).to(dtype)
    # every term below 2^(int_bits + 4) and a multiple of 2^-(shift + 4): the sums of k <= 6
    # terms need at most int_bits + shift + 11 bits, within 24 (float32) and 53 (float64)
    exact = reference(x, weight, dilation)
    expected = exact.to(dtype)
    assert torch.equal(expected.double(), exact)  # representable in the dtype
    for name in sorted(EXACT):
        out = IMPLEMENTATIONS[name](x, weight, dilation)
        assert torch.equal(out, expected), name
    index = out.abs().argmax()
    bumped = expected.flatten().clone()
    bumped[index] = torch.nextafter(bumped[index], torch.tensor(math.inf, dtype=dtype))
    assert not torch.equal(out, bumped.view_as(expected))


def small_layer(steps=12, dtype=torch.float32):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(steps, 2, 3, generator=gen, dtype=dtype)
    weight = torch.randn(3, 4, generator=gen, dtype=dtype)
    return x, weight


def test_invalid_arguments():
    x, weight = small_layer()
    with pytest.raises(ValueError, match="unknown impl"):
        temporal_conv(x, weight, 1, impl="nope")
    with pytest.raises(ValueError, match="not exact"):
        temporal_conv(x, weight, 1, impl="fft", exact=True)
    with pytest.raises(TypeError):
        temporal_conv(x.half(), weight.half(), 1)
    with pytest.raises(TypeError):
        temporal_conv(x, weight.double(), 1)
    with pytest.raises(ValueError, match="weight"):
        temporal_conv(x, weight[:2], 1)
    with pytest.raises(ValueError, match="dilation"):
        temporal_conv(x, weight, 0)
    long_x, long_w = small_layer(steps=TOEPLITZ_MAX_STEPS + 1)
    with pytest.raises(ValueError, match="TOEPLITZ_MAX_STEPS"):
        temporal_conv(long_x, long_w, 1, impl="toeplitz")


def test_a_config_names_exactly_the_implementations_and_auto():
    from shiftspike.quant.config import IMPLS

    assert sorted(IMPLS) == sorted([*IMPLEMENTATIONS, "auto"])
