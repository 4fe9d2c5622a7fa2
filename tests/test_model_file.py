"""The model file: round trip, deterministic bytes, no pickle, and one clear error per defect."""

import json
import pickle

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from shiftspike.sim import ModelError, load, random_model, save
from shiftspike.sim.fileformat import LAYER_KEYS, META_KEY, TOP_KEYS, VERSION, from_bytes, to_bytes
from shiftspike.sim.model import SPEC_KEYS


def _rewrite(model, edit_meta=None, edit_tensors=None) -> bytes:
    """Bytes of ``model`` with its header and/or tensors edited (bypassing validation)."""
    data = to_bytes(model)
    size = int.from_bytes(data[:8], "little")
    meta = json.loads(json.loads(data[8 : 8 + size])["__metadata__"][META_KEY])
    tensors = st_load(data)
    if edit_meta:
        edit_meta(meta)
    if edit_tensors:
        edit_tensors(tensors)
    return st_save(tensors, metadata={META_KEY: json.dumps(meta)})


def _neuron_index(model):
    return model.neuron_layers()[0]


@pytest.mark.parametrize("seed", range(10))
def test_round_trip_is_identical(tmp_path, seed):
    model = random_model(seed)
    path = tmp_path / "m.ssm"
    save(model, path)
    again = load(path)
    assert to_bytes(again) == path.read_bytes()
    assert again.specs == model.specs
    for a, b in zip(model.layers, again.layers):
        assert a.params() == b.params()
        assert a.tensors().keys() == b.tensors().keys()
        for name in a.tensors():
            assert np.array_equal(a.tensors()[name], b.tensors()[name])
            assert a.tensors()[name].dtype == b.tensors()[name].dtype


def test_same_model_same_bytes():
    assert to_bytes(random_model(4)) == to_bytes(random_model(4))
    assert to_bytes(random_model(4)) != to_bytes(random_model(5))


class _Payload:
    """Unpickling this creates ``marker``: proof that a reader ran pickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


def test_pickle_payload_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Payload(marker))
    pickle.loads(payload)  # the payload works: unpickling it creates the marker
    assert marker.exists()
    marker.unlink()
    model = random_model(1)
    carriers = {
        "bare pickle": payload,
        "pickle after the header": to_bytes(model) + payload,
        "pickle as the metadata": st_save({}, metadata={META_KEY: payload.decode("latin-1")}),
        "pickle as a tensor": _rewrite(model, edit_tensors=lambda t: t.update(
            {"layers.0.pickle": np.frombuffer(payload, np.uint8).copy()})),
    }
    for name, data in carriers.items():
        path = tmp_path / f"{name}.ssm"
        path.write_bytes(data)
        with pytest.raises(ModelError):
            load(path)
        assert not marker.exists(), name
    written = to_bytes(model)
    assert b"\x80\x04\x95" not in written and b"numpy.core.multiarray" not in written


def _error(data: bytes) -> ModelError:
    with pytest.raises(ModelError) as info:
        from_bytes(data)
    return info.value


def test_truncated_file():
    data = to_bytes(random_model(2))
    for cut in (0, 5, 20, len(data) - 3):
        err = _error(data[:cut])
        assert err.field in ("file",), str(err)
        assert "truncated" in str(err) or "corrupt" in str(err)


def test_not_a_model_file():
    assert "not a shiftspike model" in str(_error(st_save({"a": np.zeros(2, np.int8)})))
    assert "not valid JSON" in str(_error(b"\x10\x00\x00\x00\x00\x00\x00\x00garbage-garbage!"))


def test_wrong_version():
    err = _error(_rewrite(random_model(2), edit_meta=lambda m: m.update(version=99)))
    assert err.field == "version" and "99" in str(err)


def test_wrong_format_name():
    assert _error(_rewrite(random_model(2), edit_meta=lambda m: m.update(format="other"))).field == "format"


def test_wrong_dtype():
    model = random_model(2)
    i = _neuron_index(model)

    def widen(t):
        t[f"layers.{i}.shift"] = t[f"layers.{i}.shift"].astype(np.int32)

    err = _error(_rewrite(model, edit_tensors=widen))
    assert err.field == f"layers[{i}].shift" and "dtype" in str(err)


def test_shift_out_of_range():
    model = random_model(2, shift_max=3)
    i = _neuron_index(model)

    def bump(t):
        t[f"layers.{i}.shift"] = t[f"layers.{i}.shift"].copy()
        t[f"layers.{i}.shift"][0, 0] = 9

    err = _error(_rewrite(model, edit_tensors=bump))
    assert err.field == f"layers[{i}].shift" and "9 out of range [0, 3]" in str(err)


def test_sign_out_of_range():
    model = random_model(2)
    i = _neuron_index(model)

    def bad(t):
        t[f"layers.{i}.sign"] = t[f"layers.{i}.sign"].copy()
        t[f"layers.{i}.sign"][0, 0] = 2

    assert _error(_rewrite(model, edit_tensors=bad)).field == f"layers[{i}].sign"


def test_width_too_small_for_weight():
    model = random_model(2, weight_width=8, conv=False)
    i = next(i for i, layer in enumerate(model.layers) if layer.type == "dense")

    def narrow(m):
        m["layers"][i]["weight_width"] = 3

    err = _error(_rewrite(model, edit_meta=narrow))
    assert err.field == f"layers[{i}].weight"


def test_theta_does_not_fit_accumulator():
    model = random_model(2)
    i = _neuron_index(model)

    def shrink(m):
        m["layers"][i]["acc_width"] = 2

    err = _error(_rewrite(model, edit_meta=shrink))
    assert err.field == f"layers[{i}].theta"


def test_impossible_width():
    model = random_model(2)

    def huge(m):
        m["layers"][0]["acc_width"] = 200

    err = _error(_rewrite(model, edit_meta=huge))
    assert err.field == "layers[0].acc_width" and "out of range" in str(err)


def test_wrong_shape():
    model = random_model(2, conv=False)
    i = next(i for i, layer in enumerate(model.layers) if layer.type == "dense")

    def cut(t):
        t[f"layers.{i}.weight"] = t[f"layers.{i}.weight"][:, :-1].copy()

    err = _error(_rewrite(model, edit_tensors=cut))
    assert err.field.startswith(f"layers[{i}].weight") and "shape" in str(err)


def test_missing_and_extra_tensors():
    model = random_model(2)
    i = _neuron_index(model)
    assert _error(_rewrite(model, edit_tensors=lambda t: t.pop(f"layers.{i}.theta"))).field == f"layers[{i}].theta"
    extra = _rewrite(model, edit_tensors=lambda t: t.update({"stowaway": np.zeros(1, np.int8)}))
    assert _error(extra).field == "stowaway"


def test_unknown_layer_type_and_overflow_mode():
    model = random_model(2)
    assert _error(_rewrite(model, edit_meta=lambda m: m["layers"][0].update(type="lstm"))).field == "layers[0].type"
    err = _error(_rewrite(model, edit_meta=lambda m: m["layers"][0].update(overflow="round")))
    assert err.field == "layers[0].overflow"


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        load(tmp_path / "absent.ssm")


@pytest.mark.parametrize("edit, field", [
    (lambda m: m["layers"][0].update(type=["dense"]), "layers[0].type"),
    (lambda m: m.update(version=True), "version"),
    (lambda m: m.update(version=1.0), "version"),
    (lambda m: m["layers"][0].update(has_bias="no"), "layers[0].has_bias"),
    (lambda m: m["layers"][0].update(acc_width="16"), "layers[0].acc_width"),
    (lambda m: m.update(layers=[]), "layers"),
    (lambda m: m.update(timesteps=-3), "timesteps"),
])
def test_wrong_header_types(edit, field):
    model = random_model(2, conv=False)
    assert _error(_rewrite(model, edit_meta=edit)).field.startswith(field)


def test_readout_in_the_middle():
    from shiftspike.sim import IntegerModel, Readout

    model = random_model(2, conv=False)
    with pytest.raises(ModelError, match="readout must be the last layer"):
        IntegerModel(model.input, 4, (Readout(8),) + model.layers[:-1])


def test_too_many_values_per_step():
    from shiftspike.sim import IntegerModel, Readout, TensorSpec

    with pytest.raises(ModelError, match="exceeds the limit") as info:
        IntegerModel(TensorSpec("int", 4, 1 << 20, 1 << 20), 8, (Readout(8),))
    assert info.value.field == "input"


def test_metadata_not_a_string():
    data = st_save({"a": np.zeros(1, np.int8)}, metadata={META_KEY: "{}"})
    size = int.from_bytes(data[:8], "little")
    header = data[8 : 8 + size].replace(b'"{}"', b'{  }', 1)
    assert _error(data[:8] + header + data[8 + size :]).field == "metadata"


def test_unsupported_tensor_dtype():
    data = to_bytes(random_model(2, input_kind="int", input_width=16, direct=True))
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    name = next(k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "I16")
    header[name]["dtype"] = "BF16"
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    err = _error(len(text).to_bytes(8, "little") + text + data[8 + size :])
    assert err.field == "file" and "unsupported" in str(err)


def _all_layer_types():
    """A model holding every layer type (conv1d, neuron, sumpool, dense, readout)."""
    for seed in range(200):
        model = random_model(seed, conv=True, head="dense")
        if {layer.type for layer in model.layers} == set(LAYER_KEYS):
            return model
    raise AssertionError("no seed gives every layer type")


def _header(data: bytes) -> dict:
    size = int.from_bytes(data[:8], "little")
    return json.loads(json.loads(data[8 : 8 + size])["__metadata__"][META_KEY])


def test_writer_writes_every_required_key():
    meta = _header(to_bytes(_all_layer_types()))
    assert sorted(meta) == sorted(TOP_KEYS) and meta["version"] == VERSION == 2
    assert sorted(meta["input"]) == sorted(SPEC_KEYS)
    for entry in meta["layers"]:
        assert sorted(entry) == sorted(LAYER_KEYS[entry["type"]])


def _key_cases():
    model = _all_layer_types()
    meta = _header(to_bytes(model))
    cases = [("top", None, key) for key in TOP_KEYS if key not in ("format", "version")]
    cases += [("input", None, key) for key in SPEC_KEYS]
    for i, entry in enumerate(meta["layers"]):
        cases += [("layer", i, key) for key in LAYER_KEYS[entry["type"]] if key != "type"]
    return cases


def _level(meta, level, index):
    return {"top": meta, "input": meta.get("input"), "layer": meta["layers"][index] if index is not None else None}[level]


@pytest.mark.parametrize("level, index, key", _key_cases())
def test_every_key_is_required(level, index, key):
    """No silent defaults: a layer without ``overflow`` (or ``padding``, ``stride``, ``has_bias``, ``length``...)
    is refused, naming the key."""
    err = _error(_rewrite(_all_layer_types(), edit_meta=lambda m: _level(m, level, index).pop(key)))
    assert str(err).endswith("missing (every key is required)") and err.field.endswith(f".{key}")


@pytest.mark.parametrize("level, index", [("top", None), ("input", None)] + [("layer", i) for i in range(5)])
def test_unknown_keys_are_refused_everywhere(level, index):
    err = _error(_rewrite(_all_layer_types(), edit_meta=lambda m: _level(m, level, index).update(comment="x")))
    assert err.field.endswith(".comment") and "unknown key" in str(err)


def test_spike_input_width_is_one():
    model = random_model(3, input_kind="spike")
    err = _error(_rewrite(model, edit_meta=lambda m: m["input"].update(width=4)))
    assert err.field == "input.width"


def test_version_1_files_read_with_the_same_meaning():
    model = _all_layer_types()
    again = from_bytes(_rewrite(model, edit_meta=lambda m: m.update(version=1)))
    assert to_bytes(again) == to_bytes(model)
    lacking = _rewrite(model, edit_meta=lambda m: (m.update(version=1), m["layers"][0].pop("overflow")))
    assert _error(lacking).field == "layers[0].overflow"


def test_too_many_layers():
    from shiftspike.sim import IntegerModel, SumPool, TensorSpec

    with pytest.raises(ModelError, match="more than the limit"):
        IntegerModel(TensorSpec("int", 4, 1, 1), 2, (SumPool(1, 8),) * 1025)


def test_not_a_regular_file(tmp_path):
    with pytest.raises(ModelError, match="is a directory"):
        load(tmp_path)
    with pytest.raises(ModelError, match="not a regular file"):
        load("/dev/zero")
