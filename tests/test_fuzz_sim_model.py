"""Fuzzing the model loader: any byte string or header gives a model or one single-line ModelError, nothing else."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from shiftspike.sim import IntegerModel, ModelError, random_model
from shiftspike.sim.errors import ShiftspikeError
from shiftspike.sim.fileformat import META_KEY, from_bytes, to_bytes

MODELS = [to_bytes(random_model(seed, conv=seed % 2 == 0)) for seed in range(6)]


def _loads_or_refuses(data: bytes) -> None:
    """The contract: an IntegerModel, or a ModelError (a ShiftspikeError) whose text is one line."""
    try:
        model = from_bytes(data)
    except ModelError as exc:
        assert isinstance(exc, ShiftspikeError)
        text = str(exc)
        assert text and "\n" not in text and len(text) < 600, text
        return
    assert isinstance(model, IntegerModel)


def _parts(data: bytes) -> tuple[dict, dict]:
    size = int.from_bytes(data[:8], "little")
    return json.loads(json.loads(data[8 : 8 + size])["__metadata__"][META_KEY]), st_load(data)


def _with_header(data: bytes, text: str) -> bytes:
    return st_save(_parts(data)[1], metadata={META_KEY: text})


json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False,
                                                                                     allow_infinity=False) \
    | st.text(max_size=12) | st.sampled_from(["wrap", "saturate", "spike", "int", "dense", "neuron", "readout"])
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@settings(max_examples=300)
@given(st.sampled_from(MODELS), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
       st.integers(0, 10**6) | st.none())
def test_mutated_and_truncated_bytes(data, flips, cut):
    data = bytearray(data)
    for position, value in flips:
        data[position % len(data)] = value
    _loads_or_refuses(bytes(data[: None if cut is None else cut % (len(data) + 1)]))


def _paths(obj, prefix=()):
    """Every (container, key) pair of a parsed header, at every depth."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield obj, key
            yield from _paths(value, prefix + (key,))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield obj, i
            yield from _paths(value, prefix + (i,))


@settings(max_examples=400)
@given(st.sampled_from(MODELS), st.data())
def test_header_edits_at_every_level(data, draw):
    """Delete a key, replace a value by any JSON value (wrong types, long ints), or add an unknown key."""
    meta, tensors = _parts(data)
    places = list(_paths(meta))
    for _ in range(draw.draw(st.integers(1, 3))):
        container, key = draw.draw(st.sampled_from(places))
        action = draw.draw(st.sampled_from(["delete", "replace", "add"]))
        if action == "delete" and isinstance(container, dict) and key in container:
            del container[key]
        elif action == "replace" and key in (container if isinstance(container, dict) else range(len(container))):
            container[key] = draw.draw(json_values)
        elif action == "add" and isinstance(container, dict):
            container[draw.draw(st.text(min_size=1, max_size=8))] = draw.draw(json_values)
        places = list(_paths(meta))
        if not places:
            break
    _loads_or_refuses(st_save(tensors, metadata={META_KEY: json.dumps(meta)}))


@settings(max_examples=100)
@given(st.sampled_from(MODELS), st.integers(1, 100_000), st.sampled_from(["[", "{\"a\":", "[[{\"x\":"]))
def test_deep_nesting(data, depth, opener):
    closer = "".join({"[": "]", "{": "}"}[c] for c in opener if c in "[{")[::-1]
    meta, _ = _parts(data)
    deep = opener * depth + "1" + closer * depth
    meta_text = json.dumps(meta)
    _loads_or_refuses(_with_header(data, deep))
    _loads_or_refuses(_with_header(data, meta_text.replace('"layers":', f'"layers": {deep}, "x":', 1)))


@settings(max_examples=100)
@given(st.sampled_from(MODELS), st.integers(20, 100_000), st.sampled_from(["timesteps", "acc_width", "width"]))
def test_long_integers(data, digits, key):
    meta, _ = _parts(data)
    text = json.dumps(meta)
    long = "9" * digits
    _loads_or_refuses(_with_header(data, text.replace(f'"{key}": ', f'"{key}": {long}', 1)))


@settings(max_examples=150)
@given(st.sampled_from(MODELS), st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_arbitrary_metadata_text(data, text):
    _loads_or_refuses(_with_header(data, text))


@settings(max_examples=100)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data):
    _loads_or_refuses(data)
    _loads_or_refuses(len(data).to_bytes(8, "little") + data)


@pytest.mark.parametrize("key", ["overflow", "acc_width", "type"])
def test_huge_values_give_short_messages(key):
    data = MODELS[0]
    meta, _ = _parts(data)
    meta["layers"][0][key] = "x" * 100_000
    with pytest.raises(ModelError) as info:
        from_bytes(_with_header(data, json.dumps(meta)))
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_in_header(token):
    data = MODELS[0]
    text = json.dumps(_parts(data)[0]).replace('"timesteps": ', f'"timesteps": {token}, "t": ', 1)
    with pytest.raises(ModelError, match="metadata: .*not"):
        from_bytes(_with_header(data, text))
