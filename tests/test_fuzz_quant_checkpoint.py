"""Hostile checkpoints: truncated, mutated pickle streams, fields of the wrong type, shape or range.

Whatever the bytes, ``checkpoint.load`` returns a validated checkpoint or raises one
one-line ``CheckpointError`` that never advises loading the file unsafely; a checkpoint
it accepts is restored into a fresh training state, or refused there with the same error.
"""

import functools
import io
import tempfile
import zipfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shiftspike.quant import checkpoint, config, train
from shiftspike.quant.checkpoint import CheckpointError
from shiftspike.quant.data import input_info
from shiftspike.quant.network import SpikingNetwork

RAW_CONFIG = {
    "data": {"name": "digits"},
    "model": {"taps": 2, "impl": "conv1d", "layers": [{"type": "dense", "features": 4}, {"type": "neuron"},
                                                      {"type": "dense", "features": 10}, {"type": "readout"}]},
    "train": {"epochs": 3},
}
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parts():
    """``(cfg, info, net, optimizer, scheduler)`` of a tiny network after one optimizer step."""
    cfg = config.validate(RAW_CONFIG)
    info = input_info("digits")
    torch.manual_seed(0)
    net = SpikingNetwork(cfg.model, info)
    optimizer = train._optimizer(cfg, net)
    scheduler = train._scheduler(cfg, optimizer)
    net.logits(torch.rand(info.timesteps, 3, info.channels, info.length)).sum().backward()
    optimizer.step()
    scheduler.step()
    return cfg, info, net, optimizer, scheduler


@functools.lru_cache(maxsize=1)
def valid_bytes() -> bytes:
    cfg, info, net, optimizer, scheduler = _parts()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / checkpoint.FILENAME
        checkpoint.save(path, cfg, info, 10, 1, net.state_dict(), optimizer.state_dict(), scheduler.state_dict())
        return path.read_bytes()


def payload() -> dict:
    return torch.load(io.BytesIO(valid_bytes()), weights_only=True)


def load_bytes(data: bytes):
    """``checkpoint.load`` of ``data`` in a fresh folder, then the restore of a resume; asserts the error
    contract and returns the loaded checkpoint, or None when it was refused."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / checkpoint.FILENAME
        path.write_bytes(data)
        try:
            result = checkpoint.load(path)
            _, _, net, optimizer, scheduler = _parts()
            train._restore(path, result[0], net, optimizer, scheduler)
        except CheckpointError as error:
            text = str(error)
            assert "\n" not in text and text.startswith(str(path))
            assert "weights_only" not in text and "allow_pickle" not in text
            return None
    return result


def saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def rezipped(data: bytes, mutate) -> bytes:
    """``data`` (a torch zip) with its pickle stream ``data.pkl`` replaced by ``mutate(stream)``, CRCs valid."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        entries = {info.filename: z.read(info) for info in z.infolist()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, content in entries.items():
            z.writestr(name, mutate(content) if name.endswith("/data.pkl") else content)
    return out.getvalue()


def test_the_valid_checkpoint_loads():
    result = load_bytes(valid_bytes())
    assert result is not None and result[0]["epoch"] == 1


@FUZZ
@given(st.data())
def test_mutated_pickle_streams_are_one_line_errors(data):
    def mutate(stream: bytes) -> bytes:
        stream = bytearray(stream)
        for _ in range(data.draw(st.integers(1, 4))):
            at = data.draw(st.integers(0, len(stream) - 1))
            action = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
            if action == "flip":
                stream[at] = data.draw(st.integers(0, 255))
            elif action == "insert":
                stream[at:at] = data.draw(st.binary(min_size=1, max_size=8))
            elif action == "delete":
                del stream[at:at + data.draw(st.integers(1, 8))]
            else:
                del stream[at:]
            if not stream:
                break
        return bytes(stream)

    load_bytes(rezipped(valid_bytes(), mutate))


@FUZZ
@given(cut=st.integers(0, 10**9), flips=st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)),
                                                  max_size=3))
def test_truncated_and_corrupted_files_are_one_line_errors(cut, flips):
    data = bytearray(valid_bytes()[: cut % (len(valid_bytes()) + 1)])
    for at, value in flips:
        if data:
            data[at % len(data)] = value
    assert load_bytes(bytes(data)) is None or bytes(data) == valid_bytes()


PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4) | st.integers(-2, 20), inner,
                                                                max_size=3),
    max_leaves=8,
)
TENSORS = st.builds(
    lambda shape, dtype, fill: torch.full(shape, fill).to(dtype),
    st.lists(st.integers(0, 5), max_size=3).map(tuple),
    st.sampled_from([torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool]),
    st.sampled_from([0.0, 1.0, -3.0, float("nan"), float("inf")]),
)
VALUES = PLAIN | TENSORS


def _paths(obj, prefix=()):
    """Every key path into nested dicts and lists of ``obj``."""
    yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            yield from _paths(value, (*prefix, index))


def _replace(obj, path, value):
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        return {**obj, head: _replace(obj[head], rest, value)}
    items = list(obj)
    items[head] = _replace(items[head], rest, value)
    return type(obj)(items) if isinstance(obj, tuple) else items


@FUZZ
@given(st.data())
def test_fields_of_any_type_shape_or_range_are_one_line_errors(data):
    obj = payload()
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(obj))
        path = data.draw(st.sampled_from(paths[1:]))
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        parent = functools.reduce(lambda o, k: o[k], path[:-1], obj)
        if action == "delete" and isinstance(parent, dict):
            obj = _replace(obj, path[:-1], {k: v for k, v in parent.items() if k != path[-1]})
        elif action == "add" and isinstance(parent, dict):
            obj = _replace(obj, path[:-1], {**parent, data.draw(st.text(max_size=6)): data.draw(VALUES)})
        else:
            obj = _replace(obj, path, data.draw(VALUES))
    load_bytes(saved(obj))


def _with(**fields) -> dict:
    return {**payload(), **fields}


def _config_with_layers(*layers) -> dict:
    return {**payload()["config"], "model": {**payload()["config"]["model"], "layers": list(layers)}}


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


HUGE = [{"type": "dense", "features": 1 << 16}, {"type": "neuron"}, {"type": "dense", "features": 1 << 16},
        {"type": "neuron"}, {"type": "dense", "features": 10}, {"type": "readout"}]


@pytest.mark.parametrize("case, data, message", [
    ("empty", b"", "not a readable checkpoint"),
    ("truncated", None, "not a readable checkpoint"),
    ("unsafe", "evil", "never loaded"),
    ("negative epoch", _with(epoch=-2), "epoch -2 is not an integer in [0, 3]"),
    ("epoch beyond the config", _with(epoch=4), "epoch 4"),
    ("bool epoch", _with(epoch=True), "epoch True"),
    ("model not a dict", _with(model=[1, 2]), "model is not a dict"),
    ("model missing a tensor", "drop-weight", "names differ"),
    ("model tensor of another shape", "reshape-weight", "the config needs torch.float32"),
    ("absurd channel counts", _with(config=_config_with_layers(*HUGE)), "over the limit"),
    ("optimizer not a state dict", _with(optimizer={"state": 1}), "optimizer is not a dict"),
    ("optimizer groups out of order", "groups", "in order"),
    ("optimizer state of another shape", "state-shape", "parameter's shape"),
    ("scheduler of odd values", _with(scheduler={"last_epoch": "x"}), "scheduler"),
    ("rng of another size", _with(rng=torch.zeros(7, dtype=torch.uint8)), "rng is not a torch.uint8"),
    ("classes", _with(classes=11), "classes 11"),
    ("input fields", _with(input={"kind": "int"}), "input is not a dict"),
    ("input values", _with(input={**payload()["input"], "width": 0}), "input width 0"),
    ("lax config", _with(config={**payload()["config"], "train": {"epochs": "3"}}), "train.epochs"),
    ("unknown key", _with(extra=1), "unknown 'extra'"),
    ("version", _with(version="1"), "checkpoint version '1'"),
])
def test_bad_checkpoints_name_their_problem(case, data, message):
    if data is None:
        data = valid_bytes()[: len(valid_bytes()) // 2]
    elif data == "evil":
        data = saved({"x": _Evil()})
    elif isinstance(data, str):
        obj = payload()
        weight = "layers.0.weight"
        if data == "drop-weight":
            obj["model"] = {k: v for k, v in obj["model"].items() if k != weight}
        elif data == "reshape-weight":
            obj["model"] = {**obj["model"], weight: torch.zeros(3, 3)}
        elif data == "groups":
            obj["optimizer"]["param_groups"][0]["params"].reverse()
        else:
            obj["optimizer"]["state"][0]["exp_avg"] = torch.zeros(2, 2)
        data = saved(obj)
    elif isinstance(data, dict):
        data = saved(data)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.pt"
        path.write_bytes(data)
        with pytest.raises(CheckpointError) as caught:
            checkpoint.load(path)
    text = str(caught.value)
    assert message in text, text
    assert "\n" not in text and "weights_only" not in text and "allow_pickle" not in text
