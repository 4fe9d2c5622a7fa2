"""The bound analysis is sound (fitted widths never overflow) and tight (a worst-case input
reaches the bound, so one bit less can overflow)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shiftspike.sim import Dense, IntegerModel, Neuron, TensorSpec, analyze, fit_widths, random_input
from shiftspike.sim import random_model, run_reference


@settings(max_examples=40)
@given(seed=st.integers(0, 2**31), rate=st.sampled_from([0.3, 1.0]))
def test_fitted_widths_are_overflow_free(seed, rate):
    model = fit_widths(random_model(seed, narrow=True))
    assert not any(b.may_overflow for b in analyze(model))
    x = random_input(model, batch=3, rate=rate, seed=seed)
    trace = run_reference(model, x)
    for bound, out in zip(analyze(model), trace.outputs):
        if model.specs[bound.index + 1].kind == "int":
            assert bound.lo <= out.min() and out.max() <= bound.hi


def test_dense_bound_is_reached():
    w = np.array([[3, -2, 1], [-4, -4, 0]], np.int8)
    dense = Dense(w, np.array([2, -1], np.int8), 4, 16)
    model = IntegerModel(TensorSpec("int", 4, 3), 1, (dense,))
    bound = analyze(model)[0]
    # channel 1, bias -1: hi with x = (-8, -8, .) is -1 + 32 + 32 = 63; lo with x = (7, 7, .) is -1 - 56 = -57
    assert (bound.lo, bound.hi) == (-57, 63)
    assert bound.required_width == 7
    x = np.array([[[-8, -8, 0]], [[7, 7, 0]]], np.int8)
    out = run_reference(model, x).outputs[0]
    assert out[0, 0, 1] == 63 and out[1, 0, 1] == -57


def test_neuron_bound_is_reached_and_one_bit_less_overflows():
    sign, shift = np.array([[1, -1, 1]], np.int8), np.array([[2, 0, 1]], np.int8)
    neuron = Neuron(sign, shift, np.array([0], np.int16), 1, 2, 16)
    model = IntegerModel(TensorSpec("int", 4, 1), 3, (neuron,))
    bound = analyze(model)[0]
    assert (bound.lo, bound.hi) == (-8 * 4 - 7 - 8 * 2, 7 * 4 + 8 + 7 * 2)
    narrow = fit_widths(model)
    assert narrow.layers[0].acc_width == bound.required_width == 7
    x = np.array([[[7]], [[-8]], [[7]]], np.int8)  # t=2: 7<<2 - (-8) + 7<<1 = 50
    assert run_reference(narrow, x).membranes[0][2, 0, 0] == 50
    from dataclasses import replace

    tighter = IntegerModel(model.input, 3, (replace(narrow.layers[0], acc_width=6),))
    assert analyze(tighter)[0].may_overflow
    assert run_reference(tighter, x).membranes[0][2, 0, 0] != 50


def test_readout_bound_uses_timesteps():
    from shiftspike.sim import Readout

    model = IntegerModel(TensorSpec("int", 4, 1), 10, (Readout(16),))
    assert (analyze(model)[0].lo, analyze(model)[0].hi) == (-80, 70)
    assert analyze(model, timesteps=100)[0].hi == 700


@pytest.mark.parametrize("seed", range(5))
def test_fit_widths_keeps_results(seed):
    model = random_model(seed, narrow=False)
    fitted = fit_widths(model)
    x = random_input(model, batch=2, rate=0.5, seed=seed)
    a, b = run_reference(model, x), run_reference(fitted, x)
    assert all(np.array_equal(p, q) for p, q in zip(a.outputs, b.outputs))


def test_term_sums_exact_in_int64_and_beyond():
    """int64 where the sums fit (a valid model), Python ints where they would not: the same exact values."""
    from shiftspike.sim.bounds import term_sums

    w = np.array([[1, -2, 0], [3, 0, -1]], np.int8)
    neg, pos = term_sums(w, -3, 5, 1)
    # row 0: 1*x in [-3, 5], -2*x in [-10, 6] -> [-13, 11]; row 1: 3*x in [-9, 15], -x in [-5, 3] -> [-14, 18]
    assert neg.tolist() == [-13, -14] and pos.tolist() == [11, 18]
    big = np.full((1, 1024), 1 << 24, np.int64)
    neg, pos = term_sums(big, -(1 << 31), (1 << 31) - 1, 1)
    assert int(pos[0]) == 1024 * (1 << 24) * ((1 << 31) - 1) and int(neg[0]) == -1024 * (1 << 24) * (1 << 31)
