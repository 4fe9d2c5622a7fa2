"""The integer-model file: safetensors with one JSON header entry, no pickle.

Layout (``*.ssm``, any name works): a standard safetensors file whose
``__metadata__`` holds a single key ``"shiftspike"`` with canonical JSON
(sorted keys, no spaces)::

    {"format": "shiftspike.integer-model", "version": 2, "timesteps": T,
     "input": {"kind": "int", "width": 8, "channels": 1, "length": 8},
     "layers": [{"type": "dense", "weight_width": 8, "acc_width": 16,
                 "overflow": "wrap", "has_bias": true}, ...]}

and one tensor per layer array named ``layers.<i>.<name>`` (``weight``,
``bias``, ``sign``, ``shift``, ``theta``) stored in the smallest signed dtype
that holds the declared width. The same model always writes the same bytes.

Every key of the header is required and no other key is allowed, at every
level (:data:`TOP_KEYS`, ``model.SPEC_KEYS``, :data:`LAYER_KEYS`). Version 1
files are read by the same rules (their keys mean the same). Every problem on
load raises :class:`ModelError`, one line naming the field.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from .errors import FileFormatError
from .model import LAYER_TYPES, Conv1d, Dense, IntegerModel, ModelError, TensorSpec, check_keys, tensor_dtype
from .safe_io import parse_json, write_atomic

FORMAT = "shiftspike.integer-model"
VERSION = 2
#: Versions this build reads (version 1 holds the same keys with the same meaning).
READ_VERSIONS = (1, 2)
META_KEY = "shiftspike"
#: Keys of the header object, all required.
TOP_KEYS = ("format", "version", "timesteps", "input", "layers")
_ACC = ("acc_width", "overflow")
#: Keys of each layer object by type, all required.
LAYER_KEYS = {
    "dense": ("type", "weight_width", *_ACC, "has_bias"),
    "conv1d": ("type", "weight_width", *_ACC, "has_bias", "stride", "padding"),
    "sumpool": ("type", "window", *_ACC),
    "neuron": ("type", "dilation", "shift_max", *_ACC),
    "readout": ("type", *_ACC),
}


def _header(model: IntegerModel) -> dict:
    layers = []
    for layer in model.layers:
        entry = {"type": layer.type} | layer.params()
        if isinstance(layer, (Dense, Conv1d)):
            entry["has_bias"] = layer.bias is not None
        layers.append(entry)
    return {
        "format": FORMAT,
        "version": VERSION,
        "timesteps": model.timesteps,
        "input": model.input.to_json(),
        "layers": layers,
    }


def to_bytes(model: IntegerModel) -> bytes:
    """Serialize ``model`` to the file's bytes (deterministic)."""
    tensors = {
        f"layers.{i}.{name}": np.ascontiguousarray(array)
        for i, layer in enumerate(model.layers)
        for name, array in layer.tensors().items()
    }
    meta = json.dumps(_header(model), sort_keys=True, separators=(",", ":"))
    return st_save(tensors, metadata={META_KEY: meta})


def save(model: IntegerModel, path) -> None:
    """Write ``model`` to ``path`` atomically."""
    write_atomic(path, to_bytes(model))


def _parse(text, where: str):
    """JSON through the guarded parser; its one-line error becomes a :class:`ModelError` at ``where``."""
    try:
        return parse_json(text, where)
    except FileFormatError as exc:
        raise ModelError(where, str(exc).removeprefix(f"{where}: ")) from None


def _read_metadata(data: bytes) -> dict:
    if len(data) < 8:
        raise ModelError("file", "truncated: shorter than the 8-byte safetensors header length")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise ModelError("file", f"truncated: header declares {size} bytes, {len(data) - 8} present")
    try:
        header = _parse(data[8 : 8 + size], "file")
    except ModelError as exc:
        raise ModelError("file", f"not a safetensors model file (header: {str(exc).removeprefix('file: ')})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or META_KEY not in meta:
        raise ModelError("file", f"no '{META_KEY}' metadata: not a shiftspike model file")
    if not isinstance(meta[META_KEY], str):
        raise ModelError("metadata", "must be a JSON string")
    return _parse(meta[META_KEY], "metadata")


def _check_header(meta) -> None:
    """Format name, version, and the top-level keys."""
    if not isinstance(meta, dict):
        raise ModelError("metadata", "must be a JSON object")
    if meta.get("format") != FORMAT:
        raise ModelError("format", f"expected {FORMAT!r}, got {str(meta.get('format'))[:60]!r}")
    version = meta.get("version")
    if type(version) is not int or version not in READ_VERSIONS:
        raise ModelError("version", f"unsupported version {str(version)[:40]} (this build reads "
                                    f"{', '.join(map(str, READ_VERSIONS))})")
    check_keys("metadata", meta, TOP_KEYS)
    if not isinstance(meta["layers"], list):
        raise ModelError("layers", "must be a list")


def _layer(i: int, entry, tensors: dict, used: set):
    """Layer ``i`` from its header ``entry`` and the file's ``tensors`` (marking the ones it takes in ``used``)."""
    where = f"layers[{i}]"
    if not isinstance(entry, dict):
        raise ModelError(where, "must be an object")
    kind = entry.get("type")
    cls = LAYER_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ModelError(f"{where}.type", f"unknown layer type {str(kind)[:40]!r}")
    check_keys(where, entry, LAYER_KEYS[kind])
    kwargs = {k: v for k, v in entry.items() if k not in ("type", "has_bias")}
    names = {"neuron": ["sign", "shift", "theta"]}.get(kind, [])
    if cls in (Dense, Conv1d):
        if not isinstance(entry["has_bias"], bool):
            raise ModelError(f"{where}.has_bias", f"must be true or false, got {str(entry['has_bias'])[:40]}")
        names = ["weight"] + (["bias"] if entry["has_bias"] else [])
        kwargs["bias"] = None
    for name in names:
        key = f"layers.{i}.{name}"
        if key not in tensors:
            raise ModelError(f"{where}.{name}", "tensor missing from file")
        expected = tensor_dtype(where, name, entry)
        if tensors[key].dtype != expected:
            raise ModelError(f"{where}.{name}", f"dtype {tensors[key].dtype} does not match the declared "
                                                f"width (expected {expected})")
        kwargs[name] = tensors[key]
        used.add(key)
    return cls(**kwargs)


def from_bytes(data: bytes) -> IntegerModel:
    """Parse and validate model file bytes."""
    meta = _read_metadata(data)
    _check_header(meta)
    try:
        tensors = st_load(data)
    except (SafetensorError, KeyError, ValueError, TypeError, OverflowError) as exc:
        raise ModelError("file", f"corrupt or unsupported tensor data ({str(exc)[:120]})") from None
    used: set = set()
    layers = tuple(_layer(i, entry, tensors, used) for i, entry in enumerate(meta["layers"]))
    extra = sorted(set(tensors) - used)
    if extra:
        raise ModelError(extra[0][:60], "unexpected tensor in file")
    return IntegerModel(input=TensorSpec.from_json("input", meta["input"]), timesteps=meta["timesteps"],
                        layers=layers)


def load(path) -> IntegerModel:
    """Read and validate a model file. Raises :class:`ModelError` on any problem."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ModelError("file", f"{path}: is a directory")
        if path.exists() and not path.is_file():
            raise ModelError("file", f"{path}: not a regular file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError("file", f"{path}: no such file") from None
    except OSError as exc:
        raise ModelError("file", f"{path}: {exc.strerror}") from None
    try:
        return from_bytes(data)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc.field}", str(exc).split(": ", 1)[1]) from None
