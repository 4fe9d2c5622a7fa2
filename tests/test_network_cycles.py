"""The whole-network cycle model (sim/network_cycles.py): engine costs, lane balancing, the schedule.

The RTL is measured against this model by the cocotb tests (cocotb_tests/test_network.py); here the model
itself is pinned down on cases worked out by hand from the rules in its docstring, and its invariants are
checked on random models."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shiftspike.sim import Dense, IntegerModel, Readout, TensorSpec, random_input, random_model, run
from shiftspike.sim.cycles import LATENCY
from shiftspike.sim.network_cycles import (EngineTiming, layer_events, performance, plan_network, sample_cycles,
                                           schedule)


def dense_readout(features_in=3, features_out=2, kind="spike", width=1, timesteps=2) -> IntegerModel:
    weight = np.arange(features_out * features_in).reshape(features_out, features_in) % 5 - 2
    layers = (Dense(weight.astype(np.int8), None, 8, 12), Readout(14))
    return IntegerModel(TensorSpec(kind, width, features_in), timesteps, layers)


def test_engine_costs_named_cases():
    synapse = EngineTiming(0, "synapse", lanes=2, cap=5, groups=3, taps=2, bits=4, inputs=9)
    assert synapse.cost(0) == 1  # no event: start, then done
    assert synapse.cost(1) == 1 * 2 * 3 * 4 + 2  # ops, then the weight read and the last add
    assert synapse.worst_cost == 9 * 2 * 3 * 4 + 2
    assert EngineTiming(1, "sumpool", 1, 1, 1, 1, 1, 6).cost(5) == 6
    assert EngineTiming(2, "neuron", 4, 10, 3, 1, 1, 10).cost(7) == 3 + LATENCY + 1
    assert EngineTiming(3, "readout", 1, 1, 1, 1, 1, 10).cost(10) == 1


def test_bit_serial_only_for_integer_input_of_the_shift_variant():
    ints = dense_readout(kind="int", width=6)
    assert plan_network(ints, 1, "shift").engines[0].bits == 6
    assert plan_network(ints, 1, "mul").engines[0].bits == 1
    assert plan_network(dense_readout(), 1, "shift").engines[0].bits == 1


def test_schedule_worked_by_hand():
    """dense (2 outputs on 1 lane: G = 2, spike input) -> readout, T = 2, one sample with 1 then 0 events.

    u=0: H=0; dense S=1, cost 1*1*2*1+2=4, D=5, P=6; readout S=7, D=8, P=9.
    u=1: H=max(1, D0(0)+1=6)=6; dense S=max(H+1=7, P0(0)+1=7)=7, cost 1 (no event), D=8,
         P=max(9, D1(0)+1=9)=9; readout S=max(10, 10)=10, D=11, P=max(12, no earlier output)=12; Q=13."""
    model = dense_readout()
    plan = plan_network(model, [1, 1])
    events = np.array([[[1, 0]], [[2, 1]]])
    s = schedule(plan, events)
    assert s.in_cycles.tolist() == [0, 6]
    assert s.publish.tolist() == [[6, 9], [9, 12]]
    assert s.out_cycles.tolist() == [13]
    assert s.latency.tolist() == [13]


def test_a_second_sample_waits_for_the_first_output_beat_only_at_its_last_step():
    model = dense_readout(timesteps=1)
    plan = plan_network(model, [2, 1])
    events = np.zeros((2, 3, 1), np.int64)
    s = schedule(plan, events)
    assert np.all(np.diff(s.out_cycles) > 0)
    assert sample_cycles(plan, events).tolist() == [s.latency[0]] * 3


def test_balancing_meets_the_target_with_the_fewest_lanes():
    model = random_model(3)
    plan = plan_network(model, 4)
    laned = [e for e in plan.engines if e.engine in ("synapse", "neuron")]
    target = max(e.worst_cost for e in plan_network(model, [4] * len(model.layers)).engines
                 if e.engine in ("synapse", "neuron"))
    for e in laned:
        assert e.worst_cost <= target or e.lanes == e.cap
        if e.lanes > 1:
            fewer = plan_network(model, [e.lanes - 1 if i == e.index else 1 for i in range(len(model.layers))])
            assert fewer.engines[e.index].worst_cost > target


def test_explicit_lanes_are_capped_and_counted():
    model = dense_readout(features_out=2)
    assert plan_network(model, [9, 9]).lanes == (2, 1)
    with pytest.raises(ValueError, match="3 values given for 2 layers"):
        plan_network(model, [1, 1, 1])
    with pytest.raises(ValueError, match="at least 1"):
        plan_network(model, 0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), lanes=st.integers(1, 8), samples=st.integers(1, 3))
def test_schedule_invariants_on_random_models(seed, lanes, samples):
    model = random_model(seed)
    x = random_input(model, batch=samples, seed=seed)
    plan = plan_network(model, lanes)
    events = layer_events(model, x, run(model, x).outputs)
    assert events.shape == (len(model.layers), samples, model.timesteps)
    s = schedule(plan, events)
    steps = model.timesteps
    assert s.in_cycles[0] == 0 and np.all(np.diff(s.in_cycles) >= 1)
    assert np.all(np.diff(s.publish, axis=1) >= 1)
    # a layer publishes a step after the layer before it did (start, at least one cycle of work, publish)
    assert np.all(s.publish[0] >= s.in_cycles + 3)
    assert np.all(s.publish[1:] >= s.publish[:-1] + 3)
    assert np.array_equal(s.out_cycles, s.publish[-1, steps - 1::steps] + 1)
    figures = performance(plan, events, 50.0)
    assert figures["latency_us"] == pytest.approx(figures["cycles_per_sample"] / 50.0)
    assert figures["max_cycles_per_sample"] >= figures["cycles_per_sample"]


def test_balancing_on_sample_activity_meets_the_mean_target():
    model = random_model(3)
    x = random_input(model, batch=4, seed=3, rate=0.1)
    events = layer_events(model, x, run(model, x).outputs)
    plan = plan_network(model, 4, events=events)
    target = max(e.mean_cost(events[e.index]) for e in plan_network(model, [4] * len(model.layers)).engines
                 if e.engine in ("synapse", "neuron"))
    for e in plan.engines:
        if e.engine in ("synapse", "neuron"):
            assert e.mean_cost(events[e.index]) <= target or e.lanes == e.cap
    with pytest.raises(ValueError, match="layers given"):
        plan_network(model, 4, events=events[1:])
