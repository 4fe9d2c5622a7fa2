"""The streaming simulator equals the whole-sequence one bit for bit, however the sequence is chunked, and
refuses bad input with one line, its state unchanged."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shiftspike.sim import InputError, Stream, random_input, random_model, run
from shiftspike.sim.errors import ShiftspikeError
from shiftspike.sim.model import INT, SPIKE


def concat(traces, layers):
    """The traces of consecutive chunks as one trace's fields: outputs, membranes, activity by layer."""
    outputs = [np.concatenate([t.outputs[i] for t in traces]) for i in range(layers)]
    membranes = {i: np.concatenate([t.membranes[i] for t in traces]) for i in traces[0].membranes}
    nonzero = [np.concatenate([t.activity[i].in_nonzero for t in traces]) for i in range(layers)]
    spikes = [None if traces[0].activity[i].out_spikes is None else
              np.concatenate([t.activity[i].out_spikes for t in traces]) for i in range(layers)]
    return outputs, membranes, nonzero, spikes


def assert_chunks_equal(expected, traces):
    """``traces`` (consecutive chunks) equal ``expected`` (one run): every value, dtype and shape."""
    layers = len(expected.outputs)
    outputs, membranes, nonzero, spikes = concat(traces, layers)
    for i in range(layers):
        e, g = expected.outputs[i], outputs[i]
        assert e.dtype == g.dtype and e.shape == g.shape, f"layer {i} output {g.dtype} {g.shape}"
        if not np.array_equal(e, g):
            t, b, f = np.argwhere(e != g)[0]
            raise AssertionError(f"layer {i} output differs first at t={t} b={b} f={f}: "
                                 f"expected {e[t, b, f]}, got {g[t, b, f]}")
        assert np.array_equal(expected.activity[i].in_nonzero, nonzero[i]), f"layer {i} in_nonzero differs"
        e_spikes = expected.activity[i].out_spikes
        assert (e_spikes is None) == (spikes[i] is None), f"layer {i} out_spikes presence differs"
        assert e_spikes is None or np.array_equal(e_spikes, spikes[i]), f"layer {i} out_spikes differs"
    assert expected.membranes.keys() == membranes.keys()
    for i, m in membranes.items():
        assert m.dtype == expected.membranes[i].dtype and np.array_equal(m, expected.membranes[i]), \
            f"layer {i} membrane differs"


def feed_chunks(stream, x, cuts, record):
    """Feed ``x`` cut at the sorted positions ``cuts`` (repeats give empty chunks); the chunks' traces."""
    bounds = [0, *cuts, x.shape[0]]
    return [stream.feed(x[a:b], record_membranes=record) for a, b in zip(bounds, bounds[1:])]


model_args = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32 - 1),
    "input_kind": st.sampled_from([SPIKE, INT]),
    "conv": st.sampled_from([None, True]),
    "taps": st.sampled_from([None, 1, 3]),
    "dilation": st.sampled_from([None, 1, 4]),
    "overflow": st.sampled_from(["wrap", "saturate"]),
    "narrow": st.sampled_from([None, True]),
    "direct": st.sampled_from([None, True]),
    "head": st.sampled_from([None, "readout"]),
})


@st.composite
def chunkings(draw, steps):
    """Cut positions in ``[0, steps]``: every step alone, the whole sequence, or anywhere (empty chunks
    included)."""
    kind = draw(st.sampled_from(["ones", "whole", "random"]))
    if kind == "ones":
        return list(range(1, steps))
    if kind == "whole":
        return []
    return sorted(draw(st.lists(st.integers(0, steps), max_size=6)))


@settings(max_examples=60)
@given(args=model_args, batch=st.integers(1, 3), steps=st.integers(1, 24), record=st.booleans(),
       bounded=st.booleans(), rate=st.sampled_from([0.0, 0.3, 1.0]), data=st.data())
def test_any_chunking_equals_run(args, batch, steps, record, bounded, rate, data):
    model = random_model(**args)
    x = random_input(model, batch=batch, timesteps=steps, rate=rate, seed=args["seed"] % 1000)
    cuts = data.draw(chunkings(steps), label="cuts")
    stream = Stream(model, batch, timesteps=steps if bounded else None)
    assert_chunks_equal(run(model, x, record_membranes=record), feed_chunks(stream, x, cuts, record))
    assert stream.t == steps


@settings(max_examples=10)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_reset_starts_a_new_sequence(seed, data):
    """After a partial first sequence, reset() makes the second equal to a run from step 0."""
    model = random_model(seed, taps=4, dilation=2)
    first, second = (random_input(model, batch=2, timesteps=9, rate=0.6, seed=s) for s in (seed, seed + 1))
    stream = Stream(model, 2)
    feed_chunks(stream, first[:data.draw(st.integers(1, 9))], [], False)
    stream.reset()
    assert stream.t == 0
    assert_chunks_equal(run(model, second, record_membranes=True),
                        feed_chunks(stream, second, data.draw(chunkings(9)), True))


def test_other_dtypes_and_strides_equal_the_storage_dtype():
    """bool and int64 chunks, and non-contiguous ones, are checked and converted as run does."""
    model = random_model(4, input_kind=SPIKE)
    x = random_input(model, batch=2, rate=0.5)
    expected = run(model, x)
    for variant in (x.astype(bool), x.astype(np.int64), np.repeat(x, 2, axis=0)[::2]):
        stream = Stream(model, 2)
        assert_chunks_equal(expected, [stream.feed(variant[:3]), stream.feed(variant[3:])])


def test_empty_chunk_is_an_empty_trace():
    model = random_model(6, conv=True)
    x = random_input(model, batch=2, rate=0.5)
    stream = Stream(model, 2)
    stream.feed(x[:2])
    empty = stream.feed(x[2:2], record_membranes=True)
    expected = run(model, x, record_membranes=True)
    assert [o.shape for o in empty.outputs] == [(0, *o.shape[1:]) for o in expected.outputs]
    assert [o.dtype for o in empty.outputs] == [o.dtype for o in expected.outputs]
    assert empty.membranes.keys() == expected.membranes.keys()
    assert stream.t == 2
    rest = stream.feed(x[2:])
    assert np.array_equal(rest.output, expected.output[2:])


def test_earlier_traces_are_never_overwritten():
    model = random_model(8)
    x = random_input(model, batch=2, timesteps=150, rate=0.5)
    stream = Stream(model, 2)
    traces = [stream.feed(x[t:t + 1]) for t in range(150)]
    assert_chunks_equal(run(model, x), traces)


def one_line_error(action, match):
    with pytest.raises(InputError, match=match) as info:
        action()
    assert isinstance(info.value, ShiftspikeError) and "\n" not in str(info.value)


@pytest.mark.parametrize("kind", [SPIKE, INT])
def test_bad_chunks_are_refused_and_change_nothing(kind):
    model = random_model(3, input_kind=kind, input_width=4)
    x = random_input(model, batch=2, timesteps=8, rate=0.5)
    lo, hi = model.input.value_range
    stream = Stream(model, 2, timesteps=8)
    traces = [stream.feed(x[:3])]
    too_big, too_small = x[3:5].copy(), x[3:5].copy()
    too_big[1, 1, 0], too_small[0, 0, -1] = hi + 1, lo - 1
    one_line_error(lambda: stream.feed(too_big), f"input value {hi + 1} outside")
    one_line_error(lambda: stream.feed(too_small), f"input value {lo - 1} outside")
    one_line_error(lambda: stream.feed(too_big.astype(np.int64)), f"input value {hi + 1} outside")
    one_line_error(lambda: stream.feed(x[3:5].astype(np.float32)), "not an integer or bool type")
    one_line_error(lambda: stream.feed(x[3]), "does not match")
    one_line_error(lambda: stream.feed(x[3:5, :, :-1]), "does not match")
    one_line_error(lambda: stream.feed(x[3:5, :1]), "batch 1 does not match")
    one_line_error(lambda: stream.feed(list(x[3:5])), "must be a NumPy array")
    one_line_error(lambda: stream.feed(np.concatenate([x[3:], x[:2]])), "holds 8 time steps")
    assert stream.t == 3
    traces.append(stream.feed(x[3:]))
    assert_chunks_equal(run(model, x), traces)
    one_line_error(lambda: stream.feed(x[:1]), "holds 8 time steps")
    stream.reset()
    assert_chunks_equal(run(model, x[:1]), [stream.feed(x[:1])])


def test_bad_sizes_are_refused():
    model = random_model(1)
    one_line_error(lambda: Stream(model, 0), "batch must be a positive integer")
    one_line_error(lambda: Stream(model, 2, timesteps=0), "timesteps must be")
    one_line_error(lambda: Stream(model, 2).reset(timesteps=2.5), "timesteps must be")
