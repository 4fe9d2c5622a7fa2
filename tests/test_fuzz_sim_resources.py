"""The memory estimate covers what the simulators and the report really allocate.

Peaks are measured with tracemalloc (NumPy reports its array allocations to it) after a warm-up run of the
same model, so Numba's compilation is not measured. Arrays Numba allocates inside a kernel are not traced;
the estimate counts them from the kernel's block sizes.
"""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shiftspike.sim import IntegerModel, InputError, Neuron, Stepper, TensorSpec, random_input, random_model, run
from shiftspike.sim.energy import load_table
from shiftspike.sim.engine import check_resources, run_bytes
from shiftspike.sim.errors import ResourceError, ShiftspikeError
from shiftspike.sim.report import build_report


def _peak(action) -> int:
    """Peak bytes traced while ``action()`` runs, above what was allocated before."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        action()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _neuron_model(channels: int, length: int, taps: int, dilation: int, kind: str = "int") -> IntegerModel:
    rng = np.random.default_rng(0)
    sign = rng.choice(np.array([-1, 0, 1], np.int8), size=(channels, taps))
    shift = rng.integers(0, 3, size=(channels, taps)).astype(np.int8)
    neuron = Neuron(sign, shift, np.zeros(channels, np.int32), dilation, 2, 24)
    width = 1 if kind == "spike" else 4
    return IntegerModel(TensorSpec(kind, width, channels, length), 4, (neuron,))


def _measured(model, steps, batch, mode) -> int:
    x = random_input(model, batch=batch, timesteps=steps, rate=0.5)
    warm = random_input(model, batch=batch, timesteps=1, rate=0.5)
    table = load_table("horowitz45")
    actions = {
        "run": lambda inp: run(model, inp, record_membranes=True),
        "step": lambda inp: Stepper(model, batch).run(inp, record_membranes=True),
        "report": lambda inp: build_report(model, inp, table, "test").to_json(),
    }
    actions[mode](warm)
    return _peak(lambda: actions[mode](x))


@pytest.mark.parametrize("channels, length", [(1024, 1), (1, 1024)])
def test_no_per_batch_copy_of_a_neurons_taps(channels, length):
    """1024 taps x 1024 positions: the taps were copied per position and tiled per sample (8 GB at B=1024)."""
    model = _neuron_model(channels, length, taps=1024, dilation=1)
    peak = _measured(model, 2, 16, "run")
    assert peak <= run_bytes(model, 2, 16, record_membranes=True)
    assert peak < 16 * 1024 * 1024 * 4 / 2  # far below one tiled int32 copy of the taps


def test_step_history_is_sized_by_the_run():
    """Dilation 4096 and 1024 taps: a depth of 4,190,209 rows, but a run of T=3 needs 3."""
    model = _neuron_model(8, 1, taps=1024, dilation=4096, kind="spike")
    peak = _measured(model, 3, 2, "step")
    assert peak <= run_bytes(model, 3, 2, record_membranes=True, step=True)
    assert peak < 4_190_209 * 2 * 8 / 4


@settings(max_examples=25)
@given(st.integers(0, 10_000), st.sampled_from(["run", "step", "report"]), st.integers(1, 64), st.integers(1, 16))
def test_estimate_covers_the_peak(seed, mode, steps, batch):
    model = random_model(seed)
    assert _measured(model, steps, batch, mode) <= run_bytes(model, steps, batch, record_membranes=True,
                                                             step=mode == "step")


def test_check_resources_refuses_beyond_the_available_memory():
    model = random_model(1)
    need = check_resources(model, 8, 4, available=10**12)
    assert need == run_bytes(model, 8, 4)
    for step in (False, True):
        with pytest.raises(ResourceError) as info:
            check_resources(model, 8, 4, record_membranes=True, step=step, available=need // 2)
        assert isinstance(info.value, ShiftspikeError) and "\n" not in str(info.value)
        assert "GiB" in str(info.value) and "T=8 x B=4" in str(info.value)


def test_huge_requests_are_refused_by_the_estimate():
    model = _neuron_model(1024, 1, taps=1024, dilation=4096)
    with pytest.raises(ResourceError):
        check_resources(model, 2**20, 1024, step=True, available=2**40)


def test_stepper_refuses_steps_beyond_its_size():
    model = random_model(2)
    x = random_input(model, batch=2, timesteps=4)
    stepper = Stepper(model, 2, timesteps=3)
    for t in range(3):
        stepper.step(x[t])
    with pytest.raises(InputError, match="holds 3 time steps"):
        stepper.step(x[3])
    stepper.reset()
    stepper.step(x[0])


def test_unbounded_stepper_matches_run():
    model = random_model(7, taps=5, dilation=3)
    x = random_input(model, batch=2, timesteps=20, rate=0.5)
    stepper = Stepper(model, 2)
    steps = [stepper.step(x[t]).output[0] for t in range(20)]
    assert np.array_equal(np.stack(steps), run(model, x).output)


def _random_input_in_one_call(model, batch, timesteps, rate, seed):
    """The definition of :func:`random_input`: every draw for the whole [T, B, F] at once."""
    rng = np.random.default_rng(seed)
    shape = (timesteps, batch, model.input.features)
    active = rng.random(shape) < rate
    lo, hi = model.input.value_range
    if model.input.kind == "spike":
        values = np.ones(shape, np.int64)
    else:
        values = rng.integers(lo, hi, size=shape, endpoint=True)
        values[values == 0] = hi
    return np.where(active, values, 0).astype(model.input.dtype)


@settings(max_examples=40)
@given(st.integers(0, 1000), st.integers(1, 6), st.integers(1, 9), st.sampled_from([0.0, 0.2, 0.5, 1.0]))
def test_random_input_step_by_step_is_the_same_draw(seed, batch, steps, rate):
    model = random_model(seed)
    got = random_input(model, batch=batch, timesteps=steps, rate=rate, seed=seed)
    want = _random_input_in_one_call(model, batch, steps, rate, seed)
    assert got.dtype == want.dtype and np.array_equal(got, want)
