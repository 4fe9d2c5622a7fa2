"""Op counts against hand counts on small models."""

import numpy as np
import pytest

from shiftspike.sim import Dense, IntegerModel, Neuron, Readout, TensorSpec, run
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
    model, _, trace = small
    spikes = trace.outputs[1][:, 0].sum(axis=1).tolist()
    # non-zero taps inside the sequence: t=0 only tap 0 (ch0, ch1); then all 4 non-zero taps.
    # shifts: ch1 tap 0 (<<2) from t=0; ch0 tap 1 (<<1) and ch2 tap 1 (<<3) from t=1.
    currents = np.count_nonzero(trace.outputs[0][:, 0], axis=1).tolist()
    expected = {
        "add": [2, 4, 4], "shift": [1, 3, 3], "cmp": [3, 3, 3], "weight_read": [2, 4, 4],
        "param_read": [3, 3, 3], "buffer_read": [2, 4, 4], "buffer_write": [3, 3, 3], "spikes_in": currents,
    }
    if any(spikes):
        expected["spikes_out"] = spikes
    assert counts(model, trace, 1) == expected
    assert sum(spikes) > 0


def test_neuron_literature(small):
    model, _, trace = small
    got = counts(model, trace, 1, "literature")
    assert got["add"] == got["shift"] == [3, 6, 6]  # every tap inside the sequence, 3 neurons


def test_dense_with_bias_on_spikes_and_readout(small):
    model, _, trace = small
    events = trace.outputs[1][:, 0].astype(bool).sum(axis=1)
    got = counts(model, trace, 2)
    assert got["param_read"] == [2, 2, 2]  # one bias read per output per step
    assert got.get("add", [0, 0, 0]) == (2 * events).tolist()
    readout_in = np.count_nonzero(trace.outputs[2][:, 0], axis=1).tolist()
    assert counts(model, trace, 3).get("add", [0, 0, 0]) == readout_in


def test_literature_energy_by_hand(small):
    model, x, _ = small
    report = build_report(model, x, load_table("literature"), "hand")
    neuron = report["layers"][1]
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
