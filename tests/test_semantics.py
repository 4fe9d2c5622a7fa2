"""Hand-computed examples of docs/semantics.md, run through all three simulators."""

import numpy as np
import pytest

from shiftspike.sim import (
    Conv1d, Dense, IntegerModel, Neuron, Readout, Stepper, SumPool, TensorSpec, run, run_reference,
)
from shiftspike.sim.fixed import apply_overflow, saturate, width_for_range, wrap


def outputs(model, x):
    """Output of the last layer from every simulator; they must agree."""
    x = np.asarray(x, model.input.dtype)
    results = [run_reference(model, x), run(model, x, record_membranes=True),
               Stepper(model, x.shape[1]).run(x, record_membranes=True)]
    for r in results[1:]:
        for a, b in zip(results[0].outputs, r.outputs):
            assert np.array_equal(a, b)
    return results[0]


def neuron_model(sign, shift, theta, dilation, acc_width, overflow, in_width=4):
    c = len(theta)
    layer = Neuron(np.array(sign, np.int8).reshape(c, -1), np.array(shift, np.int8).reshape(c, -1),
                   np.array(theta, np.int64).astype(np.dtype(f"int{8 if acc_width <= 8 else 16}")),
                   dilation, int(np.max(shift)), acc_width, overflow)
    return IntegerModel(TensorSpec("int", in_width, c), 8, (layer,))


def test_dilated_taps_and_threshold():
    # H[t] = x[t] - (x[t-2] << 1) + (x[t-4] << 2); S = H >= 3
    model = neuron_model([1, -1, 1], [0, 1, 2], [3], dilation=2, acc_width=8, overflow="wrap")
    trace = outputs(model, [[[1]], [[2]], [[3]], [[4]], [[5]]])
    assert trace.membranes[0][:, 0, 0].tolist() == [1, 2, 1, 0, 3]
    assert trace.outputs[0][:, 0, 0].tolist() == [0, 0, 0, 0, 1]


def test_negative_input_shifts_arithmetically():
    model = neuron_model([1], [3], [0], dilation=1, acc_width=8, overflow="wrap")
    trace = outputs(model, [[[-3]], [[-8]]])
    assert trace.membranes[0][:, 0, 0].tolist() == [-24, -64]


@pytest.mark.parametrize("overflow, expected", [("wrap", [-4, 0]), ("saturate", [7, -8])])
def test_overflow_modes_and_addition_order(overflow, expected):
    # taps (+x << 2) then (-x << 2) on a constant 7, 4-bit accumulator [-8, 7]:
    # t=0: 28 -> wrap -4 | saturate 7; t=1: 28 - 28 -> wrap 0 | saturate: 7 - 28 -> -8
    model = neuron_model([1, -1], [2, 2], [0], dilation=1, acc_width=4, overflow=overflow)
    trace = outputs(model, [[[7]], [[7]]])
    assert trace.membranes[0][:, 0, 0].tolist() == expected


def test_dense_with_bias_on_spikes():
    dense = Dense(np.array([[1, -2], [3, 0]], np.int8), np.array([1, -1], np.int8), 4, 8)
    model = IntegerModel(TensorSpec("spike", 1, 2), 2, (dense,))
    trace = outputs(model, [[[1, 1]], [[0, 1]]])
    assert trace.outputs[0][:, 0].tolist() == [[0, 2], [-1, -1]]


def test_conv1d_zero_padding_and_stride():
    conv = Conv1d(np.array([[[1, 1]]], np.int8), None, 2, 8, stride=1, padding=1)
    model = IntegerModel(TensorSpec("int", 4, 1, 3), 1, (conv,))
    assert outputs(model, [[[1, 2, 3]]]).outputs[0][0, 0].tolist() == [1, 3, 5, 3]
    strided = Conv1d(np.array([[[1, 1]]], np.int8), None, 2, 8, stride=2, padding=1)
    model = IntegerModel(TensorSpec("int", 4, 1, 3), 1, (strided,))
    assert outputs(model, [[[1, 2, 3]]]).outputs[0][0, 0].tolist() == [1, 5]


def test_sumpool_drops_incomplete_window():
    model = IntegerModel(TensorSpec("int", 4, 1, 5), 1, (SumPool(2, 6),))
    assert outputs(model, [[[1, 2, 3, 4, 5]]]).outputs[0][0, 0].tolist() == [3, 7]


def test_readout_running_sum_and_ties():
    model = IntegerModel(TensorSpec("int", 4, 3), 3, (Readout(8),))
    trace = outputs(model, [[[1, 2, 2]], [[1, 0, 0]], [[0, 0, 0]]])
    assert trace.outputs[0][:, 0].tolist() == [[1, 2, 2], [2, 2, 2], [2, 2, 2]]
    assert trace.predictions().tolist() == [0]


def test_readout_saturates_each_step():
    model = IntegerModel(TensorSpec("int", 4, 1), 4, (Readout(4, "saturate"),))
    trace = outputs(model, [[[7]], [[7]], [[-8]], [[-8]]])
    assert trace.outputs[0][:, 0, 0].tolist() == [7, 7, -1, -8]


def test_neuron_shares_parameters_over_positions():
    """Each spatial position of a channel is its own neuron with the channel's taps."""
    layer = Neuron(np.array([[1, 1]], np.int8), np.array([[0, 1]], np.int8), np.array([2], np.int8), 1, 1, 8)
    model = IntegerModel(TensorSpec("int", 4, 1, 2), 2, (layer,))
    trace = outputs(model, [[[1, 0]], [[0, 1]]])
    assert trace.membranes[0][:, 0].tolist() == [[1, 0], [2, 1]]
    assert trace.outputs[0][:, 0].tolist() == [[0, 0], [1, 0]]


@pytest.mark.parametrize("value, width, wrapped, saturated", [
    (7, 4, 7, 7), (8, 4, -8, 7), (-9, 4, 7, -8), (28, 4, -4, 7), (-1, 2, -1, -1), (2, 2, -2, 1),
])
def test_fixed_point_edges(value, width, wrapped, saturated):
    assert wrap(value, width) == wrapped
    assert saturate(value, width) == saturated
    assert apply_overflow(np.array([value]), width, "wrap").tolist() == [wrapped]
    assert apply_overflow(np.array([value]), width, "saturate").tolist() == [saturated]


@pytest.mark.parametrize("lo, hi, width", [(0, 0, 1), (-1, 0, 1), (0, 1, 2), (-8, 7, 4), (-9, 7, 5), (0, 8, 5)])
def test_width_for_range(lo, hi, width):
    assert width_for_range(lo, hi) == width
