"""Op counts against hand counts on small models."""

import numpy as np
import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from shiftspike.sim import Conv1d, Dense, IntegerModel, Neuron, Readout, SumPool, TensorSpec, run
from shiftspike.sim.energy import load_table
from shiftspike.sim.opcount import conv_fanout, layer_ops, psn_ops
from shiftspike.sim.report import build_report


@pytest.fixture
def small():
    """spike[2] -> dense 3x2 -> neuron (k=2, d=1) -> dense 2x3 -> readout, on T=3, B=1."""
    dense0 = Dense(np.array([[1, 1], [1, -1], [2, 0]], np.int8), None, 3, 6)
    neuron = Neuron(np.array([[1, 1], [1, 0], [0, -1]], np.int8), np.array([[0, 1], [2, 0], [0, 3]], np.int8),
                    np.array([1, 1, -20], np.int8), 1, 3, 8)
    dense1 = Dense(np.array([[1, 1, 0], [0, 1, 1]], np.int8), np.array([1, 0], np.int8), 2, 6)
    model = IntegerModel(TensorSpec("spike", 1, 2), 3, (dense0, neuron, dense1, Readout(8)))
    x = np.array([[[1, 0]], [[1, 1]], [[0, 0]]], np.int8)
    return model, x, run(model, x)


def counts(model, trace, index, convention="exact"):
    ops = layer_ops(model, index, trace, convention)
    return {k: v.tolist() for k, v in ops.per_step.items() if v.any()}


def test_event_driven_dense(small):
    model, _, trace = small
    assert counts(model, trace, 0) == {
        "add": [3, 6, 0], "weight_read": [3, 6, 0], "spikes_in": [1, 2, 0],
    }


def test_neuron_exact(small):
    """By hand. Currents X (dense 0): t0 [1, 1, 2], t1 [2, 0, 2], t2 [0, 0, 0].

    coef = sign << shift: ch0 [1, 2], ch1 [4, 0], ch2 [0, -8]; H[t] = coef[0] X[t] + coef[1] X[t - 1]:
    ch0 1, 4, 4 (theta 1: spikes 1, 1, 1); ch1 4, 0, 0 (theta 1: 1, 0, 0); ch2 0, -16, -16 (theta -20: 1, 1, 1).
    Non-zero taps inside the sequence: t0 only tap 0 of ch0, ch1 (ch2's tap 0 has sign 0) = 2; then 2 + 1 + 1 = 4.
    Non-zero shifts among them: t0 ch1 tap 0 (<<2) = 1; then also ch0 tap 1 (<<1) and ch2 tap 1 (<<3) = 3.
    """
    model, _, trace = small
    assert counts(model, trace, 1) == {
        "add": [2, 4, 4], "shift": [1, 3, 3], "cmp": [3, 3, 3], "weight_read": [2, 4, 4],
        "param_read": [3, 3, 3], "buffer_read": [2, 4, 4], "buffer_write": [3, 3, 3],
        "spikes_in": [3, 2, 0], "spikes_out": [3, 2, 2],
    }


def test_neuron_literature(small):
    model, _, trace = small
    got = counts(model, trace, 1, "literature")
    # taps inside the sequence min(2, t + 1) = 1, 2, 2, for each of the 3 neurons
    assert got["add"] == got["shift"] == [3, 6, 6]
    assert got["cmp"] == [3, 3, 3]


def test_dense_with_bias_on_spikes_and_readout(small):
    """By hand. Spikes into dense 1: t0 [1, 1, 1], t1 [1, 0, 1], t2 [1, 0, 1] -> 3, 2, 2 events x 2 outputs.
    Its outputs (bias [1, 0]): t0 [3, 2], t1 [2, 1], t2 [2, 1]: 2 non-zero values per step into the readout."""
    model, _, trace = small
    assert counts(model, trace, 2) == {
        "add": [6, 4, 4], "weight_read": [6, 4, 4], "param_read": [2, 2, 2], "spikes_in": [3, 2, 2],
    }
    assert counts(model, trace, 3) == {"add": [2, 2, 2], "spikes_in": [2, 2, 2]}
    assert trace.predictions().tolist() == [0]  # readout at t2: [3 + 2 + 2, 2 + 1 + 1] = [7, 4]


def test_conv1d_by_hand():
    """int4 input, C_in 1, L 3, one time step x = [2, 0, -1]; weight [[[1, -1]]], padding 1, stride 1:
    L_out = 4, output o reads positions (o - 1, o): fanout [2, 2, 2]. Non-zero inputs at 0 and 2:
    2 + 2 = 4 terms (multiplications: the input is not binary). With stride 2, L_out = 2, o reads (2o - 1, 2o):
    fanout [1, 1, 1], so 2 terms; bias [5]: one bias read per output position."""
    x = np.array([[[2, 0, -1]]], np.int8)
    spec = TensorSpec("int", 4, 1, 3)
    conv = Conv1d(np.array([[[1, -1]]], np.int8), None, 2, 8, stride=1, padding=1)
    assert counts(IntegerModel(spec, 1, (conv,)), run(IntegerModel(spec, 1, (conv,)), x), 0) == {
        "add": [4], "mul": [4], "weight_read": [4], "spikes_in": [2],
    }
    strided = IntegerModel(spec, 1, (Conv1d(np.array([[[1, -1]]], np.int8), np.array([5], np.int8), 2, 8,
                                            stride=2, padding=1),))
    assert counts(strided, run(strided, x), 0) == {
        "add": [2], "mul": [2], "weight_read": [2], "param_read": [2], "spikes_in": [2],
    }


def test_sumpool_by_hand():
    """L 5, window 2: positions 0-3 fill two windows, position 4 is dropped. x = [1, 0, 3, 0, 7]:
    non-zero inside a window at 0 and 2 -> 2 adds; 3 non-zero inputs in all."""
    model = IntegerModel(TensorSpec("int", 4, 1, 5), 1, (SumPool(2, 8),))
    x = np.array([[[1, 0, 3, 0, 7]]], np.int8)
    assert counts(model, run(model, x), 0) == {"add": [2], "spikes_in": [3]}


def test_literature_energy_by_hand(small):
    model, x, _ = small
    report = build_report(model, x, load_table("literature"), "hand")
    neuron = report.layers[1]
    # 15 taps x (0.13 shift + 0.9 add) + 9 thresholds x 0.9
    assert neuron["energy_pj_per_sample"]["total"] == pytest.approx(15 * (0.13 + 0.9) + 9 * 0.9)
    # PSN: per neuron T^2 = 9 fp mults (3.7) and T^2 + T = 12 fp adds (0.9); 3 neurons
    assert neuron["compare_pj_per_sample"]["psn"] == pytest.approx(3 * (9 * 3.7 + 12 * 0.9))
    # multiplier per tap: the 15 shifts become 3.7 pJ multiplications
    assert neuron["compare_pj_per_sample"]["mul_taps"] == pytest.approx(15 * (3.7 + 0.9) + 9 * 0.9)


def test_psn_counts():
    literature = psn_ops(TensorSpec("int", 8, 4), steps=5, batch=2, convention="literature")
    assert literature.total("fp_mul") == 2 * 4 * 25 and literature.total("fp_add") == 2 * 4 * 30
    assert literature.total("weight_read") == literature.total("cmp") == 0
    exact = psn_ops(TensorSpec("int", 8, 4), steps=5, batch=2, convention="exact")
    assert exact.total("fp_mul") == 2 * 4 * 25 and exact.total("fp_add") == 2 * 4 * 30
    assert exact.total("weight_read") == exact.total("buffer_read") == 2 * 4 * 25
    assert exact.total("cmp") == exact.total("buffer_write") == exact.total("param_read") == 2 * 4 * 5


def test_multiplications_only_for_integer_input():
    dense = Dense(np.array([[1, 2]], np.int8), None, 3, 8)
    model = IntegerModel(TensorSpec("int", 4, 2), 2, (dense,))
    x = np.array([[[3, 0]], [[-1, 2]]], np.int8)
    assert counts(model, run(model, x), 0)["mul"] == [1, 2]


def test_conv_fanout():
    # L=3, K=2, padding 1, stride 1 -> outputs read (pos): o0:(-,0) o1:(0,1) o2:(1,2) o3:(2,-)
    assert conv_fanout(3, 4, 2, 1, 1).tolist() == [2, 2, 2]
    # stride 2 -> o0:(-,0) o1:(1,2)
    assert conv_fanout(3, 2, 2, 2, 1).tolist() == [1, 1, 1]
    assert conv_fanout(4, 1, 2, 2, 0).tolist() == [1, 1, 0, 0]


def _fanout_by_loops(length, l_out, ksize, stride, padding):
    """The definition: for every output position and kernel tap, the input position it reads."""
    fan = [0] * length
    for o in range(l_out):
        for j in range(ksize):
            if 0 <= o * stride + j - padding < length:
                fan[o * stride + j - padding] += 1
    return fan


@settings(max_examples=200)
@given(st.integers(1, 60), st.integers(1, 12), st.integers(1, 6), st.data())
def test_conv_fanout_matches_its_definition(length, ksize, stride, data):
    padding = data.draw(st.integers(0, ksize - 1))
    l_out = (length + 2 * padding - ksize) // stride + 1
    if l_out >= 1:
        assert conv_fanout(length, l_out, ksize, stride, padding).tolist() == _fanout_by_loops(
            length, l_out, ksize, stride, padding)


def test_conv_fanout_of_a_long_sequence():
    """L = 2^20, K = 1024: all interior positions are read K times (stride 1, padding K - 1)."""
    fan = conv_fanout(1 << 20, (1 << 20) + 1023, 1024, 1, 1023)
    assert fan.min() == fan.max() == 1024
