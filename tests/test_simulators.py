"""The NumPy reference, the Numba whole-sequence simulator and the Numba step-by-step
simulator agree bit for bit on every layer output, membrane and activity record."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shiftspike.sim import Stepper, fit_widths, random_input, random_model, run, run_reference
from shiftspike.sim.model import INT, SPIKE


def assert_traces_equal(expected, got, label):
    assert len(expected.outputs) == len(got.outputs)
    for i, (e, g) in enumerate(zip(expected.outputs, got.outputs)):
        assert e.dtype == g.dtype, f"{label}: layer {i} dtype {g.dtype} != {e.dtype}"
        if not np.array_equal(e, g):
            t, b, f = np.argwhere(e != g)[0]
            raise AssertionError(f"{label}: layer {i} output differs first at t={t} b={b} f={f}: "
                                 f"expected {e[t, b, f]}, got {g[t, b, f]}")
    assert expected.membranes.keys() == got.membranes.keys()
    for i in expected.membranes:
        assert np.array_equal(expected.membranes[i], got.membranes[i]), f"{label}: layer {i} membrane differs"
    for i, (e, g) in enumerate(zip(expected.activity, got.activity)):
        for name in ("in_nonzero", "out_spikes"):
            ev, gv = getattr(e, name), getattr(g, name)
            assert (ev is None) == (gv is None), f"{label}: layer {i} {name} presence differs"
            if ev is not None:
                assert np.array_equal(ev, gv), f"{label}: layer {i} {name} differs"


def check_all_modes(model, x):
    ref = run_reference(model, x)
    assert_traces_equal(ref, run(model, x, record_membranes=True), "whole sequence")
    assert_traces_equal(ref, Stepper(model, x.shape[1]).run(x, record_membranes=True), "step by step")
    return ref


model_args = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32 - 1),
    "input_kind": st.sampled_from([None, SPIKE, INT]),
    "taps": st.sampled_from([None, 1, 2, 5]),
    "dilation": st.sampled_from([None, 1, 3, 8]),
    "shift_max": st.sampled_from([None, 0, 4]),
    "zero_taps": st.sampled_from([None, 0.0, 0.5]),
    "overflow": st.sampled_from([None, "wrap", "saturate"]),
    "narrow": st.sampled_from([None, True, False]),
    "direct": st.sampled_from([None, True]),
    "head": st.sampled_from([None, "readout"]),
})


@settings(max_examples=300)
@given(args=model_args, rate=st.sampled_from([0.0, 0.05, 0.3, 1.0]), batch=st.integers(1, 3),
       steps=st.integers(1, 40), input_seed=st.integers(0, 1000))
def test_all_simulators_agree(args, rate, batch, steps, input_seed):
    model = random_model(**args)
    x = random_input(model, batch=batch, timesteps=steps, rate=rate, seed=input_seed)
    check_all_modes(model, x)


@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
def test_narrow_widths_really_overflow(overflow):
    """Models with narrow accumulators must actually wrap or saturate somewhere (else the
    property test would not cover overflow), and still agree in every mode."""
    hits = 0
    for seed in range(12):
        model = random_model(seed, narrow=True, overflow=overflow, input_kind=INT)
        x = random_input(model, batch=4, rate=1.0, seed=seed)
        ref = check_all_modes(model, x)
        wide = run_reference(fit_widths(model), x)
        hits += any(not np.array_equal(a, b) for a, b in zip(ref.outputs, wide.outputs))
    assert hits >= 6


@pytest.mark.parametrize("rate", [0.0, 1.0], ids=["all-zero", "all-one"])
@pytest.mark.parametrize("kind", [SPIKE, INT])
def test_constant_inputs(rate, kind):
    for seed in range(4):
        model = random_model(seed, input_kind=kind)
        check_all_modes(model, random_input(model, batch=2, rate=rate, seed=seed))


def test_extreme_integer_inputs():
    """Inputs pinned at the most negative and most positive declared values."""
    for seed in range(4):
        model = random_model(seed, input_kind=INT, narrow=True)
        lo, hi = model.input.value_range
        rng = np.random.default_rng(seed)
        x = rng.choice(np.array([lo, hi]), size=(12, 3, model.input.features)).astype(model.input.dtype)
        check_all_modes(model, x)


def test_sequence_shorter_than_receptive_field():
    """T < (k - 1) * d: most taps never see an input."""
    model = random_model(5, taps=8, dilation=8)
    check_all_modes(model, random_input(model, batch=2, timesteps=3, rate=0.5))


def test_stepper_reset_restarts_at_time_zero():
    model = random_model(11, taps=4, dilation=2)
    x = random_input(model, batch=2, timesteps=10, rate=0.4)
    stepper = Stepper(model, 2)
    stepper.run(random_input(model, batch=2, timesteps=7, rate=0.9, seed=3))
    again = stepper.run(x, record_membranes=True)
    assert_traces_equal(run_reference(model, x), again, "after reset")


def test_comparison_can_fail():
    """The equality check catches a single flipped value."""
    model = random_model(3)
    x = random_input(model, batch=2, rate=0.5)
    ref = run_reference(model, x)
    got = run(model, x, record_membranes=True)
    got.outputs[-1][-1, 0, 0] += 1
    with pytest.raises(AssertionError, match="differs first"):
        assert_traces_equal(ref, got, "corrupted")


@pytest.mark.parametrize("acc_width, overflow", [(32, "wrap"), (31, "wrap"), (30, "saturate"), (31, "saturate"),
                                                 (40, "wrap"), (40, "saturate")])
def test_wide_terms_at_lane_width_edges(acc_width, overflow):
    """Sums far beyond int32 with 30-40-bit accumulators: exercises both lane types of the kernel."""
    from shiftspike.sim import IntegerModel, Neuron, TensorSpec
    from shiftspike.sim.fixed import signed_range

    rng = np.random.default_rng(acc_width)
    channels, taps = 40, 9
    sign = rng.choice(np.array([-1, 1], np.int8), size=(channels, taps))
    sign[:20] = 1
    shift = np.full((channels, taps), 15, np.int8)
    theta = rng.integers(-(1 << 28), 1 << 28, size=channels)
    neuron = Neuron(sign, shift, theta, 1, 15, acc_width, overflow)
    model = IntegerModel(TensorSpec("int", 16, channels), 12, (neuron,))
    lo, hi = signed_range(16)
    x = rng.choice(np.array([lo, hi, hi - 1, lo + 1]), size=(12, 3, channels)).astype(np.int16)
    check_all_modes(model, x)


def test_fixed_accumulator_width():
    model = random_model(8, acc_width=12)
    assert {layer.acc_width for layer in model.layers} == {12}
    check_all_modes(model, random_input(model, batch=2, rate=0.5))


def test_stepper_refuses_another_batch():
    from shiftspike.sim import InputError

    model = random_model(2)
    with pytest.raises(InputError, match="batch 3 does not match"):
        Stepper(model, 2).run(random_input(model, batch=3))


def test_bool_input_is_the_integers_zero_and_one():
    """Documented in docs/model-format.md: bool arrays are accepted as 0/1, the range check applies."""
    from shiftspike.sim import InputError, IntegerModel, Readout, TensorSpec

    model = random_model(4, input_kind="spike")
    x = random_input(model, batch=2, rate=0.5)
    assert np.array_equal(run(model, x.astype(bool)).output, run(model, x).output)
    assert np.array_equal(Stepper(model, 2).run(x.astype(bool)).output, run(model, x).output)
    one_bit = IntegerModel(TensorSpec("int", 1, 2), 2, (Readout(4),))
    with pytest.raises(InputError, match="input value 1 outside"):
        run(one_bit, np.ones((2, 1, 2), bool))
    with pytest.raises(InputError, match="not an integer or bool type"):
        run(model, x.astype(np.float32))
