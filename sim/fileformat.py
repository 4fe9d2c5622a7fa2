"""The integer-model file: safetensors with one JSON header entry, no pickle.

Layout (``*.ssm``, any name works): a standard safetensors file whose
``__metadata__`` holds a single key ``"shiftspike"`` with canonical JSON
(sorted keys, no spaces)::

    {"format": "shiftspike.integer-model", "version": 1, "timesteps": T,
     "input": {"kind": "int", "width": 8, "channels": 1, "length": 8},
     "layers": [{"type": "dense", "weight_width": 8, "acc_width": 16,
                 "overflow": "wrap", "has_bias": true}, ...]}

and one tensor per layer array named ``layers.<i>.<name>`` (``weight``,
``bias``, ``sign``, ``shift``, ``theta``) stored in the smallest signed dtype
that holds the declared width. The same model always writes the same bytes.
Every problem on load raises :class:`ModelError` naming the field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from .model import LAYER_TYPES, Conv1d, Dense, IntegerModel, ModelError, TensorSpec, tensor_dtype

FORMAT = "shiftspike.integer-model"
VERSION = 1
META_KEY = "shiftspike"


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


def write_atomic(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file beside it, renamed into place)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save(model: IntegerModel, path) -> None:
    """Write ``model`` to ``path`` atomically."""
    write_atomic(path, to_bytes(model))


def _read_metadata(data: bytes) -> dict:
    if len(data) < 8:
        raise ModelError("file", "truncated: shorter than the 8-byte safetensors header length")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise ModelError("file", f"truncated: header declares {size} bytes, {len(data) - 8} present")
    try:
        header = json.loads(data[8 : 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError("file", f"not a safetensors model file (header is not JSON: {exc})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or META_KEY not in meta:
        raise ModelError("file", f"no '{META_KEY}' metadata: not a shiftspike model file")
    if not isinstance(meta[META_KEY], str):
        raise ModelError("metadata", "must be a JSON string")
    try:
        return json.loads(meta[META_KEY])
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ModelError("metadata", f"not valid JSON ({exc})") from None


def from_bytes(data: bytes) -> IntegerModel:
    """Parse and validate model file bytes."""
    meta = _read_metadata(data)
    if not isinstance(meta, dict):
        raise ModelError("metadata", "must be a JSON object")
    if meta.get("format") != FORMAT:
        raise ModelError("format", f"expected {FORMAT!r}, got {meta.get('format')!r}")
    if type(meta.get("version")) is not int or meta["version"] != VERSION:
        raise ModelError("version", f"unsupported version {meta.get('version')!r} (this build reads {VERSION})")
    try:
        tensors = st_load(data)
    except (SafetensorError, KeyError, ValueError, TypeError) as exc:
        raise ModelError("file", f"corrupt or unsupported tensor data ({exc!r})") from None
    layers_meta = meta.get("layers")
    if not isinstance(layers_meta, list):
        raise ModelError("layers", "must be a list")
    layers = []
    used = set()
    for i, entry in enumerate(layers_meta):
        where = f"layers[{i}]"
        if not isinstance(entry, dict):
            raise ModelError(where, "must be an object")
        kind = entry.get("type")
        cls = LAYER_TYPES.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise ModelError(f"{where}.type", f"unknown layer type {kind!r}")
        kwargs = {k: v for k, v in entry.items() if k not in ("type", "has_bias")}
        has_bias = entry.get("has_bias", False)
        if cls in (Dense, Conv1d) and not isinstance(has_bias, bool):
            raise ModelError(f"{where}.has_bias", f"must be true or false, got {has_bias!r}")
        names = {
            "dense": ["weight"] + (["bias"] if has_bias else []),
            "conv1d": ["weight"] + (["bias"] if has_bias else []),
            "neuron": ["sign", "shift", "theta"],
        }.get(cls.type, [])
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
        if cls in (Dense, Conv1d) and "bias" not in kwargs:
            kwargs["bias"] = None
        try:
            layers.append(cls(**kwargs))
        except TypeError as exc:
            raise ModelError(where, f"bad or missing parameter ({exc})") from None
    extra = sorted(set(tensors) - used)
    if extra:
        raise ModelError(extra[0], "unexpected tensor in file")
    return IntegerModel(
        input=TensorSpec.from_json("input", meta.get("input")),
        timesteps=meta.get("timesteps"),
        layers=tuple(layers),
    )


def load(path) -> IntegerModel:
    """Read and validate a model file. Raises :class:`ModelError` on any problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError("file", f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelError("file", f"{path}: is a directory") from None
    except OSError as exc:
        raise ModelError("file", f"{path}: {exc.strerror}") from None
    try:
        return from_bytes(data)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc.field}", str(exc).split(": ", 1)[1]) from None
